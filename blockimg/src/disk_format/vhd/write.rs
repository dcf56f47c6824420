//! VHD outputs: fixed (the raw disk, then the footer) and dynamic (only the
//! 2 MiB blocks that hold data).

use std::path::{Path, PathBuf};

use super::{
    DiskType, DynamicHeader, Footer, BAT_OFFSET, BLOCK_SIZE, FOOTER_SIZE, HEADER_OFFSET, SECTOR,
    UNALLOCATED,
};
use crate::disk_format::ImageIdentity;
use crate::error::{Error, Result};
use crate::sink::base::Sink;
use crate::sink::blocks::{check_bounds, Blocks};
use crate::sink::sparse_file::SparseFile;
use crate::sink::temp_output::Completed;

/// Where the blocks of a dynamic VHD go: the file, and the table of
/// where each block landed.
struct Store {
    out: SparseFile,
    bat: Vec<u32>,
    /// The sector bitmap in front of each block: every sector present.
    bitmap: Vec<u8>,
    next_free: u64,
}

impl Store {
    /// Appends block `index` behind its sector bitmap and enters it in the
    /// table.
    fn block(&mut self, index: u64, bytes: &[u8]) -> Result<()> {
        let sector = u32::try_from(self.next_free / SECTOR).map_err(|_| Error::TooLarge {
            what: "a dynamic VHD file".into(),
            size: self.next_free,
            limit: u64::from(u32::MAX) * SECTOR,
        })?;
        if let Some(entry) = self.bat.get_mut(index as usize) {
            *entry = sector;
        }
        let bitmap_bytes = self.bitmap.len() as u64;
        self.out.write_at(self.next_free, &self.bitmap)?;
        self.out.write_at(self.next_free + bitmap_bytes, bytes)?;
        self.next_free += bitmap_bytes + bytes.len() as u64;
        Ok(())
    }
}

/// A fixed VHD over any sink: the disk's bytes pass through unchanged and
/// [`VhdFixed::finish`] appends the footer at the virtual size.
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::ImageIdentity;
/// use blockimg::sink::{Sink, VhdFixed};
///
/// # fn main() -> blockimg::Result<()> {
/// let identity = ImageIdentity { uuid: [1; 16], time: 1_700_000_000 };
/// let mut vhd = VhdFixed::new(Vec::new(), "disk.vhd".as_ref(), 1 << 20, &identity);
/// vhd.write_at(0, &[0x55; 512])?;
/// let file_size = vhd.file_size();
/// let bytes = vhd.finish()?;
/// assert_eq!(bytes.len() as u64, file_size); // the disk, then a 512-byte footer
/// assert_eq!(&bytes[bytes.len() - 512..][..8], b"conectix");
/// # Ok(())
/// # }
/// ```
pub struct VhdFixed<S> {
    inner: S,
    path: PathBuf,
    size: u64,
    footer: [u8; 512],
}

impl<S: Sink> VhdFixed<S> {
    /// A fixed VHD of `size` bytes (a size from
    /// [`crate::disk_format::vhd::virtual_size`]) written into `inner`;
    /// `path` names the output in messages.
    pub fn new(inner: S, path: &Path, size: u64, identity: &ImageIdentity) -> VhdFixed<S> {
        VhdFixed {
            inner,
            path: path.to_path_buf(),
            size,
            footer: Footer::new(DiskType::Fixed, size, identity).encode(),
        }
    }

    /// Writes the footer and returns the inner sink, which then holds
    /// `file_size()` bytes.
    pub fn finish(mut self) -> Result<S> {
        self.inner.write_at(self.size, &self.footer)?;
        Ok(self.inner)
    }

    /// Bytes of the complete file.
    pub fn file_size(&self) -> u64 {
        self.size + FOOTER_SIZE
    }
}

impl<S: Sink> Sink for VhdFixed<S> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        check_bounds(&self.path, self.size, offset, data.len())?;
        self.inner.write_at(offset, data)
    }

    fn write_owned(&mut self, offset: u64, data: Vec<u8>) -> Result<Vec<u8>> {
        check_bounds(&self.path, self.size, offset, data.len())?;
        self.inner.write_owned(offset, data)
    }
}

/// A dynamic VHD file: footer copy, header, block allocation table, the
/// blocks that hold data (each behind an all-ones sector bitmap) and the
/// footer. Each 2 MiB block is gathered in memory; an all-zero block is left
/// unallocated, so the file holds only what the disk holds. The table's
/// size follows from the disk size; its entries are written at the end.
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{open, Format, ImageIdentity};
/// use blockimg::sink::{virtual_size, OutputFormat, Sink, VhdDynamic};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("disk.vhd");
/// let size = virtual_size(OutputFormat::Vhd, 8 << 20, false)?;
/// let identity = ImageIdentity { uuid: [1; 16], time: 1_700_000_000 };
/// let mut vhd = VhdDynamic::create(&path, false, size, &identity)?;
/// vhd.write_at(0, &[0x55; 512])?;
/// let file_len = vhd.finish()?;
/// assert!(file_len < 4 << 20); // only the block that holds data is stored
///
/// let mut disk = open(&path)?;
/// assert_eq!((disk.format(), disk.size()), (Format::VhdDynamic, size));
/// let mut sector = [0; 512];
/// disk.read_at(0, &mut sector)?;
/// assert_eq!(sector, [0x55; 512]);
/// # Ok(())
/// # }
/// ```
pub struct VhdDynamic {
    store: Store,
    blocks: Blocks,
    path: PathBuf,
    size: u64,
    footer: [u8; 512],
}

impl VhdDynamic {
    /// Starts a dynamic VHD of `size` bytes (a size from
    /// [`crate::disk_format::vhd::virtual_size`]) that will be named `path`.
    pub fn create(
        path: &Path,
        overwrite: bool,
        size: u64,
        identity: &ImageIdentity,
    ) -> Result<VhdDynamic> {
        let header = DynamicHeader::new(size);
        let footer = Footer::new(DiskType::Dynamic, size, identity).encode();
        let mut out = SparseFile::create(path, overwrite)?;
        out.write_at(0, &footer)?;
        out.write_at(HEADER_OFFSET, &header.encode())?;
        Ok(VhdDynamic {
            store: Store {
                out,
                bat: vec![UNALLOCATED; header.max_entries as usize],
                bitmap: vec![0xff; header.bitmap_bytes() as usize],
                next_free: BAT_OFFSET + header.table_bytes(),
            },
            blocks: Blocks::new(BLOCK_SIZE as usize),
            path: path.to_path_buf(),
            size,
            footer,
        })
    }

    /// Stores the last block, the table and the footer, and renames the
    /// file into place. Returns the file's length.
    pub fn finish(self) -> Result<u64> {
        let (completed, len) = self.seal()?;
        completed.publish()?;
        Ok(len)
    }

    /// Like [`VhdDynamic::finish`], but leaves the file without its final
    /// name until [`Completed::publish`].
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::ImageIdentity;
    /// use blockimg::sink::{virtual_size, OutputFormat, VhdDynamic};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("disk.vhd");
    /// let size = virtual_size(OutputFormat::Vhd, 4 << 20, false)?;
    /// let identity = ImageIdentity { uuid: [1; 16], time: 1_700_000_000 };
    /// let (completed, _len) = VhdDynamic::create(&path, false, size, &identity)?.seal()?;
    /// assert!(!path.exists()); // not yet: other outputs of the build may still fail
    /// completed.publish()?;
    /// assert!(path.exists());
    /// # Ok(())
    /// # }
    /// ```
    pub fn seal(mut self) -> Result<(Completed, u64)> {
        let store = &mut self.store;
        self.blocks.finish(&mut |i, b| store.block(i, b))?;
        let Store {
            mut out,
            bat,
            next_free,
            ..
        } = self.store;
        out.write_at(next_free, &self.footer)?;
        let table = DynamicHeader::new(self.size).encode_table(&bat);
        let len = next_free + FOOTER_SIZE;
        let completed = out.seal(len, &[(BAT_OFFSET, &table)])?;
        Ok((completed, len))
    }
}

impl Sink for VhdDynamic {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        check_bounds(&self.path, self.size, offset, data.len())?;
        let store = &mut self.store;
        self.blocks
            .write(offset, data, &mut |i, b| store.block(i, b))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk_format::{open, Format};

    fn identity() -> ImageIdentity {
        ImageIdentity {
            uuid: [3; 16],
            time: 1_700_000_000,
        }
    }

    #[test]
    fn dynamic_vhd_reads_back_and_skips_zero_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.vhd");
        let size = crate::disk_format::vhd::virtual_size(10_000_000, false).unwrap();
        let mut vhd = VhdDynamic::create(&path, false, size, &identity()).unwrap();
        vhd.write_at(512, &[1u8; 1000]).unwrap();
        vhd.write_at(3 << 20, &[0u8; 4096]).unwrap();
        vhd.write_at((5 << 20) - 10, &[2u8; 20]).unwrap();
        vhd.finish().unwrap();
        // Blocks 0 and 2 are allocated (block 1 got only zeros).
        let len = std::fs::metadata(&path).unwrap().len();
        assert_eq!(len, 1536 + 512 + 2 * ((2 << 20) + 512) + 512);
        let mut disk = open(&path).unwrap();
        assert_eq!(disk.format(), Format::VhdDynamic);
        assert_eq!(disk.size(), size);
        let mut buf = vec![0u8; size as usize];
        disk.read_at(0, &mut buf).unwrap();
        assert!(buf[512..1512].iter().all(|&b| b == 1));
        assert!(buf[(5 << 20) - 10..(5 << 20) + 10].iter().all(|&b| b == 2));
        assert_eq!(buf.iter().filter(|&&b| b != 0).count(), 1020);
        assert_eq!(
            disk.data_ranges().unwrap(),
            vec![(0, 2 << 20), (4 << 20, 2 << 20)]
        );
    }

    #[test]
    fn fixed_vhd_is_the_disk_then_the_footer() {
        let size = 10_027_008;
        let mut vhd = VhdFixed::new(Vec::new(), Path::new("f.vhd"), size, &identity());
        vhd.write_at(4096, b"data").unwrap();
        assert!(vhd.write_at(size - 1, b"xx").is_err());
        let bytes = vhd.finish().unwrap();
        assert_eq!(bytes.len() as u64, size + 512);
        let mut disk = crate::disk_format::open_backing(bytes, Path::new("f.vhd")).unwrap();
        assert_eq!(disk.format(), Format::VhdFixed);
        assert_eq!(disk.size(), size);
        let mut buf = [0u8; 4];
        disk.read_at(4096, &mut buf).unwrap();
        assert_eq!(&buf, b"data");
    }
}
