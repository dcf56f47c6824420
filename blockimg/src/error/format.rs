//! FormatError: a disk image format that cannot be read or does not match what was asked for (raw, VHD, VMDK, qcow2).

use std::path::PathBuf;

use super::Corrupt;

/// A disk image format that cannot be read or does not match what was asked for (raw, VHD, VMDK, qcow2).
///
/// # Examples
///
/// ```
/// use blockimg::error::FormatError;
///
/// let err = blockimg::Error::from(FormatError::Unsupported { path: "disk.vhdx".into(), reason: "VHDX is not read".into() });
/// assert_eq!(err.to_string(), "disk.vhdx: VHDX is not read");
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    /// A structure whose field breaks its format's rules.
    #[error(transparent)]
    Corrupt(Box<Corrupt>),
    /// An image format that is recognized but not supported.
    #[error("{path}: {reason}")]
    Unsupported {
        /// The image file.
        path: PathBuf,
        /// What the file is and what to do instead.
        reason: String,
    },
    /// A format named by the user contradicts a file's name or contents.
    #[error("{path}: {reason}")]
    Mismatch {
        /// The file concerned.
        path: PathBuf,
        /// What contradicts what.
        reason: String,
    },
}
