//! The commit: the mounted state becomes a tree again and
//! [`ExistingFilesystem::rewrite_filesystem`](blockimg::image::ExistingFilesystem::rewrite_filesystem)
//! replaces the image with one holding it (a temporary copy beside the
//! image, every byte outside the filesystem copied, synced and renamed).

use crate::error::{Error, Result};
use crate::image::Image;
use crate::state::Fs;

/// What the commit at the end of a mount did.
///
/// # Examples
///
/// ```
/// use fuse_mount::Commit;
///
/// fn rewritten(commit: Commit) -> bool {
///     commit == Commit::Written
/// }
/// assert!(!rewritten(Commit::Unchanged)); // a mount that changed nothing leaves the image alone
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Nothing had changed: the image was left as it was.
    Unchanged,
    /// The image was replaced by one holding the new state.
    Written,
}

/// Writes the state of `fs` into `image` atomically; leaves the image
/// untouched when nothing changed or anything fails.
pub fn commit(fs: &Fs, image: &Image) -> Result<Commit> {
    if !fs.changed() {
        return Ok(Commit::Unchanged);
    }
    let written = fs
        .to_tree()
        .and_then(|tree| image.rewrite_filesystem(&tree));
    written.map_err(|e| Error::Commit {
        image: image.path.clone(),
        source: Box::new(Error::Image(e)),
    })?;
    Ok(Commit::Written)
}
