//! The ext4 planner and writer: turns a [`Tree`](crate::tree::Tree) into a
//! complete ext4 layout before a byte is written, then emits it in ascending
//! offset order; and the reader ([`read`]) that loads an existing
//! filesystem back into a tree.
//!
//! Inside, each on-disk structure is defined once, in `format` (field
//! offsets, magics, flags), and the feature flags in `features`; the
//! writer and the reader both use them. The planner's steps: `content`
//! numbers the tree's inodes, `layout` places the fixed metadata, `place`
//! places each inode's blocks, `groups` describes the block groups, and
//! `plan` ([`Ext4Plan`]) ties them together; `write` emits the plan through
//! the encoders of each structure (`superblock`, `inode`, `extent`, `dir`,
//! `xattr`, `journal`, `resize`).
//!
//! # Example
//!
//! ```
//! use blockimg::ext4::read::Ext4Reader;
//! use blockimg::ext4::{Ext4Options, Ext4Plan};
//! use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
//! let meta = Metadata { permissions: 0o644, ..Metadata::directory(Timestamp::from_secs(0)) };
//! tree.add(Tree::ROOT, b"hello", Node::new(meta, NodeKind::File(FileContent::from_bytes(b"hi\n".to_vec()))))?;
//!
//! // Plan the whole filesystem, then write it in one ascending pass.
//! let plan = Ext4Plan::new(&tree, 8 << 20, &Ext4Options::default())?;
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("fs.ext4");
//! let mut sink = blockimg::sink::SparseFile::create(&path, false)?;
//! plan.write(&mut sink, 0, &mut |_| {})?;
//! sink.finish(8 << 20)?;
//!
//! let fs = Ext4Reader::open(std::fs::File::open(&path)?, 0, &path)?;
//! let mut buf = [0; 3];
//! fs.read_file(fs.lookup(b"/hello")?, 0, &mut buf)?;
//! assert_eq!(&buf, b"hi\n");
//! # Ok(())
//! # }
//! ```

mod hash;
pub mod read;

use crate::tree::Timestamp;

/// The most hard links an inode records (`EXT4_LINK_MAX`). A file with more
/// names does not fit ext4; a directory with more subdirectories records a
/// link count of 1 (the dir_nlink feature).
///
/// # Examples
///
/// ```
/// use blockimg::ext4::{Ext4Options, Ext4Plan, MAX_LINKS};
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let meta = Metadata::directory(Timestamp::from_secs(0));
/// let mut tree = Tree::new(meta.clone());
/// let file = Node::new(meta, NodeKind::File(FileContent::from_bytes(Vec::new())));
/// let id = tree.add(Tree::ROOT, b"f0", file)?;
/// for i in 1..=MAX_LINKS {
///     tree.link(Tree::ROOT, format!("f{i}").as_bytes(), id)?;
/// }
/// // One name too many.
/// assert!(Ext4Plan::new(&tree, 64 << 20, &Ext4Options::default()).is_err());
/// # Ok(())
/// # }
/// ```
pub const MAX_LINKS: u32 = 65_000;

/// How to format the filesystem.
///
/// # Examples
///
/// ```
/// use blockimg::ext4::{Ext4Options, Ext4Plan};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
/// let options = Ext4Options::default().block_size(1024).label("root".into()).uuid(Some([7; 16])).journal(false);
/// let plan = Ext4Plan::new(&tree, 8 << 20, &options)?;
/// assert_eq!(plan.uuid(), [7; 16]);
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Ext4Options {
    /// Block size in bytes: 1024, 2048 or 4096.
    pub block_size: u32,
    /// Volume label, at most 16 bytes.
    pub label: String,
    /// Filesystem UUID; `None` picks one (random, or derived from
    /// `timestamp` when that is set, for reproducible builds).
    pub uuid: Option<[u8; 16]>,
    /// Seed of the directory index hashes; `None` picks one like the UUID
    /// (a filesystem rewritten in place keeps its own).
    pub hash_seed: Option<[u8; 16]>,
    /// The time recorded as "now" in the image. When set, the build is
    /// reproducible: newer source times are clamped to it and the UUID, hash
    /// seed and disk signature are derived from it. `None` uses the clock.
    pub timestamp: Option<Timestamp>,
    /// Whether to create an internal jbd2 journal.
    pub journal: bool,
    /// Bytes of filesystem per inode (mke2fs's inode_ratio); `None` takes
    /// mke2fs's choice for the size: 16384, 32768 from 4 TiB, 65536 from
    /// 16 TiB.
    pub inode_ratio: Option<u64>,
    /// Percentage of blocks reserved for the superuser.
    pub reserved_percent: u8,
    /// At least this many inodes, whatever `inode_ratio` gives (room for
    /// files added later).
    pub min_inodes: u64,
}

setters!(Ext4Options at "blockimg::ext4::Ext4Options" {
    block_size: u32,
    label: String,
    uuid: Option<[u8; 16]>,
    hash_seed: Option<[u8; 16]>,
    timestamp: Option<Timestamp>,
    journal: bool,
    inode_ratio: Option<u64>,
    reserved_percent: u8,
    min_inodes: u64,
});

impl Default for Ext4Options {
    fn default() -> Self {
        Ext4Options {
            block_size: 4096,
            label: String::new(),
            uuid: None,
            hash_seed: None,
            timestamp: None,
            journal: true,
            inode_ratio: None,
            reserved_percent: 5,
            min_inodes: 0,
        }
    }
}

mod alloc;
mod bytes;
mod content;
mod csum;
mod dir;
mod extent;
mod features;
pub(crate) mod file_type;
mod format;
mod geometry;
mod groups;
mod inode;
mod journal;
mod layout;
mod pieces;
mod place;
mod plan;
mod resize;
mod superblock;
#[cfg(test)]
mod test_tools;
pub mod update;
mod write;
mod xattr;

pub use crate::error::Ext4Error;
pub(crate) use alloc::Run;
pub(crate) use layout::{Ext4Layout, PlacedData};
pub use plan::Ext4Plan;
