//! The filesystem's bytes: a region of an image file starting at the
//! filesystem's offset, read with bounds checks and positioned reads (so
//! one reader serves many threads).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::fmt::Display;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::{Error, Result};

/// An image file and where the filesystem starts in it.
#[derive(Debug)]
pub(super) struct Volume {
    pub file: File,
    /// Shared with every [`crate::tree::DataSource::ImageExtents`] made
    /// from this filesystem.
    pub path: Arc<PathBuf>,
    /// Byte offset of the filesystem within the file.
    pub offset: u64,
    /// Bytes of the file from `offset` on.
    pub len: u64,
}

impl Volume {
    /// The filesystem starting at `offset` of `file`.
    pub fn new(file: File, offset: u64, path: PathBuf) -> Result<Self> {
        let size = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        Ok(Volume {
            file,
            len: size.saturating_sub(offset),
            path: Arc::new(path),
            offset,
        })
    }

    /// Fills `buf` from byte `at` of the filesystem.
    pub fn read(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        let end = at.checked_add(buf.len() as u64);
        if end.is_none_or(|end| end > self.len) {
            return Err(self.corrupt(
                "image size",
                self.len,
                format!(
                    "{} bytes at byte {at} of the filesystem lie past the end of the image",
                    buf.len()
                ),
            ));
        }
        let start = self.offset + at;
        let mut done = 0;
        while let Some(rest) = buf.get_mut(done..).filter(|rest| !rest.is_empty()) {
            match self.file.read_at(rest, start + done as u64) {
                Ok(0) => {
                    return Err(self.corrupt(
                        "image size",
                        start + done as u64,
                        "the image ended while it was read",
                    ))
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => {
                    return Err(Error::Read {
                        path: self.path.to_path_buf(),
                        offset: start + done as u64,
                        source,
                    })
                }
            }
        }
        Ok(())
    }

    /// The error for a structure that breaks ext4's rules: `field` names the
    /// structure and field (`inode 12 extent tree depth`), `value` is what
    /// was found, `reason` what is wrong with it.
    pub fn corrupt(
        &self,
        field: impl Into<String>,
        value: impl Display,
        reason: impl Into<String>,
    ) -> Error {
        Error::CorruptImage {
            path: self.path.to_path_buf(),
            format: "ext4".into(),
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// The error for a feature the reader refuses.
    pub fn unsupported(&self, feature: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::UnsupportedFeature {
            path: self.path.to_path_buf(),
            feature: feature.into(),
            reason: reason.into(),
        }
    }

    /// Compares a stored metadata_csum checksum with the computed one.
    pub fn check_csum(
        &self,
        structure: impl FnOnce() -> String,
        stored: u32,
        computed: u32,
    ) -> Result<()> {
        if stored == computed {
            Ok(())
        } else {
            Err(Error::ChecksumMismatch {
                path: self.path.to_path_buf(),
                structure: structure(),
                stored,
                computed,
            })
        }
    }
}
