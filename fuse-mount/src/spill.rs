//! The spill file: an unlinked temporary file holding every byte written
//! through the mount until the commit copies it into the new image.
//!
//! Space is handed out by appending (a log of written ranges); ranges no
//! file uses any more are punched out so the file stays as small as the
//! data it holds. The file has no name, so it disappears with the daemon,
//! however that ends.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use crate::error::{Error, Result};

/// The spill file and its allocation cursor.
#[derive(Debug)]
pub struct Spill {
    file: File,
    end: u64,
}

impl Spill {
    /// Creates the spill file in `dir` (beside the image, on the
    /// filesystem that will hold the new image).
    pub fn create(dir: &Path) -> Result<Spill> {
        let file = tempfile::tempfile_in(dir).map_err(|e| Error::io(dir, e))?;
        Ok(Spill { file, end: 0 })
    }

    /// A second handle on the file, for the commit's readers.
    pub fn try_clone(&self) -> std::io::Result<File> {
        self.file.try_clone()
    }

    /// Reserves `len` bytes at the end and returns their offset. The range
    /// reads as zeros until written.
    pub fn alloc(&mut self, len: u64) -> u64 {
        let at = self.end;
        self.end += len;
        at
    }

    /// Reserves `len` bytes of zeros at the end and returns their offset:
    /// the file grows over them (sparsely), so that they read as zeros to
    /// anyone, the commit's readers too.
    pub fn alloc_zeroed(&mut self, len: u64) -> std::io::Result<u64> {
        let at = self.alloc(len);
        if self.file.metadata()?.len() < self.end {
            self.file.set_len(self.end)?;
        }
        Ok(at)
    }

    /// Writes `data` at `at`.
    pub fn write_at(&self, at: u64, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(data, at)
    }

    /// Fills `buf` from `at`; bytes never written read as zeros.
    pub fn read_at(&self, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.read_at(&mut buf[done..], at + done as u64) {
                Ok(0) => {
                    buf[done..].fill(0);
                    return Ok(());
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Gives back the storage of ranges no file uses any more (the whole
    /// pages inside them; the rest is left as it is).
    pub fn release(&self, ranges: &[(u64, u64)]) {
        const PAGE: u64 = 4096;
        for &(at, len) in ranges {
            let start = at.div_ceil(PAGE) * PAGE;
            let end = (at + len) / PAGE * PAGE;
            if end > start {
                // SAFETY: plain fallocate(2) on a file descriptor we own.
                // Failure only leaves the storage in use, so it is ignored.
                unsafe {
                    libc::fallocate(
                        self.file.as_raw_fd(),
                        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                        start as libc::off_t,
                        (end - start) as libc::off_t,
                    );
                }
            }
        }
    }
}
