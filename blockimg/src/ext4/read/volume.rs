//! The filesystem's bytes: a region of an image's disk starting at the
//! filesystem's offset (a raw file, or a VHD, VMDK or qcow2 image read
//! through its reader), read with bounds checks and positioned reads (so
//! one reader serves many threads). After a journal replay in memory,
//! every read sees the replayed blocks ([`Overlay`]).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::BTreeMap;
use std::fmt::Display;
use std::path::PathBuf;
use std::sync::Arc;

use crate::disk_format::DiskBytes;
use crate::error::{Corrupt, Ext4Error};
use crate::error::{Error, Result};
use crate::ext4::format::jbd2::JBD2_MAGIC;

/// An image's disk and where the filesystem starts in it.
pub(super) struct Volume {
    pub bytes: DiskBytes,
    /// Shared with every [`crate::tree::DataSource::ImageExtents`] made
    /// from this filesystem.
    pub path: Arc<PathBuf>,
    /// Byte offset of the filesystem within the file.
    pub offset: u64,
    /// Bytes of the file from `offset` on.
    pub len: u64,
    /// The blocks a journal replay replaced, when one was made.
    pub overlay: Option<Overlay>,
}

impl std::fmt::Debug for Volume {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Volume")
            .field("path", &self.path)
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Volume {
    /// The filesystem starting at `offset` of `bytes`.
    pub fn new(bytes: DiskBytes, offset: u64, path: PathBuf) -> Result<Self> {
        let size = bytes.byte_len().map_err(|e| Error::io(&path, e))?;
        Ok(Volume {
            bytes,
            len: size.saturating_sub(offset),
            path: Arc::new(path),
            offset,
            overlay: None,
        })
    }

    /// Fills `buf` from byte `at` of the filesystem, as a journal replay
    /// left it when one was made.
    pub fn read(&self, at: u64, buf: &mut [u8]) -> Result<()> {
        match &self.overlay {
            Some(overlay) => overlay.read(at, buf, &|at, buf| self.read_stored(at, buf)),
            None => self.read_stored(at, buf),
        }
    }

    /// Fills `buf` from byte `at` of the filesystem as stored in the image.
    pub fn read_stored(&self, at: u64, buf: &mut [u8]) -> Result<()> {
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
        self.bytes.read_exact_at(buf, start).map_err(|source| {
            if source.kind() == std::io::ErrorKind::UnexpectedEof {
                self.corrupt("image size", start, "the image ended while it was read")
            } else {
                Error::Read {
                    path: self.path.to_path_buf(),
                    offset: start,
                    source,
                }
            }
        })
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
        Error::from(Ext4Error::Corrupt(Box::new(Corrupt {
            path: self.path.to_path_buf(),
            format: "ext4".into(),
            field: field.into(),
            value: value.to_string(),
            reason: reason.into(),
        })))
    }

    /// The error for a feature the reader refuses.
    pub fn unsupported(&self, feature: impl Into<String>, reason: impl Into<String>) -> Error {
        Error::from(Ext4Error::Unsupported {
            path: self.path.to_path_buf(),
            feature: feature.into(),
            reason: reason.into(),
        })
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
            Err(Error::from(Ext4Error::Checksum {
                path: self.path.to_path_buf(),
                structure: structure(),
                stored,
                computed,
            }))
        }
    }
}

/// Where the replayed copy of a filesystem block is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Copy {
    /// Byte offset in the filesystem of the log block holding it.
    pub at: u64,
    /// Whether the block began with [`JBD2_MAGIC`], zeroed in the log.
    pub escaped: bool,
}

/// The replayed blocks: filesystem block number to its newest copy in the
/// log. Reads through it see the filesystem as a replay leaves it.
#[derive(Clone, Debug)]
pub(super) struct Overlay {
    pub block_size: u64,
    pub blocks: BTreeMap<u64, Copy>,
}

impl Overlay {
    /// Fills `buf` from byte `at` of the filesystem as replayed: bytes of
    /// replayed blocks from their copies in the log, the rest through
    /// `read` (the filesystem's bytes as stored).
    pub fn read(
        &self,
        at: u64,
        buf: &mut [u8],
        read: &dyn Fn(u64, &mut [u8]) -> Result<()>,
    ) -> Result<()> {
        let bs = self.block_size;
        let end = at.saturating_add(buf.len() as u64);
        let (first, last) = (at / bs, end.saturating_sub(1) / bs);
        if buf.is_empty() || self.blocks.range(first..=last).next().is_none() {
            return read(at, buf);
        }
        let mut done = 0usize;
        while done < buf.len() {
            let pos = at + done as u64;
            let (block, within) = (pos / bs, pos % bs);
            let n = ((bs - within) as usize).min(buf.len() - done);
            let Some(piece) = buf.get_mut(done..done + n) else {
                break;
            };
            match self.blocks.get(&block) {
                Some(copy) => {
                    read(copy.at + within, piece)?;
                    if copy.escaped {
                        let magic = JBD2_MAGIC.to_be_bytes();
                        for (i, b) in piece.iter_mut().enumerate() {
                            if let Some(m) = magic.get(within as usize + i) {
                                *b = *m;
                            }
                        }
                    }
                }
                None => read(pos, piece)?,
            }
            done += n;
        }
        Ok(())
    }
}
