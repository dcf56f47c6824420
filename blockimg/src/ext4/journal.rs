//! The internal jbd2 journal: an empty, clean journal whose first block is
//! the journal superblock ([`super::format::jbd2`]), as mke2fs writes it.

use super::bytes::put_be32;
use super::format::jbd2::*;

/// The journal superblock (first block of the journal) for a journal of
/// `blocks` blocks in a filesystem with this UUID.
pub fn superblock(block_size: u32, blocks: u32, uuid: &[u8; 16]) -> Vec<u8> {
    let mut b = vec![0u8; block_size as usize];
    put_be32(&mut b, H_MAGIC, JBD2_MAGIC);
    put_be32(&mut b, H_BLOCKTYPE, SUPERBLOCK_V2);
    put_be32(&mut b, S_BLOCKSIZE, block_size);
    put_be32(&mut b, S_MAXLEN, blocks);
    put_be32(&mut b, S_FIRST, 1); // the log follows the superblock
    put_be32(&mut b, S_SEQUENCE, 1);
    b[S_UUID..S_UUID + 16].copy_from_slice(uuid);
    put_be32(&mut b, S_NR_USERS, 1);
    b
}
