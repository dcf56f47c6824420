//! A raw disk image: the disk's bytes as they are. Holes of a sparse file are
//! found with `SEEK_DATA`/`SEEK_HOLE` and never read.

use std::path::{Path, PathBuf};

use super::{check_range, read_exact, Backing, Format, VirtualDisk};
use crate::error::{Error, Result};

/// A raw image, or the data part of a fixed VHD.
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{RawDisk, VirtualDisk};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut disk = RawDisk::open(vec![9u8; 4096], "disk.img".as_ref())?;
/// let mut buf = [0; 16];
/// disk.read_at(4080, &mut buf)?;
/// assert_eq!((disk.size(), buf), (4096, [9; 16]));
/// assert!(disk.read_at(4090, &mut buf).is_err()); // past the end
/// # Ok(())
/// # }
/// ```
pub struct RawDisk<B> {
    backing: B,
    path: PathBuf,
    size: u64,
    format: Format,
}

impl<B: Backing> RawDisk<B> {
    /// Opens `backing` as a raw disk of its full length.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::{RawDisk, VirtualDisk};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("disk.img");
    /// std::fs::File::create(&path)?.set_len(1 << 20)?; // a sparse file: all hole
    /// let mut disk = RawDisk::open(std::fs::File::open(&path)?, &path)?;
    /// assert_eq!(disk.size(), 1 << 20);
    /// assert!(disk.data_ranges()?.iter().all(|&(_, len)| len < 1 << 20));
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(backing: B, path: &Path) -> Result<RawDisk<B>> {
        let size = backing.byte_len().map_err(|e| Error::io(path, e))?;
        Ok(RawDisk::with_size(backing, path, size, Format::Raw))
    }

    /// The first `size` bytes of `backing` as a disk of `format`.
    pub(crate) fn with_size(backing: B, path: &Path, size: u64, format: Format) -> RawDisk<B> {
        RawDisk {
            backing,
            path: path.to_path_buf(),
            size,
            format,
        }
    }
}

impl<B: Backing> VirtualDisk for RawDisk<B> {
    fn format(&self) -> Format {
        self.format
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn data_ranges(&mut self) -> Result<Vec<(u64, u64)>> {
        self.backing
            .data_ranges(0, self.size)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(&self.path, self.size, offset, buf.len())?;
        read_exact(&self.backing, &self.path, buf, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    #[test]
    fn holes_of_a_sparse_file_are_not_data() {
        let mut file = tempfile::tempfile().unwrap();
        file.seek(SeekFrom::Start(8 << 20)).unwrap();
        file.write_all(&[1u8; 4096]).unwrap();
        file.set_len(32 << 20).unwrap();
        let mut disk = RawDisk::open(file, Path::new("sparse.img")).unwrap();
        assert_eq!(disk.size(), 32 << 20);
        let ranges = disk.data_ranges().unwrap();
        // Filesystems report data at their own block granularity.
        assert!(ranges
            .iter()
            .all(|&(o, l)| o <= 8 << 20 && o + l >= (8 << 20) + 4096 || l == 0));
        assert_eq!(ranges.len(), 1, "{ranges:?}");
        let mut buf = [0u8; 2];
        disk.read_at((8 << 20) - 1, &mut buf).unwrap();
        assert_eq!(buf, [0, 1]);
        assert!(disk.read_at((32 << 20) - 1, &mut buf).is_err());
    }
}
