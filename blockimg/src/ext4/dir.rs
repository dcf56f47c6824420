//! Directories: packing entries into blocks, and for directories larger than
//! one block an htree (hashed B-tree) index built at write time (blocks
//! laid out as in [`super::format::dir`]).

use std::ops::Range;

use super::bytes::{put_u16, put_u32};
use super::csum::Checksummer;
use super::format::dir::*;
use super::hash::{dx_hash, HashVersion};
use crate::error::{Error, Result};

/// The hash the htree uses (half_md4; signed or unsigned chars are chosen by
/// the superblock flag, which blockimg sets to signed like mke2fs on x86).
pub const HASH_VERSION: HashVersion = HashVersion::HalfMd4;

/// How a directory's entries are spread over its blocks. Entry indices
/// refer to the directory's entries in the order the planner lists them.
#[derive(Clone, Debug)]
pub enum DirLayout {
    /// Unindexed: block `i` holds the entries in `blocks[i]`; block 0 also
    /// holds `.` and `..`.
    Linear {
        /// Entry ranges per block.
        blocks: Vec<Range<usize>>,
    },
    /// Indexed: block 0 is the dx root, then `nodes` index blocks, then the
    /// leaves.
    Htree {
        /// Entry indices in hash order.
        order: Vec<u32>,
        /// Per leaf: the range of `order` it holds and its index hash
        /// (low bit set when it continues a hash run from the previous leaf).
        leaves: Vec<(Range<usize>, u32)>,
        /// Number of index (dx node) blocks: 0 for a one-level tree.
        nodes: usize,
    },
}

impl DirLayout {
    /// Number of blocks of the directory.
    pub fn block_count(&self) -> usize {
        match self {
            DirLayout::Linear { blocks } => blocks.len(),
            DirLayout::Htree { leaves, nodes, .. } => 1 + nodes + leaves.len(),
        }
    }

    /// True for an htree-indexed directory.
    pub fn is_indexed(&self) -> bool {
        matches!(self, DirLayout::Htree { .. })
    }
}

/// Plans the blocks of a directory whose entries have these names.
/// `min_blocks` pads an unindexed directory with empty blocks (lost+found).
pub fn plan(
    names: &[&[u8]],
    block_size: u32,
    seed: &[u32; 4],
    min_blocks: usize,
) -> Result<DirLayout> {
    let bs = block_size as usize;
    let room = bs - LEAF_TAIL_LEN;
    let total: usize = 2 * DOT_REC_LEN + names.iter().map(|n| rec_len(n.len())).sum::<usize>();
    if total <= room || min_blocks > 1 {
        let mut blocks = Vec::new();
        let mut start = 0;
        let mut used = 2 * DOT_REC_LEN;
        for (i, name) in names.iter().enumerate() {
            let len = rec_len(name.len());
            if used + len > room {
                blocks.push(start..i);
                start = i;
                used = 0;
            }
            used += len;
        }
        blocks.push(start..names.len());
        while blocks.len() < min_blocks {
            blocks.push(names.len()..names.len());
        }
        return Ok(DirLayout::Linear { blocks });
    }
    let mut keyed: Vec<(u32, u32, u32)> = names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let h = dx_hash(HASH_VERSION, name, seed);
            (h.major, h.minor, i as u32)
        })
        .collect();
    keyed.sort_unstable();
    let mut leaves: Vec<(Range<usize>, u32)> = Vec::new();
    let mut start = 0;
    let mut used = 0;
    for (pos, &(_, _, index)) in keyed.iter().enumerate() {
        let len = rec_len(names[index as usize].len());
        if used + len > room {
            leaves.push((start..pos, 0));
            start = pos;
            used = 0;
        }
        used += len;
    }
    leaves.push((start..keyed.len(), 0));
    for i in 1..leaves.len() {
        let first = keyed[leaves[i].0.start].0;
        let prev_last = keyed[leaves[i - 1].0.end - 1].0;
        leaves[i].1 = if first == prev_last { first | 1 } else { first };
    }
    let (rl, nl) = (dx_root_limit(bs), dx_node_limit(bs));
    let nodes = if leaves.len() <= rl {
        0
    } else {
        let n = leaves.len().div_ceil(nl);
        if n > rl {
            return Err(Error::TooLarge {
                what: "directory".into(),
                size: (names.len()) as u64,
                limit: (rl * nl * (room / rec_len(1))) as u64,
            });
        }
        n
    };
    Ok(DirLayout::Htree {
        order: keyed.into_iter().map(|k| k.2).collect(),
        leaves,
        nodes,
    })
}

/// What a directory block needs to know about the directory.
pub struct DirContext<'a> {
    /// Block size in bytes.
    pub block_size: u32,
    /// The directory's inode number.
    pub ino: u32,
    /// Its parent's inode number.
    pub parent_ino: u32,
    /// Names of the entries.
    pub names: &'a [&'a [u8]],
    /// Inode number and file type (ext4 `file_type`) of each entry.
    pub targets: &'a [(u32, u8)],
    /// Checksum seed of the directory inode.
    pub inode_seed: u32,
}

impl DirContext<'_> {
    fn dirent(&self, buf: &mut [u8], at: usize, ino: u32, name: &[u8], ftype: u8, len: usize) {
        put_u32(buf, at + DE_INODE, ino);
        put_u16(buf, at + DE_REC_LEN, len as u16);
        buf[at + DE_NAME_LEN] = name.len() as u8;
        buf[at + DE_FILE_TYPE] = ftype;
        buf[at + DE_NAME..at + DE_NAME + name.len()].copy_from_slice(name);
    }

    /// A leaf block holding `entries` (indices), with `.` and `..` first
    /// when `dots`.
    fn leaf(&self, entries: impl Iterator<Item = usize>, dots: bool) -> Vec<u8> {
        let bs = self.block_size as usize;
        let mut buf = vec![0u8; bs];
        let mut at = 0;
        let mut last = None;
        if dots {
            self.dirent(&mut buf, 0, self.ino, b".", FT_DIR, DOT_REC_LEN);
            let parent = self.parent_ino;
            self.dirent(&mut buf, DOT_REC_LEN, parent, b"..", FT_DIR, DOT_REC_LEN);
            last = Some(DOT_REC_LEN);
            at = 2 * DOT_REC_LEN;
        }
        for i in entries {
            let name = self.names[i];
            let (ino, ftype) = self.targets[i];
            let len = rec_len(name.len());
            self.dirent(&mut buf, at, ino, name, ftype, len);
            last = Some(at);
            at += len;
        }
        let end = bs - LEAF_TAIL_LEN;
        match last {
            Some(l) => put_u16(&mut buf, l + DE_REC_LEN, (end - l) as u16),
            None => put_u16(&mut buf, DE_REC_LEN, end as u16),
        }
        // Checksum tail: an empty record of its own length, marked by its
        // file type.
        put_u16(&mut buf, end + DE_REC_LEN, LEAF_TAIL_LEN as u16);
        buf[end + DE_FILE_TYPE] = FT_DIR_CSUM;
        let sum = Checksummer::owned(self.inode_seed, &buf[..end]);
        put_u32(&mut buf, end + DET_CHECKSUM, sum);
        buf
    }

    /// Block `index` of a directory with this layout.
    pub fn block(&self, layout: &DirLayout, index: usize) -> Vec<u8> {
        match layout {
            DirLayout::Linear { blocks } => self.leaf(blocks[index].clone(), index == 0),
            DirLayout::Htree {
                order,
                leaves,
                nodes,
            } => {
                let first_leaf = 1 + nodes;
                if index >= first_leaf {
                    let range = leaves[index - first_leaf].0.clone();
                    return self.leaf(order[range].iter().map(|&i| i as usize), false);
                }
                let nl = dx_node_limit(self.block_size as usize);
                let hashes = |range: Range<usize>| -> Vec<(u32, u32)> {
                    range
                        .map(|leaf| (leaves[leaf].1, (first_leaf + leaf) as u32))
                        .collect()
                };
                if index == 0 {
                    let entries: Vec<(u32, u32)> = if *nodes == 0 {
                        hashes(0..leaves.len())
                    } else {
                        (0..*nodes)
                            .map(|n| (leaves[n * nl].1, (1 + n) as u32))
                            .collect()
                    };
                    self.dx_root(&entries, u8::from(*nodes > 0))
                } else {
                    let n = index - 1;
                    let end = ((n + 1) * nl).min(leaves.len());
                    self.dx_node(&hashes(n * nl..end))
                }
            }
        }
    }

    fn dx_root(&self, entries: &[(u32, u32)], levels: u8) -> Vec<u8> {
        let bs = self.block_size as usize;
        let mut buf = vec![0u8; bs];
        self.dirent(&mut buf, 0, self.ino, b".", FT_DIR, DOT_REC_LEN);
        let (parent, rest) = (self.parent_ino, bs - DOT_REC_LEN);
        self.dirent(&mut buf, DOT_REC_LEN, parent, b"..", FT_DIR, rest);
        buf[DX_ROOT_HASH_VERSION] = HASH_VERSION as u8;
        buf[DX_ROOT_INFO_LENGTH] = DX_ROOT_INFO_LEN;
        buf[DX_ROOT_INDIRECT_LEVELS] = levels;
        self.dx_entries(&mut buf, DX_ROOT_ENTRIES, dx_root_limit(bs), entries);
        buf
    }

    fn dx_node(&self, entries: &[(u32, u32)]) -> Vec<u8> {
        let bs = self.block_size as usize;
        let mut buf = vec![0u8; bs];
        put_u16(&mut buf, DE_REC_LEN, bs as u16);
        self.dx_entries(&mut buf, DX_NODE_ENTRIES, dx_node_limit(bs), entries);
        buf
    }

    /// Writes the count/limit header, the entries and the dx tail checksum.
    fn dx_entries(&self, buf: &mut [u8], at: usize, limit: usize, entries: &[(u32, u32)]) {
        put_u16(buf, at + DX_LIMIT, limit as u16);
        put_u16(buf, at + DX_COUNT, entries.len() as u16);
        for (i, &(hash, block)) in entries.iter().enumerate() {
            let entry = at + i * DX_ENTRY_LEN;
            // The first entry's hash is the count/limit header.
            if i > 0 {
                put_u32(buf, entry + DX_HASH, hash);
            }
            put_u32(buf, entry + DX_BLOCK, block);
        }
        let tail = dx_tail_offset(at, limit);
        let covered = dx_tail_offset(at, entries.len());
        let mut sum = Checksummer::owned(self.inode_seed, &buf[..covered]);
        // The tail's reserved word, then its checksum field as zero.
        sum = Checksummer::owned(sum, &buf[tail..tail + DT_CHECKSUM]);
        sum = Checksummer::owned(sum, &[0; 4]);
        put_u32(buf, tail + DT_CHECKSUM, sum);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_directories_are_one_linear_block() {
        let names: Vec<&[u8]> = vec![b"a", b"b"];
        let l = plan(&names, 4096, &[0; 4], 1).unwrap();
        assert_eq!(l.block_count(), 1);
        assert!(!l.is_indexed());
    }

    #[test]
    fn large_directories_get_an_index() {
        let owned: Vec<Vec<u8>> = (0..10_000)
            .map(|i| format!("file-{i}").into_bytes())
            .collect();
        let names: Vec<&[u8]> = owned.iter().map(|n| n.as_slice()).collect();
        let l = plan(&names, 4096, &[1, 2, 3, 4], 1).unwrap();
        assert!(l.is_indexed());
        if let DirLayout::Htree { leaves, order, .. } = &l {
            assert_eq!(order.len(), 10_000);
            let held: usize = leaves.iter().map(|(r, _)| r.len()).sum();
            assert_eq!(held, 10_000);
        }
    }

    #[test]
    fn lost_and_found_pads_to_min_blocks() {
        let l = plan(&[], 4096, &[0; 4], 4).unwrap();
        assert_eq!(l.block_count(), 4);
        assert!(!l.is_indexed());
    }
}
