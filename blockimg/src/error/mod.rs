//! The library's errors: [`Error`], small, wraps one error type per area
//! (trees, sources, ext4, image formats, partitions, initramfs, recipes,
//! targets, image locks, EBS snapshots); each carries the context a user needs (paths, sizes, the
//! offending field and value). This module depends on no module that does
//! the work, so every module can use it.

mod ebs;
mod ext4;
mod format;
mod initramfs;
mod lock;
mod partition;
mod recipe;
mod source;
mod target;
mod tree;

use std::io;
use std::path::PathBuf;

pub use ebs::{Call, EbsError};
pub use ext4::Ext4Error;
pub use format::FormatError;
pub use initramfs::InitramfsError;
pub use lock::LockError;
pub use partition::PartitionError;
pub use recipe::RecipeError;
pub use source::SourceError;
pub use target::TargetError;
pub use tree::TreeError;

/// A field of an image's structure whose value breaks its format's rules:
/// an ext4 superblock, a VHD footer, a GPT header.
///
/// # Examples
///
/// ```
/// use blockimg::error::Corrupt;
///
/// let corrupt = Corrupt {
///     path: "disk.vhd".into(),
///     format: "VHD".into(),
///     field: "footer checksum".into(),
///     value: "0x1234".into(),
///     reason: "the footer's bytes give 0x4321".into(),
/// };
/// assert_eq!(corrupt.to_string(), "disk.vhd: VHD footer checksum is 0x1234: the footer's bytes give 0x4321");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{path}: {format} {field} is {value}: {reason}")]
pub struct Corrupt {
    /// The image file.
    pub path: PathBuf,
    /// Its format (ext4, VHD, VMDK, GPT).
    pub format: String,
    /// The structure and field at fault.
    pub field: String,
    /// The offending value, as found.
    pub value: String,
    /// What the value should be or why it cannot be used.
    pub reason: String,
}

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while building an image. Each variant carries
/// what a user needs to find the problem: paths, sizes, offending values.
///
/// # Examples
///
/// ```
/// use blockimg::Error;
///
/// // Every error names what a user needs to fix it; match on the variant
/// // to handle one case.
/// let error = blockimg::size::parse_size("6X").unwrap_err();
/// assert!(matches!(&error, Error::InvalidSize { text, .. } if text == "6X"));
/// assert!(error.to_string().contains("6X"));
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a named path failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing the output failed at a given byte offset.
    #[error("writing {path} at byte offset {offset}: {source}")]
    Write {
        /// The output being written.
        path: PathBuf,
        /// Offset of the failed write within the output.
        offset: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// A size given by the user could not be understood.
    #[error("invalid size {text:?}: {reason}")]
    InvalidSize {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The image is too small for what it has to hold.
    #[error("{what} needs {needed} bytes but only {available} bytes are available")]
    TooSmall {
        /// What does not fit.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The image is larger than the format allows.
    #[error("{what} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What is too large.
        what: String,
        /// Requested size.
        size: u64,
        /// The largest size allowed.
        limit: u64,
    },
    /// The output exists and overwriting it was not asked for.
    #[error("{path} already exists")]
    OutputExists {
        /// The existing output.
        path: PathBuf,
    },
    /// An option value that is out of range or contradicts another.
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        /// The option's name.
        option: String,
        /// What is wrong.
        reason: String,
    },
    /// Reading an input failed at a given byte offset.
    #[error("reading {path} at byte offset {offset}: {source}")]
    Read {
        /// The input being read.
        path: PathBuf,
        /// Offset of the failed read within the input.
        offset: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// Rewriting the filesystem of an image failed; the image is as it was.
    #[error("{image} was not changed: {source}")]
    Unchanged {
        /// The image file.
        image: PathBuf,
        /// Why the rewrite failed.
        source: Box<Error>,
    },
    /// Building the FAT32 EFI system partition failed.
    #[error("EFI system partition: {what}: {source}")]
    Fat {
        /// What was being done (formatting, a file's path).
        what: String,
        /// The error fatfs returned.
        source: io::Error,
    },
    /// GRUB could not be made or installed.
    #[error("boot loader: {0}")]
    Boot(#[from] grub_embed::Error),
    /// A host file cannot be placed in the tree at the path it needs.
    #[error("cannot place {path} in the image: {reason}")]
    PlacementConflict {
        /// Path inside the image.
        path: String,
        /// What is in the way.
        reason: String,
    },
    /// A tree that cannot be built or stored.
    #[error(transparent)]
    Tree(#[from] TreeError),
    /// A source that cannot be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// What ext4 refuses, or a filesystem read from an image breaks.
    #[error(transparent)]
    Ext4(#[from] Ext4Error),
    /// A disk image format that cannot be read or used.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// A partition or partition table.
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// An initramfs that cannot be assembled.
    #[error(transparent)]
    Initramfs(#[from] InitramfsError),
    /// A recipe, at the key at fault.
    #[error(transparent)]
    Recipe(#[from] RecipeError),
    /// A target to write a disk onto.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// An image another program holds, or one replaced under its holder.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// An EBS snapshot or machine image, or the AWS service making it.
    #[error(transparent)]
    Ebs(#[from] EbsError),
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    ///
    /// # Examples
    ///
    /// ```
    /// fn read_kernel(path: &std::path::Path) -> blockimg::Result<Vec<u8>> {
    ///     std::fs::read(path).map_err(|e| blockimg::Error::io(path, e))
    /// }
    ///
    /// let error = read_kernel("/nonexistent/vmlinuz".as_ref()).unwrap_err();
    /// assert!(error.to_string().contains("/nonexistent/vmlinuz"));
    /// ```
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
