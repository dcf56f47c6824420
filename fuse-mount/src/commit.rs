//! The commit: the mounted state becomes a tree again, the planner lays out
//! a complete new filesystem, and a temporary copy of the image (every byte
//! outside the filesystem copied, the new filesystem written into its
//! range) is synced and renamed over the image.

use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};

use blockimg::ext4::Ext4Plan;
use blockimg::sink::{Sink, SparseFile};

use crate::error::{Error, Result};
use crate::image::Image;
use crate::state::Fs;

/// Bytes copied at a time from outside the filesystem.
const COPY_CHUNK: usize = 1 << 20;

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
    write_image(fs, image).map_err(|e| Error::Commit {
        image: image.path.clone(),
        source: Box::new(e),
    })?;
    Ok(Outcome::Written)
}

fn write_image(fs: &Fs, image: &Image) -> Result<()> {
    let tree = fs.to_tree()?;
    let plan = Ext4Plan::new(&tree, image.fs_size, &image.options)?;
    let original = image
        .file
        .metadata()
        .map_err(|e| Error::io(&image.path, e))?;
    let mut sink = SparseFile::create(&image.path, true)?;
    let start = image.partition.start;
    copy_range(image, &mut sink, 0, start)?;
    copy_range(image, &mut sink, start + image.fs_size, image.file_len)?;
    plan.write(&mut sink, start, &mut |_| {})?;
    sink.finish(image.file_len)?;
    // The new file takes the old one's permissions and, when we may, owner.
    let restore = std::fs::set_permissions(
        &image.path,
        std::fs::Permissions::from_mode(original.mode() & 0o7777),
    );
    restore.map_err(|e| Error::io(&image.path, e))?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        std::os::unix::fs::chown(&image.path, Some(original.uid()), Some(original.gid()))
            .map_err(|e| Error::io(&image.path, e))?;
    }
    Ok(())
}

/// Copies bytes `from..to` of the image unchanged (all-zero chunks stay
/// holes).
fn copy_range(image: &Image, sink: &mut SparseFile, from: u64, to: u64) -> Result<()> {
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut pos = from;
    while pos < to {
        let n = (to - pos).min(COPY_CHUNK as u64) as usize;
        image
            .file
            .read_exact_at(&mut buf[..n], pos)
            .map_err(|e| Error::io(&image.path, e))?;
        sink.write_at(pos, &buf[..n])?;
        pos += n as u64;
    }
    Ok(())
}
