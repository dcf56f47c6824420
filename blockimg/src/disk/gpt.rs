//! The GPT of a GPT-partitioned disk (gptman): the protective MBR, the
//! primary header and entries at LBA 1-33, the backup entries and header in
//! the last 33 sectors.

use gptman::{GPTPartitionEntry, GPT};

use super::layout::{DiskLayout, Partition, PartitionRole, PartitionType, SECTOR};
use super::memory::SparseBytes;
use crate::error::PartitionError;
use crate::error::{Error, Result};

/// Partition type GUID of a Linux filesystem, in text order.
pub const LINUX_FILESYSTEM: [u8; 16] = [
    0x0F, 0xC6, 0x3D, 0xAF, 0x84, 0x83, 0x47, 0x72, 0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4,
];
/// Partition type GUID of an EFI system partition, in text order.
pub const EFI_SYSTEM: [u8; 16] = [
    0xC1, 0x2A, 0x73, 0x28, 0xF8, 0x1F, 0x11, 0xD2, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E, 0xC9, 0x3B,
];
/// Partition type GUID of a BIOS boot partition ("Hah!IdontNeedEFI"), in
/// text order.
pub const BIOS_BOOT: [u8; 16] = [
    0x21, 0x68, 0x61, 0x48, 0x64, 0x49, 0x6E, 0x6F, 0x74, 0x4E, 0x65, 0x65, 0x64, 0x45, 0x46, 0x49,
];

/// Partition type GUID of Linux swap, in text order.
pub const LINUX_SWAP: [u8; 16] = [
    0x06, 0x57, 0xFD, 0x6D, 0xA4, 0xAB, 0x43, 0xC4, 0x84, 0xE5, 0x09, 0x33, 0xC8, 0x4B, 0x4F, 0x4F,
];

/// The partition type GUID of `role`, in text order.
pub fn type_guid(role: PartitionRole) -> [u8; 16] {
    match role {
        PartitionRole::BiosBoot => BIOS_BOOT,
        PartitionRole::Esp => EFI_SYSTEM,
        PartitionRole::Root | PartitionRole::Data => LINUX_FILESYSTEM,
        PartitionRole::Swap => LINUX_SWAP,
    }
}

/// The type GUID `p` is written with: the one it was given, else its
/// role's.
fn type_of(p: &Partition) -> [u8; 16] {
    match p.kind {
        Some(PartitionType::Gpt(guid)) => guid,
        _ => type_guid(p.role),
    }
}

/// A GUID in text order (as printed, `00112233-4455-...`) as stored on
/// disk: the first three fields little-endian.
pub fn guid_on_disk(guid: [u8; 16]) -> [u8; 16] {
    let mut out = guid;
    out[0..4].reverse();
    out[4..6].reverse();
    out[6..8].reverse();
    out
}

/// A GUID in text order as `fdisk` prints it:
/// `0FC63DAF-8483-4772-8E79-3D69D8477DE4`.
pub fn guid_text(guid: &[u8; 16]) -> String {
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02X}")).collect::<String>();
    format!(
        "{}-{}-{}-{}-{}",
        hex(&guid[0..4]),
        hex(&guid[4..6]),
        hex(&guid[6..8]),
        hex(&guid[8..10]),
        hex(&guid[10..16])
    )
}

/// Writes the protective MBR and both GPTs of `layout` into `disk` (the
/// whole disk), with disk GUID `disk_guid` and, for each partition in
/// order, the unique GUID in `partition_guids` (all in text order).
pub fn write_gpt(
    disk: &mut SparseBytes,
    layout: &DiskLayout,
    disk_guid: [u8; 16],
    partition_guids: &[[u8; 16]],
) -> Result<()> {
    let bad = |e: gptman::Error| {
        Error::from(PartitionError::Table {
            table: "GPT",
            reason: e.to_string(),
        })
    };
    let mut window = disk.window(0, layout.disk_size);
    let mut gpt = GPT::new_from(&mut window, SECTOR, guid_on_disk(disk_guid)).map_err(bad)?;
    for (p, guid) in layout.partitions.iter().zip(partition_guids) {
        gpt[p.number] = GPTPartitionEntry {
            partition_type_guid: guid_on_disk(type_of(p)),
            unique_partition_guid: guid_on_disk(*guid),
            starting_lba: p.start / SECTOR,
            ending_lba: p.end() / SECTOR - 1,
            attribute_bits: 0,
            partition_name: p.name.as_str().into(),
        };
    }
    gpt.write_into(&mut window).map_err(bad)?;
    GPT::write_protective_mbr_into(&mut window, SECTOR).map_err(bad)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::layout::{BootPartitions, PartitionTable};
    use crate::identity::parse_uuid;

    #[test]
    fn type_guids_match_their_text() {
        for (bytes, text) in [
            (LINUX_FILESYSTEM, "0FC63DAF-8483-4772-8E79-3D69D8477DE4"),
            (LINUX_SWAP, "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F"),
            (EFI_SYSTEM, "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
            (BIOS_BOOT, "21686148-6449-6E6F-744E-656564454649"),
        ] {
            assert_eq!(bytes, parse_uuid(text).unwrap());
        }
        // "Hah!IdontNeedEFI" on disk.
        assert_eq!(&guid_on_disk(BIOS_BOOT), b"Hah!IdontNeedEFI");
    }

    #[test]
    fn both_headers_are_read_back() {
        let boot = BootPartitions {
            esp: Some(40 << 20),
            bios_boot: Some(1 << 20),
        };
        let layout = DiskLayout::new(PartitionTable::Gpt, &boot, 100 << 20).unwrap();
        let mut disk = SparseBytes::new(layout.disk_size);
        let guids = [[1u8; 16], [2u8; 16], [3u8; 16]];
        write_gpt(&mut disk, &layout, [9u8; 16], &guids).unwrap();
        let mut sector = [0u8; 512];
        disk.read_at(0, &mut sector);
        assert_eq!(sector[0x1C2], 0xEE);
        assert_eq!(&sector[0x1FE..], &[0x55, 0xAA]);
        let mut window = disk.window(0, layout.disk_size);
        let gpt = GPT::read_from(&mut window, 512).unwrap();
        assert!(gpt.is_primary());
        assert_eq!(gpt.header.disk_guid, [9u8; 16]);
        assert_eq!(gpt.header.backup_lba, layout.disk_size / 512 - 1);
        let parts: Vec<_> = gpt.iter().filter(|(_, p)| p.is_used()).collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2].1.starting_lba, 42 * 2048);
        assert_eq!(parts[2].1.partition_name.as_str(), "root");
        // The backup header is found at the end.
        use std::io::{Seek, SeekFrom};
        window
            .seek(SeekFrom::Start(layout.disk_size - 512))
            .unwrap();
        let backup = gptman::GPTHeader::read_from(&mut window).unwrap();
        assert!(backup.is_backup());
        // The backup written last lies in the last 33 sectors.
        let ranges = disk.ranges(layout.root().end(), layout.disk_size);
        assert!(!ranges.is_empty());
    }
}
