//! The 256-byte inodes the writer makes: what goes into one
//! ([`InodeRecord`]) and its bytes, checksum included (the fields are laid
//! out in [`super::format::inode`]).

use super::bytes::{hi16, hi32, lo16, lo32, put_u16, put_u32};
use super::csum::Checksummer;
use super::format::inode::*;
use super::geometry::INODE_SIZE;
use crate::tree::Timestamp;

/// Bytes of extra fields the writer's inodes have: up to and including
/// `i_projid`, as mke2fs gives them.
pub const EXTRA_ISIZE: u16 = 32;
/// Offset of the in-inode extended attribute area.
pub const IBODY_XATTR_OFFSET: usize = GOOD_OLD_INODE_SIZE + EXTRA_ISIZE as usize;

/// Everything that goes into one inode.
#[derive(Clone, Debug)]
pub struct InodeRecord {
    /// `st_mode`: type and permission bits.
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Access time.
    pub atime: Timestamp,
    /// Inode change time.
    pub ctime: Timestamp,
    /// Modification time.
    pub mtime: Timestamp,
    /// Creation time.
    pub crtime: Timestamp,
    /// Hard link count.
    pub links: u16,
    /// Blocks in use, in 512-byte units.
    pub sectors: u64,
    /// Inode flags.
    pub flags: u32,
    /// The 60-byte `i_block` area (extent header, symlink target, device).
    pub i_block: [u8; I_BLOCK_LEN],
    /// Block holding the extended attributes that did not fit in the inode.
    pub xattr_block: u64,
    /// The in-inode extended attribute area (magic included), or empty.
    pub ibody_xattrs: Vec<u8>,
    /// `i_generation`: 0 for inodes this crate creates; an update keeps
    /// an existing inode's (checksums are seeded with it).
    pub generation: u32,
}

impl Default for InodeRecord {
    fn default() -> Self {
        InodeRecord {
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            atime: Timestamp::default(),
            ctime: Timestamp::default(),
            mtime: Timestamp::default(),
            crtime: Timestamp::default(),
            links: 0,
            sectors: 0,
            flags: 0,
            i_block: [0; I_BLOCK_LEN],
            xattr_block: 0,
            ibody_xattrs: Vec::new(),
            generation: 0,
        }
    }
}

impl InodeRecord {
    /// The on-disk bytes of inode number `ino`, checksum included.
    pub fn encode(&self, ino: u32, csum: &Checksummer) -> [u8; INODE_SIZE as usize] {
        let mut b = [0u8; INODE_SIZE as usize];
        put_u16(&mut b, I_MODE, self.mode);
        put_u16(&mut b, I_UID, lo16(self.uid));
        put_u32(&mut b, I_SIZE_LO, lo32(self.size));
        let (atime, atime_extra) = encode_time(self.atime);
        let (ctime, ctime_extra) = encode_time(self.ctime);
        let (mtime, mtime_extra) = encode_time(self.mtime);
        let (crtime, crtime_extra) = encode_time(self.crtime);
        put_u32(&mut b, I_ATIME, atime);
        put_u32(&mut b, I_CTIME, ctime);
        put_u32(&mut b, I_MTIME, mtime);
        put_u16(&mut b, I_GID, lo16(self.gid));
        put_u16(&mut b, I_LINKS_COUNT, self.links);
        put_u32(&mut b, I_BLOCKS_LO, lo32(self.sectors));
        put_u32(&mut b, I_FLAGS, self.flags);
        b[I_BLOCK..I_BLOCK + I_BLOCK_LEN].copy_from_slice(&self.i_block);
        put_u32(&mut b, I_FILE_ACL_LO, lo32(self.xattr_block));
        put_u32(&mut b, I_SIZE_HIGH, hi32(self.size));
        put_u16(&mut b, I_BLOCKS_HIGH, (self.sectors >> 32) as u16);
        put_u16(&mut b, I_FILE_ACL_HIGH, (self.xattr_block >> 32) as u16);
        put_u16(&mut b, I_UID_HIGH, hi16(self.uid));
        put_u16(&mut b, I_GID_HIGH, hi16(self.gid));
        put_u16(&mut b, I_EXTRA_ISIZE, EXTRA_ISIZE);
        put_u32(&mut b, I_CTIME_EXTRA, ctime_extra);
        put_u32(&mut b, I_MTIME_EXTRA, mtime_extra);
        put_u32(&mut b, I_ATIME_EXTRA, atime_extra);
        put_u32(&mut b, I_CRTIME, crtime);
        put_u32(&mut b, I_CRTIME_EXTRA, crtime_extra);
        let area = &mut b[IBODY_XATTR_OFFSET..];
        let n = self.ibody_xattrs.len().min(area.len());
        area[..n].copy_from_slice(&self.ibody_xattrs[..n]);
        put_u32(&mut b, I_GENERATION, self.generation);
        let sum = csum.inode(ino, self.generation, &b);
        put_u16(&mut b, I_CHECKSUM_LO, lo16(sum));
        put_u16(&mut b, I_CHECKSUM_HI, hi16(sum));
        b
    }
}
