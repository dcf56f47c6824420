//! The MBR of an MBR-partitioned disk (mbrman): the root partition (0x83,
//! bootable), an ESP (0xEF), swap (0x82) and data partitions (0x83), or
//! the type each was given.

use mbrman::{MBRHeader, MBRPartitionEntry, CHS};

use super::layout::{DiskLayout, PartitionRole, PartitionType, SECTOR};
use crate::error::PartitionError;
use crate::error::{Error, Result};

/// MBR partition type of a Linux filesystem.
pub(crate) const LINUX_PARTITION: u8 = 0x83;
/// MBR partition type of an EFI system partition.
pub(crate) const ESP_PARTITION: u8 = 0xEF;
/// MBR partition type of Linux swap.
const SWAP_PARTITION: u8 = 0x82;

/// Cylinder/head/sector address of `lba` at 255 heads and 63 sectors per
/// track, saturated at 1023/254/63 as firmware expects past cylinder 1023.
fn chs(lba: u64) -> CHS {
    let cylinder = lba / (255 * 63);
    if cylinder > 1023 {
        return CHS::new(1023, 254, 63);
    }
    CHS::new(
        cylinder as u16,
        ((lba / 63) % 255) as u8,
        (lba % 63 + 1) as u8,
    )
}

/// The first sector of an MBR disk laid out as `layout`, with disk
/// signature `signature`. Only the root partition is marked bootable.
pub fn mbr_sector(signature: u32, layout: &DiskLayout) -> Result<Vec<u8>> {
    let mut header = MBRHeader::new(signature.to_le_bytes());
    let slots = [
        &mut header.partition_1,
        &mut header.partition_2,
        &mut header.partition_3,
        &mut header.partition_4,
    ];
    for (slot, p) in slots.into_iter().zip(&layout.partitions) {
        let (boot, sys) = match p.role {
            PartitionRole::Root => (mbrman::BOOT_ACTIVE, LINUX_PARTITION),
            PartitionRole::Esp => (mbrman::BOOT_INACTIVE, ESP_PARTITION),
            PartitionRole::Swap => (mbrman::BOOT_INACTIVE, SWAP_PARTITION),
            PartitionRole::Data => (mbrman::BOOT_INACTIVE, LINUX_PARTITION),
            PartitionRole::BiosBoot => {
                return Err(Error::InvalidOption {
                    option: "partition layout".into(),
                    reason: "an MBR disk has no BIOS boot partition".into(),
                })
            }
        };
        let sys = match p.kind {
            Some(PartitionType::Mbr(id)) => id,
            _ => sys,
        };
        let (start, sectors) = (p.start / SECTOR, p.size / SECTOR);
        *slot = MBRPartitionEntry {
            boot,
            first_chs: chs(start),
            sys,
            last_chs: chs(start + sectors - 1),
            starting_lba: start as u32,
            sectors: sectors as u32,
        };
    }
    let mut sector = std::io::Cursor::new(vec![0u8; SECTOR as usize]);
    header.write_into(&mut sector).map_err(|e| {
        Error::from(PartitionError::Table {
            table: "MBR",
            reason: e.to_string(),
        })
    })?;
    Ok(sector.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::layout::{BootPartitions, PartitionTable};

    #[test]
    fn chs_matches_the_usual_encoding() {
        // LBA 2048 at 255/63 is cylinder 0, head 32, sector 33.
        assert_eq!(chs(2048), CHS::new(0, 32, 33));
        assert_eq!(chs(1 << 40), CHS::new(1023, 254, 63));
    }

    fn u32_at(s: &[u8], o: usize) -> u32 {
        u32::from_le_bytes([s[o], s[o + 1], s[o + 2], s[o + 3]])
    }

    #[test]
    fn one_bootable_linux_partition() {
        let layout =
            DiskLayout::new(PartitionTable::Mbr, &BootPartitions::default(), 6144 * 512).unwrap();
        let s = mbr_sector(0x1234_5678, &layout).unwrap();
        assert_eq!(&s[0x1FE..], &[0x55, 0xAA]);
        assert_eq!(u32_at(&s, 0x1B8), 0x1234_5678);
        assert_eq!((s[0x1BE], s[0x1C2]), (0x80, 0x83));
        assert_eq!((u32_at(&s, 0x1C6), u32_at(&s, 0x1CA)), (2048, 4096));
        assert!(s[0x1CE..0x1FE].iter().all(|&b| b == 0));
    }

    #[test]
    fn an_esp_comes_first_and_is_not_bootable() {
        let boot = BootPartitions {
            esp: Some(40 << 20),
            bios_boot: None,
        };
        let layout = DiskLayout::new(PartitionTable::Mbr, &boot, 100 << 20).unwrap();
        let s = mbr_sector(1, &layout).unwrap();
        assert_eq!((s[0x1BE], s[0x1C2]), (0x00, 0xEF));
        assert_eq!((u32_at(&s, 0x1C6), u32_at(&s, 0x1CA)), (2048, 40 * 2048));
        assert_eq!((s[0x1CE], s[0x1D2]), (0x80, 0x83));
        assert_eq!(u32_at(&s, 0x1D6), 41 * 2048);
    }
}
