//! The commit: the mounted state becomes a tree again and
//! [`ExistingFilesystem::rewrite_filesystem`](blockimg::image::ExistingFilesystem::rewrite_filesystem)
//! replaces the image with one holding it (a temporary copy beside the
//! image, every byte outside the filesystem copied, synced and renamed).

use crate::error::{Error, Result};
use crate::image::Image;
use crate::state::Fs;

/// What a commit did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing had changed: the image was left as it was.
    Unchanged,
    /// The image was replaced by one holding the new state.
    Written,
}

/// Writes the state of `fs` into `image` atomically; leaves the image
/// untouched when nothing changed or anything fails.
pub fn commit(fs: &Fs, image: &Image) -> Result<Outcome> {
    if !fs.changed() {
        return Ok(Outcome::Unchanged);
    }
    let written = fs
        .to_tree()
        .and_then(|tree| image.rewrite_filesystem(&tree));
    written.map_err(|e| Error::Commit {
        image: image.path.clone(),
        source: Box::new(Error::Image(e)),
    })?;
    Ok(Outcome::Written)
}
