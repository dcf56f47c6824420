//! Reading qcow2 images (versions 2 and 3) without a backing file,
//! encryption or an external data file: plain, zero and deflate-compressed
//! clusters, through the two-level (L1, L2) table.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::{Path, PathBuf};

use flate2::{Decompress, FlushDecompress, Status};

use super::clustered::{self, Caches, Clustered};
use super::{read_exact, Backing, Format, VirtualDisk};
use crate::bytes::{be32, be64};
use crate::error::{Corrupt, FormatError};
use crate::error::{Error, Result};

const MAGIC: &[u8; 4] = b"QFI\xfb";
/// Bits 9-55 of a table entry: a host offset.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// L2 entry flag: the cluster is compressed.
const COMPRESSED: u64 = 1 << 62;
/// L2 entry flag (version 3): the cluster reads as zeros.
const ZERO: u64 = 1;
/// Incompatible features this reader understands: the dirty bit (the
/// refcounts may be stale, which reading does not care about).
const KNOWN_INCOMPATIBLE: u64 = 1;

fn corrupt(path: &Path, field: String, value: impl ToString, reason: String) -> Error {
    Error::from(FormatError::Corrupt(Box::new(Corrupt {
        path: path.to_path_buf(),
        format: "qcow2".into(),
        field,
        value: value.to_string(),
        reason,
    })))
}

fn unsupported(path: &Path, reason: &str) -> Error {
    Error::from(FormatError::Unsupported {
        path: path.to_path_buf(),
        reason: format!(
            "qcow2 {reason} cannot be read; convert to raw first (qemu-img convert -O raw)"
        ),
    })
}

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
        let mut h = [0u8; 112];
        let n = len.min(112) as usize;
        if n < 72 {
            return Err(corrupt(
                path,
                "file size".into(),
                len,
                "too small for a qcow2 header".into(),
            ));
        }
        read_exact(&backing, path, h.get_mut(..n).unwrap_or_default(), 0)?;
        if !h.starts_with(MAGIC) {
            return Err(corrupt(
                path,
                "magic".into(),
                format!("{:02x?}", &h[0..4]),
                "expected QFI\\xfb".into(),
            ));
        }
        let version = be32(&h, 4);
        if !(2..=3).contains(&version) {
            return Err(corrupt(
                path,
                "version".into(),
                version,
                "expected 2 or 3".into(),
            ));
        }
        if be64(&h, 8) != 0 {
            return Err(unsupported(path, "images with a backing file"));
        }
        let cluster_bits = be32(&h, 20);
        if !(9..=21).contains(&cluster_bits) {
            return Err(corrupt(
                path,
                "cluster bits".into(),
                cluster_bits,
                "expected 9 to 21".into(),
            ));
        }
        let size = be64(&h, 24);
        if be32(&h, 32) != 0 {
            return Err(unsupported(path, "encrypted images"));
        }
        if version == 3 {
            if n < 104 {
                return Err(corrupt(
                    path,
                    "file size".into(),
                    len,
                    "too small for a version 3 header".into(),
                ));
            }
            let incompatible = be64(&h, 72);
            if incompatible & !KNOWN_INCOMPATIBLE != 0 {
                return Err(unsupported(
                    path,
                    &format!("images with incompatible features 0x{incompatible:x} (corrupt, external data, zstd or extended L2)"),
                ));
            }
        }
        let l1_size = u64::from(be32(&h, 36));
        let l1_offset = be64(&h, 40);
        let cluster = 1u64 << cluster_bits;
        let entries_per_l2 = cluster / 8;
        let needed = size.div_ceil(cluster).div_ceil(entries_per_l2);
        if l1_size < needed {
            return Err(corrupt(
                path,
                "L1 table size".into(),
                l1_size,
                format!("{needed} entries are needed for the virtual size of {size} bytes"),
            ));
        }
        match l1_offset.checked_add(needed * 8) {
            Some(end) if end <= len && l1_offset % 512 == 0 => {}
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
        let mut raw = vec![0u8; (needed * 8) as usize];
        read_exact(&backing, path, &mut raw, l1_offset)?;
        let l1: Vec<u64> = raw
            .chunks_exact(8)
            .map(|e| be64(e, 0) & OFFSET_MASK)
            .collect();
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
        self.cluster_size() / 8
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
        Ok(raw.chunks_exact(8).map(|e| be64(e, 0)).collect())
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
            let shift = 62 - (self.cluster_bits - 8);
            let offset = entry & ((1u64 << shift) - 1);
            let sectors = ((entry >> shift) & ((1u64 << (self.cluster_bits - 8)) - 1)) + 1;
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
    use super::*;

    /// A version 3 image of 8 clusters of 512 bytes: L1 at cluster 1, its
    /// one L2 table at cluster 2, guest cluster 3 stored at cluster 3,
    /// guest cluster 5 marked as zeros.
    fn image() -> Vec<u8> {
        let mut b = vec![0u8; 4 * 512];
        b[0..4].copy_from_slice(MAGIC);
        b[4..8].copy_from_slice(&3u32.to_be_bytes());
        b[20..24].copy_from_slice(&9u32.to_be_bytes());
        b[24..32].copy_from_slice(&(8u64 * 512).to_be_bytes());
        b[36..40].copy_from_slice(&1u32.to_be_bytes());
        b[40..48].copy_from_slice(&512u64.to_be_bytes());
        b[100..104].copy_from_slice(&104u32.to_be_bytes());
        b[512..520].copy_from_slice(&((1u64 << 63) | 1024).to_be_bytes());
        b[1024 + 3 * 8..1024 + 4 * 8].copy_from_slice(&((1u64 << 63) | 1536).to_be_bytes());
        b[1024 + 5 * 8..1024 + 6 * 8].copy_from_slice(&(1536u64 | ZERO).to_be_bytes());
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
        bad[8..16].copy_from_slice(&1u64.to_be_bytes());
        let err = Qcow2Disk::open(bad, Path::new("t.qcow2"))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("backing file"), "{err}");
    }
}
