//! A sparse raw image file, written under a temporary name and renamed into
//! place only when complete; or, in place, an existing block device that
//! ends up holding exactly the image.
//!
//! Writes are gathered into large buffers that a background thread writes
//! out, so reading sources and writing the image overlap. Writes may come in
//! any order (a tar's data streams into the image before its metadata).

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::base::{is_zero, Sink};
use super::temp_output::{Completed, TempOutput};
use crate::error::{Error, Result};
use crate::lock::ImageLock;

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
///
/// # Examples
///
/// ```
/// use blockimg::sink::{Sink, SparseFile};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("disk.img");
/// let mut file = SparseFile::create(&path, false)?;
/// file.write_at(0, &[0xeb; 512])?;
/// file.write_at(60 << 20, b"data")?; // the 60 MiB between stay a hole
/// file.finish(64 << 20)?; // only now does disk.img appear
///
/// let meta = std::fs::metadata(&path)?;
/// assert_eq!(meta.len(), 64 << 20);
/// assert!(std::os::unix::fs::MetadataExt::blocks(&meta) * 512 < 1 << 20);
/// # Ok(())
/// # }
/// ```
pub struct SparseFile {
    path: PathBuf,
    destination: Option<Destination>,
    current: Chunk,
    to_writer: Option<SyncSender<Chunk>>,
    recycled: Receiver<Vec<u8>>,
    writer: Option<JoinHandle<Result<Vec<Range<u64>>>>>,
}

/// Where the bytes end up.
enum Destination {
    /// A new file, renamed into place when complete.
    Temp(TempOutput),
    /// An existing device or file written in place; ranges never written
    /// with data are zeroed at the end unless they already read as zeros.
    InPlace { file: File, already_zero: bool },
}

impl SparseFile {
    /// Starts writing an image that will be named `path`. Refuses an
    /// existing `path` unless `overwrite`.
    pub fn create(path: &Path, overwrite: bool) -> Result<SparseFile> {
        let output = TempOutput::create(path, overwrite)?;
        let file = output.file().try_clone().map_err(|e| Error::io(path, e))?;
        Self::start(path, file, Destination::Temp(output))
    }

    /// Starts writing a new version of the image `lock` holds for writing;
    /// when finished it replaces the image, and the lock moves to it.
    pub(crate) fn replacing(lock: Arc<ImageLock>) -> Result<SparseFile> {
        let path = lock.path().to_path_buf();
        let output = TempOutput::replacing(lock)?;
        let file = output.file().try_clone().map_err(|e| Error::io(&path, e))?;
        Self::start(&path, file, Destination::Temp(output))
    }

    /// Writes an image onto `file` (a block device, say, named `path`) in
    /// place. When finished, every byte of the image's size holds the
    /// image: ranges never written with data are zeroed, unless
    /// `already_zero` says the target reads as zeros there (a new, empty
    /// EBS volume). The caller checks that the target may be overwritten.
    pub fn in_place(file: File, path: &Path, already_zero: bool) -> Result<SparseFile> {
        let writer_file = file.try_clone().map_err(|e| Error::io(path, e))?;
        Self::start(
            path,
            writer_file,
            Destination::InPlace { file, already_zero },
        )
    }

    fn start(path: &Path, file: File, destination: Destination) -> Result<SparseFile> {
        let (to_writer, from_caller) = sync_channel::<Chunk>(IN_FLIGHT);
        let (recycle, recycled) = sync_channel::<Vec<u8>>(IN_FLIGHT + 1);
        let name = path.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("image writer".into())
            .spawn(move || write_chunks(file, &name, from_caller, recycle))
            .map_err(|e| Error::io(path, e))?;
        Ok(SparseFile {
            path: path.to_path_buf(),
            destination: Some(destination),
            current: Chunk {
                offset: 0,
                bytes: Vec::with_capacity(BUFFER),
            },
            to_writer: Some(to_writer),
            recycled,
            writer: Some(writer),
        })
    }

    /// Hands the current buffer to the writer thread.
    fn flush(&mut self) -> Result<()> {
        if self.current.bytes.is_empty() {
            return Ok(());
        }
        let mut fresh = self.spare();
        fresh.clear();
        let offset = self.current.offset + self.current.bytes.len() as u64;
        let full = std::mem::replace(
            &mut self.current,
            Chunk {
                offset,
                bytes: fresh,
            },
        );
        self.send(full)
    }

    /// A buffer the writer has finished with, or a new one.
    fn spare(&mut self) -> Vec<u8> {
        self.recycled
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BUFFER))
    }

    /// Hands a chunk to the writer thread.
    fn send(&mut self, chunk: Chunk) -> Result<()> {
        let offset = chunk.offset;
        let sent = self.to_writer.as_ref().map(|tx| tx.send(chunk));
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

    /// Stops the writer thread; returns the ranges it wrote with data.
    fn join_writer(&mut self) -> Result<Vec<Range<u64>>> {
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
    /// to the output path. In place, zeroes what was never written (up to
    /// `size`) and syncs.
    pub fn finish(self, size: u64) -> Result<()> {
        self.seal(size, &[])?.publish()
    }

    /// Completes the image like [`SparseFile::finish`] but leaves a new
    /// file without its final name until [`Completed::publish`]. `patches`
    /// (offset, bytes) are written over what was written first: for formats
    /// whose tables are known only at the end, such as a dynamic VHD's
    /// block allocation table.
    pub fn seal(mut self, size: u64, patches: &[(u64, &[u8])]) -> Result<Completed> {
        self.flush()?;
        let written = self.join_writer()?;
        let destination = self.destination.take().ok_or_else(|| Error::Write {
            path: self.path.clone(),
            offset: size,
            source: std::io::Error::other("image already finished"),
        })?;
        let file = match &destination {
            Destination::Temp(output) => output.file(),
            Destination::InPlace { file, .. } => file,
        };
        for (offset, bytes) in patches {
            file.write_all_at(bytes, *offset)
                .map_err(|source| Error::Write {
                    path: self.path.clone(),
                    offset: *offset,
                    source,
                })?;
        }
        match destination {
            Destination::Temp(output) => Ok(Completed::sealed(output.seal(size)?)),
            Destination::InPlace { file, already_zero } => {
                if !already_zero {
                    zero_gaps(&file, &self.path, written, size)?;
                }
                file.sync_all().map_err(|source| Error::Write {
                    path: self.path.clone(),
                    offset: size,
                    source,
                })?;
                Ok(Completed::done())
            }
        }
    }
}

/// The writer thread: writes each chunk's non-zero parts and returns buffers
/// for reuse; returns the ranges written.
fn write_chunks(
    file: File,
    path: &Path,
    chunks: Receiver<Chunk>,
    recycle: SyncSender<Vec<u8>>,
) -> Result<Vec<Range<u64>>> {
    let mut written = Vec::new();
    for chunk in chunks {
        write_nonzero(&file, path, chunk.offset, &chunk.bytes, &mut written)?;
        start_writeback(&file, chunk.offset, chunk.bytes.len());
        let _ = recycle.try_send(chunk.bytes);
    }
    Ok(written)
}

/// Writes zeros over every byte below `size` outside the `written` ranges.
fn zero_gaps(file: &File, path: &Path, mut written: Vec<Range<u64>>, size: u64) -> Result<()> {
    written.sort_by_key(|range| range.start);
    let zeros = vec![0u8; BUFFER];
    let mut at = 0u64;
    let ends = written
        .iter()
        .map(|range| (range.start, range.end))
        .chain([(size, size)]);
    for (start, end) in ends {
        while at < start.min(size) {
            let n = (start.min(size) - at).min(BUFFER as u64) as usize;
            file.write_all_at(&zeros[..n], at)
                .map_err(|source| Error::Write {
                    path: path.to_path_buf(),
                    offset: at,
                    source,
                })?;
            at += n as u64;
        }
        at = at.max(end);
    }
    Ok(())
}

/// Asks the kernel to start writing a range to the disk now, without
/// waiting, so that the disk works while the image is still being made and
/// the final sync has little left to do. Only a hint: errors surface at the
/// sync.
fn start_writeback(file: &File, offset: u64, len: usize) {
    let (Ok(offset), Ok(len)) = (
        libc::off64_t::try_from(offset),
        libc::off64_t::try_from(len),
    ) else {
        return;
    };
    // SAFETY: sync_file_range only reads its arguments; the descriptor is
    // valid for the call.
    unsafe {
        libc::sync_file_range(
            std::os::unix::io::AsRawFd::as_raw_fd(file),
            offset,
            len,
            libc::SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// Writes the parts of `data` that are not all-zero chunks, noting each
/// range written in `written`.
fn write_nonzero(
    file: &File,
    path: &Path,
    offset: u64,
    data: &[u8],
    written: &mut Vec<Range<u64>>,
) -> Result<()> {
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
            match written.last_mut() {
                Some(last) if last.end == pos => last.end = offset + end as u64,
                _ => written.push(pos..offset + end as u64),
            }
            at = end;
        } else {
            at = (at + ZERO_CHUNK).min(data.len());
        }
    }
    Ok(())
}

impl Sink for SparseFile {
    /// Large buffers go to the writer thread as they are.
    fn write_owned(&mut self, offset: u64, data: Vec<u8>) -> Result<Vec<u8>> {
        if data.len() < BUFFER / 2 {
            self.write_at(offset, &data)?;
            return Ok(data);
        }
        self.flush()?;
        let end = offset + data.len() as u64;
        self.send(Chunk {
            offset,
            bytes: data,
        })?;
        self.current.offset = end;
        Ok(self.spare())
    }

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
        // Stop the writer before the temporary file is removed (when
        // `destination` is dropped after this).
        self.to_writer = None;
        if let Some(handle) = self.writer.take() {
            let _ = handle.join();
        }
    }
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

    #[test]
    fn in_place_the_target_ends_up_holding_exactly_the_image() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device");
        let old = vec![0xeeu8; 12 << 20];
        std::fs::write(&path, &old).unwrap();
        let open = || {
            std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .open(&path)
                .unwrap()
        };
        // Out of order, with zeros inside a write and a partial sector.
        let mut sink = SparseFile::in_place(open(), &path, false).unwrap();
        sink.write_at(5 << 20, &[3u8; 4096]).unwrap();
        let mut mixed = vec![4u8; 3 * 4096];
        mixed[4096..8192].fill(0);
        sink.write_at(1 << 20, &mixed).unwrap();
        sink.write_at(0, &[1u8; 100]).unwrap();
        sink.finish(10 << 20).unwrap();
        let mut expected = vec![0u8; 10 << 20];
        expected[..100].fill(1);
        expected[1 << 20..(1 << 20) + 3 * 4096].copy_from_slice(&mixed);
        expected[5 << 20..(5 << 20) + 4096].fill(3);
        expected.extend_from_slice(&old[10 << 20..]);
        assert!(
            std::fs::read(&path).unwrap() == expected,
            "target differs from the image"
        );

        // A target known to read as zeros keeps what was never written.
        let mut sink = SparseFile::in_place(open(), &path, true).unwrap();
        sink.write_at(0, &[7u8; 10]).unwrap();
        sink.finish(10 << 20).unwrap();
        let got = std::fs::read(&path).unwrap();
        assert_eq!(&got[..11], &[7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 1]);
        assert_eq!(got[5 << 20], 3);
    }
}
