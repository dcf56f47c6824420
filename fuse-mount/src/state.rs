//! The mounted filesystem's state: the inode table, loaded from the
//! image's tree, and every operation the FUSE layer forwards, with POSIX
//! semantics and errno values. Nothing here touches the image; written
//! data goes to the spill file, and [`Fs::to_tree`] gives the tree a commit
//! writes.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use blockimg::ext4::MAX_LINKS;
use blockimg::tree::{Metadata, Node, NodeId, NodeKind, Timestamp, Tree, Xattr, MAX_NAME_LEN};
use fuser::{Errno, FileAttr, FileType, RenameFlags};

use crate::acl;
use crate::data::{FileData, Loc, IMAGE_FILE};
use crate::inode::{xattr_entry_bytes, Dir, Inode, Kind};
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
    space: Space,
    used_blocks: u64,
    used_inodes: u64,
    /// Blocks and inodes the content may use: what it used when loaded
    /// plus what was free.
    block_limit: u64,
    inode_limit: u64,
    config: Config,
    changed: bool,
    dir_handles: HashMap<u64, Vec<(Vec<u8>, u64)>>,
    next_handle: u64,
}

impl Fs {
    /// The state of a filesystem loaded into `tree`, whose file data lies
    /// in `image` (the first of `files`; the spill file is the second).
    /// `None` when a file's data is not in the image.
    pub fn new(
        tree: &Tree,
        files: Arc<[File]>,
        spill: Spill,
        space: Space,
        config: Config,
    ) -> Option<Fs> {
        let ino_of = |id: NodeId| id.index() as u64 + 1;
        let mut inodes: Vec<Option<Inode>> = vec![None];
        for node in tree.nodes() {
            let kind = match &node.kind {
                NodeKind::File(content) => Kind::File(FileData::from_content(content)?),
                NodeKind::Directory(entries) => Kind::Dir(Dir {
                    entries: entries
                        .iter()
                        .map(|(name, &id)| (name.clone(), ino_of(id)))
                        .collect(),
                    parent: ROOT,
                    subdirs: 0,
                    record_bytes: entries.keys().map(|n| Dir::record_len(n)).sum(),
                }),
                NodeKind::Symlink(target) => Kind::Symlink(target.clone()),
                NodeKind::CharDevice { major, minor } => Kind::CharDevice(*major, *minor),
                NodeKind::BlockDevice { major, minor } => Kind::BlockDevice(*major, *minor),
                NodeKind::Fifo => Kind::Fifo,
                NodeKind::Socket => Kind::Socket,
            };
            let mut inode = Inode::new(node.meta.clone(), kind);
            inode.xattrs = node
                .xattrs
                .iter()
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect();
            inodes.push(Some(inode));
        }
        // Links, parents and subdirectory counts from the entries.
        let mut children = Vec::new();
        for (index, node) in tree.nodes().iter().enumerate() {
            if let NodeKind::Directory(entries) = &node.kind {
                children.extend(entries.values().map(|&id| (index as u64 + 1, ino_of(id))));
            }
        }
        for (parent, child) in children {
            let is_dir = {
                let inode = inodes[child as usize].as_mut()?;
                inode.links += 1;
                matches!(inode.kind, Kind::Dir(_))
            };
            if is_dir {
                if let Some(Kind::Dir(dir)) = inodes[child as usize].as_mut().map(|i| &mut i.kind) {
                    dir.parent = parent;
                }
                if let Some(Kind::Dir(dir)) = inodes[parent as usize].as_mut().map(|i| &mut i.kind)
                {
                    dir.subdirs += 1;
                }
            }
        }
        let root = inodes[ROOT as usize].as_mut()?;
        root.links = 1;
        root.lookups = 1;
        let mut fs = Fs {
            inodes,
            files,
            spill,
            space,
            used_blocks: 0,
            used_inodes: 0,
            block_limit: 0,
            inode_limit: 0,
            config,
            changed: false,
            dir_handles: HashMap::new(),
            next_handle: 1,
        };
        for ino in 1..fs.inodes.len() as u64 {
            fs.recount(ino);
        }
        fs.used_inodes = tree.len() as u64;
        fs.block_limit = fs.used_blocks + space.free_blocks;
        fs.inode_limit = fs.used_inodes + space.free_inodes;
        Some(fs)
    }

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

    fn get_mut(&mut self, ino: u64) -> OpResult<&mut Inode> {
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

    /// The attributes of `ino`, as the mount shows them (the configured
    /// owner as the user who mounted).
    pub fn attr(&self, ino: u64) -> OpResult<FileAttr> {
        let mut attr = self.get(ino)?.attr(ino, self.space.block_size);
        if let Some(((uid, gid), (shown_uid, shown_gid))) = self.config.owner {
            if attr.uid == uid {
                attr.uid = shown_uid;
            }
            if attr.gid == gid {
                attr.gid = shown_gid;
            }
        }
        Ok(attr)
    }

    /// Looks `name` up in `parent`; the kernel now holds a reference.
    pub fn lookup(&mut self, parent: u64, name: &[u8]) -> OpResult<FileAttr> {
        check_name(name)?;
        let ino = *self.dir(parent)?.entries.get(name).ok_or(Errno::ENOENT)?;
        self.get_mut(ino)?.lookups += 1;
        self.attr(ino)
    }

    /// The kernel drops `n` references to `ino`.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if let Ok(inode) = self.get_mut(ino) {
            inode.lookups = inode.lookups.saturating_sub(n);
        }
        self.reap(ino);
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
            let freed = data.truncate(0);
            self.spill.release(&freed);
        }
        *slot = None;
    }

    /// The owner of a new inode in `parent`.
    fn new_owner(&self, caller: Caller, parent: &Inode) -> (u32, u32) {
        if let Some((owner, _)) = self.config.owner {
            return owner;
        }
        let (uid, gid) = if self.config.fakeroot {
            (0, 0)
        } else {
            (caller.uid, caller.gid)
        };
        if parent.meta.permissions & 0o2000 != 0 {
            (uid, parent.meta.gid)
        } else {
            (uid, gid)
        }
    }

    /// Creates `name` in `parent` (`mknod`, `mkdir`, `symlink`)
    /// with permissions `mode` (already masked by the umask).
    pub fn create(
        &mut self,
        caller: Caller,
        parent: u64,
        name: &[u8],
        kind: NewKind,
        mode: u32,
    ) -> OpResult<FileAttr> {
        check_name(name)?;
        self.writable()?;
        let parent_inode = self.get(parent)?;
        let Kind::Dir(dir) = &parent_inode.kind else {
            return Err(Errno::ENOTDIR);
        };
        if parent_inode.links == 0 {
            return Err(Errno::ENOENT);
        }
        if dir.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        if self.used_inodes >= self.inode_limit {
            return Err(errno(libc::ENOSPC));
        }
        let (uid, gid) = self.new_owner(caller, parent_inode);
        let mut permissions = (mode & 0o7777) as u16;
        if matches!(kind, NewKind::Dir) && parent_inode.meta.permissions & 0o2000 != 0 {
            permissions |= 0o2000;
        }
        let kind = match kind {
            NewKind::Dir => Kind::Dir(Dir {
                parent,
                ..Dir::default()
            }),
            NewKind::Symlink(target) => {
                if target.len() >= self.space.block_size as usize {
                    return Err(Errno::ENAMETOOLONG);
                }
                permissions = 0o777;
                Kind::Symlink(target)
            }
            NewKind::Special { mode, rdev } => {
                let (major, minor) = crate::inode::decode_dev(rdev);
                match mode & libc::S_IFMT {
                    libc::S_IFREG => Kind::File(FileData::default()),
                    libc::S_IFCHR => Kind::CharDevice(major, minor),
                    libc::S_IFBLK => Kind::BlockDevice(major, minor),
                    libc::S_IFIFO => Kind::Fifo,
                    libc::S_IFSOCK => Kind::Socket,
                    _ => return Err(Errno::EINVAL),
                }
            }
        };
        let now = Timestamp::now();
        let meta = Metadata {
            permissions,
            uid,
            gid,
            atime: now,
            mtime: now,
            ctime: now,
            crtime: Some(now),
        };
        let mut inode = Inode::new(meta, kind);
        if let Some(default) = parent_inode.xattrs.get(acl::DEFAULT) {
            let access = acl::inherit(default, inode.meta.permissions);
            inode.meta.permissions = (inode.meta.permissions & !0o777) | acl::mode_bits(&access);
            if !acl::is_minimal(&access) {
                inode.xattrs.insert(acl::ACCESS.to_vec(), access);
            }
            if matches!(inode.kind, Kind::Dir(_)) {
                inode.xattrs.insert(acl::DEFAULT.to_vec(), default.clone());
            }
        }
        // One block for the directory growing, plus what the inode needs.
        self.admit(1 + inode.blocks(self.bs()))?;
        inode.lookups = 1;
        let ino = self.inodes.len() as u64;
        self.inodes.push(Some(inode));
        self.add_entry(parent, name, ino)?;
        self.touch_dir(parent, now)?;
        self.attr(ino)
    }

    /// Adds entry `name` of `parent` for `ino` and counts the link.
    fn add_entry(&mut self, parent: u64, name: &[u8], ino: u64) -> OpResult<()> {
        let (is_dir, first) = {
            let inode = self.get_mut(ino)?;
            inode.links += 1;
            let first = inode.links == 1;
            match &mut inode.kind {
                Kind::Dir(dir) => {
                    dir.parent = parent;
                    (true, first)
                }
                _ => (false, first),
            }
        };
        if first {
            self.used_inodes += 1;
        }
        let dir = self.dir_mut(parent)?;
        dir.entries.insert(name.to_vec(), ino);
        dir.record_bytes += Dir::record_len(name);
        if is_dir {
            dir.subdirs += 1;
        }
        self.recount(parent);
        self.recount(ino);
        Ok(())
    }

    /// Removes entry `name` of `parent` and its link; returns the inode it
    /// named.
    fn remove_entry(&mut self, parent: u64, name: &[u8]) -> OpResult<u64> {
        let dir = self.dir_mut(parent)?;
        let ino = dir.entries.remove(name).ok_or(Errno::ENOENT)?;
        dir.record_bytes -= Dir::record_len(name);
        let inode = self.get_mut(ino)?;
        inode.links = inode.links.saturating_sub(1);
        inode.meta.ctime = Timestamp::now();
        let is_dir = matches!(inode.kind, Kind::Dir(_));
        if is_dir {
            self.dir_mut(parent)?.subdirs -= 1;
        }
        if self.get(ino)?.links == 0 {
            self.used_inodes -= 1;
        }
        self.recount(parent);
        self.recount(ino);
        Ok(ino)
    }

    /// Sets a directory's modification and change times.
    fn touch_dir(&mut self, dir: u64, now: Timestamp) -> OpResult<()> {
        let inode = self.get_mut(dir)?;
        inode.meta.mtime = now;
        inode.meta.ctime = now;
        Ok(())
    }

    /// Removes file (not directory) `name` from `parent`.
    pub fn unlink(&mut self, parent: u64, name: &[u8]) -> OpResult<()> {
        check_name(name)?;
        self.writable()?;
        let ino = *self.dir(parent)?.entries.get(name).ok_or(Errno::ENOENT)?;
        if matches!(self.get(ino)?.kind, Kind::Dir(_)) {
            return Err(Errno::EISDIR);
        }
        self.remove_entry(parent, name)?;
        self.touch_dir(parent, Timestamp::now())?;
        self.reap(ino);
        Ok(())
    }

    /// Removes empty directory `name` from `parent`.
    pub fn rmdir(&mut self, parent: u64, name: &[u8]) -> OpResult<()> {
        check_name(name)?;
        self.writable()?;
        let ino = *self.dir(parent)?.entries.get(name).ok_or(Errno::ENOENT)?;
        if !self.dir(ino)?.entries.is_empty() {
            return Err(errno(libc::ENOTEMPTY));
        }
        self.remove_entry(parent, name)?;
        self.touch_dir(parent, Timestamp::now())?;
        self.reap(ino);
        Ok(())
    }

    /// Adds hard link `name` in `parent` to `ino`.
    pub fn link(&mut self, ino: u64, parent: u64, name: &[u8]) -> OpResult<FileAttr> {
        check_name(name)?;
        self.writable()?;
        let inode = self.get(ino)?;
        if matches!(inode.kind, Kind::Dir(_)) {
            return Err(Errno::EPERM);
        }
        if inode.links == 0 {
            return Err(Errno::ENOENT);
        }
        if inode.links >= MAX_LINKS {
            return Err(errno(libc::EMLINK));
        }
        if self.dir(parent)?.entries.contains_key(name) {
            return Err(Errno::EEXIST);
        }
        self.admit(1)?;
        self.add_entry(parent, name, ino)?;
        let now = Timestamp::now();
        self.touch_dir(parent, now)?;
        let inode = self.get_mut(ino)?;
        inode.meta.ctime = now;
        inode.lookups += 1;
        self.attr(ino)
    }

    /// Whether `ino` is `ancestor` or lies below it.
    fn is_within(&self, mut ino: u64, ancestor: u64) -> OpResult<bool> {
        for _ in 0..self.inodes.len() {
            if ino == ancestor {
                return Ok(true);
            }
            if ino == ROOT {
                return Ok(false);
            }
            ino = self.dir(ino)?.parent;
        }
        Ok(false)
    }

    /// Renames `name` in `parent` to `new_name` in `new_parent`, with
    /// `RENAME_NOREPLACE` and `RENAME_EXCHANGE`.
    pub fn rename(
        &mut self,
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
        flags: RenameFlags,
    ) -> OpResult<()> {
        check_name(name)?;
        check_name(new_name)?;
        self.writable()?;
        if flags.contains(RenameFlags::RENAME_WHITEOUT)
            || flags.contains(RenameFlags::RENAME_EXCHANGE | RenameFlags::RENAME_NOREPLACE)
        {
            return Err(Errno::EINVAL);
        }
        let src = *self.dir(parent)?.entries.get(name).ok_or(Errno::ENOENT)?;
        let dst = self.dir(new_parent)?.entries.get(new_name).copied();
        let src_is_dir = matches!(self.get(src)?.kind, Kind::Dir(_));
        if src_is_dir && self.is_within(new_parent, src)? {
            return Err(Errno::EINVAL);
        }
        let now = Timestamp::now();
        if flags.contains(RenameFlags::RENAME_EXCHANGE) {
            let dst = dst.ok_or(Errno::ENOENT)?;
            let dst_is_dir = matches!(self.get(dst)?.kind, Kind::Dir(_));
            if dst_is_dir && self.is_within(parent, dst)? {
                return Err(Errno::EINVAL);
            }
            self.remove_entry(parent, name)?;
            self.remove_entry(new_parent, new_name)?;
            self.add_entry(parent, name, dst)?;
            self.add_entry(new_parent, new_name, src)?;
            for ino in [src, dst] {
                self.get_mut(ino)?.meta.ctime = now;
            }
        } else {
            if let Some(dst) = dst {
                if flags.contains(RenameFlags::RENAME_NOREPLACE) {
                    return Err(Errno::EEXIST);
                }
                if dst == src {
                    return Ok(());
                }
                match (&self.get(dst)?.kind, src_is_dir) {
                    (Kind::Dir(dir), true) if !dir.entries.is_empty() => {
                        return Err(errno(libc::ENOTEMPTY))
                    }
                    (Kind::Dir(_), true) => {}
                    (Kind::Dir(_), false) => return Err(Errno::EISDIR),
                    (_, true) => return Err(Errno::ENOTDIR),
                    (_, false) => {}
                }
                self.remove_entry(new_parent, new_name)?;
                self.reap(dst);
            }
            self.remove_entry(parent, name)?;
            self.add_entry(new_parent, new_name, src)?;
            self.get_mut(src)?.meta.ctime = now;
        }
        self.touch_dir(parent, now)?;
        self.touch_dir(new_parent, now)?;
        Ok(())
    }

    /// Changes attributes (`chmod`, `chown`, `truncate`, `utimensat`).
    /// With an owner configured, a `chown` to the ids the owner is shown
    /// as records the owner.
    pub fn setattr(&mut self, ino: u64, set: SetAttr) -> OpResult<FileAttr> {
        let set = match self.config.owner {
            Some(((uid, gid), (shown_uid, shown_gid))) => SetAttr {
                uid: set.uid.map(|id| if id == shown_uid { uid } else { id }),
                gid: set.gid.map(|id| if id == shown_gid { gid } else { id }),
                ..set
            },
            None => set,
        };
        self.writable()?;
        let now = Timestamp::now();
        if let Some(size) = set.size {
            if size > self.max_file_size() {
                return Err(errno(libc::EFBIG));
            }
            let data = self.file_mut(ino)?;
            let freed = data.truncate(size);
            data.size = size;
            self.spill.release(&freed);
            self.recount(ino);
            let inode = self.get_mut(ino)?;
            inode.meta.mtime = now;
        }
        let inode = self.get_mut(ino)?;
        if let Some(mode) = set.mode {
            inode.meta.permissions = (mode & 0o7777) as u16;
            if let Some(access) = inode.xattrs.get_mut(acl::ACCESS) {
                acl::chmod(access, inode.meta.permissions);
            }
        }
        if let Some(uid) = set.uid {
            inode.meta.uid = uid;
        }
        if let Some(gid) = set.gid {
            inode.meta.gid = gid;
        }
        if let Some(atime) = set.atime {
            inode.meta.atime = atime;
        }
        if let Some(mtime) = set.mtime {
            inode.meta.mtime = mtime;
        }
        inode.meta.ctime = set.ctime.unwrap_or(now);
        self.attr(ino)
    }

    /// Largest file ext4 holds with extents: 2^32 blocks.
    fn max_file_size(&self) -> u64 {
        self.bs() << 32
    }

    /// The target of symlink `ino`.
    pub fn readlink(&self, ino: u64) -> OpResult<Vec<u8>> {
        match &self.get(ino)?.kind {
            Kind::Symlink(target) => Ok(target.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Reads up to `len` bytes of file `ino` from `offset`.
    pub fn read(&self, ino: u64, offset: u64, len: u32) -> OpResult<Vec<u8>> {
        let data = match &self.get(ino)?.kind {
            Kind::File(data) => data,
            Kind::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        let spans = data.spans(offset, u64::from(len));
        let total: u64 = spans.iter().map(|s| s.len).sum();
        let mut buf = vec![0u8; total as usize];
        for span in spans {
            let start = (span.offset - offset) as usize;
            let dst = &mut buf[start..start + span.len as usize];
            let read = match span.loc {
                None => Ok(()),
                Some(Loc::Image(at)) => self.files[IMAGE_FILE].read_exact_at(dst, at),
                Some(Loc::Spill(at)) => self.spill.read_at(at, dst),
            };
            read.map_err(|_| Errno::EIO)?;
        }
        Ok(buf)
    }

    /// Writes `bytes` into file `ino` at `offset`.
    pub fn write(&mut self, ino: u64, offset: u64, bytes: &[u8]) -> OpResult<u32> {
        self.writable()?;
        let len = bytes.len() as u64;
        let end = offset.checked_add(len).ok_or(errno(libc::EFBIG))?;
        if end > self.max_file_size() {
            return Err(errno(libc::EFBIG));
        }
        let bs = self.bs();
        let data = self.file_mut(ino)?;
        let new_blocks = end.div_ceil(bs) - offset / bs - data.blocks_in(offset, end, bs);
        let in_place = data.spill_in_place(offset, len);
        self.admit(new_blocks)?;
        let at = in_place.unwrap_or_else(|| self.spill.alloc(len));
        self.spill.write_at(at, bytes).map_err(|_| Errno::EIO)?;
        let data = self.file_mut(ino)?;
        if in_place.is_none() {
            let freed = data.map(offset, len, Loc::Spill(at));
            self.spill.release(&freed);
        }
        let data = self.file_mut(ino)?;
        data.size = data.size.max(end);
        self.recount(ino);
        let now = Timestamp::now();
        let inode = self.get_mut(ino)?;
        inode.meta.mtime = now;
        inode.meta.ctime = now;
        Ok(bytes.len() as u32)
    }

    /// `fallocate`: mode 0 and `KEEP_SIZE` give the holes of the range
    /// storage (zeros), `PUNCH_HOLE | KEEP_SIZE` makes the range a hole.
    pub fn fallocate(&mut self, ino: u64, offset: u64, len: u64, mode: i32) -> OpResult<()> {
        self.writable()?;
        let end = offset.checked_add(len).ok_or(errno(libc::EFBIG))?;
        if end > self.max_file_size() {
            return Err(errno(libc::EFBIG));
        }
        let bs = self.bs();
        let keep_size = mode & libc::FALLOC_FL_KEEP_SIZE != 0;
        match mode & !libc::FALLOC_FL_KEEP_SIZE {
            0 => {
                let data = self.file_mut(ino)?;
                let end_kept = if keep_size { end.min(data.size) } else { end };
                let holes: Vec<_> = data
                    .spans(offset, end_kept.saturating_sub(offset))
                    .into_iter()
                    .filter(|s| s.loc.is_none())
                    .collect();
                // Past the end, spans stop at the size: the rest is one hole.
                let tail = (!keep_size && end > data.size).then(|| (data.size.max(offset), end));
                let needed = end_kept.div_ceil(bs).saturating_sub(offset / bs)
                    - data.blocks_in(offset, end_kept, bs)
                    + tail.map_or(0, |(from, to)| to.div_ceil(bs) - from / bs);
                self.admit(needed)?;
                let mut ranges: Vec<(u64, u64)> = holes.iter().map(|s| (s.offset, s.len)).collect();
                if let Some((from, to)) = tail {
                    self.file_mut(ino)?.size = end;
                    ranges.push((from, to - from));
                }
                for (from, len) in ranges {
                    let at = self.spill.alloc(len);
                    self.file_mut(ino)?.map(from, len, Loc::Spill(at));
                }
            }
            libc::FALLOC_FL_PUNCH_HOLE if keep_size => {
                let data = self.file_mut(ino)?;
                let freed = data.remove(offset, end.min(data.size));
                self.spill.release(&freed);
            }
            _ => return Err(errno(libc::EOPNOTSUPP)),
        }
        self.recount(ino);
        let now = Timestamp::now();
        let inode = self.get_mut(ino)?;
        inode.meta.mtime = now;
        inode.meta.ctime = now;
        Ok(())
    }

    /// `lseek` with `SEEK_DATA` or `SEEK_HOLE`.
    pub fn seek(&self, ino: u64, offset: u64, data: bool) -> OpResult<u64> {
        match &self.get(ino)?.kind {
            Kind::File(file) => file.seek(offset, data).ok_or(errno(libc::ENXIO)),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Opens directory `ino` for reading: its entries as they are now,
    /// `.` and `..` first. Returns the handle.
    pub fn opendir(&mut self, ino: u64) -> OpResult<u64> {
        let dir = self.dir(ino)?;
        let mut entries = Vec::with_capacity(dir.entries.len() + 2);
        entries.push((b".".to_vec(), ino));
        entries.push((b"..".to_vec(), dir.parent));
        entries.extend(dir.entries.iter().map(|(n, &i)| (n.clone(), i)));
        let handle = self.next_handle;
        self.next_handle += 1;
        self.dir_handles.insert(handle, entries);
        Ok(handle)
    }

    /// Entries of an open directory from position `offset`: name, inode
    /// and type; the position after each is its index plus one.
    pub fn readdir(&self, handle: u64, offset: u64) -> OpResult<Vec<(Vec<u8>, u64, FileType)>> {
        let entries = self.dir_handles.get(&handle).ok_or(Errno::EBADF)?;
        Ok(entries
            .iter()
            .skip(offset as usize)
            .filter_map(|(name, ino)| {
                let kind = self.get(*ino).ok()?.kind.file_type();
                Some((name.clone(), *ino, kind))
            })
            .collect())
    }

    /// Counts a reference the kernel takes through `readdirplus`.
    pub fn remember(&mut self, ino: u64) {
        if let Ok(inode) = self.get_mut(ino) {
            inode.lookups += 1;
        }
    }

    /// Closes a directory handle.
    pub fn releasedir(&mut self, handle: u64) {
        self.dir_handles.remove(&handle);
    }

    /// Sets attribute `name` (`flags`: `XATTR_CREATE`, `XATTR_REPLACE`).
    pub fn setxattr(&mut self, ino: u64, name: &[u8], value: &[u8], flags: i32) -> OpResult<()> {
        check_xattr_name(name)?;
        self.writable()?;
        let bs = self.bs();
        let inode = self.get(ino)?;
        let exists = inode.xattrs.contains_key(name);
        if flags & libc::XATTR_CREATE != 0 && exists {
            return Err(Errno::EEXIST);
        }
        if flags & libc::XATTR_REPLACE != 0 && !exists {
            return Err(errno(libc::ENODATA));
        }
        let old = inode
            .xattrs
            .get(name)
            .map_or(0, |v| xattr_entry_bytes(name, v));
        // Everything must fit one xattr block (header and end marker aside).
        if inode.xattr_bytes() - old + xattr_entry_bytes(name, value) > bs - 36 {
            return Err(errno(libc::ENOSPC));
        }
        let is_acl = name == acl::ACCESS || name == acl::DEFAULT;
        if is_acl && !acl::is_valid(value) {
            return Err(Errno::EINVAL);
        }
        if name == acl::DEFAULT && !matches!(inode.kind, Kind::Dir(_)) {
            return Err(Errno::EACCES);
        }
        self.admit(1)?;
        let inode = self.get_mut(ino)?;
        if name == acl::ACCESS {
            // The mode bits follow the ACL; one that says no more than
            // they do is not kept.
            inode.meta.permissions = (inode.meta.permissions & !0o777) | acl::mode_bits(value);
            if acl::is_minimal(value) {
                inode.xattrs.remove(name);
            } else {
                inode.xattrs.insert(name.to_vec(), value.to_vec());
            }
        } else {
            inode.xattrs.insert(name.to_vec(), value.to_vec());
        }
        inode.meta.ctime = Timestamp::now();
        self.recount(ino);
        Ok(())
    }

    /// The value of attribute `name`.
    pub fn getxattr(&self, ino: u64, name: &[u8]) -> OpResult<Vec<u8>> {
        self.get(ino)?
            .xattrs
            .get(name)
            .cloned()
            .ok_or(errno(libc::ENODATA))
    }

    /// The attribute names, each followed by a NUL.
    pub fn listxattr(&self, ino: u64) -> OpResult<Vec<u8>> {
        let mut list = Vec::new();
        for name in self.get(ino)?.xattrs.keys() {
            list.extend_from_slice(name);
            list.push(0);
        }
        Ok(list)
    }

    /// Removes attribute `name`.
    pub fn removexattr(&mut self, ino: u64, name: &[u8]) -> OpResult<()> {
        self.writable()?;
        let inode = self.get_mut(ino)?;
        inode.xattrs.remove(name).ok_or(errno(libc::ENODATA))?;
        inode.meta.ctime = Timestamp::now();
        self.recount(ino);
        Ok(())
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

    /// The tree a commit writes: every inode reachable from the root, hard
    /// links as shared nodes, file data read from the image and the spill
    /// file.
    pub fn to_tree(&self) -> blockimg::Result<Tree> {
        let files: Arc<[File]> = self.files.clone();
        let root = self.get(ROOT).map_err(|_| missing_root())?;
        let mut tree = Tree::new(root.meta.clone());
        tree.node_mut(Tree::ROOT).xattrs = xattrs_of(root);
        let mut ids: HashMap<u64, NodeId> = HashMap::from([(ROOT, Tree::ROOT)]);
        let mut queue = std::collections::VecDeque::from([ROOT]);
        while let Some(dir_ino) = queue.pop_front() {
            let Ok(dir) = self.dir(dir_ino) else {
                continue;
            };
            let dir_id = ids[&dir_ino];
            for (name, &ino) in &dir.entries {
                if let Some(&id) = ids.get(&ino) {
                    tree.link(dir_id, name, id)?;
                    continue;
                }
                let Ok(inode) = self.get(ino) else {
                    continue;
                };
                let kind = match &inode.kind {
                    Kind::File(data) => NodeKind::File(data.content(&files)),
                    Kind::Dir(_) => {
                        queue.push_back(ino);
                        NodeKind::Directory(BTreeMap::new())
                    }
                    Kind::Symlink(target) => NodeKind::Symlink(target.clone()),
                    Kind::CharDevice(major, minor) => NodeKind::CharDevice {
                        major: *major,
                        minor: *minor,
                    },
                    Kind::BlockDevice(major, minor) => NodeKind::BlockDevice {
                        major: *major,
                        minor: *minor,
                    },
                    Kind::Fifo => NodeKind::Fifo,
                    Kind::Socket => NodeKind::Socket,
                };
                let node = Node {
                    meta: inode.meta.clone(),
                    kind,
                    xattrs: xattrs_of(inode),
                };
                ids.insert(ino, tree.add(dir_id, name, node)?);
            }
        }
        Ok(tree)
    }

    /// A directory's times for the kernel, after a change (for tests).
    #[cfg(test)]
    fn mtime(&self, ino: u64) -> std::time::SystemTime {
        crate::inode::system_time(self.get(ino).map(|i| i.meta.mtime).unwrap_or_default())
    }
}

fn missing_root() -> blockimg::Error {
    blockimg::Error::InvalidOption {
        option: "mount".into(),
        reason: "the root directory is gone".into(),
    }
}

fn xattrs_of(inode: &Inode) -> Vec<Xattr> {
    inode
        .xattrs
        .iter()
        .map(|(name, value)| Xattr {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
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

/// Refuses attribute names outside the namespaces ext4 stores.
fn check_xattr_name(name: &[u8]) -> OpResult<()> {
    if name.len() > 255 {
        return Err(errno(libc::ERANGE));
    }
    let known = XATTR_PREFIXES
        .iter()
        .any(|p| name.starts_with(p) && (name.len() > p.len() || p.starts_with(b"system.")));
    if !known {
        return Err(errno(libc::EOPNOTSUPP));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fs() -> Fs {
        let dir = tempfile::tempdir().unwrap();
        let image = tempfile::tempfile().unwrap();
        let spill = Spill::create(dir.path()).unwrap();
        let files: Arc<[File]> = vec![image, spill.try_clone().unwrap()].into();
        let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1)));
        let space = Space {
            block_size: 4096,
            blocks_count: 1000,
            reserved_blocks: 50,
            free_blocks: 899,
            inodes_count: 64,
            free_inodes: 49,
        };
        Fs::new(&tree, files, spill, space, Config::default()).unwrap()
    }

    const ME: Caller = Caller { uid: 7, gid: 8 };
    const FILE: NewKind = NewKind::Special {
        mode: libc::S_IFREG,
        rdev: 0,
    };

    #[test]
    fn rename_rules() {
        let mut fs = fs();
        let a = fs
            .create(ME, ROOT, b"a", NewKind::Dir, 0o755)
            .unwrap()
            .ino
            .0;
        fs.create(ME, a, b"sub", NewKind::Dir, 0o755).unwrap();
        fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap();
        let flags = RenameFlags::empty();
        assert_eq!(fs.rename(ROOT, b"a", a, b"x", flags), Err(Errno::EINVAL));
        assert_eq!(fs.rename(ROOT, b"f", ROOT, b"a", flags), Err(Errno::EISDIR));
        assert_eq!(
            fs.rename(ROOT, b"a", ROOT, b"f", flags),
            Err(Errno::ENOTDIR)
        );
        fs.create(ME, ROOT, b"e", NewKind::Dir, 0o755).unwrap();
        assert_eq!(
            fs.rename(ROOT, b"e", ROOT, b"a", flags),
            Err(errno(libc::ENOTEMPTY))
        );
        assert_eq!(
            fs.rename(ROOT, b"f", ROOT, b"e", RenameFlags::RENAME_NOREPLACE),
            Err(Errno::EEXIST)
        );
        fs.rename(ROOT, b"f", ROOT, b"e", RenameFlags::RENAME_EXCHANGE)
            .unwrap();
        assert_eq!(fs.attr(ROOT).unwrap().nlink, 4); // ., .., a, e (now at f)
        fs.rename(ROOT, b"a", ROOT, b"f", flags).unwrap();
        assert_eq!(fs.attr(ROOT).unwrap().nlink, 3);
        assert_eq!(fs.statfs().free_files, 50 - 4); // root, a, a/sub, e
        assert!(fs.mtime(ROOT) > crate::inode::system_time(Timestamp::from_secs(1)));
    }

    #[test]
    fn writes_overlay_and_space_runs_out() {
        let mut fs = fs();
        let f = fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap().ino.0;
        fs.write(f, 10, b"hello").unwrap();
        fs.write(f, 12, b"LL").unwrap();
        assert_eq!(fs.read(f, 0, 100).unwrap()[8..], *b"\0\0heLLo");
        fs.setattr(
            f,
            SetAttr {
                size: Some(1 << 40),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(fs.attr(f).unwrap().blocks, 8);
        let big = vec![1u8; 4 << 20];
        assert_eq!(fs.write(f, 0, &big), Err(errno(libc::ENOSPC)));
        fs.fallocate(f, 0, 1 << 20, libc::FALLOC_FL_KEEP_SIZE)
            .unwrap();
        assert_eq!(fs.attr(f).unwrap().blocks, 256 * 8);
        fs.fallocate(
            f,
            0,
            1 << 20,
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
        )
        .unwrap();
        assert_eq!(fs.attr(f).unwrap().blocks, 0);
        assert_eq!(fs.seek(f, 0, true), Err(errno(libc::ENXIO)));
    }

    #[test]
    fn xattr_flags_and_names() {
        let mut fs = fs();
        let f = fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap().ino.0;
        assert_eq!(
            fs.setxattr(f, b"user.a", b"1", libc::XATTR_REPLACE),
            Err(errno(libc::ENODATA))
        );
        fs.setxattr(f, b"user.a", b"1", libc::XATTR_CREATE).unwrap();
        assert_eq!(
            fs.setxattr(f, b"user.a", b"2", libc::XATTR_CREATE),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            fs.setxattr(f, b"os2.x", b"2", 0),
            Err(errno(libc::EOPNOTSUPP))
        );
        assert_eq!(
            fs.setxattr(f, b"user.big", &vec![0; 8192], 0),
            Err(errno(libc::ENOSPC))
        );
        assert_eq!(fs.listxattr(f).unwrap(), b"user.a\0");
        fs.removexattr(f, b"user.a").unwrap();
        assert_eq!(fs.getxattr(f, b"user.a"), Err(errno(libc::ENODATA)));
        let long = vec![b'x'; 256];
        assert_eq!(fs.lookup(ROOT, &long), Err(Errno::ENAMETOOLONG));
    }
}
