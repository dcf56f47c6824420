//! Updating an existing ext4 filesystem in place, at the cost of what
//! changed: every unchanged inode, directory and data block stays where it
//! is; new and changed file data, directories and extent trees go to
//! blocks the old filesystem does not use; then the metadata the old
//! filesystem reads (inode table blocks, bitmaps, group descriptors, the
//! superblock) is committed as one jbd2 transaction in the filesystem's
//! own journal and only then written in place, so that a crash at any
//! point leaves the old filesystem or the new one, as the kernel or
//! e2fsck replay it.
//!
//! The steps, in this order, each synced before the next:
//! 1. new data, directory, extent tree and xattr blocks, in free space,
//!    the transaction in the journal (descriptor, block copies, commit)
//!    and `needs_recovery` in the superblock: all invisible until
//! 2. the journal superblock points at the transaction (from here on, a
//!    replay gives the new filesystem);
//! 3. the metadata in place;
//! 4. the journal marked empty again, `needs_recovery` cleared.
//!
//! Filesystems this cannot update (no journal, no metadata_csum, features
//! it does not write, inodes of another size) are left to a full rewrite;
//! [`update`] says why.

mod body;
mod diff;
mod disk;
mod journal;
mod space;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;

use body::{write_new_blocks, BodyWriter, DirEntries, NewBlocks, Part, Placed};
use diff::{parents_and_links, Change, Diff};
use disk::{Disk, Geometry};
pub use journal::CommitStep;
use space::Space;

use super::alloc::Run;
use super::bytes::{get_u16, get_u32, put_u16, put_u32};
use super::format::inode::{
    encode_time, EXTENTS_FL, HUGE_FILE_FL, INDEX_FL, INLINE_DATA_FL, I_CHECKSUM_HI, I_CHECKSUM_LO,
    I_CTIME, I_CTIME_EXTRA, I_EXTRA_ISIZE, I_LINKS_COUNT,
};
use super::format::superblock::*;
use super::format::xattr::H_REFCOUNT;
use super::inode::{InodeRecord, IBODY_XATTR_OFFSET};
use super::read::Ext4Reader;
use super::write::file_type;
use super::xattr;
use crate::error::{Error, Result};
use crate::tree::{NodeId, NodeKind, Timestamp, Tree};

/// Inode flags that describe an inode's blocks rather than its use.
const BODY_FLAGS: u32 = EXTENTS_FL | INDEX_FL | HUGE_FILE_FL | INLINE_DATA_FL;

/// What an in-place update wrote.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpdateSummary {
    /// Inodes written (changed, new and deleted).
    pub inodes: usize,
    /// Blocks of file data, directories, extent trees and xattrs written
    /// into free space.
    pub new_blocks: u64,
    /// Blocks of file data adopted as they were: placed by the caller in
    /// free space before the update ([`Existing::placed`]), not copied.
    pub adopted_blocks: u64,
    /// Metadata blocks committed through the journal and then in place.
    pub metadata_blocks: usize,
    /// Every block of the filesystem written, journal included, as runs
    /// `(first block, count)`: an image compared before and after differs
    /// only there (adopted blocks, written before the update, included).
    pub written: Vec<(u64, u64)>,
}

/// How a filesystem was, or was not, updated in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpdateOutcome {
    /// Updated in place.
    Updated(UpdateSummary),
    /// Nothing was written: the filesystem cannot be updated in place, for
    /// this reason; a full rewrite can.
    NotInPlace(String),
}

/// The filesystem to update and the tree it was read into.
pub struct Existing<'a> {
    /// The image file, open for reading and writing.
    pub file: &'a std::fs::File,
    /// Its path, for messages.
    pub path: &'a std::path::Path,
    /// Byte offset of the filesystem in the image.
    pub offset: u64,
    /// The reader the tree was read with.
    pub reader: &'a Ext4Reader,
    /// The tree as read.
    pub tree: &'a Tree,
    /// The inode number of each node of `tree`.
    pub inos: &'a [u32],
    /// Blocks, free in the filesystem's bitmaps, into which the caller
    /// already wrote file data, as runs `(first block, count)`; the new
    /// tree reads that data from the image file (runs of
    /// [`crate::tree::DataSource::OpenFiles`] on the image). A block of a
    /// file whose bytes all come from one placed block, at the same
    /// position within the block, becomes the file's block as it is (it
    /// is adopted) instead of being copied; the bytes of a placed block no
    /// run reads must be zeros. Placed blocks are never handed out for
    /// anything else, and those not adopted stay free. Empty for none.
    pub placed: &'a [(u64, u64)],
}

/// The blocks the filesystem at byte `offset` of `file` (the image at
/// `path`) does not use, as its block bitmaps say (those of groups never
/// used made as the kernel makes them, the others checked against their
/// checksums), in runs `(first block, count)`; `None` when the filesystem
/// cannot be updated in place at all ([`update`] would say why). Data a
/// caller writes there is invisible to the filesystem until an update
/// adopts it ([`Existing::placed`]).
pub fn free_block_runs(
    file: &std::fs::File,
    path: &std::path::Path,
    offset: u64,
) -> Result<Option<Vec<(u64, u64)>>> {
    let mut raw_sb = vec![0u8; SUPERBLOCK_LEN];
    std::os::unix::fs::FileExt::read_exact_at(file, &mut raw_sb, offset + SUPERBLOCK_OFFSET)
        .map_err(|e| Error::io(path, e))?;
    let Ok(geo) = Geometry::parse(&raw_sb) else {
        return Ok(None);
    };
    let disk = Disk {
        file: file.try_clone().map_err(|e| Error::io(path, e))?,
        path: path.to_path_buf(),
        offset,
        bs: geo.bs,
    };
    let mut space = Space::read(&disk, &geo, &[])?;
    space.free_runs().map(Some)
}

/// Changes the filesystem of `existing` into one holding `new`, in place,
/// writing only what changed. `origin` gives the node of the old tree each
/// new node was (unchanged nodes keep their inode and blocks). `now` is
/// the time written into the superblock. `step` is told each step as it
/// completes (tests stop the process there).
pub fn update(
    existing: &Existing<'_>,
    new: &Tree,
    origin: &dyn Fn(NodeId) -> Option<NodeId>,
    now: Timestamp,
    step: &mut dyn FnMut(CommitStep),
) -> Result<UpdateOutcome> {
    let file = existing
        .file
        .try_clone()
        .map_err(|e| Error::io(existing.path, e))?;
    let mut raw_sb = vec![0u8; SUPERBLOCK_LEN];
    std::os::unix::fs::FileExt::read_exact_at(
        &file,
        &mut raw_sb,
        existing.offset + SUPERBLOCK_OFFSET,
    )
    .map_err(|e| Error::io(existing.path, e))?;
    let geo = match Geometry::parse(&raw_sb) {
        Ok(geo) => geo,
        Err(reason) => return Ok(UpdateOutcome::NotInPlace(reason)),
    };
    if get_u32(&raw_sb, S_FLAGS) & FLAGS_SIGNED_HASH == 0 {
        return Ok(UpdateOutcome::NotInPlace(
            "its directory hashes treat names as unsigned".into(),
        ));
    }
    let Some(journal) = existing.reader.journal() else {
        return Ok(UpdateOutcome::NotInPlace("its journal is unusable".into()));
    };
    if journal.version != 2 || u64::from(journal.block_size) != geo.bs {
        return Ok(UpdateOutcome::NotInPlace(
            "its journal is of an old version or another block size".into(),
        ));
    }
    let disk = Disk {
        file,
        path: existing.path.to_path_buf(),
        offset: existing.offset,
        bs: geo.bs,
    };
    let meta = existing
        .file
        .metadata()
        .map_err(|e| Error::io(existing.path, e))?;
    let (new_parent, new_links) = parents_and_links(new);
    let (old_parent, old_links) = parents_and_links(existing.tree);
    let diff = Diff {
        old: existing.tree,
        new,
        old_inos: existing.inos,
        origin: (0..new.len() as u32).map(|i| origin(NodeId(i))).collect(),
        new_parent,
        old_parent,
        new_links,
        old_links,
        image_id: (meta.dev(), meta.ino()),
    };
    let changes: Vec<Change> = (0..new.len() as u32)
        .map(|i| diff.change(NodeId(i)))
        .collect();
    let placed = Placed::new(existing.placed, existing.offset, diff.image_id, geo.bs);
    // Too much to gain from: a rewrite is as cheap. Adopted blocks cost
    // nothing.
    let body_bytes: u64 = changes
        .iter()
        .enumerate()
        .filter(|(_, c)| **c == Change::Body)
        .map(|(i, _)| match &new.node(NodeId(i as u32)).kind {
            NodeKind::File(content) => copied_bytes(content, &placed, geo.bs),
            _ => geo.bs,
        })
        .sum();
    let used_bytes = (geo.blocks_count - existing.reader.info().free_blocks) * geo.bs;
    if body_bytes > used_bytes / 2 {
        return Ok(UpdateOutcome::NotInPlace(format!(
            "the change writes {body_bytes} bytes of the {used_bytes} in use"
        )));
    }
    let mut plan = Plan {
        disk: &disk,
        geo: &geo,
        reader: existing.reader,
        diff: &diff,
        inos: Vec::new(),
        tables: BTreeMap::new(),
        journaled: BTreeMap::new(),
        pending: Vec::new(),
        inodes: 0,
        now,
        placed: &placed,
        adopted: Vec::new(),
    };
    let mut space = Space::read(&disk, &geo, existing.placed)?;
    match plan.apply(&changes, &mut space) {
        Ok(Ok(())) => {}
        Ok(Err(reason)) => return Ok(UpdateOutcome::NotInPlace(reason)),
        // The blocks the change replaces cannot be reused before it
        // commits; a rewrite may still fit. Nothing the old filesystem
        // uses was written.
        Err(Error::TooSmall { needed, available, .. }) => {
            return Ok(UpdateOutcome::NotInPlace(format!(
                "the change needs {needed} bytes of free space beside the blocks it replaces, and {available} are free"
            )))
        }
        Err(e) => return Err(e),
    }
    let new_runs: Vec<Run> = plan.pending.iter().map(|b| b.run(geo.bs)).collect();
    let new_blocks: u64 = new_runs.iter().map(|r| r.len).sum();
    let (bitmaps, free_blocks_delta, free_inodes_delta) = space.finish()?;
    let mut metadata = std::mem::take(&mut plan.tables);
    metadata.extend(std::mem::take(&mut plan.journaled));
    metadata.extend(bitmaps);
    let (sb_block, sb_bytes) =
        superblock_block(&disk, &raw_sb, free_blocks_delta, free_inodes_delta, now)?;
    metadata.insert(sb_block, sb_bytes);
    if metadata.len() as u64 > u64::from(journal.blocks) / 4 {
        return Ok(UpdateOutcome::NotInPlace(format!(
            "the change touches {} metadata blocks, more than a quarter of the journal's {}",
            metadata.len(),
            journal.blocks
        )));
    }
    // Every allocation succeeded: from here on the image changes.
    write_new_blocks(&disk, &plan.pending)?;
    step(CommitStep::NewBlocksWritten);
    let journal_runs = journal::commit(&disk, existing.reader, &metadata, step)?;
    let mut written: Vec<(u64, u64)> = new_runs.iter().map(|r| (r.start, r.len)).collect();
    written.extend(plan.adopted.iter().map(|r| (r.start, r.len)));
    written.extend(metadata.keys().map(|&b| (b, 1)));
    written.extend(journal_runs);
    Ok(UpdateOutcome::Updated(UpdateSummary {
        inodes: plan.inodes,
        new_blocks,
        adopted_blocks: plan.adopted.iter().map(|r| r.len).sum(),
        metadata_blocks: metadata.len(),
        written,
    }))
}

/// Bytes of `content` an update copies: its data, less the blocks it
/// adopts from `placed`.
fn copied_bytes(content: &crate::tree::FileContent, placed: &Placed, bs: u64) -> u64 {
    let data: u64 = content.segments.iter().map(|s| s.len).sum();
    let adopted: u64 = placed
        .parts(content)
        .iter()
        .map(|part| match part {
            Part::Adopt { logical, run } => {
                let start = logical * bs;
                ((logical + run.len) * bs)
                    .min(content.size)
                    .saturating_sub(start)
            }
            Part::Copy { .. } => 0,
        })
        .sum();
    data.saturating_sub(adopted)
}

/// The superblock's block with the free counts moved by the update, the
/// write time set and the checksum recomputed.
fn superblock_block(
    disk: &Disk,
    raw: &[u8],
    free_blocks_delta: i64,
    free_inodes_delta: i64,
    now: Timestamp,
) -> Result<(u64, Vec<u8>)> {
    let mut sb = raw.to_vec();
    let wide = get_u32(&sb, S_FEATURE_INCOMPAT) & 0x80 != 0;
    let free_blocks = super::bytes::join64(
        get_u32(&sb, S_FREE_BLOCKS_COUNT_LO),
        if wide {
            get_u32(&sb, S_FREE_BLOCKS_COUNT_HI)
        } else {
            0
        },
    );
    let free_blocks = (free_blocks as i64 + free_blocks_delta).max(0) as u64;
    put_u32(&mut sb, S_FREE_BLOCKS_COUNT_LO, free_blocks as u32);
    if wide {
        put_u32(&mut sb, S_FREE_BLOCKS_COUNT_HI, (free_blocks >> 32) as u32);
    }
    let free_inodes = (i64::from(get_u32(&sb, S_FREE_INODES_COUNT)) + free_inodes_delta).max(0);
    put_u32(&mut sb, S_FREE_INODES_COUNT, free_inodes as u32);
    put_u32(&mut sb, S_WTIME, now.secs as u32);
    if let Some(byte) = sb.get_mut(S_WTIME_HI) {
        *byte = (now.secs >> 32) as u8;
    }
    let sum = super::csum::Checksummer::superblock(&sb);
    put_u32(&mut sb, S_CHECKSUM, sum);
    let (block, at) = if disk.bs > SUPERBLOCK_OFFSET {
        (0, SUPERBLOCK_OFFSET as usize)
    } else {
        (SUPERBLOCK_OFFSET / disk.bs, 0)
    };
    let mut bytes = disk.read_block(block)?;
    if let Some(slot) = bytes.get_mut(at..at + SUPERBLOCK_LEN) {
        slot.copy_from_slice(&sb);
    }
    Ok((block, bytes))
}

/// The update being worked out.
struct Plan<'a> {
    disk: &'a Disk,
    geo: &'a Geometry,
    reader: &'a Ext4Reader,
    diff: &'a Diff<'a>,
    /// Inode number of each new node.
    inos: Vec<u32>,
    /// Inode table blocks, as changed.
    tables: BTreeMap<u64, Vec<u8>>,
    /// Other blocks the old filesystem uses, as changed (xattr blocks
    /// whose reference count dropped).
    journaled: BTreeMap<u64, Vec<u8>>,
    /// Blocks to write into free space.
    pending: Vec<NewBlocks<'a>>,
    /// Inodes written.
    inodes: usize,
    /// The time of the change, for the ctime of inodes that only lose a
    /// link.
    now: Timestamp,
    /// Blocks holding placed file data.
    placed: &'a Placed,
    /// Placed blocks files adopted.
    adopted: Vec<Run>,
}

impl<'a> Plan<'a> {
    /// Works out and writes every inode's new body, frees what is gone,
    /// and gathers the inode table blocks. `Err(reason)` when an inode
    /// cannot be updated in place.
    fn apply(
        &mut self,
        changes: &[Change],
        space: &mut Space<'_>,
    ) -> Result<std::result::Result<(), String>> {
        let diff = self.diff;
        let new = diff.new;
        // Inode numbers: kept, or new.
        let mut kept = vec![false; diff.old.len()];
        self.inos = vec![0; new.len()];
        for (i, origin) in diff.origin.iter().enumerate() {
            if !diff.reachable(NodeId(i as u32)) {
                continue;
            }
            if let Some(o) = origin {
                match (kept.get_mut(o.index()), diff.old_inos.get(o.index())) {
                    (Some(k), Some(&ino)) if !*k => {
                        *k = true;
                        self.inos[i] = ino;
                    }
                    _ => return Ok(Err("two nodes claim one inode".into())),
                }
            }
        }
        for (i, ino) in self.inos.iter_mut().enumerate() {
            if *ino == 0 && diff.reachable(NodeId(i as u32)) {
                *ino = space.alloc_inode(new.node(NodeId(i as u32)).is_dir())?;
            }
        }
        // Deleted inodes: their blocks and numbers are freed.
        for (o, &k) in kept.iter().enumerate() {
            if k {
                continue;
            }
            let Some(&ino) = diff.old_inos.get(o) else {
                continue;
            };
            let Some(owned) = self.reader.owned_blocks(ino)? else {
                return Ok(Err(format!("inode {ino} uses an ext2/3 block map")));
            };
            // Names outside the part of the tree read keep a file alive
            // with fewer links.
            let old_links = diff.old_links.get(o).copied().unwrap_or(0);
            let remaining = u32::from(get_u16(&owned.raw, I_LINKS_COUNT)).saturating_sub(old_links);
            if remaining > 0 && !diff.old.node(NodeId(o as u32)).is_dir() {
                let mut raw = owned.raw.clone();
                put_u16(&mut raw, I_LINKS_COUNT, remaining as u16);
                let (ctime, extra) = encode_time(self.now);
                put_u32(&mut raw, I_CTIME, ctime);
                put_u32(&mut raw, I_CTIME_EXTRA, extra);
                if let Some(csum) = &self.geo.csum {
                    let sum = csum.inode(ino, owned.generation, &raw);
                    put_u16(&mut raw, I_CHECKSUM_LO, sum as u16);
                    put_u16(&mut raw, I_CHECKSUM_HI, (sum >> 16) as u16);
                }
                self.put_inode(ino, &raw)?;
                continue;
            }
            for &(start, len) in &owned.runs {
                space.free_blocks(Run { start, len });
            }
            self.drop_xattr_block(owned.xattr_block, space)?;
            space.free_inode(ino, diff.old.node(NodeId(o as u32)).is_dir())?;
            self.put_inode(ino, &[0u8; 256])?;
        }
        for (i, change) in changes.iter().enumerate() {
            let id = NodeId(i as u32);
            if *change == Change::Unchanged || !diff.reachable(id) {
                continue;
            }
            if let Err(reason) = self.inode(id, *change, space)? {
                return Ok(Err(reason));
            }
        }
        Ok(Ok(()))
    }

    /// Writes new node `id`'s inode (and, for a `Body` change, its
    /// blocks).
    fn inode(
        &mut self,
        id: NodeId,
        change: Change,
        space: &mut Space<'_>,
    ) -> Result<std::result::Result<(), String>> {
        let diff = self.diff;
        let node = diff.new.node(id);
        let ino = self.inos[id.index()];
        let old = match diff.origin.get(id.index()).copied().flatten() {
            Some(_) => match self.reader.owned_blocks(ino)? {
                Some(owned) => Some(owned),
                None => return Ok(Err(format!("inode {ino} uses an ext2/3 block map"))),
            },
            None => None,
        };
        if old
            .as_ref()
            .is_some_and(|o| o.flags & HUGE_FILE_FL != 0 || o.flags & EXTENTS_FL == 0)
        {
            return Ok(Err(format!(
                "inode {ino} has flags an update does not keep"
            )));
        }
        let generation = old.as_ref().map_or(0, |o| o.generation);
        let Some(csum) = self.geo.csum else {
            return Ok(Err("the filesystem has no metadata_csum".into()));
        };
        let inode_seed = csum.inode_seed(ino, generation);
        let (i_block, size, flags, blocks) = match (change, &old) {
            (Change::Metadata, Some(o)) => {
                let size = match &node.kind {
                    NodeKind::File(c) => c.size,
                    NodeKind::Symlink(t) => t.len() as u64,
                    _ => self.reader.stat(ino)?.size,
                };
                let xattr_sectors = if o.xattr_block != 0 {
                    self.geo.bs / 512
                } else {
                    0
                };
                let blocks = (o.sectors - xattr_sectors.min(o.sectors)) / (self.geo.bs / 512);
                (o.i_block, size, o.flags, blocks)
            }
            _ => {
                if let Some(o) = &old {
                    for &(start, len) in &o.runs {
                        space.free_blocks(Run { start, len });
                    }
                }
                let dir = self.dir_entries(id);
                let mut writer = BodyWriter {
                    geo: self.geo,
                    space,
                    inode_seed,
                    pending: &mut self.pending,
                    placed: self.placed,
                    adopted: &mut self.adopted,
                };
                let body = writer.write(&node.kind, dir.as_ref())?;
                // Flags the inode's owner set (immutable, append-only,
                // no-dump, ...) stay; those describing the blocks are the
                // new body's.
                let kept = old.as_ref().map_or(0, |o| o.flags & !BODY_FLAGS);
                (body.i_block, body.size, body.flags | kept, body.blocks)
            }
        };
        // Xattrs: kept where they are when unchanged, else laid out anew.
        let old_xattrs = diff
            .origin
            .get(id.index())
            .copied()
            .flatten()
            .map(|o| &diff.old.node(o).xattrs);
        let (ibody, xattr_block) = match &old {
            Some(o) if old_xattrs == Some(&node.xattrs) && keeps_ibody(&o.raw) => (
                o.raw.get(IBODY_XATTR_OFFSET..).unwrap_or_default().to_vec(),
                o.xattr_block,
            ),
            _ => {
                if let Some(o) = &old {
                    self.drop_xattr_block(o.xattr_block, space)?;
                }
                let layout =
                    xattr::layout(&node.xattrs, self.geo.bs as u32, &|| format!("inode {ino}"))?;
                let block = match layout.block {
                    Some(mut bytes) => {
                        let run = space.alloc_blocks(1)?;
                        let number = run.first().map_or(0, |r| r.start);
                        xattr::seal_block(&mut bytes, number, &csum);
                        self.pending.push(NewBlocks::Bytes {
                            start: number,
                            bytes,
                        });
                        number
                    }
                    None => 0,
                };
                (layout.ibody, block)
            }
        };
        // A file's links outside the part of the tree read stay: its count
        // moves by what changed inside it. A directory's count is its
        // entries' (all read when it changes).
        let new_links = diff.new_links.get(id.index()).copied().unwrap_or(1);
        let links = match (&old, diff.origin.get(id.index()).copied().flatten()) {
            (Some(o), Some(old_id)) if !node.is_dir() => {
                let on_disk = u32::from(get_u16(&o.raw, I_LINKS_COUNT));
                let before = diff.old_links.get(old_id.index()).copied().unwrap_or(0);
                (on_disk + new_links).saturating_sub(before).max(1)
            }
            _ => new_links,
        };
        let sectors = (blocks + u64::from(xattr_block != 0)) * (self.geo.bs / 512);
        let record = InodeRecord {
            mode: node.mode(),
            uid: node.meta.uid,
            gid: node.meta.gid,
            size,
            atime: node.meta.atime,
            ctime: node.meta.ctime,
            mtime: node.meta.mtime,
            crtime: node.meta.crtime.unwrap_or(node.meta.ctime),
            links: if node.is_dir() && links > super::MAX_LINKS {
                1
            } else {
                links.min(u32::from(u16::MAX)) as u16
            },
            sectors,
            flags,
            i_block,
            xattr_block,
            ibody_xattrs: ibody,
            generation,
        };
        self.put_inode(ino, &record.encode(ino, &csum))?;
        Ok(Ok(()))
    }

    /// A directory's entries as its blocks list them.
    fn dir_entries(&self, id: NodeId) -> Option<DirEntries<'a>> {
        let new: &'a Tree = self.diff.new;
        let entries = new.entries(id)?;
        let parent = self
            .diff
            .new_parent
            .get(id.index())
            .map_or(2, |p| self.inos[p.index()]);
        Some(DirEntries {
            ino: self.inos[id.index()],
            parent,
            entries: entries
                .iter()
                .map(|(name, &child)| {
                    (
                        name.as_slice(),
                        self.inos[child.index()],
                        file_type(&new.node(child).kind),
                    )
                })
                .collect(),
        })
    }

    /// Releases an inode's hold on its external xattr block: the block is
    /// freed when it was the last, else its reference count drops.
    fn drop_xattr_block(&mut self, block: u64, space: &mut Space<'_>) -> Result<()> {
        if block == 0 {
            return Ok(());
        }
        let mut bytes = match self.journaled.get(&block) {
            Some(bytes) => bytes.clone(),
            None => self.disk.read_block(block)?,
        };
        let refs = get_u32(&bytes, H_REFCOUNT);
        if refs <= 1 {
            self.journaled.remove(&block);
            space.free_blocks(Run {
                start: block,
                len: 1,
            });
        } else {
            put_u32(&mut bytes, H_REFCOUNT, refs - 1);
            if let Some(csum) = &self.geo.csum {
                xattr::seal_block(&mut bytes, block, csum);
            }
            self.journaled.insert(block, bytes);
        }
        Ok(())
    }

    /// Puts inode `ino`'s bytes into its table block.
    fn put_inode(&mut self, ino: u32, bytes: &[u8]) -> Result<()> {
        let location = self.reader.inode_location(ino)?;
        let bs = self.geo.bs;
        let (block, at) = (location / bs, (location % bs) as usize);
        if !self.tables.contains_key(&block) {
            let read = self.disk.read_block(block)?;
            self.tables.insert(block, read);
        }
        if let Some(slot) = self
            .tables
            .get_mut(&block)
            .and_then(|t| t.get_mut(at..at + bytes.len()))
        {
            slot.copy_from_slice(bytes);
        }
        self.inodes += 1;
        Ok(())
    }
}

/// Whether an inode's in-inode xattrs start where this crate's encoder
/// puts them (so they can be copied as they are).
fn keeps_ibody(raw: &[u8]) -> bool {
    raw.len() == 256
        && usize::from(super::bytes::get_u16(raw, I_EXTRA_ISIZE)) + 128 == IBODY_XATTR_OFFSET
}
