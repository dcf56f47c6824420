//! What every node carries besides its kind: permissions, owner, times,
//! and extended attributes.

use super::Timestamp;

/// Ownership, permissions and times of one node.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{Metadata, Timestamp};
///
/// let time = Timestamp::from_secs(1_700_000_000);
/// let meta = Metadata { permissions: 0o600, uid: 1000, gid: 1000, ..Metadata::directory(time) };
/// assert_eq!((meta.mtime, meta.crtime), (time, None));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Permission bits including setuid, setgid and sticky (`0o7777` mask).
    pub permissions: u16,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Last access.
    pub atime: Timestamp,
    /// Last modification of the content.
    pub mtime: Timestamp,
    /// Last change of the inode.
    pub ctime: Timestamp,
    /// Creation (birth) time, when the source knows it.
    pub crtime: Option<Timestamp>,
}

impl Metadata {
    /// A directory made on the way: mode 0755, owned by root, every time
    /// `time` (the creation time left to the writer).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Timestamp};
    ///
    /// let time = Timestamp::from_secs(1_700_000_000);
    /// let dir = Metadata::directory(time);
    /// assert_eq!((dir.permissions, dir.uid, dir.gid), (0o755, 0, 0));
    /// // Other kinds of node start from it too.
    /// let script = Metadata { permissions: 0o700, ..Metadata::directory(time) };
    /// assert_eq!(script.mtime, time);
    /// ```
    pub fn directory(time: Timestamp) -> Metadata {
        Metadata {
            permissions: 0o755,
            uid: 0,
            gid: 0,
            atime: time,
            mtime: time,
            ctime: time,
            crtime: None,
        }
    }
}

/// One extended attribute: its full name (`user.foo`, `security.selinux`,
/// `system.posix_acl_access`, ...) and its value as the VFS presents it.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree, Xattr};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
/// let mut node = Node::new(meta, NodeKind::File(FileContent::from_bytes(b"x".to_vec())));
/// node.xattrs.push(Xattr { name: b"user.comment".to_vec(), value: b"kept in the image".to_vec() });
/// let id = tree.add(Tree::ROOT, b"file", node)?;
/// assert_eq!(tree.node(id).xattrs[0].name, b"user.comment");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Xattr {
    /// Full attribute name including its namespace prefix.
    pub name: Vec<u8>,
    /// Value bytes (POSIX ACLs in the VFS `posix_acl_xattr` format).
    pub value: Vec<u8>,
}
