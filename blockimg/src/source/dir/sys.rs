//! System calls relative to open directory descriptors, which reach
//! entries whatever the length of their path: opening, listing a
//! directory's names with `getdents64`, reading symlinks.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

/// Offset of `d_reclen` within a `linux_dirent64` record.
const DIRENT_RECLEN_OFFSET: usize = 16;

/// Offset of `d_name` within a `linux_dirent64` record.
const DIRENT_NAME_OFFSET: usize = 19;

/// Opens directory `name` relative to `dirfd`, following a final symlink
/// only when `follow` is set.
pub(super) fn open_dir_at(dirfd: RawFd, name: &CStr, follow: bool) -> io::Result<OwnedFd> {
    let mut flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    open_at(dirfd, name, flags)
}

/// `openat(dirfd, name, flags)`.
pub(super) fn open_at(dirfd: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    loop {
        // SAFETY: `name` is NUL-terminated; no file is created, so no mode.
        let fd = unsafe { libc::openat(dirfd, name.as_ptr(), flags) };
        if fd >= 0 {
            // SAFETY: `fd` was just opened and is owned by nobody else.
            return Ok(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}

/// The names in the open directory `fd`, without `.` and `..`, read with
/// `getdents64` into `buf`.
pub(super) fn read_names(fd: RawFd, buf: &mut [u8]) -> io::Result<Vec<CString>> {
    let mut names = Vec::new();
    loop {
        // SAFETY: `buf` is valid for `buf.len()` bytes.
        let filled = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd,
                buf.as_mut_ptr().cast::<libc::c_void>(),
                buf.len(),
            )
        };
        let filled = match usize::try_from(filled) {
            Ok(0) => return Ok(names),
            Ok(filled) => filled,
            Err(_) => {
                let err = io::Error::last_os_error();
                if err.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(err);
            }
        };
        let records = buf
            .get(..filled)
            .ok_or_else(|| malformed("directory read overflowed its buffer"))?;
        let mut pos = 0;
        while pos < records.len() {
            let reclen = records
                .get(pos + DIRENT_RECLEN_OFFSET..pos + DIRENT_RECLEN_OFFSET + 2)
                .and_then(|b| <[u8; 2]>::try_from(b).ok())
                .map(|b| usize::from(u16::from_ne_bytes(b)))
                .ok_or_else(|| malformed("truncated directory record"))?;
            let record = records
                .get(pos..pos + reclen)
                .filter(|_| reclen > DIRENT_NAME_OFFSET)
                .ok_or_else(|| malformed("bad directory record length"))?;
            let name = record.get(DIRENT_NAME_OFFSET..).unwrap_or_default();
            let name = CStr::from_bytes_until_nul(name)
                .map_err(|_| malformed("unterminated name in directory record"))?;
            let bytes = name.to_bytes();
            if bytes != b"." && bytes != b".." {
                names.push(name.to_owned());
            }
            pos += reclen;
        }
    }
}

/// An error for directory data the kernel should never produce.
fn malformed(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_owned())
}

/// `path` as a C string.
pub(super) fn path_cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::io(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
        )
    })
}

/// The target of symlink `name` in `dirfd`; `size_hint` is its `st_size`.
pub(super) fn read_link_at(dirfd: RawFd, name: &CStr, size_hint: u64) -> io::Result<Vec<u8>> {
    let mut capacity = usize::try_from(size_hint.min(1 << 16))
        .unwrap_or(1 << 16)
        .saturating_add(1)
        .max(256);
    loop {
        let mut buf = vec![0u8; capacity];
        // SAFETY: `name` is NUL-terminated and `buf` holds `buf.len()` bytes.
        let len =
            unsafe { libc::readlinkat(dirfd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        let len = usize::try_from(len).map_err(|_| io::Error::last_os_error())?;
        if len < buf.len() {
            buf.truncate(len);
            return Ok(buf);
        }
        if capacity >= 1 << 20 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "symlink target longer than 1 MiB",
            ));
        }
        capacity = capacity.saturating_mul(2);
    }
}
