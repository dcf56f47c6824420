//! Reading fixed and dynamic VHDs.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::{Path, PathBuf};

use super::{
    decode_table, DiskType, DynamicHeader, Footer, BAT_ENTRY_SIZE, FOOTER_SIZE, HEADER_SIZE,
    SECTOR, UNALLOCATED,
};
use crate::disk_format::clustered::push_range;
use crate::disk_format::raw::RawDisk;
use crate::disk_format::{check_range, read_exact, Backing, Format, VirtualDisk};
use crate::error::{Corrupt, FormatError};
use crate::error::{Error, Result};

/// A VHD image, fixed or dynamic, read as the disk it holds. The size is
/// the footer's current size (what Hyper-V and Azure use).
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{Format, ImageIdentity, VhdDisk, VirtualDisk};
/// use blockimg::sink::{Sink, VhdFixed};
///
/// # fn main() -> blockimg::Result<()> {
/// let identity = ImageIdentity { uuid: [1; 16], time: 1_700_000_000 };
/// let mut vhd = VhdFixed::new(Vec::new(), "disk.vhd".as_ref(), 1 << 20, &identity);
/// vhd.write_at(512, b"sector one")?;
/// let bytes = vhd.finish()?;
///
/// let mut disk = VhdDisk::open(bytes, "disk.vhd".as_ref())?;
/// assert_eq!((disk.format(), disk.size()), (Format::VhdFixed, 1 << 20));
/// let mut buf = [0; 10];
/// disk.read_at(512, &mut buf)?;
/// assert_eq!(&buf, b"sector one");
/// # Ok(())
/// # }
/// ```
pub struct VhdDisk<B> {
    inner: Inner<B>,
}

enum Inner<B> {
    Fixed(RawDisk<B>),
    Dynamic(Dynamic<B>),
}

struct Dynamic<B> {
    backing: B,
    path: PathBuf,
    size: u64,
    block_size: u64,
    bitmap_bytes: u64,
    /// One entry per block of the disk, each checked to lie in the file.
    bat: Vec<u32>,
}

fn corrupt(path: &Path, field: String, value: impl ToString, reason: String) -> Error {
    Error::from(FormatError::Corrupt(Box::new(Corrupt {
        path: path.to_path_buf(),
        format: "VHD".into(),
        field,
        value: value.to_string(),
        reason,
    })))
}

impl<B: Backing> VhdDisk<B> {
    /// Opens and checks the VHD in `backing`: the footer (cookie, checksum,
    /// type, size against the file's length), and for a dynamic disk the
    /// header and every block allocation table entry.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::{ImageIdentity, VhdDisk};
    /// use blockimg::sink::VhdFixed;
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let identity = ImageIdentity { uuid: [1; 16], time: 1_700_000_000 };
    /// let mut bytes = VhdFixed::new(Vec::new(), "disk.vhd".as_ref(), 1 << 20, &identity).finish()?;
    /// let footer = bytes.len() - 512;
    /// bytes[footer + 64] ^= 1; // damage the footer's checksum
    /// let err = VhdDisk::open(bytes, "disk.vhd".as_ref()).err().expect("refused");
    /// assert!(err.to_string().contains("disk.vhd"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(backing: B, path: &Path) -> Result<VhdDisk<B>> {
        let len = backing.byte_len().map_err(|e| Error::io(path, e))?;
        if len < FOOTER_SIZE {
            return Err(corrupt(
                path,
                "file size".into(),
                len,
                "too small to hold a 512-byte VHD footer".into(),
            ));
        }
        let data_end = len - FOOTER_SIZE;
        let mut bytes = [0u8; FOOTER_SIZE as usize];
        read_exact(&backing, path, &mut bytes, data_end)?;
        let footer = Footer::decode(&bytes, path)?;
        let inner = match footer.disk_type {
            DiskType::Fixed => {
                if footer.current_size > data_end {
                    return Err(corrupt(
                        path,
                        "footer current size".into(),
                        footer.current_size,
                        format!("the file holds only {data_end} bytes before its footer"),
                    ));
                }
                Inner::Fixed(RawDisk::with_size(
                    backing,
                    path,
                    footer.current_size,
                    Format::VhdFixed,
                ))
            }
            DiskType::Dynamic => Inner::Dynamic(Dynamic::open(backing, path, &footer, data_end)?),
        };
        Ok(VhdDisk { inner })
    }
}

impl<B: Backing> Dynamic<B> {
    fn open(backing: B, path: &Path, footer: &Footer, data_end: u64) -> Result<Dynamic<B>> {
        let size = footer.current_size;
        let header_offset = footer.data_offset.unwrap_or(u64::MAX);
        let header_end = header_offset.checked_add(HEADER_SIZE);
        if !matches!(header_end, Some(end) if end <= data_end) {
            return Err(corrupt(
                path,
                "footer data offset".into(),
                header_offset,
                format!("the dynamic header must lie within the file's first {data_end} bytes"),
            ));
        }
        let mut bytes = [0u8; HEADER_SIZE as usize];
        read_exact(&backing, path, &mut bytes, header_offset)?;
        let header = DynamicHeader::decode(&bytes, size, path)?;
        let block_size = u64::from(header.block_size);
        let blocks = size.div_ceil(block_size);
        let table_end = header
            .table_offset
            .checked_add(blocks * BAT_ENTRY_SIZE)
            .filter(|&end| end <= data_end);
        if table_end.is_none() {
            return Err(corrupt(
                path,
                "dynamic header table offset".into(),
                header.table_offset,
                format!(
                    "a block allocation table of {blocks} entries there would end past \
                     the file's {data_end} bytes of data"
                ),
            ));
        }
        let mut raw = vec![0u8; (blocks * BAT_ENTRY_SIZE) as usize];
        read_exact(&backing, path, &mut raw, header.table_offset)?;
        let bitmap_bytes = header.bitmap_bytes();
        let mut bat = Vec::with_capacity(blocks as usize);
        for (index, sector) in decode_table(&raw).enumerate() {
            if sector != UNALLOCATED {
                let covered = block_size.min(size - index as u64 * block_size);
                let end = u64::from(sector) * SECTOR + bitmap_bytes + covered;
                if end > data_end {
                    return Err(corrupt(
                        path,
                        format!("block allocation table entry {index}"),
                        format!("sector {sector}"),
                        format!("the block would end at byte {end}, past the file's {data_end} bytes of data"),
                    ));
                }
            }
            bat.push(sector);
        }
        Ok(Dynamic {
            backing,
            path: path.to_path_buf(),
            size,
            block_size,
            bitmap_bytes,
            bat,
        })
    }

    fn data_ranges(&self) -> Vec<(u64, u64)> {
        let mut ranges: Vec<(u64, u64)> = Vec::new();
        for (index, &sector) in self.bat.iter().enumerate() {
            if sector == UNALLOCATED {
                continue;
            }
            let start = index as u64 * self.block_size;
            push_range(&mut ranges, start, self.block_size.min(self.size - start));
        }
        ranges
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(&self.path, self.size, offset, buf.len())?;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let index = at / self.block_size;
            let within = at % self.block_size;
            let n = ((self.block_size - within) as usize).min(buf.len() - done);
            let Some(part) = buf.get_mut(done..done + n) else {
                break;
            };
            // check_range bounds `at` by the size, which the table covers.
            match self.bat.get(index as usize).copied() {
                Some(sector) if sector != UNALLOCATED => {
                    let pos = u64::from(sector) * SECTOR + self.bitmap_bytes + within;
                    read_exact(&self.backing, &self.path, part, pos)?;
                }
                _ => part.fill(0),
            }
            done += n;
        }
        Ok(())
    }
}

impl<B: Backing> VirtualDisk for VhdDisk<B> {
    fn format(&self) -> Format {
        match &self.inner {
            Inner::Fixed(_) => Format::VhdFixed,
            Inner::Dynamic(_) => Format::VhdDynamic,
        }
    }

    fn size(&self) -> u64 {
        match &self.inner {
            Inner::Fixed(raw) => raw.size(),
            Inner::Dynamic(d) => d.size,
        }
    }

    fn data_ranges(&mut self) -> Result<Vec<(u64, u64)>> {
        match &mut self.inner {
            Inner::Fixed(raw) => raw.data_ranges(),
            Inner::Dynamic(d) => Ok(d.data_ranges()),
        }
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match &mut self.inner {
            Inner::Fixed(raw) => raw.read_at(offset, buf),
            Inner::Dynamic(d) => d.read_at(offset, buf),
        }
    }
}
