//! TreeError: a tree that cannot be built or stored: names, links, node counts.

/// A tree that cannot be built or stored: names, links, node counts.
///
/// # Examples
///
/// ```
/// use blockimg::error::TreeError;
/// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp, Tree};
///
/// let meta = Metadata::directory(Timestamp::from_secs(0));
/// let mut tree = Tree::new(meta.clone());
/// let long = vec![b'x'; 256];
/// let err = tree.add(Tree::ROOT, &long, Node::new(meta, NodeKind::Directory(Default::default()))).unwrap_err();
/// assert!(matches!(err, blockimg::Error::Tree(TreeError::NameTooLong { len: 256, .. })));
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    /// A file name longer than a directory entry can hold.
    #[error("file name {name:?} is {len} bytes long; ext4 allows at most 255")]
    NameTooLong {
        /// The name (lossily decoded).
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A file name that cannot be a directory entry.
    #[error("invalid file name {name:?}")]
    InvalidName {
        /// The name (lossily decoded).
        name: String,
    },
    /// An entry was added to something that is not a directory.
    #[error("cannot add {name:?}: its parent is not a directory")]
    NotADirectory {
        /// The entry's name.
        name: String,
    },
    /// The tree has more nodes than can be numbered.
    #[error("the tree has {count} nodes, more than can be stored")]
    TooManyNodes {
        /// Number of nodes.
        count: u64,
    },
}
