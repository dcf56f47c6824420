//! EbsError: an EBS snapshot or machine image that could not be made, a
//! server that refused a call, or a block-hash manifest that cannot be used.

use std::fmt;
use std::path::PathBuf;

/// One call to an AWS API, named in errors: the operation and what it was
/// about (a snapshot, a block, an image).
///
/// # Examples
///
/// ```
/// use blockimg::error::Call;
///
/// let call = Call::new("PutSnapshotBlock").snapshot("snap-1").block(7);
/// assert_eq!(call.to_string(), "PutSnapshotBlock of block 7 of snapshot snap-1");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Call {
    /// The API operation, such as `StartSnapshot`.
    pub operation: &'static str,
    /// The snapshot it concerns.
    pub snapshot: Option<String>,
    /// The 512 KiB block it concerns.
    pub block: Option<u64>,
    /// The machine image it concerns.
    pub image: Option<String>,
}

impl Call {
    /// A call of `operation`.
    pub fn new(operation: &'static str) -> Call {
        Call {
            operation,
            ..Call::default()
        }
    }

    /// The call concerns snapshot `id`.
    pub fn snapshot(mut self, id: &str) -> Call {
        self.snapshot = Some(id.to_string());
        self
    }

    /// The call concerns block `index`.
    pub fn block(mut self, index: u64) -> Call {
        self.block = Some(index);
        self
    }

    /// The call concerns machine image `id`.
    pub fn image(mut self, id: &str) -> Call {
        self.image = Some(id.to_string());
        self
    }
}

impl fmt::Display for Call {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.operation)?;
        if let Some(block) = self.block {
            write!(f, " of block {block}")?;
        }
        if let Some(snapshot) = &self.snapshot {
            write!(f, " of snapshot {snapshot}")?;
        }
        if let Some(image) = &self.image {
            write!(f, " of image {image}")?;
        }
        Ok(())
    }
}

/// What went wrong making an EBS snapshot or registering a machine image.
///
/// # Examples
///
/// ```
/// use blockimg::error::{Call, EbsError};
///
/// let err = blockimg::Error::from(EbsError::Refused {
///     call: Box::new(Call::new("PutSnapshotBlock").snapshot("snap-1").block(3)),
///     status: 400,
///     code: "ValidationException".into(),
///     message: "checksum mismatch".into(),
/// });
/// assert_eq!(
///     err.to_string(),
///     "PutSnapshotBlock of block 3 of snapshot snap-1: the server refused it (HTTP 400 ValidationException): checksum mismatch"
/// );
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum EbsError {
    /// No region, no credentials, or a configuration that cannot be used.
    #[error("AWS configuration: {reason}")]
    Config {
        /// What is missing or wrong, and where it is looked for.
        reason: String,
    },
    /// The server answered with an error that retrying does not cure
    /// (bad credentials, a checksum it rejects, an unknown snapshot).
    #[error("{call}: the server refused it (HTTP {status} {code}): {message}")]
    Refused {
        /// The call refused.
        call: Box<Call>,
        /// The HTTP status.
        status: u16,
        /// The error code the server gave.
        code: String,
        /// The server's message.
        message: String,
    },
    /// A call that kept failing with errors worth retrying (throttling,
    /// server errors, dropped connections) until the attempts ran out, or
    /// one that failed before reaching the server.
    #[error("{call}: {reason} (after {attempts} attempts)")]
    Failed {
        /// The call.
        call: Box<Call>,
        /// Attempts made.
        attempts: u32,
        /// The last error, with its causes.
        reason: String,
    },
    /// A snapshot the service put in the `error` state, or one that did not
    /// complete in time.
    #[error("snapshot {snapshot}: {reason}")]
    Snapshot {
        /// The snapshot.
        snapshot: String,
        /// Its state and the service's message.
        reason: String,
    },
    /// A machine image that failed to register or become available.
    #[error("image {image}: {reason}")]
    Image {
        /// The image id (or name, before it has one).
        image: String,
        /// Its state and the service's message.
        reason: String,
    },
    /// A block-hash manifest that cannot be read or does not fit.
    #[error("block manifest {path}: {reason}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, with the line when one is at fault.
        reason: String,
    },
    /// The disk does not fit the largest volume EBS snapshots take.
    #[error(
        "a disk of {size} bytes needs a {gib} GiB volume; EBS snapshots hold at most {limit} GiB"
    )]
    TooLarge {
        /// The disk's size.
        size: u64,
        /// The volume it needs.
        gib: u64,
        /// The largest volume.
        limit: u64,
    },
}
