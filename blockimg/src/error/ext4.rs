//! Ext4Error: what ext4 refuses or an ext4 filesystem breaks: limits of the writer (symlinks, xattrs, links), and, reading an image, corrupt or unsupported structures, checksums, paths and types.

use std::path::PathBuf;

use super::Corrupt;
use crate::ext4::file_type::FileType;

/// What ext4 refuses or an ext4 filesystem breaks: limits of the writer (symlinks, xattrs, links), and, reading an image, corrupt or unsupported structures, checksums, paths and types.
///
/// # Examples
///
/// ```
/// use blockimg::error::Ext4Error;
///
/// let err = blockimg::Error::from(Ext4Error::SymlinkLoop { image: "disk.img".into(), path: "/a".into() });
/// assert_eq!(err.to_string(), "disk.img: /a: too many levels of symbolic links");
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Ext4Error {
    /// A symlink target too long for the filesystem's block size.
    #[error("symlink {path} has a {len}-byte target; at most {limit} bytes fit")]
    SymlinkTooLong {
        /// Path of the link within the tree.
        path: String,
        /// Length of its target.
        len: usize,
        /// Largest target length allowed.
        limit: usize,
    },
    /// Extended attributes that do not fit in an inode plus one block:
    /// what the inode cannot hold needs more than the block.
    #[error(
        "extended attributes of {path} need {needed} bytes outside the inode; an xattr block holds at most {limit}"
    )]
    XattrsTooLarge {
        /// Path within the tree.
        path: String,
        /// Bytes the attributes the inode cannot hold need in the block.
        needed: usize,
        /// Bytes an xattr block holds.
        limit: usize,
    },
    /// An extended attribute that cannot be stored.
    #[error("{path}: extended attribute {name:?}: {reason}")]
    InvalidXattr {
        /// Path within the tree.
        path: String,
        /// The attribute's full name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A directory reachable under two names.
    #[error("{path}: directories cannot be hard links")]
    DirectoryHardLink {
        /// The second name of the directory.
        path: String,
    },
    /// A file with more hard links than ext4 can count.
    #[error("{path} has {links} hard links; ext4 allows at most {limit}")]
    TooManyLinks {
        /// One name of the file.
        path: String,
        /// Its number of links.
        links: u32,
        /// The most ext4 counts ([`MAX_LINKS`](crate::ext4::MAX_LINKS)).
        limit: u32,
    },
    /// A structure whose field breaks its format's rules.
    #[error(transparent)]
    Corrupt(Box<Corrupt>),
    /// An ext4 filesystem that uses a feature the reader cannot handle (or
    /// must not ignore, such as a journal waiting for recovery).
    #[error("{path}: the ext4 filesystem uses {feature}: {reason}")]
    Unsupported {
        /// The image file.
        path: PathBuf,
        /// The feature's name as e2fsprogs spells it (`inline_data`, ...),
        /// or the unknown bit.
        feature: String,
        /// Why it cannot be read, and what to do.
        reason: String,
    },
    /// A metadata_csum checksum that does not match the structure it covers.
    #[error("{path}: ext4 {structure}: stored checksum {stored:#010x}, computed {computed:#010x}")]
    Checksum {
        /// The image file.
        path: PathBuf,
        /// The structure (`superblock`, `group descriptor 3`, `inode 12`,
        /// `directory block 0 of inode 2`, ...).
        structure: String,
        /// The checksum stored in the structure.
        stored: u32,
        /// The checksum its contents give.
        computed: u32,
    },
    /// A path the filesystem of an image does not hold.
    #[error("{image}: no {path} in the filesystem")]
    NoSuchPath {
        /// The image file.
        image: PathBuf,
        /// The path looked up.
        path: String,
    },
    /// An inode of a filesystem image used as a type it is not (a path
    /// through a file, a symlink read as a file, ...).
    #[error("{image}: {what} is not {expected}")]
    WrongFileType {
        /// The image file.
        image: PathBuf,
        /// The path or inode (`inode 12`) concerned.
        what: String,
        /// The type the operation needs.
        expected: FileType,
    },
    /// A path whose resolution follows too many symlinks.
    #[error("{image}: {path}: too many levels of symbolic links")]
    SymlinkLoop {
        /// The image file.
        image: PathBuf,
        /// The path being resolved.
        path: String,
    },
    /// A disk image, or a partition of one, without an ext4 filesystem.
    #[error("{image}: {location} holds no ext4 filesystem ({reason})")]
    NoExt4 {
        /// The disk image.
        image: PathBuf,
        /// `partition 2`, `the image`, ...
        location: String,
        /// What was found instead.
        reason: String,
    },
    /// A filesystem that a rewrite would change the nature of.
    #[error("{image}: cannot write into this filesystem: {reason}")]
    NotRewritable {
        /// The image file.
        image: PathBuf,
        /// What a rewrite would change.
        reason: String,
    },
}
