//! Pieces shared by the sinks of sparse formats: gathering ascending writes
//! into fixed-size blocks of the disk, checking that writes stay within the
//! disk, and writing a stream while counting its position.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::base::is_zero;
use crate::error::{Error, Result};

/// Refuses a write of `len` bytes at `offset` that ends past a disk of
/// `size` bytes (named `path`).
pub(crate) fn check_bounds(path: &Path, size: u64, offset: u64, len: usize) -> Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::Write {
            path: path.to_path_buf(),
            offset,
            source: std::io::Error::other(format!(
                "{len} bytes at byte offset {offset} lie beyond the disk's {size} bytes"
            )),
        }),
    }
}

/// One block of the disk at a time (a VHD block, a VMDK grain), gathered
/// from ascending writes. A block is handed on when a write moves past it
/// (or at once when a write covers it whole), and only if it holds a
/// non-zero byte: blocks of zeros are what sparse formats leave out.
pub(crate) struct Blocks {
    buf: Vec<u8>,
    index: u64,
    dirty: bool,
}

impl Blocks {
    /// Blocks of `size` bytes.
    pub(crate) fn new(size: usize) -> Blocks {
        Blocks {
            buf: vec![0; size],
            index: 0,
            dirty: false,
        }
    }

    /// Copies `data`, which belongs at byte `offset` of the disk, into the
    /// blocks. `full` receives each block left behind that holds data: its
    /// number and its bytes. A whole block written at once is handed on
    /// from `data` without being copied.
    pub(crate) fn write(
        &mut self,
        offset: u64,
        data: &[u8],
        full: &mut dyn FnMut(u64, &[u8]) -> Result<()>,
    ) -> Result<()> {
        let size = self.buf.len();
        let mut done = 0usize;
        while done < data.len() {
            let at = offset + done as u64;
            let index = at / size as u64;
            if index != self.index {
                self.hand_on(full)?;
                self.index = index;
            }
            let within = (at % size as u64) as usize;
            let n = (size - within).min(data.len() - done);
            let part = &data[done..done + n];
            if n == size {
                // A whole block: the buffer is clean (a new block index).
                if !is_zero(part) {
                    full(index, part)?;
                }
                self.index = index + 1;
            } else {
                self.buf[within..within + n].copy_from_slice(part);
                self.dirty = true;
            }
            done += n;
        }
        Ok(())
    }

    /// Hands on the last block, if it holds data.
    pub(crate) fn finish(&mut self, full: &mut dyn FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
        self.hand_on(full)
    }

    fn hand_on(&mut self, full: &mut dyn FnMut(u64, &[u8]) -> Result<()>) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        if !is_zero(&self.buf) {
            full(self.index, &self.buf)?;
        }
        self.buf.fill(0);
        self.dirty = false;
        Ok(())
    }
}

/// A writer that counts where it is, so that an error names the offset.
pub(crate) struct Counted<W> {
    pub(crate) out: W,
    pub(crate) path: PathBuf,
    pub(crate) pos: u64,
}

impl<W: Write> Counted<W> {
    /// Writes into `out`, named `path` in messages.
    pub(crate) fn new(out: W, path: &Path) -> Counted<W> {
        Counted {
            out,
            path: path.to_path_buf(),
            pos: 0,
        }
    }

    /// Writes all of `bytes`.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write_all(bytes).map_err(|source| Error::Write {
            path: self.path.clone(),
            offset: self.pos,
            source,
        })?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    /// Flushes and returns the writer.
    pub(crate) fn finish(mut self) -> Result<W> {
        self.out.flush().map_err(|source| Error::Write {
            path: self.path.clone(),
            offset: self.pos,
            source,
        })?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_blocks_with_data_are_handed_on() {
        let mut blocks = Blocks::new(8);
        let mut seen = Vec::new();
        let mut full = |i: u64, b: &[u8]| {
            seen.push((i, b.to_vec()));
            Ok(())
        };
        blocks.write(3, b"abcdefg", &mut full).unwrap();
        blocks.write(16, &[0; 8], &mut full).unwrap();
        blocks.write(30, b"z", &mut full).unwrap();
        blocks.write(40, b"01234567whole-bl", &mut full).unwrap();
        blocks.write(60, b"end", &mut full).unwrap();
        blocks.finish(&mut full).unwrap();
        assert_eq!(
            seen,
            vec![
                (0, b"\0\0\0abcde".to_vec()),
                (1, b"fg\0\0\0\0\0\0".to_vec()),
                (3, b"\0\0\0\0\0\0z\0".to_vec()),
                (5, b"01234567".to_vec()),
                (6, b"whole-bl".to_vec()),
                (7, b"\0\0\0\0end\0".to_vec()),
            ]
        );
    }
}
