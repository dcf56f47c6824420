//! Extent trees: the map from a file's logical blocks to disk blocks, in the
//! inode's `i_block` when it has at most four extents and in a tree of
//! extent blocks below it otherwise (nodes laid out as in
//! [`super::format::extent`]).

use super::bytes::{put_u16, put_u32};
use super::csum::Checksummer;
use super::format::extent::*;
use super::format::inode::I_BLOCK_LEN;

/// One extent: `len` blocks from logical block `logical` stored from
/// physical block `physical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    /// First logical block.
    pub logical: u32,
    /// First physical block.
    pub physical: u64,
    /// Number of blocks, `1..=32768`.
    pub len: u16,
}

/// Extent blocks needed to map `extents` extents.
pub fn tree_blocks(extents: usize, block_size: u32) -> u64 {
    let cap = block_entries(block_size as usize);
    let mut n = extents;
    let mut blocks = 0u64;
    while n > ROOT_ENTRIES {
        n = n.div_ceil(cap);
        blocks += n as u64;
    }
    blocks
}

/// An encoded extent tree.
#[derive(Clone, Debug)]
pub struct EncodedTree {
    /// The inode's `i_block`.
    pub i_block: [u8; I_BLOCK_LEN],
    /// Tree blocks with their physical block numbers.
    pub blocks: Vec<(u64, Vec<u8>)>,
}

enum Entry {
    Leaf(Extent),
    Index { logical: u32, block: u64 },
}

impl Entry {
    fn logical(&self) -> u32 {
        match *self {
            Entry::Leaf(e) => e.logical,
            Entry::Index { logical, .. } => logical,
        }
    }

    fn write(&self, buf: &mut [u8], at: usize) {
        match *self {
            Entry::Leaf(e) => {
                put_u32(buf, at + EE_BLOCK, e.logical);
                put_u16(buf, at + EE_LEN, e.len);
                put_u16(buf, at + EE_START_HI, (e.physical >> 32) as u16);
                put_u32(buf, at + EE_START_LO, e.physical as u32);
            }
            Entry::Index { logical, block } => {
                put_u32(buf, at + EI_BLOCK, logical);
                put_u32(buf, at + EI_LEAF_LO, block as u32);
                put_u16(buf, at + EI_LEAF_HI, (block >> 32) as u16);
            }
        }
    }
}

fn write_node(buf: &mut [u8], entries: &[Entry], max: usize, depth: u16) {
    put_u16(buf, EH_MAGIC, EXT_MAGIC);
    put_u16(buf, EH_ENTRIES, entries.len() as u16);
    put_u16(buf, EH_MAX, max as u16);
    put_u16(buf, EH_DEPTH, depth);
    for (i, entry) in entries.iter().enumerate() {
        entry.write(buf, HEADER_LEN + i * ENTRY_LEN);
    }
}

/// Encodes the tree mapping `extents` (ascending logical order), using
/// `tree_blocks` (exactly [`tree_blocks`] of them) for the blocks below the
/// inode. `inode_seed` seeds the blocks' checksums.
pub fn encode(
    extents: &[Extent],
    tree_block_numbers: &[u64],
    block_size: u32,
    inode_seed: u32,
) -> EncodedTree {
    let cap = block_entries(block_size as usize);
    let mut level: Vec<Entry> = extents.iter().map(|&e| Entry::Leaf(e)).collect();
    let mut depth = 0u16;
    let mut numbers = tree_block_numbers.iter();
    let mut blocks = Vec::new();
    while level.len() > ROOT_ENTRIES {
        let mut next = Vec::with_capacity(level.len().div_ceil(cap));
        for chunk in level.chunks(cap) {
            let number = *numbers.next().unwrap_or(&0);
            let mut buf = vec![0u8; block_size as usize];
            write_node(&mut buf, chunk, cap, depth);
            let tail = tail_offset(cap);
            let sum = Checksummer::owned(inode_seed, &buf[..tail]);
            put_u32(&mut buf, tail, sum);
            next.push(Entry::Index {
                logical: chunk[0].logical(),
                block: number,
            });
            blocks.push((number, buf));
        }
        level = next;
        depth += 1;
    }
    let mut i_block = [0u8; I_BLOCK_LEN];
    write_node(&mut i_block, &level, ROOT_ENTRIES, depth);
    EncodedTree { i_block, blocks }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext4::bytes::get_u16;

    fn extents(n: u32) -> Vec<Extent> {
        (0..n)
            .map(|i| Extent {
                logical: i * 2,
                physical: 1000 + u64::from(i) * 3,
                len: 1,
            })
            .collect()
    }

    #[test]
    fn four_extents_stay_in_the_inode() {
        assert_eq!(tree_blocks(4, 4096), 0);
        let t = encode(&extents(4), &[], 4096, 0);
        assert!(t.blocks.is_empty());
        assert_eq!(get_u16(&t.i_block, EH_ENTRIES), 4);
    }

    #[test]
    fn deep_trees_count_their_blocks() {
        assert_eq!(tree_blocks(5, 4096), 1);
        assert_eq!(tree_blocks(340 * 4, 4096), 4);
        assert_eq!(tree_blocks(340 * 4 + 1, 4096), 5 + 1);
        let n = 340 * 5;
        let numbers: Vec<u64> = (0..tree_blocks(n, 4096)).map(|i| 50 + i).collect();
        let t = encode(&extents(n as u32), &numbers, 4096, 0);
        assert_eq!(t.blocks.len(), numbers.len());
        // Root in the inode has depth 2.
        assert_eq!(get_u16(&t.i_block, EH_DEPTH), 2);
    }
}
