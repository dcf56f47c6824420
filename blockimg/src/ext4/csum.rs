//! metadata_csum checksums (crc32c) of every ext4 structure that carries one.
//! The reader hands them structures read from untrusted images: a
//! structure shorter than its format is checksummed as far as it goes (and
//! then fails the comparison), never indexed past its end.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::bytes::available as part;
use super::format::group_desc::{BG_CHECKSUM, BG_CHECKSUM_END};
use super::format::inode::{GOOD_OLD_INODE_SIZE, I_CHECKSUM_HI, I_CHECKSUM_LO, I_EXTRA_ISIZE};
use super::format::superblock::S_CHECKSUM;
use super::format::xattr::H_CHECKSUM;

/// Where the high half of an inode's checksum ends.
const I_CHECKSUM_HI_END: usize = I_CHECKSUM_HI + 2;

/// Whether an inode's extra fields (`i_extra_isize`) reach the high half of
/// its checksum (`i_checksum_hi`).
pub fn inode_has_csum_hi(inode: &[u8]) -> bool {
    inode.len() >= I_CHECKSUM_HI_END
        && usize::from(super::bytes::get_u16(inode, I_EXTRA_ISIZE))
            >= I_CHECKSUM_HI_END - GOOD_OLD_INODE_SIZE
}

/// Computes checksums seeded from the filesystem UUID.
#[derive(Clone, Copy, Debug)]
pub struct Checksummer {
    /// crc32c of the UUID: the seed of every checksum but the superblock's.
    seed: u32,
}

impl Checksummer {
    /// Checksums for the filesystem with this UUID.
    pub fn new(uuid: &[u8; 16]) -> Self {
        Checksummer::with_seed(crc32c_raw(!0, uuid))
    }

    /// Checksums seeded from `seed`, as stored in the superblock by the
    /// metadata_csum_seed feature.
    pub fn with_seed(seed: u32) -> Self {
        Checksummer { seed }
    }

    /// Superblock checksum over its first 1020 bytes.
    pub fn superblock(sb: &[u8]) -> u32 {
        crc32c_raw(!0, part(sb, ..S_CHECKSUM))
    }

    /// Seed for the structures owned by inode `ino` (extent blocks,
    /// directory blocks).
    pub fn inode_seed(&self, ino: u32, generation: u32) -> u32 {
        let crc = crc32c_raw(self.seed, &ino.to_le_bytes());
        crc32c_raw(crc, &generation.to_le_bytes())
    }

    /// Inode checksum over the whole inode (at least 128 bytes) with its
    /// checksum fields zero: the low half always, the high half when the
    /// inode's extra fields reach it ([`inode_has_csum_hi`]).
    pub fn inode(&self, ino: u32, generation: u32, inode: &[u8]) -> u32 {
        let mut crc = self.inode_seed(ino, generation);
        crc = crc32c_raw(crc, part(inode, ..I_CHECKSUM_LO));
        crc = crc32c_raw(crc, &[0, 0]);
        if inode_has_csum_hi(inode) {
            crc = crc32c_raw(crc, part(inode, I_CHECKSUM_LO + 2..I_CHECKSUM_HI));
            crc = crc32c_raw(crc, &[0, 0]);
            crc32c_raw(crc, part(inode, I_CHECKSUM_HI_END..))
        } else {
            crc32c_raw(crc, part(inode, I_CHECKSUM_LO + 2..))
        }
    }

    /// Group descriptor checksum (16 bits) with `bg_checksum` zero.
    pub fn group_desc(&self, group: u32, desc: &[u8]) -> u16 {
        let mut crc = crc32c_raw(self.seed, &group.to_le_bytes());
        crc = crc32c_raw(crc, part(desc, ..BG_CHECKSUM));
        crc = crc32c_raw(crc, &[0, 0]);
        crc = crc32c_raw(crc, part(desc, BG_CHECKSUM_END..));
        crc as u16
    }

    /// Bitmap checksum over the bitmap's meaningful bytes.
    pub fn bitmap(&self, bitmap: &[u8]) -> u32 {
        crc32c_raw(self.seed, bitmap)
    }

    /// Checksum of data owned by an inode (extent block, directory leaf
    /// block): `inode_seed` continued over `data`.
    pub fn owned(inode_seed: u32, data: &[u8]) -> u32 {
        crc32c_raw(inode_seed, data)
    }

    /// Extended attribute block checksum, with `h_checksum` zero.
    pub fn xattr_block(&self, block_nr: u64, block: &[u8]) -> u32 {
        let mut crc = crc32c_raw(self.seed, &block_nr.to_le_bytes());
        crc = crc32c_raw(crc, part(block, ..H_CHECKSUM));
        crc = crc32c_raw(crc, &[0; 4]);
        crc32c_raw(crc, part(block, H_CHECKSUM + 4..))
    }
}

/// CRC32C (Castagnoli) without the customary pre- and post-inversion: the
/// form ext4 chains its `metadata_csum` checksums with. Start a chain with
/// `!0`; the on-disk checksum is the final value as is.
pub fn crc32c_raw(crc: u32, data: &[u8]) -> u32 {
    !crc32c::crc32c_append(!crc, data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext4::bytes::get_u16;
    use crate::ext4::format::superblock::{
        CRC32C_CHKSUM, SUPERBLOCK_LEN, SUPERBLOCK_OFFSET, SUPER_MAGIC, S_CHECKSUM_TYPE, S_MAGIC,
    };
    use crate::ext4::test_tools::{e2fsprogs, le32, make_image};

    #[test]
    fn crc32c_raw_matches_superblock_checksum() {
        let Some((mke2fs, _)) = e2fsprogs() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let img = make_image(&mke2fs, dir.path(), "metadata_csum");
        let image = std::fs::read(&img).unwrap();
        let sb = &image[SUPERBLOCK_OFFSET as usize..][..SUPERBLOCK_LEN];
        assert_eq!(get_u16(sb, S_MAGIC), SUPER_MAGIC);
        assert_eq!(
            sb[S_CHECKSUM_TYPE], CRC32C_CHKSUM,
            "s_checksum_type is crc32c"
        );
        assert_eq!(crc32c_raw(!0, &sb[..S_CHECKSUM]), le32(sb, S_CHECKSUM));
    }

    #[test]
    fn crc32c_raw_chains() {
        // The standard check value of CRC32C is 0xe3069283 for "123456789".
        assert_eq!(!crc32c_raw(!0, b"123456789"), 0xe306_9283);
        let whole = crc32c_raw(!0, b"hello world");
        let split = crc32c_raw(crc32c_raw(!0, b"hello "), b"world");
        assert_eq!(whole, split);
        assert_eq!(crc32c_raw(0x1234, b""), 0x1234);
    }
}
