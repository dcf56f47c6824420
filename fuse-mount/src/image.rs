//! Opening the filesystem to mount: the image, its partition, the tree of
//! what it holds, and the options a commit rewrites it with so that it
//! keeps its size, block size, UUID, label, hash seed and journal
//! ([`ExistingFilesystem`]).

use std::ops::Deref;
use std::path::Path;

use blockimg::disk::ImageSpec;
use blockimg::ext4::read::Ext4Reader;
use blockimg::ext4::Ext4Plan;
use blockimg::image::{ExistingFilesystem, Loaded};
use blockimg::lock::ImageLock;
use blockimg::tree::{DataSource, Node, NodeKind};

use crate::error::{Error, Result};
use crate::state::Space;

/// The filesystem of an image, loaded for mounting.
#[derive(Debug)]
pub struct Image {
    /// The image, its filesystem and the options a commit keeps.
    pub existing: ExistingFilesystem,
    /// Block and inode counts of the filesystem a commit writes.
    pub space: Space,
    /// The reader the tree was loaded with.
    pub reader: Ext4Reader,
    /// The tree as loaded, with each node's inode number: what a commit
    /// compares the mounted state with.
    pub loaded: Loaded,
}

impl Deref for Image {
    type Target = ExistingFilesystem;

    fn deref(&self) -> &ExistingFilesystem {
        &self.existing
    }
}

impl Image {
    /// Opens the filesystem `spec` names, to be mounted on `mountpoint`,
    /// and loads its tree (file data left in the image). The image is
    /// locked for as long as the returned image lives: for reading when
    /// `read_only`, else for writing, with a holder record naming the
    /// mountpoint. Unless `read_only`, replays a journal holding changes
    /// not yet applied into the image first, and refuses filesystems a
    /// commit would change the nature of (ext2 and ext3: a commit writes
    /// ext4 with extents). Read-only, such a journal is replayed in memory
    /// and the mount shows the filesystem as replayed; it is refused only
    /// when the journal holds file data (`data=journal`), which the mount
    /// would read from the image as stored.
    pub fn open(spec: &ImageSpec, read_only: bool, mountpoint: &Path) -> Result<Image> {
        let lock = match read_only {
            true => ImageLock::read(&spec.path),
            false => ImageLock::write(&spec.path, &format!("mount on {}", mountpoint.display())),
        };
        let lock = lock.map_err(blockimg::Error::from)?;
        if !read_only {
            ExistingFilesystem::replay_journal(spec)?;
        }
        let (existing, reader) = ExistingFilesystem::open(spec, lock)?;
        let loaded = existing.load(&reader)?;
        if let Some(replayed) = reader.replayed() {
            // Read-only: the tree is the replayed one, and file data is
            // read from the image as stored, which is right unless the
            // journal holds file data.
            if loaded
                .tree
                .nodes()
                .iter()
                .any(|node| journaled_data(&reader, node))
            {
                return Err(Error::NeedsReplay {
                    image: existing.path.clone(),
                    replayed: replayed.to_string(),
                });
            }
        }
        if let (false, Some(reason)) = (read_only, existing.rewrite_refusal()) {
            return Err(Error::ReadOnly {
                image: existing.path.clone(),
                reason: format!("{reason} on commit"),
            });
        }
        let tree = &loaded.tree;
        // Planning the content as loaded gives the free counts a commit
        // starts from, and shows early that a commit can hold it at all.
        let options = &existing.options;
        let plan = Ext4Plan::new(tree, existing.fs_size, options)?;
        let geometry = plan.geometry();
        let space = Space {
            block_size: geometry.block_size,
            blocks_count: geometry.blocks_count,
            reserved_blocks: geometry.blocks_count * u64::from(options.reserved_percent) / 100,
            free_blocks: plan.free_blocks(),
            inodes_count: u64::from(geometry.inodes_count()),
            free_inodes: u64::from(plan.free_inodes()),
        };
        drop(plan);
        Ok(Image {
            existing,
            space,
            reader,
            loaded,
        })
    }
}

/// Whether some of `node`'s file data is in a block the journal replay
/// of `reader` replaced.
fn journaled_data(reader: &Ext4Reader, node: &Node) -> bool {
    let NodeKind::File(content) = &node.kind else {
        return false;
    };
    let DataSource::ImageExtents { runs, .. } = &content.source else {
        return false;
    };
    runs.iter()
        .any(|run| reader.replay_changes(run.image_offset, run.len))
}
