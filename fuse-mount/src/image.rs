//! Opening the filesystem to mount: the image, its partition, the tree of
//! what it holds, and the options a commit rewrites it with so that it
//! keeps its size, block size, UUID, label, hash seed and journal.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use blockimg::disk::{ImageSpec, Partition};
use blockimg::ext4::read::Ext4Reader;
use blockimg::ext4::{Ext4Options, Ext4Plan};
use blockimg::tree::Tree;

use crate::error::{Error, Result};
use crate::state::Space;

/// Offset of `s_hash_seed` from the filesystem's start (superblock at
/// 1024, field at 0xEC).
const HASH_SEED_OFFSET: u64 = 1024 + 0xEC;

/// The filesystem of an image, loaded for mounting.
#[derive(Debug)]
pub struct Image {
    /// The image file (symlinks resolved: a commit replaces this file).
    pub path: PathBuf,
    /// The image, open for reading.
    pub file: File,
    /// Size of the image file.
    pub file_len: u64,
    /// The partition holding the filesystem.
    pub partition: Partition,
    /// Size of the filesystem in bytes (it may be smaller than its
    /// partition).
    pub fs_size: u64,
    /// How a commit formats the new filesystem.
    pub options: Ext4Options,
    /// Block and inode counts of the filesystem a commit writes.
    pub space: Space,
}

impl Image {
    /// Opens the filesystem `spec` names and loads its tree (file data
    /// left in the image). Unless
    /// `read_only`, refuses filesystems a commit would change the nature of
    /// (ext2 and ext3: a commit writes ext4 with extents).
    pub fn open(spec: &ImageSpec, read_only: bool) -> Result<(Image, Tree)> {
        let path = std::fs::canonicalize(&spec.path).map_err(|e| Error::io(&spec.path, e))?;
        let spec = ImageSpec {
            path: path.clone(),
            partition: spec.partition,
        };
        let (file, partition) = spec.locate()?;
        let file_len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let reader_file = file.try_clone().map_err(|e| Error::io(&path, e))?;
        let reader = Ext4Reader::open(reader_file, partition.start, &path)?;
        let info = reader.info().clone();
        let has = |feature: &str| info.features.iter().any(|f| f == feature);
        if !read_only && !has("extent") {
            return Err(Error::ReadOnly {
                image: path,
                reason: "an ext2/ext3 filesystem (no extents) would be rewritten as ext4 on commit"
                    .into(),
            });
        }
        let tree = reader.read_tree()?;
        let mut hash_seed = [0u8; 16];
        file.read_exact_at(&mut hash_seed, partition.start + HASH_SEED_OFFSET)
            .map_err(|e| Error::io(&path, e))?;
        let fs_size = info.blocks_count * u64::from(info.block_size);
        let reserved_percent = (info.reserved_blocks * 100 + info.blocks_count / 2)
            .checked_div(info.blocks_count)
            .unwrap_or(0)
            .min(50) as u8;
        let options = Ext4Options {
            block_size: info.block_size,
            label: String::from_utf8_lossy(&info.label).into_owned(),
            uuid: Some(info.uuid),
            hash_seed: Some(hash_seed),
            timestamp: None,
            journal: has("has_journal"),
            // The inode count comes from min_inodes alone.
            inode_ratio: u64::MAX,
            reserved_percent,
            min_inodes: u64::from(info.inodes_count),
        };
        // Planning the content as loaded gives the free counts a commit
        // starts from, and shows early that a commit can hold it at all.
        let plan = Ext4Plan::new(&tree, fs_size, &options)?;
        let geometry = plan.geometry();
        let space = Space {
            block_size: geometry.block_size,
            blocks_count: geometry.blocks_count,
            reserved_blocks: geometry.blocks_count * u64::from(reserved_percent) / 100,
            free_blocks: plan.free_blocks(),
            inodes_count: u64::from(geometry.inodes_count()),
            free_inodes: u64::from(plan.free_inodes()),
        };
        drop(plan);
        let image = Image {
            path,
            file,
            file_len,
            partition,
            fs_size,
            options,
            space,
        };
        Ok((image, tree))
    }
}
