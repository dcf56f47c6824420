//! Extended attributes and POSIX ACLs: set, get, list and remove, within
//! what one ext4 xattr block holds.

use blockimg::tree::Timestamp;
use fuser::Errno;

use super::{errno, Fs, OpResult, XATTR_PREFIXES};
use crate::acl;
use crate::inode::{xattr_entry_bytes, Kind};

impl Fs {
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
