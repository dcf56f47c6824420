//! The internal jbd2 journal: an empty, clean journal whose first block is
//! the journal superblock, as mke2fs writes it.

use super::bytes::put_be32;

const JBD2_MAGIC: u32 = 0xC03B_3998;
const JBD2_SUPERBLOCK_V2: u32 = 4;

/// The journal superblock (first block of the journal) for a journal of
/// `blocks` blocks in a filesystem with this UUID.
pub fn superblock(block_size: u32, blocks: u32, uuid: &[u8; 16]) -> Vec<u8> {
    let mut b = vec![0u8; block_size as usize];
    put_be32(&mut b, 0x00, JBD2_MAGIC);
    put_be32(&mut b, 0x04, JBD2_SUPERBLOCK_V2);
    put_be32(&mut b, 0x0C, block_size);
    put_be32(&mut b, 0x10, blocks);
    put_be32(&mut b, 0x14, 1); // s_first: first log block
    put_be32(&mut b, 0x18, 1); // s_sequence
    b[0x30..0x40].copy_from_slice(uuid);
    put_be32(&mut b, 0x40, 1); // s_nr_users
    b
}
