//! The planner: numbers the inodes, lays out every directory, places every
//! block of metadata and data, and records what goes where, all before a
//! byte is written.

use std::collections::VecDeque;

use super::alloc::{Allocator, Run};
use super::csum::Checksummer;
use super::dir::{self, DirLayout};
use super::extent;
use super::format::dir::{rec_len, DOT_REC_LEN, LEAF_TAIL_LEN};
use super::format::extent::MAX_EXTENT_LEN;
use super::format::group_desc::{BG_BLOCK_UNINIT, BG_INODE_UNINIT, BG_ITABLE_ZEROED};
use super::format::inode::{I_BLOCK_LEN, JOURNAL_INO, RESIZE_INO, ROOT_INO};
use super::geometry::{has_super, Geometry, FIRST_INO};
use super::layout::{
    geometry_free_estimate, geometry_free_estimate_overhead, Ext4Layout, PlacedData,
};
use super::pieces::{
    logical_runs, map_extents, push_tree_pieces, InodePlan, Piece, PieceKind, Slot,
};
use super::superblock::{GroupDesc, SuperblockInfo};
use super::xattr;
use super::{Ext4Options, MAX_LINKS};
use crate::error::{Error, Result};
use crate::error::{Ext4Error, SourceError};
use crate::identity;
use crate::tree::{NodeId, NodeKind, Timestamp, Tree};

/// Inode number of lost+found.
pub const LOST_FOUND_INO: u32 = FIRST_INO;
/// Size mke2fs gives lost+found.
const LOST_FOUND_BYTES: usize = 16 * 1024;

/// A complete ext4 layout for a tree.
///
/// # Examples
///
/// ```
/// use blockimg::ext4::read::Ext4Reader;
/// use blockimg::ext4::{Ext4Options, Ext4Plan};
/// use blockimg::sink::SparseFile;
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let time = Timestamp::from_secs(1_700_000_000);
/// let mut tree = Tree::new(Metadata::directory(time));
/// let file = Node::new(Metadata { permissions: 0o644, ..Metadata::directory(time) },
///                      NodeKind::File(FileContent::from_bytes(&b"appliance\n"[..])));
/// tree.add(Tree::ROOT, b"hostname", file)?;
///
/// let options = Ext4Options { label: "root".into(), timestamp: Some(time), ..Default::default() };
/// let plan = Ext4Plan::new(&tree, 8 << 20, &options)?; // an 8 MiB filesystem
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("root.ext4");
/// let mut image = SparseFile::create(&path, false)?;
/// plan.write(&mut image, 0, &mut |_copied_bytes| {})?;
/// image.finish(8 << 20)?;
///
/// let fs = Ext4Reader::open(std::fs::File::open(&path)?, 0, &path)?;
/// assert_eq!(fs.info().label, b"root");
/// assert_eq!(fs.info().uuid, plan.uuid());
/// # Ok(())
/// # }
/// ```
pub struct Ext4Plan<'t> {
    pub(super) tree: &'t Tree,
    pub(super) geometry: Geometry,
    pub(super) csum: Checksummer,
    pub(super) superblock: SuperblockInfo,
    pub(super) groups: Vec<GroupDesc>,
    /// Inode number of each node (0 for nodes not reachable from the root).
    pub(super) inos: Vec<u32>,
    /// What each inode number (index `ino - 1`) holds, up to the last used.
    pub(super) slots: Vec<Slot>,
    /// Per node of the tree.
    pub(super) nodes: Vec<InodePlan>,
    pub(super) lost_found: Option<InodePlan>,
    pub(super) journal: Option<InodePlan>,
    /// The resize inode's double-indirect block, 0 without a resize inode.
    pub(super) resize_dind: u64,
    /// Free blocks, ascending (the complement is in use).
    pub(super) free: Vec<Run>,
    pub(super) pieces: Vec<Piece>,
    pub(super) now: Timestamp,
    pub(super) clamp: Option<Timestamp>,
    /// Bytes of file data to copy, for progress reporting.
    pub(super) data_bytes: u64,
}

/// The parts of a plan that do not depend on the filesystem size.
struct Content {
    inos: Vec<u32>,
    slots: Vec<Slot>,
    links: Vec<u32>,
    parents: Vec<u32>,
    /// First parent of each node, for error messages.
    parent_nodes: Vec<NodeId>,
    /// Node of an existing /lost+found directory.
    lost_found_node: Option<NodeId>,
    /// Blocks the content needs, metadata of the filesystem aside.
    blocks: u64,
}

impl<'t> Ext4Plan<'t> {
    /// Plans a filesystem of `size_bytes` holding `tree`.
    pub fn new(tree: &'t Tree, size_bytes: u64, options: &Ext4Options) -> Result<Self> {
        let content = number_inodes(tree, options.block_size)?;
        let layout = Ext4Layout::new(size_bytes, options, content.slots.len() as u64)?;
        plan_with(tree, content, layout, options, &PlacedData::default())
    }

    /// Plans `tree` into a layout whose file data was already placed (and
    /// written) as it streamed in: files listed in `placed` keep their
    /// blocks; everything else is placed after them.
    pub fn with_placed(
        tree: &'t Tree,
        layout: Ext4Layout,
        options: &Ext4Options,
        placed: &PlacedData,
    ) -> Result<Self> {
        let content = number_inodes(tree, options.block_size)?;
        let capacity = u64::from(layout.geometry.inodes_count());
        if content.slots.len() as u64 > capacity {
            return Err(Error::TooSmall {
                what: format!("{} inodes", content.slots.len()),
                needed: content.slots.len() as u64 * layout.geometry.bs() * 4,
                available: layout.size_bytes,
            });
        }
        plan_with(tree, content, layout, options, placed)
    }

    /// The smallest filesystem size (bytes) that holds `tree`, plus
    /// `headroom_percent` of the tree's own size as free space, and the
    /// number of inodes to ask for (the tree's plus the same headroom).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::{Ext4Options, Ext4Plan};
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let meta = Metadata::directory(Timestamp::from_secs(0));
    /// let mut tree = Tree::new(meta.clone());
    /// let data = FileContent::from_bytes(vec![7u8; 3 << 20]);
    /// tree.add(Tree::ROOT, b"data.bin", Node::new(meta, NodeKind::File(data)))?;
    ///
    /// let options = Ext4Options::default();
    /// let (size, inodes) = Ext4Plan::min_size(&tree, &options, 20)?; // 20 % free space
    /// let plan = Ext4Plan::new(&tree, size, &Ext4Options { min_inodes: inodes, ..options })?;
    /// assert!(plan.free_blocks() * 4096 >= (3 << 20) / 5);
    /// assert!(plan.data_bytes() >= 3 << 20);
    /// # Ok(())
    /// # }
    /// ```
    pub fn min_size(
        tree: &Tree,
        options: &Ext4Options,
        headroom_percent: u32,
    ) -> Result<(u64, u64)> {
        let content = number_inodes(tree, options.block_size)?;
        let bs = u64::from(options.block_size);
        let content_bytes = content.blocks * bs;
        let extra = content_bytes / 100 * u64::from(headroom_percent);
        let inodes = content.slots.len() as u64 * (100 + u64::from(headroom_percent)) / 100;
        // Inode tables, bitmaps, superblock copies and a journal on top of the
        // content; then grow until the plan fits.
        let mut size = (content_bytes + extra + inodes * 256).max(8 << 20);
        size += default_journal_bytes(size / bs, bs, options.journal);
        size = size.div_ceil(1 << 20) << 20;
        for _ in 0..64 {
            let geometry = Geometry::new(
                size,
                options.block_size,
                options.inode_ratio,
                inodes,
                options.journal,
            );
            if let Ok(geometry) = geometry {
                let free = geometry_free_estimate(&geometry);
                if free >= content.blocks + extra / bs {
                    return Ok((size, inodes));
                }
            }
            size = (size + size / 16).div_ceil(1 << 20) << 20;
        }
        Err(Error::TooLarge {
            what: "tree".into(),
            size,
            limit: size,
        })
    }

    /// Geometry of the planned filesystem.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Filesystem UUID.
    pub fn uuid(&self) -> [u8; 16] {
        self.superblock.uuid
    }

    /// The build time of a reproducible plan (its options' timestamp).
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.clamp
    }

    /// Free blocks after writing.
    pub fn free_blocks(&self) -> u64 {
        self.superblock.free_blocks
    }

    /// Free inodes after writing.
    pub fn free_inodes(&self) -> u32 {
        self.superblock.free_inodes
    }

    /// Bytes of file data the write will copy.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Byte ranges (from the filesystem's start) that `write` fills,
    /// ascending; everything else reads as zeros.
    pub fn written_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let bs = self.geometry.bs();
        self.pieces
            .iter()
            .map(move |p| (p.block * bs, p.count * bs))
    }
}

fn default_journal_bytes(blocks: u64, bs: u64, journal: bool) -> u64 {
    if journal {
        u64::from(super::geometry::default_journal_blocks(blocks)) * bs
    } else {
        0
    }
}

/// Path of a node for error messages, found by walking up its first
/// parents (only on error paths, so the lookup of names is fine).
fn node_path(tree: &Tree, parent_nodes: &[NodeId], id: NodeId) -> String {
    let mut parts = Vec::new();
    let mut current = id;
    while current != Tree::ROOT && parts.len() < 4096 {
        let parent = parent_nodes[current.index()];
        let name = tree
            .entries(parent)
            .and_then(|entries| entries.iter().find(|(_, &child)| child == current))
            .map(|(name, _)| String::from_utf8_lossy(name).into_owned())
            .unwrap_or_default();
        parts.push(name);
        current = parent;
    }
    parts.reverse();
    format!("/{}", parts.join("/"))
}

/// Numbers the inodes breadth-first from the root and counts links and the
/// blocks the content needs.
fn number_inodes(tree: &Tree, block_size: u32) -> Result<Content> {
    let n = tree.len();
    let mut inos = vec![0u32; n];
    let mut links = vec![0u32; n];
    let mut parents = vec![0u32; n];
    let mut parent_nodes = vec![Tree::ROOT; n];
    let mut slots = vec![Slot::Reserved; (FIRST_INO - 1) as usize];
    slots[(ROOT_INO - 1) as usize] = Slot::Node(Tree::ROOT);
    inos[Tree::ROOT.index()] = ROOT_INO;
    parents[Tree::ROOT.index()] = ROOT_INO;
    let lost_found_node = tree
        .entries(Tree::ROOT)
        .and_then(|e| e.get(b"lost+found".as_slice()).copied())
        .filter(|&id| tree.node(id).is_dir());
    match lost_found_node {
        Some(id) => {
            slots.push(Slot::Node(id));
            inos[id.index()] = LOST_FOUND_INO;
        }
        None => slots.push(Slot::LostFound),
    }
    let mut seen = vec![false; n];
    seen[Tree::ROOT.index()] = true;
    let mut queue = VecDeque::from([Tree::ROOT]);
    while let Some(dir_id) = queue.pop_front() {
        let dir_ino = inos[dir_id.index()];
        let Some(entries) = tree.entries(dir_id) else {
            continue;
        };
        for (name, &child) in entries {
            let child_is_dir = tree.node(child).is_dir();
            if child_is_dir {
                links[dir_id.index()] += 1;
            }
            if seen[child.index()] {
                if child_is_dir {
                    return Err(Error::from(Ext4Error::DirectoryHardLink {
                        path: format!(
                            "{}/{}",
                            node_path(tree, &parent_nodes, dir_id),
                            String::from_utf8_lossy(name)
                        ),
                    }));
                }
                links[child.index()] += 1;
                continue;
            }
            seen[child.index()] = true;
            parent_nodes[child.index()] = dir_id;
            if inos[child.index()] == 0 {
                slots.push(Slot::Node(child));
                inos[child.index()] = slots.len() as u32;
            }
            links[child.index()] = if child_is_dir { 2 } else { 1 };
            parents[child.index()] = dir_ino;
            if child_is_dir {
                queue.push_back(child);
            }
        }
    }
    links[Tree::ROOT.index()] += 2 + u32::from(lost_found_node.is_none());
    let bs = u64::from(block_size);
    let mut blocks = if lost_found_node.is_none() {
        (LOST_FOUND_BYTES as u64).div_ceil(bs)
    } else {
        0
    };
    for &slot in &slots {
        let Slot::Node(id) = slot else { continue };
        let node = tree.node(id);
        let path = || node_path(tree, &parent_nodes, id);
        if !node.is_dir() && links[id.index()] > MAX_LINKS {
            return Err(Error::from(Ext4Error::TooManyLinks {
                path: path(),
                links: links[id.index()],
            }));
        }
        blocks += match &node.kind {
            NodeKind::File(content) => {
                let data: u64 = logical_runs(&content.segments, content.size, bs)
                    .iter()
                    .map(|r| r.len)
                    .sum();
                data + data.div_ceil(MAX_EXTENT_LEN * 4)
            }
            NodeKind::Directory(entries) => {
                let bytes: usize =
                    entries.keys().map(|k| rec_len(k.len())).sum::<usize>() + 2 * DOT_REC_LEN;
                (bytes as u64).div_ceil(bs - LEAF_TAIL_LEN as u64) + 1
            }
            NodeKind::Symlink(target) => {
                if target.is_empty() || target.len() >= block_size as usize {
                    return Err(Error::from(Ext4Error::SymlinkTooLong {
                        path: path(),
                        len: target.len(),
                        limit: block_size as usize - 1,
                    }));
                }
                u64::from(target.len() >= 60)
            }
            _ => 0,
        };
        blocks += u64::from(!node.xattrs.is_empty());
    }
    Ok(Content {
        inos,
        slots,
        links,
        parent_nodes,
        parents,
        lost_found_node,
        blocks,
    })
}

fn plan_with<'t>(
    tree: &'t Tree,
    content: Content,
    layout: Ext4Layout,
    options: &Ext4Options,
    placed: &PlacedData,
) -> Result<Ext4Plan<'t>> {
    let label = label_bytes(&options.label)?;
    let now = match options.timestamp {
        Some(t) => t,
        None => Timestamp::now(),
    };
    let count = (tree.len() as u64).to_le_bytes();
    let size_le = layout.size_bytes.to_le_bytes();
    let secs = now.secs.to_le_bytes();
    let derive = |tag: &str| identity::derived_uuid(tag, &[&secs, &label, &size_le, &count]);
    let uuid = match (options.uuid, options.timestamp) {
        (Some(u), _) => u,
        (None, Some(_)) => derive("blockimg ext4 uuid"),
        (None, None) => identity::random_uuid()?,
    };
    let seed_bytes = match (options.hash_seed, options.timestamp) {
        (Some(seed), _) => seed,
        (None, Some(_)) => derive("blockimg ext4 hash seed"),
        (None, None) => identity::random_uuid()?,
    };
    let hash_seed = [0, 4, 8, 12].map(|i| {
        u32::from_le_bytes([
            seed_bytes[i],
            seed_bytes[i + 1],
            seed_bytes[i + 2],
            seed_bytes[i + 3],
        ])
    });
    let csum = Checksummer::new(&uuid);
    let Ext4Layout {
        geometry,
        mut alloc,
        mut groups,
        mut pieces,
        journal,
        resize_dind,
        size_bytes,
        ..
    } = layout;
    let g = &geometry;
    let bs = g.bs();

    // Data placed for files that a later entry replaced goes back to the
    // free space.
    for node in placed.nodes() {
        if !matches!(content.inos.get(node.index()), Some(&ino) if ino != 0) {
            alloc.release_all(placed.get(node).unwrap_or_default());
        }
    }

    // Content, in inode order.
    let mut placer = Placer {
        tree,
        content: &content,
        geometry: g,
        seed: &hash_seed,
        alloc: &mut alloc,
        pieces: &mut pieces,
        placed,
        data_bytes: 0,
        needed: size_bytes,
    };
    let mut nodes: Vec<InodePlan> = vec![InodePlan::default(); tree.len()];
    let mut lost_found = None;
    for &slot in &content.slots {
        match slot {
            Slot::LostFound => lost_found = Some(placer.place(slot)?),
            Slot::Node(id) => nodes[id.index()] = placer.place(slot)?,
            Slot::Reserved | Slot::Journal | Slot::Resize => {}
        }
    }
    let data_bytes = placer.data_bytes;
    let mut slots = content.slots;
    if journal.is_some() {
        slots[(JOURNAL_INO - 1) as usize] = Slot::Journal;
    }
    if resize_dind != 0 {
        slots[(RESIZE_INO - 1) as usize] = Slot::Resize;
    }

    // Group descriptors and bitmaps' checksums.
    let free = alloc.into_free();
    let used_inodes = slots.len() as u64;
    let ipg = u64::from(g.inodes_per_group);
    let mut dirs_per_group = vec![0u32; g.groups as usize];
    for (i, slot) in slots.iter().enumerate() {
        let is_dir = match slot {
            Slot::LostFound => true,
            Slot::Node(id) => tree.node(*id).is_dir(),
            _ => false,
        };
        if is_dir {
            dirs_per_group[i / ipg as usize] += 1;
        }
    }
    let mut free_iter = FreeCounter::new(&free);
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
            let bitmap = block_bitmap(g, &free, group);
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
            let table_blocks = (inodes_used * 256).div_ceil(bs);
            pieces.push(Piece {
                block: desc.inode_table,
                count: table_blocks,
                kind: PieceKind::InodeTable(group),
            });
        }
    }
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
    pieces.sort_unstable_by_key(|p| p.block);

    let reserved_blocks = g.blocks_count * u64::from(options.reserved_percent.min(50)) / 100;
    let mut plan = Ext4Plan {
        tree,
        geometry: geometry.clone(),
        csum,
        superblock: SuperblockInfo {
            geometry: geometry.clone(),
            free_blocks: total_free,
            free_inodes: (u64::from(geometry.inodes_count()) - used_inodes) as u32,
            reserved_blocks,
            uuid,
            hash_seed: seed_bytes,
            label,
            now: now.secs,
            journal: None,
        },
        groups,
        inos: content.inos,
        slots,
        nodes,
        lost_found,
        journal,
        resize_dind,
        free,
        pieces,
        now,
        clamp: options.timestamp,
        data_bytes,
    };
    if let Some(j) = &plan.journal {
        let record = plan.journal_record(j);
        plan.superblock.journal = Some((record.i_block, record.size));
    }
    Ok(plan)
}

/// Places the blocks of one inode after another, in inode order.
struct Placer<'a, 't> {
    tree: &'t Tree,
    content: &'a Content,
    geometry: &'a Geometry,
    seed: &'a [u32; 4],
    alloc: &'a mut Allocator,
    pieces: &'a mut Vec<Piece>,
    /// File data already written while its source streamed in.
    placed: &'a PlacedData,
    /// Bytes of file data placed so far.
    data_bytes: u64,
    /// Size of the filesystem, for "too small" errors.
    needed: u64,
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
            Slot::Node(id) => node_path(self.tree, &self.content.parent_nodes, id),
            Slot::LostFound => "/lost+found".into(),
            Slot::Journal => "<journal>".into(),
            Slot::Resize => "<resize inode>".into(),
            Slot::Reserved => "<reserved>".into(),
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

fn label_bytes(label: &str) -> Result<[u8; 16]> {
    let bytes = label.as_bytes();
    if bytes.len() > 16 {
        return Err(Error::InvalidOption {
            option: "label".into(),
            reason: format!("{label:?} is {} bytes long; at most 16 fit", bytes.len()),
        });
    }
    let mut out = [0u8; 16];
    out[..bytes.len()].copy_from_slice(bytes);
    Ok(out)
}
