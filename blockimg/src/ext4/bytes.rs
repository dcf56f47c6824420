//! Little-endian and big-endian fields of on-disk structures in byte
//! buffers. The writers take offsets that are internal constants, never user
//! input. The readers never panic: bytes past the end of the buffer read as
//! zero, as ext4 treats fields beyond a structure's recorded size (a 32-byte
//! group descriptor's high halves, an inode's extra fields).

/// Writes `value` little-endian at `offset`.
pub fn put_u16(buf: &mut [u8], offset: usize, value: u16) {
    buf[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
}

/// Writes `value` little-endian at `offset`.
pub fn put_u32(buf: &mut [u8], offset: usize, value: u32) {
    buf[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
}

/// Writes `value` big-endian at `offset` (jbd2 structures).
pub fn put_be32(buf: &mut [u8], offset: usize, value: u32) {
    buf[offset..offset + 4].copy_from_slice(&value.to_be_bytes());
}

/// Low 32 bits of a 64-bit value.
pub fn lo32(value: u64) -> u32 {
    value as u32
}

/// High 32 bits of a 64-bit value.
pub fn hi32(value: u64) -> u32 {
    (value >> 32) as u32
}

/// Low 16 bits of a 32-bit value.
pub fn lo16(value: u32) -> u16 {
    value as u16
}

/// High 16 bits of a 32-bit value.
pub fn hi16(value: u32) -> u16 {
    (value >> 16) as u16
}

// The readers are the crate's, under the names the ext4 code uses.
pub(crate) use crate::bytes::{
    be32 as get_be32, copy_available, le16 as get_u16, le32 as get_u32, u8_at as get_u8,
};

/// `buf[range]`, or as much of it as `buf` holds (empty when the range
/// starts past the end): for checksums over structures that may be short.
pub fn available(buf: &[u8], range: impl std::ops::RangeBounds<usize>) -> &[u8] {
    use std::ops::Bound;
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.saturating_add(1),
        Bound::Excluded(&e) => e,
        Bound::Unbounded => buf.len(),
    };
    buf.get(start.min(buf.len())..end.min(buf.len()))
        .unwrap_or_default()
}

/// A 64-bit value from its low and high 32-bit halves.
pub fn join64(lo: u32, hi: u32) -> u64 {
    u64::from(lo) | (u64::from(hi) << 32)
}
