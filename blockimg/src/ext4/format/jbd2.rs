//! The jbd2 journal as e2fsprogs' `lib/ext2fs/kernel-jbd.h` lays it out,
//! every field big-endian: the superblock (`journal_superblock_t`, the
//! first block of the journal: a block header (`journal_header_t`) then
//! the superblock's fields; only its first [`JOURNAL_SUPERBLOCK_LEN`] bytes
//! are used), and the blocks of the log: descriptor blocks with their
//! block tags, revoke blocks, commit blocks, and the checksum tail of
//! descriptor and revoke blocks.

/// `h_magic` of every jbd2 block (`JBD2_MAGIC_NUMBER`).
pub(crate) const JBD2_MAGIC: u32 = 0xC03B_3998;
/// `h_blocktype` of a version 1 superblock (no feature fields).
pub(crate) const SUPERBLOCK_V1: u32 = 3;
/// `h_blocktype` of a version 2 superblock.
pub(crate) const SUPERBLOCK_V2: u32 = 4;
/// `h_blocktype` of a descriptor block: tags naming the blocks that follow.
pub(crate) const DESCRIPTOR_BLOCK: u32 = 1;
/// `h_blocktype` of a commit block, which ends a transaction.
pub(crate) const COMMIT_BLOCK: u32 = 2;
/// `h_blocktype` of a revoke block: blocks not to replay.
pub(crate) const REVOKE_BLOCK: u32 = 5;
/// Bytes of the journal superblock (the rest of its block is unused).
pub(crate) const JOURNAL_SUPERBLOCK_LEN: usize = 1024;

/// `h_magic` (be32): [`JBD2_MAGIC`].
pub(crate) const H_MAGIC: usize = 0x00;
/// `h_blocktype` (be32): [`SUPERBLOCK_V1`], [`SUPERBLOCK_V2`],
/// [`DESCRIPTOR_BLOCK`], [`COMMIT_BLOCK`] or [`REVOKE_BLOCK`].
pub(crate) const H_BLOCKTYPE: usize = 0x04;
/// `h_sequence` (be32): the transaction a log block belongs to.
pub(crate) const H_SEQUENCE: usize = 0x08;
/// Bytes of the block header (`journal_header_t`); a descriptor block's
/// tags start here.
pub(crate) const HEADER_LEN: usize = 0x0C;
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

/// `t_blocknr` (be32) of a block tag: the low 32 bits of the filesystem
/// block the log block is replayed to.
pub(crate) const T_BLOCKNR: usize = 0x00;
/// `t_flags` (be32) of a checksum v3 tag (`journal_block_tag3_t`).
pub(crate) const T3_FLAGS: usize = 0x04;
/// `t_checksum` (be32) of a checksum v3 tag: crc32c of the log block.
pub(crate) const T3_CHECKSUM: usize = 0x0C;
/// `t_checksum` (be16) of an older tag (`journal_block_tag_t`): the low
/// 16 bits of the log block's crc32c with checksum v2.
pub(crate) const T_CHECKSUM: usize = 0x04;
/// `t_flags` (be16) of an older tag.
pub(crate) const T_FLAGS: usize = 0x06;
/// `t_blocknr_high` (be32) of either tag: the high 32 bits of the block
/// number with [`INCOMPAT_64BIT`].
pub(crate) const T_BLOCKNR_HIGH: usize = 0x08;
/// Bytes of a checksum v3 tag.
pub(crate) const TAG3_LEN: usize = 16;
/// Bytes of an older tag with 64-bit block numbers and without checksum
/// v2 (`sizeof(journal_block_tag_t)`); checksum v2 adds 2, and without
/// [`INCOMPAT_64BIT`] the 4 bytes of `t_blocknr_high` go.
pub(crate) const TAG_LEN: usize = 12;
/// Bytes of the UUID following a tag without [`FLAG_SAME_UUID`].
pub(crate) const TAG_UUID_LEN: usize = 16;
/// Tag flag: the block began with [`JBD2_MAGIC`], stored as zeros in the
/// log.
pub(crate) const FLAG_ESCAPE: u32 = 0x1;
/// Tag flag: the block belongs to the same filesystem as the previous
/// tag (no UUID follows the tag).
pub(crate) const FLAG_SAME_UUID: u32 = 0x2;
/// Tag flag: the last tag of the descriptor block.
pub(crate) const FLAG_LAST_TAG: u32 = 0x8;

/// Bytes of the tail (`jbd2_journal_block_tail`) ending descriptor and
/// revoke blocks with checksums v2 and v3: `t_checksum` (be32), crc32c of
/// the block with this field zero.
pub(crate) const BLOCK_TAIL_LEN: usize = 4;

/// `r_count` (be32) of a revoke block: bytes used, header included.
pub(crate) const R_COUNT: usize = 0x0C;
/// Bytes of the revoke block header; the revoked block numbers (4 bytes
/// each, 8 with [`INCOMPAT_64BIT`]) follow.
pub(crate) const REVOKE_HEADER_LEN: usize = 0x10;

/// `h_chksum[0]` (be32) of a commit block: with checksums v2 and v3 the
/// crc32c of the block with this field zero.
pub(crate) const H_CHKSUM: usize = 0x10;
/// `h_commit_sec` (be64) of a commit block: when it was written.
pub(crate) const H_COMMIT_SEC: usize = 0x30;
/// `h_commit_nsec` (be32) of a commit block.
pub(crate) const H_COMMIT_NSEC: usize = 0x38;
