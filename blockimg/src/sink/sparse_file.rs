//! A sparse raw image file, written under a temporary name and renamed into
//! place only when complete.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{is_zero, Sink};
use crate::error::{Error, Result};

/// Writes are gathered up to this many bytes before they reach the file.
const BUFFER: usize = 4 << 20;
/// Granularity of hole detection.
const ZERO_CHUNK: usize = 4096;

/// A raw image file that stays sparse: all-zero 4 KiB chunks are never
/// written, so they remain holes. Until [`SparseFile::finish`] the data
/// lives in a temporary file beside the output, removed if the build fails.
pub struct SparseFile {
    file: File,
    path: PathBuf,
    temp_path: PathBuf,
    overwrite: bool,
    buffer: Vec<u8>,
    buffer_offset: u64,
    finished: bool,
}

impl SparseFile {
    /// Starts writing an image that will be named `path`. Refuses an
    /// existing `path` unless `overwrite`.
    pub fn create(path: &Path, overwrite: bool) -> Result<SparseFile> {
        if !overwrite && path.symlink_metadata().is_ok() {
            return Err(Error::OutputExists {
                path: path.to_path_buf(),
            });
        }
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().ok_or_else(|| Error::InvalidOption {
            option: "output".into(),
            reason: format!("{} does not name a file", path.display()),
        })?;
        let mut nonce = [0u8; 6];
        getrandom::fill(&mut nonce)
            .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{nonce}.partial"));
        let temp_path = dir.join(temp_name);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp_path)
            .map_err(|e| Error::io(&dir, e))?;
        Ok(SparseFile {
            file,
            path: path.to_path_buf(),
            temp_path,
            overwrite,
            buffer: Vec::with_capacity(BUFFER),
            buffer_offset: 0,
            finished: false,
        })
    }

    fn flush(&mut self) -> Result<()> {
        let mut at = 0;
        while at < self.buffer.len() {
            let mut end = at;
            while end < self.buffer.len() {
                let chunk_end = (end + ZERO_CHUNK).min(self.buffer.len());
                if is_zero(&self.buffer[end..chunk_end]) {
                    break;
                }
                end = chunk_end;
            }
            if end > at {
                let offset = self.buffer_offset + at as u64;
                self.file
                    .write_all_at(&self.buffer[at..end], offset)
                    .map_err(|source| Error::Write {
                        path: self.path.clone(),
                        offset,
                        source,
                    })?;
                at = end;
            } else {
                at = (at + ZERO_CHUNK).min(self.buffer.len());
            }
        }
        self.buffer_offset += self.buffer.len() as u64;
        self.buffer.clear();
        Ok(())
    }

    /// Completes the image: sets its size to `size`, syncs it and renames it
    /// to the output path.
    pub fn finish(mut self, size: u64) -> Result<()> {
        self.flush()?;
        let write_err = |source| Error::Write {
            path: self.path.clone(),
            offset: size,
            source,
        };
        self.file.set_len(size).map_err(write_err)?;
        self.file.sync_all().map_err(write_err)?;
        rename(&self.temp_path, &self.path, self.overwrite)?;
        self.finished = true;
        Ok(())
    }
}

impl Sink for SparseFile {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let buffer_end = self.buffer_offset + self.buffer.len() as u64;
        if offset != buffer_end || self.buffer.len() + data.len() > BUFFER {
            self.flush()?;
            self.buffer_offset = offset;
        }
        if data.len() >= BUFFER {
            self.buffer.extend_from_slice(data);
            return self.flush();
        }
        self.buffer.extend_from_slice(data);
        Ok(())
    }
}

impl Drop for SparseFile {
    fn drop(&mut self) {
        if !self.finished {
            let _ = std::fs::remove_file(&self.temp_path);
        }
    }
}

/// Renames `from` to `to`; without `overwrite` an existing `to` is kept and
/// the rename fails.
fn rename(from: &Path, to: &Path, overwrite: bool) -> Result<()> {
    if overwrite {
        return std::fs::rename(from, to).map_err(|e| Error::io(to, e));
    }
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(|e| Error::io(p, e.into()));
    let (cfrom, cto) = (c(from)?, c(to)?);
    // SAFETY: both arguments are valid NUL-terminated paths.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cfrom.as_ptr(),
            libc::AT_FDCWD,
            cto.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EEXIST) {
        return Err(Error::OutputExists {
            path: to.to_path_buf(),
        });
    }
    Err(Error::io(to, err))
}
