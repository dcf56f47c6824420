//! The inode (`struct ext4_inode`): [`GOOD_OLD_INODE_SIZE`] bytes every
//! revision has, then `i_extra_isize` bytes of extra fields, then the
//! in-inode extended attributes up to `s_inode_size`. Little-endian; the
//! 32-bit owner, size, block count and xattr block are split in low and
//! high halves. Also the reserved inode numbers, the inode flags, and the
//! two encodings stored in inode fields: times with nanoseconds and epoch
//! bits, and device numbers in `i_block`.

use crate::ext4::bytes::{get_u32, put_u32};
use crate::tree::Timestamp;

/// Inode number of the root directory (`EXT4_ROOT_INO`).
///
/// # Examples
///
/// ```
/// use blockimg::ext4::read::ROOT_INO;
///
/// // Inode 1 holds bad blocks; the root directory is always inode 2.
/// assert_eq!(ROOT_INO, 2);
/// ```
pub const ROOT_INO: u32 = 2;
/// Inode number of the resize inode (`EXT4_RESIZE_INO`).
pub(crate) const RESIZE_INO: u32 = 7;
/// Inode number of the journal (`EXT4_JOURNAL_INO`).
pub(crate) const JOURNAL_INO: u32 = 8;

/// Bytes of the fields every inode has, before the extra fields
/// (`EXT4_GOOD_OLD_INODE_SIZE`); the inode size of revision 0.
pub(crate) const GOOD_OLD_INODE_SIZE: usize = 128;
/// Bytes of `i_block`: the extent tree root, the ext2/3 block map, a fast
/// symlink's target or a device number.
pub(crate) const I_BLOCK_LEN: usize = 60;
/// Direct block pointers at the start of an ext2/3 block map in `i_block`
/// (`EXT4_NDIR_BLOCKS`); the single, double and triple indirect pointers
/// follow.
pub(crate) const NDIR_BLOCKS: usize = 12;
/// The double indirect pointer's index in an ext2/3 block map
/// (`EXT4_DIND_BLOCK`).
pub(crate) const DIND_BLOCK: usize = NDIR_BLOCKS + 1;

/// `i_mode` (u16): file type and permission bits.
pub(crate) const I_MODE: usize = 0x00;
/// `i_uid` (u16): owner, low half.
pub(crate) const I_UID: usize = 0x02;
/// `i_size_lo` (u32).
pub(crate) const I_SIZE_LO: usize = 0x04;
/// `i_atime` (u32): access time, seconds.
pub(crate) const I_ATIME: usize = 0x08;
/// `i_ctime` (u32): inode change time, seconds.
pub(crate) const I_CTIME: usize = 0x0C;
/// `i_mtime` (u32): modification time, seconds.
pub(crate) const I_MTIME: usize = 0x10;
/// `i_gid` (u16): group, low half.
pub(crate) const I_GID: usize = 0x18;
/// `i_links_count` (u16).
pub(crate) const I_LINKS_COUNT: usize = 0x1A;
/// `i_blocks_lo` (u32): blocks in use, in 512-byte units.
pub(crate) const I_BLOCKS_LO: usize = 0x1C;
/// `i_flags` (u32): the `*_FL` flags.
pub(crate) const I_FLAGS: usize = 0x20;
/// `i_block` ([`I_BLOCK_LEN`] bytes).
pub(crate) const I_BLOCK: usize = 0x28;
/// `i_generation` (u32): seeds the checksums of what the inode owns.
pub(crate) const I_GENERATION: usize = 0x64;
/// `i_file_acl_lo` (u32): the extended attribute block.
pub(crate) const I_FILE_ACL_LO: usize = 0x68;
/// `i_size_high` (u32).
pub(crate) const I_SIZE_HIGH: usize = 0x6C;
/// `i_blocks_high` (u16), with huge_file.
pub(crate) const I_BLOCKS_HIGH: usize = 0x74;
/// `i_file_acl_high` (u16), with 64bit.
pub(crate) const I_FILE_ACL_HIGH: usize = 0x76;
/// `i_uid_high` (u16).
pub(crate) const I_UID_HIGH: usize = 0x78;
/// `i_gid_high` (u16).
pub(crate) const I_GID_HIGH: usize = 0x7A;
/// `i_checksum_lo` (u16): low half of the crc32c.
pub(crate) const I_CHECKSUM_LO: usize = 0x7C;
/// `i_extra_isize` (u16): bytes of extra fields after the first 128.
pub(crate) const I_EXTRA_ISIZE: usize = 0x80;
/// `i_checksum_hi` (u16): high half of the crc32c, when the extra fields
/// reach it.
pub(crate) const I_CHECKSUM_HI: usize = 0x82;
/// `i_ctime_extra` (u32): epoch bits and nanoseconds of `i_ctime`.
pub(crate) const I_CTIME_EXTRA: usize = 0x84;
/// `i_mtime_extra` (u32).
pub(crate) const I_MTIME_EXTRA: usize = 0x88;
/// `i_atime_extra` (u32).
pub(crate) const I_ATIME_EXTRA: usize = 0x8C;
/// `i_crtime` (u32): creation time, seconds.
pub(crate) const I_CRTIME: usize = 0x90;
/// `i_crtime_extra` (u32).
pub(crate) const I_CRTIME_EXTRA: usize = 0x94;

/// Blocks are counted in filesystem blocks, not sectors
/// (`EXT4_HUGE_FILE_FL`).
pub(crate) const HUGE_FILE_FL: u32 = 0x4_0000;
/// Data is encrypted (`EXT4_ENCRYPT_FL`).
pub(crate) const ENCRYPT_FL: u32 = 0x800;
/// Directory has an htree index (`EXT4_INDEX_FL`).
pub(crate) const INDEX_FL: u32 = 0x0000_1000;
/// Inode uses extents (`EXT4_EXTENTS_FL`).
pub(crate) const EXTENTS_FL: u32 = 0x0008_0000;
/// Data lives in the inode itself (`EXT4_INLINE_DATA_FL`).
pub(crate) const INLINE_DATA_FL: u32 = 0x1000_0000;

/// Encodes a time as ext4 stores it: the low 32 bits of the seconds, and
/// an extra word holding two epoch bits and the nanoseconds.
pub(crate) fn encode_time(t: Timestamp) -> (u32, u32) {
    let low = t.secs as i32;
    let epoch = ((t.secs - i64::from(low)) >> 32) as u32 & 3;
    (low as u32, (t.nanos.min(999_999_999) << 2) | epoch)
}

/// A time from its 32-bit seconds field and its extra field (two epoch
/// bits extending the seconds past 2038, then the nanoseconds).
pub(crate) fn decode_time(secs: u32, extra: u32) -> Timestamp {
    Timestamp {
        secs: i64::from(secs as i32) + (i64::from(extra & 3) << 32),
        nanos: (extra >> 2).min(999_999_999),
    }
}

/// The `i_block` of a device: the old 8:8 encoding in the first word when
/// both numbers fit it, else the new 12:20 one in the second.
pub(crate) fn encode_device(major: u32, minor: u32) -> [u8; I_BLOCK_LEN] {
    let mut i_block = [0; I_BLOCK_LEN];
    if major < 256 && minor < 256 {
        put_u32(&mut i_block, 0, (major << 8) | minor);
    } else {
        let new = (minor & 0xFF) | (major << 8) | ((minor & !0xFF) << 12);
        put_u32(&mut i_block, 4, new);
    }
    i_block
}

/// Device numbers from `i_block`: the old 8:8 encoding in the first word,
/// or the new 12:20 one in the second.
pub(crate) fn decode_device(i_block: &[u8; I_BLOCK_LEN]) -> (u32, u32) {
    let old = get_u32(i_block, 0);
    if old != 0 {
        ((old >> 8) & 0xFF, old & 0xFF)
    } else {
        let new = get_u32(i_block, 4);
        (
            (new & 0xF_FF00) >> 8,
            (new & 0xFF) | ((new >> 12) & 0xF_FF00),
        )
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

    #[test]
    fn times_decode_what_the_writer_encodes() {
        for secs in [
            0,
            1,
            -1,
            i64::from(i32::MAX) + 1,
            (1 << 32) + 7,
            4_300_000_000,
            -(1 << 31),
        ] {
            let t = Timestamp {
                secs,
                nanos: 123_456_789,
            };
            let (lo, extra) = encode_time(t);
            assert_eq!(decode_time(lo, extra), t, "{secs}");
        }
    }

    #[test]
    fn devices_in_both_encodings() {
        let mut i_block = [0u8; I_BLOCK_LEN];
        i_block[..4].copy_from_slice(&((1u32 << 8) | 3).to_le_bytes());
        assert_eq!(decode_device(&i_block), (1, 3));
        assert_eq!(encode_device(1, 3), i_block);
        let (major, minor) = (4000u32, 1_000_000u32);
        let mut i_block = [0u8; I_BLOCK_LEN];
        let new = (minor & 0xFF) | (major << 8) | ((minor & !0xFF) << 12);
        i_block[4..8].copy_from_slice(&new.to_le_bytes());
        assert_eq!(decode_device(&i_block), (major, minor));
        assert_eq!(encode_device(major, minor), i_block);
        for (major, minor) in [(0, 0), (255, 255), (256, 0), (0, 256), (4095, 0xF_FFFF)] {
            assert_eq!(decode_device(&encode_device(major, minor)), (major, minor));
        }
    }
}
