//! Writing a disk in place onto a block device or an existing file, in
//! large aligned writes.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::{is_zero, Sink};
use crate::error::{Error, Result};

/// Bytes per write: a multiple of every device's block size and of EBS's
/// 512 KiB.
pub const WINDOW: u64 = 4 << 20;

/// A disk written in place, in ascending order, one aligned 4 MiB window
/// at a time. Regions never written are written as zeros, unless
/// `skip_zeros`: then windows of zeros are not written at all, which is
/// only correct on a target that already reads as zeros (a new, empty EBS
/// volume).
///
/// # Examples
///
/// ```
/// use blockimg::sink::{DeviceWriter, Sink};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // A block device in real use; any file of the disk's size will do.
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("device");
/// let target = std::fs::File::options().read(true).write(true).create(true).open(&path)?;
/// target.set_len(8 << 20)?;
///
/// let mut writer = DeviceWriter::new(target, &path, 8 << 20, false);
/// let mut reports = 0;
/// let mut count = |done| { reports += 1; assert!(done <= 8 << 20); };
/// writer.set_progress(&mut count);
/// writer.write_at(0, &[0x55; 512])?;
/// let (_file, written) = writer.finish()?;
/// assert_eq!(written, 8 << 20); // zeros included: the target may hold old data
/// assert_eq!(std::fs::read(&path)?[..512], [0x55; 512]);
/// # Ok(())
/// # }
/// ```
pub struct DeviceWriter<'p> {
    file: File,
    path: PathBuf,
    size: u64,
    skip_zeros: bool,
    window: Vec<u8>,
    window_start: u64,
    written: u64,
    progress: Option<&'p mut dyn FnMut(u64)>,
}

impl<'p> DeviceWriter<'p> {
    /// Writes a disk of `size` bytes into `file` (named `path` in
    /// messages), which must hold at least `size` bytes.
    pub fn new(file: File, path: &Path, size: u64, skip_zeros: bool) -> DeviceWriter<'p> {
        DeviceWriter {
            file,
            path: path.to_path_buf(),
            size,
            skip_zeros,
            window: vec![0; WINDOW as usize],
            window_start: 0,
            written: 0,
            progress: None,
        }
    }

    /// Calls `report` with the bytes of the disk done so far after every
    /// window.
    pub fn set_progress(&mut self, report: &'p mut dyn FnMut(u64)) {
        self.progress = Some(report);
    }

    /// Writes the current window and moves to the next one.
    fn flush_window(&mut self) -> Result<()> {
        let len = WINDOW.min(self.size.saturating_sub(self.window_start)) as usize;
        let data = &self.window[..len];
        if len > 0 && !(self.skip_zeros && is_zero(data)) {
            self.file
                .write_all_at(data, self.window_start)
                .map_err(|source| Error::Write {
                    path: self.path.clone(),
                    offset: self.window_start,
                    source,
                })?;
            self.written += len as u64;
        }
        self.window.fill(0);
        self.window_start += WINDOW;
        let done = self.window_start.min(self.size);
        if let Some(report) = &mut self.progress {
            report(done);
        }
        Ok(())
    }

    /// Writes every window up to the end of the disk and syncs the target.
    /// Returns the file and the bytes written (zeros included, skipped
    /// windows not).
    pub fn finish(mut self) -> Result<(File, u64)> {
        while self.window_start < self.size {
            self.flush_window()?;
        }
        self.file.sync_all().map_err(|source| Error::Write {
            path: self.path.clone(),
            offset: self.size,
            source,
        })?;
        Ok((self.file, self.written))
    }
}

impl Sink for DeviceWriter<'_> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        match offset.checked_add(data.len() as u64) {
            Some(end) if end <= self.size && offset >= self.window_start => {}
            _ => {
                return Err(Error::Write {
                    path: self.path.clone(),
                    offset,
                    source: std::io::Error::other(format!(
                        "{} bytes at byte offset {offset} lie outside the disk's {} bytes \
                         or before what was already written",
                        data.len(),
                        self.size
                    )),
                })
            }
        }
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            while at >= self.window_start + WINDOW {
                self.flush_window()?;
            }
            let within = (at - self.window_start) as usize;
            let n = (WINDOW as usize - within).min(data.len() - done);
            self.window[within..within + n].copy_from_slice(&data[done..done + n]);
            done += n;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn target(len: u64) -> (tempfile::NamedTempFile, File) {
        let t = tempfile::NamedTempFile::new().unwrap();
        let f = t.reopen().unwrap();
        f.write_all_at(&vec![0xee; len as usize], 0).unwrap();
        (t, f)
    }

    #[test]
    fn zeros_are_written_unless_skipped() {
        let size = 10 << 20;
        let (t, f) = target(size + 100);
        let mut w = DeviceWriter::new(f, t.path(), size, false);
        w.write_at(5 << 20, b"hello").unwrap();
        assert!(w.write_at(0, b"back").is_err());
        assert_eq!(w.finish().unwrap().1, size);
        let got = std::fs::read(t.path()).unwrap();
        assert_eq!(got.len() as u64, size + 100, "the target keeps its size");
        assert!(got[..5 << 20].iter().all(|&b| b == 0));
        assert_eq!(&got[5 << 20..(5 << 20) + 5], b"hello");
        assert!(got[(5 << 20) + 5..size as usize].iter().all(|&b| b == 0));
        assert!(got[size as usize..].iter().all(|&b| b == 0xee));

        let (t, f) = target(size);
        let mut w = DeviceWriter::new(f, t.path(), size, true);
        w.write_at(5 << 20, b"hello").unwrap();
        let (f, written) = w.finish().unwrap();
        assert!(f.metadata().unwrap().size() == size);
        assert_eq!(written, 4 << 20);
        let got = std::fs::read(t.path()).unwrap();
        // Only the window holding data was written.
        assert!(got[..4 << 20].iter().all(|&b| b == 0xee));
        assert_eq!(&got[5 << 20..(5 << 20) + 5], b"hello");
        assert!(got[8 << 20..].iter().all(|&b| b == 0xee));
    }
}
