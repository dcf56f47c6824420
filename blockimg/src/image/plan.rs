//! Planning a disk: the layout, the filesystems (one ext4 root, or any
//! partitions' contents) and everything around them (tables, ESP, swap
//! headers) in an in-memory sparse disk.

use super::copy::PartitionCopy;
use super::planned::{DiskIds, PlacedFs};
use super::{DiskSize, ImageOptions, PlannedDisk};
use crate::disk::fat::{self, FatFormat};
use crate::disk::layout::{DiskLayout, PartitionRole, PartitionTable};
use crate::disk::{gpt, mbr, swap, SparseBytes};
use crate::error::{Error, Result};
use crate::ext4::{Ext4Options, Ext4Plan};
use crate::identity;
use crate::tree::{Timestamp, Tree};

/// What goes into one partition of a disk planned with
/// [`plan_partitions`].
///
/// # Examples
///
/// ```
/// use blockimg::disk::layout::{DiskLayout, PartitionRole, PartitionSpec};
/// use blockimg::image::{plan_partitions, PartitionContent, PartitionTable};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let specs = [
///     PartitionSpec::new(PartitionRole::Swap, Some(8 << 20)),
///     PartitionSpec::new(PartitionRole::Root, None),
/// ];
/// let layout = DiskLayout::plan(PartitionTable::Gpt, 64 << 20, &specs)?;
/// let contents = vec![
///     PartitionContent::Swap { uuid: [2; 16], label: "swap".into() },
///     PartitionContent::Ext4 { tree: &tree, options: Default::default() },
/// ];
/// let disk = plan_partitions(layout, contents)?;
/// assert_eq!(disk.summary().partitions.len(), 2);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub enum PartitionContent<'t> {
    /// An ext4 filesystem holding a tree.
    Ext4 {
        /// The files.
        tree: &'t Tree,
        /// How it is formatted.
        options: Ext4Options,
    },
    /// Linux swap space ([`swap::header`]).
    Swap {
        /// Its UUID, in text order.
        uuid: [u8; 16],
        /// Its label, at most 16 bytes.
        label: String,
    },
    /// FAT32, for the EFI system partition.
    Fat(FatFormat),
    /// A copy of the disk a host image describes (raw, VHD, VMDK or
    /// qcow2): a filesystem image made by another tool, say.
    Image(std::path::PathBuf),
    /// Nothing: the partition reads as zeros (a BIOS boot partition before
    /// GRUB is installed, raw space).
    Empty,
}

/// Plans a disk holding `tree`: its size, partitions and filesystem.
///
/// # Examples
///
/// ```
/// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
/// # use blockimg::tree::{Metadata, Timestamp, Tree};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
/// let disk = plan_disk(&tree, &options)?; // nothing written yet
/// assert_eq!(disk.summary().inodes_count - disk.summary().free_inodes, 11); // the reserved ones
/// # Ok(())
/// # }
/// ```
pub fn plan_disk<'t>(tree: &'t Tree, options: &ImageOptions) -> Result<PlannedDisk<'t>> {
    plan_disk_fitted(tree, options, &Ok)
}

/// [`plan_disk`] for a disk whose size `fit` may enlarge: it maps the size
/// asked for (or the one the tree needs) to the size of the disk the output
/// describes, e.g. a VHD's size rounded to its geometry, so that a GPT's
/// backup lands in that disk's last sectors.
///
/// # Examples
///
/// ```
/// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
/// # use blockimg::tree::{Metadata, Timestamp, Tree};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
/// use blockimg::image::plan_disk_fitted;
/// use blockimg::sink::{virtual_size, OutputFormat};
/// // A VHD rounds the disk up to its geometry: plan for the rounded size so a
/// // GPT's backup lands in the disk's last sector.
/// let gpt = options.size(DiskSize::Exact(100_000_000)).table(PartitionTable::Gpt);
/// let fit = |size| virtual_size(OutputFormat::Vhd, size, false);
/// let disk = plan_disk_fitted(&tree, &gpt, &fit)?;
/// assert_eq!(disk.disk_size(), virtual_size(OutputFormat::Vhd, 100_000_000, false)?);
/// assert!(disk.disk_size() > 100_000_000);
/// # Ok(())
/// # }
/// ```
pub fn plan_disk_fitted<'t>(
    tree: &'t Tree,
    options: &ImageOptions,
    fit: &dyn Fn(u64) -> Result<u64>,
) -> Result<PlannedDisk<'t>> {
    let mut ext4 = options.ext4.clone();
    let disk_size = match options.size {
        DiskSize::Exact(bytes) => bytes,
        DiskSize::Auto { headroom_percent } => {
            let (fs_size, inodes) = Ext4Plan::min_size(tree, &ext4, headroom_percent)?;
            ext4.min_inodes = ext4.min_inodes.max(inodes);
            DiskLayout::front_bytes(options.table, &options.boot_partitions)?
                + fs_size
                + DiskLayout::back_bytes(options.table)
        }
    };
    let layout = DiskLayout::new(options.table, &options.boot_partitions, fit(disk_size)?)?;
    let plan = Ext4Plan::new(tree, layout.root().size, &ext4)?;
    with_table(
        vec![(root_index(&layout), plan)],
        layout,
        &Extras::default(),
    )
}

/// Plans a disk laid out as `layout` with `contents[i]` in its partition
/// `i` (in table order): ext4 filesystems, swap, the ESP's FAT32. The
/// root's filesystem options decide the identifiers: derived from its UUID
/// when it has a timestamp (a reproducible build), random otherwise.
///
/// # Errors
///
/// [`Error::InvalidOption`] when `contents` does not match the partitions
/// (the root must be ext4, the ESP FAT32); whatever planning a filesystem
/// or writing a header refuses.
///
/// # Examples
///
/// ```
/// use blockimg::disk::layout::{DiskLayout, PartitionRole, PartitionSpec, PartitionTable};
/// use blockimg::ext4::Ext4Options;
/// use blockimg::image::{plan_partitions, PartitionContent};
/// use blockimg::sink::SparseFile;
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let time = Timestamp::from_secs(1_700_000_000);
/// let (root, data) = (Tree::new(Metadata::directory(time)), Tree::new(Metadata::directory(time)));
/// let ext4 = blockimg::ext4::Ext4Options::default().timestamp(Some(time));
/// let specs = [
///     PartitionSpec::new(PartitionRole::Root, Some(16 << 20)),
///     PartitionSpec::new(PartitionRole::Swap, Some(8 << 20)),
///     PartitionSpec::new(PartitionRole::Data, None),
/// ];
/// let layout = DiskLayout::plan(PartitionTable::Gpt, 64 << 20, &specs)?;
/// let disk = plan_partitions(layout, vec![
///     PartitionContent::Ext4 { tree: &root, options: ext4.clone() },
///     PartitionContent::Swap { uuid: [7; 16], label: "swap".into() },
///     PartitionContent::Ext4 { tree: &data, options: ext4.label("data".into()) },
/// ])?;
///
/// let dir = tempfile::tempdir()?;
/// let mut sink = SparseFile::create(&dir.path().join("disk.img"), false)?;
/// disk.write_to(&mut sink)?;
/// sink.finish(disk.disk_size())?;
/// assert_eq!(disk.summary().partitions.len(), 3);
/// # Ok(())
/// # }
/// ```
pub fn plan_partitions<'t>(
    layout: DiskLayout,
    contents: Vec<PartitionContent<'t>>,
) -> Result<PlannedDisk<'t>> {
    let mismatch = |reason: String| Error::InvalidOption {
        option: "partition contents".into(),
        reason,
    };
    if contents.len() != layout.partitions.len() {
        return Err(mismatch(format!(
            "{} contents for {} partitions",
            contents.len(),
            layout.partitions.len()
        )));
    }
    let mut plans = Vec::new();
    let mut extras = Extras::default();
    for (i, (p, content)) in layout.partitions.iter().zip(contents).enumerate() {
        let fits = matches!(
            (&content, p.role),
            (
                PartitionContent::Ext4 { .. },
                PartitionRole::Root | PartitionRole::Data
            ) | (PartitionContent::Swap { .. }, PartitionRole::Swap)
                | (PartitionContent::Fat(_), PartitionRole::Esp)
                | (
                    PartitionContent::Empty,
                    PartitionRole::BiosBoot | PartitionRole::Data
                )
                | (PartitionContent::Image(_), PartitionRole::Data)
        );
        if !fits {
            return Err(mismatch(format!(
                "partition {} ({}) cannot hold {content:?}",
                p.number,
                p.role.description()
            )));
        }
        match content {
            PartitionContent::Ext4 { tree, options } => {
                plans.push((i, Ext4Plan::new(tree, p.size, &options)?));
            }
            PartitionContent::Swap { uuid, label } => {
                extras
                    .swaps
                    .push((p.start, swap::header(p.size, &uuid, &label)?));
            }
            PartitionContent::Fat(format) => extras.esp = format,
            PartitionContent::Image(path) => {
                extras
                    .copies
                    .push(PartitionCopy::plan(&path, p.start, p.end())?)
            }
            PartitionContent::Empty => {}
        }
    }
    with_table(plans, layout, &extras)
}

/// Index of the root in `layout`'s partitions.
pub(super) fn root_index(layout: &DiskLayout) -> usize {
    layout
        .partitions
        .iter()
        .position(|p| p.role == PartitionRole::Root)
        .unwrap_or(0)
}

/// What goes into the partitions besides the filesystems, the tables and
/// the boot code.
#[derive(Default)]
pub(super) struct Extras {
    /// Swap headers: `(offset, page)`.
    pub(super) swaps: Vec<(u64, Vec<u8>)>,
    /// How the ESP, if there is one, is formatted.
    pub(super) esp: FatFormat,
    /// Host images copied into partitions.
    pub(super) copies: Vec<PartitionCopy>,
}

/// Puts the partition table, the boot partitions and the swap headers
/// (`around`) around the planned filesystems (`(partition index,
/// plan)`, the root among them). Identifiers are derived from the root
/// filesystem's UUID for reproducible builds (its options have a
/// timestamp), random otherwise.
pub(super) fn with_table<'t>(
    plans: Vec<(usize, Ext4Plan<'t>)>,
    layout: DiskLayout,
    extras: &Extras,
) -> Result<PlannedDisk<'t>> {
    let root_at = root_index(&layout);
    let mut filesystems: Vec<(usize, PlacedFs<'t>)> = plans
        .into_iter()
        .map(|(i, plan)| {
            let p = &layout.partitions[i];
            (
                i,
                PlacedFs {
                    start: p.start,
                    end: p.end(),
                    plan,
                },
            )
        })
        .collect();
    filesystems.sort_by_key(|(_, fs)| fs.start);
    let root = filesystems
        .iter()
        .position(|(i, _)| *i == root_at)
        .ok_or_else(|| Error::InvalidOption {
            option: "partition contents".into(),
            reason: "the root partition needs an ext4 filesystem".into(),
        })?;
    let filesystems: Vec<PlacedFs<'t>> = filesystems.into_iter().map(|(_, fs)| fs).collect();
    let fs_uuid = filesystems[root].plan.uuid();
    let timestamp = filesystems[root].plan.timestamp();
    let reproducible = timestamp.is_some();
    let id = |tag: &str, parts: &[&[u8]]| {
        let mut all: Vec<&[u8]> = vec![&fs_uuid];
        all.extend_from_slice(parts);
        identity::uuid_for(reproducible, tag, &all)
    };
    let mut around = SparseBytes::new(layout.disk_size);
    let mut ids = DiskIds {
        signature: None,
        disk_guid: None,
        partition_guids: Vec::new(),
    };
    match layout.table {
        PartitionTable::Mbr => {
            let signature = identity::id32(&id("blockimg disk signature", &[])?);
            let sector = mbr::mbr_sector(signature, &layout)?;
            around
                .write_at(0, &sector)
                .map_err(|e| Error::io("MBR", e))?;
            ids.signature = Some(signature);
        }
        PartitionTable::Gpt => {
            let disk_guid = id("blockimg gpt disk guid", &[])?;
            let partition_guids = layout
                .partitions
                .iter()
                .map(|p| match p.guid {
                    Some(guid) => Ok(guid),
                    None => id("blockimg gpt partition guid", &[&p.number.to_le_bytes()]),
                })
                .collect::<Result<Vec<_>>>()?;
            gpt::write_gpt(&mut around, &layout, disk_guid, &partition_guids)?;
            ids.disk_guid = Some(disk_guid);
            ids.partition_guids = partition_guids;
        }
        PartitionTable::None => {}
    }
    if let Some(esp) = layout.find(PartitionRole::Esp) {
        let volume_id = match extras.esp.volume_id {
            Some(given) => given,
            None => identity::id32(&id("blockimg esp volume id", &[])?),
        };
        let label = fat::volume_label(&extras.esp.label)?;
        fat::format(around.window(esp.start, esp.size), volume_id, label)?;
    }
    for (offset, page) in &extras.swaps {
        around
            .write_at(*offset, page)
            .map_err(|e| Error::io("swap header", e))?;
    }
    Ok(PlannedDisk {
        filesystems,
        root,
        layout,
        copies: extras.copies.clone(),
        around,
        ids,
        esp_time: timestamp.unwrap_or_else(Timestamp::now),
    })
}
