//! The commit: the mounted state becomes a tree again, each node knowing
//! the inode of the image it was loaded from, and
//! [`ExistingFilesystem::commit`](blockimg::image::ExistingFilesystem::commit)
//! writes what changed in place, through the filesystem's journal, or,
//! when that cannot be done, replaces the image with a rewritten copy
//! (a temporary file beside the image, synced and renamed).

use crate::error::{Error, Result};
use crate::image::Image;
use crate::state::Fs;
use blockimg::ext4::update::{CommitStep, UpdateOutcome};
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
    let written = commit_changes(fs, image, step);
    let how = written.map_err(|e| Error::Commit {
        image: image.path.clone(),
        source: Box::new(Error::Image(e)),
    })?;
    Ok(Commit::Written {
        how: how.to_string(),
    })
}

/// Writes what changed in place, reading back only the directories the
/// changes touched; else rewrites the image from the whole tree.
fn commit_changes(
    fs: &Fs,
    image: &Image,
    step: &mut dyn FnMut(CommitStep),
) -> blockimg::Result<blockimg::image::Commit> {
    let loaded_len = image.loaded.tree.len() as u64;
    let dirs = fs.changed_dirs();
    let (tree, inos) = fs.to_tree_where(&|ino| dirs.contains(&ino))?;
    // A node loaded from the image was inode (its node index + 1) here.
    let (old, map) = image
        .loaded
        .restricted(&|id| dirs.contains(&(id.index() as u64 + 1)));
    let origin_of = |ino: u64| {
        (ino >= 1 && ino <= loaded_len)
            .then(|| map.get((ino - 1) as usize).copied().flatten())
            .flatten()
    };
    // Every node loaded from the image must be in both parts: it is,
    // unless the changed directories were found wrong; then the whole
    // tree is compared.
    let confined = inos
        .iter()
        .all(|&ino| ino > loaded_len || origin_of(ino).is_some());
    // New data already in free blocks of the image: adopted, not copied.
    let placed = fs.placed_runs();
    let outcome = if confined {
        let origin = |id: NodeId| inos.get(id.index()).and_then(|&ino| origin_of(ino));
        image.update_in_place(&image.reader, &old, &tree, &origin, &placed, step)?
    } else {
        let (tree, inos) = fs.to_tree()?;
        let origin = |id: NodeId| {
            inos.get(id.index())
                .filter(|&&ino| ino >= 1 && ino <= loaded_len)
                .map(|&ino| NodeId((ino - 1) as u32))
        };
        image.update_in_place(&image.reader, &image.loaded, &tree, &origin, &placed, step)?
    };
    match outcome {
        UpdateOutcome::Updated(summary) => Ok(blockimg::image::Commit::InPlace(summary)),
        UpdateOutcome::NotInPlace(reason) => {
            let (whole, _) = fs.to_tree()?;
            image.rewrite_filesystem(&whole)?;
            Ok(blockimg::image::Commit::Rewritten { reason })
        }
    }
}
