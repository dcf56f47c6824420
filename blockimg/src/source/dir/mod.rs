//! Building a [`Tree`] from a directory on the host, without root privileges.
//!
//! [`scan`] walks the directory with `lstat` semantics (symlinks are stored,
//! never followed) and records everything an image needs: owner, permission
//! bits including setuid/setgid/sticky, timestamps with nanoseconds, the
//! creation time where the host filesystem reports it, extended attributes
//! and POSIX ACLs, device numbers, symlink targets, hard links and the holes
//! of sparse files. File data is not read: regular files become references
//! to their host path ([`DataSource::HostFile`]), read when the image is
//! written.
//!
//! The walk is iterative, so arbitrarily deep trees do not exhaust the stack,
//! and works relative to open directory descriptors, so paths longer than
//! the kernel's `PATH_MAX` are scanned too. Entries of each directory are
//! visited in byte order of their names, which makes node numbering, and
//! with it the image, independent of the host's directory order.
//!
//! [`DataSource::HostFile`]: crate::tree::DataSource::HostFile

mod content;
mod stat;
mod sys;
#[cfg(test)]
mod tests;
mod xattrs;

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString, OsStr};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

pub use content::host_file_content;

use content::file_content;
use stat::{Stat, StatReader};
use sys::{open_dir_at, path_cstring, read_link_at, read_names};
use xattrs::{XattrReader, XattrTarget};

use crate::error::SourceError;
use crate::error::{Error, Result};
use crate::tree::{validate_name, Metadata, Node, NodeId, NodeKind, Timestamp, Tree};

/// How many directories are kept open, at most, so that their
/// subdirectories can be opened relative to them. Beyond this, a
/// subdirectory with a short enough path is opened by path instead.
const MAX_HELD_DIRS: usize = 128;

/// Paths at least this long are not handed to the kernel (whose limit is
/// `PATH_MAX`, 4096 bytes with the terminating NUL); such entries are reached
/// through their parent directory's descriptor instead.
const MAX_PATH_LEN: usize = 4000;

/// Size of the buffer directory entries are read into.
const DIRENT_BUF_LEN: usize = 64 * 1024;

/// Builds a [`Tree`] from the host directory `root`.
///
/// The root directory's own metadata and extended attributes become those of
/// the tree's root; `root` itself may be a symlink to a directory, but no
/// symlink below it is followed. Directories on other filesystems mounted
/// below `root` are scanned like any other directory.
///
/// Regular files are not read: each becomes a [`DataSource::HostFile`]
/// holding its path and modification time, with its data segments (a file
/// whose allocated blocks are fewer than its size is probed with
/// `SEEK_DATA`/`SEEK_HOLE`; any other file is one segment). Names of
/// non-directories seen more than once (same device and inode) become hard
/// links to one node.
///
/// Extended attributes in the `user.`, `trusted.` and `security.`
/// namespaces and the POSIX ACLs `system.posix_acl_access` and
/// `system.posix_acl_default` are kept, sorted by name; those the caller may
/// not read, or that the filesystem does not support, are left out.
///
/// # Errors
///
/// [`Error::Io`] naming the path when `root` does not exist or is not a
/// directory, when a directory cannot be read, an entry cannot be examined,
/// a symlink cannot be read or a possibly sparse file cannot be probed;
/// [`SourceError::UnsupportedFileType`] for an entry of an unknown type;
/// [`SourceError::Entry`] for a name that cannot be stored (longer than 255
/// bytes).
///
/// [`DataSource::HostFile`]: crate::tree::DataSource::HostFile
///
/// # Examples
///
/// ```
/// use blockimg::tree::NodeKind;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::create_dir(dir.path().join("etc"))?;
/// std::fs::write(dir.path().join("etc/hostname"), "appliance\n")?;
/// std::os::unix::fs::symlink("hostname", dir.path().join("etc/name"))?;
///
/// let tree = blockimg::source::dir::scan(dir.path())?;
/// let id = tree.lookup(b"/etc/hostname").ok_or("missing")?;
/// let NodeKind::File(content) = &tree.node(id).kind else { panic!("not a file") };
/// assert_eq!(content.size, 10); // not read yet: read when the image is written
/// assert!(matches!(&tree.node(tree.lookup(b"/etc/name").unwrap()).kind, NodeKind::Symlink(t) if t == b"hostname"));
/// # Ok(())
/// # }
/// ```
pub fn scan(root: &Path) -> Result<Tree> {
    let root = std::path::absolute(root).map_err(|e| Error::io(root, e))?;
    let mut scanner = Scanner::new();

    let root_fd = open_dir_at(libc::AT_FDCWD, &path_cstring(&root)?, true)
        .map_err(|e| Error::io(&root, e))?;
    let stat = scanner
        .stat
        .stat_at(root_fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
        .map_err(|e| Error::io(&root, e))?;
    let mut tree = Tree::new(stat.metadata());
    tree.node_mut(Tree::ROOT).xattrs = scanner
        .xattrs
        .read_xattrs(XattrTarget::Fd(root_fd.as_raw_fd()), &root)?;

    let mut stack = Vec::new();
    scanner.read_dir(&mut tree, Tree::ROOT, &root, root_fd, &mut stack)?;
    while let Some(Pending {
        node,
        path,
        name,
        parent,
    }) = stack.pop()
    {
        let opened = match &parent {
            Some(parent) => open_dir_at(parent.fd.as_raw_fd(), &name, false),
            None => open_dir_at(libc::AT_FDCWD, &path_cstring(&path)?, false),
        };
        drop(parent);
        let fd = opened.map_err(|e| Error::io(&path, e))?;
        tree.node_mut(node).xattrs = scanner
            .xattrs
            .read_xattrs(XattrTarget::Fd(fd.as_raw_fd()), &path)?;
        scanner.read_dir(&mut tree, node, &path, fd, &mut stack)?;
    }
    Ok(tree)
}

/// A directory whose node exists in the tree but whose entries are still to
/// be read.
struct Pending {
    /// The directory's node.
    node: NodeId,
    /// Its full host path.
    path: PathBuf,
    /// Its name within its parent.
    name: CString,
    /// The parent directory, held open to open this one relative to it;
    /// `None` to open it by path.
    parent: Option<Rc<HeldDir>>,
}

/// Scans the host entry at `path`, which need not be a directory: a
/// directory is scanned as [`scan`] does and its node is the root; any
/// other entry (not followed when a symlink) becomes the only entry of a
/// tree whose root stands in for its parent directory. Returns the tree
/// and the node that is `path`.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let kernel = dir.path().join("vmlinuz");
/// std::fs::write(&kernel, b"MZ...")?;
///
/// let (tree, node) = blockimg::source::dir::scan_path(&kernel)?;
/// assert_eq!(tree.lookup(b"/vmlinuz"), Some(node));
/// # Ok(())
/// # }
/// ```
pub fn scan_path(path: &Path) -> Result<(Tree, NodeId)> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Ok((scan(path)?, Tree::ROOT));
    }
    let path = std::path::absolute(path).map_err(|e| Error::io(path, e))?;
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(Error::from(SourceError::UnsupportedFileType { path }));
    };
    let name = path_cstring(Path::new(name))?;
    let mut scanner = Scanner::new();
    let parent_fd = open_dir_at(libc::AT_FDCWD, &path_cstring(parent)?, true)
        .map_err(|e| Error::io(parent, e))?;
    let dirfd = parent_fd.as_raw_fd();
    let stat = scanner
        .stat
        .stat_at(dirfd, &name, libc::AT_SYMLINK_NOFOLLOW)
        .map_err(|e| Error::io(&path, e))?;
    let node = scanner.entry_node(dirfd, &name, &path, &stat)?;
    let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
    let id = tree.add(Tree::ROOT, name.to_bytes(), node)?;
    Ok((tree, id))
}

/// An open directory descriptor, counted while it lives.
struct HeldDir {
    /// The descriptor.
    fd: OwnedFd,
    /// Number of directories currently held open by the scan.
    count: Rc<Cell<usize>>,
}

impl HeldDir {
    /// Holds `fd`, adding one to `count` until dropped.
    fn new(fd: OwnedFd, count: &Rc<Cell<usize>>) -> Self {
        count.set(count.get().saturating_add(1));
        HeldDir {
            fd,
            count: Rc::clone(count),
        }
    }
}

impl Drop for HeldDir {
    fn drop(&mut self) {
        self.count.set(self.count.get().saturating_sub(1));
    }
}

/// State shared by the whole walk.
struct Scanner {
    /// Takes `stat` of entries (through `statx` while it works).
    stat: StatReader,
    /// Nodes of non-directories with several names, by (device, inode).
    links: HashMap<(u64, u64), NodeId>,
    /// Buffer for `getdents64`.
    dirent_buf: Vec<u8>,
    /// Reads extended attributes.
    xattrs: XattrReader,
    /// Number of directory descriptors currently held open.
    held: Rc<Cell<usize>>,
}

impl Scanner {
    /// A scanner with empty state.
    fn new() -> Self {
        Scanner {
            stat: StatReader::new(),
            links: HashMap::new(),
            dirent_buf: vec![0; DIRENT_BUF_LEN],
            xattrs: XattrReader::new(),
            held: Rc::new(Cell::new(0)),
        }
    }

    /// Reads the entries of directory `dir` (open as `fd`, at `dir_path`),
    /// adds them to the tree and pushes its subdirectories on `stack`, the
    /// first name on top.
    fn read_dir(
        &mut self,
        tree: &mut Tree,
        dir: NodeId,
        dir_path: &Path,
        fd: OwnedFd,
        stack: &mut Vec<Pending>,
    ) -> Result<()> {
        let mut names =
            read_names(fd.as_raw_fd(), &mut self.dirent_buf).map_err(|e| Error::io(dir_path, e))?;
        names.sort_unstable();
        let held = Rc::new(HeldDir::new(fd, &self.held));
        let dirfd = held.fd.as_raw_fd();
        let first_pending = stack.len();

        for name in names {
            let path = dir_path.join(OsStr::from_bytes(name.to_bytes()));
            validate_name(name.to_bytes()).map_err(|e| {
                Error::from(SourceError::Entry {
                    path: path.clone(),
                    source: Box::new(e),
                })
            })?;
            let stat = self
                .stat
                .stat_at(
                    dirfd,
                    &name,
                    libc::AT_SYMLINK_NOFOLLOW | libc::AT_NO_AUTOMOUNT,
                )
                .map_err(|e| Error::io(&path, e))?;
            let file_type = stat.file_type();
            let is_dir = file_type == libc::S_IFDIR;

            if !is_dir && stat.nlink > 1 {
                if let Some(&existing) = self.links.get(&(stat.dev, stat.ino)) {
                    tree.link(dir, name.to_bytes(), existing)?;
                    continue;
                }
            }

            let node = self.entry_node(dirfd, &name, &path, &stat)?;
            let pending_path = is_dir.then_some(path);
            let id = tree.add(dir, name.to_bytes(), node)?;

            if let Some(path) = pending_path {
                let keep_parent =
                    self.held.get() <= MAX_HELD_DIRS || path.as_os_str().len() >= MAX_PATH_LEN;
                stack.push(Pending {
                    node: id,
                    path,
                    name,
                    parent: keep_parent.then(|| Rc::clone(&held)),
                });
            } else if stat.nlink > 1 {
                self.links.insert((stat.dev, stat.ino), id);
            }
        }

        if let Some(pushed) = stack.get_mut(first_pending..) {
            pushed.reverse();
        }
        Ok(())
    }

    /// The node of entry `name` of the directory open as `dirfd` (at host
    /// path `path`), whose `stat` was taken: its metadata, xattrs (a
    /// directory's are read once it is opened) and kind (a directory
    /// empty, a file's data left on the host).
    fn entry_node(&mut self, dirfd: RawFd, name: &CStr, path: &Path, stat: &Stat) -> Result<Node> {
        let file_type = stat.file_type();
        let xattrs = if file_type == libc::S_IFDIR {
            // Read through the descriptor once the directory is opened.
            Vec::new()
        } else if path.as_os_str().len() < MAX_PATH_LEN {
            self.xattrs
                .read_xattrs(XattrTarget::Path(&path_cstring(path)?), path)?
        } else {
            let mut proc_path = format!("/proc/self/fd/{dirfd}/").into_bytes();
            proc_path.extend_from_slice(name.to_bytes());
            let proc_path = path_cstring(Path::new(OsStr::from_bytes(&proc_path)))?;
            self.xattrs
                .read_xattrs(XattrTarget::Path(&proc_path), path)?
        };
        let kind = match file_type {
            libc::S_IFDIR => NodeKind::Directory(BTreeMap::new()),
            libc::S_IFREG => NodeKind::File(file_content(dirfd, name, path.to_path_buf(), stat)?),
            libc::S_IFLNK => {
                let target =
                    read_link_at(dirfd, name, stat.size).map_err(|e| Error::io(path, e))?;
                NodeKind::Symlink(target)
            }
            libc::S_IFCHR => NodeKind::CharDevice {
                major: stat.rdev_major,
                minor: stat.rdev_minor,
            },
            libc::S_IFBLK => NodeKind::BlockDevice {
                major: stat.rdev_major,
                minor: stat.rdev_minor,
            },
            libc::S_IFIFO => NodeKind::Fifo,
            libc::S_IFSOCK => NodeKind::Socket,
            _ => {
                return Err(Error::from(SourceError::UnsupportedFileType {
                    path: path.to_path_buf(),
                }))
            }
        };
        let mut node = Node::new(stat.metadata(), kind);
        node.xattrs = xattrs;
        Ok(node)
    }
}
