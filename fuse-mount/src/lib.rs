//! Mounts the ext4 filesystem of a disk image read-write through FUSE; every
//! unmount commits a complete, consistent image.
//!
//! The mount loads the filesystem into an inode table whose file
//! data stays in the image until it changes; writes go to an unlinked spill
//! file. When the filesystem is unmounted, the state becomes a
//! [`blockimg::tree::Tree`] again and the ext4 planner writes a complete new
//! filesystem into a temporary copy of the image, which replaces the image
//! by a rename. The image on disk is therefore always either what it was
//! before the mount or the result of a complete commit.
//!
//! # Example
//!
//! ```no_run
//! // Needs FUSE (/dev/fuse and fusermount3), which a doctest cannot count on.
//! use fuse_mount::command::{run_mount, run_umount, MountArgs, UmountArgs};
//!
//! # fn main() -> fuse_mount::Result<()> {
//! let args = MountArgs {
//!     image: "disk.img".into(),
//!     mountpoint: "mnt".into(),
//!     foreground: false,
//!     ro: false,
//!     owner: None,
//!     fakeroot: false,
//!     threads: 1,
//! };
//! run_mount(args)?; // mnt now shows the image's filesystem; change it at will
//! run_umount(UmountArgs { mountpoint: "mnt".into() })?; // commits a new, complete disk.img
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
// Input comes from users and their images: failures are errors, never panics.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod acl;
pub mod command;
mod commit;
mod data;
mod error;
mod fs;
mod image;
mod inode;
mod runtime;
mod signals;
mod spill;
mod state;
mod unmount;

pub use error::{Error, Result};
