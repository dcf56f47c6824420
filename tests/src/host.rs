//! Walks a host directory (a fixture, or a kernel mount of an image) into a
//! [`Model`] with `lstat`, `readlink` and `llistxattr`/`lgetxattr`.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::model::{assign_link_groups, ContentDigest, Entry, Kind, Model};

/// The model of the tree under `root` (the root itself is `/`).
pub fn walk(root: &Path) -> Model {
    let mut model = Model::default();
    let mut identity = BTreeMap::new();
    visit(root, b"/".to_vec(), &mut model, &mut identity);
    assign_link_groups(&mut model, &identity);
    model
}

fn visit(
    host: &Path,
    path: Vec<u8>,
    model: &mut Model,
    identity: &mut BTreeMap<Vec<u8>, (u64, u64)>,
) {
    let meta =
        fs::symlink_metadata(host).unwrap_or_else(|e| panic!("lstat {}: {e}", host.display()));
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        Kind::Dir
    } else if ft.is_file() {
        Kind::File
    } else if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_char_device() {
        Kind::CharDev
    } else if ft.is_block_device() {
        Kind::BlockDev
    } else if ft.is_fifo() {
        Kind::Fifo
    } else if ft.is_socket() {
        Kind::Socket
    } else {
        panic!("{}: unknown file type", host.display())
    };
    let rdev = meta.rdev();
    let entry = Entry {
        kind,
        perm: (meta.mode() & 0o7777) as u16,
        uid: meta.uid(),
        gid: meta.gid(),
        size: (kind != Kind::Dir).then_some(meta.size()),
        content: (kind == Kind::File).then(|| file_digest(host)),
        target: (kind == Kind::Symlink).then(|| {
            fs::read_link(host)
                .unwrap_or_else(|e| panic!("readlink {}: {e}", host.display()))
                .as_os_str()
                .as_bytes()
                .to_vec()
        }),
        mtime: (meta.mtime(), meta.mtime_nsec() as u32),
        nlink: Some(meta.nlink() as u32),
        rdev: matches!(kind, Kind::CharDev | Kind::BlockDev)
            .then(|| (libc::major(rdev), libc::minor(rdev))),
        link_group: None,
        xattrs: Some(xattrs(host)),
    };
    identity.insert(path.clone(), (meta.dev(), meta.ino()));
    model.entries.insert(path.clone(), entry);
    if kind == Kind::Dir {
        let mut children: Vec<_> = fs::read_dir(host)
            .unwrap_or_else(|e| panic!("read_dir {}: {e}", host.display()))
            .map(|e| e.expect("directory entry").file_name())
            .collect();
        children.sort();
        for name in children {
            let mut child = path.clone();
            if child.len() > 1 {
                child.push(b'/');
            }
            child.extend_from_slice(name.as_bytes());
            visit(&host.join(&name), child, model, identity);
        }
    }
}

/// [`ContentDigest`] of a host file, skipping its holes (`SEEK_DATA`).
pub fn file_digest(path: &Path) -> String {
    use std::io::{Read, Seek, SeekFrom};
    use std::os::unix::io::AsRawFd;

    let mut file = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let size = file.metadata().expect("fstat").len();
    let mut digest = ContentDigest::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut pos = 0u64;
    while pos < size {
        // SAFETY: lseek on an open descriptor.
        let data = unsafe { libc::lseek(file.as_raw_fd(), pos as libc::off_t, libc::SEEK_DATA) };
        let data = if data < 0 { size } else { data as u64 };
        digest.zeros(data.min(size) - pos);
        pos = data.min(size);
        if pos >= size {
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek(file.as_raw_fd(), pos as libc::off_t, libc::SEEK_HOLE) };
        let end = if hole < 0 {
            size
        } else {
            (hole as u64).min(size)
        };
        file.seek(SeekFrom::Start(pos)).expect("seek");
        while pos < end {
            let want = ((end - pos) as usize).min(buf.len());
            let n = file
                .read(&mut buf[..want])
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            assert!(n > 0, "{} shrank while being read", path.display());
            digest.update(&buf[..n]);
            pos += n as u64;
        }
    }
    digest.finish()
}

/// Every extended attribute of `path` (not following symlinks).
pub fn xattrs(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let cpath = CString::new(path.as_os_str().as_bytes()).expect("path without NUL");
    let mut names = vec![0u8; 64 * 1024];
    // SAFETY: the buffer is valid for its length; the path is NUL-terminated.
    let len = unsafe { libc::llistxattr(cpath.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if len < 0 {
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::ENOTSUP) {
            return BTreeMap::new();
        }
        panic!("llistxattr {}: {err}", path.display());
    }
    names.truncate(len as usize);
    let mut out = BTreeMap::new();
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let cname = CString::new(name).expect("xattr name");
        let mut value = vec![0u8; 64 * 1024];
        // SAFETY: as above.
        let len = unsafe {
            libc::lgetxattr(
                cpath.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        assert!(
            len >= 0,
            "lgetxattr {} {}: {}",
            path.display(),
            String::from_utf8_lossy(name),
            std::io::Error::last_os_error()
        );
        value.truncate(len as usize);
        out.insert(name.to_vec(), value);
    }
    out
}
