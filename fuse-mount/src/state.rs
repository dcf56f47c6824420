//! The mounted filesystem's state: the inode table, loaded from the
//! image's tree, and every operation the FUSE layer forwards, with POSIX
//! semantics and errno values. Nothing here changes what the image's
//! filesystem holds: written data goes to blocks it does not use (placed,
//! see [`crate::place`]) or to the spill file, and [`Fs::to_tree`] gives
//! the tree a commit writes.

mod attrs;
mod dirs;
mod io;
#[cfg(test)]
mod tests;
mod tree;
mod xattrs;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::sync::Arc;

use blockimg::ext4::MAX_LINKS;
use blockimg::tree::{Timestamp, MAX_NAME_LEN};
use fuser::Errno;

use crate::data::{FileData, Freed, Loc};
use crate::inode::{Dir, Inode, Kind};
use crate::place::Placer;
use crate::spill::Spill;

/// Inode number of the root directory (FUSE's).
pub const ROOT: u64 = 1;
/// Namespaces an attribute name may start with.
const XATTR_PREFIXES: [&[u8]; 5] = [
    b"user.",
    b"trusted.",
    b"security.",
    b"system.posix_acl_access",
    b"system.posix_acl_default",
];

/// The result of an operation: a value or the errno the caller gets.
pub type OpResult<T> = std::result::Result<T, Errno>;

fn errno(code: i32) -> Errno {
    Errno::from_i32(code)
}

/// How the mount treats writes and owners.
#[derive(Clone, Copy, Debug, Default)]
pub struct Config {
    /// Refuse every change with `EROFS`.
    pub read_only: bool,
    /// Owner and group of everything created through the mount, and the
    /// ids of the user who mounted, as which the mount shows them (and
    /// which a chown turns back into them).
    pub owner: Option<((u32, u32), (u32, u32))>,
    /// Treat every caller as root: files they create belong to root.
    pub fakeroot: bool,
}

/// The size of the filesystem a commit writes, for `statfs` and `ENOSPC`.
#[derive(Clone, Copy, Debug)]
pub struct Space {
    /// Block size in bytes.
    pub block_size: u32,
    /// Blocks in the filesystem.
    pub blocks_count: u64,
    /// Blocks reserved for root.
    pub reserved_blocks: u64,
    /// Free blocks of the filesystem holding the tree as loaded.
    pub free_blocks: u64,
    /// Inodes in the filesystem.
    pub inodes_count: u64,
    /// Free inodes of the filesystem holding the tree as loaded.
    pub free_inodes: u64,
}

/// What `statfs` reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Statfs {
    /// Blocks in the filesystem.
    pub blocks: u64,
    /// Free blocks.
    pub free: u64,
    /// Free blocks for unprivileged users.
    pub available: u64,
    /// Inodes in the filesystem.
    pub files: u64,
    /// Free inodes.
    pub free_files: u64,
    /// Block size.
    pub block_size: u32,
}

/// Who makes a request.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Process id, whose supplementary groups `/proc/PID/status` lists
    /// (FUSE passes one group id).
    pub pid: u32,
}

impl Caller {
    /// Whether the caller belongs to group `gid`: its own, or one of its
    /// process's supplementary groups (none when the process is gone).
    pub fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || supplementary_groups(self.pid).contains(&gid)
    }
}

/// The supplementary groups of process `pid`, from the `Groups:` line of
/// `/proc/PID/status`; none when it cannot be read.
fn supplementary_groups(pid: u32) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("Groups:"))
        .map(|groups| {
            groups
                .split_whitespace()
                .filter_map(|g| g.parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Attributes to change (`setattr`).
#[derive(Clone, Copy, Debug, Default)]
pub struct SetAttr {
    /// New permissions (type bits ignored).
    pub mode: Option<u32>,
    /// New owner.
    pub uid: Option<u32>,
    /// New group.
    pub gid: Option<u32>,
    /// New size.
    pub size: Option<u64>,
    /// New access time.
    pub atime: Option<Timestamp>,
    /// New modification time.
    pub mtime: Option<Timestamp>,
    /// New change time.
    pub ctime: Option<Timestamp>,
}

/// What a new inode is, as `mknod` (regular files too), `mkdir` and
/// `symlink` ask.
#[derive(Clone, Debug)]
pub enum NewKind {
    /// A directory.
    Dir,
    /// A symlink to this target.
    Symlink(Vec<u8>),
    /// A device, FIFO or socket from `mknod`'s mode and device number.
    Special {
        /// The file type bits.
        mode: u32,
        /// The device number.
        rdev: u32,
    },
}

/// The filesystem behind a mount.
pub struct Fs {
    inodes: Vec<Option<Inode>>,
    files: Arc<[File]>,
    spill: Spill,
    /// Where new data goes first: free blocks of the image (none for a
    /// filesystem a commit cannot update in place).
    placer: Option<Placer>,
    space: Space,
    used_blocks: u64,
    used_inodes: u64,
    /// Blocks and inodes the content may use: what it used when loaded
    /// plus what was free.
    block_limit: u64,
    inode_limit: u64,
    config: Config,
    changed: bool,
    /// Inodes changed since the mount (metadata, data or entries): a
    /// commit reads back only these and the directories leading to them.
    dirty: HashSet<u64>,
    dir_handles: HashMap<u64, Vec<(Vec<u8>, u64)>>,
    next_handle: u64,
}

impl Fs {
    /// Whether anything changed since the mount.
    pub fn changed(&self) -> bool {
        self.changed
    }

    fn bs(&self) -> u64 {
        u64::from(self.space.block_size)
    }

    fn get(&self, ino: u64) -> OpResult<&Inode> {
        self.inodes
            .get(ino as usize)
            .and_then(Option::as_ref)
            .ok_or(Errno::ENOENT)
    }

    /// Inode `ino`, to change: it is marked changed.
    fn get_mut(&mut self, ino: u64) -> OpResult<&mut Inode> {
        self.dirty.insert(ino);
        self.counted(ino)
    }

    /// Inode `ino`, for the kernel's reference counts alone (which a
    /// commit does not write).
    fn counted(&mut self, ino: u64) -> OpResult<&mut Inode> {
        self.inodes
            .get_mut(ino as usize)
            .and_then(Option::as_mut)
            .ok_or(Errno::ENOENT)
    }

    fn dir(&self, ino: u64) -> OpResult<&Dir> {
        match &self.get(ino)?.kind {
            Kind::Dir(dir) => Ok(dir),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn dir_mut(&mut self, ino: u64) -> OpResult<&mut Dir> {
        match &mut self.get_mut(ino)?.kind {
            Kind::Dir(dir) => Ok(dir),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn file_mut(&mut self, ino: u64) -> OpResult<&mut FileData> {
        match &mut self.get_mut(ino)?.kind {
            Kind::File(data) => Ok(data),
            Kind::Dir(_) => Err(Errno::EISDIR),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Refuses changes to a read-only mount.
    fn writable(&mut self) -> OpResult<()> {
        if self.config.read_only {
            return Err(errno(libc::EROFS));
        }
        self.changed = true;
        Ok(())
    }

    /// Charges inode `ino`'s blocks anew after a change.
    fn recount(&mut self, ino: u64) {
        let bs = self.bs();
        if let Some(inode) = self.inodes.get_mut(ino as usize).and_then(Option::as_mut) {
            let blocks = if inode.links > 0 { inode.blocks(bs) } else { 0 };
            self.used_blocks = self.used_blocks - inode.charged + blocks;
            inode.charged = blocks;
        }
    }

    /// Refuses a change that would need `blocks` more blocks than are free,
    /// keeping a margin for what the estimate of each inode's blocks may
    /// miss (extent trees, directory indexes).
    fn admit(&self, blocks: u64) -> OpResult<()> {
        let margin = 8 + self.space.blocks_count / 512;
        if self.used_blocks.saturating_add(blocks) > self.block_limit.saturating_sub(margin) {
            return Err(errno(libc::ENOSPC));
        }
        Ok(())
    }

    /// Frees an inode nothing names and the kernel no longer knows (an
    /// open file keeps the kernel's reference: it forgets the inode only
    /// after the last close).
    fn reap(&mut self, ino: u64) {
        if ino == ROOT {
            return;
        }
        let Some(slot) = self.inodes.get_mut(ino as usize) else {
            return;
        };
        let Some(inode) = slot.as_mut() else {
            return;
        };
        if inode.links > 0 || inode.lookups > 0 {
            return;
        }
        if let Kind::File(data) = &mut inode.kind {
            // Its placed blocks are given up with it.
            let freed = data.truncate(0);
            self.spill.release(&freed.spill);
        }
        *slot = None;
    }

    /// Gives back what a change of file `ino`'s map left unused: spill
    /// ranges are punched out; a placed range whose block the file still
    /// maps into is zeroed there (bytes of a placed block its file does
    /// not map are zeros, so that the commit may adopt the block whole);
    /// a placed block the file no longer maps into is given up (never
    /// handed out again during the mount).
    fn release(&mut self, ino: u64, freed: Freed) -> OpResult<()> {
        self.spill.release(&freed.spill);
        let Some(placer) = &self.placer else {
            return Ok(());
        };
        let bs = placer.block_size();
        let Some(Kind::File(data)) = self
            .inodes
            .get(ino as usize)
            .and_then(|i| i.as_ref())
            .map(|i| &i.kind)
        else {
            return Ok(());
        };
        let remapped = |file_offset: u64, at: u64, len: u64| {
            let spans = data.spans(file_offset, len);
            spans.len() == 1 && spans[0].len == len && spans[0].loc == Some(Loc::Placed(at))
        };
        for (file_offset, at, len) in freed.placed {
            // Written again where it was (a write in place).
            if remapped(file_offset, at, len) {
                continue;
            }
            let mut done = 0;
            while done < len {
                let pos = file_offset + done;
                let block = pos / bs;
                let n = ((block + 1) * bs - pos).min(len - done);
                let here = at + done;
                let block_at = here - pos % bs;
                if !remapped(pos, here, n) && data.placed_block(block, bs) == Some(block_at) {
                    placer.zero(here, n).map_err(|_| Errno::EIO)?;
                }
                done += n;
            }
        }
        Ok(())
    }

    /// Blocks placement leaves free for the commit's own blocks
    /// (directories, extent trees, xattr blocks, and copies of data that
    /// could not be placed), which it also allocates in free space.
    fn placement_reserve(&self) -> u64 {
        64 + self.space.blocks_count / 256 + self.dirty.len() as u64
    }

    /// The blocks of the image's filesystem holding placed data, as runs
    /// `(first block, count)`, ascending: what a commit adopts.
    pub fn placed_runs(&self) -> Vec<(u64, u64)> {
        let Some(placer) = &self.placer else {
            return Vec::new();
        };
        let bs = placer.block_size();
        let mut blocks: Vec<(u64, u64)> = self
            .inodes
            .iter()
            .flatten()
            .filter_map(|inode| match &inode.kind {
                Kind::File(data) => Some(data.placed_blocks(bs)),
                _ => None,
            })
            .flatten()
            .map(|(at, count)| (placer.block_of(at), count))
            .collect();
        blocks.sort_unstable();
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for (start, count) in blocks {
            match runs.last_mut() {
                Some(last) if start <= last.0 + last.1 => {
                    last.1 = last.1.max(start + count - last.0);
                }
                _ => runs.push((start, count)),
            }
        }
        runs
    }

    /// Largest file ext4 holds with extents: 2^32 blocks.
    fn max_file_size(&self) -> u64 {
        self.bs() << 32
    }

    /// The numbers `statfs` reports: those of the filesystem a commit
    /// would write now.
    pub fn statfs(&self) -> Statfs {
        let free = self.block_limit.saturating_sub(self.used_blocks);
        Statfs {
            blocks: self.space.blocks_count,
            free,
            available: free.saturating_sub(self.space.reserved_blocks),
            files: self.space.inodes_count,
            free_files: self.inode_limit.saturating_sub(self.used_inodes),
            block_size: self.space.block_size,
        }
    }
}

/// Refuses names ext4 cannot hold.
fn check_name(name: &[u8]) -> OpResult<()> {
    if name.len() > MAX_NAME_LEN {
        return Err(Errno::ENAMETOOLONG);
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(Errno::EINVAL);
    }
    Ok(())
}
