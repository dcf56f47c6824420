//! Extent tree nodes: a header (`struct ext4_extent_header`), then entries
//! of 12 bytes, index entries (`struct ext4_extent_idx`) above the leaves
//! and extents (`struct ext4_extent`) in them, then in a tree block (not in
//! the root, which is the inode's `i_block`) a crc32c tail
//! (`struct ext4_extent_tail`) after the last entry the node has room for.

/// `eh_magic` of every extent tree node (`EXT4_EXT_MAGIC`).
pub(crate) const EXT_MAGIC: u16 = 0xF30A;
/// Longest initialised extent, in blocks (`EXT_INIT_MAX_LEN`); an `ee_len`
/// above it marks an unwritten extent of `ee_len - MAX_EXTENT_LEN` blocks.
pub(crate) const MAX_EXTENT_LEN: u64 = 32768;
/// Deepest tree the kernel accepts (`EXT4_MAX_EXTENT_DEPTH`).
pub(crate) const MAX_EXTENT_DEPTH: u16 = 5;

/// Bytes of a node's header.
pub(crate) const HEADER_LEN: usize = 12;
/// Bytes of an index or leaf entry.
pub(crate) const ENTRY_LEN: usize = 12;
/// Entries of the root node in the inode's `i_block`.
pub(crate) const ROOT_ENTRIES: usize = 4;

/// `eh_magic` (u16): [`EXT_MAGIC`].
pub(crate) const EH_MAGIC: usize = 0x00;
/// `eh_entries` (u16): entries in use.
pub(crate) const EH_ENTRIES: usize = 0x02;
/// `eh_max` (u16): entries the node has room for.
pub(crate) const EH_MAX: usize = 0x04;
/// `eh_depth` (u16): 0 for a leaf, else levels of index below.
pub(crate) const EH_DEPTH: usize = 0x06;

/// `ei_block` (u32): first logical block the index entry covers.
pub(crate) const EI_BLOCK: usize = 0x00;
/// `ei_leaf_lo` (u32): the child node's block, low half.
pub(crate) const EI_LEAF_LO: usize = 0x04;
/// `ei_leaf_hi` (u16): the child node's block, high half.
pub(crate) const EI_LEAF_HI: usize = 0x08;

/// `ee_block` (u32): first logical block of the extent.
pub(crate) const EE_BLOCK: usize = 0x00;
/// `ee_len` (u16): blocks of the extent (see [`MAX_EXTENT_LEN`]).
pub(crate) const EE_LEN: usize = 0x04;
/// `ee_start_hi` (u16): first physical block, high half.
pub(crate) const EE_START_HI: usize = 0x06;
/// `ee_start_lo` (u32): first physical block, low half.
pub(crate) const EE_START_LO: usize = 0x08;

/// Entries a tree block of `block_size` bytes has room for, its tail
/// aside.
pub(crate) fn block_entries(block_size: usize) -> usize {
    (block_size - HEADER_LEN) / ENTRY_LEN
}

/// Offset of the checksum tail (`et_checksum`, u32) in a tree block with
/// room for `max` entries (its `eh_max`).
pub(crate) fn tail_offset(max: usize) -> usize {
    HEADER_LEN + max * ENTRY_LEN
}
