//! The superblock (`struct ext4_super_block`): 1024 bytes at byte 1024 of
//! the filesystem, copied at the start of the backup groups. Little-endian;
//! 64-bit counts are split in `_lo` and `_hi` halves, the high halves
//! meaningful with the 64bit feature only. Feature words: see
//! [`crate::ext4::features`].

/// Byte offset of the primary superblock within the filesystem.
pub(crate) const SUPERBLOCK_OFFSET: u64 = 1024;
/// Bytes of the superblock.
pub(crate) const SUPERBLOCK_LEN: usize = 1024;
/// `s_magic` of every ext2/3/4 superblock (`EXT4_SUPER_MAGIC`).
pub(crate) const SUPER_MAGIC: u16 = 0xEF53;

/// `s_inodes_count` (u32).
pub(crate) const S_INODES_COUNT: usize = 0x00;
/// `s_blocks_count_lo` (u32).
pub(crate) const S_BLOCKS_COUNT_LO: usize = 0x04;
/// `s_r_blocks_count_lo` (u32): blocks reserved for the superuser.
pub(crate) const S_R_BLOCKS_COUNT_LO: usize = 0x08;
/// `s_free_blocks_count_lo` (u32).
pub(crate) const S_FREE_BLOCKS_COUNT_LO: usize = 0x0C;
/// `s_free_inodes_count` (u32).
pub(crate) const S_FREE_INODES_COUNT: usize = 0x10;
/// `s_first_data_block` (u32): 1 for 1 KiB blocks, else 0.
pub(crate) const S_FIRST_DATA_BLOCK: usize = 0x14;
/// `s_log_block_size` (u32): the block size is `1024 << s_log_block_size`.
pub(crate) const S_LOG_BLOCK_SIZE: usize = 0x18;
/// `s_log_cluster_size` (u32): the block size's without bigalloc.
pub(crate) const S_LOG_CLUSTER_SIZE: usize = 0x1C;
/// `s_blocks_per_group` (u32).
pub(crate) const S_BLOCKS_PER_GROUP: usize = 0x20;
/// `s_clusters_per_group` (u32): blocks per group without bigalloc.
pub(crate) const S_CLUSTERS_PER_GROUP: usize = 0x24;
/// `s_inodes_per_group` (u32).
pub(crate) const S_INODES_PER_GROUP: usize = 0x28;
/// `s_wtime` (u32): when the superblock was last written, low 32 bits.
pub(crate) const S_WTIME: usize = 0x30;
/// `s_max_mnt_count` (u16): mounts before a check; 0xFFFF (-1) for never.
pub(crate) const S_MAX_MNT_COUNT: usize = 0x36;
/// `s_magic` (u16): [`SUPER_MAGIC`].
pub(crate) const S_MAGIC: usize = 0x38;
/// `s_state` (u16): [`STATE_VALID`] for a cleanly unmounted filesystem.
pub(crate) const S_STATE: usize = 0x3A;
/// `s_errors` (u16): what to do on errors ([`ERRORS_CONTINUE`]).
pub(crate) const S_ERRORS: usize = 0x3C;
/// `s_lastcheck` (u32): time of the last check, low 32 bits.
pub(crate) const S_LASTCHECK: usize = 0x40;
/// `s_rev_level` (u32): 0 for the original format (128-byte inodes, no
/// feature words), [`DYNAMIC_REV`] for everything since.
pub(crate) const S_REV_LEVEL: usize = 0x4C;
/// `s_first_ino` (u32): first inode number not reserved.
pub(crate) const S_FIRST_INO: usize = 0x54;
/// `s_inode_size` (u16): bytes per inode (128 with revision 0).
pub(crate) const S_INODE_SIZE: usize = 0x58;
/// `s_block_group_nr` (u16): the group this copy is stored in.
pub(crate) const S_BLOCK_GROUP_NR: usize = 0x5A;
/// `s_feature_compat` (u32).
pub(crate) const S_FEATURE_COMPAT: usize = 0x5C;
/// `s_feature_incompat` (u32).
pub(crate) const S_FEATURE_INCOMPAT: usize = 0x60;
/// `s_feature_ro_compat` (u32).
pub(crate) const S_FEATURE_RO_COMPAT: usize = 0x64;
/// `s_uuid` (16 bytes).
pub(crate) const S_UUID: usize = 0x68;
/// `s_volume_name` (16 bytes): the label, zero padded.
pub(crate) const S_VOLUME_NAME: usize = 0x78;
/// `s_reserved_gdt_blocks` (u16): descriptor blocks reserved for growth.
pub(crate) const S_RESERVED_GDT_BLOCKS: usize = 0xCE;
/// `s_journal_uuid` (16 bytes): the external journal's UUID.
pub(crate) const S_JOURNAL_UUID: usize = 0xD0;
/// `s_journal_inum` (u32): the internal journal's inode.
pub(crate) const S_JOURNAL_INUM: usize = 0xE0;
/// `s_journal_dev` (u32): the external journal's device number.
pub(crate) const S_JOURNAL_DEV: usize = 0xE4;
/// `s_hash_seed` (16 bytes): seed of the directory index hashes.
pub(crate) const S_HASH_SEED: usize = 0xEC;
/// `s_def_hash_version` (u8): the directory index hash.
pub(crate) const S_DEF_HASH_VERSION: usize = 0xFC;
/// `s_jnl_backup_type` (u8): [`JNL_BACKUP_BLOCKS`] when `s_jnl_blocks`
/// holds a copy of the journal inode's block map.
pub(crate) const S_JNL_BACKUP_TYPE: usize = 0xFD;
/// `s_desc_size` (u16): bytes per group descriptor with 64bit.
pub(crate) const S_DESC_SIZE: usize = 0xFE;
/// `s_default_mount_opts` (u32).
pub(crate) const S_DEFAULT_MOUNT_OPTS: usize = 0x100;
/// `s_first_meta_bg` (u32): first descriptor block spread by meta_bg.
pub(crate) const S_FIRST_META_BG: usize = 0x104;
/// `s_mkfs_time` (u32): creation time, low 32 bits.
pub(crate) const S_MKFS_TIME: usize = 0x108;
/// `s_jnl_blocks` (17 u32): the journal inode's `i_block` (15 words), then
/// `i_size_high` and `i_size`.
pub(crate) const S_JNL_BLOCKS: usize = 0x10C;
/// Offset of the journal size's high half in `s_jnl_blocks`.
pub(crate) const S_JNL_SIZE_HI: usize = S_JNL_BLOCKS + 15 * 4;
/// Offset of the journal size's low half in `s_jnl_blocks`.
pub(crate) const S_JNL_SIZE_LO: usize = S_JNL_BLOCKS + 16 * 4;
/// `s_blocks_count_hi` (u32).
pub(crate) const S_BLOCKS_COUNT_HI: usize = 0x150;
/// `s_r_blocks_count_hi` (u32).
pub(crate) const S_R_BLOCKS_COUNT_HI: usize = 0x154;
/// `s_free_blocks_count_hi` (u32).
pub(crate) const S_FREE_BLOCKS_COUNT_HI: usize = 0x158;
/// `s_min_extra_isize` (u16): extra inode bytes every inode has.
pub(crate) const S_MIN_EXTRA_ISIZE: usize = 0x15C;
/// `s_want_extra_isize` (u16): extra inode bytes new inodes get.
pub(crate) const S_WANT_EXTRA_ISIZE: usize = 0x15E;
/// `s_flags` (u32): [`FLAGS_SIGNED_HASH`] or [`FLAGS_UNSIGNED_HASH`].
pub(crate) const S_FLAGS: usize = 0x160;
/// `s_log_groups_per_flex` (u8): groups per flex group, as a power of 2.
pub(crate) const S_LOG_GROUPS_PER_FLEX: usize = 0x174;
/// `s_checksum_type` (u8): [`CRC32C_CHKSUM`] with metadata_csum.
pub(crate) const S_CHECKSUM_TYPE: usize = 0x175;
/// `s_backup_bgs` (2 u32): the backup groups of sparse_super2.
pub(crate) const S_BACKUP_BGS: usize = 0x24C;
/// `s_checksum_seed` (u32): the checksum seed with metadata_csum_seed.
pub(crate) const S_CHECKSUM_SEED: usize = 0x270;
/// `s_wtime_hi` (u8): bits 32-39 of `s_wtime`.
pub(crate) const S_WTIME_HI: usize = 0x274;
/// `s_mkfs_time_hi` (u8): bits 32-39 of `s_mkfs_time`.
pub(crate) const S_MKFS_TIME_HI: usize = 0x276;
/// `s_lastcheck_hi` (u8): bits 32-39 of `s_lastcheck`.
pub(crate) const S_LASTCHECK_HI: usize = 0x277;
/// `s_checksum` (u32): crc32c of the bytes before it.
pub(crate) const S_CHECKSUM: usize = 0x3FC;

/// `s_state`: cleanly unmounted (`EXT4_VALID_FS`).
pub(crate) const STATE_VALID: u16 = 1;
/// `s_errors`: continue on errors (`EXT4_ERRORS_CONTINUE`).
pub(crate) const ERRORS_CONTINUE: u16 = 1;
/// `s_rev_level`: the dynamic revision (`EXT4_DYNAMIC_REV`).
pub(crate) const DYNAMIC_REV: u32 = 1;
/// `s_jnl_backup_type`: `s_jnl_blocks` backs up the journal inode's blocks
/// (`EXT3_JNL_BACKUP_BLOCKS`).
pub(crate) const JNL_BACKUP_BLOCKS: u8 = 1;
/// `s_checksum_type`: crc32c, the only one there is (`EXT4_CRC32C_CHKSUM`).
pub(crate) const CRC32C_CHKSUM: u8 = 1;
/// `s_default_mount_opts`: `user_xattr` (`EXT4_DEFM_XATTR_USER`).
pub(crate) const DEFM_XATTR_USER: u32 = 0x0004;
/// `s_default_mount_opts`: `acl` (`EXT4_DEFM_ACL`).
pub(crate) const DEFM_ACL: u32 = 0x0008;
/// `s_flags`: directory hashes treat name bytes as signed chars (what
/// mke2fs sets on x86).
pub(crate) const FLAGS_SIGNED_HASH: u32 = 0x0001;
/// `s_flags`: directory hashes treat name bytes as unsigned chars.
#[cfg(test)]
pub(crate) const FLAGS_UNSIGNED_HASH: u32 = 0x0002;
