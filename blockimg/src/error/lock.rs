//! LockError: an image another program is changing (or reading), or one
//! replaced under its lock holder.

use std::path::PathBuf;

/// Why an image could not be locked, or a locked image may not be
/// replaced.
///
/// # Examples
///
/// ```
/// use blockimg::error::LockError;
///
/// let err = blockimg::Error::from(LockError::Busy {
///     image: "k9.img".into(),
///     holder: "blockimg (mount on /mnt), process 4242".into(),
/// });
/// assert_eq!(err.to_string(), "k9.img is held for writing by blockimg (mount on /mnt), process 4242");
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another program holds the image for writing.
    #[error("{image} is held for writing by {holder}")]
    Busy {
        /// The image.
        image: PathBuf,
        /// What holds it: the program, what it does (such as the mountpoint
        /// of a read-write mount) and its process id, as its holder record
        /// says, or "another process" when there is no record to read.
        holder: String,
    },
    /// Other programs are reading the image, so it may not be changed now.
    #[error(
        "{image} is open for reading by another process (a read-only mount, or a command reading it); it cannot be changed until they are done"
    )]
    Reading {
        /// The image.
        image: PathBuf,
    },
    /// The path no longer names the file that was opened and locked:
    /// something replaced it meanwhile, so writing over it could lose that
    /// program's work.
    #[error("{image} was replaced by another program after it was opened; it was left as that program made it")]
    Replaced {
        /// The image.
        image: PathBuf,
    },
    /// A rewrite was asked of an image locked only for reading.
    #[error("{image} is locked for reading only; it cannot be rewritten")]
    NotWriter {
        /// The image.
        image: PathBuf,
    },
    /// Opening, locking or inspecting the image (or a file beside it)
    /// failed.
    #[error("locking {path}: {source}")]
    Io {
        /// The file involved.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
}
