//! Mounts the ext4 filesystem of a disk image read-write through FUSE; every
//! unmount commits a complete, consistent image.
//!
//! The mount loads the filesystem into an inode table whose file
//! data stays in the image until it changes; new data is written into
//! blocks the filesystem does not use (the old filesystem never reads
//! them), or, when none are left, into an unlinked spill file. When the
//! filesystem is unmounted, the state becomes a [`blockimg::tree::Tree`]
//! again and the commit changes the image in place through the
//! filesystem's journal, adopting the blocks written during the mount as
//! they are, or, when that cannot be done, writes a complete new
//! filesystem into a temporary copy of the image, which replaces the image
//! by a rename. The filesystem in the image is therefore always either
//! what it was before the mount or the result of a complete commit.
//!
//! # Example
//!
//! ```no_run
//! // Needs FUSE (/dev/fuse and fusermount3), which a doctest cannot count on.
//! use blockimg::disk::ImageSpec;
//! use fuse_mount::{mount, unmount, MountOptions};
//!
//! # fn main() -> fuse_mount::Result<()> {
//! let image = ImageSpec::parse("disk.img".as_ref())?;
//! mount(&MountOptions::new(image, "mnt"))?; // mnt now shows the image's filesystem; change it at will
//! unmount("mnt")?; // commits a new, complete disk.img
//! # Ok(())
//! # }
//! ```
//!
//! [`mount`] returns once a daemon forked into the background serves the
//! mount (or, with [`MountOptions::foreground`], once the filesystem was
//! unmounted and committed); [`unmount`] unmounts and waits for the
//! daemon's [`Commit`]. Nothing in the crate prints: errors, the daemon's
//! too, are returned.

#![deny(missing_docs)]
// Input comes from users and their images: failures are errors, never panics.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod acl;
mod commit;
mod data;
mod error;
mod fs;
mod image;
mod inode;
mod mount;
mod place;
mod runtime;
mod signals;
mod spill;
mod state;
mod unmount;

pub use commit::Commit;
pub use error::{Error, Result};
pub use mount::{mount, mount_observed, unmount, Access, CommitSteps, MountOptions, Mounted};
