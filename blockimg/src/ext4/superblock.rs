//! The superblock (primary and backups) and the group descriptor table.

use super::bytes::{hi16, hi32, lo16, lo32, put_u16, put_u32};
use super::csum::Checksummer;
use super::features::*;
use super::geometry::{Geometry, DESC_SIZE, FIRST_INO, INODE_SIZE, LOG_GROUPS_PER_FLEX};
use super::hash::FLAGS_SIGNED_HASH;
use super::inode::{EXTRA_ISIZE, I_BLOCK_LEN};

/// `s_magic`.
pub const MAGIC: u16 = 0xEF53;

/// Default mount options: user_xattr and acl, as mke2fs sets them.
const DEFAULT_MOUNT_OPTS: u32 = 0x0004 | 0x0008;
/// The journal's location is backed up in `s_jnl_blocks`.
const JNL_BACKUP_BLOCKS: u8 = 1;

/// Group descriptor flag: inode table and bitmap not initialised.
pub const BG_INODE_UNINIT: u16 = 0x1;
/// Group descriptor flag: block bitmap not initialised.
pub const BG_BLOCK_UNINIT: u16 = 0x2;
/// Group descriptor flag: inode table is zeroed.
pub const BG_ITABLE_ZEROED: u16 = 0x4;

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
        let mut b = [0u8; 1024];
        let now = self.now as u32;
        put_u32(&mut b, 0x00, g.inodes_count());
        put_u32(&mut b, 0x04, lo32(g.blocks_count));
        put_u32(&mut b, 0x08, lo32(self.reserved_blocks));
        put_u32(&mut b, 0x0C, lo32(self.free_blocks));
        put_u32(&mut b, 0x10, self.free_inodes);
        put_u32(&mut b, 0x14, g.first_data_block as u32);
        let log = g.block_size.trailing_zeros() - 10;
        put_u32(&mut b, 0x18, log);
        put_u32(&mut b, 0x1C, log);
        put_u32(&mut b, 0x20, g.blocks_per_group);
        put_u32(&mut b, 0x24, g.blocks_per_group);
        put_u32(&mut b, 0x28, g.inodes_per_group);
        put_u32(&mut b, 0x30, now); // s_wtime
        put_u16(&mut b, 0x36, 0xFFFF); // s_max_mnt_count: -1
        put_u16(&mut b, 0x38, MAGIC);
        put_u16(&mut b, 0x3A, 1); // clean
        put_u16(&mut b, 0x3C, 1); // errors: continue
        put_u32(&mut b, 0x40, now); // s_lastcheck
        put_u32(&mut b, 0x4C, 1); // dynamic revision
        put_u32(&mut b, 0x54, FIRST_INO);
        put_u16(&mut b, 0x58, INODE_SIZE as u16);
        put_u16(&mut b, 0x5A, group as u16);
        let journal_compat = if self.journal.is_some() {
            COMPAT_HAS_JOURNAL
        } else {
            0
        };
        let resize_compat = if g.reserved_gdt_blocks > 0 {
            COMPAT_RESIZE_INODE
        } else {
            0
        };
        put_u32(
            &mut b,
            0x5C,
            journal_compat | resize_compat | COMPAT_EXT_ATTR | COMPAT_DIR_INDEX,
        );
        put_u16(&mut b, 0xCE, g.reserved_gdt_blocks as u16);
        put_u32(
            &mut b,
            0x60,
            INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_64BIT | INCOMPAT_FLEX_BG,
        );
        put_u32(
            &mut b,
            0x64,
            RO_COMPAT_SPARSE_SUPER
                | RO_COMPAT_LARGE_FILE
                | RO_COMPAT_HUGE_FILE
                | RO_COMPAT_DIR_NLINK
                | RO_COMPAT_EXTRA_ISIZE
                | RO_COMPAT_METADATA_CSUM,
        );
        b[0x68..0x78].copy_from_slice(&self.uuid);
        b[0x78..0x88].copy_from_slice(&self.label);
        b[0xEC..0xFC].copy_from_slice(&self.hash_seed);
        b[0xFC] = super::dir::HASH_VERSION as u8;
        put_u16(&mut b, 0xFE, DESC_SIZE as u16);
        put_u32(&mut b, 0x100, DEFAULT_MOUNT_OPTS);
        put_u32(&mut b, 0x108, now); // s_mkfs_time
        if let Some((i_block, size)) = &self.journal {
            put_u32(&mut b, 0xE0, 8); // s_journal_inum
            b[0xFD] = JNL_BACKUP_BLOCKS;
            b[0x10C..0x10C + I_BLOCK_LEN].copy_from_slice(i_block);
            put_u32(&mut b, 0x10C + 15 * 4, hi32(*size));
            put_u32(&mut b, 0x10C + 16 * 4, lo32(*size));
        }
        put_u32(&mut b, 0x150, hi32(g.blocks_count));
        put_u32(&mut b, 0x154, hi32(self.reserved_blocks));
        put_u32(&mut b, 0x158, hi32(self.free_blocks));
        put_u16(&mut b, 0x15C, EXTRA_ISIZE);
        put_u16(&mut b, 0x15E, EXTRA_ISIZE);
        put_u32(&mut b, 0x160, FLAGS_SIGNED_HASH);
        b[0x174] = LOG_GROUPS_PER_FLEX as u8;
        b[0x175] = 1; // checksum type: crc32c
        let epoch_hi = |t: i64| ((t >> 32) & 0xFF) as u8;
        b[0x274] = epoch_hi(self.now); // s_wtime_hi
        b[0x276] = epoch_hi(self.now); // s_mkfs_time_hi
        b[0x277] = epoch_hi(self.now); // s_lastcheck_hi
        let sum = Checksummer::superblock(&b);
        put_u32(&mut b, 0x3FC, sum);
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
    /// `BG_*` flags.
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
        put_u32(&mut d, 0x00, lo32(self.block_bitmap));
        put_u32(&mut d, 0x04, lo32(self.inode_bitmap));
        put_u32(&mut d, 0x08, lo32(self.inode_table));
        put_u16(&mut d, 0x0C, lo16(self.free_blocks));
        put_u16(&mut d, 0x0E, lo16(self.free_inodes));
        put_u16(&mut d, 0x10, lo16(self.used_dirs));
        put_u16(&mut d, 0x12, self.flags);
        put_u16(&mut d, 0x18, lo16(self.block_bitmap_csum));
        put_u16(&mut d, 0x1A, lo16(self.inode_bitmap_csum));
        put_u16(&mut d, 0x1C, lo16(self.itable_unused));
        put_u32(&mut d, 0x20, hi32(self.block_bitmap));
        put_u32(&mut d, 0x24, hi32(self.inode_bitmap));
        put_u32(&mut d, 0x28, hi32(self.inode_table));
        put_u16(&mut d, 0x2C, hi16(self.free_blocks));
        put_u16(&mut d, 0x2E, hi16(self.free_inodes));
        put_u16(&mut d, 0x30, hi16(self.used_dirs));
        put_u16(&mut d, 0x32, hi16(self.itable_unused));
        put_u16(&mut d, 0x38, hi16(self.block_bitmap_csum));
        put_u16(&mut d, 0x3A, hi16(self.inode_bitmap_csum));
        let sum = csum.group_desc(group, &d);
        put_u16(&mut d, 0x1E, sum);
        d
    }
}
