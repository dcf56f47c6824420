//! The front door: one description of a disk (what fills the root, the
//! partition table, the filesystem, the boot loader) and one call that
//! writes it to an output, reporting progress and warnings to the caller.
//! `blockimg mkdisk` is this module with a command line around it.
//!
//! An archive source becoming a raw file or block device of known size is
//! read once, its data written into the image as it streams past; every
//! other combination loads the tree first, plans the whole disk, then
//! writes it in ascending offset order.

mod output;
mod source;

use std::io::Read;
use std::path::Path;

use crate::boot::{self, BootMode, BootOptions};
use crate::error::{Error, Result};
use crate::ext4::Ext4Options;
use crate::image::{
    plan_disk_fitted, stream_archive_into, BootPartitions, DiskSize, ImageOptions, ImageSummary,
    PartitionTable, PlannedDisk, StreamSteps,
};
use crate::report::{Observer, Warning};
use crate::sink::{virtual_size, OutputFormat, SparseFile};
use crate::source::root::{RootSource, TreeAdjust};
use crate::source::tar::OutsideRoot;
use crate::tree::{Timestamp, Tree};
pub(crate) use output::write_outputs;
pub use output::Output;
use output::{device_sink, OutputTarget};
use source::load;
pub use source::Source;

/// What [`DiskBuilder::write`] made.
#[non_exhaustive]
#[derive(Clone, Debug)]
pub struct Built {
    /// The disk: table, partitions, filesystem figures.
    pub summary: ImageSummary,
    /// Files, directories and other nodes in the root filesystem.
    pub nodes: usize,
    /// The output's format.
    pub format: OutputFormat,
    /// Size of the disk the output presents (a VHD may round it up).
    pub virtual_size: u64,
    /// Bytes of the output file or stream; `None` for a block device.
    pub output_bytes: Option<u64>,
}

/// A disk to build: the root's source, the partition table, the ext4
/// options, the boot loader. Every setting has a default; the smallest
/// description is a source and a size.
///
/// # Examples
///
/// ```
/// use blockimg::image::DiskSize;
/// use blockimg::{DiskBuilder, Output, Silent, Source};
///
/// # fn main() -> blockimg::Result<()> {
/// # let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
/// # let out = dir.path().join("disk.img");
/// let built = DiskBuilder::new(Source::Empty)
///     .size(DiskSize::Exact(64 << 20))
///     .timestamp(Some(1_700_000_000)) // reproducible: same input, same bytes
///     .write(Output::file(&out), &mut Silent)?;
/// assert_eq!(built.summary.partition_offset, 1 << 20);
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct DiskBuilder {
    source: Source,
    size: DiskSize,
    table: PartitionTable,
    ext4: Ext4Options,
    adjust: TreeAdjust,
    outside: OutsideRoot,
    timestamp: Option<i64>,
    boot: BootMode,
    boot_options: BootOptions,
    esp_size: u64,
    bios_boot_size: u64,
    uuid_seed: Vec<Vec<u8>>,
}

impl DiskBuilder {
    /// A disk whose root filesystem `source` fills: by default the
    /// smallest MBR disk that holds it with 20% to spare, ext4 as mke2fs
    /// makes it, not bootable, stamped with the current time.
    pub fn new(source: Source) -> DiskBuilder {
        DiskBuilder {
            source,
            size: DiskSize::Auto {
                headroom_percent: 20,
            },
            table: PartitionTable::Mbr,
            ext4: Ext4Options::default(),
            adjust: TreeAdjust::default(),
            outside: OutsideRoot::Refuse,
            timestamp: None,
            boot: BootMode::None,
            boot_options: BootOptions::default(),
            esp_size: 64 << 20,
            bios_boot_size: 1 << 20,
            uuid_seed: Vec::new(),
        }
    }

    /// The disk's size.
    pub fn size(mut self, size: DiskSize) -> DiskBuilder {
        self.size = size;
        self
    }

    /// The partition table: the root partition after the boot partitions
    /// the boot loader needs.
    pub fn table(mut self, table: PartitionTable) -> DiskBuilder {
        self.table = table;
        self
    }

    /// How the root filesystem is formatted.
    pub fn ext4(mut self, ext4: Ext4Options) -> DiskBuilder {
        self.ext4 = ext4;
        self
    }

    /// Changes made to the tree after it is read: owners, id maps, the
    /// base layout, manifests.
    pub fn adjust(mut self, adjust: TreeAdjust) -> DiskBuilder {
        self.adjust = adjust;
        self
    }

    /// What happens to archive members whose path leaves the root
    /// (default: the archive is refused).
    pub fn outside_root(mut self, outside: OutsideRoot) -> DiskBuilder {
        self.outside = outside;
        self
    }

    /// The time recorded in the image, in seconds since the epoch: newer
    /// file times are clamped to it and identifiers derived from it, so
    /// the same input gives the same bytes. `None`: now, and random
    /// identifiers.
    pub fn timestamp(mut self, timestamp: Option<i64>) -> DiskBuilder {
        self.timestamp = timestamp;
        self
    }

    /// GRUB for BIOS, UEFI or both, booting the kernel `options` name.
    pub fn boot(mut self, mode: BootMode, options: BootOptions) -> DiskBuilder {
        self.boot = mode;
        self.boot_options = options;
        self
    }

    /// Size of the EFI system partition a UEFI boot loader gets (default
    /// 64 MiB).
    pub fn esp_size(mut self, bytes: u64) -> DiskBuilder {
        self.esp_size = bytes;
        self
    }

    /// Size of the BIOS boot partition of a GPT disk booted by BIOS
    /// (default 1 MiB).
    pub fn bios_boot_size(mut self, bytes: u64) -> DiskBuilder {
        self.bios_boot_size = bytes;
        self
    }

    /// What a bootable disk's filesystem UUID is derived from under a
    /// fixed timestamp when [`Ext4Options::uuid`] is not given (the menu
    /// names the UUID, so it is chosen before planning): two disks built
    /// at the same time with different seeds get different UUIDs.
    pub fn uuid_seed(mut self, parts: &[&[u8]]) -> DiskBuilder {
        self.uuid_seed = parts.iter().map(|p| p.to_vec()).collect();
        self
    }

    /// Builds the disk into `output`, reporting progress and warnings to
    /// `observer`. On error, no output file is left behind and an existing
    /// one is untouched.
    pub fn write(self, output: Output, observer: &mut dyn Observer) -> Result<Built> {
        let timestamp = self.timestamp;
        let mode = self.boot;
        let mut ext4 = self.ext4.clone();
        if mode != BootMode::None && ext4.uuid.is_none() {
            let parts: Vec<&[u8]> = self.uuid_seed.iter().map(Vec::as_slice).collect();
            ext4.uuid = Some(boot::root_uuid(timestamp, &parts)?);
        }
        if ext4.timestamp.is_none() {
            ext4.timestamp = timestamp.map(Timestamp::from_secs);
        }
        let options = ImageOptions {
            size: self.size,
            table: self.table,
            boot_partitions: BootPartitions {
                esp: mode.uefi().then_some(self.esp_size),
                bios_boot: (mode.bios() && self.table == PartitionTable::Gpt)
                    .then_some(self.bios_boot_size),
            },
            ext4,
            overwrite: output.overwrite,
        };
        let destination = output.destination();
        let format = OutputFormat::resolve(output.format, &destination)?;
        let device = output.device().map(Path::to_path_buf);
        if device.is_some() && format != OutputFormat::Raw {
            return Err(Error::InvalidOption {
                option: "format".into(),
                reason: format!("a block device takes the raw disk, not {}", format.name()),
            });
        }
        let steps = Steps {
            adjust: &self.adjust,
            timestamp,
            mode,
            boot: &self.boot_options,
            uuid: options.ext4.uuid,
        };
        // An archive becoming a raw file or device of known size is read once.
        let streamable = matches!(self.size, DiskSize::Exact(_))
            && format == OutputFormat::Raw
            && matches!(output.target, OutputTarget::Path(_));
        let source = match (streamable, self.source) {
            (true, Source::Archive(path)) => {
                let input = RootSource::open_archive(&path)?;
                let name = path.display().to_string();
                return stream(
                    input,
                    &name,
                    &options,
                    self.outside,
                    &steps,
                    &output,
                    observer,
                );
            }
            (true, Source::Reader { reader, name }) => {
                return stream(
                    reader,
                    &name,
                    &options,
                    self.outside,
                    &steps,
                    &output,
                    observer,
                );
            }
            (_, source) => source,
        };
        let mut tree = load(source, timestamp, self.outside, observer)?;
        steps.adjust_tree(&mut tree, observer)?;
        // A GPT's backup belongs in the last sectors of the disk the output
        // describes, which a VHD may round up.
        let fit = |size| match options.table {
            PartitionTable::Gpt => virtual_size(format, size, output.azure),
            PartitionTable::Mbr | PartitionTable::None => Ok(size),
        };
        let mut disk = plan_disk_fitted(&tree, &options, &fit)?;
        boot::install(&mut disk, mode, &self.boot_options)?;
        let summary = disk.summary();
        let nodes = tree.len();
        if let Some(device) = device {
            let mut sink = device_sink(&device, disk.disk_size(), &output)?;
            disk.write_observed(&mut sink, observer)?;
            sink.finish(disk.disk_size())?;
            return Ok(Built {
                virtual_size: summary.disk_size,
                summary,
                nodes,
                format,
                output_bytes: None,
            });
        }
        let written = write_outputs(&disk, vec![output], timestamp, observer)?;
        let bytes = written.first().map(|w| w.bytes);
        Ok(Built {
            summary,
            nodes,
            format,
            virtual_size: written.first().map_or(disk.disk_size(), |w| w.virtual_size),
            output_bytes: bytes,
        })
    }
}

/// What happens to the tree once it is read, and the boot loader that
/// goes onto the planned disk.
struct Steps<'a> {
    adjust: &'a TreeAdjust,
    timestamp: Option<i64>,
    mode: BootMode,
    boot: &'a BootOptions,
    /// The root filesystem's UUID, when chosen before planning.
    uuid: Option<[u8; 16]>,
}

impl Steps<'_> {
    /// Applies the adjustments, then puts the kernel, initrd and boot menu
    /// into the tree when a boot loader is asked for.
    fn adjust_tree(&self, tree: &mut Tree, observer: &mut dyn Observer) -> Result<()> {
        self.adjust.apply(tree, self.timestamp)?;
        match self.uuid {
            Some(uuid) if self.mode != BootMode::None => {
                if self.boot.kernel.is_none() && boot::menu_entries(tree).is_empty() {
                    observer.warn(Warning::NoKernel);
                }
                boot::add_boot_files(tree, self.boot, &uuid)
            }
            _ => Ok(()),
        }
    }

    fn install(&self, disk: &mut PlannedDisk<'_>) -> Result<()> {
        boot::install(disk, self.mode, self.boot)
    }
}

/// Streams an archive into a raw file or block device in one pass.
fn stream(
    input: Box<dyn Read + Send>,
    name: &str,
    options: &ImageOptions,
    outside: OutsideRoot,
    steps: &Steps<'_>,
    output: &Output,
    observer: &mut dyn Observer,
) -> Result<Built> {
    let DiskSize::Exact(bytes) = options.size else {
        return Err(Error::InvalidOption {
            option: "size".into(),
            reason: "a streamed archive needs an exact disk size".into(),
        });
    };
    let OutputTarget::Path(path) = &output.target else {
        return Err(Error::InvalidOption {
            option: "output".into(),
            reason: "a streamed archive goes to a file or a block device".into(),
        });
    };
    let device = output.device();
    let sink = match device {
        Some(device) => device_sink(device, bytes / 512 * 512, output)?,
        None => SparseFile::create(path, output.overwrite)?,
    };
    let stream_steps = StreamSteps {
        adjust: |tree: &mut Tree, observer: &mut dyn Observer| steps.adjust_tree(tree, observer),
        prepare: |disk: &mut PlannedDisk<'_>| steps.install(disk),
    };
    let (summary, nodes) =
        stream_archive_into(input, name, options, outside, stream_steps, sink, observer)?;
    Ok(Built {
        virtual_size: summary.disk_size,
        output_bytes: device.is_none().then_some(summary.disk_size),
        summary,
        nodes,
        format: OutputFormat::Raw,
    })
}
