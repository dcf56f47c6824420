//! SourceError: a source that cannot be read into a tree: archives, manifests, host files.

use std::path::PathBuf;

use super::Error;

/// A source that cannot be read into a tree: archives, manifests, host files.
///
/// # Examples
///
/// ```
/// use blockimg::error::SourceError;
///
/// let err = blockimg::Error::from(SourceError::BadArchive {
///     archive: "root.tar".into(),
///     member: "etc/passwd".into(),
///     reason: "truncated".into(),
/// });
/// assert_eq!(err.to_string(), "root.tar: member \"etc/passwd\": truncated");
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A source file changed between scanning the tree and copying it.
    #[error("{path} changed while the image was being built ({detail})")]
    Changed {
        /// The file that changed.
        path: PathBuf,
        /// What was seen to differ.
        detail: String,
    },
    /// A source path has a type that cannot be stored.
    #[error("{path}: unsupported file type")]
    UnsupportedFileType {
        /// The offending path.
        path: PathBuf,
    },
    /// An archive member that cannot be read or stored.
    #[error("{archive}: {}{reason}", member_prefix(member))]
    BadArchive {
        /// The archive.
        archive: String,
        /// The member's path as stored (empty when the archive itself is
        /// unreadable).
        member: String,
        /// What is wrong.
        reason: String,
    },
    /// A manifest line that does not parse or cannot be applied.
    #[error("{manifest}: line {line}: {reason}")]
    BadManifest {
        /// The manifest.
        manifest: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An entry of a source (a host directory, an archive) that cannot be
    /// stored in the tree, with the path it came from.
    #[error("{path}: {source}")]
    Entry {
        /// Path of the entry in its source.
        path: PathBuf,
        /// Why the entry cannot be stored.
        source: Box<Error>,
    },
}

/// `member "PATH": ` for messages about an archive member, nothing for the
/// archive as a whole.
fn member_prefix(member: &str) -> String {
    if member.is_empty() {
        String::new()
    } else {
        format!("member {member:?}: ")
    }
}
