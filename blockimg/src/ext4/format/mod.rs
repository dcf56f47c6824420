//! The on-disk structures of ext4 and jbd2, each defined once: the byte
//! offset of every field the writer fills or the reader checks, the magic
//! numbers, flags and sizes, and the few encodings both sides share (times
//! and device numbers in an inode, directory record lengths, the names and
//! ACLs of extended attributes).
//!
//! The writer's modules (`superblock`, `inode`, `extent`, `dir`, `xattr`,
//! `journal` beside this one) fill buffers at these offsets; the reader's
//! (`read::superblock`, `read::groups`, `read::inode`, `read::blockmap`,
//! `read::dir`, `read::xattr`, `read::journal`) parse them at the same
//! offsets, and `csum` checksums them around the same checksum fields. The
//! feature flags are a typed set of their own, in `features`. Fields are
//! named after the kernel's structures (`struct ext4_super_block`'s
//! `s_blocks_count_lo` is [`superblock::S_BLOCKS_COUNT_LO`]); a field the
//! code does not touch is not listed.
//!
//! | module | structure |
//! |---|---|
//! | [`superblock`] | `ext4_super_block` |
//! | [`group_desc`] | `ext4_group_desc` and its flags |
//! | [`inode`] | `ext4_inode`, its flags and the reserved inode numbers |
//! | [`extent`] | `ext4_extent_header`, `ext4_extent_idx`, `ext4_extent`, `ext4_extent_tail` |
//! | [`dir`] | `ext4_dir_entry_2`, `ext4_dir_entry_tail`, `dx_root`, `dx_node`, `dx_entry`, `dx_tail` |
//! | [`xattr`] | `ext4_xattr_header`, `ext4_xattr_entry`, name indices, `ext4_acl_entry` |
//! | [`jbd2`] | `journal_superblock_t` and the journal's feature flags |
//!
//! Everything here is a plain constant or a small pure function, with no
//! dependency on the rest of the crate but the byte helpers and the tree's
//! `Timestamp` and `Xattr`.

pub mod dir;
pub mod extent;
pub mod group_desc;
pub mod inode;
pub mod jbd2;
pub mod superblock;
pub mod xattr;
