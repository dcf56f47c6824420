//! A raw disk written front to back into any [`Write`], such as a pipe:
//! gaps between writes become zeros.

use std::io::Write;
use std::path::Path;

use super::blocks::Counted;
use super::Sink;
use crate::error::{Error, Result};

/// Zeros written for gaps, a slice at a time.
static ZEROS: [u8; 64 << 10] = [0; 64 << 10];

/// A raw disk streamed into a writer in ascending offset order.
///
/// # Examples
///
/// ```
/// use blockimg::sink::{Sink, Stream};
///
/// # fn main() -> blockimg::Result<()> {
/// // Writes must come in ascending order; gaps become zeros on the way.
/// let mut stream = Stream::new(Vec::new(), "disk.img".as_ref());
/// stream.write_at(0, b"first")?;
/// stream.write_at(4096, b"second")?;
/// let bytes = stream.finish(8192)?; // zeros up to the disk's size
/// assert_eq!(bytes.len(), 8192);
/// assert_eq!(&bytes[4096..4102], b"second");
/// # Ok(())
/// # }
/// ```
pub struct Stream<W: Write> {
    out: Counted<W>,
}

impl<W: Write> Stream<W> {
    /// Streams into `out`; `path` names it in messages.
    pub fn new(out: W, path: &Path) -> Stream<W> {
        Stream {
            out: Counted::new(out, path),
        }
    }

    /// Writes zeros up to byte `offset`.
    fn fill_to(&mut self, offset: u64) -> Result<()> {
        while self.out.pos < offset {
            let n = (offset - self.out.pos).min(ZEROS.len() as u64) as usize;
            self.out.write(&ZEROS[..n])?;
        }
        Ok(())
    }

    /// Writes zeros up to `size` bytes, flushes, and returns the writer.
    pub fn finish(mut self, size: u64) -> Result<W> {
        self.fill_to(size)?;
        self.out.finish()
    }
}

impl<W: Write> Sink for Stream<W> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        if offset < self.out.pos {
            return Err(Error::Write {
                path: self.out.path.clone(),
                offset,
                source: std::io::Error::other(format!(
                    "a stream cannot go back from byte {} to byte {offset}",
                    self.out.pos
                )),
            });
        }
        self.fill_to(offset)?;
        self.out.write(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_are_zeros() {
        let mut s = Stream::new(Vec::new(), Path::new("-"));
        s.write_at(3, b"ab").unwrap();
        s.write_at(200_000, b"c").unwrap();
        assert!(s.write_at(10, b"x").is_err());
        let out = s.finish(200_010).unwrap();
        assert_eq!(out.len(), 200_010);
        assert_eq!(&out[..6], b"\0\0\0ab\0");
        assert_eq!(out[200_000], b'c');
        assert_eq!(out.iter().filter(|&&b| b != 0).count(), 3);
    }
}
