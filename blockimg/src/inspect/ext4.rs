//! The ext2/3/4 part of a report: what the superblock says, as
//! `dumpe2fs -h` reports it.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use super::Filesystem;
use crate::disk::gpt::guid_text;
use crate::disk_format::DiskBytes;
use crate::ext4::read::{Ext4Reader, FsInfo};

/// Features only ext4 has; a filesystem with none of them and a journal
/// is ext3, without a journal ext2 (as `blkid` tells them apart).
const EXT4_ONLY: [&str; 8] = [
    "extent",
    "flex_bg",
    "64bit",
    "huge_file",
    "metadata_csum",
    "dir_nlink",
    "extra_isize",
    "uninit_bg",
];

/// An ext2/3/4 filesystem.
///
/// # Examples
///
/// ```
/// use blockimg::inspect::{inspect, Filesystem};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"48M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[partition]]\nrole = \"esp\"\nsize = \"33M\"\n[partition.fat]\nlabel = \"EFI\"\nvolume_id = \"ABCD-1234\"\n\
/// #             [[partition]]\nrole = \"swap\"\nsize = \"4M\"\n[partition.swap]\nlabel = \"swap\"\n[[partition]]\nrole = \"root\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: GPT; an ESP labelled EFI, 4 MiB of swap, an ext4 root.
/// let report = inspect(&image)?;
/// let Some(Filesystem::Ext4(fs)) = &report.partitions[2].filesystem else { panic!("ext4") };
/// assert_eq!((fs.version.as_str(), fs.block_size), ("ext4", 4096));
/// assert_eq!(fs.used_blocks + fs.free_blocks, fs.blocks);
/// assert!(fs.features.iter().any(|f| f == "metadata_csum"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Ext4Report {
    /// `ext2`, `ext3` or `ext4`, from the features.
    pub version: String,
    /// The filesystem UUID.
    pub uuid: String,
    /// The volume label (lossily decoded).
    pub label: String,
    /// Block size in bytes.
    pub block_size: u32,
    /// Size of the filesystem in bytes (blocks times block size).
    pub size: u64,
    /// Blocks in the filesystem (`Block count`).
    pub blocks: u64,
    /// Free blocks, as the superblock records them (`Free blocks`).
    pub free_blocks: u64,
    /// Blocks in use: `blocks - free_blocks`.
    pub used_blocks: u64,
    /// Blocks reserved for the superuser (`Reserved block count`).
    pub reserved_blocks: u64,
    /// Inodes in the filesystem (`Inode count`).
    pub inodes: u32,
    /// Free inodes, as the superblock records them (`Free inodes`).
    pub free_inodes: u32,
    /// Inodes in use: `inodes - free_inodes`.
    pub used_inodes: u32,
    /// Bytes per inode (`Inode size`).
    pub inode_size: u16,
    /// Enabled features, named and ordered as `dumpe2fs` lists them.
    pub features: Vec<String>,
    /// What the journal held not yet applied (`needs_recovery`), replayed
    /// in memory for this report (the image is unchanged); absent when the
    /// journal held nothing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub journal_replayed: Option<String>,
}

impl Ext4Report {
    /// The report of the filesystem whose superblock says `info`.
    pub(crate) fn from_info(info: &FsInfo) -> Ext4Report {
        let version = if EXT4_ONLY.iter().any(|f| info.has_feature(f)) {
            "ext4"
        } else if info.has_feature("has_journal") {
            "ext3"
        } else {
            "ext2"
        };
        Ext4Report {
            version: version.into(),
            uuid: guid_text(&info.uuid).to_lowercase(),
            label: String::from_utf8_lossy(&info.label).into_owned(),
            block_size: info.block_size,
            size: info.blocks_count * u64::from(info.block_size),
            blocks: info.blocks_count,
            free_blocks: info.free_blocks,
            used_blocks: info.blocks_count.saturating_sub(info.free_blocks),
            reserved_blocks: info.reserved_blocks,
            inodes: info.inodes_count,
            free_inodes: info.free_inodes,
            used_inodes: info.inodes_count.saturating_sub(info.free_inodes),
            inode_size: info.inode_size,
            features: info.features.clone(),
            journal_replayed: None,
        }
    }
}

/// Reads the superblock of the filesystem at byte `offset`; one the reader
/// refuses is reported with the reason.
pub fn report(bytes: &DiskBytes, path: &Path, offset: u64) -> Filesystem {
    match Ext4Reader::open_bytes(Arc::clone(bytes), offset, path) {
        Ok(reader) => Filesystem::Ext4(Ext4Report {
            journal_replayed: reader.replayed().map(|r| r.to_string()),
            ..Ext4Report::from_info(reader.info())
        }),
        Err(e) => Filesystem::Unreadable {
            kind: "ext4".into(),
            error: e.to_string(),
        },
    }
}
