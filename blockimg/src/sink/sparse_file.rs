//! A sparse raw image file, written under a temporary name and renamed into
//! place only when complete.
//!
//! Writes are gathered into large buffers that a background thread writes
//! out, so reading sources and writing the image overlap.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::thread::JoinHandle;

use super::{is_zero, Sink};
use crate::error::{Error, Result};

/// Writes are gathered up to this many bytes before they go to the writer.
const BUFFER: usize = 2 << 20;
/// Buffers in flight between the caller and the writer thread.
const IN_FLIGHT: usize = 2;
/// Granularity of hole detection.
const ZERO_CHUNK: usize = 4096;

/// A buffer of image bytes starting at an offset.
struct Chunk {
    offset: u64,
    bytes: Vec<u8>,
}

/// A raw image file that stays sparse: all-zero 4 KiB chunks are never
/// written, so they remain holes. Until [`SparseFile::finish`] the data
/// lives in a temporary file beside the output, removed if the build fails.
pub struct SparseFile {
    path: PathBuf,
    temp_path: PathBuf,
    overwrite: bool,
    current: Chunk,
    to_writer: Option<SyncSender<Chunk>>,
    recycled: Receiver<Vec<u8>>,
    writer: Option<JoinHandle<Result<File>>>,
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
        let (to_writer, from_caller) = sync_channel::<Chunk>(IN_FLIGHT);
        let (recycle, recycled) = sync_channel::<Vec<u8>>(IN_FLIGHT + 1);
        let output = path.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("image writer".into())
            .spawn(move || write_chunks(file, &output, from_caller, recycle))
            .map_err(|e| Error::io(path, e))?;
        Ok(SparseFile {
            path: path.to_path_buf(),
            temp_path,
            overwrite,
            current: Chunk {
                offset: 0,
                bytes: Vec::with_capacity(BUFFER),
            },
            to_writer: Some(to_writer),
            recycled,
            writer: Some(writer),
            finished: false,
        })
    }

    /// Hands the current buffer to the writer thread.
    fn flush(&mut self) -> Result<()> {
        if self.current.bytes.is_empty() {
            return Ok(());
        }
        let fresh = self
            .recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BUFFER));
        let offset = self.current.offset + self.current.bytes.len() as u64;
        let full = std::mem::replace(
            &mut self.current,
            Chunk {
                offset,
                bytes: fresh,
            },
        );
        let sent = self.to_writer.as_ref().map(|tx| tx.send(full));
        match sent {
            Some(Ok(())) => Ok(()),
            // The writer stopped: its error explains why.
            _ => Err(self.join_writer().err().unwrap_or_else(|| Error::Write {
                path: self.path.clone(),
                offset,
                source: std::io::Error::other("image writer stopped"),
            })),
        }
    }

    fn join_writer(&mut self) -> Result<File> {
        self.to_writer = None;
        let handle = self.writer.take().ok_or_else(|| Error::Write {
            path: self.path.clone(),
            offset: 0,
            source: std::io::Error::other("image writer already stopped"),
        })?;
        handle.join().unwrap_or_else(|_| {
            Err(Error::Write {
                path: self.path.clone(),
                offset: 0,
                source: std::io::Error::other("image writer panicked"),
            })
        })
    }

    /// Completes the image: sets its size to `size`, syncs it and renames it
    /// to the output path.
    pub fn finish(mut self, size: u64) -> Result<()> {
        self.flush()?;
        let file = self.join_writer()?;
        let write_err = |source| Error::Write {
            path: self.path.clone(),
            offset: size,
            source,
        };
        file.set_len(size).map_err(write_err)?;
        file.sync_all().map_err(write_err)?;
        rename(&self.temp_path, &self.path, self.overwrite)?;
        self.finished = true;
        Ok(())
    }
}

/// The writer thread: writes each chunk's non-zero parts, returns buffers
/// for reuse, and gives the file back when the caller is done.
fn write_chunks(
    file: File,
    path: &Path,
    chunks: Receiver<Chunk>,
    recycle: SyncSender<Vec<u8>>,
) -> Result<File> {
    for mut chunk in chunks {
        write_nonzero(&file, path, chunk.offset, &chunk.bytes)?;
        chunk.bytes.clear();
        let _ = recycle.try_send(chunk.bytes);
    }
    Ok(file)
}

/// Writes the parts of `data` that are not all-zero chunks.
fn write_nonzero(file: &File, path: &Path, offset: u64, data: &[u8]) -> Result<()> {
    let mut at = 0;
    while at < data.len() {
        let mut end = at;
        while end < data.len() {
            let chunk_end = (end + ZERO_CHUNK).min(data.len());
            if is_zero(&data[end..chunk_end]) {
                break;
            }
            end = chunk_end;
        }
        if end > at {
            let pos = offset + at as u64;
            file.write_all_at(&data[at..end], pos)
                .map_err(|source| Error::Write {
                    path: path.to_path_buf(),
                    offset: pos,
                    source,
                })?;
            at = end;
        } else {
            at = (at + ZERO_CHUNK).min(data.len());
        }
    }
    Ok(())
}

impl Sink for SparseFile {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let end = self.current.offset + self.current.bytes.len() as u64;
        if offset != end || self.current.bytes.len() + data.len() > BUFFER {
            self.flush()?;
            self.current.offset = offset;
        }
        self.current.bytes.extend_from_slice(data);
        if self.current.bytes.len() >= BUFFER {
            self.flush()?;
        }
        Ok(())
    }
}

impl Drop for SparseFile {
    fn drop(&mut self) {
        if !self.finished {
            self.to_writer = None;
            if let Some(handle) = self.writer.take() {
                let _ = handle.join();
            }
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
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the
    // call.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_chunks_stay_holes_and_output_appears_only_when_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        let mut sink = SparseFile::create(&path, false).unwrap();
        sink.write_at(0, &[1u8; 4096]).unwrap();
        sink.write_at(4096, &vec![0u8; 8 << 20]).unwrap();
        sink.write_at(16 << 20, &[2u8; 4096]).unwrap();
        assert!(!path.exists());
        sink.finish(32 << 20).unwrap();
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(meta.len(), 32 << 20);
        use std::os::unix::fs::MetadataExt;
        assert!(
            meta.blocks() * 512 <= 64 * 1024,
            "allocated {}",
            meta.blocks() * 512
        );
        let data = std::fs::read(&path).unwrap();
        assert_eq!(data[0], 1);
        assert_eq!(data[16 << 20], 2);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn dropped_sink_leaves_nothing_and_keeps_existing_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk.img");
        std::fs::write(&path, b"keep").unwrap();
        assert!(matches!(
            SparseFile::create(&path, false),
            Err(Error::OutputExists { .. })
        ));
        let mut sink = SparseFile::create(&path, true).unwrap();
        sink.write_at(0, &[1u8; 4096]).unwrap();
        drop(sink);
        assert_eq!(std::fs::read(&path).unwrap(), b"keep");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
