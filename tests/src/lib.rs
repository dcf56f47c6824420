//! Oracles and fixtures shared by the end-to-end tests.
//!
//! Every image a test builds is judged by code nobody in this workspace
//! wrote: `e2fsck`, `dumpe2fs`, `debugfs` and `sfdisk` from the host, the
//! `ext4-view` crate, and the Linux kernel (a loop mount, as root). This crate
//! only runs those oracles, parses their output and compares what they report
//! with the host directory an image was built from.
//!
//! - [`aws`] runs moto's server behind a proxy that checks what EBS
//!   checks, for the EBS snapshot tests.
//! - [`bin`] finds (and if needed builds) the `blockimg` binary and runs it.
//! - [`tools`] runs the e2fsprogs and util-linux oracles.
//! - [`model`] is the comparable description of a directory tree.
//! - [`host`] walks a host directory into a model; [`image`] reads the ext4
//!   of an image into the same model through `ext4-view` and `debugfs`.
//! - [`fixture`] creates rich host trees to build images from.
//! - [`mount`] attaches an image to a loop device and mounts it; [`fuse`]
//!   mounts one with `blockimg mount`.
//! - [`qemu`] runs `qemu-img`, the oracle for VHD and VMDK images.
//! - [`tree`] describes a blockimg `Tree` (a source's, or the ext4
//!   reader's) as the same model.
//! - [`recipe`] makes the inputs of the example recipes and reads the plan
//!   `blockimg build --dry-run` prints.

#![deny(missing_docs)]

pub mod aws;
pub mod bin;
pub mod fixture;
pub mod fuse;
pub mod host;
pub mod image;
pub mod model;
pub mod mount;
pub mod qemu;
pub mod recipe;
pub mod tools;
pub mod tree;
pub mod vm;

pub use bin::{blockimg_bin, blockimg_cmd, example_bin, mkdisk, RunOutput};
pub use tools::{
    allocated_bytes, debugfs, debugfs_batch, debugfs_ea_list, debugfs_htree, debugfs_stat,
    debugfs_xattrs, dumpe2fs_h, e2fsck, e2fsck_clean, find_tool, is_root, require_tool,
    sfdisk_dump, sha256_file,
};

/// Byte offset of the first partition in an image with the default MBR table
/// (sector 2048).
pub const PART_OFFSET: u64 = 1_048_576;

/// The tools every ext4 test needs; returns false (after printing why) when
/// one is missing.
pub fn require_e2fsprogs() -> bool {
    ["e2fsck", "debugfs", "dumpe2fs"]
        .iter()
        .all(|tool| require_tool(tool))
}
