//! Directory blocks. A leaf block is a chain of entries
//! (`struct ext4_dir_entry_2`), each `rec_len` bytes long, the last one
//! reaching the block's end or, with metadata_csum, a 12-byte checksum tail
//! (`struct ext4_dir_entry_tail`) shaped like an empty entry. An htree
//! (hashed) directory's block 0 is the index root (`struct dx_root`): `.`,
//! a `..` whose record spans the block, the root info, then the index
//! entries; its index nodes (`struct dx_node`) hold one empty record
//! spanning the block, then index entries. Index entries (`struct
//! dx_entry`) follow a count/limit header (`struct dx_countlimit`, which
//! takes the place of the first entry's hash), and with metadata_csum a
//! tail (`struct dx_tail`) follows the last entry there is room for.

/// `inode` (u32): the inode the entry names, 0 for an empty record.
pub(crate) const DE_INODE: usize = 0x00;
/// `rec_len` (u16): bytes of the record, up to the next one.
pub(crate) const DE_REC_LEN: usize = 0x04;
/// `name_len` (u8).
pub(crate) const DE_NAME_LEN: usize = 0x06;
/// `file_type` (u8): an `FT_*` code, with the filetype feature.
pub(crate) const DE_FILE_TYPE: usize = 0x07;
/// `name` (`name_len` bytes, not terminated).
pub(crate) const DE_NAME: usize = 0x08;
/// Bytes of the record for `.` or `..`.
pub(crate) const DOT_REC_LEN: usize = 12;

/// `file_type`: a regular file.
pub(crate) const FT_REG_FILE: u8 = 1;
/// `file_type`: a directory.
pub(crate) const FT_DIR: u8 = 2;
/// `file_type`: a character device.
pub(crate) const FT_CHRDEV: u8 = 3;
/// `file_type`: a block device.
pub(crate) const FT_BLKDEV: u8 = 4;
/// `file_type`: a named pipe.
pub(crate) const FT_FIFO: u8 = 5;
/// `file_type`: a socket.
pub(crate) const FT_SOCK: u8 = 6;
/// `file_type`: a symbolic link.
pub(crate) const FT_SYMLINK: u8 = 7;
/// `file_type` of the checksum tail of a leaf block
/// (`EXT4_FT_DIR_CSUM`).
pub(crate) const FT_DIR_CSUM: u8 = 0xDE;

/// Bytes of a leaf block's checksum tail: an empty record (inode 0, name
/// length 0, file type [`FT_DIR_CSUM`]) of this length.
pub(crate) const LEAF_TAIL_LEN: usize = 12;
/// `det_checksum` (u32): the tail's crc32c of the entries before it.
pub(crate) const DET_CHECKSUM: usize = 0x08;

/// Offset of the root info in an htree root block, after `.` and `..`.
pub(crate) const DX_ROOT_INFO: usize = 0x18;
/// `hash_version` (u8) of the root info.
pub(crate) const DX_ROOT_HASH_VERSION: usize = DX_ROOT_INFO + 4;
/// `info_length` (u8) of the root info: its bytes, [`DX_ROOT_INFO_LEN`].
pub(crate) const DX_ROOT_INFO_LENGTH: usize = DX_ROOT_INFO + 5;
/// `indirect_levels` (u8) of the root info: index levels below the root.
pub(crate) const DX_ROOT_INDIRECT_LEVELS: usize = DX_ROOT_INFO + 6;
/// Bytes of the root info.
pub(crate) const DX_ROOT_INFO_LEN: u8 = 8;
/// Offset of the root's count/limit header and index entries.
pub(crate) const DX_ROOT_ENTRIES: usize = DX_ROOT_INFO + DX_ROOT_INFO_LEN as usize;
/// Offset of an index node's count/limit header and entries, after its
/// empty record's header.
pub(crate) const DX_NODE_ENTRIES: usize = 0x08;

/// `limit` (u16) of a count/limit header: entries there is room for.
pub(crate) const DX_LIMIT: usize = 0x00;
/// `count` (u16) of a count/limit header: entries in use, the header
/// included.
pub(crate) const DX_COUNT: usize = 0x02;
/// Bytes of an index entry.
pub(crate) const DX_ENTRY_LEN: usize = 8;
/// `hash` (u32) of an index entry: the least hash of its block.
pub(crate) const DX_HASH: usize = 0x00;
/// `block` (u32) of an index entry: a logical block of the directory.
pub(crate) const DX_BLOCK: usize = 0x04;
/// Bytes of the tail of an index block.
pub(crate) const DX_TAIL_LEN: usize = 8;
/// `dt_checksum` (u32) of the tail, after `dt_reserved`.
pub(crate) const DT_CHECKSUM: usize = 0x04;

/// Bytes of the record for a name of `name_len` bytes: its header and name
/// rounded up to 4 bytes.
pub(crate) fn rec_len(name_len: usize) -> usize {
    (DE_NAME + name_len).div_ceil(4) * 4
}

/// Index entries an htree root block of `block_size` bytes has room for,
/// its tail aside.
pub(crate) fn dx_root_limit(block_size: usize) -> usize {
    (block_size - DX_ROOT_ENTRIES - DX_TAIL_LEN) / DX_ENTRY_LEN
}

/// Index entries an htree index node of `block_size` bytes has room for,
/// its tail aside.
pub(crate) fn dx_node_limit(block_size: usize) -> usize {
    (block_size - DX_NODE_ENTRIES - DX_TAIL_LEN) / DX_ENTRY_LEN
}

/// Offset of the tail of an index block whose entries start at `entries`
/// with room for `limit` of them.
pub(crate) fn dx_tail_offset(entries: usize, limit: usize) -> usize {
    entries + limit * DX_ENTRY_LEN
}
