//! Little-endian and big-endian field writers for on-disk structures built in
//! byte buffers. Offsets are internal constants, never user input.

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
