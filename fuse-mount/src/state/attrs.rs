//! Lookups and attributes: what the kernel is shown of an inode, the
//! references it holds, and `setattr`.

use blockimg::tree::Timestamp;
use fuser::{Errno, FileAttr};

use super::{check_name, errno, Fs, OpResult, SetAttr};
use crate::acl;

impl Fs {
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
        self.counted(ino)?.lookups += 1;
        self.attr(ino)
    }

    /// The kernel drops `n` references to `ino`.
    pub fn forget(&mut self, ino: u64, n: u64) {
        if let Ok(inode) = self.counted(ino) {
            inode.lookups = inode.lookups.saturating_sub(n);
        }
        self.reap(ino);
    }

    /// Counts a reference the kernel takes through `readdirplus`.
    pub fn remember(&mut self, ino: u64) {
        if let Ok(inode) = self.counted(ino) {
            inode.lookups += 1;
        }
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
}
