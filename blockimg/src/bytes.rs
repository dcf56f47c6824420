//! Integers at fixed offsets of on-disk structures (ext4, partition
//! tables, disk image formats, FAT). Bytes past the end of the buffer read
//! as zero, so a short structure gives values the callers' checks refuse,
//! never a panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

/// Fills `out` from `buf` at `offset`; bytes past the end of `buf` stay as
/// they were (zero in the callers' fresh buffers).
pub(crate) fn copy_available(buf: &[u8], offset: usize, out: &mut [u8]) {
    let avail = buf.get(offset..).unwrap_or_default();
    for (o, b) in out.iter_mut().zip(avail) {
        *o = *b;
    }
}

/// The `N` bytes at `at`, zero where `bytes` is too short.
fn array_at<const N: usize>(bytes: &[u8], at: usize) -> [u8; N] {
    let mut b = [0u8; N];
    copy_available(bytes, at, &mut b);
    b
}

/// The byte at `at`, zero where `bytes` is too short.
pub(crate) fn u8_at(bytes: &[u8], at: usize) -> u8 {
    bytes.get(at).copied().unwrap_or_default()
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
