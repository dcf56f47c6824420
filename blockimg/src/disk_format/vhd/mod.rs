//! VHD (Virtual Hard Disk): the on-disk structures (the footer, the dynamic
//! disk header, the block allocation table), each field's offset named once
//! and encoded and parsed here, and the CHS geometry rules that decide which
//! virtual sizes every reader agrees on. The reader (`read.rs`,
//! [`crate::disk_format::VhdDisk`]) and the writers (`write.rs`,
//! [`crate::sink::VhdFixed`], [`crate::sink::VhdDynamic`]) build on them.
//!
//! All fields are big-endian. A fixed VHD is the raw disk followed by the
//! footer; a dynamic VHD is a footer copy, the dynamic header, the block
//! allocation table (BAT), the allocated 2 MiB blocks (each behind a
//! 512-byte sector bitmap) and the footer.

pub(crate) mod read;
pub(crate) mod write;

use std::path::Path;

use super::ImageIdentity;
use crate::bytes::{be32, be64};
use crate::error::{Corrupt, FormatError};
use crate::error::{Error, Result};

/// Size of the footer (and of its copy at the start of a dynamic VHD).
pub const FOOTER_SIZE: u64 = 512;
/// Offset of the dynamic disk header in a dynamic VHD.
pub const HEADER_OFFSET: u64 = 512;
/// Size of the dynamic disk header.
pub const HEADER_SIZE: u64 = 1024;
/// Offset of the block allocation table written by blockimg.
pub const BAT_OFFSET: u64 = HEADER_OFFSET + HEADER_SIZE;
/// Size of a data block of a dynamic VHD written by blockimg.
pub const BLOCK_SIZE: u32 = 2 << 20;
/// BAT entry of a block that is not allocated (reads as zeros).
pub const UNALLOCATED: u32 = u32::MAX;
/// Largest virtual size written: 2040 GiB, the limit of Hyper-V and Azure
/// (a dynamic VHD addresses its blocks with 32-bit sector numbers).
pub const MAX_SIZE: u64 = 2040 << 30;

/// Bytes of a block allocation table entry: the sector of the block's
/// bitmap, or [`UNALLOCATED`].
pub const BAT_ENTRY_SIZE: u64 = 4;

// Byte offsets of the footer's fields.
/// Cookie, `conectix`.
const FOOTER_COOKIE: usize = 0;
/// Features (reserved bit set).
const FOOTER_FEATURES: usize = 8;
/// File format version.
const FOOTER_VERSION: usize = 12;
/// Offset of the dynamic disk header; all ones for a fixed disk.
const FOOTER_DATA_OFFSET: usize = 16;
/// Creation time, seconds since 2000-01-01.
const FOOTER_TIMESTAMP: usize = 24;
/// Creator application, four characters.
const FOOTER_CREATOR_APP: usize = 28;
/// Creator version, major and minor.
const FOOTER_CREATOR_VERSION: usize = 32;
/// Creator host operating system, four characters.
const FOOTER_CREATOR_HOST: usize = 36;
/// Size of the disk when it was created.
const FOOTER_ORIGINAL_SIZE: usize = 40;
/// Current size of the disk.
const FOOTER_CURRENT_SIZE: usize = 48;
/// Cylinders (two bytes), then heads and sectors per track (one each).
const FOOTER_CYLINDERS: usize = 56;
const FOOTER_HEADS: usize = 58;
const FOOTER_SECTORS: usize = 59;
/// Disk type: 2 fixed, 3 dynamic, 4 differencing.
const FOOTER_DISK_TYPE: usize = 60;
/// Checksum of the footer.
const FOOTER_CHECKSUM: usize = 64;
/// Unique identifier, 16 bytes.
const FOOTER_UUID: usize = 68;

// Byte offsets of the dynamic disk header's fields.
/// Cookie, `cxsparse`.
const HEADER_COOKIE: usize = 0;
/// Offset of the next structure; unused, all ones.
const HEADER_DATA_OFFSET: usize = 8;
/// Offset of the block allocation table.
const HEADER_TABLE_OFFSET: usize = 16;
/// Header version.
const HEADER_VERSION: usize = 24;
/// Entries in the block allocation table.
const HEADER_MAX_ENTRIES: usize = 28;
/// Bytes per block.
const HEADER_BLOCK_SIZE: usize = 32;
/// Checksum of the header.
const HEADER_CHECKSUM: usize = 36;

/// Puts `value` into `bytes` at `at`.
fn put(bytes: &mut [u8], at: usize, value: &[u8]) {
    bytes[at..at + value.len()].copy_from_slice(value);
}

/// The footer's cookie.
pub(crate) const FOOTER_MAGIC: &[u8; 8] = b"conectix";
/// The dynamic disk header's cookie.
const HEADER_MAGIC: &[u8; 8] = b"cxsparse";
const VERSION: u32 = 0x0001_0000;
/// Reserved feature bit, always set.
const FEATURES: u32 = 2;
const CREATOR_APP: &[u8; 4] = b"bimg";
const CREATOR_HOST: &[u8; 4] = b"Wi2k";
/// Seconds from the Unix epoch to the VHD epoch (2000-01-01 00:00 UTC).
const VHD_EPOCH: i64 = 946_684_800;
/// Sectors described by the largest CHS geometry, 65535/16/255. A disk this
/// large or larger carries that geometry and readers use the footer's size.
const MAX_CHS_SECTORS: u64 = 65535 * 16 * 255;
/// Bytes per sector; VHD addresses blocks by sector.
pub(crate) const SECTOR: u64 = 512;

/// VHD disk types this crate reads and writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskType {
    /// Raw data followed by the footer.
    Fixed,
    /// Sparse: only allocated blocks are stored.
    Dynamic,
}

impl DiskType {
    fn code(self) -> u32 {
        match self {
            DiskType::Fixed => 2,
            DiskType::Dynamic => 3,
        }
    }
}

/// Cylinders, heads and sectors per track, as the footer stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Cylinders.
    pub cylinders: u16,
    /// Heads.
    pub heads: u8,
    /// Sectors per track.
    pub sectors: u8,
}

impl Geometry {
    /// The geometry the VHD specification derives from a disk of
    /// `total_sectors` 512-byte sectors (the algorithm of its appendix, as
    /// Hyper-V and QEMU implement it).
    pub fn for_sectors(total_sectors: u64) -> Geometry {
        let ts = total_sectors.min(MAX_CHS_SECTORS);
        let (sectors, heads, cylinders_times_heads);
        if ts >= 65535 * 16 * 63 {
            sectors = 255;
            heads = 16;
            cylinders_times_heads = ts / 255;
        } else {
            let mut s = 17;
            let mut cth = ts / 17;
            let mut h = cth.div_ceil(1024).max(4);
            if cth >= h * 1024 || h > 16 {
                s = 31;
                h = 16;
                cth = ts / 31;
            }
            if cth >= h * 1024 {
                s = 63;
                h = 16;
                cth = ts / 63;
            }
            sectors = s;
            heads = h;
            cylinders_times_heads = cth;
        }
        Geometry {
            // ts is at most 65535*16*255, so the quotient fits 16 bits.
            cylinders: (cylinders_times_heads / heads).min(65535) as u16,
            heads: heads as u8,
            sectors: sectors as u8,
        }
    }

    /// Sectors the geometry describes.
    pub fn total_sectors(&self) -> u64 {
        u64::from(self.cylinders) * u64::from(self.heads) * u64::from(self.sectors)
    }
}

/// True when readers that size a VHD by its geometry (QEMU for most creator
/// applications, Virtual PC) and readers that use the footer's size
/// (Hyper-V, Azure) see the same `size`.
pub fn size_is_consistent(size: u64) -> bool {
    let sectors = size / SECTOR;
    size % SECTOR == 0
        && (sectors >= MAX_CHS_SECTORS || Geometry::for_sectors(sectors).total_sectors() == sectors)
}

/// The virtual size of a VHD holding a disk of `disk_size` bytes: the
/// smallest size not below `disk_size` that every reader agrees on (see
/// [`size_is_consistent`]), and with `azure` also a whole number of MiB, as
/// Azure requires. The bytes past `disk_size` read as zeros.
pub fn virtual_size(disk_size: u64, azure: bool) -> Result<u64> {
    const MIB: u64 = 1 << 20;
    let too_large = || Error::TooLarge {
        what: "a VHD disk".into(),
        size: disk_size,
        limit: MAX_SIZE,
    };
    let step = if azure { MIB } else { SECTOR };
    let mut size = disk_size
        .max(1)
        .checked_next_multiple_of(step)
        .ok_or_else(too_large)?;
    while size <= MAX_SIZE {
        if size_is_consistent(size) {
            return Ok(size);
        }
        size = if azure {
            size + MIB
        } else {
            // The next whole cylinder of the current geometry.
            let g = Geometry::for_sectors(size / SECTOR);
            let per_cylinder = u64::from(g.heads) * u64::from(g.sectors);
            (g.total_sectors() / per_cylinder + 1) * per_cylinder * SECTOR
        };
    }
    Err(too_large())
}

/// The checksum of a footer or header: the ones' complement of the sum of
/// its bytes, with the checksum field itself counted as zero.
pub fn checksum(bytes: &[u8], field: usize) -> u32 {
    let sum = bytes.iter().enumerate().fold(0u32, |sum, (i, &b)| {
        if (field..field + 4).contains(&i) {
            sum
        } else {
            sum.wrapping_add(u32::from(b))
        }
    });
    !sum
}

fn corrupt(path: &Path, field: &str, value: String, reason: &str) -> Error {
    Error::from(FormatError::Corrupt(Box::new(Corrupt {
        path: path.to_path_buf(),
        format: "VHD".into(),
        field: field.into(),
        value,
        reason: reason.into(),
    })))
}

/// Checks the cookie a structure (`what`) holds at `cookie.0` and the
/// checksum at byte `sum_at`.
fn check_cookie_and_checksum(
    bytes: &[u8],
    (cookie_at, cookie): (usize, &[u8; 8]),
    sum_at: usize,
    what: &str,
    path: &Path,
) -> Result<()> {
    let found = &bytes[cookie_at..cookie_at + cookie.len()];
    if found != cookie {
        return Err(corrupt(
            path,
            &format!("{what} cookie"),
            format!("{:?}", String::from_utf8_lossy(found)),
            &format!("expected {:?}", String::from_utf8_lossy(cookie)),
        ));
    }
    let stored = be32(bytes, sum_at);
    let computed = checksum(bytes, sum_at);
    if stored != computed {
        return Err(corrupt(
            path,
            &format!("{what} checksum"),
            format!("0x{stored:08x}"),
            &format!("the {what}'s bytes sum to 0x{computed:08x}; the {what} is damaged"),
        ));
    }
    Ok(())
}

/// The VHD footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Footer {
    /// Fixed or dynamic.
    pub disk_type: DiskType,
    /// Virtual size in bytes.
    pub current_size: u64,
    /// Offset of the dynamic disk header (dynamic disks only).
    pub data_offset: Option<u64>,
    /// CHS geometry.
    pub geometry: Geometry,
    /// Creation time, seconds since 2000-01-01.
    pub timestamp: u32,
    /// Unique identifier of the disk.
    pub uuid: [u8; 16],
}

impl Footer {
    /// The footer blockimg writes for a disk of `size` bytes (a size from
    /// [`virtual_size`]).
    pub fn new(disk_type: DiskType, size: u64, identity: &ImageIdentity) -> Footer {
        let timestamp = (identity.time - VHD_EPOCH).clamp(0, i64::from(u32::MAX)) as u32;
        let geometry = if size / SECTOR >= MAX_CHS_SECTORS {
            Geometry {
                cylinders: 65535,
                heads: 16,
                sectors: 255,
            }
        } else {
            Geometry::for_sectors(size / SECTOR)
        };
        Footer {
            disk_type,
            current_size: size,
            data_offset: match disk_type {
                DiskType::Fixed => None,
                DiskType::Dynamic => Some(HEADER_OFFSET),
            },
            geometry,
            timestamp,
            uuid: identity.uuid,
        }
    }

    /// The footer's 512 bytes, checksum included.
    pub fn encode(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        put(&mut b, FOOTER_COOKIE, FOOTER_MAGIC);
        put(&mut b, FOOTER_FEATURES, &FEATURES.to_be_bytes());
        put(&mut b, FOOTER_VERSION, &VERSION.to_be_bytes());
        let data_offset = self.data_offset.unwrap_or(u64::MAX);
        put(&mut b, FOOTER_DATA_OFFSET, &data_offset.to_be_bytes());
        put(&mut b, FOOTER_TIMESTAMP, &self.timestamp.to_be_bytes());
        put(&mut b, FOOTER_CREATOR_APP, CREATOR_APP);
        put(
            &mut b,
            FOOTER_CREATOR_VERSION,
            &creator_version().to_be_bytes(),
        );
        put(&mut b, FOOTER_CREATOR_HOST, CREATOR_HOST);
        put(
            &mut b,
            FOOTER_ORIGINAL_SIZE,
            &self.current_size.to_be_bytes(),
        );
        put(
            &mut b,
            FOOTER_CURRENT_SIZE,
            &self.current_size.to_be_bytes(),
        );
        put(
            &mut b,
            FOOTER_CYLINDERS,
            &self.geometry.cylinders.to_be_bytes(),
        );
        b[FOOTER_HEADS] = self.geometry.heads;
        b[FOOTER_SECTORS] = self.geometry.sectors;
        put(
            &mut b,
            FOOTER_DISK_TYPE,
            &self.disk_type.code().to_be_bytes(),
        );
        put(&mut b, FOOTER_UUID, &self.uuid);
        let sum = checksum(&b, FOOTER_CHECKSUM);
        put(&mut b, FOOTER_CHECKSUM, &sum.to_be_bytes());
        b
    }

    /// Reads and checks a footer found in `path`: cookie, checksum, disk
    /// type, and for a dynamic disk the header offset.
    pub fn decode(bytes: &[u8; 512], path: &Path) -> Result<Footer> {
        check_cookie_and_checksum(
            bytes,
            (FOOTER_COOKIE, FOOTER_MAGIC),
            FOOTER_CHECKSUM,
            "footer",
            path,
        )?;
        let disk_type = match be32(bytes, FOOTER_DISK_TYPE) {
            2 => DiskType::Fixed,
            3 => DiskType::Dynamic,
            4 => {
                return Err(Error::from(FormatError::Unsupported {
                    path: path.to_path_buf(),
                    reason: "differencing VHDs (disk type 4) need their parent; \
                             merge them first (qemu-img convert)"
                        .into(),
                }))
            }
            other => {
                return Err(corrupt(
                    path,
                    "footer disk type",
                    other.to_string(),
                    "expected 2 (fixed) or 3 (dynamic)",
                ))
            }
        };
        let current_size = be64(bytes, FOOTER_CURRENT_SIZE);
        if current_size % SECTOR != 0 {
            return Err(corrupt(
                path,
                "footer current size",
                current_size.to_string(),
                "not a whole number of 512-byte sectors",
            ));
        }
        let data_offset = match disk_type {
            DiskType::Fixed => None,
            DiskType::Dynamic => Some(be64(bytes, FOOTER_DATA_OFFSET)),
        };
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&bytes[FOOTER_UUID..FOOTER_UUID + 16]);
        Ok(Footer {
            disk_type,
            current_size,
            data_offset,
            geometry: Geometry {
                cylinders: u16::from_be_bytes([
                    bytes[FOOTER_CYLINDERS],
                    bytes[FOOTER_CYLINDERS + 1],
                ]),
                heads: bytes[FOOTER_HEADS],
                sectors: bytes[FOOTER_SECTORS],
            },
            timestamp: be32(bytes, FOOTER_TIMESTAMP),
            uuid,
        })
    }
}

/// The creator version field: the crate's major and minor version.
fn creator_version() -> u32 {
    let mut parts = env!("CARGO_PKG_VERSION").split('.');
    let mut next = || {
        parts
            .next()
            .and_then(|p| p.parse::<u16>().ok())
            .unwrap_or(0)
    };
    let (major, minor) = (next(), next());
    (u32::from(major) << 16) | u32::from(minor)
}

/// The dynamic disk header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DynamicHeader {
    /// Byte offset of the block allocation table.
    pub table_offset: u64,
    /// Entries in the block allocation table.
    pub max_entries: u32,
    /// Bytes per block.
    pub block_size: u32,
}

impl DynamicHeader {
    /// The header blockimg writes for a disk of `size` bytes.
    pub fn new(size: u64) -> DynamicHeader {
        DynamicHeader {
            table_offset: BAT_OFFSET,
            max_entries: size.div_ceil(u64::from(BLOCK_SIZE)) as u32,
            block_size: BLOCK_SIZE,
        }
    }

    /// Bytes of the block allocation table on disk, padded to a sector.
    pub fn table_bytes(&self) -> u64 {
        (u64::from(self.max_entries) * BAT_ENTRY_SIZE).next_multiple_of(SECTOR)
    }

    /// Bytes of the sector bitmap in front of each block, padded to a
    /// sector.
    pub fn bitmap_bytes(&self) -> u64 {
        (u64::from(self.block_size) / SECTOR)
            .div_ceil(8)
            .next_multiple_of(SECTOR)
    }

    /// The header's 1024 bytes, checksum included.
    pub fn encode(&self) -> [u8; 1024] {
        let mut b = [0u8; 1024];
        put(&mut b, HEADER_COOKIE, HEADER_MAGIC);
        put(&mut b, HEADER_DATA_OFFSET, &u64::MAX.to_be_bytes());
        put(
            &mut b,
            HEADER_TABLE_OFFSET,
            &self.table_offset.to_be_bytes(),
        );
        put(&mut b, HEADER_VERSION, &VERSION.to_be_bytes());
        put(&mut b, HEADER_MAX_ENTRIES, &self.max_entries.to_be_bytes());
        put(&mut b, HEADER_BLOCK_SIZE, &self.block_size.to_be_bytes());
        let sum = checksum(&b, HEADER_CHECKSUM);
        put(&mut b, HEADER_CHECKSUM, &sum.to_be_bytes());
        b
    }

    /// Reads and checks a dynamic disk header of `path`: cookie, checksum,
    /// block size, and that the table covers `disk_size` bytes.
    pub fn decode(bytes: &[u8; 1024], disk_size: u64, path: &Path) -> Result<DynamicHeader> {
        check_cookie_and_checksum(
            bytes,
            (HEADER_COOKIE, HEADER_MAGIC),
            HEADER_CHECKSUM,
            "dynamic header",
            path,
        )?;
        let block_size = be32(bytes, HEADER_BLOCK_SIZE);
        if !block_size.is_power_of_two() || !(SECTOR as u32..=1 << 28).contains(&block_size) {
            return Err(corrupt(
                path,
                "dynamic header block size",
                block_size.to_string(),
                "expected a power of two from 512 bytes to 256 MiB",
            ));
        }
        let max_entries = be32(bytes, HEADER_MAX_ENTRIES);
        let needed = disk_size.div_ceil(u64::from(block_size));
        if u64::from(max_entries) < needed {
            return Err(corrupt(
                path,
                "dynamic header max table entries",
                max_entries.to_string(),
                &format!(
                    "{needed} blocks of {block_size} bytes are needed for the virtual size \
                     of {disk_size} bytes"
                ),
            ));
        }
        Ok(DynamicHeader {
            table_offset: be64(bytes, HEADER_TABLE_OFFSET),
            max_entries,
            block_size,
        })
    }

    /// The block allocation table's bytes on disk: `entries`, then all
    /// ones (unallocated) to the end of [`DynamicHeader::table_bytes`].
    pub fn encode_table(&self, entries: &[u32]) -> Vec<u8> {
        let mut table = vec![0xffu8; self.table_bytes() as usize];
        for (slot, entry) in table.chunks_exact_mut(BAT_ENTRY_SIZE as usize).zip(entries) {
            slot.copy_from_slice(&entry.to_be_bytes());
        }
        table
    }
}

/// The entries of a block allocation table read from disk.
pub fn decode_table(raw: &[u8]) -> impl Iterator<Item = u32> + '_ {
    raw.chunks_exact(BAT_ENTRY_SIZE as usize)
        .map(|entry| be32(entry, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> ImageIdentity {
        ImageIdentity {
            uuid: [7; 16],
            time: 1_700_000_000,
        }
    }

    #[test]
    fn geometry_matches_the_specification_examples() {
        // 10,000,000 bytes -> 19531 sectors: 17 sectors, 4 heads, 287 cylinders.
        let g = Geometry::for_sectors(19531);
        assert_eq!((g.cylinders, g.heads, g.sectors), (287, 4, 17));
        // 6 GiB: 16 heads, 63 sectors.
        let g = Geometry::for_sectors(6 << 21);
        assert_eq!((g.heads, g.sectors), (16, 63));
        // Beyond 127 GiB the geometry saturates.
        let g = Geometry::for_sectors(1 << 40);
        assert_eq!((g.cylinders, g.heads, g.sectors), (65535, 16, 255));
    }

    #[test]
    fn virtual_size_is_the_next_consistent_size() {
        for disk in [
            64 << 20,
            (64 << 20) + 512,
            10_000_384,
            6 << 30,
            (6 << 30) + 4096,
            200 << 30,
        ] {
            let v = virtual_size(disk, false).unwrap();
            assert!(v >= disk && size_is_consistent(v), "{disk} -> {v}");
            // Nothing smaller works.
            let mut s = disk.next_multiple_of(512);
            while s < v {
                assert!(!size_is_consistent(s), "{disk}: {s} < {v} is consistent");
                s += 512;
            }
            let a = virtual_size(disk, true).unwrap();
            assert!(a >= disk && a % (1 << 20) == 0 && size_is_consistent(a));
            assert!(a - disk < 256 << 20, "{disk} -> {a}");
        }
        assert!(virtual_size(MAX_SIZE + 1, false).is_err());
    }

    #[test]
    fn footer_round_trips_and_detects_damage() {
        let path = Path::new("disk.vhd");
        let f = Footer::new(DiskType::Dynamic, 10_027_008, &identity());
        let bytes = f.encode();
        assert_eq!(Footer::decode(&bytes, path).unwrap(), f);
        let mut bad = bytes;
        bad[100] ^= 1;
        let err = Footer::decode(&bad, path).unwrap_err().to_string();
        assert!(err.contains("footer checksum"), "{err}");
        let mut bad = bytes;
        bad[0] = b'x';
        let err = Footer::decode(&bad, path).unwrap_err().to_string();
        assert!(err.contains("cookie"), "{err}");
    }

    #[test]
    fn header_round_trips() {
        let path = Path::new("disk.vhd");
        let h = DynamicHeader::new(10_027_008);
        assert_eq!(h.max_entries, 5);
        assert_eq!(h.table_bytes(), 512);
        assert_eq!(h.bitmap_bytes(), 512);
        assert_eq!(
            DynamicHeader::decode(&h.encode(), 10_027_008, path).unwrap(),
            h
        );
        assert!(DynamicHeader::decode(&h.encode(), 20 << 20, path).is_err());
    }
}
