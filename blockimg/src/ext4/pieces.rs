//! Where things go, as the planner records it: what each inode number
//! holds ([`Slot`]), where each inode's blocks are ([`InodePlan`]), the
//! stretches of the filesystem with known content ([`Piece`]); and the
//! mapping of a file's logical blocks onto the runs allocated for them.
//! The fixed layout (the journal), the planner (everything else) and the
//! writer share them.

use super::alloc::Run;
use super::dir::DirLayout;
use super::extent::Extent;
use super::format::extent::MAX_EXTENT_LEN;
use super::xattr::XattrLayout;
use crate::tree::NodeId;

/// What an inode number holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    /// A reserved inode left zeroed.
    Reserved,
    /// A node of the tree.
    Node(NodeId),
    /// The lost+found directory made for the image.
    LostFound,
    /// The journal.
    Journal,
    /// The resize inode.
    Resize,
}

/// Where one inode's blocks are.
#[derive(Clone, Debug, Default)]
pub struct InodePlan {
    /// Data extents (files, directories, slow symlinks, the journal).
    pub extents: Vec<Extent>,
    /// Extent tree blocks below the inode.
    pub tree_blocks: Vec<u64>,
    /// Directory layout, for directories.
    pub dir: Option<DirLayout>,
    /// Extended attributes.
    pub xattrs: XattrLayout,
    /// Block of the external xattr block, 0 for none.
    pub xattr_block: u64,
    /// Hard-link count.
    pub links: u16,
    /// Parent directory's inode number (directories).
    pub parent: u32,
}

impl InodePlan {
    /// Blocks owned by the inode: data, extent tree and xattr block.
    pub fn blocks(&self) -> u64 {
        self.extents.iter().map(|e| u64::from(e.len)).sum::<u64>()
            + self.tree_blocks.len() as u64
            + u64::from(self.xattr_block != 0)
    }
}

/// A stretch of the filesystem with known content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Piece {
    /// First block.
    pub block: u64,
    /// Number of blocks.
    pub count: u64,
    /// What the blocks hold.
    pub kind: PieceKind,
}

/// What a [`Piece`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PieceKind {
    /// A superblock copy of a group.
    Superblock(u32),
    /// The group descriptor table copy of a group.
    Gdt(u32),
    /// A group's block bitmap.
    BlockBitmap(u32),
    /// A group's inode bitmap.
    InodeBitmap(u32),
    /// The used part of a group's inode table.
    InodeTable(u32),
    /// The journal superblock.
    JournalSuperblock,
    /// The resize inode's double-indirect block.
    ResizeDind,
    /// Primary reserved descriptor block `n`, listing its backup copies.
    ReservedGdt(u32),
    /// Directory blocks from this logical index.
    Dir(Slot, u64),
    /// File data (or a slow symlink's target) from this logical block.
    Data(NodeId, u64),
    /// The `index`th extent tree block of an inode.
    ExtentBlock(Slot, u32),
    /// An inode's xattr block.
    XattrBlock(Slot),
}

/// The logical blocks of a file that hold data, as runs of `(first, count)`.
pub fn logical_runs(segments: &[crate::tree::Segment], size: u64, bs: u64) -> Vec<Run> {
    let mut runs: Vec<Run> = Vec::new();
    for seg in segments {
        let end = (seg.offset.saturating_add(seg.len)).min(size);
        if seg.len == 0 || seg.offset >= end {
            continue;
        }
        let first = seg.offset / bs;
        let last = (end - 1) / bs;
        match runs.last_mut() {
            Some(run) if first <= run.end() => {
                let new_end = run.end().max(last + 1);
                run.len = new_end - run.start;
            }
            _ => runs.push(Run {
                start: first,
                len: last + 1 - first,
            }),
        }
    }
    runs
}

/// Maps logical runs onto physical runs as extents of at most 32768 blocks.
pub(super) fn map_extents(logical: &[Run], physical: &[Run]) -> Vec<Extent> {
    let mut out = Vec::new();
    let mut phys = physical.iter().copied();
    let mut current = phys.next();
    for run in logical {
        let (mut lstart, mut left) = (run.start, run.len);
        while left > 0 {
            let Some(p) = current.as_mut() else { break };
            let n = left.min(p.len).min(MAX_EXTENT_LEN);
            out.push(Extent {
                logical: lstart as u32,
                physical: p.start,
                len: n as u16,
            });
            lstart += n;
            left -= n;
            p.start += n;
            p.len -= n;
            if p.len == 0 {
                current = phys.next();
            }
        }
    }
    out
}

/// Records an inode's extent tree blocks as pieces to write.
pub(super) fn push_tree_pieces(pieces: &mut Vec<Piece>, slot: Slot, blocks: &[u64]) {
    for (i, &block) in blocks.iter().enumerate() {
        pieces.push(Piece {
            block,
            count: 1,
            kind: PieceKind::ExtentBlock(slot, i as u32),
        });
    }
}
