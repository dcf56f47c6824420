//! FAT directory entries: the 32-byte record with its field offsets named
//! once, and the attribute bits and name markers the writer and the readers
//! look at.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use crate::bytes::{le16, le32, u8_at};

/// Bytes of a directory entry.
pub(crate) const SIZE: usize = 32;

// Byte offsets of a directory entry's fields.
/// The 8.3 name, space padded (11 bytes).
const NAME: usize = 0;
/// Attribute bits (1 byte).
const ATTR: usize = 11;
/// High 16 bits of the first cluster (FAT32).
const CLUSTER_HIGH: usize = 20;
/// Low 16 bits of the first cluster.
const CLUSTER_LOW: usize = 26;
/// File size in bytes (4 bytes).
const FILE_SIZE: usize = 28;

/// Bytes of a name: 8 of base, 3 of extension.
pub(crate) const NAME_LEN: usize = 11;

/// Attribute of a volume label entry.
pub(crate) const ATTR_VOLUME_ID: u8 = 0x08;
/// Attribute of a directory.
pub(crate) const ATTR_DIRECTORY: u8 = 0x10;
/// The attributes a long-name entry has, all at once.
pub(crate) const ATTR_LONG_NAME: u8 = 0x0F;

/// First name byte of the entry that ends a directory.
pub(crate) const END: u8 = 0x00;
/// First name byte of a deleted entry.
pub(crate) const DELETED: u8 = 0xE5;

/// The entry's name (11 bytes, space padded).
pub(crate) fn name(entry: &[u8]) -> &[u8] {
    entry.get(NAME..NAME + NAME_LEN).unwrap_or_default()
}

/// The first byte of the entry's name: [`END`], [`DELETED`] or a name.
pub(crate) fn first_byte(entry: &[u8]) -> u8 {
    u8_at(entry, NAME)
}

/// The entry's attribute bits.
pub(crate) fn attr(entry: &[u8]) -> u8 {
    u8_at(entry, ATTR)
}

/// The first cluster of the entry's file or directory.
pub(crate) fn first_cluster(entry: &[u8]) -> u32 {
    u32::from(le16(entry, CLUSTER_HIGH)) << 16 | u32::from(le16(entry, CLUSTER_LOW))
}

/// Sets the first cluster of the entry.
pub(crate) fn set_first_cluster(entry: &mut [u8; SIZE], cluster: u32) {
    let high = (cluster >> 16) as u16;
    let low = cluster as u16;
    if let Some(field) = entry.get_mut(CLUSTER_HIGH..CLUSTER_HIGH + 2) {
        field.copy_from_slice(&high.to_le_bytes());
    }
    if let Some(field) = entry.get_mut(CLUSTER_LOW..CLUSTER_LOW + 2) {
        field.copy_from_slice(&low.to_le_bytes());
    }
}

/// The entry's file size in bytes.
pub(crate) fn file_size(entry: &[u8]) -> u32 {
    le32(entry, FILE_SIZE)
}

/// The root directory entry that holds the volume label `label`.
pub(crate) fn volume_label(label: [u8; NAME_LEN]) -> [u8; SIZE] {
    let mut entry = [0u8; SIZE];
    if let Some(name) = entry.get_mut(NAME..NAME + NAME_LEN) {
        name.copy_from_slice(&label);
    }
    if let Some(attr) = entry.get_mut(ATTR) {
        *attr = ATTR_VOLUME_ID;
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_round_trip() {
        let mut entry = volume_label(*b"EFI        ");
        assert_eq!(
            (name(&entry), attr(&entry)),
            (&b"EFI        "[..], ATTR_VOLUME_ID)
        );
        set_first_cluster(&mut entry, 0x0012_3456);
        assert_eq!(first_cluster(&entry), 0x0012_3456);
        assert_eq!(
            (entry[20], entry[21], entry[26], entry[27]),
            (0x12, 0, 0x56, 0x34)
        );
        set_first_cluster(&mut entry, 0);
        assert_eq!(&entry[11..], &volume_label(*b"EFI        ")[11..]);
        assert_eq!(file_size(&entry), 0);
    }
}
