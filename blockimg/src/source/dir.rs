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

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use crate::error::SourceError;
use crate::error::{Error, Result};
use crate::tree::{
    validate_name, DataSource, FileContent, Metadata, Node, NodeId, NodeKind, Segment, Timestamp,
    Tree, Xattr,
};

/// How many directories are kept open, at most, so that their
/// subdirectories can be opened relative to them. Beyond this, a
/// subdirectory with a short enough path is opened by path instead.
const MAX_HELD_DIRS: usize = 128;

/// Paths at least this long are not handed to the kernel (whose limit is
/// `PATH_MAX`, 4096 bytes with the terminating NUL); such entries are reached
/// through their parent directory's descriptor instead.
const MAX_PATH_LEN: usize = 4000;

/// Initial size of the buffer for extended attribute names and values (the
/// largest the kernel hands out: `XATTR_LIST_MAX` and `XATTR_SIZE_MAX`).
const XATTR_BUF_LEN: usize = 64 * 1024;

/// Size of the buffer directory entries are read into.
const DIRENT_BUF_LEN: usize = 64 * 1024;

/// Offset of `d_reclen` within a `linux_dirent64` record.
const DIRENT_RECLEN_OFFSET: usize = 16;

/// Offset of `d_name` within a `linux_dirent64` record.
const DIRENT_NAME_OFFSET: usize = 19;

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
        .stat_at(root_fd.as_raw_fd(), c"", libc::AT_EMPTY_PATH)
        .map_err(|e| Error::io(&root, e))?;
    let mut tree = Tree::new(stat.metadata());
    tree.node_mut(Tree::ROOT).xattrs =
        scanner.read_xattrs(XattrTarget::Fd(root_fd.as_raw_fd()), &root)?;

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
        tree.node_mut(node).xattrs = scanner.read_xattrs(XattrTarget::Fd(fd.as_raw_fd()), &path)?;
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
    /// False once `statx` turned out to be unavailable (old kernel or a
    /// seccomp filter); `fstatat` is used from then on.
    use_statx: bool,
    /// Nodes of non-directories with several names, by (device, inode).
    links: HashMap<(u64, u64), NodeId>,
    /// Buffer for `getdents64`.
    dirent_buf: Vec<u8>,
    /// Buffer for extended attribute names and values.
    xattr_buf: Vec<u8>,
    /// Number of directory descriptors currently held open.
    held: Rc<Cell<usize>>,
}

/// What `stat` reports about an entry, from `statx` or `fstatat`.
struct Stat {
    /// File type and permission bits.
    mode: u32,
    /// Owner.
    uid: u32,
    /// Group.
    gid: u32,
    /// Number of hard links.
    nlink: u64,
    /// Size in bytes.
    size: u64,
    /// Allocated 512-byte blocks.
    blocks: u64,
    /// Device holding the entry (major in the high 32 bits).
    dev: u64,
    /// Inode number.
    ino: u64,
    /// Major number of a device node.
    rdev_major: u32,
    /// Minor number of a device node.
    rdev_minor: u32,
    /// Last access.
    atime: Timestamp,
    /// Last modification.
    mtime: Timestamp,
    /// Last inode change.
    ctime: Timestamp,
    /// Creation, when the filesystem reports it.
    crtime: Option<Timestamp>,
}

impl Stat {
    /// The file-type bits of the mode (`S_IFREG`, `S_IFDIR`, ...).
    fn file_type(&self) -> u32 {
        self.mode & libc::S_IFMT
    }

    /// The tree metadata of the entry.
    fn metadata(&self) -> Metadata {
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

/// Where extended attributes are read from.
#[derive(Clone, Copy)]
enum XattrTarget<'a> {
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

impl Scanner {
    /// A scanner with empty state.
    fn new() -> Self {
        Scanner {
            use_statx: true,
            links: HashMap::new(),
            dirent_buf: vec![0; DIRENT_BUF_LEN],
            xattr_buf: vec![0; XATTR_BUF_LEN],
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
            self.read_xattrs(XattrTarget::Path(&path_cstring(path)?), path)?
        } else {
            let mut proc_path = format!("/proc/self/fd/{dirfd}/").into_bytes();
            proc_path.extend_from_slice(name.to_bytes());
            let proc_path = path_cstring(Path::new(OsStr::from_bytes(&proc_path)))?;
            self.read_xattrs(XattrTarget::Path(&proc_path), path)?
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

    /// `stat` of `name` relative to `dirfd` with the given `*at` flags,
    /// through `statx` (for the creation time) where the kernel allows it.
    fn stat_at(&mut self, dirfd: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<Stat> {
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

    /// The extended attributes of `target` worth keeping, sorted by name.
    /// `path` names the entry in errors.
    fn read_xattrs(&mut self, target: XattrTarget<'_>, path: &Path) -> Result<Vec<Xattr>> {
        let names = match sized_call(&mut self.xattr_buf, |buf, len| target.list(buf, len)) {
            Ok(0) => return Ok(Vec::new()),
            Ok(len) => self.xattr_buf.get(..len).unwrap_or_default().to_vec(),
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
            match sized_call(&mut self.xattr_buf, |buf, len| {
                target.get(&c_name, buf, len)
            }) {
                Ok(len) => xattrs.push(Xattr {
                    name: name.to_vec(),
                    value: self.xattr_buf.get(..len).unwrap_or_default().to_vec(),
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

/// The content of the host file at `path` (symlinks followed), for
/// sources that name single files.
///
/// # Examples
///
/// ```
/// use std::io::Read;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("motd");
/// std::fs::write(&path, "welcome\n")?;
///
/// let content = blockimg::source::dir::host_file_content(&path)?;
/// let mut text = String::new();
/// content.reader()?.read_to_string(&mut text)?;
/// assert_eq!((content.size, text.as_str()), (8, "welcome\n"));
/// # Ok(())
/// # }
/// ```
pub fn host_file_content(path: &Path) -> Result<FileContent> {
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::from(SourceError::UnsupportedFileType {
            path: path.to_path_buf(),
        }));
    }
    let size = meta.len();
    let segments = if size == 0 {
        Vec::new()
    } else {
        data_segments(file.as_raw_fd(), size).map_err(|e| Error::io(path, e))?
    };
    Ok(FileContent {
        size,
        segments,
        source: DataSource::HostFile {
            path: path.to_path_buf(),
            mtime: timestamp(meta.mtime(), meta.mtime_nsec()),
        },
    })
}

/// The content of the regular file `name` in `dirfd`, at `path`.
fn file_content(dirfd: RawFd, name: &CStr, path: PathBuf, stat: &Stat) -> Result<FileContent> {
    let size = stat.size;
    let segments = if size == 0 {
        Vec::new()
    } else if stat.blocks.saturating_mul(512) < size {
        let flags =
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;
        let fd = open_at(dirfd, name, flags).map_err(|e| Error::io(&path, e))?;
        data_segments(fd.as_raw_fd(), size).map_err(|e| Error::io(&path, e))?
    } else {
        Segment::whole(size)
    };
    Ok(FileContent {
        size,
        segments,
        source: DataSource::HostFile {
            path,
            mtime: stat.mtime,
        },
    })
}

/// The ranges of the open file `fd` (of `size` bytes) that hold data,
/// found with `SEEK_DATA`/`SEEK_HOLE`. A filesystem or kernel without
/// support for them yields the whole file.
fn data_segments(fd: RawFd, size: u64) -> io::Result<Vec<Segment>> {
    let whole = vec![Segment {
        offset: 0,
        len: size,
    }];
    let mut segments = Vec::new();
    let mut pos = 0u64;
    while pos < size {
        let data = match seek(fd, pos, libc::SEEK_DATA) {
            Ok(data) => data,
            // No data at or after `pos`: the rest is a hole.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => break,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && pos == 0 => return Ok(whole),
            Err(e) => return Err(e),
        };
        if data >= size {
            break;
        }
        let hole = match seek(fd, data, libc::SEEK_HOLE) {
            Ok(hole) => hole,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => size,
            Err(e) => return Err(e),
        };
        let end = hole.min(size);
        if end <= data {
            break;
        }
        segments.push(Segment {
            offset: data,
            len: end - data,
        });
        pos = end;
    }
    Ok(segments)
}

/// `lseek(fd, offset, whence)`.
fn seek(fd: RawFd, offset: u64, whence: libc::c_int) -> io::Result<u64> {
    let offset = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset out of range"))?;
    // SAFETY: plain system call on a descriptor.
    let result = unsafe { libc::lseek(fd, offset, whence) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    u64::try_from(result)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative file offset"))
}

/// The target of symlink `name` in `dirfd`; `size_hint` is its `st_size`.
fn read_link_at(dirfd: RawFd, name: &CStr, size_hint: u64) -> io::Result<Vec<u8>> {
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
fn is_kept_xattr(name: &[u8]) -> bool {
    name.starts_with(b"user.")
        || name.starts_with(b"trusted.")
        || name.starts_with(b"security.")
        || name == b"system.posix_acl_access"
        || name == b"system.posix_acl_default"
}

/// Opens directory `name` relative to `dirfd`, following a final symlink
/// only when `follow` is set.
fn open_dir_at(dirfd: RawFd, name: &CStr, follow: bool) -> io::Result<OwnedFd> {
    let mut flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
    if !follow {
        flags |= libc::O_NOFOLLOW;
    }
    open_at(dirfd, name, flags)
}

/// `openat(dirfd, name, flags)`.
fn open_at(dirfd: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<OwnedFd> {
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
fn read_names(fd: RawFd, buf: &mut [u8]) -> io::Result<Vec<CString>> {
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
fn path_cstring(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::io(
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"),
        )
    })
}

/// A device number as one key: major in the high 32 bits, minor in the low.
fn dev_key(major: u32, minor: u32) -> u64 {
    (u64::from(major) << 32) | u64::from(minor)
}

/// A timestamp from seconds and nanoseconds as the kernel reports them.
fn timestamp(secs: i64, nanos: i64) -> Timestamp {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::io::{Seek, SeekFrom, Write};
    use std::os::unix::fs::{symlink, PermissionsExt};

    fn lookup<'a>(tree: &'a Tree, path: &str) -> &'a Node {
        let id = tree
            .lookup(path.as_bytes())
            .unwrap_or_else(|| panic!("{path} not in tree"));
        tree.node(id)
    }

    fn content(node: &Node) -> &FileContent {
        match &node.kind {
            NodeKind::File(content) => content,
            other => panic!("not a file: {other:?}"),
        }
    }

    fn c_path(path: &Path) -> CString {
        CString::new(path.as_os_str().as_bytes()).unwrap()
    }

    fn is_root() -> bool {
        // SAFETY: no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    /// Sets a `user.` attribute; false when the filesystem refuses them.
    fn set_user_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
        let c_name = CString::new(name).unwrap();
        // SAFETY: NUL-terminated strings and a valid buffer.
        let rc = unsafe {
            libc::lsetxattr(
                c_path(path).as_ptr(),
                c_name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc == 0 {
            return true;
        }
        let err = io::Error::last_os_error();
        eprintln!("skipping user xattr checks: {}: {err}", path.display());
        assert!(
            matches!(err.raw_os_error(), Some(libc::ENOTSUP | libc::EPERM)),
            "{err}"
        );
        false
    }

    #[test]
    fn files_directories_and_symlinks() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("hello"), b"hello world").unwrap();
        fs::set_permissions(root.join("hello"), fs::Permissions::from_mode(0o640)).unwrap();
        fs::write(root.join("empty"), b"").unwrap();
        fs::create_dir_all(root.join("a/b/c")).unwrap();
        fs::write(root.join("a/b/c/deep"), b"x").unwrap();
        symlink("../hello/../not-there", root.join("a/link")).unwrap();
        let raw_name = OsStr::from_bytes(b"raw-\xff\xfe-name");
        fs::write(root.join(raw_name), b"raw").unwrap();

        let tree = scan(root).unwrap();

        let hello = lookup(&tree, "hello");
        assert_eq!(hello.meta.permissions, 0o640);
        assert_eq!(hello.mode(), 0o100640);
        let hello_content = content(hello);
        assert_eq!(hello_content.size, 11);
        assert_eq!(hello_content.segments, vec![Segment { offset: 0, len: 11 }]);
        match &hello_content.source {
            DataSource::HostFile { path, mtime } => {
                assert_eq!(path, &root.join("hello"));
                let host = fs::metadata(root.join("hello")).unwrap();
                assert_eq!(mtime.secs, std::os::unix::fs::MetadataExt::mtime(&host));
            }
            other => panic!("unexpected source {other:?}"),
        }

        let empty = content(lookup(&tree, "empty"));
        assert_eq!(empty.size, 0);
        assert!(empty.segments.is_empty());

        assert!(lookup(&tree, "a").is_dir());
        assert!(lookup(&tree, "a/b/c").is_dir());
        assert_eq!(content(lookup(&tree, "a/b/c/deep")).size, 1);
        match &lookup(&tree, "a/link").kind {
            NodeKind::Symlink(target) => assert_eq!(target, b"../hello/../not-there"),
            other => panic!("not a symlink: {other:?}"),
        }
        let raw = tree
            .entries(Tree::ROOT)
            .unwrap()
            .get(&b"raw-\xff\xfe-name"[..])
            .copied()
            .unwrap();
        assert_eq!(content(tree.node(raw)).size, 3);

        let root_meta = fs::metadata(root).unwrap();
        assert_eq!(
            u32::from(tree.node(Tree::ROOT).meta.permissions),
            root_meta.permissions().mode() & 0o7777
        );
        // Root, hello, empty, a, a/b, a/b/c, deep, link and the raw name.
        assert_eq!(tree.len(), 9);
    }

    #[test]
    fn nodes_are_numbered_in_name_order() {
        let tmp = tempfile::tempdir().unwrap();
        for name in ["zeta", "alpha", "mid", "beta"] {
            fs::write(tmp.path().join(name), name).unwrap();
        }
        let tree = scan(tmp.path()).unwrap();
        let ids: Vec<NodeId> = ["alpha", "beta", "mid", "zeta"]
            .iter()
            .map(|name| tree.lookup(name.as_bytes()).unwrap())
            .collect();
        assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
    }

    #[test]
    fn sparse_files() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("sparse");
        let mut file = fs::File::create(&path).unwrap();
        file.set_len(8 << 20).unwrap();
        file.seek(SeekFrom::Start(4 << 20)).unwrap();
        file.write_all(b"data in the middle").unwrap();
        file.sync_all().unwrap();
        drop(file);
        let holes_only = tmp.path().join("holes");
        fs::File::create(&holes_only)
            .unwrap()
            .set_len(1 << 20)
            .unwrap();

        let blocks = std::os::unix::fs::MetadataExt::blocks(&fs::metadata(&path).unwrap());
        if blocks * 512 >= 8 << 20 {
            eprintln!("skipping sparse checks: the temporary filesystem does not keep holes");
            return;
        }
        let tree = scan(tmp.path()).unwrap();
        let sparse = content(lookup(&tree, "sparse"));
        assert_eq!(sparse.size, 8 << 20);
        assert!(!sparse.segments.is_empty());
        let data_start = 4u64 << 20;
        let data_end = data_start + 18;
        assert!(sparse
            .segments
            .iter()
            .any(|s| s.offset <= data_start && s.offset + s.len >= data_end));
        assert!(sparse
            .segments
            .iter()
            .all(|s| s.len > 0 && s.offset + s.len <= 8 << 20));
        assert!(sparse.segments[0].offset > 0, "{:?}", sparse.segments);
        let total: u64 = sparse.segments.iter().map(|s| s.len).sum();
        assert!(total < 1 << 20, "{:?}", sparse.segments);
        assert!(sparse
            .segments
            .windows(2)
            .all(|pair| pair[0].offset + pair[0].len <= pair[1].offset));

        let holes = content(lookup(&tree, "holes"));
        assert_eq!(holes.size, 1 << 20);
        assert!(holes.segments.is_empty(), "{:?}", holes.segments);
    }

    #[test]
    fn hard_links_share_a_node() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        fs::write(root.join("first"), b"shared").unwrap();
        fs::create_dir(root.join("sub")).unwrap();
        fs::hard_link(root.join("first"), root.join("second")).unwrap();
        fs::hard_link(root.join("first"), root.join("sub/third")).unwrap();
        fs::write(root.join("alone"), b"alone").unwrap();

        let tree = scan(root).unwrap();
        let first = tree.lookup(b"first").unwrap();
        assert_eq!(tree.lookup(b"second"), Some(first));
        assert_eq!(tree.lookup(b"sub/third"), Some(first));
        let alone = tree.lookup(b"alone").unwrap();
        assert_ne!(alone, first);
        let counts = tree.link_counts();
        assert_eq!(counts[first.index()], 3);
        assert_eq!(counts[alone.index()], 1);
        // Root, first, alone, sub: the links add no nodes.
        assert_eq!(tree.len(), 4);
    }

    #[test]
    fn fifos_and_sockets() {
        let tmp = tempfile::tempdir().unwrap();
        let fifo = tmp.path().join("fifo");
        // SAFETY: NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_path(&fifo).as_ptr(), 0o620) }, 0);
        let _listener = std::os::unix::net::UnixListener::bind(tmp.path().join("socket")).unwrap();

        let tree = scan(tmp.path()).unwrap();
        let fifo = lookup(&tree, "fifo");
        assert!(matches!(fifo.kind, NodeKind::Fifo));
        assert_eq!(fifo.mode() & 0o170000, 0o010000);
        assert!(matches!(lookup(&tree, "socket").kind, NodeKind::Socket));
    }

    #[test]
    fn user_xattrs_are_kept_and_sorted() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        let dir = tmp.path().join("dir");
        fs::create_dir(&dir).unwrap();
        if !set_user_xattr(&file, "user.zz", b"last") {
            return;
        }
        assert!(set_user_xattr(&file, "user.aa", b"first\0binary"));
        assert!(set_user_xattr(&dir, "user.dir", b""));
        assert!(set_user_xattr(tmp.path(), "user.root", b"top"));

        let tree = scan(tmp.path()).unwrap();
        let user = |node: &Node| -> Vec<(Vec<u8>, Vec<u8>)> {
            node.xattrs
                .iter()
                .filter(|x| x.name.starts_with(b"user."))
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect()
        };
        assert_eq!(
            user(lookup(&tree, "file")),
            vec![
                (b"user.aa".to_vec(), b"first\0binary".to_vec()),
                (b"user.zz".to_vec(), b"last".to_vec()),
            ]
        );
        assert_eq!(
            user(lookup(&tree, "dir")),
            vec![(b"user.dir".to_vec(), Vec::new())]
        );
        assert_eq!(
            user(tree.node(Tree::ROOT)),
            vec![(b"user.root".to_vec(), b"top".to_vec())]
        );
        for node in tree.nodes() {
            assert!(node.xattrs.windows(2).all(|p| p[0].name < p[1].name));
        }
    }

    #[test]
    fn posix_acls_and_trusted_xattrs() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        // An extended ACL in the VFS format: version 2, then (tag, perm, id)
        // entries: owner rw-, user 1000 r--, group r--, mask r--, other r--.
        let mut acl = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [
            (0x01u16, 6u16, u32::MAX),
            (0x02, 4, 1000),
            (0x04, 4, u32::MAX),
            (0x10, 4, u32::MAX),
            (0x20, 4, u32::MAX),
        ] {
            acl.extend_from_slice(&tag.to_le_bytes());
            acl.extend_from_slice(&perm.to_le_bytes());
            acl.extend_from_slice(&id.to_le_bytes());
        }
        let set = |name: &CStr, value: &[u8]| {
            // SAFETY: NUL-terminated strings and a valid buffer.
            let rc = unsafe {
                libc::lsetxattr(
                    c_path(&file).as_ptr(),
                    name.as_ptr(),
                    value.as_ptr().cast(),
                    value.len(),
                    0,
                )
            };
            if rc == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        };
        let acl_set = match set(c"system.posix_acl_access", &acl) {
            Ok(()) => true,
            Err(e) => {
                eprintln!("skipping ACL check: {e}");
                false
            }
        };
        let trusted_set = is_root() && set(c"trusted.blockimg", b"t").is_ok();

        let tree = scan(tmp.path()).unwrap();
        let xattrs = &lookup(&tree, "file").xattrs;
        if acl_set {
            assert!(
                xattrs
                    .iter()
                    .any(|x| x.name == b"system.posix_acl_access" && x.value == acl),
                "{xattrs:?}"
            );
        }
        if trusted_set {
            assert!(xattrs
                .iter()
                .any(|x| x.name == b"trusted.blockimg" && x.value == b"t"));
        }
    }

    #[test]
    fn nanosecond_timestamps() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        let link = tmp.path().join("link");
        symlink("file", &link).unwrap();
        let set = |path: &Path, atime: (i64, i64), mtime: (i64, i64), flags: libc::c_int| {
            let times = [
                libc::timespec {
                    tv_sec: atime.0,
                    tv_nsec: atime.1,
                },
                libc::timespec {
                    tv_sec: mtime.0,
                    tv_nsec: mtime.1,
                },
            ];
            // SAFETY: NUL-terminated path and two timespecs.
            let rc = unsafe {
                libc::utimensat(libc::AT_FDCWD, c_path(path).as_ptr(), times.as_ptr(), flags)
            };
            assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        };
        set(
            &file,
            (1_600_000_000, 123_456_789),
            (1_500_000_000, 987_654_321),
            0,
        );
        set(
            &link,
            (1_400_000_000, 1),
            (1_300_000_000, 999_999_999),
            libc::AT_SYMLINK_NOFOLLOW,
        );
        set(tmp.path(), (1_200_000_000, 5), (1_100_000_000, 42), 0);

        let tree = scan(tmp.path()).unwrap();
        let file = &lookup(&tree, "file").meta;
        assert_eq!(
            file.atime,
            Timestamp {
                secs: 1_600_000_000,
                nanos: 123_456_789
            }
        );
        assert_eq!(
            file.mtime,
            Timestamp {
                secs: 1_500_000_000,
                nanos: 987_654_321
            }
        );
        assert!(file.ctime.secs > 1_600_000_000);
        let link = &lookup(&tree, "link").meta;
        assert_eq!(
            link.mtime,
            Timestamp {
                secs: 1_300_000_000,
                nanos: 999_999_999
            }
        );
        assert_eq!(
            link.atime,
            Timestamp {
                secs: 1_400_000_000,
                nanos: 1
            }
        );
        assert_eq!(
            tree.node(Tree::ROOT).meta.mtime,
            Timestamp {
                secs: 1_100_000_000,
                nanos: 42
            }
        );
        if let Some(crtime) = file.crtime {
            assert!(crtime.secs > 1_600_000_000, "{crtime:?}");
        } else {
            eprintln!("the temporary filesystem reports no creation times");
        }
    }

    #[test]
    fn special_permission_bits() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        for (name, mode) in [("setuid", 0o4755), ("setgid", 0o2711), ("none", 0o000)] {
            fs::write(root.join(name), b"").unwrap();
            fs::set_permissions(root.join(name), fs::Permissions::from_mode(mode)).unwrap();
        }
        fs::create_dir(root.join("sticky")).unwrap();
        fs::set_permissions(root.join("sticky"), fs::Permissions::from_mode(0o1777)).unwrap();

        let tree = scan(root).unwrap();
        assert_eq!(lookup(&tree, "setuid").meta.permissions, 0o4755);
        assert_eq!(lookup(&tree, "setgid").meta.permissions, 0o2711);
        assert_eq!(lookup(&tree, "none").meta.permissions, 0);
        assert_eq!(lookup(&tree, "sticky").meta.permissions, 0o1777);
        assert_eq!(lookup(&tree, "sticky").mode(), 0o041777);
    }

    #[test]
    fn owners_and_set_owner_all() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join("file"), b"x").unwrap();
        let mut tree = scan(tmp.path()).unwrap();
        let host = fs::metadata(tmp.path().join("file")).unwrap();
        let file = tree.lookup(b"file").unwrap();
        assert_eq!(
            tree.node(file).meta.uid,
            std::os::unix::fs::MetadataExt::uid(&host)
        );
        assert_eq!(
            tree.node(file).meta.gid,
            std::os::unix::fs::MetadataExt::gid(&host)
        );
        tree.set_owner_all(1234, 5678);
        assert!(tree
            .nodes()
            .iter()
            .all(|n| n.meta.uid == 1234 && n.meta.gid == 5678));
    }

    #[test]
    fn device_nodes() {
        if !is_root() {
            eprintln!("skipping device node checks: creating device nodes needs root");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let make = |name: &str, kind: libc::mode_t, major: u32, minor: u32| {
            let path = c_path(&tmp.path().join(name));
            // SAFETY: NUL-terminated path.
            let rc =
                unsafe { libc::mknod(path.as_ptr(), kind | 0o600, libc::makedev(major, minor)) };
            assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        };
        make("null", libc::S_IFCHR, 1, 3);
        make("loop", libc::S_IFBLK, 7, 300);
        make("big", libc::S_IFCHR, 4095, 1 << 19);

        let tree = scan(tmp.path()).unwrap();
        assert!(matches!(
            lookup(&tree, "null").kind,
            NodeKind::CharDevice { major: 1, minor: 3 }
        ));
        assert!(matches!(
            lookup(&tree, "loop").kind,
            NodeKind::BlockDevice {
                major: 7,
                minor: 300
            }
        ));
        assert!(matches!(
            lookup(&tree, "big").kind,
            NodeKind::CharDevice {
                major: 4095,
                minor: 524288
            }
        ));
        assert_eq!(lookup(&tree, "null").meta.permissions, 0o600);
    }

    #[test]
    fn missing_root_is_an_error_naming_it() {
        let tmp = tempfile::tempdir().unwrap();
        let missing = tmp.path().join("does-not-exist");
        let err = scan(&missing).unwrap_err();
        assert!(
            matches!(&err, Error::Io { path, source } if path == &missing
                && source.kind() == io::ErrorKind::NotFound),
            "{err:?}"
        );
        assert!(err.to_string().contains("does-not-exist"), "{err}");
    }

    #[test]
    fn root_must_be_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("file");
        fs::write(&file, b"x").unwrap();
        let err = scan(&file).unwrap_err();
        assert!(err.to_string().contains("file"), "{err}");
        assert!(matches!(err, Error::Io { .. }), "{err:?}");
    }

    #[test]
    fn root_may_be_a_symlink_to_a_directory() {
        let tmp = tempfile::tempdir().unwrap();
        fs::create_dir(tmp.path().join("real")).unwrap();
        fs::write(tmp.path().join("real/file"), b"x").unwrap();
        symlink("real", tmp.path().join("alias")).unwrap();
        let tree = scan(&tmp.path().join("alias")).unwrap();
        assert!(tree.lookup(b"file").is_some());
    }

    #[test]
    fn relative_root_gives_absolute_host_paths() {
        let tree = scan(Path::new("src/source")).unwrap();
        let node = lookup(&tree, "dir.rs");
        match &content(node).source {
            DataSource::HostFile { path, .. } => {
                assert!(path.is_absolute(), "{}", path.display());
                assert!(path.ends_with("src/source/dir.rs"));
            }
            other => panic!("unexpected source {other:?}"),
        }
    }

    #[test]
    fn unreadable_directory_is_an_error_naming_it() {
        if is_root() {
            eprintln!("skipping unreadable directory check: root reads every directory");
            return;
        }
        let tmp = tempfile::tempdir().unwrap();
        let locked = tmp.path().join("locked");
        fs::create_dir(&locked).unwrap();
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
        let result = scan(tmp.path());
        fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
        let err = result.unwrap_err();
        assert!(err.to_string().contains("locked"), "{err}");
    }

    #[test]
    fn very_deep_tree() {
        const DEPTH: usize = 5000;
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path();
        let top = base.join("top");
        let wrap = base.join("wrap");
        // Built from the bottom up so that every path stays short.
        fs::create_dir(&top).unwrap();
        fs::write(top.join("bottom"), b"at the bottom").unwrap();
        symlink("bottom", top.join("link")).unwrap();
        let xattrs = set_user_xattr(&top.join("bottom"), "user.deep", b"yes");
        for _ in 1..DEPTH {
            fs::create_dir(&wrap).unwrap();
            fs::rename(&top, wrap.join("d")).unwrap();
            fs::rename(&wrap, &top).unwrap();
        }

        let result = scan(&top);

        // Take the tree apart from the top, again with short paths only.
        loop {
            let child = top.join("d");
            if fs::symlink_metadata(&child).is_err() {
                fs::remove_dir_all(&top).unwrap();
                break;
            }
            fs::rename(&child, &wrap).unwrap();
            fs::remove_dir(&top).unwrap();
            fs::rename(&wrap, &top).unwrap();
        }

        let tree = result.unwrap();
        assert_eq!(tree.len(), DEPTH + 2);
        let mut dir = Tree::ROOT;
        for _ in 1..DEPTH {
            dir = *tree.entries(dir).unwrap().get(&b"d"[..]).unwrap();
        }
        let bottom = *tree.entries(dir).unwrap().get(&b"bottom"[..]).unwrap();
        let bottom = tree.node(bottom);
        let content = content(bottom);
        assert_eq!(content.size, 13);
        match &content.source {
            DataSource::HostFile { path, .. } => {
                assert!(path.as_os_str().len() > 2 * DEPTH);
                assert!(path.ends_with("d/d/bottom"));
            }
            other => panic!("unexpected source {other:?}"),
        }
        if xattrs {
            assert!(bottom
                .xattrs
                .iter()
                .any(|x| x.name == b"user.deep" && x.value == b"yes"));
        }
        let link = *tree.entries(dir).unwrap().get(&b"link"[..]).unwrap();
        assert!(matches!(&tree.node(link).kind, NodeKind::Symlink(t) if t == b"bottom"));
    }

    #[test]
    fn data_segments_of_a_dense_file() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("dense");
        fs::write(&path, vec![7u8; 10_000]).unwrap();
        let file = fs::File::open(&path).unwrap();
        let segments = data_segments(file.as_raw_fd(), 10_000).unwrap();
        assert_eq!(
            segments,
            vec![Segment {
                offset: 0,
                len: 10_000
            }]
        );
    }

    #[test]
    fn kept_xattr_namespaces() {
        assert!(is_kept_xattr(b"user.mime_type"));
        assert!(is_kept_xattr(b"trusted.overlay.opaque"));
        assert!(is_kept_xattr(b"security.selinux"));
        assert!(is_kept_xattr(b"security.capability"));
        assert!(is_kept_xattr(b"system.posix_acl_access"));
        assert!(is_kept_xattr(b"system.posix_acl_default"));
        assert!(!is_kept_xattr(b"system.nfs4_acl"));
        assert!(!is_kept_xattr(b"system.posix_acl_accessx"));
        assert!(!is_kept_xattr(b"btrfs.compression"));
    }
}
