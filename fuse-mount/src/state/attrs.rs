//! Lookups and attributes: what the kernel is shown of an inode, the
//! references it holds, and `setattr`.

use blockimg::tree::Timestamp;
use fuser::{Errno, FileAttr};

use super::{check_name, errno, Caller, Fs, OpResult, SetAttr};
use crate::acl;
use crate::inode::Kind;

/// Set-user-id.
const S_ISUID: u16 = 0o4000;
/// Set-group-id.
const S_ISGID: u16 = 0o2000;
/// Group execute.
const S_IXGRP: u16 = 0o010;

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

    /// Clears what makes file `ino` run with other privileges after a
    /// write or truncation by `caller`, as Linux does when the caller lacks
    /// `CAP_FSETID` (the kernel leaves this to the daemon,
    /// `FUSE_HANDLE_KILLPRIV_V2`): S_ISUID, and S_ISGID when group execute
    /// is on or the caller is not of the file's group. Under `fakeroot`
    /// every caller acts as root, who keeps them.
    pub fn kill_privileges(&mut self, caller: Caller, ino: u64) -> OpResult<()> {
        if self.config.fakeroot {
            return Ok(());
        }
        let inode = self.get(ino)?;
        let mode = inode.meta.permissions;
        if mode & (S_ISUID | S_ISGID) == 0 || !matches!(inode.kind, Kind::File(_)) {
            return Ok(());
        }
        let mut kill = S_ISUID;
        if mode & S_IXGRP != 0 || !caller.in_group(inode.meta.gid) {
            kill |= S_ISGID;
        }
        self.writable()?;
        let inode = self.get_mut(ino)?;
        inode.meta.permissions &= !kill;
        inode.meta.ctime = Timestamp::now();
        Ok(())
    }

    /// Changes attributes (`chmod`, `chown`, `truncate`, `utimensat`) for
    /// `caller`. With an owner configured, a `chown` to the ids the owner
    /// is shown as records the owner. A `chown` of a file that is not a
    /// directory clears S_ISUID and S_ISGID, as Linux does for every
    /// caller (the kernel usually sends the mode that results along); a
    /// truncation by a caller other than
    /// root clears them as a write does ([`Fs::kill_privileges`]).
    pub fn setattr(&mut self, caller: Caller, ino: u64, set: SetAttr) -> OpResult<FileAttr> {
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
            self.release(ino, freed)?;
            self.recount(ino);
            let inode = self.get_mut(ino)?;
            inode.meta.mtime = now;
        }
        if set.size.is_some() && caller.uid != 0 {
            self.kill_privileges(caller, ino)?;
        }
        let inode = self.get_mut(ino)?;
        let chown = set.uid.is_some() || set.gid.is_some();
        if chown && set.mode.is_none() && !matches!(inode.kind, Kind::Dir(_)) {
            inode.meta.permissions &= !(S_ISUID | S_ISGID);
        }
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
