//! The superblock (primary and backups) and the group descriptor table.

use super::bytes::{hi16, hi32, lo16, lo32, put_u16, put_u32};
use super::csum::Checksummer;
use super::features::*;
use super::format::group_desc::*;
use super::format::superblock::*;
use super::geometry::{Geometry, DESC_SIZE, FIRST_INO, INODE_SIZE, LOG_GROUPS_PER_FLEX};
use super::inode::EXTRA_ISIZE;
use crate::ext4::format::inode::{I_BLOCK_LEN, JOURNAL_INO};

/// The features of every filesystem blockimg makes, but those that depend
/// on its geometry (`has_journal`, `resize_inode`).
const FEATURES: Features = Features::of(&[
    COMPAT_EXT_ATTR,
    COMPAT_DIR_INDEX,
    INCOMPAT_FILETYPE,
    INCOMPAT_EXTENTS,
    INCOMPAT_64BIT,
    INCOMPAT_FLEX_BG,
    RO_COMPAT_SPARSE_SUPER,
    RO_COMPAT_LARGE_FILE,
    RO_COMPAT_HUGE_FILE,
    RO_COMPAT_DIR_NLINK,
    RO_COMPAT_EXTRA_ISIZE,
    RO_COMPAT_METADATA_CSUM,
]);

/// Default mount options: user_xattr and acl, as mke2fs sets them.
const DEFAULT_MOUNT_OPTS: u32 = DEFM_XATTR_USER | DEFM_ACL;

/// The filesystem-wide values recorded in every superblock copy.
#[derive(Clone, Debug)]
pub struct SuperblockInfo {
    /// Layout numbers.
    pub geometry: Geometry,
    /// Free blocks.
    pub free_blocks: u64,
    /// Free inodes.
    pub free_inodes: u32,
    /// Blocks reserved for the superuser.
    pub reserved_blocks: u64,
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// htree hash seed.
    pub hash_seed: [u8; 16],
    /// Volume label, zero padded.
    pub label: [u8; 16],
    /// Creation and write time (seconds, low 32 bits stored).
    pub now: i64,
    /// The journal inode's `i_block` and size, when there is a journal.
    pub journal: Option<([u8; I_BLOCK_LEN], u64)>,
}

impl SuperblockInfo {
    /// The 1024-byte superblock as stored in `group` (0 for the primary).
    pub fn encode(&self, group: u32) -> [u8; 1024] {
        let g = &self.geometry;
        let mut b = [0u8; SUPERBLOCK_LEN];
        let now = self.now as u32;
        put_u32(&mut b, S_INODES_COUNT, g.inodes_count());
        put_u32(&mut b, S_BLOCKS_COUNT_LO, lo32(g.blocks_count));
        put_u32(&mut b, S_R_BLOCKS_COUNT_LO, lo32(self.reserved_blocks));
        put_u32(&mut b, S_FREE_BLOCKS_COUNT_LO, lo32(self.free_blocks));
        put_u32(&mut b, S_FREE_INODES_COUNT, self.free_inodes);
        put_u32(&mut b, S_FIRST_DATA_BLOCK, g.first_data_block as u32);
        let log = g.block_size.trailing_zeros() - 10;
        put_u32(&mut b, S_LOG_BLOCK_SIZE, log);
        put_u32(&mut b, S_LOG_CLUSTER_SIZE, log);
        put_u32(&mut b, S_BLOCKS_PER_GROUP, g.blocks_per_group);
        put_u32(&mut b, S_CLUSTERS_PER_GROUP, g.blocks_per_group);
        put_u32(&mut b, S_INODES_PER_GROUP, g.inodes_per_group);
        put_u32(&mut b, S_WTIME, now);
        put_u16(&mut b, S_MAX_MNT_COUNT, 0xFFFF); // -1: never check
        put_u16(&mut b, S_MAGIC, SUPER_MAGIC);
        put_u16(&mut b, S_STATE, STATE_VALID);
        put_u16(&mut b, S_ERRORS, ERRORS_CONTINUE);
        put_u32(&mut b, S_LASTCHECK, now);
        put_u32(&mut b, S_REV_LEVEL, DYNAMIC_REV);
        put_u32(&mut b, S_FIRST_INO, FIRST_INO);
        put_u16(&mut b, S_INODE_SIZE, INODE_SIZE as u16);
        put_u16(&mut b, S_BLOCK_GROUP_NR, group as u16);
        let mut features = FEATURES;
        if self.journal.is_some() {
            features = features | COMPAT_HAS_JOURNAL;
        }
        if g.reserved_gdt_blocks > 0 {
            features = features | COMPAT_RESIZE_INODE;
        }
        features.write(&mut b);
        put_u16(&mut b, S_RESERVED_GDT_BLOCKS, g.reserved_gdt_blocks as u16);
        b[S_UUID..S_UUID + 16].copy_from_slice(&self.uuid);
        b[S_VOLUME_NAME..S_VOLUME_NAME + 16].copy_from_slice(&self.label);
        b[S_HASH_SEED..S_HASH_SEED + 16].copy_from_slice(&self.hash_seed);
        b[S_DEF_HASH_VERSION] = super::dir::HASH_VERSION as u8;
        put_u16(&mut b, S_DESC_SIZE, DESC_SIZE as u16);
        put_u32(&mut b, S_DEFAULT_MOUNT_OPTS, DEFAULT_MOUNT_OPTS);
        put_u32(&mut b, S_MKFS_TIME, now);
        if let Some((i_block, size)) = &self.journal {
            put_u32(&mut b, S_JOURNAL_INUM, JOURNAL_INO);
            b[S_JNL_BACKUP_TYPE] = JNL_BACKUP_BLOCKS;
            b[S_JNL_BLOCKS..S_JNL_BLOCKS + I_BLOCK_LEN].copy_from_slice(i_block);
            put_u32(&mut b, S_JNL_SIZE_HI, hi32(*size));
            put_u32(&mut b, S_JNL_SIZE_LO, lo32(*size));
        }
        put_u32(&mut b, S_BLOCKS_COUNT_HI, hi32(g.blocks_count));
        put_u32(&mut b, S_R_BLOCKS_COUNT_HI, hi32(self.reserved_blocks));
        put_u32(&mut b, S_FREE_BLOCKS_COUNT_HI, hi32(self.free_blocks));
        put_u16(&mut b, S_MIN_EXTRA_ISIZE, EXTRA_ISIZE);
        put_u16(&mut b, S_WANT_EXTRA_ISIZE, EXTRA_ISIZE);
        put_u32(&mut b, S_FLAGS, FLAGS_SIGNED_HASH);
        b[S_LOG_GROUPS_PER_FLEX] = LOG_GROUPS_PER_FLEX as u8;
        b[S_CHECKSUM_TYPE] = CRC32C_CHKSUM;
        let epoch_hi = |t: i64| ((t >> 32) & 0xFF) as u8;
        b[S_WTIME_HI] = epoch_hi(self.now);
        b[S_MKFS_TIME_HI] = epoch_hi(self.now);
        b[S_LASTCHECK_HI] = epoch_hi(self.now);
        let sum = Checksummer::superblock(&b);
        put_u32(&mut b, S_CHECKSUM, sum);
        b
    }
}

/// One group descriptor.
#[derive(Clone, Debug, Default)]
pub struct GroupDesc {
    /// Block bitmap location.
    pub block_bitmap: u64,
    /// Inode bitmap location.
    pub inode_bitmap: u64,
    /// First block of the inode table.
    pub inode_table: u64,
    /// Free blocks in the group.
    pub free_blocks: u32,
    /// Free inodes in the group.
    pub free_inodes: u32,
    /// Directories in the group.
    pub used_dirs: u32,
    /// `BG_*` flags ([`super::format::group_desc`]).
    pub flags: u16,
    /// Inodes at the end of the group's table never used.
    pub itable_unused: u32,
    /// Checksum of the block bitmap (0 when uninitialised).
    pub block_bitmap_csum: u32,
    /// Checksum of the inode bitmap (0 when uninitialised).
    pub inode_bitmap_csum: u32,
}

impl GroupDesc {
    /// The 64 descriptor bytes of `group`, checksum included.
    pub fn encode(&self, group: u32, csum: &Checksummer) -> [u8; DESC_SIZE as usize] {
        let mut d = [0u8; DESC_SIZE as usize];
        put_u32(&mut d, BG_BLOCK_BITMAP_LO, lo32(self.block_bitmap));
        put_u32(&mut d, BG_INODE_BITMAP_LO, lo32(self.inode_bitmap));
        put_u32(&mut d, BG_INODE_TABLE_LO, lo32(self.inode_table));
        put_u16(&mut d, BG_FREE_BLOCKS_COUNT_LO, lo16(self.free_blocks));
        put_u16(&mut d, BG_FREE_INODES_COUNT_LO, lo16(self.free_inodes));
        put_u16(&mut d, BG_USED_DIRS_COUNT_LO, lo16(self.used_dirs));
        put_u16(&mut d, BG_FLAGS, self.flags);
        put_u16(
            &mut d,
            BG_BLOCK_BITMAP_CSUM_LO,
            lo16(self.block_bitmap_csum),
        );
        put_u16(
            &mut d,
            BG_INODE_BITMAP_CSUM_LO,
            lo16(self.inode_bitmap_csum),
        );
        put_u16(&mut d, BG_ITABLE_UNUSED_LO, lo16(self.itable_unused));
        put_u32(&mut d, BG_BLOCK_BITMAP_HI, hi32(self.block_bitmap));
        put_u32(&mut d, BG_INODE_BITMAP_HI, hi32(self.inode_bitmap));
        put_u32(&mut d, BG_INODE_TABLE_HI, hi32(self.inode_table));
        put_u16(&mut d, BG_FREE_BLOCKS_COUNT_HI, hi16(self.free_blocks));
        put_u16(&mut d, BG_FREE_INODES_COUNT_HI, hi16(self.free_inodes));
        put_u16(&mut d, BG_USED_DIRS_COUNT_HI, hi16(self.used_dirs));
        put_u16(&mut d, BG_ITABLE_UNUSED_HI, hi16(self.itable_unused));
        put_u16(
            &mut d,
            BG_BLOCK_BITMAP_CSUM_HI,
            hi16(self.block_bitmap_csum),
        );
        put_u16(
            &mut d,
            BG_INODE_BITMAP_CSUM_HI,
            hi16(self.inode_bitmap_csum),
        );
        let sum = csum.group_desc(group, &d);
        put_u16(&mut d, BG_CHECKSUM, sum);
        d
    }
}
