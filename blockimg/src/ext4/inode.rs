//! The 256-byte on-disk inode: fields, nanosecond timestamps and the
//! metadata_csum checksum.

use super::bytes::{hi16, hi32, lo16, lo32, put_u16, put_u32};
use super::csum::Checksummer;
use super::format::inode::I_BLOCK_LEN;
use super::geometry::INODE_SIZE;
use crate::tree::Timestamp;

/// Inode uses extents (`EXT4_EXTENTS_FL`).
pub const EXTENTS_FL: u32 = 0x0008_0000;
/// Directory has an htree index (`EXT4_INDEX_FL`).
pub const INDEX_FL: u32 = 0x0000_1000;
/// Size of the fixed inode fields past the first 128 bytes.
pub const EXTRA_ISIZE: u16 = 32;
/// Offset of the in-inode extended attribute area.
pub const IBODY_XATTR_OFFSET: usize = 128 + EXTRA_ISIZE as usize;

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
        }
    }
}

/// Encodes seconds and nanoseconds as ext4 stores them: the low 32 bits of
/// the seconds, and an extra word holding two epoch bits and the nanoseconds.
pub fn encode_time(t: Timestamp) -> (u32, u32) {
    let low = t.secs as i32;
    let epoch = ((t.secs - i64::from(low)) >> 32) as u32 & 3;
    (low as u32, (t.nanos.min(999_999_999) << 2) | epoch)
}

impl InodeRecord {
    /// The on-disk bytes of inode number `ino`, checksum included.
    pub fn encode(&self, ino: u32, csum: &Checksummer) -> [u8; INODE_SIZE as usize] {
        let mut b = [0u8; INODE_SIZE as usize];
        put_u16(&mut b, 0x00, self.mode);
        put_u16(&mut b, 0x02, lo16(self.uid));
        put_u32(&mut b, 0x04, lo32(self.size));
        let (atime, atime_extra) = encode_time(self.atime);
        let (ctime, ctime_extra) = encode_time(self.ctime);
        let (mtime, mtime_extra) = encode_time(self.mtime);
        let (crtime, crtime_extra) = encode_time(self.crtime);
        put_u32(&mut b, 0x08, atime);
        put_u32(&mut b, 0x0C, ctime);
        put_u32(&mut b, 0x10, mtime);
        put_u16(&mut b, 0x18, lo16(self.gid));
        put_u16(&mut b, 0x1A, self.links);
        put_u32(&mut b, 0x1C, lo32(self.sectors));
        put_u32(&mut b, 0x20, self.flags);
        b[0x28..0x28 + I_BLOCK_LEN].copy_from_slice(&self.i_block);
        put_u32(&mut b, 0x68, lo32(self.xattr_block));
        put_u32(&mut b, 0x6C, hi32(self.size));
        put_u16(&mut b, 0x74, (self.sectors >> 32) as u16);
        put_u16(&mut b, 0x76, (self.xattr_block >> 32) as u16);
        put_u16(&mut b, 0x78, hi16(self.uid));
        put_u16(&mut b, 0x7A, hi16(self.gid));
        put_u16(&mut b, 0x80, EXTRA_ISIZE);
        put_u32(&mut b, 0x84, ctime_extra);
        put_u32(&mut b, 0x88, mtime_extra);
        put_u32(&mut b, 0x8C, atime_extra);
        put_u32(&mut b, 0x90, crtime);
        put_u32(&mut b, 0x94, crtime_extra);
        let area = &mut b[IBODY_XATTR_OFFSET..];
        let n = self.ibody_xattrs.len().min(area.len());
        area[..n].copy_from_slice(&self.ibody_xattrs[..n]);
        let sum = csum.inode(ino, 0, &b);
        put_u16(&mut b, 0x7C, lo16(sum));
        put_u16(&mut b, 0x82, hi16(sum));
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_past_2038_use_epoch_bits() {
        assert_eq!(encode_time(Timestamp { secs: 1, nanos: 5 }), (1, 5 << 2));
        let t = Timestamp {
            secs: (1i64 << 32) + 7,
            nanos: 0,
        };
        assert_eq!(encode_time(t), (7, 1));
        let before_1970 = Timestamp { secs: -1, nanos: 0 };
        assert_eq!(encode_time(before_1970), (u32::MAX, 0));
    }
}
