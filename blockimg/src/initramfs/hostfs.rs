//! Copying files from a host filesystem into a [`Tree`] at the paths they
//! have on the host, together with the symlinks on the way to them.
//!
//! Paths are "image paths": absolute, `/`-separated byte strings as seen
//! from inside the host root (the real root `/`, or a directory standing in
//! for it). `HostFs::resolve` follows symlinks component by component the
//! way the kernel does, re-rooting absolute targets at the host root, and
//! records every link it follows. An installer places a resolved file in
//! the tree at its canonical path, recreates the recorded links, and makes
//! sure the path asked for resolves inside the tree to the installed file,
//! so `/lib64/ld-linux-x86-64.so.2` keeps working through `/lib64 ->
//! usr/lib64` and `ld-linux-x86-64.so.2 -> ../lib/...` chains.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::SourceError;
use crate::error::{Error, Result};
use crate::tree::{
    DataSource, FileContent, Metadata, Node, NodeId, NodeKind, Segment, Timestamp, Tree,
};

/// Symlinks followed at most while resolving one path (the kernel's limit).
const MAX_SYMLINKS: usize = 40;

/// A filesystem on the host, rooted at a directory.
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::hostfs::HostFs;
/// use blockimg::initramfs::{assemble, InitramfsOptions};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Executables come from a sysroot (a cross-built system, say), not from /.
/// let sysroot = tempfile::tempdir()?;
/// std::fs::create_dir(sysroot.path().join("bin"))?;
/// std::fs::write(sysroot.path().join("bin/run"), "#!/bin/sh\n")?;
/// let options = InitramfsOptions::default().binaries(vec!["/bin/run".into()]).run(Some("/bin/run".into()));
/// let root = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
/// let result = assemble(root, HostFs::new(sysroot.path()), &options);
/// assert!(result.is_err()); // /bin/run is a script, not an ELF executable
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct HostFs {
    root: PathBuf,
}

/// A path resolved on the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Resolved {
    /// The canonical image path: absolute, without symlinks, `.` or `..`.
    pub path: Vec<u8>,
    /// Every symlink followed, in order: its canonical image path and its
    /// target as stored.
    pub links: Vec<(Vec<u8>, Vec<u8>)>,
}

impl HostFs {
    /// A host filesystem whose root is the host directory `root` (`/` for
    /// the running system).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::initramfs::hostfs::HostFs;
    ///
    /// let host = HostFs::new("/"); // the running system
    /// assert_eq!(host.root(), std::path::Path::new("/"));
    /// ```
    pub fn new(root: impl Into<PathBuf>) -> Self {
        HostFs { root: root.into() }
    }

    /// The host root directory.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::initramfs::hostfs::HostFs;
    ///
    /// assert_eq!(HostFs::new("/srv/sysroot").root(), std::path::Path::new("/srv/sysroot"));
    /// ```
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The host path of the image path `path`, without resolving symlinks.
    pub(crate) fn host_path(&self, path: &[u8]) -> PathBuf {
        let relative = trim_slashes(path);
        if relative.is_empty() {
            self.root.clone()
        } else {
            self.root
                .join(Path::new(std::ffi::OsStr::from_bytes(relative)))
        }
    }

    /// Resolves the image path `path` (relative paths start at the root),
    /// following every symlink, including one in the last component.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the host path when a component does not exist,
    /// is not a directory where one is needed, cannot be read, or when more
    /// than 40 symlinks are followed (`ELOOP`).
    pub(crate) fn resolve(&self, path: &[u8]) -> Result<Resolved> {
        let mut pending: Vec<Vec<u8>> = components(path).rev().map(<[u8]>::to_vec).collect();
        let mut current: Vec<Vec<u8>> = Vec::new();
        let mut links = Vec::new();
        while let Some(component) = pending.pop() {
            if component == b".." {
                current.pop();
                continue;
            }
            current.push(component);
            let candidate = join(&current);
            let host = self.host_path(&candidate);
            let meta = fs::symlink_metadata(&host).map_err(|e| Error::io(&host, e))?;
            if meta.file_type().is_symlink() {
                if links.len() >= MAX_SYMLINKS {
                    return Err(Error::io(&host, io::Error::from_raw_os_error(libc::ELOOP)));
                }
                let target = fs::read_link(&host)
                    .map_err(|e| Error::io(&host, e))?
                    .into_os_string()
                    .into_vec();
                current.pop();
                if target.starts_with(b"/") {
                    current.clear();
                }
                pending.extend(components(&target).rev().map(<[u8]>::to_vec));
                links.push((candidate, target));
            } else if !meta.is_dir() && !pending.is_empty() {
                return Err(Error::io(
                    &host,
                    io::Error::from_raw_os_error(libc::ENOTDIR),
                ));
            }
        }
        Ok(Resolved {
            path: join(&current),
            links,
        })
    }
}

/// The non-empty, non-`.` components of a path.
pub(crate) fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
}

/// The absolute image path made of `components`.
fn join(components: &[Vec<u8>]) -> Vec<u8> {
    let mut path = Vec::new();
    for c in components {
        path.push(b'/');
        path.extend_from_slice(c);
    }
    if path.is_empty() {
        path.push(b'/');
    }
    path
}

fn trim_slashes(path: &[u8]) -> &[u8] {
    let start = path.iter().position(|&b| b != b'/').unwrap_or(path.len());
    &path[start..]
}

/// Splits an image path into its parent and last component (`None` for the
/// root).
pub(crate) fn split_last(path: &[u8]) -> Option<(Vec<u8>, &[u8])> {
    let parts: Vec<&[u8]> = components(path).collect();
    let (&last, parents) = parts.split_last()?;
    let mut parent = Vec::new();
    for p in parents {
        parent.push(b'/');
        parent.extend_from_slice(p);
    }
    Some((parent, last))
}

/// The path as text, for messages.
pub(crate) fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// A tree node describing the host file at `path` as `meta` reports it
/// (regular files keep a reference to the host file; nothing is read but a
/// symlink's target).
pub(crate) fn host_node(path: &Path, meta: &fs::Metadata) -> Result<Node> {
    let time = |secs: i64, nanos: i64| Timestamp {
        secs,
        nanos: u32::try_from(nanos).unwrap_or(0),
    };
    let metadata = Metadata {
        permissions: (meta.mode() & 0o7777) as u16,
        uid: meta.uid(),
        gid: meta.gid(),
        atime: time(meta.atime(), meta.atime_nsec()),
        mtime: time(meta.mtime(), meta.mtime_nsec()),
        ctime: time(meta.ctime(), meta.ctime_nsec()),
        crtime: None,
    };
    let file_type = meta.file_type();
    let rdev = meta.rdev();
    let (major, minor) = (libc::major(rdev), libc::minor(rdev));
    let kind = if file_type.is_file() {
        let segments = match meta.len() {
            0 => Vec::new(),
            len => vec![Segment { offset: 0, len }],
        };
        NodeKind::File(FileContent {
            size: meta.len(),
            segments,
            source: DataSource::HostFile {
                path: path.to_path_buf(),
                mtime: metadata.mtime,
            },
        })
    } else if file_type.is_dir() {
        NodeKind::Directory(Default::default())
    } else if file_type.is_symlink() {
        let target = fs::read_link(path).map_err(|e| Error::io(path, e))?;
        NodeKind::Symlink(target.into_os_string().into_vec())
    } else if file_type.is_char_device() {
        NodeKind::CharDevice { major, minor }
    } else if file_type.is_block_device() {
        NodeKind::BlockDevice { major, minor }
    } else if file_type.is_fifo() {
        NodeKind::Fifo
    } else if file_type.is_socket() {
        NodeKind::Socket
    } else {
        return Err(Error::from(SourceError::UnsupportedFileType {
            path: path.to_path_buf(),
        }));
    };
    Ok(Node::new(metadata, kind))
}

/// Places host files, and generated ones, into a tree.
///
/// A file installed twice is stored once. What the tree already holds at a
/// path gives way to what is installed there (a directory never does: a file
/// whose place is taken by a directory is an error).
#[derive(Debug)]
pub(crate) struct Installer {
    tree: Tree,
    host: HostFs,
    /// Metadata of directories created where the host has none to copy.
    dir_meta: Metadata,
    /// Nodes of the host files installed so far, by canonical image path.
    installed: HashMap<Vec<u8>, NodeId>,
}

impl Installer {
    /// Installs into `tree` from `host`; directories that must be created
    /// and do not exist on the host get `dir_meta`.
    pub fn new(tree: Tree, host: HostFs, dir_meta: Metadata) -> Self {
        Installer {
            tree,
            host,
            dir_meta,
            installed: HashMap::new(),
        }
    }

    /// The tree built so far.
    #[cfg(test)]
    pub fn tree(&self) -> &Tree {
        &self.tree
    }

    /// Mutable access to the tree built so far.
    pub fn tree_mut(&mut self) -> &mut Tree {
        &mut self.tree
    }

    /// Gives back the tree.
    pub fn into_tree(self) -> Tree {
        self.tree
    }

    /// Copies the host file at image path `path` to the same path in the
    /// tree, with every symlink met on the way, and returns its node.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the path cannot be resolved on the host;
    /// [`Error::PlacementConflict`] when a directory of the tree is where
    /// the file or one of its links must go.
    pub fn install(&mut self, path: &[u8]) -> Result<NodeId> {
        let resolved = self.host.resolve(path)?;
        for (link, target) in &resolved.links {
            self.place_link(link, target)?;
        }
        let node = match self.installed.get(&resolved.path) {
            Some(&node) => node,
            None => {
                let host = self.host.host_path(&resolved.path);
                let meta = fs::symlink_metadata(&host).map_err(|e| Error::io(&host, e))?;
                let node = if meta.is_dir() {
                    self.dir(&resolved.path)?
                } else {
                    let node = host_node(&host, &meta)?;
                    self.put(&resolved.path, node)?
                };
                self.installed.insert(resolved.path.clone(), node);
                node
            }
        };
        if self.lookup(path) != Some(node) && !self.tree.node(node).is_dir() {
            self.place(path, node)?;
        }
        Ok(node)
    }

    /// Copies the host file `source` (following symlinks) to image path
    /// `dest` and returns its node.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `source` cannot be examined;
    /// [`Error::PlacementConflict`] when a directory is at `dest`.
    pub fn install_as(&mut self, source: &Path, dest: &[u8]) -> Result<NodeId> {
        let meta = fs::metadata(source).map_err(|e| Error::io(source, e))?;
        let node = host_node(source, &meta)?;
        self.put(dest, node)
    }

    /// Adds `node` at image path `dest`, creating missing parent
    /// directories, and returns its id.
    ///
    /// # Errors
    ///
    /// [`Error::PlacementConflict`] when a directory is at `dest` or a
    /// non-directory is where a parent directory must be.
    pub fn put(&mut self, dest: &[u8], node: Node) -> Result<NodeId> {
        let (parent, name) = self.parent_and_name(dest)?;
        self.check_not_dir(parent, name, dest)?;
        self.tree.add(parent, name, node)
    }

    /// The directory at image path `path`, created (with its parents) when
    /// missing, following the tree's symlinks.
    ///
    /// # Errors
    ///
    /// [`Error::PlacementConflict`] when a non-directory is in the way.
    pub fn dir(&mut self, path: &[u8]) -> Result<NodeId> {
        match self.walk(path)? {
            Some(id) if self.tree.node(id).is_dir() => Ok(id),
            _ => Err(conflict(path, "a file is where a directory must be")),
        }
    }

    /// The node at image path `path` in the tree, following its symlinks.
    pub fn lookup(&self, path: &[u8]) -> Option<NodeId> {
        TreeWalk::new(&self.tree).resolve(path).ok().flatten()
    }

    /// Makes `path` name `node`, replacing a non-directory entry there.
    fn place(&mut self, path: &[u8], node: NodeId) -> Result<()> {
        let (parent, name) = self.parent_and_name(path)?;
        self.check_not_dir(parent, name, path)?;
        self.tree.link(parent, name, node)
    }

    /// Recreates the host symlink at `link` in the tree, unless a directory
    /// is there (then the tree keeps its directory).
    fn place_link(&mut self, link: &[u8], target: &[u8]) -> Result<()> {
        let (parent, name) = self.parent_and_name(link)?;
        if let Some(&existing) = self.tree.entries(parent).and_then(|e| e.get(name)) {
            match &self.tree.node(existing).kind {
                NodeKind::Directory(_) => return Ok(()),
                NodeKind::Symlink(t) if t == target => return Ok(()),
                _ => {}
            }
        }
        let host = self.host.host_path(link);
        let meta = fs::symlink_metadata(&host).map_err(|e| Error::io(&host, e))?;
        let node = host_node(&host, &meta)?;
        self.tree.add(parent, name, node)?;
        Ok(())
    }

    fn parent_and_name<'p>(&mut self, path: &'p [u8]) -> Result<(NodeId, &'p [u8])> {
        let (parent, name) =
            split_last(path).ok_or_else(|| conflict(path, "the root is a directory"))?;
        Ok((self.dir(&parent)?, name))
    }

    fn check_not_dir(&self, parent: NodeId, name: &[u8], path: &[u8]) -> Result<()> {
        match self.tree.entries(parent).and_then(|e| e.get(name)) {
            Some(&id) if self.tree.node(id).is_dir() => {
                Err(conflict(path, "a directory is already there"))
            }
            _ => Ok(()),
        }
    }

    /// Resolves `path` in the tree, creating missing directories (with the host directory's metadata when the host has one there).
    fn walk(&mut self, path: &[u8]) -> Result<Option<NodeId>> {
        // Create missing directories one at a time, then resolve again.
        loop {
            match TreeWalk::new(&self.tree).resolve_until_missing(path)? {
                Missing::None(node) => return Ok(node),
                Missing::At { parent, name, at } => {
                    let meta = self.created_dir_meta(&at);
                    self.tree.add(
                        parent,
                        &name,
                        Node::new(meta, NodeKind::Directory(Default::default())),
                    )?;
                }
            }
        }
    }

    fn created_dir_meta(&self, at: &[u8]) -> Metadata {
        let host = self.host.host_path(at);
        match fs::metadata(&host) {
            Ok(meta) if meta.is_dir() => match host_node(&host, &meta) {
                Ok(node) => node.meta,
                Err(_) => self.dir_meta.clone(),
            },
            _ => self.dir_meta.clone(),
        }
    }
}

fn conflict(path: &[u8], reason: &str) -> Error {
    Error::PlacementConflict {
        path: show(path),
        reason: reason.into(),
    }
}

/// Where resolving a path in the tree stopped.
enum Missing {
    /// Nothing is missing: the node the path names (`None` when a
    /// non-directory is where a directory is needed).
    None(Option<NodeId>),
    /// Directory `parent` (canonical tree path `at` without the last
    /// component) has no entry `name`.
    At {
        parent: NodeId,
        name: Vec<u8>,
        at: Vec<u8>,
    },
}

/// Path resolution inside a tree, following its symlinks.
struct TreeWalk<'t> {
    tree: &'t Tree,
}

impl<'t> TreeWalk<'t> {
    fn new(tree: &'t Tree) -> Self {
        TreeWalk { tree }
    }

    /// The node `path` names (`None` if something is missing or not a
    /// directory on the way).
    fn resolve(&self, path: &[u8]) -> Result<Option<NodeId>> {
        match self.resolve_until_missing(path)? {
            Missing::None(node) => Ok(node),
            Missing::At { .. } => Ok(None),
        }
    }

    fn resolve_until_missing(&self, path: &[u8]) -> Result<Missing> {
        let mut pending: Vec<Vec<u8>> = components(path).rev().map(<[u8]>::to_vec).collect();
        // The directories from the root to the current one, with their names.
        let mut stack: Vec<(NodeId, Vec<u8>)> = vec![(Tree::ROOT, Vec::new())];
        let mut links = 0;
        while let Some(component) = pending.pop() {
            let Some(&(dir, _)) = stack.last() else {
                return Ok(Missing::None(None));
            };
            if component == b".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            let Some(entries) = self.tree.entries(dir) else {
                return Ok(Missing::None(None));
            };
            let Some(&child) = entries.get(&component) else {
                let mut at: Vec<Vec<u8>> = stack.iter().skip(1).map(|(_, n)| n.clone()).collect();
                at.push(component.clone());
                return Ok(Missing::At {
                    parent: dir,
                    name: component,
                    at: join(&at),
                });
            };
            match &self.tree.node(child).kind {
                NodeKind::Symlink(target) => {
                    links += 1;
                    if links > MAX_SYMLINKS {
                        return Err(conflict(path, "too many levels of symbolic links"));
                    }
                    if target.starts_with(b"/") {
                        stack.truncate(1);
                    }
                    pending.extend(components(target).rev().map(<[u8]>::to_vec));
                }
                NodeKind::Directory(_) => stack.push((child, component)),
                _ if pending.is_empty() => return Ok(Missing::None(Some(child))),
                _ => return Ok(Missing::None(None)),
            }
        }
        Ok(Missing::None(stack.last().map(|&(id, _)| id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn meta() -> Metadata {
        Metadata {
            permissions: 0o755,
            ..Default::default()
        }
    }

    /// A host root with merged /usr (`/lib -> usr/lib`) and a library
    /// with its version symlinks.
    fn merged_usr_root() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("usr/lib/x")).unwrap();
        fs::write(r.join("usr/lib/x/libfoo.so.1.2.3"), b"lib").unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        symlink("libfoo.so.1.2.3", r.join("usr/lib/x/libfoo.so.1")).unwrap();
        symlink("/lib/x/libfoo.so.1", r.join("usr/lib/x/libfoo.so")).unwrap();
        dir
    }

    #[test]
    fn resolve_follows_relative_and_absolute_links_inside_the_root() {
        let dir = merged_usr_root();
        let r = dir.path();
        let host = HostFs::new(r);
        let got = host.resolve(b"/lib/x/libfoo.so").unwrap();
        assert_eq!(got.path, b"/usr/lib/x/libfoo.so.1.2.3");
        assert_eq!(
            got.links,
            vec![
                (b"/lib".to_vec(), b"usr/lib".to_vec()),
                (
                    b"/usr/lib/x/libfoo.so".to_vec(),
                    b"/lib/x/libfoo.so.1".to_vec()
                ),
                (b"/lib".to_vec(), b"usr/lib".to_vec()),
                (
                    b"/usr/lib/x/libfoo.so.1".to_vec(),
                    b"libfoo.so.1.2.3".to_vec()
                ),
            ]
        );
        symlink("loop", r.join("loop")).unwrap();
        assert!(host.resolve(b"/loop").is_err());
        assert!(host.resolve(b"/missing").is_err());
    }

    #[test]
    fn install_recreates_the_chain_and_the_path_resolves_in_the_tree() {
        let dir = merged_usr_root();
        let r = dir.path();
        let mut inst = Installer::new(Tree::new(meta()), HostFs::new(r), meta());
        let node = inst.install(b"/lib/x/libfoo.so.1").unwrap();
        assert_eq!(inst.install(b"/usr/lib/x/libfoo.so.1.2.3").unwrap(), node);
        let tree = inst.tree();
        assert!(matches!(
            &tree.node(tree.lookup(b"lib").unwrap()).kind,
            NodeKind::Symlink(t) if t == b"usr/lib"
        ));
        assert!(matches!(
            &tree.node(tree.lookup(b"usr/lib/x/libfoo.so.1").unwrap()).kind,
            NodeKind::Symlink(t) if t == b"libfoo.so.1.2.3"
        ));
        assert_eq!(tree.lookup(b"usr/lib/x/libfoo.so.1.2.3"), Some(node));
        assert_eq!(inst.lookup(b"/lib/x/libfoo.so.1"), Some(node));
    }

    #[test]
    fn a_tree_directory_where_the_host_has_a_link_gets_the_file_too() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        fs::create_dir_all(r.join("usr/lib")).unwrap();
        fs::write(r.join("usr/lib/libbar.so"), b"bar").unwrap();
        symlink("usr/lib", r.join("lib")).unwrap();
        let mut tree = Tree::new(meta());
        tree.add(
            Tree::ROOT,
            b"lib",
            Node::new(meta(), NodeKind::Directory(Default::default())),
        )
        .unwrap();
        let mut inst = Installer::new(tree, HostFs::new(r), meta());
        let node = inst.install(b"/lib/libbar.so").unwrap();
        assert_eq!(inst.lookup(b"/lib/libbar.so"), Some(node));
        assert_eq!(inst.lookup(b"/usr/lib/libbar.so"), Some(node));
        assert!(inst.tree().node(inst.lookup(b"/lib").unwrap()).is_dir());
        // A directory where a file must go is an error naming the path.
        let err = inst
            .put(b"/lib", Node::new(meta(), NodeKind::Fifo))
            .unwrap_err();
        assert!(err.to_string().contains("/lib"), "{err}");
    }
}
