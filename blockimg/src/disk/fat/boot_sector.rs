//! The FAT boot sector: the BIOS parameter block's field offsets, named
//! once, and what the writer and the readers take from it.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::bytes::{le16, le32, u8_at};

/// Bytes of a boot sector.
pub(crate) const SIZE: usize = 512;

// Byte offsets of the BIOS parameter block's fields (all FAT types).
/// Bytes per sector (2 bytes).
const BYTES_PER_SECTOR: usize = 0x0B;
/// Sectors per cluster (1 byte).
const SECTORS_PER_CLUSTER: usize = 0x0D;
/// Reserved sectors before the first FAT (2 bytes).
const RESERVED_SECTORS: usize = 0x0E;
/// Number of FATs (1 byte).
const FAT_COUNT: usize = 0x10;
/// Total sectors when they fit 16 bits, else 0 (2 bytes).
pub(crate) const TOTAL_SECTORS_16: usize = 0x13;
/// Sectors per FAT of FAT12/16; 0 on FAT32 (2 bytes).
const FAT_SECTORS_16: usize = 0x16;
/// Total sectors when the 16-bit field is 0 (4 bytes).
pub(crate) const TOTAL_SECTORS_32: usize = 0x20;
/// The file system type text of FAT12/16 (`FAT12   `, `FAT16   `).
const FS_TYPE_16: usize = 0x36;

// Byte offsets of the FAT32 extended BIOS parameter block's fields.
/// Sectors per FAT (4 bytes).
const FAT_SECTORS_32: usize = 0x24;
/// The root directory's first cluster (4 bytes).
const ROOT_CLUSTER: usize = 0x2C;
/// Volume id, the serial number `blkid` shows (4 bytes).
const VOLUME_ID_32: usize = 0x43;
/// Volume label (11 bytes).
const VOLUME_LABEL_32: usize = 0x47;
/// The file system type text of FAT32 (`FAT32   `).
const FS_TYPE_32: usize = 0x52;

/// Bytes of a volume label.
const LABEL_LEN: usize = 11;

/// Data clusters below which the specification's count makes a volume
/// FAT16 (or FAT12), whatever its boot sector says.
pub(crate) const MIN_FAT32_CLUSTERS: u64 = 65_525;

/// Whether `sector` is the boot sector of a FAT filesystem (a BIOS
/// parameter block with a plausible sector size and FAT count, and `FAT`
/// in one of the type fields) rather than an MBR.
pub(crate) fn is_fat_boot_sector(sector: &[u8; SIZE]) -> bool {
    let jump = u8_at(sector, 0) == 0xEB && u8_at(sector, 2) == 0x90 || u8_at(sector, 0) == 0xE9;
    let bytes_per_sector = le16(sector, BYTES_PER_SECTOR);
    let fats = u8_at(sector, FAT_COUNT);
    let typed = |at: usize| sector.get(at..at + 3) == Some(&b"FAT"[..]);
    jump && matches!(bytes_per_sector, 512 | 1024 | 2048 | 4096)
        && (1..=2).contains(&fats)
        && (typed(FS_TYPE_16) || typed(FS_TYPE_32))
}

/// Whether the boot sector says FAT32: no 16-bit FAT size.
pub(crate) fn is_fat32(sector: &[u8]) -> bool {
    le16(sector, FAT_SECTORS_16) == 0
}

/// Bytes per sector.
pub(crate) fn bytes_per_sector(sector: &[u8]) -> u64 {
    u64::from(le16(sector, BYTES_PER_SECTOR))
}

/// The 16-bit total sector count, or 0 when the volume uses the 32-bit one.
pub(crate) fn total_sectors_16(sector: &[u8]) -> u64 {
    u64::from(le16(sector, TOTAL_SECTORS_16))
}

/// Total sectors of the volume: the 16-bit count, or the 32-bit one when
/// that is 0.
pub(crate) fn total_sectors(sector: &[u8]) -> u64 {
    match total_sectors_16(sector) {
        0 => u64::from(le32(sector, TOTAL_SECTORS_32)),
        small => small,
    }
}

/// The volume id of a FAT32 boot sector.
pub(crate) fn volume_id_32(sector: &[u8]) -> u32 {
    le32(sector, VOLUME_ID_32)
}

/// The volume label of a FAT32 boot sector (11 bytes, space padded).
pub(crate) fn volume_label_32(sector: &[u8]) -> &[u8] {
    sector
        .get(VOLUME_LABEL_32..VOLUME_LABEL_32 + LABEL_LEN)
        .unwrap_or_default()
}

/// Where a FAT32 volume's structures are, from its boot sector.
pub(crate) struct BootSector {
    pub(crate) bytes_per_sector: u64,
    pub(crate) sectors_per_cluster: u64,
    /// Sectors before the first FAT.
    pub(crate) reserved: u64,
    /// Sectors of the volume.
    pub(crate) total: u64,
    /// First sector of the data area (cluster 2).
    pub(crate) data: u64,
    /// Data clusters.
    pub(crate) clusters: u64,
    /// The root directory's first cluster.
    pub(crate) root: u32,
}

impl BootSector {
    /// The fields of the boot sector `sector` (missing bytes read as
    /// zero), when they are consistent.
    pub(crate) fn parse(sector: &[u8]) -> Option<BootSector> {
        let bytes_per_sector = bytes_per_sector(sector);
        let sectors_per_cluster = u64::from(u8_at(sector, SECTORS_PER_CLUSTER));
        let reserved = u64::from(le16(sector, RESERVED_SECTORS));
        let total = total_sectors(sector);
        let fat_sectors = u64::from(le32(sector, FAT_SECTORS_32));
        let data =
            reserved.checked_add(u64::from(u8_at(sector, FAT_COUNT)).checked_mul(fat_sectors)?)?;
        let clusters = total.checked_sub(data)?.checked_div(sectors_per_cluster)?;
        (bytes_per_sector != 0).then_some(BootSector {
            bytes_per_sector,
            sectors_per_cluster,
            reserved,
            total,
            data,
            clusters,
            root: le32(sector, ROOT_CLUSTER),
        })
    }

    /// Bytes per cluster.
    pub(crate) fn cluster_bytes(&self) -> u64 {
        self.bytes_per_sector * self.sectors_per_cluster
    }

    /// Byte offset of the first FAT in the volume.
    pub(crate) fn fat_offset(&self) -> u64 {
        self.reserved * self.bytes_per_sector
    }

    /// Byte offset of `cluster` in the volume.
    pub(crate) fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data * self.bytes_per_sector
            + u64::from(cluster.saturating_sub(2)) * self.cluster_bytes()
    }
}
