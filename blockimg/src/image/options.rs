//! What decides a disk (size, table, boot partitions, filesystem options)
//! and what describes one once planned (its partitions and figures).

use super::PartitionRole;
use crate::disk::layout::{BootPartitions, PartitionTable};
use crate::ext4::Ext4Options;

/// How large the disk is.
///
/// # Examples
///
/// ```
/// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
/// # use blockimg::tree::{Metadata, Timestamp, Tree};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
/// // The smallest disk that holds the tree, with 50% to spare.
/// let auto = options.clone().size(DiskSize::Auto { headroom_percent: 50 });
/// assert!(plan_disk(&tree, &auto)?.disk_size() < 64 << 20);
/// assert_eq!(plan_disk(&tree, &options)?.disk_size(), 64 << 20);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskSize {
    /// Exactly this many bytes (rounded down to whole sectors).
    Exact(u64),
    /// The smallest disk that holds the tree, plus this much free space in
    /// percent of the tree's size.
    Auto {
        /// Extra free space as a percentage of what the tree needs.
        headroom_percent: u32,
    },
}

/// Everything that decides what `build_image` writes.
///
/// # Examples
///
/// ```
/// use blockimg::image::{plan_disk, BootPartitions, DiskSize, ImageOptions, PartitionTable};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let options = ImageOptions::default().size(DiskSize::Exact(128 << 20)).table(PartitionTable::Gpt).boot_partitions(BootPartitions { esp: Some(40 << 20), bios_boot: Some(1 << 20) }).ext4(blockimg::ext4::Ext4Options::default().label("root".into())).overwrite(false);
/// assert_eq!(plan_disk(&tree, &options)?.summary().partitions.len(), 3);
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct ImageOptions {
    /// Disk size.
    pub size: DiskSize,
    /// Partition table.
    pub table: PartitionTable,
    /// The ESP and BIOS boot partition in front of the root filesystem.
    pub boot_partitions: BootPartitions,
    /// Filesystem options.
    pub ext4: Ext4Options,
    /// Replace an existing output file.
    pub overwrite: bool,
}

setters!(ImageOptions at "blockimg::image::ImageOptions" {
    size: DiskSize,
    table: PartitionTable,
    boot_partitions: BootPartitions,
    ext4: Ext4Options,
    overwrite: bool,
});

impl Default for ImageOptions {
    /// The smallest MBR disk that holds the tree with 20% to spare, ext4's
    /// defaults, no boot partitions, an existing output left alone.
    fn default() -> ImageOptions {
        ImageOptions {
            size: DiskSize::Auto {
                headroom_percent: 20,
            },
            table: PartitionTable::Mbr,
            boot_partitions: BootPartitions::default(),
            ext4: Ext4Options::default(),
            overwrite: false,
        }
    }
}

/// One partition of a written disk.
///
/// # Examples
///
/// ```
/// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
/// # use blockimg::tree::{Metadata, Timestamp, Tree};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
/// let summary = plan_disk(&tree, &options)?.summary();
/// let root = summary.partitions.last().ok_or("no partition")?;
/// assert_eq!((root.number, root.start), (1, 1 << 20));
/// // root=PARTUUID=... on the kernel command line finds it.
/// assert_eq!(root.partuuid, format!("{:08x}-01", summary.disk_signature.ok_or("no signature")?));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSummary {
    /// What it holds.
    pub role: PartitionRole,
    /// Number in the table, from 1.
    pub number: u32,
    /// Byte offset.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
    /// The PARTUUID Linux sees: `SIGNATURE-NN` on an MBR disk, the
    /// partition's unique GUID on a GPT disk.
    pub partuuid: String,
}

/// What `build_image` wrote.
///
/// # Examples
///
/// ```
/// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
/// # use blockimg::tree::{Metadata, Timestamp, Tree};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
/// let summary = plan_disk(&tree, &options)?.summary();
/// assert_eq!((summary.disk_size, summary.partition_offset), (64 << 20, 1 << 20));
/// assert_eq!(summary.partition_size, 63 << 20);
/// assert!(summary.free_blocks > 0 && summary.free_inodes > 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ImageSummary {
    /// Size of the disk image in bytes.
    pub disk_size: u64,
    /// The partition table.
    pub table: PartitionTable,
    /// MBR disk signature, on an MBR disk.
    pub disk_signature: Option<u32>,
    /// Disk GUID, on a GPT disk.
    pub disk_guid: Option<[u8; 16]>,
    /// The partitions in table order, the root last (none without a table).
    pub partitions: Vec<PartitionSummary>,
    /// Byte offset of the filesystem within the image.
    pub partition_offset: u64,
    /// Size of the root partition in bytes.
    pub partition_size: u64,
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Filesystem block size in bytes.
    pub block_size: u32,
    /// Blocks in the filesystem.
    pub blocks_count: u64,
    /// Free blocks.
    pub free_blocks: u64,
    /// Inodes in the filesystem.
    pub inodes_count: u32,
    /// Free inodes.
    pub free_inodes: u32,
}
