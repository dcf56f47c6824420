//! Emission: turns a plan into bytes, in ascending offset order, into a
//! sink. File data is read from its source only here.

use std::fs::File;

use super::bytes::put_u32;
use super::content::LOST_FOUND_INO;
use super::dir::DirContext;
use super::extent;
use super::format::dir::*;
use super::format::inode::{
    encode_device, DIND_BLOCK, EXTENTS_FL, INDEX_FL, I_BLOCK_LEN, JOURNAL_INO, RESIZE_INO, ROOT_INO,
};
use super::format::superblock::{SUPERBLOCK_LEN, SUPERBLOCK_OFFSET};
use super::groups::{block_bitmap, inode_bitmap};
use super::inode::InodeRecord;
use super::journal;
use super::pieces::{InodePlan, PieceKind, Slot};
use super::plan::Ext4Plan;
use super::resize;
use super::xattr;
use crate::error::Result;
use crate::sink::Sink;
use crate::tree::{FileContent, NodeId, NodeKind, Timestamp};

/// Largest read of file data at once.
const READ_CHUNK: u64 = 1 << 20;

/// Which source an open file belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SourceKey {
    /// The host file of one node.
    Node(NodeId),
    /// A file shared by many nodes (an archive, an image), see
    /// [`crate::tree::DataSource::shared_file`].
    Shared(usize),
}

/// The open source file of the data being copied.
struct OpenSource {
    key: SourceKey,
    file: Option<File>,
}

impl Ext4Plan<'_> {
    /// Writes the filesystem into `sink`, at byte `offset` of the disk.
    /// `progress` is told how many bytes of file data were copied so far.
    pub fn write(
        &self,
        sink: &mut dyn Sink,
        offset: u64,
        progress: &mut dyn FnMut(u64),
    ) -> Result<()> {
        let bs = self.geometry.bs();
        let mut open: Option<OpenSource> = None;
        let mut copied = 0u64;
        let mut buf = Vec::new();
        for piece in &self.pieces {
            let at = offset + piece.block * bs;
            match piece.kind {
                PieceKind::Superblock(group) => {
                    let mut block = vec![0u8; bs as usize];
                    // The primary superblock starts at SUPERBLOCK_OFFSET:
                    // block 1 with 1 KiB blocks, else inside block 0.
                    let start = if group == 0 && bs > SUPERBLOCK_OFFSET {
                        SUPERBLOCK_OFFSET as usize
                    } else {
                        0
                    };
                    block[start..start + SUPERBLOCK_LEN]
                        .copy_from_slice(&self.superblock.encode(group));
                    sink.write_at(at, &block)?;
                }
                PieceKind::Gdt(_) => {
                    let mut table = vec![0u8; (piece.count * bs) as usize];
                    for (g, desc) in self.groups.iter().enumerate() {
                        let d = desc.encode(g as u32, &self.csum);
                        table[g * d.len()..(g + 1) * d.len()].copy_from_slice(&d);
                    }
                    sink.write_at(at, &table)?;
                }
                PieceKind::BlockBitmap(group) => {
                    sink.write_at(at, &block_bitmap(&self.geometry, &self.free, group))?;
                }
                PieceKind::InodeBitmap(group) => {
                    let used = self.inodes_used_in(group);
                    sink.write_at(at, &inode_bitmap(&self.geometry, used))?;
                }
                PieceKind::InodeTable(group) => {
                    sink.write_at(at, &self.inode_table(group, piece.count))?;
                }
                PieceKind::JournalSuperblock => {
                    let block = journal::superblock(
                        self.geometry.block_size,
                        self.geometry.journal_blocks,
                        &self.superblock.uuid,
                    );
                    sink.write_at(at, &block)?;
                }
                PieceKind::ResizeDind => {
                    sink.write_at(at, &resize::dind_block(&self.geometry))?;
                }
                PieceKind::ReservedGdt(index) => {
                    sink.write_at(at, &resize::reserved_block(&self.geometry, index))?;
                }
                PieceKind::Dir(slot, logical) => {
                    let (layout_plan, ctx_names, targets, ino, parent) = self.dir_parts(slot);
                    let ctx = DirContext {
                        block_size: self.geometry.block_size,
                        ino,
                        parent_ino: parent,
                        names: &ctx_names,
                        targets: &targets,
                        inode_seed: self.csum.inode_seed(ino, 0),
                    };
                    if let Some(layout) = &layout_plan.dir {
                        let mut bytes = Vec::with_capacity((piece.count * bs) as usize);
                        for i in 0..piece.count {
                            bytes.extend_from_slice(&ctx.block(layout, (logical + i) as usize));
                        }
                        sink.write_at(at, &bytes)?;
                    }
                }
                PieceKind::Data(id, logical) => {
                    let node = self.tree.node(id);
                    match &node.kind {
                        NodeKind::File(content) => {
                            let start = logical * bs;
                            let end = ((logical + piece.count) * bs).min(content.size);
                            let mut pos = start;
                            while pos < end {
                                let n = (end - pos).min(READ_CHUNK);
                                buf.resize(n.div_ceil(bs) as usize * bs as usize, 0);
                                buf[n as usize..].fill(0);
                                read_data(&mut open, id, content, pos, &mut buf[..n as usize])?;
                                sink.write_at(at + (pos - start), &buf)?;
                                pos += n;
                                copied += n;
                                progress(copied);
                            }
                        }
                        NodeKind::Symlink(target) => {
                            let mut block = vec![0u8; bs as usize];
                            block[..target.len()].copy_from_slice(target);
                            sink.write_at(at, &block)?;
                        }
                        _ => {}
                    }
                }
                PieceKind::ExtentBlock(slot, index) => {
                    let (plan, ino) = self.inode_plan(slot);
                    let tree = extent::encode(
                        &plan.extents,
                        &plan.tree_blocks,
                        self.geometry.block_size,
                        self.csum.inode_seed(ino, 0),
                    );
                    if let Some((_, block)) = tree.blocks.get(index as usize) {
                        sink.write_at(at, block)?;
                    }
                }
                PieceKind::XattrBlock(slot) => {
                    let (plan, _) = self.inode_plan(slot);
                    if let Some(block) = &plan.xattrs.block {
                        let mut block = block.clone();
                        xattr::seal_block(&mut block, plan.xattr_block, &self.csum);
                        sink.write_at(at, &block)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn inodes_used_in(&self, group: u32) -> u64 {
        let ipg = u64::from(self.geometry.inodes_per_group);
        (self.slots.len() as u64)
            .saturating_sub(u64::from(group) * ipg)
            .min(ipg)
    }

    fn ino_of_slot(&self, slot: Slot) -> u32 {
        match slot {
            Slot::Node(id) => self.inos[id.index()],
            Slot::LostFound => LOST_FOUND_INO,
            Slot::Journal => JOURNAL_INO,
            Slot::Resize => RESIZE_INO,
            Slot::Reserved => 0,
        }
    }

    fn inode_plan(&self, slot: Slot) -> (&InodePlan, u32) {
        static EMPTY: std::sync::OnceLock<InodePlan> = std::sync::OnceLock::new();
        let empty = EMPTY.get_or_init(InodePlan::default);
        let plan = match slot {
            Slot::Node(id) => &self.nodes[id.index()],
            Slot::LostFound => self.lost_found.as_ref().unwrap_or(empty),
            Slot::Journal => self.journal.as_ref().unwrap_or(empty),
            Slot::Reserved | Slot::Resize => empty,
        };
        (plan, self.ino_of_slot(slot))
    }

    /// The directory's plan, entry names, entry targets, own and parent
    /// inode numbers.
    #[allow(clippy::type_complexity)]
    fn dir_parts(&self, slot: Slot) -> (&InodePlan, Vec<&[u8]>, Vec<(u32, u8)>, u32, u32) {
        let (plan, ino) = self.inode_plan(slot);
        let mut names = Vec::new();
        let mut targets = Vec::new();
        if let Slot::Node(id) = slot {
            if let Some(entries) = self.tree.entries(id) {
                for (name, &child) in entries {
                    names.push(name.as_slice());
                    targets.push((
                        self.inos[child.index()],
                        file_type(&self.tree.node(child).kind),
                    ));
                }
            }
            if id == crate::tree::Tree::ROOT && self.lost_found.is_some() {
                names.push(b"lost+found".as_slice());
                targets.push((LOST_FOUND_INO, FT_DIR));
            }
        }
        (plan, names, targets, ino, plan.parent.max(ROOT_INO))
    }

    fn clamp(&self, t: Timestamp) -> Timestamp {
        match self.clamp {
            Some(limit) => t.clamp_to(limit),
            None => t,
        }
    }

    fn inode_table(&self, group: u32, blocks: u64) -> Vec<u8> {
        let bs = self.geometry.bs();
        let mut table = vec![0u8; (blocks * bs) as usize];
        let first = group * self.geometry.inodes_per_group;
        let used = self.inodes_used_in(group) as u32;
        for i in 0..used {
            let ino = first + i + 1;
            let slot = self.slots[(ino - 1) as usize];
            if slot == Slot::Reserved {
                continue;
            }
            let record = self.record(slot);
            let bytes = record.encode(ino, &self.csum);
            let at = i as usize * bytes.len();
            table[at..at + bytes.len()].copy_from_slice(&bytes);
        }
        table
    }

    /// The journal inode's record.
    pub(super) fn journal_record(&self, plan: &InodePlan) -> InodeRecord {
        let mut r = self.base_record(plan, JOURNAL_INO);
        r.mode = 0o100600;
        r.size = u64::from(self.geometry.journal_blocks) * self.geometry.bs();
        r.flags = EXTENTS_FL;
        r.atime = self.now;
        r.ctime = self.now;
        r.mtime = self.now;
        r.crtime = self.now;
        r
    }

    fn base_record(&self, plan: &InodePlan, ino: u32) -> InodeRecord {
        let tree = extent::encode(
            &plan.extents,
            &plan.tree_blocks,
            self.geometry.block_size,
            self.csum.inode_seed(ino, 0),
        );
        InodeRecord {
            links: plan.links,
            sectors: plan.blocks() * (self.geometry.bs() / 512),
            i_block: tree.i_block,
            xattr_block: plan.xattr_block,
            ibody_xattrs: plan.xattrs.ibody.clone(),
            ..Default::default()
        }
    }

    fn record(&self, slot: Slot) -> InodeRecord {
        let (plan, ino) = self.inode_plan(slot);
        let now = self.clamp(self.now);
        match slot {
            Slot::Journal => self.journal_record(plan),
            Slot::LostFound => {
                let mut r = self.base_record(plan, ino);
                r.mode = 0o040700;
                r.size = plan.blocks() * self.geometry.bs();
                r.flags = EXTENTS_FL;
                (r.atime, r.ctime, r.mtime, r.crtime) = (now, now, now, now);
                r
            }
            Slot::Reserved => InodeRecord::default(),
            Slot::Resize => {
                let mut r = InodeRecord {
                    mode: 0o100600,
                    links: 1,
                    size: resize::size(&self.geometry),
                    sectors: resize::owned_blocks(&self.geometry) * (self.geometry.bs() / 512),
                    ..Default::default()
                };
                // Only the double-indirect slot of the block map is used.
                put_u32(&mut r.i_block, DIND_BLOCK * 4, self.resize_dind as u32);
                (r.atime, r.ctime, r.mtime, r.crtime) = (now, now, now, now);
                r
            }
            Slot::Node(id) => {
                let node = self.tree.node(id);
                let mut r = self.base_record(plan, ino);
                r.mode = node.mode();
                r.uid = node.meta.uid;
                r.gid = node.meta.gid;
                // Access times change whenever anything reads the source, so
                // a reproducible build records the modification time instead.
                r.atime = match self.clamp {
                    Some(_) => self.clamp(node.meta.mtime),
                    None => node.meta.atime,
                };
                r.ctime = self.clamp(node.meta.ctime);
                r.mtime = self.clamp(node.meta.mtime);
                r.crtime = self.clamp(node.meta.crtime.unwrap_or(now));
                match &node.kind {
                    NodeKind::File(content) => {
                        r.size = content.size;
                        r.flags = EXTENTS_FL;
                    }
                    NodeKind::Directory(_) => {
                        let blocks = plan.dir.as_ref().map_or(0, |d| d.block_count() as u64);
                        r.size = blocks * self.geometry.bs();
                        r.flags = EXTENTS_FL;
                        if plan.dir.as_ref().is_some_and(|d| d.is_indexed()) {
                            r.flags |= INDEX_FL;
                        }
                    }
                    NodeKind::Symlink(target) => {
                        r.size = target.len() as u64;
                        if target.len() < I_BLOCK_LEN {
                            r.i_block = [0; I_BLOCK_LEN];
                            r.i_block[..target.len()].copy_from_slice(target);
                        } else {
                            r.flags = EXTENTS_FL;
                        }
                    }
                    NodeKind::CharDevice { major, minor }
                    | NodeKind::BlockDevice { major, minor } => {
                        r.i_block = encode_device(*major, *minor);
                    }
                    NodeKind::Fifo | NodeKind::Socket => {
                        r.i_block = [0; I_BLOCK_LEN];
                    }
                }
                r
            }
        }
    }
}

/// The ext4 directory entry file type of a node kind.
pub(super) fn file_type(kind: &NodeKind) -> u8 {
    match kind {
        NodeKind::File(_) => FT_REG_FILE,
        NodeKind::Directory(_) => FT_DIR,
        NodeKind::CharDevice { .. } => FT_CHRDEV,
        NodeKind::BlockDevice { .. } => FT_BLKDEV,
        NodeKind::Fifo => FT_FIFO,
        NodeKind::Socket => FT_SOCK,
        NodeKind::Symlink(_) => FT_SYMLINK,
    }
}

/// Reads `buf.len()` bytes of a file's data from `pos`. The open source
/// file is kept between calls: consecutive pieces usually come from the same
/// file (or the same archive or image).
fn read_data(
    open: &mut Option<OpenSource>,
    id: NodeId,
    content: &FileContent,
    pos: u64,
    buf: &mut [u8],
) -> Result<()> {
    let key = match content.source.shared_file() {
        Some(shared) => SourceKey::Shared(shared),
        None => SourceKey::Node(id),
    };
    let source = match open {
        Some(source) if source.key == key => source,
        _ => open.insert(OpenSource {
            key,
            file: content.source.open_file(content.size)?,
        }),
    };
    content.source.read_at(source.file.as_ref(), pos, buf)
}
