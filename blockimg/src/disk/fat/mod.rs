//! FAT: the EFI system partition blockimg writes and the FAT volumes
//! `inspect` reads, with one home for each on-disk structure.
//!
//! - `boot_sector.rs`: the boot sector (BIOS parameter block), its field
//!   offsets, and `BootSector`, where a FAT32 volume's
//!   structures are;
//! - `dir_entry.rs`: the 32-byte directory entry;
//! - `write.rs`: the ESP writer (FAT32 by fatfs; [`MIN_ESP_SIZE`]);
//! - `read.rs`: the readers `inspect` uses, fatfs through a read-only window,
//!   or `small_fat32.rs` for FAT32 volumes fatfs refuses; both fill the
//!   report of `report.rs` ([`crate::inspect::FatReport`]);
//! - here: volume ids and labels as users write them ([`FatFormat`],
//!   [`parse_volume_id`], [`format_volume_id`], [`volume_label`]).

pub(crate) mod boot_sector;
pub(crate) mod dir_entry;
pub(crate) mod read;
pub(crate) mod report;
mod small_fat32;
mod write;

use crate::error::{Error, Result};

pub use write::MIN_ESP_SIZE;
pub(crate) use write::{add_file, format};

/// FAT32 entries of the file allocation table hold 28 bits.
pub(crate) const FAT32_ENTRY_MASK: u32 = 0x0FFF_FFFF;
/// FAT32 entries from this one up end a cluster chain (or mark a bad
/// cluster).
pub(crate) const FAT32_END_OF_CHAIN: u32 = 0x0FFF_FFF8;
/// Bytes of a FAT32 entry.
pub(crate) const FAT32_ENTRY_SIZE: u64 = 4;

/// The label of a volume without one (`fsck.fat` expects no label entry
/// in the root directory for this one).
pub const NO_LABEL: [u8; 11] = *b"NO NAME    ";

/// How an EFI system partition is formatted.
///
/// # Examples
///
/// ```
/// use blockimg::disk::fat::{parse_volume_id, FatFormat};
/// use blockimg::disk::layout::{DiskLayout, PartitionRole, PartitionSpec, PartitionTable};
/// use blockimg::image::{plan_partitions, PartitionContent};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let specs = [PartitionSpec::new(PartitionRole::Esp, Some(40 << 20)), PartitionSpec::new(PartitionRole::Root, None)];
/// let layout = DiskLayout::plan(PartitionTable::Gpt, 64 << 20, &specs)?;
/// let esp = FatFormat { volume_id: parse_volume_id("ABCD-1234"), label: "EFI".into() };
/// let root = PartitionContent::Ext4 { tree: &tree, options: Default::default() };
/// let mut disk = plan_partitions(layout, vec![PartitionContent::Fat(esp), root])?;
/// disk.add_esp_file("EFI/BOOT/BOOTX64.EFI", b"MZ")?;
/// assert_eq!(disk.summary().partitions[0].role, PartitionRole::Esp);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FatFormat {
    /// The volume id (`blkid`'s UUID, `XXXX-XXXX`); `None` derives one
    /// from the root filesystem's UUID in a reproducible build, or draws
    /// one.
    pub volume_id: Option<u32>,
    /// The volume label ([`volume_label`]); empty for none.
    pub label: String,
}

/// A FAT volume id written as `blkid` shows it (`ABCD-1234`) or as 8 hex
/// digits.
///
/// # Examples
///
/// ```
/// use blockimg::disk::fat::parse_volume_id;
///
/// assert_eq!(parse_volume_id("ABCD-1234"), Some(0xABCD_1234));
/// assert_eq!(parse_volume_id("abcd1234"), Some(0xABCD_1234));
/// assert_eq!(parse_volume_id("ABCD-12345"), None);
/// ```
pub fn parse_volume_id(text: &str) -> Option<u32> {
    let digits: String = match text.split_once('-') {
        Some((high, low)) if high.len() == 4 && low.len() == 4 => format!("{high}{low}"),
        Some(_) => return None,
        None => text.to_string(),
    };
    if digits.len() != 8 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(&digits, 16).ok()
}

/// A volume id as `blkid` and /etc/fstab write it: `ABCD-1234`.
///
/// # Examples
///
/// ```
/// use blockimg::disk::fat::format_volume_id;
///
/// assert_eq!(format_volume_id(0xABCD_1234), "ABCD-1234"); // UUID=ABCD-1234 in /etc/fstab
/// ```
pub fn format_volume_id(id: u32) -> String {
    format!("{:04X}-{:04X}", id >> 16, id & 0xFFFF)
}

/// Characters a short name or volume label may hold besides A-Z and 0-9.
pub(crate) const NAME_PUNCTUATION: &[u8] = b"_-~!#$%&'()@^{}";

/// A volume label as FAT stores it: at most 11 characters of A-Z, 0-9,
/// space and `_-~!#$%&'()@^{}` (lower case is upper-cased, as `mkfs.fat`
/// and Windows do), padded with spaces; an empty text gives [`NO_LABEL`].
///
/// # Examples
///
/// ```
/// use blockimg::disk::fat::{volume_label, NO_LABEL};
///
/// # fn main() -> blockimg::Result<()> {
/// assert_eq!(&volume_label("efi")?, b"EFI        ");
/// assert_eq!(volume_label("")?, NO_LABEL);
/// assert!(volume_label("much too long").is_err());
/// assert!(volume_label("a.b").is_err());
/// # Ok(())
/// # }
/// ```
pub fn volume_label(text: &str) -> Result<[u8; 11]> {
    let upper = text.to_ascii_uppercase();
    let bad = |reason: String| Error::InvalidOption {
        option: "FAT label".into(),
        reason: format!("{text:?}: {reason}"),
    };
    if upper.len() > 11 {
        return Err(bad(format!("{} bytes, at most 11", upper.len())));
    }
    let allowed = |c: char| {
        c == ' '
            || c.is_ascii_alphanumeric()
            || (c.is_ascii() && NAME_PUNCTUATION.contains(&(c as u8)))
    };
    if let Some(c) = upper.chars().find(|&c| !allowed(c)) {
        return Err(bad(format!(
            "{c:?} is not allowed (A-Z, 0-9, space and _-~!#$%&'()@^{{}})"
        )));
    }
    if upper.starts_with(' ') {
        return Err(bad("a label cannot start with a space".into()));
    }
    if upper.trim_end().is_empty() {
        return Ok(NO_LABEL);
    }
    let mut label = [b' '; 11];
    label[..upper.len()].copy_from_slice(upper.as_bytes());
    Ok(label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_and_volume_ids_are_checked() {
        assert_eq!(volume_label("").unwrap(), NO_LABEL);
        assert_eq!(&volume_label("efi-boot").unwrap(), b"EFI-BOOT   ");
        assert_eq!(&volume_label("ELEVEN CHRS").unwrap(), b"ELEVEN CHRS");
        for bad in ["TWELVE CHARS", "A/B", "A.B", " LEADING", "\u{e9}T\u{e9}"] {
            assert!(volume_label(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_volume_id("C0DE-2026"), Some(0xC0DE_2026));
        assert_eq!(parse_volume_id("c0de2026"), Some(0xC0DE_2026));
        for bad in [
            "C0DE-202",
            "C0DE20261",
            "+0DE2026",
            "12-345678",
            "G0DE-2026",
        ] {
            assert_eq!(parse_volume_id(bad), None, "{bad:?}");
        }
        assert_eq!(format_volume_id(0xC0DE_2026), "C0DE-2026");
    }
}
