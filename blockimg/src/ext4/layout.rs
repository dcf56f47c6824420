//! The fixed part of a filesystem's layout: geometry, superblock copies,
//! descriptor tables, each flex group's bitmaps and inode tables, the
//! journal and the resize inode. Once it exists, file data can be placed
//! block by block as a stream arrives, before the rest of the tree is known.

use std::collections::HashMap;

use super::alloc::{Allocator, Run};
use super::extent;
use super::geometry::{Geometry, GroupLayout};
use super::pieces::{
    logical_runs, map_extents, push_tree_pieces, InodePlan, Piece, PieceKind, Slot,
};
use super::superblock::GroupDesc;
use super::Ext4Options;
use crate::error::{Error, Result};
use crate::tree::{NodeId, Segment};

/// A filesystem whose fixed metadata is placed and whose remaining blocks
/// are free for content.
pub struct Ext4Layout {
    pub(super) geometry: Geometry,
    pub(super) alloc: Allocator,
    pub(super) groups: Vec<GroupDesc>,
    pub(super) pieces: Vec<Piece>,
    pub(super) journal: Option<InodePlan>,
    pub(super) resize_dind: u64,
    pub(super) size_bytes: u64,
    /// Blocks taken for file data so far, for "too small" errors.
    data_blocks: u64,
}

/// File data already written to the image: the physical runs holding each
/// file's data blocks, in logical order.
#[derive(Clone, Debug, Default)]
pub struct PlacedData {
    runs: HashMap<NodeId, Vec<Run>>,
}

impl PlacedData {
    /// Records where the data of `node` was written.
    pub fn insert(&mut self, node: NodeId, runs: Vec<Run>) {
        self.runs.insert(node, runs);
    }

    /// Where the data of `node` was written, if it was.
    pub fn get(&self, node: NodeId) -> Option<&[Run]> {
        self.runs.get(&node).map(Vec::as_slice)
    }

    /// Forgets `node` and returns its runs (a file replaced by a later one).
    pub fn remove(&mut self, node: NodeId) -> Option<Vec<Run>> {
        self.runs.remove(&node)
    }

    /// Nodes with placed data.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.runs.keys().copied()
    }
}

/// Blocks left for content once a geometry's fixed metadata is placed.
pub(super) fn geometry_free_estimate(g: &Geometry) -> u64 {
    let backups: u64 = (0..g.groups).map(|grp| g.backup_blocks(grp)).sum();
    let per_group = 2 + u64::from(g.inode_table_blocks);
    let fixed = backups + per_group * u64::from(g.groups) + u64::from(g.journal_blocks);
    (g.blocks_count - g.first_data_block).saturating_sub(fixed)
}

/// Blocks a geometry's fixed metadata takes, as estimated for sizing and
/// for "too small" errors.
pub(super) fn geometry_free_estimate_overhead(g: &Geometry) -> u64 {
    (g.blocks_count - g.first_data_block).saturating_sub(geometry_free_estimate(g))
}

/// Takes the extent tree blocks an inode with `extents` extents needs
/// below it (none when they fit in the inode).
fn take_tree_blocks(alloc: &mut Allocator, extents: usize, block_size: u32) -> Option<Vec<u64>> {
    let n = extent::tree_blocks(extents, block_size);
    if n == 0 {
        return Some(Vec::new());
    }
    let runs = alloc.take(n)?;
    Some(runs.iter().flat_map(|r| r.start..r.end()).collect())
}

fn too_small(g: &Geometry, size_bytes: u64, what: &str) -> Error {
    too_small_for(g, size_bytes, what, 1)
}

/// The error for `content_blocks` blocks of content that do not fit beside
/// the filesystem's own metadata.
fn too_small_for(g: &Geometry, size_bytes: u64, what: &str, content_blocks: u64) -> Error {
    Error::TooSmall {
        what: what.to_string(),
        needed: (geometry_free_estimate_overhead(g) + content_blocks) * g.bs(),
        available: size_bytes,
    }
}

impl Ext4Layout {
    /// Lays out a filesystem of `size_bytes` with room for `min_inodes`
    /// inodes.
    pub fn new(size_bytes: u64, options: &Ext4Options, min_inodes: u64) -> Result<Self> {
        let geometry = Geometry::new(
            size_bytes,
            options.block_size,
            options.inode_ratio,
            options.min_inodes.max(min_inodes),
            options.journal,
        )?;
        let g = &geometry;
        // Fixed metadata: superblock copies and descriptor tables, then each
        // flex group's bitmaps and inode tables at its start.
        let mut alloc = Allocator::new(g.first_data_block, g.blocks_count);
        for group in 0..g.groups {
            let backup = g.backup_blocks(group);
            if backup > 0 {
                alloc.reserve(Run {
                    start: g.group_first_block(group),
                    len: backup,
                });
            }
        }
        let mut groups = vec![GroupDesc::default(); g.groups as usize];
        let flex = g.groups_per_flex();
        for first in (0..g.groups).step_by(flex as usize) {
            let members = first..(first + flex).min(g.groups);
            let goal = g.group_first_block(first);
            for group in members.clone() {
                groups[group as usize].block_bitmap = alloc
                    .take_contiguous(1, goal)
                    .ok_or_else(|| too_small(&geometry, size_bytes, "block bitmaps"))?;
            }
            for group in members.clone() {
                groups[group as usize].inode_bitmap = alloc
                    .take_contiguous(1, goal)
                    .ok_or_else(|| too_small(&geometry, size_bytes, "inode bitmaps"))?;
            }
            for group in members {
                groups[group as usize].inode_table = alloc
                    .take_contiguous(u64::from(g.inode_table_blocks), goal)
                    .ok_or_else(|| too_small(&geometry, size_bytes, "inode tables"))?;
            }
        }

        let mut pieces = Vec::new();
        let mut journal = None;
        if g.journal_blocks > 0 {
            let middle = (g.groups.saturating_sub(1) / 2) & !(flex - 1);
            let goal = g.group_first_block(middle);
            let len = u64::from(g.journal_blocks);
            let runs = match alloc.take_contiguous(len, goal) {
                Some(start) => vec![Run { start, len }],
                None => alloc
                    .take(len)
                    .ok_or_else(|| too_small(&geometry, size_bytes, "the journal"))?,
            };
            let extents = map_extents(&[Run { start: 0, len }], &runs);
            let tree_blocks = take_tree_blocks(&mut alloc, extents.len(), g.block_size)
                .ok_or_else(|| too_small(&geometry, size_bytes, "the journal"))?;
            pieces.push(Piece {
                block: runs[0].start,
                count: 1,
                kind: PieceKind::JournalSuperblock,
            });
            push_tree_pieces(&mut pieces, Slot::Journal, &tree_blocks);
            journal = Some(InodePlan {
                extents,
                tree_blocks,
                links: 1,
                ..Default::default()
            });
        }

        let mut resize_dind = 0;
        if g.reserved_gdt_blocks > 0 {
            resize_dind = alloc
                .take(1)
                .ok_or_else(|| too_small(&geometry, size_bytes, "the resize inode"))?[0]
                .start;
            pieces.push(Piece {
                block: resize_dind,
                count: 1,
                kind: PieceKind::ResizeDind,
            });
            let first = g.first_data_block + 1 + u64::from(g.gdt_blocks);
            for i in 0..g.reserved_gdt_blocks {
                pieces.push(Piece {
                    block: first + u64::from(i),
                    count: 1,
                    kind: PieceKind::ReservedGdt(i),
                });
            }
        }

        Ok(Ext4Layout {
            geometry,
            alloc,
            groups,
            pieces,
            journal,
            resize_dind,
            size_bytes,
            data_blocks: 0,
        })
    }

    /// The layout's geometry.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Takes blocks for the data of a file of `size` bytes whose data lies in
    /// `segments`, in logical order. The caller writes the data there.
    pub fn place_data(&mut self, segments: &[Segment], size: u64) -> Result<Vec<Run>> {
        let bs = self.geometry.bs();
        let blocks: u64 = logical_runs(segments, size, bs).iter().map(|r| r.len).sum();
        self.take_blocks(blocks)
    }

    /// Takes `blocks` blocks for file data, next-fit, in as few runs as the
    /// free space allows.
    pub fn take_blocks(&mut self, blocks: u64) -> Result<Vec<Run>> {
        if blocks == 0 {
            return Ok(Vec::new());
        }
        let (g, size_bytes) = (&self.geometry, self.size_bytes);
        let wanted = self.data_blocks + blocks;
        let runs = self
            .alloc
            .take(blocks)
            .ok_or_else(|| too_small_for(g, size_bytes, "the file data read so far", wanted))?;
        self.data_blocks = wanted;
        Ok(runs)
    }

    /// Gives back blocks taken by [`Ext4Layout::place_data`] for a file that
    /// was replaced.
    pub fn release(&mut self, runs: &[Run]) {
        let released: u64 = runs.iter().map(|run| run.len).sum();
        self.data_blocks = self.data_blocks.saturating_sub(released);
        self.alloc.release_all(runs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext4::Ext4Plan;
    use crate::sink::Sink;
    use crate::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};

    fn meta() -> Metadata {
        let t = Timestamp::from_secs(1_600_000_000);
        Metadata {
            permissions: 0o644,
            uid: 0,
            gid: 0,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: None,
        }
    }

    /// Data written as it "streams in", one file replaced by a later one,
    /// then the rest planned around it: e2fsck must find the image clean.
    #[test]
    fn streamed_data_and_replaced_files_give_a_clean_filesystem() {
        let Some(e2fsck) = ["/usr/sbin/e2fsck", "/sbin/e2fsck"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
        else {
            eprintln!("skipping: e2fsck is not installed (package e2fsprogs)");
            return;
        };
        let options = Ext4Options {
            timestamp: Some(Timestamp::from_secs(1_600_000_000)),
            ..Default::default()
        };
        let mut layout = Ext4Layout::new(32 << 20, &options, 64).unwrap();
        let bs = layout.geometry().bs();
        let mut image: Vec<u8> = Vec::new();
        let mut tree = Tree::new(Metadata {
            permissions: 0o755,
            ..meta()
        });
        let mut placed = PlacedData::default();
        for (i, len) in [5000usize, 100_000, 3, 70_000].into_iter().enumerate() {
            let bytes: Vec<u8> = (0..len).map(|b| (b * 7 + i) as u8).collect();
            let content = FileContent::from_bytes(bytes.clone());
            let runs = layout.place_data(&content.segments, content.size).unwrap();
            let mut at = 0usize;
            for run in &runs {
                let n = (run.len * bs) as usize;
                let end = (at + n).min(bytes.len());
                image.write_at(run.start * bs, &bytes[at..end]).unwrap();
                at = end;
            }
            // The second file is replaced by the fourth under the same name.
            let name = if i == 3 {
                "f1".to_string()
            } else {
                format!("f{i}")
            };
            let id = tree
                .add(
                    Tree::ROOT,
                    name.as_bytes(),
                    Node::new(meta(), NodeKind::File(content)),
                )
                .unwrap();
            placed.insert(id, runs);
        }
        let plan = Ext4Plan::with_placed(&tree, layout, &options, &placed).unwrap();
        plan.write(&mut image, 0, &mut |_| {}).unwrap();
        image.resize(32 << 20, 0);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fs.img");
        std::fs::write(&path, &image).unwrap();
        crate::ext4::test_tools::assert_e2fsck_clean(std::path::Path::new(e2fsck), &path);
    }
}
