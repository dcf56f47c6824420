//! blockimg builds bootable, partitioned disk images without root, loop
//! devices or a virtual machine.
//!
//! # Example
//!
//! A directory becomes a bootable disk (GRUB for BIOS and UEFI on a GPT
//! disk), with a progress display of the caller's own:
//!
//! ```no_run
//! use blockimg::boot::{BootMode, BootOptions};
//! use blockimg::{DiskBuilder, Observer, Output, Phase, Source};
//!
//! struct Dots;
//! impl Observer for Dots {
//!     fn advance(&mut self, _: Phase, done: u64) { eprint!("\r{} MiB", done >> 20); }
//! }
//!
//! fn main() -> blockimg::Result<()> {
//!     let kernel = BootOptions::default().kernel(Some("vmlinuz".into()));
//!     let built = DiskBuilder::new(Source::path("rootfs".as_ref())?)
//!         .table(blockimg::image::PartitionTable::Gpt)
//!         .boot(BootMode::Hybrid, kernel)
//!         .write(Output::file("disk.img"), &mut Dots)?;
//!     println!("{} bytes, root at {}", built.summary.disk_size, built.summary.partition_offset);
//!     Ok(())
//! }
//! ```
//!
//! # The front door and what is behind it
//!
//! - [`DiskBuilder`] describes a disk: a [`Source`] for the root
//!   filesystem (a directory, a tar file or stream, a [`tree::Tree`] made
//!   in memory), the partition table, ext4 options, the boot loader; its
//!   [`DiskBuilder::write`] writes it to an [`Output`] (a file, a block
//!   device, standard output or any writer; raw, VHD or VMDK).
//! - An [`Observer`] receives progress ([`Phase`]) and [`Warning`]s; the
//!   library itself never prints. [`Silent`] ignores both.
//! - [`recipe`] builds what a TOML recipe describes: any partitions,
//!   several outputs.
//! - Below the front door is one pipeline: a source builds a
//!   [`tree::Tree`] (an in-memory model of a filesystem), the ext4 planner
//!   ([`ext4`]) lays out the whole filesystem before a byte is written
//!   ([`image::plan_disk`], [`image::plan_partitions`]), and a
//!   [`sink::Sink`] receives the disk in ascending offset order.
//! - Existing images are read by [`inspect`], [`browse`] and
//!   [`ext4::read`], changed by [`image::add`] and [`grub_install`],
//!   converted by [`convert`] and written to devices by [`target`].
//!
//! A tree made in memory, planned and written by the lower layer:
//!
//! ```
//! use blockimg::image::{build_image, DiskSize, ImageOptions};
//! use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
//!
//! # fn main() -> blockimg::Result<()> {
//! let time = Timestamp::from_secs(1_700_000_000);
//! let meta = |permissions| Metadata { permissions, ..Metadata::directory(time) };
//! let mut tree = Tree::new(meta(0o755));
//! let etc = tree.add(Tree::ROOT, b"etc", Node::new(meta(0o755), NodeKind::Directory(Default::default())))?;
//! let hostname = FileContent::from_bytes(b"appliance\n".to_vec());
//! tree.add(etc, b"hostname", Node::new(meta(0o644), NodeKind::File(hostname)))?;
//!
//! let options = ImageOptions::default()
//!     .size(DiskSize::Exact(64 << 20))
//!     // reproducible: same tree, same bytes
//!     .ext4(blockimg::ext4::Ext4Options::default().timestamp(Some(time)));
//! let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
//! let summary = build_image(&tree, &options, &dir.path().join("disk.img"))?;
//! assert_eq!(summary.partition_offset, 1 << 20);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
// Input comes from users and their images: failures are errors, never panics.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

#[macro_use]
mod setters;

pub mod arch;
pub mod boot;
pub mod browse;
mod builder;
mod bytes;
pub mod convert;
pub mod disk;
pub mod disk_format;
pub mod ebs;
pub mod error;
pub mod ext4;
pub mod glob;
pub mod grub_install;
pub mod identity;
pub mod image;
pub mod initramfs;
pub mod inspect;
pub mod lock;
pub mod recipe;
mod report;
pub mod sink;
pub mod size;
pub mod source;
pub mod target;
pub mod tree;

pub use builder::{Built, DiskBuilder, Output, Partition, PartitionFill, PreparedDisk, Source};
pub use error::{Error, Result};
pub use report::{Observer, Phase, Silent, Warning};
