//! Integers at fixed offsets of image structures (disk image formats and
//! partition tables). Bytes past the end of the buffer read as zero, so a
//! short structure gives values the callers' checks refuse, never a panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

/// The `N` bytes at `at`, zero where `bytes` is too short.
fn array_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut b = [0u8; N];
    for (o, v) in b.iter_mut().zip(bytes.get(at..).unwrap_or_default()) {
        *o = *v;
    }
    b
}

/// The big-endian u32 at `at`.
pub(crate) fn be32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(array_at(bytes, at))
}

/// The big-endian u64 at `at`.
pub(crate) fn be64(bytes: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(array_at(bytes, at))
}

/// The little-endian u16 at `at`.
pub(crate) fn le16(bytes: &[u8], at: usize) -> u16 {
    u16::from_le_bytes(array_at(bytes, at))
}

/// The little-endian u32 at `at`.
pub(crate) fn le32(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(array_at(bytes, at))
}

/// The little-endian u64 at `at`.
pub(crate) fn le64(bytes: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(array_at(bytes, at))
}
