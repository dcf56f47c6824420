//! Directory operations: creating inodes, the entries that name them
//! (links, unlinks, renames) and reading directories through handles.

use blockimg::tree::{Metadata, Timestamp};
use fuser::{Errno, FileAttr, FileType, RenameFlags};

use super::{check_name, errno, Caller, Fs, NewKind, OpResult, MAX_LINKS, ROOT};
use crate::acl;
use crate::data::FileData;
use crate::inode::{Dir, Inode, Kind};

impl Fs {
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

    /// Closes a directory handle.
    pub fn releasedir(&mut self, handle: u64) {
        self.dir_handles.remove(&handle);
    }
}
