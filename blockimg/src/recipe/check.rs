//! The checks every value of a recipe goes through: paths made absolute
//! and checked to exist, sizes, UUIDs, modes, owners, paths in the image and
//! words from a list, each refusal naming the key and its line.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::PathBuf;

use toml::Spanned;

use super::model::Scalar;
use super::parse::Places;
use crate::error::{Error, Result};
use crate::identity::parse_uuid;
use crate::size::parse_size;

/// The checks of one recipe: where keys are, and where relative paths
/// start.
pub(super) struct Check {
    /// Where each key of the recipe is, for messages.
    pub(super) places: Places,
    /// The recipe's directory: relative paths are relative to it.
    pub(super) base: PathBuf,
}

impl Check {
    pub(super) fn note<T>(&mut self, key: &str, value: &Spanned<T>) {
        self.places.note(key, value);
    }

    pub(super) fn bad<T>(&self, key: &str, value: &Spanned<T>, reason: impl Into<String>) -> Error {
        self.places.error_at(key, value, reason)
    }

    /// A host path: absolute, or relative to the recipe's directory.
    pub(super) fn path(&mut self, key: &str, value: &Spanned<String>) -> Result<PathBuf> {
        self.note(key, value);
        let text = value.get_ref();
        if text.is_empty() {
            return Err(self.bad(key, value, "an empty path"));
        }
        Ok(self.base.join(text))
    }

    /// A host path that must exist (`dir`: as a directory).
    pub(super) fn input(
        &mut self,
        key: &str,
        value: &Spanned<String>,
        dir: Option<bool>,
    ) -> Result<PathBuf> {
        let path = self.path(key, value)?;
        match (std::fs::metadata(&path), dir) {
            (Err(e), _) => Err(self.bad(key, value, format!("{}: {e}", path.display()))),
            (Ok(m), Some(true)) if !m.is_dir() => {
                Err(self.bad(key, value, format!("{} is not a directory", path.display())))
            }
            (Ok(m), Some(false)) if m.is_dir() => {
                Err(self.bad(key, value, format!("{} is a directory", path.display())))
            }
            _ => Ok(path),
        }
    }

    /// A size in bytes, or `None` for `auto` when `auto_ok`.
    pub(super) fn size(
        &mut self,
        key: &str,
        value: &Spanned<Scalar>,
        auto_ok: bool,
    ) -> Result<Option<u64>> {
        self.note(key, value);
        match value.get_ref() {
            Scalar::Int(n) => u64::try_from(*n)
                .map(Some)
                .map_err(|_| self.bad(key, value, "a size cannot be negative")),
            Scalar::Text(t) if t.trim().eq_ignore_ascii_case("auto") => {
                if auto_ok {
                    Ok(None)
                } else {
                    Err(self.bad(key, value, "\"auto\" is not allowed here"))
                }
            }
            Scalar::Text(t) => parse_size(t)
                .map(Some)
                .map_err(|e| self.bad(key, value, e.to_string())),
        }
    }

    pub(super) fn uuid(&mut self, key: &str, value: &Spanned<String>) -> Result<[u8; 16]> {
        self.note(key, value);
        parse_uuid(value.get_ref()).map_err(|e| self.bad(key, value, e.to_string()))
    }

    pub(super) fn mode(
        &mut self,
        key: &str,
        value: Option<&Spanned<Scalar>>,
        default: u16,
    ) -> Result<u16> {
        let Some(value) = value else {
            return Ok(default);
        };
        self.note(key, value);
        let mode = match value.get_ref() {
            Scalar::Int(n) => u16::try_from(*n).ok(),
            Scalar::Text(t) => u16::from_str_radix(t.trim().trim_start_matches("0o"), 8).ok(),
        };
        match mode {
            Some(m) if m <= 0o7777 => Ok(m),
            _ => Err(self.bad(
                key,
                value,
                "a mode is an octal string such as \"0644\" or an integer such as 0o644, at most 0o7777",
            )),
        }
    }

    pub(super) fn owner(
        &mut self,
        key: &str,
        value: Option<&Spanned<String>>,
    ) -> Result<(u32, u32)> {
        match value {
            None => Ok((0, 0)),
            Some(v) => self.pair(key, v),
        }
    }

    /// `A:B` of two numbers.
    pub(super) fn pair(&mut self, key: &str, value: &Spanned<String>) -> Result<(u32, u32)> {
        self.note(key, value);
        let parsed = value
            .get_ref()
            .split_once(':')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
        parsed.ok_or_else(|| self.bad(key, value, "expected two numbers as A:B (e.g. 0:0)"))
    }

    /// A path inside the image: absolute, no `.` or `..` components.
    pub(super) fn image_path(&mut self, key: &str, value: &Spanned<String>) -> Result<String> {
        self.note(key, value);
        let text = value.get_ref();
        let parts: Vec<&str> = text.split('/').filter(|c| !c.is_empty()).collect();
        if !text.starts_with('/')
            || parts.is_empty()
            || parts.iter().any(|c| *c == "." || *c == "..")
        {
            return Err(self.bad(
                key,
                value,
                format!(
                    "{text:?} is not an absolute path in the image (no . or .. components, not /)"
                ),
            ));
        }
        Ok(format!("/{}", parts.join("/")))
    }

    /// An absolute path inside the host directory `root` (a sysroot),
    /// which must exist there (as a file or a link): the path as the
    /// image will hold it.
    pub(super) fn image_path_in(
        &mut self,
        key: &str,
        value: &Spanned<String>,
        root: &std::path::Path,
    ) -> Result<PathBuf> {
        let path = self.image_path(key, value)?;
        let host = root.join(path.trim_start_matches('/'));
        match std::fs::symlink_metadata(&host) {
            Ok(m) if m.is_dir() => {
                Err(self.bad(key, value, format!("{} is a directory", host.display())))
            }
            Ok(_) => Ok(PathBuf::from(path)),
            Err(e) => Err(self.bad(key, value, format!("{}: {e}", host.display()))),
        }
    }

    pub(super) fn word<'v>(
        &mut self,
        key: &str,
        value: &'v Spanned<String>,
        allowed: &[&str],
    ) -> Result<&'v str> {
        self.note(key, value);
        let v = value.get_ref().as_str();
        if allowed.contains(&v) {
            Ok(v)
        } else {
            Err(self.bad(
                key,
                value,
                format!("{v:?} is not one of {}", allowed.join(", ")),
            ))
        }
    }
}

pub(super) fn get<T: Clone>(value: &Option<Spanned<T>>) -> Option<T> {
    value.as_ref().map(|v| v.get_ref().clone())
}
