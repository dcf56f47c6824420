//! Mounts the ext4 filesystem of a disk image read-write through FUSE; every
//! unmount commits a complete, consistent image.
//!
//! This crate is being built up; it has no public items yet.
