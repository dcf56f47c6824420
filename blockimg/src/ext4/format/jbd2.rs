//! The jbd2 journal superblock (`journal_superblock_t`), the first block of
//! the journal, as e2fsprogs' `lib/ext2fs/kernel-jbd.h` lays it out: a
//! block header (`journal_header_t`) then the superblock's fields, all
//! big-endian. Only its first [`JOURNAL_SUPERBLOCK_LEN`] bytes are used.

/// `h_magic` of every jbd2 block (`JBD2_MAGIC_NUMBER`).
pub(crate) const JBD2_MAGIC: u32 = 0xC03B_3998;
/// `h_blocktype` of a version 1 superblock (no feature fields).
pub(crate) const SUPERBLOCK_V1: u32 = 3;
/// `h_blocktype` of a version 2 superblock.
pub(crate) const SUPERBLOCK_V2: u32 = 4;
/// Bytes of the journal superblock (the rest of its block is unused).
pub(crate) const JOURNAL_SUPERBLOCK_LEN: usize = 1024;

/// `h_magic` (be32): [`JBD2_MAGIC`].
pub(crate) const H_MAGIC: usize = 0x00;
/// `h_blocktype` (be32): [`SUPERBLOCK_V1`] or [`SUPERBLOCK_V2`].
pub(crate) const H_BLOCKTYPE: usize = 0x04;
/// `s_blocksize` (be32): the journal's block size.
pub(crate) const S_BLOCKSIZE: usize = 0x0C;
/// `s_maxlen` (be32): blocks in the journal.
pub(crate) const S_MAXLEN: usize = 0x10;
/// `s_first` (be32): first block of log information.
pub(crate) const S_FIRST: usize = 0x14;
/// `s_sequence` (be32): first transaction ID expected in the log.
pub(crate) const S_SEQUENCE: usize = 0x18;
/// `s_start` (be32): block the log starts at, 0 for an empty journal.
pub(crate) const S_START: usize = 0x1C;
/// `s_feature_incompat` (be32): the `INCOMPAT_*` journal features.
pub(crate) const S_FEATURE_INCOMPAT: usize = 0x28;
/// `s_uuid` (16 bytes): the filesystem's UUID.
pub(crate) const S_UUID: usize = 0x30;
/// `s_nr_users` (be32): filesystems sharing the journal.
pub(crate) const S_NR_USERS: usize = 0x40;
/// `s_checksum_type` (u8): [`CRC32C_CHKSUM`] with checksums v2 and v3.
pub(crate) const S_CHECKSUM_TYPE: usize = 0x50;
/// `s_checksum` (be32): crc32c of the superblock with this field zero.
pub(crate) const S_CHECKSUM: usize = 0xFC;

/// `s_checksum_type` of crc32c (`JBD2_CRC32C_CHKSUM`), the only one
/// checksums v2 and v3 use.
pub(crate) const CRC32C_CHKSUM: u8 = 4;

/// Incompatible journal features: revoke records.
pub(crate) const INCOMPAT_REVOKE: u32 = 0x1;
/// Incompatible journal features: 64-bit block numbers in tags.
pub(crate) const INCOMPAT_64BIT: u32 = 0x2;
/// Incompatible journal features: commit blocks written asynchronously.
pub(crate) const INCOMPAT_ASYNC_COMMIT: u32 = 0x4;
/// Incompatible journal features: checksums, version 2.
pub(crate) const INCOMPAT_CSUM_V2: u32 = 0x8;
/// Incompatible journal features: checksums, version 3.
pub(crate) const INCOMPAT_CSUM_V3: u32 = 0x10;
/// Incompatible journal features: fast commit blocks.
pub(crate) const INCOMPAT_FAST_COMMIT: u32 = 0x20;
/// Every incompatible journal feature known.
pub(crate) const KNOWN_INCOMPAT: u32 = INCOMPAT_REVOKE
    | INCOMPAT_64BIT
    | INCOMPAT_ASYNC_COMMIT
    | INCOMPAT_CSUM_V2
    | INCOMPAT_CSUM_V3
    | INCOMPAT_FAST_COMMIT;
