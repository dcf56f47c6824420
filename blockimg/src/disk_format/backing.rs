//! Where an image's bytes are read from: the [`Backing`] trait, and its
//! implementations for a file (holes found with `SEEK_DATA`/`SEEK_HOLE`)
//! and for memory.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;

/// Where an image's bytes are read from: a file, or memory (tests, fuzzing).
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{open_backing, Backing};
///
/// # fn main() -> std::io::Result<()> {
/// // A Vec<u8> (or a File) is a backing: an image held in memory.
/// let mut image = vec![0u8; 8192];
/// image[4096..4100].copy_from_slice(b"data");
/// assert_eq!(image.byte_len()?, 8192);
/// let mut word = [0; 4];
/// image.read_exact_at(&mut word, 4096)?;
/// assert_eq!(&word, b"data");
/// assert!(open_backing(image, "memory".as_ref()).is_ok());
/// # Ok(())
/// # }
/// ```
pub trait Backing: Send {
    /// Length in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::Backing;
    ///
    /// assert_eq!(vec![0u8; 4096].byte_len().ok(), Some(4096));
    /// ```
    fn byte_len(&self) -> io::Result<u64>;
    /// Fills `buf` from `offset`; fails if the range ends past the end.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::Backing;
    ///
    /// let image = b"0123456789".to_vec();
    /// let mut buf = [0; 4];
    /// assert!(image.read_exact_at(&mut buf, 2).is_ok() && &buf == b"2345");
    /// assert!(image.read_exact_at(&mut buf, 8).is_err()); // past the end
    /// ```
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// The ranges of `start..end` that may hold data, as (offset, length),
    /// ascending; the rest reads as zeros. The default is the whole range.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::Backing;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let dir = tempfile::tempdir()?;
    /// let file = std::fs::File::create(dir.path().join("sparse.img"))?;
    /// file.set_len(64 << 20)?; // a hole
    /// assert!(file.data_ranges(0, 64 << 20)?.is_empty()); // a File knows its holes
    /// assert_eq!(vec![0u8; 100].data_ranges(0, 100)?, [(0, 100)]); // memory: all of it
    /// # Ok(())
    /// # }
    /// ```
    fn data_ranges(&self, start: u64, end: u64) -> io::Result<Vec<(u64, u64)>> {
        Ok(if end > start {
            vec![(start, end - start)]
        } else {
            Vec::new()
        })
    }
}

impl Backing for File {
    fn byte_len(&self) -> io::Result<u64> {
        let meta = self.metadata()?;
        if meta.file_type().is_file() {
            return Ok(meta.len());
        }
        // A block device: its size is where a seek to the end lands.
        let mut me = self;
        io::Seek::seek(&mut me, io::SeekFrom::End(0))
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        FileExt::read_exact_at(self, buf, offset)
    }

    /// Data and holes as the filesystem reports them (`SEEK_DATA` and
    /// `SEEK_HOLE`), so holes of a sparse file are never read.
    fn data_ranges(&self, start: u64, end: u64) -> io::Result<Vec<(u64, u64)>> {
        let fd = self.as_raw_fd();
        let seek = |offset: u64, whence| -> io::Result<Option<u64>> {
            let offset = libc::off_t::try_from(offset).map_err(io::Error::other)?;
            // SAFETY: lseek on a file descriptor this File owns; it only moves
            // the file position, which no other code of this crate relies on
            // (all reads are positioned).
            let r = unsafe { libc::lseek(fd, offset, whence) };
            if r >= 0 {
                return Ok(Some(r as u64));
            }
            let err = io::Error::last_os_error();
            match err.raw_os_error() {
                Some(libc::ENXIO) => Ok(None),
                _ => Err(err),
            }
        };
        let mut ranges = Vec::new();
        let mut at = start;
        while at < end {
            let data = match seek(at, libc::SEEK_DATA) {
                Ok(Some(d)) => d,
                Ok(None) => break,
                // No SEEK_DATA support: everything is data.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    return Ok(vec![(at, end - at)]);
                }
                Err(e) => return Err(e),
            };
            if data >= end {
                break;
            }
            let hole = seek(data, libc::SEEK_HOLE)?.unwrap_or(end).min(end);
            ranges.push((data, hole - data));
            at = hole;
        }
        Ok(ranges)
    }
}

impl Backing for Vec<u8> {
    fn byte_len(&self) -> io::Result<u64> {
        Ok(Vec::len(self) as u64)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let start = usize::try_from(offset).map_err(io::Error::other)?;
        let src = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}
