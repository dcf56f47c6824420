//! TargetError: a block device or file to write a disk onto that is refused or does not read back.

use std::path::PathBuf;

/// A block device or file to write a disk onto that is refused or does not read back.
///
/// # Examples
///
/// ```
/// use blockimg::error::TargetError;
///
/// let err = blockimg::Error::from(TargetError::VerifyFailed { path: "/dev/sdz".into(), offset: 4096 });
/// assert_eq!(err.to_string(), "verifying /dev/sdz: byte offset 4096 differs from the image");
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The target of a write is mounted or held by another device.
    #[error("{path} is in use: {reason}")]
    InUse {
        /// The target device or file.
        path: PathBuf,
        /// Where it is mounted or what holds it.
        reason: String,
    },
    /// The target of a write holds data and overwriting it was not asked for.
    #[error("{path} is not blank ({reason})")]
    NotBlank {
        /// The target device or file.
        path: PathBuf,
        /// What was found on it.
        reason: String,
    },
    /// Reading back a written target found bytes that differ from the image.
    #[error("verifying {path}: byte offset {offset} differs from the image")]
    VerifyFailed {
        /// The target device or file.
        path: PathBuf,
        /// Offset of the first differing byte.
        offset: u64,
    },
}
