//! Names of partition types, as `fdisk` shows them.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::disk::gpt::guid_on_disk;
use crate::disk::PartitionKind;

/// MBR partition types and their names.
const MBR_TYPES: [(u8, &str); 16] = [
    (0x01, "FAT12"),
    (0x04, "FAT16 <32M"),
    (0x05, "Extended"),
    (0x06, "FAT16"),
    (0x07, "HPFS/NTFS/exFAT"),
    (0x0B, "W95 FAT32"),
    (0x0C, "W95 FAT32 (LBA)"),
    (0x0E, "W95 FAT16 (LBA)"),
    (0x0F, "W95 Ext'd (LBA)"),
    (0x82, "Linux swap / Solaris"),
    (0x83, "Linux"),
    (0x85, "Linux extended"),
    (0x8E, "Linux LVM"),
    (0xEE, "GPT"),
    (0xEF, "EFI (FAT-12/16/32)"),
    (0xFD, "Linux raid autodetect"),
];

/// GPT partition type GUIDs (text order) and their names.
const GPT_TYPES: [(&str, &str); 12] = [
    ("C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EFI System"),
    ("21686148-6449-6E6F-744E-656564454649", "BIOS boot"),
    ("0FC63DAF-8483-4772-8E79-3D69D8477DE4", "Linux filesystem"),
    ("0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "Linux swap"),
    (
        "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709",
        "Linux root (x86-64)",
    ),
    ("44479540-F297-41B2-9AF7-D131D5F0458A", "Linux root (x86)"),
    (
        "BC13C2FF-59E6-4262-A352-B275FD6F7172",
        "Linux extended boot",
    ),
    ("933AC7E1-2EB4-4F13-B844-0E14E2AEF915", "Linux home"),
    ("E6D6D379-F507-44C2-A23C-238F2A3DF928", "Linux LVM"),
    ("A19D880F-05FC-4D3B-A006-743F0F84911E", "Linux RAID"),
    (
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
        "Microsoft basic data",
    ),
    ("E3C9E316-0B5C-4DB8-817D-F92DF00215AE", "Microsoft reserved"),
];

/// The name of a partition's type, or `unknown`.
pub fn name(kind: &PartitionKind) -> &'static str {
    let found = match kind {
        PartitionKind::Mbr(code) => MBR_TYPES.iter().find(|(c, _)| c == code).map(|(_, n)| *n),
        PartitionKind::Gpt { type_guid, .. } => {
            let text = crate::disk::gpt::guid_text(&guid_on_disk(*type_guid));
            GPT_TYPES.iter().find(|(g, _)| *g == text).map(|(_, n)| *n)
        }
        PartitionKind::Whole => Some("whole image"),
    };
    found.unwrap_or("unknown")
}
