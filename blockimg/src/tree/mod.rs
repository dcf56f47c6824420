//! The in-memory model of a filesystem that every source builds and every
//! filesystem planner consumes.
//!
//! A [`Tree`] holds nodes (inodes): their metadata, their kind and, for regular
//! files, a reference to where the data lives. Directory entries point at nodes
//! by [`NodeId`]; a node reachable from several entries is a hard link.
//!
//! (The file is over 600 lines for the `Tree` API, each method with its
//! example; the node's data, metadata and times have modules of their own.)

mod content;
mod metadata;
mod time;

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::ext4::file_type::FileType;

pub use crate::error::TreeError;
pub(crate) use content::read_runs;
pub use content::{DataSource, ExtentRun, FileContent, OpenRun, Segment};
pub use metadata::{Metadata, Xattr};
pub use time::{Timestamp, UtcTime};

/// Longest file name a directory entry can hold, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// Identifies a node within its [`Tree`].
///
/// # Examples
///
/// ```
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
/// let id = tree.add(Tree::ROOT, b"etc", Node::new(meta, NodeKind::Directory(Default::default())))?;
/// assert_eq!((Tree::ROOT.index(), id.index()), (0, 1));
/// assert_eq!(tree.lookup(b"/etc"), Some(id));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl NodeId {
    /// Position of the node in [`Tree::nodes`].
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert!(tree.nodes()[Tree::ROOT.index()].is_dir());
    /// # Ok(())
    /// # }
    /// ```
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a node is.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
/// tree.add(Tree::ROOT, b"null", Node::new(meta.clone(), NodeKind::CharDevice { major: 1, minor: 3 }))?;
/// tree.add(Tree::ROOT, b"init", Node::new(meta, NodeKind::Symlink(b"/bin/busybox".to_vec())))?;
/// let init = tree.lookup(b"/init").expect("added");
/// assert!(matches!(&tree.node(init).kind, NodeKind::Symlink(target) if target == b"/bin/busybox"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// A regular file.
    File(FileContent),
    /// A directory: its entries by name (without `.` and `..`).
    Directory(BTreeMap<Vec<u8>, NodeId>),
    /// A symbolic link and its target.
    Symlink(Vec<u8>),
    /// A character device.
    CharDevice {
        /// Major device number.
        major: u32,
        /// Minor device number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major device number.
        major: u32,
        /// Minor device number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
}

/// One inode of the tree.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
/// let node = Node::new(meta, NodeKind::Fifo);
/// assert_eq!(node.mode(), 0o010644);
/// let id = tree.add(Tree::ROOT, b"pipe", node)?;
/// tree.node_mut(id).meta.uid = 1000;
/// assert_eq!(tree.node(id).meta.uid, 1000);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Node {
    /// Owner, permissions and times.
    pub meta: Metadata,
    /// Type and type-specific content.
    pub kind: NodeKind,
    /// Extended attributes, sorted by name.
    pub xattrs: Vec<Xattr>,
}

impl Node {
    /// A node of the given kind with the given metadata and no xattrs.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp};
    ///
    /// let node = Node::new(Metadata::directory(Timestamp::from_secs(0)), NodeKind::Directory(Default::default()));
    /// assert!(node.is_dir() && node.xattrs.is_empty());
    /// ```
    pub fn new(meta: Metadata, kind: NodeKind) -> Self {
        Node {
            meta,
            kind,
            xattrs: Vec::new(),
        }
    }

    /// True for directories.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert!(tree.node(Tree::ROOT).is_dir());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Directory(_))
    }

    /// The file-type bits of `st_mode` (`S_IFREG`, `S_IFDIR`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert_eq!(tree.node(Tree::ROOT).type_bits(), 0o040000); // S_IFDIR
    /// # Ok(())
    /// # }
    /// ```
    pub fn type_bits(&self) -> u16 {
        let file_type = match self.kind {
            NodeKind::File(_) => FileType::RegularFile,
            NodeKind::Directory(_) => FileType::Directory,
            NodeKind::Symlink(_) => FileType::Symlink,
            NodeKind::CharDevice { .. } => FileType::CharDevice,
            NodeKind::BlockDevice { .. } => FileType::BlockDevice,
            NodeKind::Fifo => FileType::Fifo,
            NodeKind::Socket => FileType::Socket,
        };
        file_type.mode_bits()
    }

    /// The full `st_mode`: type bits and permissions.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp};
    ///
    /// let meta = Metadata { permissions: 0o777, ..Metadata::directory(Timestamp::default()) };
    /// let link = Node::new(meta, NodeKind::Symlink(b"/bin/busybox".to_vec()));
    /// assert_eq!(link.type_bits(), 0o120000);
    /// assert_eq!(link.mode(), 0o120777);
    /// assert!(!link.is_dir());
    /// ```
    pub fn mode(&self) -> u16 {
        self.type_bits() | (self.meta.permissions & 0o7777)
    }
}

/// An in-memory filesystem tree. Node 0 is the root directory.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let time = Timestamp::from_secs(1_700_000_000);
/// let mut tree = Tree::new(Metadata::directory(time));
/// let etc = tree.add(Tree::ROOT, b"etc", Node::new(Metadata::directory(time), NodeKind::Directory(Default::default())))?;
/// let file = Metadata { permissions: 0o644, ..Metadata::directory(time) };
/// let hostname = FileContent::from_bytes(&b"appliance\n"[..]);
/// tree.add(etc, b"hostname", Node::new(file, NodeKind::File(hostname)))?;
///
/// assert_eq!(tree.len(), 3); // the root, etc and hostname
/// assert_eq!(tree.node(tree.lookup(b"/etc/hostname").unwrap()).mode(), 0o100644);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    /// The root directory's id.
    pub const ROOT: NodeId = NodeId(0);

    /// A tree holding only a root directory with the given metadata.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert_eq!(tree.len(), 1); // the root alone
    /// assert_eq!(tree.node(Tree::ROOT).meta.permissions, 0o755);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(root: Metadata) -> Self {
        Tree {
            nodes: vec![Node::new(root, NodeKind::Directory(BTreeMap::new()))],
        }
    }

    /// All nodes, indexed by [`NodeId::index`].
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// tree.add(Tree::ROOT, b"a", Node::new(meta.clone(), NodeKind::Fifo))?;
    /// tree.add(Tree::ROOT, b"b", Node::new(meta, NodeKind::Socket))?;
    /// assert_eq!(tree.nodes().iter().filter(|n| !n.is_dir()).count(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node with the given id.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert_eq!(tree.node(Tree::ROOT).meta.mtime, Timestamp::from_secs(1_700_000_000));
    /// # Ok(())
    /// # }
    /// ```
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Mutable access to the node with the given id.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Timestamp, Tree, Xattr};
    ///
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
    /// let root = tree.node_mut(Tree::ROOT);
    /// root.meta.permissions = 0o700;
    /// root.xattrs.push(Xattr { name: b"user.origin".to_vec(), value: b"build".to_vec() });
    /// assert_eq!(tree.node(Tree::ROOT).mode(), 0o040700);
    /// ```
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.index()]
    }

    /// Number of nodes, the root included.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// let file = tree.add(Tree::ROOT, b"a", Node::new(meta, NodeKind::Fifo))?;
    /// tree.link(Tree::ROOT, b"b", file)?; // a hard link: a name, not a node
    /// assert_eq!(tree.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the tree holds only the root.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert!(tree.is_empty()); // the root alone
    /// let meta = tree.node(Tree::ROOT).meta.clone();
    /// tree.add(Tree::ROOT, b"pipe", Node::new(meta, NodeKind::Fifo))?;
    /// assert!(!tree.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// Adds `node` as entry `name` of directory `parent` and returns its id.
    /// An existing entry of that name is replaced.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// let dir = tree.add(Tree::ROOT, b"etc", Node::new(meta.clone(), NodeKind::Directory(Default::default())))?;
    /// tree.add(dir, b"motd", Node::new(meta.clone(), NodeKind::File(FileContent::from_bytes(b"hi\n".to_vec()))))?;
    /// tree.add(dir, b"motd", Node::new(meta.clone(), NodeKind::Fifo))?; // replaces the file
    /// assert!(matches!(tree.node(tree.lookup(b"/etc/motd").expect("added")).kind, NodeKind::Fifo));
    /// assert!(tree.add(dir, b"a/b", Node::new(meta, NodeKind::Fifo)).is_err()); // not a name
    /// # Ok(())
    /// # }
    /// ```
    pub fn add(&mut self, parent: NodeId, name: &[u8], node: Node) -> Result<NodeId> {
        let id = NodeId(u32::try_from(self.nodes.len()).map_err(|_| {
            Error::from(TreeError::TooManyNodes {
                count: self.nodes.len() as u64,
            })
        })?);
        self.nodes.push(node);
        if let Err(e) = self.link(parent, name, id) {
            self.nodes.pop();
            return Err(e);
        }
        Ok(id)
    }

    /// Adds entry `name` in directory `parent` pointing at the existing node
    /// `target` (a hard link when `target` already has a name).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let meta = Metadata::directory(Timestamp::from_secs(0));
    /// let mut tree = Tree::new(meta.clone());
    /// let busybox = FileContent::from_bytes(&b"\x7fELF"[..]);
    /// let id = tree.add(Tree::ROOT, b"busybox", Node::new(meta, NodeKind::File(busybox)))?;
    /// tree.link(Tree::ROOT, b"sh", id)?; // a second name for the same inode
    ///
    /// assert_eq!(tree.lookup(b"/sh"), Some(id));
    /// assert_eq!(tree.link_counts()[id.index()], 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn link(&mut self, parent: NodeId, name: &[u8], target: NodeId) -> Result<()> {
        validate_name(name)?;
        match &mut self.nodes[parent.index()].kind {
            NodeKind::Directory(entries) => {
                entries.insert(name.to_vec(), target);
                Ok(())
            }
            _ => Err(Error::from(TreeError::NotADirectory {
                name: String::from_utf8_lossy(name).into_owned(),
            })),
        }
    }

    /// Maps owners: a uid equal to the first of a pair in `uids` becomes
    /// the second (likewise for gids); others are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Timestamp, Tree};
    ///
    /// let mut root = Metadata::directory(Timestamp::from_secs(0));
    /// (root.uid, root.gid) = (1000, 1000); // scanned from a user's directory
    /// let mut tree = Tree::new(root);
    /// tree.map_owners(&[(1000, 0)], &[]);
    /// assert_eq!((tree.node(Tree::ROOT).meta.uid, tree.node(Tree::ROOT).meta.gid), (0, 1000));
    /// tree.set_owner_all(0, 0);
    /// assert_eq!(tree.node(Tree::ROOT).meta.gid, 0);
    /// ```
    pub fn map_owners(&mut self, uids: &[(u32, u32)], gids: &[(u32, u32)]) {
        let map = |pairs: &[(u32, u32)], id: u32| {
            pairs
                .iter()
                .find(|(from, _)| *from == id)
                .map_or(id, |(_, to)| *to)
        };
        for node in &mut self.nodes {
            node.meta.uid = map(uids, node.meta.uid);
            node.meta.gid = map(gids, node.meta.gid);
        }
    }

    /// Removes entry `name` from directory `parent`; the node stays in the
    /// tree but is no longer reachable through that name.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let meta = Metadata::directory(Timestamp::from_secs(0));
    /// let mut tree = Tree::new(meta.clone());
    /// let tmp = tree.add(Tree::ROOT, b"tmp", Node::new(meta, NodeKind::Directory(Default::default())))?;
    /// assert_eq!(tree.unlink(Tree::ROOT, b"tmp"), Some(tmp));
    /// assert_eq!(tree.lookup(b"/tmp"), None);
    /// assert!(tree.entries(Tree::ROOT).unwrap().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn unlink(&mut self, parent: NodeId, name: &[u8]) -> Option<NodeId> {
        match &mut self.nodes[parent.index()].kind {
            NodeKind::Directory(entries) => entries.remove(name),
            _ => None,
        }
    }

    /// The entries of a directory node, or `None` for other kinds.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// for name in [&b"b"[..], b"a"] {
    ///     tree.add(Tree::ROOT, name, Node::new(meta.clone(), NodeKind::Fifo))?;
    /// }
    /// let names: Vec<_> = tree.entries(Tree::ROOT).expect("a directory").keys().cloned().collect();
    /// assert_eq!(names, [b"a".to_vec(), b"b".to_vec()]); // sorted by name
    /// let a = tree.lookup(b"/a").expect("added");
    /// assert!(tree.entries(a).is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn entries(&self, dir: NodeId) -> Option<&BTreeMap<Vec<u8>, NodeId>> {
        match &self.node(dir).kind {
            NodeKind::Directory(entries) => Some(entries),
            _ => None,
        }
    }

    /// Looks up a `/`-separated path relative to the root.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let meta = Metadata::directory(Timestamp::from_secs(0));
    /// let mut tree = Tree::new(meta.clone());
    /// let usr = tree.add(Tree::ROOT, b"usr", Node::new(meta.clone(), NodeKind::Directory(Default::default())))?;
    /// let bin = tree.add(usr, b"bin", Node::new(meta, NodeKind::Directory(Default::default())))?;
    /// assert_eq!(tree.lookup(b"/usr/bin"), Some(bin));
    /// assert_eq!(tree.lookup(b"usr/./bin/"), Some(bin));
    /// assert_eq!(tree.lookup(b"/"), Some(Tree::ROOT));
    /// assert_eq!(tree.lookup(b"/usr/lib"), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn lookup(&self, path: &[u8]) -> Option<NodeId> {
        let mut current = Self::ROOT;
        for component in path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
        {
            current = *self.entries(current)?.get(component)?;
        }
        Some(current)
    }

    /// Gives every node, the root included, the owner `uid` and group `gid`
    /// (for images whose files should all belong to one user, typically root,
    /// whatever their owners on the host).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// let id = tree.add(Tree::ROOT, b"f", Node::new(Metadata { uid: 1000, ..meta }, NodeKind::Fifo))?;
    /// tree.set_owner_all(0, 0);
    /// assert_eq!((tree.node(id).meta.uid, tree.node(Tree::ROOT).meta.uid), (0, 0));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_owner_all(&mut self, uid: u32, gid: u32) {
        for node in &mut self.nodes {
            node.meta.uid = uid;
            node.meta.gid = gid;
        }
    }

    /// Hard-link count of every node: the number of directory entries naming
    /// it; for directories, 2 plus the number of subdirectories.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// let file = tree.add(Tree::ROOT, b"a", Node::new(meta.clone(), NodeKind::Fifo))?;
    /// tree.link(Tree::ROOT, b"b", file)?;
    /// tree.add(Tree::ROOT, b"dir", Node::new(meta, NodeKind::Directory(Default::default())))?;
    /// let counts = tree.link_counts();
    /// assert_eq!(counts[file.index()], 2);
    /// assert_eq!(counts[Tree::ROOT.index()], 3); // ".", its own "..", and dir's ".."
    /// # Ok(())
    /// # }
    /// ```
    pub fn link_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.nodes.len()];
        for (index, node) in self.nodes.iter().enumerate() {
            if let NodeKind::Directory(entries) = &node.kind {
                counts[index] = counts[index].saturating_add(2);
                for &child in entries.values() {
                    let slot = if self.node(child).is_dir() {
                        index
                    } else {
                        child.index()
                    };
                    counts[slot] = counts[slot].saturating_add(1);
                }
            }
        }
        counts
    }
}

/// Checks that `name` can be a directory entry: 1..=255 bytes, no `/` or NUL,
/// not `.` or `..`.
///
/// # Examples
///
/// ```
/// use blockimg::tree::validate_name;
///
/// assert!(validate_name(b"hostname").is_ok());
/// assert!(validate_name(b"a/b").is_err());
/// assert!(validate_name(b"..").is_err());
/// assert!(validate_name(&[b'x'; 256]).is_err());
/// ```
pub fn validate_name(name: &[u8]) -> Result<()> {
    let display = || String::from_utf8_lossy(name).into_owned();
    if name.len() > MAX_NAME_LEN {
        return Err(Error::from(TreeError::NameTooLong {
            name: display(),
            len: name.len(),
        }));
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(Error::from(TreeError::InvalidName { name: display() }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn image_extents_read_runs_and_zero_holes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("image");
        std::fs::write(&path, b"0123456789abcdefghij").unwrap();
        let runs: Arc<[ExtentRun]> = vec![
            ExtentRun {
                file_offset: 2,
                image_offset: 10,
                len: 3,
            },
            ExtentRun {
                file_offset: 8,
                image_offset: 0,
                len: 2,
            },
        ]
        .into();
        let content = FileContent {
            size: 12,
            segments: vec![],
            source: DataSource::ImageExtents {
                path: Arc::new(path),
                runs,
            },
        };
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut content.reader().unwrap(), &mut all).unwrap();
        assert_eq!(all, b"\0\0abc\0\0\0\x30\x31\0\0");
        let file = content.source.open_file(12).unwrap();
        let mut part = [9u8; 4];
        content.source.read_at(file.as_ref(), 3, &mut part).unwrap();
        assert_eq!(&part, b"bc\0\0");
    }
}
