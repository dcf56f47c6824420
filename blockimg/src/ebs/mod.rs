//! EBS snapshots written through the EBS direct APIs, and machine images
//! registered from them.
//!
//! A disk goes into a snapshot 512 KiB block by block (StartSnapshot,
//! PutSnapshotBlock with each block's base64 SHA-256, CompleteSnapshot
//! with the count of blocks and the aggregate of their checksums). Only
//! blocks that hold data are sent: a disk being built hands the
//! [`SnapshotWriter`] nothing but the ranges its plan fills, and an image
//! uploaded with [`upload_image`] is read only where its format says data
//! may be; blocks of zeros are never sent to a new snapshot. With a parent
//! snapshot and its [`Manifest`], only the blocks that differ from the
//! parent are sent.
//!
//! This module's data types (options, the manifest, block checksums) are
//! always built; the calls to AWS ([`Ebs`], [`SnapshotWriter`],
//! [`upload_image`], [`register_image`]) need the `ebs` feature, which
//! brings the AWS SDK for Rust (credentials and region from the standard
//! chain; `AWS_ENDPOINT_URL` is honoured).

mod blocks;
mod manifest;
// Public for the fuzz targets: the XML of EC2's answers.
#[doc(hidden)]
pub mod query;
pub(crate) mod volume;

#[cfg(feature = "ebs")]
mod aws;

#[cfg(feature = "ebs")]
pub use aws::{register_image, upload_image, Ebs, SnapshotWriter};
#[cfg(feature = "ebs")]
pub(crate) use blocks::BlockAssembler;
pub use blocks::{aggregate_hash, block_hash, BlockHash, BLOCK_SIZE};
pub use manifest::Manifest;
pub use volume::{volume_gib, GIB, MAX_VOLUME_GIB};

use std::path::PathBuf;

use crate::boot::BootMode;
use crate::error::{Error, Result};

/// How a snapshot is made.
///
/// # Examples
///
/// ```
/// use blockimg::ebs::SnapshotOptions;
///
/// # fn main() -> blockimg::Result<()> {
/// let options = SnapshotOptions::default()
///     .description(Some("LFS root".into()))
///     .tags(vec![blockimg::ebs::parse_tag("Name=lfs")?])
///     .manifest(Some("lfs.blocks".into()));
/// assert_eq!(options.tags[0], ("Name".to_string(), "lfs".to_string()));
/// assert_eq!(options.concurrency, 16);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotOptions {
    /// The snapshot's description.
    pub description: Option<String>,
    /// Tags of the snapshot, as (key, value).
    pub tags: Vec<(String, String)>,
    /// The parent snapshot, with the hashes of its blocks: the new
    /// snapshot starts as a copy of it and only the blocks that differ are
    /// sent.
    pub parent: Option<Manifest>,
    /// Where to write the manifest of the new snapshot, for the next
    /// incremental upload.
    pub manifest: Option<PathBuf>,
    /// Blocks in flight at once (each holds 512 KiB of memory).
    pub concurrency: usize,
    /// Attempts each call gets while its errors are worth retrying
    /// (throttling, server errors, dropped connections).
    pub attempts: u32,
}

impl Default for SnapshotOptions {
    fn default() -> SnapshotOptions {
        SnapshotOptions {
            description: None,
            tags: Vec::new(),
            parent: None,
            manifest: None,
            concurrency: 16,
            attempts: 8,
        }
    }
}

setters! {
    SnapshotOptions at "blockimg::ebs::SnapshotOptions" {
        description: Option<String>,
        tags: Vec<(String, String)>,
        parent: Option<Manifest>,
        manifest: Option<PathBuf>,
        concurrency: usize,
        attempts: u32,
    }
}

/// `KEY=VALUE` as a tag.
///
/// # Examples
///
/// ```
/// use blockimg::ebs::parse_tag;
///
/// assert_eq!(parse_tag("Name=lfs=1").unwrap(), ("Name".into(), "lfs=1".into()));
/// assert!(parse_tag("Name").is_err());
/// ```
pub fn parse_tag(text: &str) -> Result<(String, String)> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_string(), value.to_string())),
        _ => Err(Error::InvalidOption {
            option: "tag".into(),
            reason: format!("{text:?} is not KEY=VALUE"),
        }),
    }
}

/// What a snapshot upload made.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The snapshot's id (`snap-...`), completed.
    pub id: String,
    /// Size of its volume in GiB.
    pub volume_gib: u64,
    /// Blocks sent.
    pub blocks_sent: u64,
    /// Bytes sent in those blocks.
    pub bytes_sent: u64,
    /// Blocks holding data that the parent snapshot already had.
    pub blocks_unchanged: u64,
    /// The blocks of the new snapshot that hold data, with their hashes.
    pub manifest: Manifest,
}

/// A machine image registered from a snapshot.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    /// Its id (`ami-...`), available.
    pub id: String,
    /// Its name.
    pub name: String,
}

/// The boot mode a machine image is registered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmiBootMode {
    /// BIOS.
    LegacyBios,
    /// UEFI.
    Uefi,
    /// UEFI where the instance type has it, BIOS elsewhere: a disk with
    /// both boot loaders.
    UefiPreferred,
}

impl AmiBootMode {
    /// The boot mode that matches a disk built with `mode`; `None` for a
    /// disk without a boot loader.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::boot::BootMode;
    /// use blockimg::ebs::AmiBootMode;
    ///
    /// assert_eq!(AmiBootMode::of_disk(BootMode::Hybrid), Some(AmiBootMode::UefiPreferred));
    /// assert_eq!(AmiBootMode::of_disk(BootMode::None), None);
    /// assert_eq!(AmiBootMode::UefiPreferred.name(), "uefi-preferred");
    /// ```
    pub fn of_disk(mode: BootMode) -> Option<AmiBootMode> {
        match mode {
            BootMode::None => None,
            BootMode::Bios => Some(AmiBootMode::LegacyBios),
            BootMode::Uefi => Some(AmiBootMode::Uefi),
            BootMode::Hybrid => Some(AmiBootMode::UefiPreferred),
        }
    }

    /// The name EC2 gives it.
    pub fn name(self) -> &'static str {
        match self {
            AmiBootMode::LegacyBios => "legacy-bios",
            AmiBootMode::Uefi => "uefi",
            AmiBootMode::UefiPreferred => "uefi-preferred",
        }
    }
}

/// How a machine image is registered from a snapshot.
///
/// # Examples
///
/// ```
/// use blockimg::ebs::{AmiBootMode, RegisterOptions};
///
/// let options = RegisterOptions::new("lfs-2024", AmiBootMode::UefiPreferred);
/// assert_eq!(options.architecture, "x86_64");
/// assert_eq!(options.root_device, "/dev/xvda");
/// assert!(options.ena);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterOptions {
    /// The image's name (unique in the account and region).
    pub name: String,
    /// Its description.
    pub description: Option<String>,
    /// `x86_64` or `arm64`.
    pub architecture: String,
    /// The boot mode.
    pub boot_mode: AmiBootMode,
    /// ENA networking.
    pub ena: bool,
    /// The root device's name, which the block device mapping uses.
    pub root_device: String,
    /// Tags of the image, as (key, value).
    pub tags: Vec<(String, String)>,
}

impl RegisterOptions {
    /// An x86_64 image named `name` with ENA, its root on `/dev/xvda`.
    pub fn new(name: &str, boot_mode: AmiBootMode) -> RegisterOptions {
        RegisterOptions {
            name: name.to_string(),
            description: None,
            architecture: "x86_64".into(),
            boot_mode,
            ena: true,
            root_device: "/dev/xvda".into(),
            tags: Vec::new(),
        }
    }
}
