//! Reading qcow2 images (versions 2 and 3) without a backing file,
//! encryption or an external data file: plain, zero and deflate-compressed
//! clusters, through the two-level (L1, L2) table.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::{Path, PathBuf};

use flate2::{Decompress, FlushDecompress, Status};

use super::{
    compressed_extent, corrupt, decode_table, Header, COMPRESSED, HEADER_READ, L1_ALIGN,
    OFFSET_MASK, TABLE_ENTRY_SIZE, V2_HEADER_SIZE, ZERO,
};
use crate::disk_format::clustered::{self, Caches, Clustered};
use crate::disk_format::{read_exact, Backing, Format, VirtualDisk};
use crate::error::{Error, Result};

/// A qcow2 image read as the disk it holds. L2 tables are read when
/// needed; the last cluster read is kept.
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{Format, Qcow2Disk, VirtualDisk};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("disk.qcow2");
/// let made = std::process::Command::new("qemu-img")
///     .args(["create", "-q", "-f", "qcow2"]).arg(&path).arg("4M").status();
/// # if !made.is_ok_and(|s| s.success()) { return Ok(()); } // no qemu-img on this host
/// let mut disk = Qcow2Disk::open(std::fs::File::open(&path)?, &path)?;
/// assert_eq!((disk.format(), disk.size()), (Format::Qcow2, 4 << 20));
/// assert!(disk.data_ranges()?.is_empty()); // nothing allocated yet
/// # Ok(())
/// # }
/// ```
pub struct Qcow2Disk<B> {
    image: Image<B>,
    caches: Caches,
}

/// The image file and its checked L1 table.
struct Image<B> {
    backing: B,
    path: PathBuf,
    len: u64,
    size: u64,
    cluster_bits: u32,
    l1: Vec<u64>,
    inflate: Decompress,
}

impl<B: Backing> Qcow2Disk<B> {
    /// Opens and checks the qcow2 image in `backing`: header, features,
    /// cluster size and the L1 table.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::Qcow2Disk;
    ///
    /// let mut bytes = vec![0u8; 4096];
    /// bytes[..4].copy_from_slice(b"QFI\xfb"); // the magic, but no valid header
    /// assert!(Qcow2Disk::open(bytes, "disk.qcow2".as_ref()).is_err());
    /// ```
    pub fn open(backing: B, path: &Path) -> Result<Qcow2Disk<B>> {
        let len = backing.byte_len().map_err(|e| Error::io(path, e))?;
        let mut h = [0u8; HEADER_READ];
        let n = len.min(HEADER_READ as u64) as usize;
        if n < V2_HEADER_SIZE {
            return Err(corrupt(
                path,
                "file size".into(),
                len,
                "too small for a qcow2 header".into(),
            ));
        }
        let h = h.get_mut(..n).unwrap_or_default();
        read_exact(&backing, path, h, 0)?;
        let Header {
            size,
            cluster_bits,
            l1_size,
            l1_offset,
        } = Header::decode(h, len, path)?;
        let cluster = 1u64 << cluster_bits;
        let entries_per_l2 = cluster / TABLE_ENTRY_SIZE;
        let needed = size.div_ceil(cluster).div_ceil(entries_per_l2);
        if l1_size < needed {
            return Err(corrupt(
                path,
                "L1 table size".into(),
                l1_size,
                format!("{needed} entries are needed for the virtual size of {size} bytes"),
            ));
        }
        match l1_offset.checked_add(needed * TABLE_ENTRY_SIZE) {
            Some(end) if end <= len && l1_offset % L1_ALIGN == 0 => {}
            _ => {
                return Err(corrupt(
                    path,
                    "L1 table offset".into(),
                    l1_offset,
                    format!(
                        "a table of {needed} entries there would end past the file's {len} bytes"
                    ),
                ))
            }
        }
        let mut raw = vec![0u8; (needed * TABLE_ENTRY_SIZE) as usize];
        read_exact(&backing, path, &mut raw, l1_offset)?;
        let l1: Vec<u64> = decode_table(&raw).map(|e| e & OFFSET_MASK).collect();
        for (index, &offset) in l1.iter().enumerate() {
            if offset != 0 && (offset % cluster != 0 || offset + cluster > len) {
                return Err(corrupt(
                    path,
                    format!("L1 table entry {index}"),
                    offset,
                    format!("an L2 table must be a whole cluster within the file's {len} bytes"),
                ));
            }
        }
        let image = Image {
            backing,
            path: path.to_path_buf(),
            len,
            size,
            cluster_bits,
            l1,
            inflate: Decompress::new(false),
        };
        Ok(Qcow2Disk {
            image,
            caches: Caches::default(),
        })
    }
}

impl<B: Backing> Clustered for Image<B> {
    fn path(&self) -> &Path {
        &self.path
    }

    fn disk_size(&self) -> u64 {
        self.size
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    fn per_table(&self) -> u64 {
        self.cluster_size() / TABLE_ENTRY_SIZE
    }

    fn tables(&self) -> u64 {
        self.l1.len() as u64
    }

    fn has_table(&self, table: u64) -> bool {
        self.l1
            .get(table as usize)
            .is_some_and(|&offset| offset != 0)
    }

    fn read_table(&mut self, table: u64) -> Result<Vec<u64>> {
        let offset = self.l1.get(table as usize).copied().unwrap_or(0);
        let mut raw = vec![0u8; self.cluster_size() as usize];
        read_exact(&self.backing, &self.path, &mut raw, offset)?;
        Ok(decode_table(&raw).collect())
    }

    /// Unallocated, or (version 3) marked as reading zeros.
    fn is_hole(&self, entry: u64) -> bool {
        entry & COMPRESSED == 0 && (entry & OFFSET_MASK == 0 || entry & ZERO != 0)
    }

    fn read_cluster(&mut self, index: u64, entry: u64, out: &mut [u8]) -> Result<()> {
        self.read_stored(index, entry, out)
    }
}

impl<B: Backing> Image<B> {
    /// Reads or decompresses guest cluster `index`, stored as `entry`,
    /// into `data` (one cluster).
    fn read_stored(&mut self, index: u64, entry: u64, data: &mut [u8]) -> Result<()> {
        let size = self.cluster_size();
        let field = || format!("L2 entry of cluster {index}");
        if entry & COMPRESSED == 0 {
            let offset = entry & OFFSET_MASK;
            if offset % size != 0 || offset + size > self.len {
                return Err(corrupt(
                    &self.path,
                    field(),
                    offset,
                    format!(
                        "a cluster must be a whole cluster within the file's {} bytes",
                        self.len
                    ),
                ));
            }
            read_exact(&self.backing, &self.path, data, offset)?;
        } else {
            let (offset, sectors) = compressed_extent(entry, self.cluster_bits);
            // The sector count may run past the end of the file.
            let end = (offset.saturating_add(sectors * 512 - (offset % 512))).min(self.len);
            if offset >= self.len || end <= offset {
                return Err(corrupt(
                    &self.path,
                    field(),
                    offset,
                    format!(
                        "compressed data must lie within the file's {} bytes",
                        self.len
                    ),
                ));
            }
            let mut compressed = vec![0u8; (end - offset) as usize];
            read_exact(&self.backing, &self.path, &mut compressed, offset)?;
            self.inflate.reset(false);
            match self
                .inflate
                .decompress(&compressed, data, FlushDecompress::Finish)
            {
                Ok(Status::StreamEnd) => {}
                Ok(_) if self.inflate.total_out() == size => {}
                Ok(_) => {
                    return Err(corrupt(
                        &self.path,
                        format!("compressed cluster {index}"),
                        format!("{} bytes", compressed.len()),
                        format!("does not decompress to {size} bytes"),
                    ))
                }
                Err(e) => {
                    return Err(corrupt(
                        &self.path,
                        format!("compressed cluster {index}"),
                        format!("{} bytes", compressed.len()),
                        format!("invalid deflate data: {e}"),
                    ))
                }
            }
        }
        Ok(())
    }
}

impl<B: Backing> VirtualDisk for Qcow2Disk<B> {
    fn format(&self) -> Format {
        Format::Qcow2
    }

    fn size(&self) -> u64 {
        self.image.size
    }

    fn data_ranges(&mut self) -> Result<Vec<(u64, u64)>> {
        clustered::data_ranges(&mut self.image, &mut self.caches)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        clustered::read_at(&mut self.image, &mut self.caches, offset, buf)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{
        HEADER_BACKING_FILE_OFFSET, HEADER_CLUSTER_BITS, HEADER_L1_SIZE, HEADER_L1_TABLE_OFFSET,
        HEADER_LENGTH, HEADER_MAGIC, HEADER_SIZE, HEADER_VERSION, MAGIC,
    };
    use super::*;

    /// A version 3 image of 8 clusters of 512 bytes: L1 at cluster 1, its
    /// one L2 table at cluster 2, guest cluster 3 stored at cluster 3,
    /// guest cluster 5 marked as zeros.
    fn image() -> Vec<u8> {
        let mut b = vec![0u8; 4 * 512];
        let mut put = |at: usize, value: &[u8]| b[at..at + value.len()].copy_from_slice(value);
        put(HEADER_MAGIC, MAGIC);
        put(HEADER_VERSION, &3u32.to_be_bytes());
        put(HEADER_CLUSTER_BITS, &9u32.to_be_bytes());
        put(HEADER_SIZE, &(8u64 * 512).to_be_bytes());
        put(HEADER_L1_SIZE, &1u32.to_be_bytes());
        put(HEADER_L1_TABLE_OFFSET, &512u64.to_be_bytes());
        put(HEADER_LENGTH, &104u32.to_be_bytes());
        put(512, &((1u64 << 63) | 1024).to_be_bytes());
        put(1024 + 3 * 8, &((1u64 << 63) | 1536).to_be_bytes());
        put(1024 + 5 * 8, &(1536u64 | ZERO).to_be_bytes());
        b[1536..2048].fill(7);
        b
    }

    #[test]
    fn clusters_read_back() {
        let mut disk = Qcow2Disk::open(image(), Path::new("t.qcow2")).unwrap();
        assert_eq!(disk.size(), 4096);
        assert_eq!(disk.data_ranges().unwrap(), vec![(1536, 512)]);
        let mut buf = vec![0u8; 4096];
        disk.read_at(0, &mut buf).unwrap();
        assert!(buf[1536..2048].iter().all(|&b| b == 7));
        assert_eq!(buf.iter().filter(|&&b| b != 0).count(), 512);
    }

    #[test]
    fn damage_is_named() {
        let mut bad = image();
        bad[512..520].copy_from_slice(&((1u64 << 63) | 8192).to_be_bytes());
        let err = Qcow2Disk::open(bad, Path::new("t.qcow2"))
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("L1 table entry 0") && err.contains("8192"),
            "{err}"
        );
        let mut bad = image();
        bad[HEADER_BACKING_FILE_OFFSET..][..8].copy_from_slice(&1u64.to_be_bytes());
        let err = Qcow2Disk::open(bad, Path::new("t.qcow2"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("backing file"), "{err}");
    }
}
