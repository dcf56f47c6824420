//! blockimg builds bootable, partitioned disk images without root, loop
//! devices or a virtual machine.
//!
//! The library is one pipeline: a source builds a [`tree::Tree`] (an in-memory
//! model of a filesystem), the ext4 planner ([`ext4`]) lays out the whole
//! filesystem before a byte is written, and a [`sink::Sink`] receives the disk
//! in ascending offset order.
//!
//! # Example
//!
//! Build a partitioned disk image from a tree made in memory:
//!
//! ```
//! use blockimg::image::{build_image, DiskSize, ImageOptions, PartitionTable};
//! use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
//!
//! # fn main() -> blockimg::Result<()> {
//! let time = Timestamp::from_secs(1_700_000_000);
//! let meta = |permissions| Metadata {
//!     permissions,
//!     uid: 0,
//!     gid: 0,
//!     atime: time,
//!     mtime: time,
//!     ctime: time,
//!     crtime: None,
//! };
//! let mut tree = Tree::new(meta(0o755));
//! let etc = tree.add(Tree::ROOT, b"etc", Node::new(meta(0o755), NodeKind::Directory(Default::default())))?;
//! let hostname = FileContent::from_bytes(b"appliance\n".to_vec());
//! tree.add(etc, b"hostname", Node::new(meta(0o644), NodeKind::File(hostname)))?;
//!
//! let options = ImageOptions {
//!     size: DiskSize::Exact(64 << 20),
//!     table: PartitionTable::Mbr,
//!     boot_partitions: Default::default(),
//!     ext4: blockimg::ext4::Ext4Options {
//!         timestamp: Some(time), // reproducible: same tree, same bytes
//!         ..Default::default()
//!     },
//!     overwrite: false,
//!     progress: false,
//! };
//! let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
//! let summary = build_image(&tree, &options, &dir.path().join("disk.img"))?;
//! assert_eq!(summary.partition_offset, 1 << 20);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
// Input comes from users and their images: failures are errors, never panics.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod boot;
pub mod browse;
mod bytes;
pub mod convert;
pub mod disk;
pub mod disk_format;
pub mod error;
pub mod ext4;
pub mod glob;
pub mod grub_install;
pub mod identity;
pub mod image;
pub mod initramfs;
pub mod inspect;
pub mod recipe;
pub mod sink;
pub mod size;
pub mod source;
pub mod target;
pub mod tree;

pub use error::{Error, Result};
