//! The inode (`struct ext4_inode`): 128 bytes every revision has, then
//! `i_extra_isize` bytes of extra fields, then the in-inode extended
//! attributes up to `s_inode_size`. Little-endian. The reserved inode
//! numbers are here too.

/// Inode number of the root directory (`EXT4_ROOT_INO`).
pub const ROOT_INO: u32 = 2;
/// Inode number of the resize inode (`EXT4_RESIZE_INO`).
pub(crate) const RESIZE_INO: u32 = 7;
/// Inode number of the journal (`EXT4_JOURNAL_INO`).
pub(crate) const JOURNAL_INO: u32 = 8;

/// Bytes of `i_block`: the extent tree root, the ext2/3 block map, a fast
/// symlink's target or a device number.
pub(crate) const I_BLOCK_LEN: usize = 60;
/// Bytes of the fields every inode has, before the extra fields
/// (`EXT4_GOOD_OLD_INODE_SIZE`); the inode size of revision 0.
pub(crate) const GOOD_OLD_INODE_SIZE: usize = 128;
