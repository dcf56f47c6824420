//! Which blocks hold a file's data: the extent tree of ext4, or the block
//! map of ext2/3 (twelve direct pointers, then single, double and triple
//! indirect blocks). Unwritten extents and unmapped blocks are holes.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::HashSet;

use super::inode::Inode;
use super::{Budget, Ext4Reader};
use crate::error::Result;
use crate::ext4::bytes::{get_u16, get_u32, join64};
use crate::ext4::csum::Checksummer;
use crate::ext4::format::extent::*;
use crate::ext4::format::inode::{EXTENTS_FL, NDIR_BLOCKS};

/// `len` blocks of a file from logical block `logical`, stored from
/// physical block `physical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct BlockRun {
    pub logical: u64,
    pub physical: u64,
    pub len: u64,
}

/// What an update needs of an inode it rewrites or deletes
/// ([`Ext4Reader::owned_blocks`]).
pub(crate) struct OwnedBlocks {
    /// Physical runs `(start, len)`: data, then extent tree blocks.
    pub runs: Vec<(u64, u64)>,
    /// `i_generation`, which seeds the inode's checksums.
    pub generation: u32,
    /// The external xattr block, 0 for none.
    pub xattr_block: u64,
    /// `i_flags`.
    pub flags: u32,
    /// The block map as the inode holds it.
    pub i_block: [u8; crate::ext4::format::inode::I_BLOCK_LEN],
    /// `i_blocks` in 512-byte units.
    pub sectors: u64,
    /// The whole on-disk inode.
    pub raw: Vec<u8>,
}

/// State of one walk over an inode's block map.
struct Walk<'a> {
    inode: &'a Inode,
    /// Logical blocks below the file's size; blocks from here on are ignored.
    limit: u64,
    /// Where the next extent may start (extents ascend without overlap).
    next_logical: u64,
    /// Tree or indirect blocks read so far: each may be read once.
    visited: HashSet<u64>,
    runs: Vec<BlockRun>,
    budget: &'a mut Budget,
    /// Whether unwritten extents count too (every block the inode owns).
    unwritten: bool,
}

impl Walk<'_> {
    /// Adds a mapped stretch, merged with the previous one when contiguous.
    fn push(&mut self, logical: u64, physical: u64, len: u64) {
        if logical >= self.limit {
            return;
        }
        let len = len.min(self.limit - logical);
        if let Some(last) = self.runs.last_mut() {
            if last.logical + last.len == logical && last.physical + last.len == physical {
                last.len += len;
                return;
            }
        }
        self.runs.push(BlockRun {
            logical,
            physical,
            len,
        });
    }
}

impl Ext4Reader {
    /// The mapped blocks of `inode` below its size, ascending.
    pub(super) fn block_map(&self, inode: &Inode, budget: &mut Budget) -> Result<Vec<BlockRun>> {
        self.block_map_from(inode, None, budget)
    }

    /// Like [`Ext4Reader::block_map`], walking the extent tree from `node`
    /// (a tree block at depth `node.1`) instead of the root in `i_block`.
    pub(super) fn block_map_from(
        &self,
        inode: &Inode,
        node: Option<(&[u8], u16)>,
        budget: &mut Budget,
    ) -> Result<Vec<BlockRun>> {
        let mut walk = Walk {
            inode,
            limit: inode.stat.size.div_ceil(self.sb.bs()),
            next_logical: 0,
            visited: HashSet::new(),
            runs: Vec::new(),
            budget,
            unwritten: false,
        };
        if let Some((node, depth)) = node {
            self.extent_node(node, Some(depth), &mut walk)?;
        } else if inode.stat.flags & EXTENTS_FL != 0 {
            self.extent_node(&inode.i_block, None, &mut walk)?;
        } else {
            self.indirect_map(&mut walk)?;
        }
        Ok(walk.runs)
    }

    /// Every block inode `ino` owns through its extent tree, whatever
    /// their state or position (unwritten extents and blocks past the
    /// size included), and the tree's own blocks: what an update frees
    /// when it replaces or deletes the inode. `None` for an inode mapped
    /// by an ext2/3 block map.
    pub(crate) fn owned_blocks(&self, ino: u32) -> Result<Option<OwnedBlocks>> {
        let inode = self.inode(ino)?;
        if inode.stat.flags & EXTENTS_FL == 0 {
            return Ok(None);
        }
        let mut budget = Budget::new(self);
        let mut walk = Walk {
            inode: &inode,
            limit: u64::MAX,
            next_logical: 0,
            visited: HashSet::new(),
            runs: Vec::new(),
            budget: &mut budget,
            unwritten: true,
        };
        self.extent_node(&inode.i_block, None, &mut walk)?;
        let mut runs: Vec<(u64, u64)> = walk.runs.iter().map(|r| (r.physical, r.len)).collect();
        runs.extend(walk.visited.iter().map(|&b| (b, 1)));
        Ok(Some(OwnedBlocks {
            runs,
            generation: inode.generation,
            xattr_block: inode.xattr_block,
            flags: inode.stat.flags,
            i_block: inode.i_block,
            sectors: inode.stat.blocks,
            raw: inode.raw.clone(),
        }))
    }

    /// The error for a block number outside the filesystem.
    fn check_range(&self, walk: &Walk, what: &str, block: u64, len: u64) -> Result<()> {
        let end = block.checked_add(len);
        if block < self.sb.first_data_block
            || block == 0
            || end.is_none_or(|end| end > self.sb.info.blocks_count)
        {
            return Err(self.volume.corrupt(
                format!("inode {} {what}", walk.inode.stat.ino),
                block,
                format!(
                    "{len} block(s) from there lie outside the filesystem's {} blocks",
                    self.sb.info.blocks_count
                ),
            ));
        }
        Ok(())
    }

    /// Reads a block of the map once: a block reached twice means a cycle or
    /// blocks shared between structures.
    fn map_block(&self, walk: &mut Walk, what: &str, block: u64) -> Result<Vec<u8>> {
        self.check_range(walk, what, block, 1)?;
        if !walk.visited.insert(block) {
            return Err(self.volume.corrupt(
                format!("inode {} {what}", walk.inode.stat.ino),
                block,
                "reached twice",
            ));
        }
        walk.budget.charge(&self.volume)?;
        let mut buf = vec![0u8; self.sb.bs() as usize];
        self.volume.read(block * self.sb.bs(), &mut buf)?;
        Ok(buf)
    }

    /// Walks one extent tree node: the root in `i_block` (`depth` `None`) or
    /// a tree block expected at `depth`.
    fn extent_node(&self, node: &[u8], depth: Option<u16>, walk: &mut Walk) -> Result<()> {
        let ino = walk.inode.stat.ino;
        let field = |name: &str| format!("inode {ino} extent node {name}");
        let vol = &self.volume;
        let magic = get_u16(node, EH_MAGIC);
        if magic != EXT_MAGIC {
            return Err(vol.corrupt(
                field("magic"),
                format!("{magic:#06x}"),
                format!("expected {EXT_MAGIC:#06x}"),
            ));
        }
        let (entries, max, node_depth) = (
            usize::from(get_u16(node, EH_ENTRIES)),
            usize::from(get_u16(node, EH_MAX)),
            get_u16(node, EH_DEPTH),
        );
        if entries > max || tail_offset(max) > node.len() {
            return Err(vol.corrupt(
                field("entry count"),
                format!("{entries} of {max}"),
                format!(
                    "a node of {} bytes holds at most {}",
                    node.len(),
                    node.len().saturating_sub(HEADER_LEN) / ENTRY_LEN
                ),
            ));
        }
        match depth {
            None if node_depth > MAX_EXTENT_DEPTH => {
                return Err(vol.corrupt(
                    field("depth"),
                    node_depth,
                    format!("trees are at most {MAX_EXTENT_DEPTH} levels deep"),
                ));
            }
            Some(expected) if node_depth != expected => {
                return Err(vol.corrupt(
                    field("depth"),
                    node_depth,
                    format!("its parent is at depth {}", expected + 1),
                ));
            }
            _ => {}
        }
        let table = node.get(HEADER_LEN..).unwrap_or_default();
        for entry in table.chunks_exact(ENTRY_LEN).take(entries) {
            // ee_block and ei_block alike.
            let logical = u64::from(get_u32(entry, EE_BLOCK));
            if node_depth == 0 {
                let raw_len = u64::from(get_u16(entry, EE_LEN));
                let (len, unwritten) = if raw_len > MAX_EXTENT_LEN {
                    (raw_len - MAX_EXTENT_LEN, true)
                } else {
                    (raw_len, false)
                };
                if len == 0 || logical < walk.next_logical {
                    return Err(vol.corrupt(
                        field("extent"),
                        format!("{len} blocks at logical block {logical}"),
                        "extents must be non-empty, ascending and not overlap",
                    ));
                }
                walk.next_logical = logical + len;
                if (unwritten && !walk.unwritten) || logical >= walk.limit {
                    continue;
                }
                let physical = join64(
                    get_u32(entry, EE_START_LO),
                    u32::from(get_u16(entry, EE_START_HI)),
                );
                self.check_range(walk, "extent", physical, len)?;
                walk.push(logical, physical, len);
            } else {
                if logical >= walk.limit {
                    continue;
                }
                let child = join64(
                    get_u32(entry, EI_LEAF_LO),
                    u32::from(get_u16(entry, EI_LEAF_HI)),
                );
                let block = self.map_block(walk, "extent tree block", child)?;
                if let Some(csum) = &self.sb.csum {
                    let tail = tail_offset(usize::from(get_u16(&block, EH_MAX)));
                    let covered = block.get(..tail).filter(|_| tail + 4 <= block.len());
                    if let Some(covered) = covered {
                        let seed = csum.inode_seed(ino, walk.inode.generation);
                        let structure = || format!("extent tree block {child} of inode {ino}");
                        vol.check_csum(
                            structure,
                            get_u32(&block, tail),
                            Checksummer::owned(seed, covered),
                        )?;
                    }
                }
                self.extent_node(&block, Some(node_depth - 1), walk)?;
            }
        }
        Ok(())
    }

    /// Walks the ext2/3 block map: direct pointers, then the single, double
    /// and triple indirect trees.
    fn indirect_map(&self, walk: &mut Walk) -> Result<()> {
        let per_block = self.sb.bs() / 4;
        let i_block = walk.inode.i_block;
        let pointer = |i: usize| u64::from(get_u32(&i_block, i * 4));
        for i in 0..NDIR_BLOCKS {
            self.indirect_entry(walk, pointer(i), 0, i as u64)?;
        }
        let mut first = NDIR_BLOCKS as u64;
        let mut span = 1u64;
        for level in 1..=3u32 {
            span = span.saturating_mul(per_block);
            self.indirect_entry(
                walk,
                pointer(NDIR_BLOCKS + level as usize - 1),
                level,
                first,
            )?;
            first = first.saturating_add(span);
        }
        Ok(())
    }

    /// Follows one pointer of the block map: a data block (`level` 0) or an
    /// indirect block `level` levels above the data, mapping from `logical`.
    fn indirect_entry(&self, walk: &mut Walk, block: u64, level: u32, logical: u64) -> Result<()> {
        if block == 0 || logical >= walk.limit {
            return Ok(());
        }
        if level == 0 {
            self.check_range(walk, "data block", block, 1)?;
            walk.push(logical, block, 1);
            return Ok(());
        }
        let per_block = self.sb.bs() / 4;
        let span = per_block.saturating_pow(level - 1);
        let buf = self.map_block(walk, "indirect block", block)?;
        for (i, pointer) in buf.chunks_exact(4).enumerate() {
            let child_logical = logical.saturating_add(span.saturating_mul(i as u64));
            if child_logical >= walk.limit {
                break;
            }
            self.indirect_entry(
                walk,
                u64::from(get_u32(pointer, 0)),
                level - 1,
                child_logical,
            )?;
        }
        Ok(())
    }
}
