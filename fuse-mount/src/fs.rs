//! The FUSE front: fuser's requests forwarded to the state ([`Fs`]), and
//! the kernel connection tuned for a single writer, so that a created file
//! costs as few round trips as the protocol allows: long attribute and
//! entry caches (negative entries too), files opened and closed without a
//! request (`OPEN`, `CREATE` and `FLUSH` answered `ENOSYS` once: files are
//! created with `MKNOD`, and neither `RELEASE` nor `FLUSH` follows), page
//! cache kept across opens, 1 MiB writes. The writeback cache is left off:
//! it saves no request for a file written by one `write` (the `WRITE` only
//! moves to the close) and would make the kernel the keeper of sizes and
//! times.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use fuser::{
    AccessFlags, Errno, FileHandle, Filesystem, FopenFlags, Generation, INodeNo, InitFlags,
    KernelConfig, LockOwner, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate, ReplyData,
    ReplyDirectory, ReplyDirectoryPlus, ReplyEmpty, ReplyEntry, ReplyLseek, ReplyOpen, ReplyStatfs,
    ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use crate::inode::{timestamp, MAX_WRITE};
use crate::state::{Caller, Fs, NewKind, OpResult, SetAttr};

/// How long the kernel may cache attributes and entries: the daemon is the
/// only writer, so whatever the kernel cached stays true.
const TTL: Duration = Duration::from_secs(3600);

/// The filesystem fuser runs: the shared state behind a lock.
pub struct FuseFs {
    state: Arc<Mutex<Fs>>,
    /// Whether the kernel checks permissions (`default_permissions`);
    /// without, every caller may do everything (only the user who mounted
    /// can reach the mount).
    kernel_permissions: bool,
}

impl FuseFs {
    /// A front for `state`, which the caller keeps to commit it when the
    /// session ends.
    pub fn new(state: Arc<Mutex<Fs>>, kernel_permissions: bool) -> FuseFs {
        FuseFs {
            state,
            kernel_permissions,
        }
    }

    fn fs(&self) -> MutexGuard<'_, Fs> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn caller(req: &Request) -> Caller {
    Caller {
        uid: req.uid(),
        gid: req.gid(),
        pid: req.pid(),
    }
}

fn time(t: TimeOrNow) -> blockimg::tree::Timestamp {
    match t {
        TimeOrNow::SpecificTime(t) => timestamp(t),
        TimeOrNow::Now => blockimg::tree::Timestamp::now(),
    }
}

fn entry(reply: ReplyEntry, result: OpResult<fuser::FileAttr>) {
    match result {
        Ok(attr) => reply.entry(&TTL, &attr, Generation(0)),
        Err(e) => reply.error(e),
    }
}

fn empty(reply: ReplyEmpty, result: OpResult<()>) {
    match result {
        Ok(()) => reply.ok(),
        Err(e) => reply.error(e),
    }
}

/// The attributes of a negative entry: inode 0, nothing else read.
fn absent() -> fuser::FileAttr {
    fuser::FileAttr {
        ino: INodeNo(0),
        size: 0,
        blocks: 0,
        atime: SystemTime::UNIX_EPOCH,
        mtime: SystemTime::UNIX_EPOCH,
        ctime: SystemTime::UNIX_EPOCH,
        crtime: SystemTime::UNIX_EPOCH,
        kind: fuser::FileType::RegularFile,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 0,
        flags: 0,
    }
}

/// Replies to `getxattr`/`listxattr`: the size when asked with 0, the
/// bytes when they fit, `ERANGE` when not.
fn xattr_reply(reply: ReplyXattr, size: u32, result: OpResult<Vec<u8>>) {
    match result {
        Ok(bytes) if size == 0 => reply.size(bytes.len() as u32),
        Ok(bytes) if bytes.len() <= size as usize => reply.data(&bytes),
        Ok(_) => reply.error(Errno::from_i32(libc::ERANGE)),
        Err(e) => reply.error(e),
    }
}

impl Filesystem for FuseFs {
    fn init(&mut self, _req: &Request, config: &mut KernelConfig) -> std::io::Result<()> {
        let _ = config.set_max_write(MAX_WRITE);
        let _ = config.set_max_background(64);
        let mut wanted = InitFlags::FUSE_PARALLEL_DIROPS
            | InitFlags::FUSE_DO_READDIRPLUS
            | InitFlags::FUSE_READDIRPLUS_AUTO
            | InitFlags::FUSE_CACHE_SYMLINKS
            | InitFlags::FUSE_MAX_PAGES;
        if self.kernel_permissions {
            // ACL xattrs reach the daemon only with this; it implies
            // default_permissions. The daemon clears S_ISUID and S_ISGID
            // on writes, truncations and chowns (the kernel then asks for
            // no attributes or xattrs before each write or chown).
            wanted |= InitFlags::FUSE_POSIX_ACL | InitFlags::FUSE_HANDLE_KILLPRIV_V2;
        }
        for flag in wanted.iter() {
            // A flag the kernel lacks is simply not used.
            let _ = config.add_capabilities(flag);
        }
        Ok(())
    }

    /// A name that does not exist is answered as inode 0, which the kernel
    /// caches as a negative entry for as long as a positive one: names
    /// appear only through the kernel, which then replaces the entry.
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match self.fs().lookup(parent.0, name.as_bytes()) {
            Err(Errno::ENOENT) => reply.entry(&TTL, &absent(), Generation(0)),
            result => entry(reply, result),
        }
    }

    fn forget(&self, _req: &Request, ino: INodeNo, nlookup: u64) {
        self.fs().forget(ino.0, nlookup);
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match self.fs().attr(ino.0) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn setattr(
        &self,
        req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        size: Option<u64>,
        atime: Option<TimeOrNow>,
        mtime: Option<TimeOrNow>,
        ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<fuser::BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        let set = SetAttr {
            mode,
            uid,
            gid,
            size,
            atime: atime.map(time),
            mtime: mtime.map(time),
            ctime: ctime.map(timestamp),
        };
        match self.fs().setattr(caller(req), ino.0, set) {
            Ok(attr) => reply.attr(&TTL, &attr),
            Err(e) => reply.error(e),
        }
    }

    fn readlink(&self, _req: &Request, ino: INodeNo, reply: ReplyData) {
        match self.fs().readlink(ino.0) {
            Ok(target) => reply.data(&target),
            Err(e) => reply.error(e),
        }
    }

    fn mknod(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        rdev: u32,
        reply: ReplyEntry,
    ) {
        let kind = NewKind::Special { mode, rdev };
        entry(
            reply,
            self.fs()
                .create(caller(req), parent.0, name.as_bytes(), kind, mode),
        );
    }

    fn mkdir(
        &self,
        req: &Request,
        parent: INodeNo,
        name: &OsStr,
        mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        entry(
            reply,
            self.fs()
                .create(caller(req), parent.0, name.as_bytes(), NewKind::Dir, mode),
        );
    }

    fn unlink(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.fs().unlink(parent.0, name.as_bytes()));
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.fs().rmdir(parent.0, name.as_bytes()));
    }

    fn symlink(
        &self,
        req: &Request,
        parent: INodeNo,
        link_name: &OsStr,
        target: &Path,
        reply: ReplyEntry,
    ) {
        let kind = NewKind::Symlink(target.as_os_str().as_bytes().to_vec());
        entry(
            reply,
            self.fs()
                .create(caller(req), parent.0, link_name.as_bytes(), kind, 0o777),
        );
    }

    fn rename(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        newparent: INodeNo,
        newname: &OsStr,
        flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        let result = self.fs().rename(
            parent.0,
            name.as_bytes(),
            newparent.0,
            newname.as_bytes(),
            flags,
        );
        empty(reply, result);
    }

    fn link(
        &self,
        _req: &Request,
        ino: INodeNo,
        newparent: INodeNo,
        newname: &OsStr,
        reply: ReplyEntry,
    ) {
        entry(
            reply,
            self.fs().link(ino.0, newparent.0, newname.as_bytes()),
        );
    }

    /// Answered with `ENOSYS`, which the kernel remembers
    /// (`FUSE_NO_OPEN_SUPPORT`): files then open and close without a
    /// request (no `OPEN`, no `RELEASE`), keeping their cached pages. The
    /// daemon needs no handle: reads and writes name the inode, and an
    /// unlinked file lives until the kernel forgets it, which it does
    /// only after the last close.
    fn open(&self, _req: &Request, _ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        reply.error(Errno::ENOSYS);
    }

    /// Answered with `ENOSYS`, which the kernel remembers: it then creates
    /// files with `MKNOD` and opens them without a request, so a created
    /// file costs no `RELEASE` either.
    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(Errno::ENOSYS);
    }

    fn read(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        match self.fs().read(ino.0, offset, size) {
            Ok(bytes) => reply.data(&bytes),
            Err(e) => reply.error(e),
        }
    }

    /// A write the kernel flags `FUSE_WRITE_KILL_SUIDGID` (the caller
    /// lacks `CAP_FSETID`) clears the file's set-id bits first.
    fn write(
        &self,
        req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        data: &[u8],
        write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let mut fs = self.fs();
        if write_flags.contains(WriteFlags::FUSE_WRITE_KILL_SUIDGID) {
            if let Err(e) = fs.kill_privileges(caller(req), ino.0) {
                return reply.error(e);
            }
        }
        match fs.write(ino.0, offset, data) {
            Ok(n) => reply.written(n),
            Err(e) => reply.error(e),
        }
    }

    /// Answered with `ENOSYS`, which the kernel remembers: closing a file
    /// sends nothing (data reaches the image at the commit).
    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.error(Errno::ENOSYS);
    }

    /// Only the file opened before the kernel learnt that opens need no
    /// request is released: nothing to do.
    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    /// Returns at once, and promises no more than that the data is in the
    /// daemon: it lies in blocks the image's filesystem does not use, or in
    /// the spill file (which has no name), and only the daemon knows where;
    /// it is lost if the daemon dies, until the commit at unmount adopts or
    /// writes it and syncs the image (see docs/MOUNT.md, "Guarantees").
    fn fsync(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match self.fs().opendir(ino.0) {
            Ok(handle) => reply.opened(FileHandle(handle), FopenFlags::empty()),
            Err(e) => reply.error(e),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let entries = match self.fs().readdir(fh.0, offset) {
            Ok(entries) => entries,
            Err(e) => return reply.error(e),
        };
        for (i, (name, ino, kind)) in entries.into_iter().enumerate() {
            let next = offset + i as u64 + 1;
            if reply.add(INodeNo(ino), next, kind, OsStr::from_bytes(&name)) {
                break;
            }
        }
        reply.ok();
    }

    fn readdirplus(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectoryPlus,
    ) {
        let mut fs = self.fs();
        let entries = match fs.readdir(fh.0, offset) {
            Ok(entries) => entries,
            Err(e) => return reply.error(e),
        };
        for (i, (name, ino, _)) in entries.into_iter().enumerate() {
            let Ok(attr) = fs.attr(ino) else {
                continue;
            };
            let next = offset + i as u64 + 1;
            let full = reply.add(
                INodeNo(ino),
                next,
                OsStr::from_bytes(&name),
                &TTL,
                &attr,
                Generation(0),
            );
            if full {
                break;
            }
            if name != b"." && name != b".." {
                fs.remember(ino);
            }
        }
        reply.ok();
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.fs().releasedir(fh.0);
        reply.ok();
    }

    fn fsyncdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _datasync: bool,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn statfs(&self, _req: &Request, _ino: INodeNo, reply: ReplyStatfs) {
        let s = self.fs().statfs();
        reply.statfs(
            s.blocks,
            s.free,
            s.available,
            s.files,
            s.free_files,
            s.block_size,
            blockimg::tree::MAX_NAME_LEN as u32,
            s.block_size,
        );
    }

    fn setxattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        name: &OsStr,
        value: &[u8],
        flags: i32,
        _position: u32,
        reply: ReplyEmpty,
    ) {
        empty(
            reply,
            self.fs().setxattr(ino.0, name.as_bytes(), value, flags),
        );
    }

    fn getxattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, size: u32, reply: ReplyXattr) {
        xattr_reply(reply, size, self.fs().getxattr(ino.0, name.as_bytes()));
    }

    fn listxattr(&self, _req: &Request, ino: INodeNo, size: u32, reply: ReplyXattr) {
        xattr_reply(reply, size, self.fs().listxattr(ino.0));
    }

    fn removexattr(&self, _req: &Request, ino: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        empty(reply, self.fs().removexattr(ino.0, name.as_bytes()));
    }

    /// Called only without `default_permissions` (`--fakeroot`), where
    /// every caller may do everything.
    fn access(&self, _req: &Request, ino: INodeNo, _mask: AccessFlags, reply: ReplyEmpty) {
        empty(reply, self.fs().attr(ino.0).map(|_| ()));
    }

    fn fallocate(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: u64,
        length: u64,
        mode: i32,
        reply: ReplyEmpty,
    ) {
        empty(reply, self.fs().fallocate(ino.0, offset, length, mode));
    }

    fn lseek(
        &self,
        _req: &Request,
        ino: INodeNo,
        _fh: FileHandle,
        offset: i64,
        whence: i32,
        reply: ReplyLseek,
    ) {
        let data = match whence {
            libc::SEEK_DATA => true,
            libc::SEEK_HOLE => false,
            _ => return reply.error(Errno::EINVAL),
        };
        let Ok(offset) = u64::try_from(offset) else {
            return reply.error(Errno::EINVAL);
        };
        match self.fs().seek(ino.0, offset, data) {
            Ok(pos) => reply.offset(pos as i64),
            Err(e) => reply.error(e),
        }
    }
}
