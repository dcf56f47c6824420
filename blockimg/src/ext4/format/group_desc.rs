//! The group descriptor (`struct ext4_group_desc`): 32 bytes, or
//! `s_desc_size` (64 and more) with the 64bit feature, whose second half
//! holds the high halves of the first half's fields. The table of
//! descriptors follows each superblock copy.

/// Bytes of a descriptor without the 64bit feature (`EXT2_MIN_DESC_SIZE`).
pub(crate) const MIN_DESC_SIZE: u32 = 32;
/// Smallest descriptor with the 64bit feature (`EXT4_MIN_DESC_SIZE_64BIT`).
pub(crate) const MIN_DESC_SIZE_64BIT: u32 = 64;
/// Largest descriptor (`EXT4_MAX_DESC_SIZE`).
pub(crate) const MAX_DESC_SIZE: u32 = 1024;

/// `bg_block_bitmap_lo` (u32).
pub(crate) const BG_BLOCK_BITMAP_LO: usize = 0x00;
/// `bg_inode_bitmap_lo` (u32).
pub(crate) const BG_INODE_BITMAP_LO: usize = 0x04;
/// `bg_inode_table_lo` (u32).
pub(crate) const BG_INODE_TABLE_LO: usize = 0x08;
/// `bg_free_blocks_count_lo` (u16).
pub(crate) const BG_FREE_BLOCKS_COUNT_LO: usize = 0x0C;
/// `bg_free_inodes_count_lo` (u16).
pub(crate) const BG_FREE_INODES_COUNT_LO: usize = 0x0E;
/// `bg_used_dirs_count_lo` (u16).
pub(crate) const BG_USED_DIRS_COUNT_LO: usize = 0x10;
/// `bg_flags` (u16): `BG_*` flags.
pub(crate) const BG_FLAGS: usize = 0x12;
/// `bg_block_bitmap_csum_lo` (u16).
pub(crate) const BG_BLOCK_BITMAP_CSUM_LO: usize = 0x18;
/// `bg_inode_bitmap_csum_lo` (u16).
pub(crate) const BG_INODE_BITMAP_CSUM_LO: usize = 0x1A;
/// `bg_itable_unused_lo` (u16): inodes at the end of the table never used.
pub(crate) const BG_ITABLE_UNUSED_LO: usize = 0x1C;
/// `bg_checksum` (u16): crc16 (uninit_bg) or crc32c (metadata_csum).
pub(crate) const BG_CHECKSUM: usize = 0x1E;
/// Offset of the first field past the checksum.
pub(crate) const BG_CHECKSUM_END: usize = BG_CHECKSUM + 2;
/// `bg_block_bitmap_hi` (u32).
pub(crate) const BG_BLOCK_BITMAP_HI: usize = 0x20;
/// `bg_inode_bitmap_hi` (u32).
pub(crate) const BG_INODE_BITMAP_HI: usize = 0x24;
/// `bg_inode_table_hi` (u32).
pub(crate) const BG_INODE_TABLE_HI: usize = 0x28;
/// `bg_free_blocks_count_hi` (u16).
pub(crate) const BG_FREE_BLOCKS_COUNT_HI: usize = 0x2C;
/// `bg_free_inodes_count_hi` (u16).
pub(crate) const BG_FREE_INODES_COUNT_HI: usize = 0x2E;
/// `bg_used_dirs_count_hi` (u16).
pub(crate) const BG_USED_DIRS_COUNT_HI: usize = 0x30;
/// `bg_itable_unused_hi` (u16).
pub(crate) const BG_ITABLE_UNUSED_HI: usize = 0x32;
/// `bg_block_bitmap_csum_hi` (u16).
pub(crate) const BG_BLOCK_BITMAP_CSUM_HI: usize = 0x38;
/// `bg_inode_bitmap_csum_hi` (u16).
pub(crate) const BG_INODE_BITMAP_CSUM_HI: usize = 0x3A;

/// `bg_flags`: inode table and bitmap not initialised.
pub(crate) const BG_INODE_UNINIT: u16 = 0x1;
/// `bg_flags`: block bitmap not initialised.
pub(crate) const BG_BLOCK_UNINIT: u16 = 0x2;
/// `bg_flags`: inode table is zeroed.
pub(crate) const BG_ITABLE_ZEROED: u16 = 0x4;
