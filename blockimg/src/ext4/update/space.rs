//! Free space of an existing filesystem during an update: the group
//! descriptors and the block and inode bitmaps, read from the image as
//! they are needed, changed by allocations and frees, and handed back as
//! the metadata blocks that carry the changes (bitmaps, descriptor table
//! blocks), with their checksums.
//!
//! Blocks freed by an update are not handed out again by the same update:
//! until it commits, they still hold what the old filesystem needs.
//!
//! Blocks the caller placed file data in (free in the bitmaps, see
//! [`super::Existing::placed`]) are never handed out: those a file adopts
//! become used ([`Space::adopt`]), the others stay free.

use std::collections::{BTreeMap, BTreeSet};

use super::disk::{Disk, Geometry};
use crate::error::{Corrupt, Error, Ext4Error, Result};
use crate::ext4::alloc::Run;
use crate::ext4::bytes::{get_u16, get_u32, join64, put_u16};
use crate::ext4::format::group_desc::*;
use crate::ext4::geometry::GroupLayout;

/// One group's descriptor, as raw bytes (`desc_size` of them).
struct Desc {
    raw: Vec<u8>,
}

impl Desc {
    fn get(&self, lo: usize, hi: usize, wide: bool) -> u64 {
        let high = if wide { get_u32(&self.raw, hi) } else { 0 };
        join64(get_u32(&self.raw, lo), high)
    }

    fn get16(&self, lo: usize, hi: usize, wide: bool) -> u32 {
        let high = if wide {
            u32::from(get_u16(&self.raw, hi))
        } else {
            0
        };
        u32::from(get_u16(&self.raw, lo)) | high << 16
    }

    fn set16(&mut self, lo: usize, hi: usize, wide: bool, value: u32) {
        put_u16(&mut self.raw, lo, value as u16);
        if wide {
            put_u16(&mut self.raw, hi, (value >> 16) as u16);
        }
    }

    fn flags(&self) -> u16 {
        get_u16(&self.raw, BG_FLAGS)
    }

    fn set_flags(&mut self, flags: u16) {
        put_u16(&mut self.raw, BG_FLAGS, flags);
    }
}

/// Where a group descriptor keeps one kind of bitmap and its checksum:
/// the `_lo` and `_hi` offsets of each.
struct BitmapFields {
    kind: &'static str,
    at: (usize, usize),
    csum: (usize, usize),
}

const BLOCK_BITMAP: BitmapFields = BitmapFields {
    kind: "block",
    at: (BG_BLOCK_BITMAP_LO, BG_BLOCK_BITMAP_HI),
    csum: (BG_BLOCK_BITMAP_CSUM_LO, BG_BLOCK_BITMAP_CSUM_HI),
};

const INODE_BITMAP: BitmapFields = BitmapFields {
    kind: "inode",
    at: (BG_INODE_BITMAP_LO, BG_INODE_BITMAP_HI),
    csum: (BG_INODE_BITMAP_CSUM_LO, BG_INODE_BITMAP_CSUM_HI),
};

/// The free space of the filesystem as the update changes it.
pub(super) struct Space<'d> {
    disk: &'d Disk,
    geo: &'d Geometry,
    descs: Vec<Desc>,
    block_bitmaps: BTreeMap<u32, Vec<u8>>,
    inode_bitmaps: BTreeMap<u32, Vec<u8>>,
    /// Groups whose descriptor changed.
    dirty: BTreeSet<u32>,
    /// Blocks to free when the update is complete.
    freed: Vec<Run>,
    /// Change of the free block count.
    pub free_blocks_delta: i64,
    /// Change of the free inode count.
    pub free_inodes_delta: i64,
    /// Group to look in first for blocks.
    cursor: u32,
    /// Blocks holding placed data, `first block -> count`: never handed
    /// out.
    placed: BTreeMap<u64, u64>,
    /// The placed blocks of each group scanned, as a bitmap of the
    /// group's blocks (absent: none placed there).
    placed_bitmaps: BTreeMap<u32, Option<Vec<u8>>>,
    /// Per group, a bit below which every block is taken (bits are only
    /// set until [`Space::finish`]).
    scan_from: BTreeMap<u32, u64>,
}

impl<'d> Space<'d> {
    /// Reads the descriptor table; `placed` (runs `(first block, count)`)
    /// are never handed out.
    pub fn read(disk: &'d Disk, geo: &'d Geometry, placed: &[(u64, u64)]) -> Result<Space<'d>> {
        let per_block = geo.bs / u64::from(geo.desc_size);
        let mut descs = Vec::with_capacity(geo.groups as usize);
        for index in 0..u64::from(geo.groups).div_ceil(per_block) {
            let block = disk.read_block(geo.first_data_block + 1 + index)?;
            for raw in block.chunks_exact(geo.desc_size as usize) {
                if descs.len() < geo.groups as usize {
                    descs.push(Desc { raw: raw.to_vec() });
                }
            }
        }
        Ok(Space {
            disk,
            geo,
            descs,
            block_bitmaps: BTreeMap::new(),
            inode_bitmaps: BTreeMap::new(),
            dirty: BTreeSet::new(),
            freed: Vec::new(),
            free_blocks_delta: 0,
            free_inodes_delta: 0,
            cursor: 0,
            placed: placed
                .iter()
                .filter(|r| r.1 > 0)
                .map(|&(start, len)| (start, len))
                .collect(),
            placed_bitmaps: BTreeMap::new(),
            scan_from: BTreeMap::new(),
        })
    }

    /// Makes the bitmap of the placed blocks of `group` if not yet made.
    fn load_placed(&mut self, group: u32) {
        if self.placed_bitmaps.contains_key(&group) {
            return;
        }
        let first = self.geo.group_first_block(group);
        let end = first + self.geo.group_len(group);
        let mut bitmap: Option<Vec<u8>> = None;
        for (&start, &len) in self.placed.range(..end).rev() {
            if start + len <= first {
                break;
            }
            let bits = bitmap.get_or_insert_with(|| vec![0u8; self.geo.bs as usize]);
            for b in start.max(first)..(start + len).min(end) {
                set_bit(bits, b - first, true);
            }
        }
        self.placed_bitmaps.insert(group, bitmap);
    }

    fn desc(&self, group: u32) -> Result<&Desc> {
        self.descs
            .get(group as usize)
            .ok_or_else(|| out_of_range("group", u64::from(group)))
    }

    fn desc_mut(&mut self, group: u32) -> Result<&mut Desc> {
        self.dirty.insert(group);
        self.descs
            .get_mut(group as usize)
            .ok_or_else(|| out_of_range("group", u64::from(group)))
    }

    /// The block bitmap of `group`, read (or, for a group never used,
    /// made as the kernel makes it) the first time.
    fn block_bitmap(&mut self, group: u32) -> Result<&mut Vec<u8>> {
        if !self.block_bitmaps.contains_key(&group) {
            let desc = self.desc(group)?;
            let bitmap = if desc.flags() & BG_BLOCK_UNINIT != 0 {
                self.uninit_block_bitmap(group)?
            } else {
                let meaningful = (self.geo.blocks_per_group / 8) as usize;
                self.checked_bitmap(group, desc, &BLOCK_BITMAP, meaningful)?
            };
            self.block_bitmaps.insert(group, bitmap);
        }
        self.block_bitmaps
            .get_mut(&group)
            .ok_or_else(|| out_of_range("group", u64::from(group)))
    }

    /// The bitmap of a group flagged `BLOCK_UNINIT`: its superblock and
    /// descriptor copies and its own bitmaps and inode table where they
    /// lie inside it are in use; bits past the end of the filesystem are
    /// set.
    fn uninit_block_bitmap(&self, group: u32) -> Result<Vec<u8>> {
        let geo = self.geo;
        let mut bitmap = vec![0u8; geo.bs as usize];
        let first = geo.group_first_block(group);
        let len = geo.group_len(group);
        let mut set = |start: u64, count: u64| {
            for b in start..start + count {
                if b >= first && b < first + len {
                    let bit = (b - first) as usize;
                    if let Some(byte) = bitmap.get_mut(bit / 8) {
                        *byte |= 1 << (bit % 8);
                    }
                }
            }
        };
        set(first, geo.backup_blocks(group));
        let desc = self.desc(group)?;
        let wide = geo.wide;
        set(desc.get(BG_BLOCK_BITMAP_LO, BG_BLOCK_BITMAP_HI, wide), 1);
        set(desc.get(BG_INODE_BITMAP_LO, BG_INODE_BITMAP_HI, wide), 1);
        set(
            desc.get(BG_INODE_TABLE_LO, BG_INODE_TABLE_HI, wide),
            geo.inode_table_blocks,
        );
        for bit in len as usize..geo.bs as usize * 8 {
            if let Some(byte) = bitmap.get_mut(bit / 8) {
                *byte |= 1 << (bit % 8);
            }
        }
        Ok(bitmap)
    }

    /// Reads a bitmap of `group` (which `fields` of its descriptor `desc`
    /// name), checked against the checksum the descriptor stores (over its
    /// first `meaningful` bytes; the high half only with 64-byte
    /// descriptors): an update never writes through a bitmap it cannot
    /// trust.
    fn checked_bitmap(
        &self,
        group: u32,
        desc: &Desc,
        fields: &BitmapFields,
        meaningful: usize,
    ) -> Result<Vec<u8>> {
        let geo = self.geo;
        let kind = fields.kind;
        let at = desc.get(fields.at.0, fields.at.1, geo.wide);
        let stored = desc.get16(fields.csum.0, fields.csum.1, geo.wide);
        let corrupt = |value: String, reason: &str| {
            Error::from(Ext4Error::Corrupt(Box::new(Corrupt {
                path: self.disk.path.clone(),
                format: "ext4".into(),
                field: format!("group descriptor {group} {kind} bitmap"),
                value,
                reason: reason.into(),
            })))
        };
        if at < geo.first_data_block || at >= geo.blocks_count {
            return Err(corrupt(at.to_string(), "lies outside the filesystem"));
        }
        let bitmap = self.disk.read_block(at)?;
        if let Some(csum) = geo.csum {
            let sum = csum.bitmap(bitmap.get(..meaningful).unwrap_or(&bitmap));
            let sum = if geo.wide { sum } else { sum & 0xFFFF };
            if sum != stored {
                return Err(Error::from(Ext4Error::Checksum {
                    path: self.disk.path.clone(),
                    structure: format!("{kind} bitmap of group {group}"),
                    stored,
                    computed: sum,
                }));
            }
        }
        Ok(bitmap)
    }

    fn inode_bitmap(&mut self, group: u32) -> Result<&mut Vec<u8>> {
        if !self.inode_bitmaps.contains_key(&group) {
            let desc = self.desc(group)?;
            let bitmap = if desc.flags() & BG_INODE_UNINIT != 0 {
                let mut bitmap = vec![0u8; self.geo.bs as usize];
                for bit in self.geo.inodes_per_group as usize..bitmap.len() * 8 {
                    if let Some(byte) = bitmap.get_mut(bit / 8) {
                        *byte |= 1 << (bit % 8);
                    }
                }
                bitmap
            } else {
                let meaningful = (self.geo.inodes_per_group / 8) as usize;
                self.checked_bitmap(group, desc, &INODE_BITMAP, meaningful)?
            };
            self.inode_bitmaps.insert(group, bitmap);
        }
        self.inode_bitmaps
            .get_mut(&group)
            .ok_or_else(|| out_of_range("group", u64::from(group)))
    }

    /// Hands out `count` free blocks, as few runs as the free space
    /// allows, searching from the group after the last allocation; placed
    /// blocks are skipped.
    pub fn alloc_blocks(&mut self, count: u64) -> Result<Vec<Run>> {
        let mut runs: Vec<Run> = Vec::new();
        let mut left = count;
        let groups = self.geo.groups;
        let mut visited = 0;
        let mut group = self.cursor;
        while left > 0 && visited < groups {
            let free = self.group_free_blocks(group)?;
            if free > 0 {
                let first = self.geo.group_first_block(group);
                let len = self.geo.group_len(group);
                self.block_bitmap(group)?;
                self.load_placed(group);
                let placed = self.placed_bitmaps.get(&group).and_then(Option::as_ref);
                let Some(bitmap) = self.block_bitmaps.get_mut(&group) else {
                    return Err(out_of_range("group", u64::from(group)));
                };
                let taken = |bitmap: &[u8], bit: u64| {
                    bit_set(bitmap, bit) || placed.is_some_and(|p| bit_set(p, bit))
                };
                let mut taken_runs = Vec::new();
                let mut bit = self.scan_from.get(&group).copied().unwrap_or(0);
                let mut lowest_free = None;
                while bit < len && left > 0 {
                    let full = |m: &[u8]| m.get((bit / 8) as usize) == Some(&0xFF);
                    if bit % 8 == 0 && full(bitmap) {
                        bit += 8;
                        continue;
                    }
                    if taken(bitmap, bit) {
                        bit += 1;
                        continue;
                    }
                    lowest_free.get_or_insert(bit);
                    let start = bit;
                    while bit < len && !taken(bitmap, bit) && bit - start < left {
                        set_bit(bitmap, bit, true);
                        bit += 1;
                    }
                    taken_runs.push(Run {
                        start: first + start,
                        len: bit - start,
                    });
                    left -= bit - start;
                }
                // Every bit below the first free one found is taken, and
                // stays so until the update finishes.
                self.scan_from.insert(group, lowest_free.unwrap_or(bit));
                for run in taken_runs {
                    self.account_blocks(group, -(run.len as i64))?;
                    match runs.last_mut() {
                        Some(last) if last.end() == run.start => last.len += run.len,
                        _ => runs.push(run),
                    }
                }
            }
            if left > 0 {
                group = (group + 1) % groups;
                visited += 1;
            }
        }
        self.cursor = group;
        if left > 0 {
            return Err(Error::TooSmall {
                what: "the filesystem's free space for this change".into(),
                needed: count * self.geo.bs,
                available: (count - left) * self.geo.bs,
            });
        }
        Ok(runs)
    }

    /// Marks `run`, blocks a file adopts as they are, in use; `false`
    /// (nothing changed) unless every block of it lies in the filesystem
    /// and is free.
    pub fn adopt(&mut self, run: Run) -> Result<bool> {
        if run.len == 0
            || run.start < self.geo.first_data_block
            || run.end() > self.geo.blocks_count
        {
            return Ok(false);
        }
        let pieces = self.group_pieces(run);
        for &(group, from, to) in &pieces {
            let first = self.geo.group_first_block(group);
            let bitmap = self.block_bitmap(group)?;
            if (from..to).any(|b| bit_set(bitmap, b - first)) {
                return Ok(false);
            }
        }
        for (group, from, to) in pieces {
            let first = self.geo.group_first_block(group);
            let bitmap = self.block_bitmap(group)?;
            for b in from..to {
                set_bit(bitmap, b - first, true);
            }
            self.account_blocks(group, -((to - from) as i64))?;
        }
        Ok(true)
    }

    /// `run` cut at group boundaries: `(group, first block, end block)`.
    fn group_pieces(&self, run: Run) -> Vec<(u32, u64, u64)> {
        let mut pieces = Vec::new();
        let mut block = run.start;
        while block < run.end() {
            let group = self.geo.group_of(block);
            let first = self.geo.group_first_block(group);
            let end = (first + self.geo.group_len(group)).min(run.end());
            pieces.push((group, block, end));
            block = end;
        }
        pieces
    }

    /// The free blocks of the filesystem as its bitmaps say, in runs
    /// `(first block, count)` (runs of neighbouring groups joined).
    pub fn free_runs(&mut self) -> Result<Vec<(u64, u64)>> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for group in 0..self.geo.groups {
            if self.group_free_blocks(group)? == 0 {
                continue;
            }
            let first = self.geo.group_first_block(group);
            let len = self.geo.group_len(group);
            let bitmap = self.block_bitmap(group)?;
            let mut bit = 0;
            while bit < len {
                if bit % 8 == 0 && bitmap.get((bit / 8) as usize) == Some(&0xFF) {
                    bit += 8;
                    continue;
                }
                if bit_set(bitmap, bit) {
                    bit += 1;
                    continue;
                }
                let start = bit;
                while bit < len && !bit_set(bitmap, bit) {
                    bit += 1;
                }
                let (start, count) = (first + start, bit - start);
                match runs.last_mut() {
                    Some(last) if last.0 + last.1 == start => last.1 += count,
                    _ => runs.push((start, count)),
                }
            }
        }
        Ok(runs)
    }

    fn group_free_blocks(&self, group: u32) -> Result<u32> {
        Ok(self.desc(group)?.get16(
            BG_FREE_BLOCKS_COUNT_LO,
            BG_FREE_BLOCKS_COUNT_HI,
            self.geo.wide,
        ))
    }

    fn account_blocks(&mut self, group: u32, delta: i64) -> Result<()> {
        let wide = self.geo.wide;
        let desc = self.desc_mut(group)?;
        let free = desc.get16(BG_FREE_BLOCKS_COUNT_LO, BG_FREE_BLOCKS_COUNT_HI, wide);
        let free = (i64::from(free) + delta).max(0) as u32;
        desc.set16(BG_FREE_BLOCKS_COUNT_LO, BG_FREE_BLOCKS_COUNT_HI, wide, free);
        let flags = desc.flags();
        desc.set_flags(flags & !BG_BLOCK_UNINIT);
        self.free_blocks_delta += delta;
        Ok(())
    }

    /// Frees `run` once the update is complete.
    pub fn free_blocks(&mut self, run: Run) {
        if run.len > 0 {
            self.freed.push(run);
        }
    }

    /// Hands out a free inode number, in the lowest group with one (so
    /// that the used part of each inode table stays contiguous).
    pub fn alloc_inode(&mut self, directory: bool) -> Result<u32> {
        let ipg = self.geo.inodes_per_group;
        let wide = self.geo.wide;
        for group in 0..self.geo.groups {
            let desc = self.desc(group)?;
            if desc.get16(BG_FREE_INODES_COUNT_LO, BG_FREE_INODES_COUNT_HI, wide) == 0 {
                continue;
            }
            let first_ino = self.geo.first_ino;
            let bitmap = self.inode_bitmap(group)?;
            let Some(index) = (0..ipg).find(|&i| {
                let ino = group * ipg + i + 1;
                ino >= first_ino && !bit_set(bitmap, u64::from(i))
            }) else {
                continue;
            };
            set_bit(bitmap, u64::from(index), true);
            let desc = self.desc_mut(group)?;
            let free = desc.get16(BG_FREE_INODES_COUNT_LO, BG_FREE_INODES_COUNT_HI, wide);
            desc.set16(
                BG_FREE_INODES_COUNT_LO,
                BG_FREE_INODES_COUNT_HI,
                wide,
                free - 1,
            );
            let unused = desc.get16(BG_ITABLE_UNUSED_LO, BG_ITABLE_UNUSED_HI, wide);
            let flags = desc.flags();
            let unused = if flags & BG_INODE_UNINIT != 0 {
                ipg
            } else {
                unused
            };
            if index >= ipg - unused {
                desc.set16(
                    BG_ITABLE_UNUSED_LO,
                    BG_ITABLE_UNUSED_HI,
                    wide,
                    ipg - index - 1,
                );
            }
            desc.set_flags(flags & !BG_INODE_UNINIT);
            if directory {
                let dirs = desc.get16(BG_USED_DIRS_COUNT_LO, BG_USED_DIRS_COUNT_HI, wide);
                desc.set16(BG_USED_DIRS_COUNT_LO, BG_USED_DIRS_COUNT_HI, wide, dirs + 1);
            }
            self.free_inodes_delta -= 1;
            return Ok(group * ipg + index + 1);
        }
        Err(Error::TooSmall {
            what: "the filesystem's free inodes for this change".into(),
            needed: 1,
            available: 0,
        })
    }

    /// Frees inode `ino` (a directory when `directory`).
    pub fn free_inode(&mut self, ino: u32, directory: bool) -> Result<()> {
        let ipg = self.geo.inodes_per_group;
        let group = (ino - 1) / ipg;
        let index = (ino - 1) % ipg;
        let wide = self.geo.wide;
        let bitmap = self.inode_bitmap(group)?;
        set_bit(bitmap, u64::from(index), false);
        let desc = self.desc_mut(group)?;
        let free = desc.get16(BG_FREE_INODES_COUNT_LO, BG_FREE_INODES_COUNT_HI, wide);
        desc.set16(
            BG_FREE_INODES_COUNT_LO,
            BG_FREE_INODES_COUNT_HI,
            wide,
            free + 1,
        );
        if directory {
            let dirs = desc.get16(BG_USED_DIRS_COUNT_LO, BG_USED_DIRS_COUNT_HI, wide);
            desc.set16(
                BG_USED_DIRS_COUNT_LO,
                BG_USED_DIRS_COUNT_HI,
                wide,
                dirs.saturating_sub(1),
            );
        }
        self.free_inodes_delta += 1;
        Ok(())
    }

    /// Applies the frees, then gives every metadata block that changed:
    /// bitmaps and descriptor table blocks, checksums set.
    pub fn finish(mut self) -> Result<(BTreeMap<u64, Vec<u8>>, i64, i64)> {
        for run in std::mem::take(&mut self.freed) {
            for (group, from, to) in self.group_pieces(run) {
                let first = self.geo.group_first_block(group);
                let bitmap = self.block_bitmap(group)?;
                for b in from..to {
                    set_bit(bitmap, b - first, false);
                }
                self.account_blocks(group, (to - from) as i64)?;
            }
        }
        let geo = self.geo;
        let wide = geo.wide;
        let mut blocks = BTreeMap::new();
        let csum = geo.csum;
        for (fields, bitmaps, meaningful) in [
            (&BLOCK_BITMAP, &self.block_bitmaps, geo.blocks_per_group / 8),
            (&INODE_BITMAP, &self.inode_bitmaps, geo.inodes_per_group / 8),
        ] {
            for (&group, bitmap) in bitmaps {
                let desc = self
                    .descs
                    .get_mut(group as usize)
                    .ok_or_else(|| out_of_range("group", u64::from(group)))?;
                if let Some(csum) = csum {
                    let sum = csum.bitmap(bitmap.get(..meaningful as usize).unwrap_or(bitmap));
                    desc.set16(fields.csum.0, fields.csum.1, wide, sum);
                }
                self.dirty.insert(group);
                blocks.insert(desc.get(fields.at.0, fields.at.1, wide), bitmap.clone());
            }
        }
        let per_block = (geo.bs / u64::from(geo.desc_size)) as u32;
        let table_blocks: BTreeSet<u32> = self.dirty.iter().map(|g| g / per_block).collect();
        for index in table_blocks {
            let location = geo.first_data_block + 1 + u64::from(index);
            let mut block = self.disk.read_block(location)?;
            for (i, raw) in block.chunks_exact_mut(geo.desc_size as usize).enumerate() {
                let group = index * per_block + i as u32;
                let Some(desc) = self.descs.get_mut(group as usize) else {
                    break;
                };
                if let Some(csum) = csum {
                    put_u16(&mut desc.raw, BG_CHECKSUM, 0);
                    let sum = csum.group_desc(group, &desc.raw);
                    put_u16(&mut desc.raw, BG_CHECKSUM, sum);
                }
                raw.copy_from_slice(&desc.raw);
            }
            blocks.insert(location, block);
        }
        Ok((blocks, self.free_blocks_delta, self.free_inodes_delta))
    }
}

fn bit_set(bitmap: &[u8], bit: u64) -> bool {
    bitmap
        .get((bit / 8) as usize)
        .is_some_and(|b| b & (1 << (bit % 8)) != 0)
}

fn set_bit(bitmap: &mut [u8], bit: u64, value: bool) {
    if let Some(b) = bitmap.get_mut((bit / 8) as usize) {
        if value {
            *b |= 1 << (bit % 8);
        } else {
            *b &= !(1 << (bit % 8));
        }
    }
}

fn out_of_range(what: &str, value: u64) -> Error {
    Error::InvalidOption {
        option: what.into(),
        reason: format!("{value} is outside the filesystem"),
    }
}
