//! Placing the content: each inode's directory layout, link count, data,
//! extent tree and xattr blocks, one inode after another in inode order,
//! recorded as the pieces the writer fills.

use super::alloc::{Allocator, Run};
use super::content::{Content, LOST_FOUND_BYTES};
use super::dir::{self, DirLayout};
use super::extent;
use super::format::inode::{I_BLOCK_LEN, ROOT_INO};
use super::geometry::Geometry;
use super::layout::{geometry_free_estimate_overhead, PlacedData};
use super::pieces::{
    logical_runs, map_extents, push_tree_pieces, InodePlan, Piece, PieceKind, Slot,
};
use super::xattr;
use super::MAX_LINKS;
use crate::error::SourceError;
use crate::error::{Error, Result};
use crate::tree::{NodeKind, Tree};

/// Places the blocks of one inode after another, in inode order.
pub struct Placer<'a, 't> {
    /// The tree.
    pub tree: &'t Tree,
    /// Its inode numbers.
    pub content: &'a Content,
    /// The filesystem's geometry.
    pub geometry: &'a Geometry,
    /// The directory hash seed.
    pub seed: &'a [u32; 4],
    /// The free blocks.
    pub alloc: &'a mut Allocator,
    /// What to write, as placed so far.
    pub pieces: &'a mut Vec<Piece>,
    /// File data already written while its source streamed in.
    pub placed: &'a PlacedData,
    /// Bytes of file data placed so far.
    pub data_bytes: u64,
    /// Size of the filesystem, for "too small" errors.
    pub needed: u64,
}

/// Where the content's blocks went.
pub struct PlacedContent {
    /// Per node of the tree.
    pub nodes: Vec<InodePlan>,
    /// The lost+found directory made for the image.
    pub lost_found: Option<InodePlan>,
    /// Bytes of file data to copy.
    pub data_bytes: u64,
}

impl Placer<'_, '_> {
    /// Places every inode's blocks, in inode order; files in `placed` keep
    /// the blocks their data was written to.
    pub fn place_all(mut self) -> Result<PlacedContent> {
        let mut nodes: Vec<InodePlan> = vec![InodePlan::default(); self.tree.len()];
        let mut lost_found = None;
        for &slot in &self.content.slots {
            match slot {
                Slot::LostFound => lost_found = Some(self.place(slot)?),
                Slot::Node(id) => nodes[id.index()] = self.place(slot)?,
                Slot::Reserved | Slot::Journal | Slot::Resize => {}
            }
        }
        Ok(PlacedContent {
            nodes,
            lost_found,
            data_bytes: self.data_bytes,
        })
    }
}

impl Placer<'_, '_> {
    fn too_small(&self, what: &str) -> Error {
        let g = self.geometry;
        Error::TooSmall {
            what: what.to_string(),
            needed: (self.content.blocks + geometry_free_estimate_overhead(g)) * g.bs(),
            available: self.needed,
        }
    }

    fn take(&mut self, blocks: u64, what: &str) -> Result<Vec<Run>> {
        if blocks == 0 {
            return Ok(Vec::new());
        }
        self.alloc.take(blocks).ok_or_else(|| self.too_small(what))
    }

    fn dir_layout(&self, names: &[&[u8]], min_blocks: usize) -> Result<DirLayout> {
        dir::plan(names, self.geometry.block_size, self.seed, min_blocks)
    }

    /// Plans the directory layout, link count and logical blocks of `slot`.
    fn shape(&mut self, slot: Slot, plan: &mut InodePlan) -> Result<Vec<Run>> {
        let lost_found_blocks = LOST_FOUND_BYTES.div_ceil(self.geometry.block_size as usize);
        let dir_runs = |layout: &DirLayout| {
            vec![Run {
                start: 0,
                len: layout.block_count() as u64,
            }]
        };
        let id = match slot {
            Slot::LostFound => {
                let layout = self.dir_layout(&[], lost_found_blocks)?;
                let runs = dir_runs(&layout);
                plan.dir = Some(layout);
                plan.links = 2;
                plan.parent = ROOT_INO;
                return Ok(runs);
            }
            Slot::Node(id) => id,
            Slot::Reserved | Slot::Journal | Slot::Resize => return Ok(Vec::new()),
        };
        let content = self.content;
        let node = self.tree.node(id);
        let links = content.links[id.index()];
        plan.links = if node.is_dir() && links > MAX_LINKS {
            1
        } else {
            links as u16
        };
        plan.parent = content.parents[id.index()];
        Ok(match &node.kind {
            NodeKind::Directory(entries) => {
                let mut names: Vec<&[u8]> = entries.keys().map(|k| k.as_slice()).collect();
                if id == Tree::ROOT && content.lost_found_node.is_none() {
                    names.push(b"lost+found");
                }
                let min_blocks = if Some(id) == content.lost_found_node {
                    lost_found_blocks
                } else {
                    1
                };
                let layout = self.dir_layout(&names, min_blocks)?;
                let runs = dir_runs(&layout);
                plan.dir = Some(layout);
                runs
            }
            NodeKind::File(file) => {
                self.data_bytes += file.size;
                logical_runs(&file.segments, file.size, self.geometry.bs())
            }
            NodeKind::Symlink(target) if target.len() >= I_BLOCK_LEN => {
                vec![Run { start: 0, len: 1 }]
            }
            _ => Vec::new(),
        })
    }

    /// Places every block `slot` owns and records the pieces to write.
    fn place(&mut self, slot: Slot) -> Result<InodePlan> {
        let g = self.geometry;
        let mut plan = InodePlan::default();
        let logical = self.shape(slot, &mut plan)?;
        let total: u64 = logical.iter().map(|r| r.len).sum();
        let path = || self.path(slot);
        if total > u64::from(u32::MAX) {
            return Err(Error::TooLarge {
                what: path(),
                size: total * g.bs(),
                limit: u64::from(u32::MAX) * g.bs(),
            });
        }
        let placed = match slot {
            Slot::Node(id) => self.placed.get(id),
            _ => None,
        };
        let physical = match placed {
            Some(runs) => {
                let have: u64 = runs.iter().map(|r| r.len).sum();
                if have != total {
                    return Err(Error::from(SourceError::Changed {
                        path: path().into(),
                        detail: format!("{have} blocks were written for {total} blocks of data"),
                    }));
                }
                runs.to_vec()
            }
            None => self.take(total, "the tree")?,
        };
        plan.extents = map_extents(&logical, &physical);
        for e in plan.extents.iter().filter(|_| placed.is_none()) {
            let logical = u64::from(e.logical);
            let kind = match slot {
                Slot::Node(id) if plan.dir.is_none() => PieceKind::Data(id, logical),
                _ => PieceKind::Dir(slot, logical),
            };
            self.pieces.push(Piece {
                block: e.physical,
                count: u64::from(e.len),
                kind,
            });
        }
        let tree_blocks = self.take(
            extent::tree_blocks(plan.extents.len(), g.block_size),
            "the tree",
        )?;
        plan.tree_blocks = tree_blocks.iter().flat_map(|r| r.start..r.end()).collect();
        push_tree_pieces(self.pieces, slot, &plan.tree_blocks);
        if let Slot::Node(id) = slot {
            plan.xattrs = xattr::layout(&self.tree.node(id).xattrs, g.block_size, &|| {
                self.path(slot)
            })?;
            if plan.xattrs.block.is_some() {
                let block = self.take(1, "the tree")?[0].start;
                plan.xattr_block = block;
                self.pieces.push(Piece {
                    block,
                    count: 1,
                    kind: PieceKind::XattrBlock(slot),
                });
            }
        }
        Ok(plan)
    }

    fn path(&self, slot: Slot) -> String {
        match slot {
            Slot::Node(id) => self.content.path(self.tree, id),
            Slot::LostFound => "/lost+found".into(),
            Slot::Journal => "<journal>".into(),
            Slot::Resize => "<resize inode>".into(),
            Slot::Reserved => "<reserved>".into(),
        }
    }
}
