//! Reading a recipe's TOML: syntax errors and unknown keys reported with
//! their line and column, and the places of keys kept for later messages.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::model::RecipeFile;
use crate::error::Error;
use crate::error::RecipeError;

/// Line and column (both from 1) of byte offsets in a recipe's text.
#[derive(Clone, Debug)]
pub struct Places {
    /// The recipe file named in messages.
    path: PathBuf,
    /// Byte offset where each line starts.
    line_starts: Vec<usize>,
    /// Where each key that later checks may name was written.
    keys: BTreeMap<String, (usize, usize)>,
}

impl Places {
    /// The places of `text`, read from `path`.
    pub fn new(path: &Path, text: &str) -> Places {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        Places {
            path: path.to_path_buf(),
            line_starts,
            keys: BTreeMap::new(),
        }
    }

    /// Line and column of byte `offset`.
    pub fn line_column(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&start| start <= offset);
        let start = self
            .line_starts
            .get(line.wrapping_sub(1))
            .copied()
            .unwrap_or(0);
        (line.max(1), offset.saturating_sub(start) + 1)
    }

    /// Remembers where `key`'s value `value` was written, and returns its
    /// line and column.
    pub fn note<T>(&mut self, key: &str, value: &Spanned<T>) -> (usize, usize) {
        let place = self.line_column(value.span().start);
        self.keys.insert(key.to_string(), place);
        place
    }

    /// Whether `key` was written in the recipe.
    pub fn has(&self, key: &str) -> bool {
        self.keys.contains_key(key)
    }

    /// An error about `key`, placed where it was written (or, when it was
    /// not, at the nearest enclosing key that was: `partition[2].size`
    /// falls back to `partition[2]`).
    pub fn error(&self, key: &str, reason: impl Into<String>) -> Error {
        let mut probe = key;
        let (line, column) = loop {
            if let Some(place) = self.keys.get(probe) {
                break *place;
            }
            match probe.rfind(['.', '[']) {
                Some(cut) if cut > 0 => probe = &probe[..cut],
                _ => break (0, 0),
            }
        };
        Error::from(RecipeError::At {
            path: self.path.clone(),
            line,
            column,
            key: key.to_string(),
            reason: reason.into(),
        })
    }

    /// An error at the place of `value` (a key not remembered).
    pub fn error_at<T>(&self, key: &str, value: &Spanned<T>, reason: impl Into<String>) -> Error {
        let (line, column) = self.line_column(value.span().start);
        Error::from(RecipeError::At {
            path: self.path.clone(),
            line,
            column,
            key: key.to_string(),
            reason: reason.into(),
        })
    }
}

/// Parses `text` (read from `path`) into the file's tables.
///
/// # Errors
///
/// [`RecipeError::At`](crate::error::RecipeError::At) with the line and column of a syntax error, an unknown
/// key, a missing key or a value of the wrong type.
pub fn parse_file(text: &str, path: &Path) -> Result<(RecipeFile, Places), Error> {
    let places = Places::new(path, text);
    match toml::from_str::<RecipeFile>(text) {
        Ok(file) => Ok((file, places)),
        Err(e) => {
            let (line, column) = e
                .span()
                .map_or((0, 0), |span| places.line_column(span.start));
            Err(Error::from(RecipeError::At {
                path: path.to_path_buf(),
                line,
                column,
                key: String::new(),
                reason: e.message().trim().to_string(),
            }))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_count_from_one() {
        let places = Places::new(Path::new("r.toml"), "a = 1\nbb = 2\n");
        assert_eq!(places.line_column(0), (1, 1));
        assert_eq!(places.line_column(6), (2, 1));
        assert_eq!(places.line_column(11), (2, 6));
    }

    #[test]
    fn an_unknown_key_is_named_with_its_line() {
        let err = parse_file("[disk]\nsize = \"1G\"\nsizee = 3\n", Path::new("r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("r.toml:3:1: "), "{err}");
        assert!(err.contains("sizee"), "{err}");
    }
}
