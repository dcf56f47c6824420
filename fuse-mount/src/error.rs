//! The errors of mounting, committing and unmounting.

use std::path::{Path, PathBuf};

/// What went wrong, with the paths a user needs to act on it.
///
/// # Examples
///
/// ```
/// use blockimg::disk::ImageSpec;
/// use fuse_mount::{mount, Error, MountOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let image = ImageSpec { path: dir.path().join("missing.img"), partition: None };
/// let options = MountOptions::new(image, dir.path()).read_only(true);
/// // The image is read before anything is mounted.
/// let err = mount(&options).err().ok_or("mounted a missing image")?;
/// assert!(matches!(err, Error::Image(_)));
/// assert!(err.to_string().contains("missing.img"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading the image, planning or writing the new one failed.
    #[error(transparent)]
    Image(#[from] blockimg::Error),
    /// A file operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// The journal holds file data not yet applied, which a read-only
    /// mount, reading file data from the image as stored, cannot show.
    #[error("{}: the journal holds file data not yet applied ({replayed}); mount it read-write, which replays it into the image, or run `e2fsck -fy` on it", image.display())]
    NeedsReplay {
        /// The image.
        image: PathBuf,
        /// What replaying the journal would apply.
        replayed: String,
    },
    /// The image can only be mounted read-only.
    #[error("{}: {reason}; it can be mounted read-only", image.display())]
    ReadOnly {
        /// The image.
        image: PathBuf,
        /// Why a commit could not keep it as it is.
        reason: String,
    },
    /// An option (of [`MountOptions`](crate::MountOptions), or a
    /// command line's) is not valid.
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        /// The option.
        option: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The kernel refused the mount.
    #[error("cannot mount on {}: {source}", mountpoint.display())]
    Mount {
        /// The mountpoint.
        mountpoint: PathBuf,
        /// The system's error.
        #[source]
        source: std::io::Error,
    },
    /// `fusermount3` refused `allow_other` or `allow_root` to a user other
    /// than root: `/etc/fuse.conf` lacks `user_allow_other`.
    #[error("cannot mount on {} with {option}: for users other than root, fusermount3 allows it only when /etc/fuse.conf has a line `user_allow_other` (add it as root, or mount without -o {option}) [{refusal}]", mountpoint.display())]
    UserAllowOther {
        /// The mountpoint.
        mountpoint: PathBuf,
        /// The option refused.
        option: &'static str,
        /// What fusermount3 said.
        refusal: String,
    },
    /// Unmounting failed, or the daemon did not commit.
    #[error("{}: {reason}", mountpoint.display())]
    Unmount {
        /// The mountpoint.
        mountpoint: PathBuf,
        /// What happened.
        reason: String,
    },
    /// Committing the changes failed; the image is as it was before the
    /// mount.
    #[error("committing {} failed, the image is unchanged: {source}", image.display())]
    Commit {
        /// The image.
        image: PathBuf,
        /// Why.
        #[source]
        source: Box<Error>,
    },
}

impl Error {
    /// An I/O error on `path`.
    ///
    /// # Examples
    ///
    /// ```
    /// let error = std::fs::read("/nonexistent/disk.img")
    ///     .map_err(|e| fuse_mount::Error::io("/nonexistent/disk.img", e))
    ///     .unwrap_err();
    /// assert!(error.to_string().contains("/nonexistent/disk.img"));
    /// ```
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

/// Results of this crate.
///
/// # Examples
///
/// ```
/// use fuse_mount::{MountOptions, Mounted};
///
/// // No thread to serve the mount: refused before anything is read.
/// let result: fuse_mount::Result<Mounted> = fuse_mount::mount(&MountOptions::default().threads(0));
/// assert!(matches!(result, Err(fuse_mount::Error::InvalidOption { .. })));
/// ```
pub type Result<T> = std::result::Result<T, Error>;
