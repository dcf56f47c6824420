//! Extended attributes of host entries: the `user.`, `trusted.` and
//! `security.` namespaces and the POSIX ACLs, read through a descriptor or
//! a path whose last component is not followed.

use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;
use std::path::Path;

use crate::error::{Error, Result};
use crate::tree::Xattr;

/// Initial size of the buffer for extended attribute names and values (the
/// largest the kernel hands out: `XATTR_LIST_MAX` and `XATTR_SIZE_MAX`).
const XATTR_BUF_LEN: usize = 64 * 1024;

/// Where extended attributes are read from.
#[derive(Clone, Copy)]
pub(super) enum XattrTarget<'a> {
    /// An open descriptor (`flistxattr`/`fgetxattr`).
    Fd(RawFd),
    /// A path whose last component is not followed
    /// (`llistxattr`/`lgetxattr`).
    Path(&'a CStr),
}

impl XattrTarget<'_> {
    /// Lists attribute names into `buf` (`buf.len()` 0 queries the size).
    fn list(self, buf: *mut libc::c_char, len: usize) -> libc::ssize_t {
        // SAFETY: `buf` is valid for `len` bytes (or null with `len` 0) and
        // the path is NUL-terminated.
        unsafe {
            match self {
                XattrTarget::Fd(fd) => libc::flistxattr(fd, buf, len),
                XattrTarget::Path(path) => libc::llistxattr(path.as_ptr(), buf, len),
            }
        }
    }

    /// Reads the value of attribute `name` into `buf` (`buf.len()` 0
    /// queries the size).
    fn get(self, name: &CStr, buf: *mut libc::c_char, len: usize) -> libc::ssize_t {
        let buf = buf.cast::<libc::c_void>();
        // SAFETY: as in `list`; `name` is NUL-terminated.
        unsafe {
            match self {
                XattrTarget::Fd(fd) => libc::fgetxattr(fd, name.as_ptr(), buf, len),
                XattrTarget::Path(path) => libc::lgetxattr(path.as_ptr(), name.as_ptr(), buf, len),
            }
        }
    }
}

/// Reads extended attributes into a buffer kept from one entry to the next.
pub(super) struct XattrReader {
    /// Buffer for extended attribute names and values.
    buf: Vec<u8>,
}

impl XattrReader {
    /// A reader with a buffer of [`XATTR_BUF_LEN`] bytes.
    pub(super) fn new() -> Self {
        XattrReader {
            buf: vec![0; XATTR_BUF_LEN],
        }
    }

    /// The extended attributes of `target` worth keeping, sorted by name.
    /// `path` names the entry in errors.
    pub(super) fn read_xattrs(
        &mut self,
        target: XattrTarget<'_>,
        path: &Path,
    ) -> Result<Vec<Xattr>> {
        let names = match sized_call(&mut self.buf, |buf, len| target.list(buf, len)) {
            Ok(0) => return Ok(Vec::new()),
            Ok(len) => self.buf.get(..len).unwrap_or_default().to_vec(),
            Err(e) if skippable_xattr_error(&e) => return Ok(Vec::new()),
            Err(e) => return Err(Error::io(path, e)),
        };
        let mut xattrs = Vec::new();
        for name in names.split(|&b| b == 0) {
            if !is_kept_xattr(name) {
                continue;
            }
            let Ok(c_name) = CString::new(name) else {
                continue;
            };
            match sized_call(&mut self.buf, |buf, len| target.get(&c_name, buf, len)) {
                Ok(len) => xattrs.push(Xattr {
                    name: name.to_vec(),
                    value: self.buf.get(..len).unwrap_or_default().to_vec(),
                }),
                Err(e) if skippable_xattr_error(&e) => {}
                Err(e) => {
                    let context = format!(
                        "reading extended attribute {}: {e}",
                        String::from_utf8_lossy(name)
                    );
                    return Err(Error::io(path, io::Error::new(e.kind(), context)));
                }
            }
        }
        xattrs.sort();
        Ok(xattrs)
    }
}

/// Runs an `*xattr` call that fills a buffer, growing `buf` and retrying
/// when the data does not fit (`ERANGE`). Returns the length of the data at
/// the start of `buf`.
fn sized_call(
    buf: &mut Vec<u8>,
    mut call: impl FnMut(*mut libc::c_char, usize) -> libc::ssize_t,
) -> io::Result<usize> {
    for _ in 0..8 {
        if let Ok(len) = usize::try_from(call(buf.as_mut_ptr().cast(), buf.len())) {
            return Ok(len);
        }
        let err = io::Error::last_os_error();
        if err.raw_os_error() != Some(libc::ERANGE) {
            return Err(err);
        }
        let needed = usize::try_from(call(std::ptr::null_mut(), 0))
            .map_err(|_| io::Error::last_os_error())?;
        let new_len = needed.max(buf.len().saturating_mul(2));
        buf.resize(new_len, 0);
    }
    Err(io::Error::other(
        "extended attributes kept changing size while being read",
    ))
}

/// True for the extended attribute errors that mean "not readable here"
/// rather than a failure: not permitted, not supported, or gone meanwhile.
fn skippable_xattr_error(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EPERM | libc::EACCES | libc::ENOTSUP | libc::ENODATA)
    )
}

/// True for the extended attributes an image keeps.
pub(super) fn is_kept_xattr(name: &[u8]) -> bool {
    name.starts_with(b"user.")
        || name.starts_with(b"trusted.")
        || name.starts_with(b"security.")
        || name == b"system.posix_acl_access"
        || name == b"system.posix_acl_default"
}
