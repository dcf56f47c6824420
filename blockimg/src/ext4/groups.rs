//! The block groups once everything is placed: each group descriptor's
//! counts, flags and bitmap checksums, the block and inode bitmaps
//! themselves, and the superblock and descriptor table copies.

use super::alloc::Run;
use super::csum::Checksummer;
use super::format::group_desc::{BG_BLOCK_UNINIT, BG_INODE_UNINIT, BG_ITABLE_ZEROED};
use super::geometry::{has_super, Geometry, GroupLayout, INODE_SIZE};
use super::pieces::{Piece, PieceKind, Slot};
use super::superblock::GroupDesc;
use crate::tree::Tree;

/// Fills in every group descriptor (free and used counts, flags, bitmap
/// checksums) of a filesystem whose inode numbers hold `slots` (of `tree`)
/// and whose free blocks are `free`, and records the bitmaps and used
/// inode tables to write. Returns the free blocks of the filesystem.
pub fn describe(
    g: &Geometry,
    tree: &Tree,
    slots: &[Slot],
    free: &[Run],
    csum: &Checksummer,
    groups: &mut [GroupDesc],
    pieces: &mut Vec<Piece>,
) -> u64 {
    let bs = g.bs();
    let used_inodes = slots.len() as u64;
    let ipg = u64::from(g.inodes_per_group);
    let dirs_per_group = dirs_per_group(g, tree, slots);
    let mut free_iter = FreeCounter::new(free);
    let mut total_free = 0u64;
    for group in 0..g.groups {
        let desc = &mut groups[group as usize];
        let start = g.group_first_block(group);
        let len = g.group_len(group);
        let free_blocks = free_iter.free_in(start, start + len);
        total_free += free_blocks;
        let inodes_used = used_inodes.saturating_sub(u64::from(group) * ipg).min(ipg);
        desc.free_blocks = free_blocks as u32;
        desc.free_inodes = (ipg - inodes_used) as u32;
        desc.itable_unused = (ipg - inodes_used) as u32;
        desc.used_dirs = dirs_per_group[group as usize];
        desc.flags = BG_ITABLE_ZEROED;
        let used_blocks = len - free_blocks;
        if group != 0 && group + 1 != g.groups && used_blocks == g.backup_blocks(group) {
            desc.flags |= BG_BLOCK_UNINIT;
        } else {
            let bitmap = block_bitmap(g, free, group);
            desc.block_bitmap_csum = csum.bitmap(&bitmap[..(g.blocks_per_group / 8) as usize]);
            pieces.push(Piece {
                block: desc.block_bitmap,
                count: 1,
                kind: PieceKind::BlockBitmap(group),
            });
        }
        if group != 0 && inodes_used == 0 {
            desc.flags |= BG_INODE_UNINIT;
        } else {
            let bitmap = inode_bitmap(g, inodes_used);
            desc.inode_bitmap_csum = csum.bitmap(&bitmap[..(g.inodes_per_group / 8) as usize]);
            pieces.push(Piece {
                block: desc.inode_bitmap,
                count: 1,
                kind: PieceKind::InodeBitmap(group),
            });
            let table_blocks = (inodes_used * u64::from(INODE_SIZE)).div_ceil(bs);
            pieces.push(Piece {
                block: desc.inode_table,
                count: table_blocks,
                kind: PieceKind::InodeTable(group),
            });
        }
    }
    total_free
}

/// Directories among the inodes of each group.
fn dirs_per_group(g: &Geometry, tree: &Tree, slots: &[Slot]) -> Vec<u32> {
    let ipg = g.inodes_per_group as usize;
    let mut dirs = vec![0u32; g.groups as usize];
    for (i, slot) in slots.iter().enumerate() {
        let is_dir = match slot {
            Slot::LostFound => true,
            Slot::Node(id) => tree.node(*id).is_dir(),
            _ => false,
        };
        if is_dir {
            dirs[i / ipg] += 1;
        }
    }
    dirs
}

/// Records the superblock and descriptor table copies of every group that
/// has them.
pub fn push_superblock_pieces(g: &Geometry, pieces: &mut Vec<Piece>) {
    for group in 0..g.groups {
        if has_super(group) {
            let start = g.group_first_block(group);
            pieces.push(Piece {
                block: start,
                count: 1,
                kind: PieceKind::Superblock(group),
            });
            pieces.push(Piece {
                block: start + 1,
                count: u64::from(g.gdt_blocks),
                kind: PieceKind::Gdt(group),
            });
        }
    }
}

/// Counts free blocks in ascending windows of a free list.
struct FreeCounter<'a> {
    free: &'a [Run],
    index: usize,
}

impl<'a> FreeCounter<'a> {
    fn new(free: &'a [Run]) -> Self {
        FreeCounter { free, index: 0 }
    }

    /// Free blocks in `start..end`; windows must ascend.
    fn free_in(&mut self, start: u64, end: u64) -> u64 {
        while self.index < self.free.len() && self.free[self.index].end() <= start {
            self.index += 1;
        }
        let mut n = 0;
        let mut i = self.index;
        while i < self.free.len() && self.free[i].start < end {
            let r = self.free[i];
            n += r.end().min(end) - r.start.max(start);
            i += 1;
        }
        n
    }
}

/// The block bitmap of `group`: every block of the group in use but the
/// free ones, and the padding past the group's end set.
pub fn block_bitmap(g: &Geometry, free: &[Run], group: u32) -> Vec<u8> {
    let start = g.group_first_block(group);
    let len = g.group_len(group);
    let mut bitmap = vec![0xFFu8; g.block_size as usize];
    let first = free.partition_point(|r| r.end() <= start);
    for r in &free[first..] {
        if r.start >= start + len {
            break;
        }
        let (s, e) = (r.start.max(start) - start, r.end().min(start + len) - start);
        clear_bits(&mut bitmap, s, e);
    }
    bitmap
}

fn clear_bits(bitmap: &mut [u8], mut from: u64, to: u64) {
    while from < to && from % 8 != 0 {
        bitmap[(from / 8) as usize] &= !(1 << (from % 8));
        from += 1;
    }
    while from + 8 <= to {
        bitmap[(from / 8) as usize] = 0;
        from += 8;
    }
    while from < to {
        bitmap[(from / 8) as usize] &= !(1 << (from % 8));
        from += 1;
    }
}

/// The inode bitmap of a group whose first `used` inodes are in use.
pub fn inode_bitmap(g: &Geometry, used: u64) -> Vec<u8> {
    let mut bitmap = vec![0xFFu8; g.block_size as usize];
    clear_bits(&mut bitmap, used, u64::from(g.inodes_per_group));
    bitmap
}
