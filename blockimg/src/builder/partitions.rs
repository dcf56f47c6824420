//! A disk described partition by partition ([`DiskBuilder::partitions`]):
//! what each partition holds, and laying them out with the sizes that
//! fit their contents.
//!
//! [`DiskBuilder::partitions`]: super::DiskBuilder::partitions

use std::path::PathBuf;

use crate::disk::fat::FatFormat;
use crate::disk::layout::{DiskLayout, PartitionRole, PartitionSpec, PartitionTable, ALIGN};
use crate::error::{PartitionError, Result};
use crate::ext4::{Ext4Options, Ext4Plan};
use crate::image::copy::image_size;
use crate::image::{DiskSize, PartitionContent};
use crate::tree::Tree;

/// One partition of a disk whose partitions are listed
/// ([`DiskBuilder::partitions`](super::DiskBuilder::partitions)).
///
/// # Examples
///
/// ```
/// use blockimg::{Partition, PartitionFill};
/// use blockimg::disk::layout::{PartitionRole, PartitionSpec};
///
/// let swap = Partition::new(
///     PartitionSpec::new(PartitionRole::Swap, Some(64 << 20)),
///     PartitionFill::Swap { uuid: [7; 16], label: "swap".into() },
/// );
/// let root = Partition::new(PartitionSpec::new(PartitionRole::Root, None), PartitionFill::Root)
///     .fit(20); // as small as the tree allows, with 20% to spare
/// assert_eq!(root.fit, Some(20));
/// assert_eq!(swap.spec.size, Some(64 << 20));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Partition {
    /// Its role, start, size (`None`: the rest of the disk), name, type
    /// and GUID.
    pub spec: PartitionSpec,
    /// When set, the partition is sized to its contents, replacing
    /// `spec.size`: an ext4 filesystem holds its tree with this percentage
    /// to spare, a host image gets its own size.
    pub fit: Option<u32>,
    /// What it holds.
    pub fill: PartitionFill,
}

impl Partition {
    /// A partition placed and sized as `spec` says, holding `fill`.
    pub fn new(spec: PartitionSpec, fill: PartitionFill) -> Partition {
        Partition {
            spec,
            fit: None,
            fill,
        }
    }

    /// Sizes the partition to its contents with `headroom_percent` to
    /// spare.
    pub fn fit(mut self, headroom_percent: u32) -> Partition {
        self.fit = Some(headroom_percent);
        self
    }
}

/// What a listed [`Partition`] holds.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub enum PartitionFill {
    /// The root filesystem: the builder's source, formatted with its ext4
    /// options.
    Root,
    /// Another ext4 filesystem.
    Ext4 {
        /// Its files.
        tree: Tree,
        /// How it is formatted.
        options: Ext4Options,
    },
    /// Linux swap space.
    Swap {
        /// Its UUID, in text order.
        uuid: [u8; 16],
        /// Its label, at most 16 bytes.
        label: String,
    },
    /// The EFI system partition's FAT32.
    Esp(FatFormat),
    /// A copy of the disk a host image (raw, VHD, VMDK, qcow2) describes.
    Image(PathBuf),
    /// Nothing: zeros (a BIOS boot partition before GRUB is installed, raw
    /// space).
    Empty,
}

/// The partitions a disk described by its boot partitions and root gets:
/// a BIOS boot partition, an ESP, the root filling the rest.
pub(super) fn default_partitions(specs: Vec<PartitionSpec>) -> Vec<Partition> {
    specs
        .into_iter()
        .map(|spec| {
            let fill = match spec.role {
                PartitionRole::Esp => PartitionFill::Esp(FatFormat::default()),
                PartitionRole::Root => PartitionFill::Root,
                _ => PartitionFill::Empty,
            };
            Partition::new(spec, fill)
        })
        .collect()
}

/// Lays out listed partitions on a disk of `size`: partitions sized to
/// their contents (ext4 filesystems' inode counts raised to what their
/// trees need), an `auto` disk sized to hold the root, then every host
/// image checked to fit its partition. `fit` maps the disk's size to the
/// size of the disk the outputs describe.
pub(super) fn lay_out(
    table: PartitionTable,
    size: DiskSize,
    partitions: &mut [Partition],
    root: &Tree,
    root_ext4: &mut Ext4Options,
    fit: &dyn Fn(u64) -> Result<u64>,
) -> Result<DiskLayout> {
    let mut specs = Vec::new();
    let mut images = Vec::new();
    let mut root_min = 0;
    for (i, p) in partitions.iter_mut().enumerate() {
        let mut spec = p.spec.clone();
        let disk_headroom = match (&p.fill, size) {
            (PartitionFill::Root, DiskSize::Auto { headroom_percent }) => Some(headroom_percent),
            _ => None,
        };
        let filesystem = match &mut p.fill {
            PartitionFill::Root => Some((root, &mut *root_ext4)),
            PartitionFill::Ext4 { tree, options } => Some((&*tree, options)),
            _ => None,
        };
        if let (Some((tree, options)), Some(headroom)) = (filesystem, p.fit.or(disk_headroom)) {
            let (bytes, inodes) = Ext4Plan::min_size(tree, options, headroom)?;
            options.min_inodes = options.min_inodes.max(inodes);
            if p.fit.is_some() {
                spec.size = Some(bytes.next_multiple_of(ALIGN));
            } else {
                root_min = bytes.next_multiple_of(ALIGN);
            }
        }
        if let PartitionFill::Image(image) = &p.fill {
            let bytes = image_size(image)?;
            if p.fit.is_some() {
                spec.size = Some(bytes.next_multiple_of(ALIGN));
            }
            images.push((i, image.clone(), bytes));
        }
        specs.push(spec);
    }
    let disk_size = match size {
        DiskSize::Exact(bytes) => bytes,
        DiskSize::Auto { .. } => {
            let root_last = partitions
                .last()
                .is_some_and(|p| matches!(p.fill, PartitionFill::Root));
            DiskLayout::fixed_bytes(table, &specs) + root_min + if root_last { 0 } else { ALIGN }
        }
    };
    let layout = DiskLayout::plan(table, fit(disk_size)?, &specs)?;
    for (i, image, bytes) in images {
        let room = layout.partitions.get(i).map_or(0, |p| p.size);
        if bytes > room {
            return Err(PartitionError::Placement {
                number: i as u32 + 1,
                role: specs.get(i).map_or(PartitionRole::Data, |s| s.role),
                field: "source",
                reason: format!(
                    "{} holds a disk of {bytes} bytes, more than the partition's {room} bytes",
                    image.display()
                ),
            }
            .into());
        }
    }
    Ok(layout)
}

/// What planning puts into each partition, the root holding `root`.
pub(super) fn contents<'t>(
    partitions: &'t [Partition],
    root: &'t Tree,
    root_ext4: &Ext4Options,
) -> Vec<PartitionContent<'t>> {
    partitions
        .iter()
        .map(|p| match &p.fill {
            PartitionFill::Root => PartitionContent::Ext4 {
                tree: root,
                options: root_ext4.clone(),
            },
            PartitionFill::Ext4 { tree, options } => PartitionContent::Ext4 {
                tree,
                options: options.clone(),
            },
            PartitionFill::Swap { uuid, label } => PartitionContent::Swap {
                uuid: *uuid,
                label: label.clone(),
            },
            PartitionFill::Esp(format) => PartitionContent::Fat(format.clone()),
            PartitionFill::Image(path) => PartitionContent::Image(path.clone()),
            PartitionFill::Empty => PartitionContent::Empty,
        })
        .collect()
}
