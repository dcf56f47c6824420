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
mod partitions;
mod prepared;
mod source;

use std::io::Read;

use crate::arch::Arch;
use crate::boot::{self, BootMode, BootOptions};
use crate::disk::layout::DiskLayout;
use crate::error::{Error, Result};
use crate::ext4::{Ext4Options, Ext4Plan};
use crate::image::{
    stream_archive_into, BootPartitions, DiskSize, ImageOptions, ImageSummary, PartitionTable,
    PlannedDisk, StreamSteps,
};
use crate::report::{Observer, Warning};
use crate::sink::{virtual_size, OutputFormat, SparseFile};
use crate::source::root::{RootSource, TreeAdjust};
use crate::source::tar::OutsideRoot;
use crate::tree::{Timestamp, Tree};
pub use output::Output;
use output::{device_sink, OutputTarget};
use partitions::default_partitions;
pub use partitions::{Partition, PartitionFill};
pub use prepared::PreparedDisk;
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
    /// Bytes of the output file or stream, or sent into a snapshot;
    /// `None` for a block device.
    pub output_bytes: Option<u64>,
    /// The snapshot an [`Output::snapshot`] made.
    pub snapshot: Option<crate::ebs::Snapshot>,
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
    arch: Arch,
    esp_size: u64,
    bios_boot_size: u64,
    uuid_seed: Vec<Vec<u8>>,
    partitions: Option<Vec<Partition>>,
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
            arch: Arch::default(),
            esp_size: 64 << 20,
            bios_boot_size: 1 << 20,
            uuid_seed: Vec::new(),
            partitions: None,
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

    /// The architecture the disk boots on (default x86-64): an arm64 disk
    /// gets GRUB's `arm64-efi` as `/EFI/BOOT/BOOTAA64.EFI` and the `ttyAMA0`
    /// console unless [`BootOptions::consoles`] says otherwise, and boots
    /// by UEFI only (BIOS and hybrid are refused before anything is read).
    /// It replaces the [`BootOptions::arch`] given to [`DiskBuilder::boot`].
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::arch::Arch;
    /// use blockimg::boot::{BootMode, BootOptions};
    /// use blockimg::image::DiskSize;
    /// use blockimg::{DiskBuilder, Output, Silent, Source};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
    /// let refused = DiskBuilder::new(Source::Empty)
    ///     .size(DiskSize::Exact(128 << 20))
    ///     .arch(Arch::Arm64)
    ///     .boot(BootMode::Bios, BootOptions::default())
    ///     .write(Output::file(dir.path().join("disk.img")), &mut Silent);
    /// assert!(refused.unwrap_err().to_string().contains("UEFI only"));
    /// assert!(!dir.path().join("disk.img").exists());
    /// # Ok(())
    /// # }
    /// ```
    pub fn arch(mut self, arch: Arch) -> DiskBuilder {
        self.arch = arch;
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

    /// Lists the disk's partitions in table order, replacing the boot
    /// partitions and root the boot mode implies (and the ESP and BIOS boot
    /// sizes): exactly one holds [`PartitionFill::Root`], the source's
    /// tree. An archive source is then read whole before planning.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::{PartitionRole, PartitionSpec};
    /// use blockimg::image::{DiskSize, PartitionTable};
    /// use blockimg::{DiskBuilder, Output, Partition, PartitionFill, Silent, Source};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
    /// let partitions = vec![
    ///     Partition::new(PartitionSpec::new(PartitionRole::Root, None), PartitionFill::Root).fit(10),
    ///     Partition::new(
    ///         PartitionSpec::new(PartitionRole::Swap, Some(16 << 20)),
    ///         PartitionFill::Swap { uuid: [9; 16], label: "swap".into() },
    ///     ),
    /// ];
    /// let built = DiskBuilder::new(Source::Empty)
    ///     .table(PartitionTable::Gpt)
    ///     .size(DiskSize::Exact(64 << 20))
    ///     .partitions(partitions)
    ///     .timestamp(Some(1_700_000_000))
    ///     .write(Output::file(dir.path().join("disk.img")), &mut Silent)?;
    /// assert_eq!(built.summary.partitions.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn partitions(mut self, partitions: Vec<Partition>) -> DiskBuilder {
        self.partitions = Some(partitions);
        self
    }

    /// Builds the disk into `output`, reporting progress and warnings to
    /// `observer`. On error, no output file is left behind and an existing
    /// one is untouched.
    pub fn write(self, output: Output, observer: &mut dyn Observer) -> Result<Built> {
        let format = output.checked_format()?;
        // An archive becoming a raw file or device of known size is read once.
        let streamable = self.partitions.is_none()
            && matches!(self.size, DiskSize::Exact(_))
            && format == OutputFormat::Raw
            && matches!(output.target, OutputTarget::Path(_));
        if streamable && matches!(self.source, Source::Archive(_) | Source::Reader { .. }) {
            return self.stream(output, observer);
        }
        let prepared = self.prepare(std::slice::from_ref(&output), observer)?;
        let mut built = prepared.write(vec![output], observer)?;
        built.pop().ok_or_else(|| Error::InvalidOption {
            option: "output".into(),
            reason: "nothing was written".into(),
        })
    }

    /// Reads the source and lays the disk out for `outputs` (only their
    /// formats matter here: a GPT's backup goes in the last sectors of the
    /// largest disk they describe, and a VHD may round the size up);
    /// nothing is written yet. [`PreparedDisk::write`] then writes it to
    /// those outputs, or [`PreparedDisk::plan`] gives the planned disk.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::image::DiskSize;
    /// use blockimg::{DiskBuilder, Output, Silent, Source};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
    /// let outputs = || vec![Output::file(dir.path().join("disk.img")), Output::file(dir.path().join("disk.vhd"))];
    /// let prepared = DiskBuilder::new(Source::Empty)
    ///     .size(DiskSize::Exact(32 << 20))
    ///     .prepare(&outputs(), &mut Silent)?;
    /// assert_eq!(prepared.layout().partitions.len(), 1);
    /// let built = prepared.write(outputs(), &mut Silent)?; // both, published together
    /// assert_eq!(built.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn prepare(self, outputs: &[Output], observer: &mut dyn Observer) -> Result<PreparedDisk> {
        let steps = self.steps()?;
        let mut tree = load(self.source, self.timestamp, self.outside, observer)?;
        steps.adjust_tree(&self.adjust, &mut tree, observer)?;
        let mut root_ext4 = steps.ext4.clone();
        let mut fits = Vec::new();
        for output in outputs {
            let format = output.checked_format()?;
            fits.push((format, output.azure));
        }
        // A GPT's backup belongs in the last sectors of the disk the
        // outputs describe, which a VHD may round up.
        let table = self.table;
        let fit = |size: u64| fitted_size(table, &fits, size);
        let (layout, partitions) = match self.partitions {
            Some(mut partitions) => {
                let layout = partitions::lay_out(
                    self.table,
                    self.size,
                    &mut partitions,
                    &tree,
                    &mut root_ext4,
                    &fit,
                )?;
                (layout, partitions)
            }
            None => {
                let boot = steps.boot_partitions(self.table, self.esp_size, self.bios_boot_size);
                let disk_size = match self.size {
                    DiskSize::Exact(bytes) => bytes,
                    DiskSize::Auto { headroom_percent } => {
                        let (fs_size, inodes) =
                            Ext4Plan::min_size(&tree, &root_ext4, headroom_percent)?;
                        root_ext4.min_inodes = root_ext4.min_inodes.max(inodes);
                        DiskLayout::front_bytes(self.table, &boot)?
                            + fs_size
                            + DiskLayout::back_bytes(self.table)
                    }
                };
                let layout = DiskLayout::new(self.table, &boot, fit(disk_size)?)?;
                (layout, default_partitions(DiskLayout::specs(&boot)))
            }
        };
        Ok(PreparedDisk {
            root: tree,
            root_ext4,
            partitions,
            layout,
            boot: steps.mode,
            boot_options: steps.boot,
            timestamp: self.timestamp,
        })
    }

    /// The root's ext4 options with its UUID chosen (a boot menu names it)
    /// and its time set.
    fn steps(&self) -> Result<Steps> {
        boot::check_arch(self.boot, self.arch)?;
        let mut ext4 = self.ext4.clone();
        if self.boot != BootMode::None && ext4.uuid.is_none() {
            let parts: Vec<&[u8]> = self.uuid_seed.iter().map(Vec::as_slice).collect();
            ext4.uuid = Some(boot::root_uuid(self.timestamp, &parts)?);
        }
        if ext4.timestamp.is_none() {
            ext4.timestamp = self.timestamp.map(Timestamp::from_secs);
        }
        Ok(Steps {
            timestamp: self.timestamp,
            mode: self.boot,
            boot: self.boot_options.clone().arch(self.arch),
            ext4,
        })
    }

    /// Streams an archive source into a raw file or block device in one
    /// pass.
    fn stream(self, output: Output, observer: &mut dyn Observer) -> Result<Built> {
        let steps = self.steps()?;
        let (input, name): (Box<dyn Read + Send>, String) = match self.source {
            Source::Archive(path) => (RootSource::open_archive(&path)?, path.display().to_string()),
            Source::Reader { reader, name } => (reader, name),
            _ => {
                return Err(Error::InvalidOption {
                    option: "source".into(),
                    reason: "only an archive is streamed".into(),
                })
            }
        };
        let DiskSize::Exact(bytes) = self.size else {
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
        let options = ImageOptions {
            size: self.size,
            table: self.table,
            boot_partitions: steps.boot_partitions(self.table, self.esp_size, self.bios_boot_size),
            ext4: steps.ext4.clone(),
            overwrite: output.overwrite,
        };
        let device = output.device();
        let sink = match device {
            Some(device) => device_sink(device, bytes / 512 * 512, &output)?,
            None => SparseFile::create(path, output.overwrite)?,
        };
        let adjust = &self.adjust;
        let stream_steps = StreamSteps {
            adjust: |tree: &mut Tree, observer: &mut dyn Observer| {
                steps.adjust_tree(adjust, tree, observer)
            },
            prepare: |disk: &mut PlannedDisk<'_>| boot::install(disk, steps.mode, &steps.boot),
        };
        let (summary, nodes) = stream_archive_into(
            input,
            &name,
            &options,
            self.outside,
            stream_steps,
            sink,
            observer,
        )?;
        Ok(Built {
            virtual_size: summary.disk_size,
            output_bytes: device.is_none().then_some(summary.disk_size),
            summary,
            nodes,
            format: OutputFormat::Raw,
            snapshot: None,
        })
    }
}

/// The disk size every output describes the same disk at: the largest of
/// the sizes the outputs' formats (with whether each is for Azure) round
/// `size` to (a VHD rounds up to its geometry), so that a GPT's backup
/// ends the disk in each. Other tables keep `size`, except that a disk
/// going into an EBS snapshot fills its volume of whole GiB, whatever the
/// table.
pub(crate) fn fitted_size(
    table: PartitionTable,
    outputs: &[(OutputFormat, bool)],
    size: u64,
) -> Result<u64> {
    let size = match outputs.iter().any(|&(f, _)| f == OutputFormat::EbsSnapshot) {
        true => virtual_size(OutputFormat::EbsSnapshot, size, false)?,
        false => size,
    };
    match table {
        PartitionTable::Gpt => outputs.iter().try_fold(size, |fitted, &(format, azure)| {
            Ok(fitted.max(virtual_size(format, size, azure)?))
        }),
        PartitionTable::Mbr | PartitionTable::None => Ok(size),
    }
}

/// The root's ext4 options and what happens to the tree once it is read.
struct Steps {
    timestamp: Option<i64>,
    mode: BootMode,
    boot: BootOptions,
    /// The root filesystem's options, its UUID chosen before planning
    /// when a boot menu names it.
    ext4: Ext4Options,
}

impl Steps {
    /// Applies `adjust`, then puts the kernel, initrd and boot menu into
    /// the tree when a boot loader is asked for.
    fn adjust_tree(
        &self,
        adjust: &TreeAdjust,
        tree: &mut Tree,
        observer: &mut dyn Observer,
    ) -> Result<()> {
        adjust.apply(tree, self.timestamp)?;
        match self.ext4.uuid {
            Some(uuid) if self.mode != BootMode::None => {
                if self.boot.kernel.is_none() && boot::menu_entries(tree).is_empty() {
                    observer.warn(Warning::NoKernel);
                }
                boot::add_boot_files(tree, &self.boot, &uuid)
            }
            _ => Ok(()),
        }
    }

    /// The boot partitions the boot mode needs on `table`.
    fn boot_partitions(&self, table: PartitionTable, esp: u64, bios_boot: u64) -> BootPartitions {
        BootPartitions {
            esp: self.mode.uefi().then_some(esp),
            bios_boot: (self.mode.bios() && table == PartitionTable::Gpt).then_some(bios_boot),
        }
    }
}
