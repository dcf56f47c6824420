//! The commit: the mounted state becomes a tree again, each node knowing
//! the inode of the image it was loaded from, and
//! [`ExistingFilesystem::commit`](blockimg::image::ExistingFilesystem::commit)
//! writes what changed in place, through the filesystem's journal, or,
//! when that cannot be done, replaces the image with a rewritten copy
//! (a temporary file beside the image, synced and renamed).

use crate::error::{Error, Result};
use crate::image::Image;
use crate::state::Fs;
use blockimg::ext4::update::CommitStep;
use blockimg::tree::NodeId;

/// What the commit at the end of a mount did.
///
/// # Examples
///
/// ```
/// use fuse_mount::Commit;
///
/// fn written(commit: &Commit) -> bool {
///     matches!(commit, Commit::Written { .. })
/// }
/// assert!(!written(&Commit::Unchanged)); // a mount that changed nothing leaves the image alone
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commit {
    /// Nothing had changed: the image was left as it was.
    Unchanged,
    /// The image holds the new state.
    Written {
        /// How: in place (what was written), or by a rewrite (why).
        how: String,
    },
}

/// Writes the state of `fs` into `image`; leaves the image as it was when
/// nothing changed or anything fails before the commit point. `step` is
/// told each step of an in-place commit.
pub fn commit(fs: &Fs, image: &Image, step: &mut dyn FnMut(CommitStep)) -> Result<Commit> {
    if !fs.changed() {
        return Ok(Commit::Unchanged);
    }
    let loaded = image.loaded.tree.len() as u64;
    let written = fs.to_tree().and_then(|(tree, inos)| {
        // A node loaded from the image was FUSE inode (its node index + 1).
        let origin = |id: NodeId| {
            inos.get(id.index())
                .filter(|&&ino| ino >= 1 && ino <= loaded)
                .map(|&ino| NodeId((ino - 1) as u32))
        };
        image.commit(&image.reader, &image.loaded, &tree, &origin, step)
    });
    let how = written.map_err(|e| Error::Commit {
        image: image.path.clone(),
        source: Box::new(Error::Image(e)),
    })?;
    Ok(Commit::Written {
        how: describe(&how),
    })
}

/// How a commit changed the image, in words.
pub fn describe(commit: &blockimg::image::Commit) -> String {
    match commit {
        blockimg::image::Commit::InPlace(s) => format!(
            "changed in place: {} inodes, {} new blocks, {} metadata blocks through the journal",
            s.inodes, s.new_blocks, s.metadata_blocks
        ),
        blockimg::image::Commit::Rewritten { reason } => format!("rewritten whole: {reason}"),
    }
}
