//! The blocks of an inode written anew by an update: file data, directory
//! blocks, a long symlink's target, the extent tree over them, all in
//! blocks the old filesystem does not use; and the inode's `i_block`,
//! size, flags and block count that describe them.

use std::collections::BTreeMap;

use super::diff::is_file;
use super::disk::{Disk, Geometry};
use super::space::Space;
use crate::error::Result;
use crate::ext4::alloc::Run;
use crate::ext4::dir::{self, DirContext};
use crate::ext4::extent::{self, Extent};
use crate::ext4::format::inode::{encode_device, EXTENTS_FL, INDEX_FL, I_BLOCK_LEN};
use crate::tree::{DataSource, FileContent, NodeKind, OpenRun};

/// Longest extent of initialised blocks.
const MAX_EXTENT_BLOCKS: u64 = 32768;
/// Largest read of file data at once.
const READ_CHUNK: u64 = 1 << 20;

/// How a stretch of a file's blocks gets its bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Part {
    /// Logical blocks from `logical` are the placed blocks `run`, whose
    /// bytes are already the file's: adopted as they are.
    Adopt { logical: u64, run: Run },
    /// `len` logical blocks from `logical` are copied into new blocks.
    Copy { logical: u64, len: u64 },
}

/// Blocks, free in the old filesystem, into which the caller already
/// wrote file data (see [`super::Existing::placed`]), and what tells a
/// run of the image file from runs of other files.
pub(super) struct Placed {
    /// `first block -> count`.
    runs: BTreeMap<u64, u64>,
    /// Byte offset of the filesystem in the image.
    offset: u64,
    /// Device and inode of the image file.
    image_id: (u64, u64),
    bs: u64,
}

impl Placed {
    /// The placed runs `(first block, count)`, for a filesystem at byte
    /// `offset` of the image file `image_id`, with blocks of `bs` bytes.
    pub fn new(runs: &[(u64, u64)], offset: u64, image_id: (u64, u64), bs: u64) -> Placed {
        Placed {
            runs: runs.iter().filter(|r| r.1 > 0).copied().collect(),
            offset,
            image_id,
            bs,
        }
    }

    fn contains(&self, block: u64) -> bool {
        self.runs
            .range(..=block)
            .next_back()
            .is_some_and(|(&start, &len)| block < start + len)
    }

    /// How the blocks of `content` that hold data get their bytes: a
    /// block whose bytes (up to the file's size) all come from one placed
    /// block of the image, at the same position within the block, is
    /// adopted; every other block is copied.
    pub fn parts(&self, content: &FileContent) -> Vec<Part> {
        let bs = self.bs;
        let mut parts: Vec<Part> = Vec::new();
        let adoptable = match &content.source {
            DataSource::OpenFiles { files, runs } if !self.runs.is_empty() => Some((
                runs,
                files
                    .iter()
                    .map(|f| is_file(Some(f), self.image_id))
                    .collect::<Vec<bool>>(),
            )),
            _ => None,
        };
        let mut next = 0; // the first run that may reach the block
        for (first, last) in block_spans(content, bs) {
            let Some((runs, image)) = &adoptable else {
                parts.push(Part::Copy {
                    logical: first,
                    len: last - first,
                });
                continue;
            };
            for block in first..last {
                let start = block * bs;
                while runs
                    .get(next)
                    .is_some_and(|r| r.run.file_offset + r.run.len <= start)
                {
                    next += 1;
                }
                let end = (start + bs).min(content.size);
                let source =
                    self.source_block(runs.get(next..).unwrap_or_default(), image, start, end);
                push_part(&mut parts, block, source);
            }
        }
        parts
    }

    /// The placed block all bytes `start..end` of a file (one block) are
    /// read from, at their position within it, if there is one; `runs`
    /// starts with the first run ending after `start`.
    fn source_block(&self, runs: &[OpenRun], image: &[bool], start: u64, end: u64) -> Option<u64> {
        let mut block = None;
        for r in runs.iter().take_while(|r| r.run.file_offset < end) {
            if !image.get(r.file).copied().unwrap_or(false) {
                return None;
            }
            // Where the run puts the file's byte `start`, in the
            // filesystem.
            let at = r
                .run
                .image_offset
                .checked_add(start)?
                .checked_sub(r.run.file_offset)?
                .checked_sub(self.offset)?;
            if at % self.bs != 0 || block.is_some_and(|b| b != at / self.bs) {
                return None;
            }
            block = Some(at / self.bs);
        }
        block.filter(|&b| self.contains(b))
    }
}

/// Appends logical block `block`, adopted from `source` or copied, to
/// `parts`, joining the last part when it continues it.
fn push_part(parts: &mut Vec<Part>, block: u64, source: Option<u64>) {
    match (parts.last_mut(), source) {
        (Some(Part::Adopt { logical, run }), Some(physical))
            if *logical + run.len == block && run.end() == physical =>
        {
            run.len += 1;
        }
        (Some(Part::Copy { logical, len }), None) if *logical + *len == block => *len += 1,
        (_, Some(physical)) => parts.push(Part::Adopt {
            logical: block,
            run: Run {
                start: physical,
                len: 1,
            },
        }),
        (_, None) => parts.push(Part::Copy {
            logical: block,
            len: 1,
        }),
    }
}

/// What an inode's fields say about its blocks.
pub(super) struct Body {
    pub i_block: [u8; I_BLOCK_LEN],
    pub size: u64,
    pub flags: u32,
    /// Blocks the inode owns (data and extent tree), without an xattr
    /// block.
    pub blocks: u64,
}

/// A directory to write: its own and its parent's inode numbers and its
/// entries (name, inode number, `file_type`), sorted by name.
pub(super) struct DirEntries<'a> {
    pub ino: u32,
    pub parent: u32,
    pub entries: Vec<(&'a [u8], u32, u8)>,
}

/// Blocks of free space an update fills, written once every allocation
/// of the update has succeeded (so that an update that cannot be made
/// leaves every byte of the image as it was).
pub(super) enum NewBlocks<'t> {
    /// `run` receives a file's bytes from its logical block `logical`.
    Data {
        content: &'t FileContent,
        run: Run,
        logical: u64,
    },
    /// Blocks from `start` receive `bytes`.
    Bytes { start: u64, bytes: Vec<u8> },
}

impl NewBlocks<'_> {
    /// The blocks written.
    pub fn run(&self, bs: u64) -> Run {
        match self {
            NewBlocks::Data { run, .. } => *run,
            NewBlocks::Bytes { start, bytes } => Run {
                start: *start,
                len: (bytes.len() as u64).div_ceil(bs),
            },
        }
    }
}

/// Writes `blocks` into the image: nothing of the old filesystem uses
/// them.
pub(super) fn write_new_blocks(disk: &Disk, blocks: &[NewBlocks<'_>]) -> Result<()> {
    let bs = disk.bs;
    let mut buf = Vec::new();
    for block in blocks {
        match block {
            NewBlocks::Bytes { start, bytes } => disk.write_at_block(*start, bytes)?,
            NewBlocks::Data {
                content,
                run,
                logical,
            } => {
                let opened = content.source.open_file(content.size)?;
                let mut done = 0;
                while done < run.len {
                    let n = (run.len - done).min(READ_CHUNK / bs);
                    let pos = (logical + done) * bs;
                    let end = ((logical + done + n) * bs).min(content.size);
                    buf.clear();
                    buf.resize((n * bs) as usize, 0);
                    if end > pos {
                        let len = (end - pos) as usize;
                        if let Some(part) = buf.get_mut(..len) {
                            content.source.read_at(opened.as_ref(), pos, part)?;
                        }
                    }
                    disk.write_at_block(run.start + done, &buf)?;
                    done += n;
                }
            }
        }
    }
    Ok(())
}

/// Lays out the blocks of a node's new body in free space and describes
/// them; the blocks go to `pending`, written by [`write_new_blocks`].
pub(super) struct BodyWriter<'a, 'd, 't> {
    pub geo: &'a Geometry,
    pub space: &'a mut Space<'d>,
    /// Checksum seed of the inode (its number and generation).
    pub inode_seed: u32,
    /// The blocks to write.
    pub pending: &'a mut Vec<NewBlocks<'t>>,
    /// Blocks holding placed file data, which files adopt.
    pub placed: &'a Placed,
    /// The placed blocks adopted so far.
    pub adopted: &'a mut Vec<Run>,
}

impl<'t> BodyWriter<'_, '_, 't> {
    /// The body of `kind`; `dir` gives a directory's entries.
    pub fn write(&mut self, kind: &'t NodeKind, dir: Option<&DirEntries<'_>>) -> Result<Body> {
        match kind {
            NodeKind::File(content) => self.file(content),
            NodeKind::Directory(_) => match dir {
                Some(d) => self.directory(d),
                None => Ok(self.nothing(0)),
            },
            NodeKind::Symlink(target) if target.len() < I_BLOCK_LEN => {
                let mut i_block = [0u8; I_BLOCK_LEN];
                if let Some(slot) = i_block.get_mut(..target.len()) {
                    slot.copy_from_slice(target);
                }
                Ok(Body {
                    i_block,
                    size: target.len() as u64,
                    flags: 0,
                    blocks: 0,
                })
            }
            NodeKind::Symlink(target) => {
                let mut block = vec![0u8; self.geo.bs as usize];
                if let Some(slot) = block.get_mut(..target.len()) {
                    slot.copy_from_slice(target);
                }
                let mut body = self.blocks(&[block], target.len() as u64)?;
                body.size = target.len() as u64;
                Ok(body)
            }
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                Ok(Body {
                    i_block: encode_device(*major, *minor),
                    size: 0,
                    flags: 0,
                    blocks: 0,
                })
            }
            NodeKind::Fifo | NodeKind::Socket => Ok(Body {
                i_block: [0; I_BLOCK_LEN],
                size: 0,
                flags: 0,
                blocks: 0,
            }),
        }
    }

    fn nothing(&self, size: u64) -> Body {
        let tree = extent::encode(&[], &[], self.geo.bs as u32, self.inode_seed);
        Body {
            i_block: tree.i_block,
            size,
            flags: EXTENTS_FL,
            blocks: 0,
        }
    }

    /// A file's data: each block-aligned stretch holding data gets blocks
    /// (placed blocks adopted, the rest copied into new ones); holes stay
    /// holes.
    fn file(&mut self, content: &'t FileContent) -> Result<Body> {
        let mut extents = Vec::new();
        let mut data_blocks = 0;
        for part in self.placed.parts(content) {
            let (mut logical, len) = match part {
                Part::Adopt { logical, run } => {
                    if self.space.adopt(run)? {
                        self.adopted.push(run);
                        push_extents(&mut extents, logical, run);
                        data_blocks += run.len;
                        continue;
                    }
                    // Not free after all (adopted twice): copied.
                    (logical, run.len)
                }
                Part::Copy { logical, len } => (logical, len),
            };
            for run in self.space.alloc_blocks(len)? {
                self.pending.push(NewBlocks::Data {
                    content,
                    run,
                    logical,
                });
                push_extents(&mut extents, logical, run);
                data_blocks += run.len;
                logical += run.len;
            }
        }
        let mut body = self.extent_tree(&extents)?;
        body.size = content.size;
        body.blocks += data_blocks;
        Ok(body)
    }

    /// A directory's blocks: linear, or an htree when they do not fit one
    /// block, as the planner makes them.
    fn directory(&mut self, d: &DirEntries<'_>) -> Result<Body> {
        let names: Vec<&[u8]> = d.entries.iter().map(|e| e.0).collect();
        let targets: Vec<(u32, u8)> = d.entries.iter().map(|e| (e.1, e.2)).collect();
        let seed = hash_seed(&self.geo.hash_seed);
        let layout = dir::plan(&names, self.geo.bs as u32, &seed, 1)?;
        let ctx = DirContext {
            block_size: self.geo.bs as u32,
            ino: d.ino,
            parent_ino: d.parent,
            names: &names,
            targets: &targets,
            inode_seed: self.inode_seed,
        };
        let blocks: Vec<Vec<u8>> = (0..layout.block_count())
            .map(|i| ctx.block(&layout, i))
            .collect();
        let size = blocks.len() as u64 * self.geo.bs;
        let mut body = self.blocks(&blocks, size)?;
        body.size = size;
        if layout.is_indexed() {
            body.flags |= INDEX_FL;
        }
        Ok(body)
    }

    /// Writes `blocks` (logical 0 on) into free space under an extent tree.
    fn blocks(&mut self, blocks: &[Vec<u8>], size: u64) -> Result<Body> {
        let runs = self.space.alloc_blocks(blocks.len() as u64)?;
        let mut extents = Vec::new();
        let mut logical = 0u64;
        let mut source = blocks.iter();
        for run in runs {
            let mut bytes = Vec::with_capacity((run.len * self.geo.bs) as usize);
            for block in source.by_ref().take(run.len as usize) {
                bytes.extend_from_slice(block);
            }
            self.pending.push(NewBlocks::Bytes {
                start: run.start,
                bytes,
            });
            push_extents(&mut extents, logical, run);
            logical += run.len;
        }
        let mut body = self.extent_tree(&extents)?;
        body.size = size;
        body.blocks += blocks.len() as u64;
        Ok(body)
    }

    /// The extent tree over `extents`, its blocks allocated and written.
    fn extent_tree(&mut self, extents: &[Extent]) -> Result<Body> {
        let bs = self.geo.bs as u32;
        let count = extent::tree_blocks(extents.len(), bs);
        let mut numbers = Vec::new();
        if count > 0 {
            for run in self.space.alloc_blocks(count)? {
                numbers.extend(run.start..run.end());
            }
        }
        let tree = extent::encode(extents, &numbers, bs, self.inode_seed);
        for (number, block) in tree.blocks {
            self.pending.push(NewBlocks::Bytes {
                start: number,
                bytes: block,
            });
        }
        Ok(Body {
            i_block: tree.i_block,
            size: 0,
            flags: EXTENTS_FL,
            blocks: count,
        })
    }
}

/// The stretches of logical blocks `[first, last)` of a file that hold
/// data, merged where they touch.
fn block_spans(content: &FileContent, bs: u64) -> Vec<(u64, u64)> {
    let mut spans: Vec<(u64, u64)> = Vec::new();
    for s in &content.segments {
        if s.len == 0 {
            continue;
        }
        let first = s.offset / bs;
        let last = (s.offset + s.len).div_ceil(bs);
        match spans.last_mut() {
            Some(prev) if prev.1 >= first => prev.1 = prev.1.max(last),
            _ => spans.push((first, last)),
        }
    }
    spans
}

/// Appends the extents mapping logical blocks from `logical` to `run`.
fn push_extents(extents: &mut Vec<Extent>, logical: u64, run: Run) {
    let mut done = 0;
    while done < run.len {
        let len = (run.len - done).min(MAX_EXTENT_BLOCKS);
        extents.push(Extent {
            logical: (logical + done) as u32,
            physical: run.start + done,
            len: len as u16,
        });
        done += len;
    }
}

/// The directory hash seed as the hash functions take it.
pub(super) fn hash_seed(bytes: &[u8; 16]) -> [u32; 4] {
    let mut seed = [0u32; 4];
    for (word, chunk) in seed.iter_mut().zip(bytes.chunks_exact(4)) {
        *word = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    seed
}
