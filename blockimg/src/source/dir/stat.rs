//! What `stat` reports about an entry: `statx` where the kernel allows it
//! (for the creation time), `fstatat` otherwise, as one [`Stat`].

use std::ffi::CStr;
use std::io;
use std::os::fd::RawFd;

use crate::tree::{Metadata, Timestamp};

/// What `stat` reports about an entry, from `statx` or `fstatat`.
pub(super) struct Stat {
    /// File type and permission bits.
    pub(super) mode: u32,
    /// Owner.
    pub(super) uid: u32,
    /// Group.
    pub(super) gid: u32,
    /// Number of hard links.
    pub(super) nlink: u64,
    /// Size in bytes.
    pub(super) size: u64,
    /// Allocated 512-byte blocks.
    pub(super) blocks: u64,
    /// Device holding the entry (major in the high 32 bits).
    pub(super) dev: u64,
    /// Inode number.
    pub(super) ino: u64,
    /// Major number of a device node.
    pub(super) rdev_major: u32,
    /// Minor number of a device node.
    pub(super) rdev_minor: u32,
    /// Last access.
    pub(super) atime: Timestamp,
    /// Last modification.
    pub(super) mtime: Timestamp,
    /// Last inode change.
    pub(super) ctime: Timestamp,
    /// Creation, when the filesystem reports it.
    pub(super) crtime: Option<Timestamp>,
}

impl Stat {
    /// The file-type bits of the mode (`S_IFREG`, `S_IFDIR`, ...).
    pub(super) fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    /// The tree metadata of the entry.
    pub(super) fn metadata(&self) -> Metadata {
        Metadata {
            permissions: (self.mode & 0o7777) as u16,
            uid: self.uid,
            gid: self.gid,
            atime: self.atime,
            mtime: self.mtime,
            ctime: self.ctime,
            crtime: self.crtime,
        }
    }
}

/// Takes `stat` of entries, remembering whether `statx` is available.
pub(super) struct StatReader {
    /// False once `statx` turned out to be unavailable (old kernel or a
    /// seccomp filter); `fstatat` is used from then on.
    use_statx: bool,
}

impl StatReader {
    /// A reader that tries `statx` first.
    pub(super) fn new() -> Self {
        StatReader { use_statx: true }
    }

    /// `stat` of `name` relative to `dirfd` with the given `*at` flags,
    /// through `statx` (for the creation time) where the kernel allows it.
    pub(super) fn stat_at(
        &mut self,
        dirfd: RawFd,
        name: &CStr,
        flags: libc::c_int,
    ) -> io::Result<Stat> {
        if self.use_statx {
            // SAFETY: `statx` is plain data, valid when zeroed.
            let mut buf: libc::statx = unsafe { std::mem::zeroed() };
            // SAFETY: `name` is NUL-terminated and `buf` is a valid `statx`.
            let rc = unsafe {
                libc::statx(
                    dirfd,
                    name.as_ptr(),
                    flags | libc::AT_STATX_SYNC_AS_STAT,
                    libc::STATX_BASIC_STATS | libc::STATX_BTIME,
                    &mut buf,
                )
            };
            if rc == 0 {
                return Ok(stat_from_statx(&buf));
            }
            let err = io::Error::last_os_error();
            if !matches!(err.raw_os_error(), Some(libc::ENOSYS | libc::EPERM)) {
                return Err(err);
            }
            self.use_statx = false;
        }
        // SAFETY: `stat` is plain data, valid when zeroed.
        let mut buf: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: `name` is NUL-terminated and `buf` is a valid `stat`.
        let rc = unsafe { libc::fstatat(dirfd, name.as_ptr(), &mut buf, flags) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(stat_from_stat(&buf))
    }
}

/// A device number as one key: major in the high 32 bits, minor in the low.
fn dev_key(major: u32, minor: u32) -> u64 {
    (u64::from(major) << 32) | u64::from(minor)
}

/// A timestamp from seconds and nanoseconds as the kernel reports them.
pub(super) fn timestamp(secs: i64, nanos: i64) -> Timestamp {
    Timestamp {
        secs,
        nanos: u32::try_from(nanos.clamp(0, 999_999_999)).unwrap_or(0),
    }
}

/// [`Stat`] from a `statx` result.
fn stat_from_statx(buf: &libc::statx) -> Stat {
    let time = |t: &libc::statx_timestamp| timestamp(t.tv_sec, i64::from(t.tv_nsec));
    Stat {
        mode: u32::from(buf.stx_mode),
        uid: buf.stx_uid,
        gid: buf.stx_gid,
        nlink: u64::from(buf.stx_nlink),
        size: buf.stx_size,
        blocks: buf.stx_blocks,
        dev: dev_key(buf.stx_dev_major, buf.stx_dev_minor),
        ino: buf.stx_ino,
        rdev_major: buf.stx_rdev_major,
        rdev_minor: buf.stx_rdev_minor,
        atime: time(&buf.stx_atime),
        mtime: time(&buf.stx_mtime),
        ctime: time(&buf.stx_ctime),
        crtime: (buf.stx_mask & libc::STATX_BTIME != 0).then(|| time(&buf.stx_btime)),
    }
}

/// [`Stat`] from an `fstatat` result (no creation time).
// `nlink_t` is 64 bits wide on some architectures and 32 on others.
#[allow(clippy::useless_conversion)]
fn stat_from_stat(buf: &libc::stat) -> Stat {
    Stat {
        mode: buf.st_mode,
        uid: buf.st_uid,
        gid: buf.st_gid,
        nlink: u64::from(buf.st_nlink),
        size: u64::try_from(buf.st_size).unwrap_or(0),
        blocks: u64::try_from(buf.st_blocks).unwrap_or(0),
        dev: dev_key(libc::major(buf.st_dev), libc::minor(buf.st_dev)),
        ino: buf.st_ino,
        rdev_major: libc::major(buf.st_rdev),
        rdev_minor: libc::minor(buf.st_rdev),
        atime: timestamp(buf.st_atime, buf.st_atime_nsec),
        mtime: timestamp(buf.st_mtime, buf.st_mtime_nsec),
        ctime: timestamp(buf.st_ctime, buf.st_ctime_nsec),
        crtime: None,
    }
}
