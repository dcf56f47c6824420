//! Whole-disk images: the partition table, the boot partitions and the ext4
//! filesystem inside it, and the output file, written atomically.

pub mod add;
pub mod copy;
pub mod rewrite;

use std::path::Path;

use crate::disk::fat::{self, FatFormat};
pub use crate::disk::layout::{
    BootPartitions, PartitionRole, PartitionSpec, PartitionTable, PartitionType,
};
use crate::disk::layout::{DiskLayout, ALIGN, SECTOR};
use crate::disk::{gpt, mbr, swap, SparseBytes};
use crate::error::{Error, Result};
use crate::ext4::{Ext4Layout, Ext4Options, Ext4Plan};
use crate::identity;
use crate::report::{self, Observer, Phase, Silent};
use crate::sink::{Sink, SparseFile};
use crate::source::read_ahead::ReadAhead;
use crate::source::tar::{decompress, read_archive_observed, OutsideRoot, StreamPlacement};
use crate::tree::{Timestamp, Tree};
use copy::PartitionCopy;
pub use rewrite::ExistingFilesystem;

/// How large the disk is.
///
/// # Examples
///
/// ```
/// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
/// # use blockimg::tree::{Metadata, Timestamp, Tree};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
/// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
/// // The smallest disk that holds the tree, with 50% to spare.
/// let auto = ImageOptions { size: DiskSize::Auto { headroom_percent: 50 }, ..options.clone() };
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
/// let options = ImageOptions {
///     size: DiskSize::Exact(128 << 20),
///     table: PartitionTable::Gpt,
///     boot_partitions: BootPartitions { esp: Some(40 << 20), bios_boot: Some(1 << 20) },
///     ext4: blockimg::ext4::Ext4Options { label: "root".into(), ..Default::default() },
///     overwrite: false,
/// };
/// assert_eq!(plan_disk(&tree, &options)?.summary().partitions.len(), 3);
/// # Ok(())
/// # }
/// ```
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
/// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
/// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
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
/// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
/// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
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

/// Byte offset of the first partition: 1 MiB, the usual alignment, which
/// leaves room for a boot loader after the MBR.
pub const PARTITION_START: u64 = ALIGN;
/// Where a UEFI firmware looks for the boot loader of a removable disk (and
/// of any disk without boot entries) on x86-64.
pub const EFI_BOOT_PATH: &str = "EFI/BOOT/BOOTX64.EFI";

/// The identifiers of a disk's table and ESP.
#[derive(Clone, Debug)]
struct DiskIds {
    /// MBR disk signature.
    signature: Option<u32>,
    /// GPT disk GUID, text order.
    disk_guid: Option<[u8; 16]>,
    /// GPT unique partition GUIDs in table order, text order.
    partition_guids: Vec<[u8; 16]>,
}

/// A disk whose whole layout is known: the partition table, the boot
/// partitions and the planned filesystem. Nothing has been written yet;
/// [`PlannedDisk::write_to`] emits it into any sink in ascending offset
/// order.
///
/// # Examples
///
/// ```
/// use blockimg::image::{plan_disk, BootPartitions, DiskSize, ImageOptions, PartitionTable, EFI_BOOT_PATH};
/// use blockimg::sink::SparseFile;
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let time = Timestamp::from_secs(1_700_000_000);
/// let tree = Tree::new(Metadata::directory(time));
/// let options = ImageOptions {
///     size: DiskSize::Exact(128 << 20),
///     table: PartitionTable::Gpt,
///     boot_partitions: BootPartitions { esp: Some(64 << 20), bios_boot: None },
///     ext4: blockimg::ext4::Ext4Options { timestamp: Some(time), ..Default::default() },
///     overwrite: false,
/// };
/// let mut disk = plan_disk(&tree, &options)?;
/// disk.add_esp_file(EFI_BOOT_PATH, b"MZ (a UEFI boot loader)")?;
/// assert_eq!(disk.summary().partitions.len(), 2); // the ESP and the root
///
/// let dir = tempfile::tempdir()?;
/// let mut sink = SparseFile::create(&dir.path().join("disk.img"), false)?;
/// disk.write_to(&mut sink)?;
/// sink.finish(disk.disk_size())?;
/// # Ok(())
/// # }
/// ```
pub struct PlannedDisk<'t> {
    /// The ext4 filesystems, in ascending offset order.
    filesystems: Vec<PlacedFs<'t>>,
    /// Which of them is the root.
    root: usize,
    layout: DiskLayout,
    /// Host images copied into partitions, in ascending offset order.
    copies: Vec<PartitionCopy>,
    /// Everything outside the root filesystem: the tables, the boot loader
    /// after the MBR or in the BIOS boot partition, the ESP, the backup GPT.
    around: SparseBytes,
    ids: DiskIds,
    /// Time given to files added to the ESP.
    esp_time: Timestamp,
}

/// An ext4 filesystem planned for a partition.
struct PlacedFs<'t> {
    /// Byte range of its partition.
    start: u64,
    end: u64,
    plan: Ext4Plan<'t>,
}

/// A partition whose contents [`PlannedDisk`] writes itself.
enum Region<'a, 't> {
    Fs(&'a PlacedFs<'t>),
    Copy(&'a PartitionCopy),
}

impl Region<'_, '_> {
    fn start(&self) -> u64 {
        match self {
            Region::Fs(fs) => fs.start,
            Region::Copy(copy) => copy.start,
        }
    }

    fn end(&self) -> u64 {
        match self {
            Region::Fs(fs) => fs.end,
            Region::Copy(copy) => copy.end,
        }
    }

    /// Bytes the progress bar counts for it.
    fn data_bytes(&self) -> u64 {
        match self {
            Region::Fs(fs) => fs.plan.data_bytes(),
            Region::Copy(copy) => copy.size,
        }
    }
}

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

impl<'t> PlannedDisk<'t> {
    fn root_plan(&self) -> &Ext4Plan<'t> {
        &self.filesystems[self.root].plan
    }

    /// Size of the disk in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
    /// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
    /// assert_eq!(plan_disk(&tree, &options)?.disk_size(), 64 << 20);
    /// # Ok(())
    /// # }
    /// ```
    pub fn disk_size(&self) -> u64 {
        self.layout.disk_size
    }

    /// UUID of the planned root filesystem.
    ///
    /// # Examples
    ///
    /// ```
    /// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
    /// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
    /// let uuid = [7; 16];
    /// let fixed = ImageOptions { ext4: blockimg::ext4::Ext4Options { uuid: Some(uuid), ..Default::default() }, ..options };
    /// assert_eq!(plan_disk(&tree, &fixed)?.fs_uuid(), uuid);
    /// # Ok(())
    /// # }
    /// ```
    pub fn fs_uuid(&self) -> [u8; 16] {
        self.root_plan().uuid()
    }

    /// Where the partitions are.
    ///
    /// # Examples
    ///
    /// ```
    /// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
    /// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
    /// let disk = plan_disk(&tree, &options)?;
    /// let root = disk.layout().root();
    /// assert_eq!((root.start, root.size), (1 << 20, 63 << 20));
    /// # Ok(())
    /// # }
    /// ```
    pub fn layout(&self) -> &DiskLayout {
        &self.layout
    }

    /// The partitions whose contents are planned (filesystems and copied
    /// images), in ascending offset order.
    fn regions(&self) -> Vec<Region<'_, 't>> {
        let mut regions: Vec<Region<'_, 't>> = self
            .filesystems
            .iter()
            .map(Region::Fs)
            .chain(self.copies.iter().map(Region::Copy))
            .collect();
        regions.sort_by_key(Region::start);
        regions
    }

    /// Byte ranges of the disk that [`PlannedDisk::write_to`] fills,
    /// ascending and non-overlapping; everything else reads as zeros.
    /// Sequential formats use this to size their allocation tables up front.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
    /// use blockimg::tree::{Metadata, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
    /// let options = ImageOptions {
    ///     size: DiskSize::Exact(64 << 20),
    ///     table: PartitionTable::Mbr,
    ///     boot_partitions: Default::default(),
    ///     ext4: Default::default(),
    ///     overwrite: false,
    /// };
    /// let disk = plan_disk(&tree, &options)?;
    /// let ranges = disk.written_ranges()?;
    /// let written: u64 = ranges.iter().map(|&(_, len)| len).sum();
    /// assert!(written < 8 << 20); // a 64 MiB disk, mostly zeros
    /// assert_eq!(ranges[0].0, 0); // the MBR comes first
    /// # Ok(())
    /// # }
    /// ```
    pub fn written_ranges(&self) -> Result<Vec<(u64, u64)>> {
        let mut ranges = Vec::new();
        let mut at = 0;
        for region in self.regions() {
            ranges.extend(self.around.ranges(at, region.start()));
            match region {
                Region::Fs(fs) => ranges.extend(
                    fs.plan
                        .written_ranges()
                        .map(|(offset, len)| (fs.start + offset, len)),
                ),
                Region::Copy(copy) => ranges.extend(copy.written_ranges()?),
            }
            at = region.end();
        }
        ranges.extend(self.around.ranges(at, self.layout.disk_size));
        Ok(ranges)
    }

    /// Writes the whole disk into `sink`, in ascending offset order: the
    /// tables, boot partitions and swap headers, the filesystems and copied
    /// images, the backup GPT; with a progress bar on a terminal when the
    /// options asked for one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
    /// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
    /// // Any sink: here the disk in memory.
    /// let mut image = Vec::new();
    /// plan_disk(&tree, &options)?.write_to(&mut image)?;
    /// assert!(image.len() <= 64 << 20); // up to the last byte written; the rest reads as zeros
    /// assert_eq!(&image[510..512], &[0x55, 0xaa]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_to(&self, sink: &mut dyn Sink) -> Result<()> {
        self.write_observed(sink, &mut Silent)
    }

    /// [`PlannedDisk::write_to`], reporting the bytes of file data written
    /// (phase [`Phase::Writing`]) to `observer`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use blockimg::image::{plan_disk, DiskSize, ImageOptions};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// use blockimg::{Observer, Phase};
    ///
    /// struct Last(u64);
    /// impl Observer for Last {
    ///     fn advance(&mut self, _: Phase, done: u64) { self.0 = done; }
    /// }
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let options = ImageOptions { size: DiskSize::Exact(64 << 20), ..Default::default() };
    /// let mut last = Last(0);
    /// plan_disk(&tree, &options)?.write_observed(&mut Vec::new(), &mut last)?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn write_observed(&self, sink: &mut dyn Sink, observer: &mut dyn Observer) -> Result<()> {
        let regions = self.regions();
        let total = regions.iter().map(Region::data_bytes).sum();
        let end = report::phase(observer, Phase::Writing, total, |progress| {
            let mut at = 0;
            let mut base = 0;
            for region in &regions {
                self.around.write_range(sink, at, region.start())?;
                let mut region_progress = |done| progress(base + done);
                match region {
                    Region::Fs(fs) => fs.plan.write(sink, fs.start, &mut region_progress)?,
                    Region::Copy(copy) => copy.write(sink, &mut region_progress)?,
                }
                base += region.data_bytes();
                at = region.end();
            }
            Ok::<_, Error>(at)
        })?;
        self.around.write_range(sink, end, self.layout.disk_size)
    }

    /// The first sector, when the disk has a partition table: the MBR, or
    /// a GPT disk's protective MBR.
    ///
    /// # Examples
    ///
    /// ```
    /// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
    /// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
    /// let mbr = plan_disk(&tree, &options)?.mbr_sector().ok_or("no table")?;
    /// assert_eq!(mbr[0x1c2], 0x83); // the root partition's type: Linux
    /// let bare = ImageOptions { table: PartitionTable::None, ..options };
    /// assert!(plan_disk(&tree, &bare)?.mbr_sector().is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn mbr_sector(&self) -> Option<[u8; 512]> {
        if self.layout.table == PartitionTable::None {
            return None;
        }
        let mut sector = [0u8; 512];
        self.around.read_at(0, &mut sector);
        Some(sector)
    }

    /// Where a BIOS boot loader may put its code after the first sector,
    /// as a byte range: the gap before the first partition of an MBR disk,
    /// the BIOS boot partition of a GPT disk; `None` when there is no
    /// such place.
    ///
    /// # Examples
    ///
    /// ```
    /// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
    /// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
    /// // On an MBR disk: from sector 1 to the first partition.
    /// let area = plan_disk(&tree, &options)?.boot_loader_area();
    /// assert_eq!(area, Some((512, (1 << 20) - 512)));
    /// # Ok(())
    /// # }
    /// ```
    pub fn boot_loader_area(&self) -> Option<(u64, u64)> {
        match self.layout.table {
            PartitionTable::Mbr => {
                let first = self.layout.partitions.first().map(|p| p.start)?;
                Some((SECTOR, first - SECTOR))
            }
            PartitionTable::Gpt => self
                .layout
                .find(PartitionRole::BiosBoot)
                .map(|p| (p.start, p.size)),
            PartitionTable::None => None,
        }
    }

    /// Installs a BIOS boot loader: `mbr` replaces the first sector (it
    /// must keep its partition table) and `code` is written at sector
    /// `lba`, which with `code` must lie in [`PlannedDisk::boot_loader_area`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
    /// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
    /// let mut disk = plan_disk(&tree, &options)?;
    /// let mut mbr = disk.mbr_sector().ok_or("no table")?;
    /// mbr[..4].copy_from_slice(&[0xfa, 0x31, 0xc0, 0x8e]); // boot code; the table stays
    /// disk.set_boot_loader(&mbr, 1, &[0x90; 1024])?; // more code at sector 1
    /// assert!(disk.set_boot_loader(&mbr, 4096, &[0x90; 512]).is_err()); // inside the partition
    ///
    /// let mut image = Vec::new();
    /// disk.write_to(&mut image)?;
    /// assert_eq!((&image[..4], image[512]), (&mbr[..4], 0x90));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_boot_loader(&mut self, mbr: &[u8], lba: u64, code: &[u8]) -> Result<()> {
        let Some(sector) = self.mbr_sector() else {
            return Err(Error::InvalidOption {
                option: "boot".into(),
                reason: "a boot loader needs a partition table".into(),
            });
        };
        if mbr.len() != 512 || mbr[0x1B8..] != sector[0x1B8..] {
            return Err(Error::InvalidOption {
                option: "boot".into(),
                reason: "the boot sector must keep the disk signature and partition table".into(),
            });
        }
        let (area_start, area_len) =
            self.boot_loader_area()
                .ok_or_else(|| Error::InvalidOption {
                    option: "boot".into(),
                    reason: "a GPT disk needs a BIOS boot partition for a BIOS boot loader".into(),
                })?;
        let start = lba.saturating_mul(SECTOR);
        let fits = start >= area_start
            && start
                .checked_add(code.len() as u64)
                .is_some_and(|end| end <= area_start + area_len);
        if !fits {
            return Err(Error::TooSmall {
                what: format!(
                    "boot loader code at sector {lba} (the place for it is sectors {}..{})",
                    area_start / SECTOR,
                    (area_start + area_len) / SECTOR
                ),
                needed: code.len() as u64,
                available: (area_start + area_len).saturating_sub(start),
            });
        }
        let write = |around: &mut SparseBytes, offset, data| {
            around
                .write_at(offset, data)
                .map_err(|e| Error::io("boot loader", e))
        };
        write(&mut self.around, 0, mbr)?;
        write(&mut self.around, start, code)
    }

    /// Writes `data` to `path` (e.g. [`EFI_BOOT_PATH`]) in the ESP, making
    /// the directories on the way.
    ///
    /// # Examples
    ///
    /// ```
    /// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
    /// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
    /// use blockimg::image::{BootPartitions, EFI_BOOT_PATH};
    /// let uefi = ImageOptions { table: PartitionTable::Gpt,
    ///                           boot_partitions: BootPartitions { esp: Some(40 << 20), bios_boot: None }, ..options.clone() };
    /// let mut disk = plan_disk(&tree, &uefi)?;
    /// disk.add_esp_file(EFI_BOOT_PATH, b"MZ (a UEFI boot loader)")?;
    /// disk.add_esp_file("EFI/BOOT/GRUB.CFG", b"configfile (hd0,gpt2)/boot/grub.cfg\n")?; // 8.3 names
    /// // Without an ESP there is nowhere to put it.
    /// assert!(plan_disk(&tree, &options)?.add_esp_file(EFI_BOOT_PATH, b"MZ").is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn add_esp_file(&mut self, path: &str, data: &[u8]) -> Result<()> {
        let (start, size) = self
            .layout
            .find(PartitionRole::Esp)
            .map(|p| (p.start, p.size))
            .ok_or_else(|| Error::InvalidOption {
                option: "boot".into(),
                reason: "UEFI boot needs an EFI system partition".into(),
            })?;
        fat::add_file(self.around.window(start, size), path, data, self.esp_time)
    }

    /// What the disk holds.
    ///
    /// # Examples
    ///
    /// ```
    /// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
    /// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
    /// let summary = plan_disk(&tree, &options)?.summary();
    /// assert_eq!((summary.table, summary.partitions.len()), (PartitionTable::Mbr, 1));
    /// assert_eq!(summary.block_size, 4096);
    /// # Ok(())
    /// # }
    /// ```
    pub fn summary(&self) -> ImageSummary {
        let plan = self.root_plan();
        let g = plan.geometry();
        let root = self.layout.root();
        let partitions = match self.layout.table {
            PartitionTable::None => Vec::new(),
            _ => self
                .layout
                .partitions
                .iter()
                .enumerate()
                .map(|(i, p)| PartitionSummary {
                    role: p.role,
                    number: p.number,
                    start: p.start,
                    size: p.size,
                    partuuid: match (self.ids.signature, self.ids.partition_guids.get(i)) {
                        (Some(sig), _) => format!("{sig:08x}-{:02x}", p.number),
                        (None, Some(guid)) => identity::format_uuid(guid),
                        (None, None) => String::new(),
                    },
                })
                .collect(),
        };
        ImageSummary {
            disk_size: self.layout.disk_size,
            table: self.layout.table,
            disk_signature: self.ids.signature,
            disk_guid: self.ids.disk_guid,
            partitions,
            partition_offset: root.start,
            partition_size: root.size,
            uuid: plan.uuid(),
            block_size: g.block_size,
            blocks_count: g.blocks_count,
            free_blocks: plan.free_blocks(),
            inodes_count: g.inodes_count(),
            free_inodes: plan.free_inodes(),
        }
    }
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
/// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
/// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
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
/// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Mbr,
/// #     boot_partitions: Default::default(), ext4: Default::default(), overwrite: false };
/// use blockimg::image::plan_disk_fitted;
/// use blockimg::sink::{virtual_size, OutputFormat};
/// // A VHD rounds the disk up to its geometry: plan for the rounded size so a
/// // GPT's backup lands in the disk's last sector.
/// let gpt = ImageOptions { size: DiskSize::Exact(100_000_000), table: PartitionTable::Gpt, ..options };
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
/// let ext4 = blockimg::ext4::Ext4Options { timestamp: Some(time), ..Default::default() };
/// let specs = [
///     PartitionSpec::new(PartitionRole::Root, Some(16 << 20)),
///     PartitionSpec::new(PartitionRole::Swap, Some(8 << 20)),
///     PartitionSpec::new(PartitionRole::Data, None),
/// ];
/// let layout = DiskLayout::plan(PartitionTable::Gpt, 64 << 20, &specs)?;
/// let disk = plan_partitions(layout, vec![
///     PartitionContent::Ext4 { tree: &root, options: ext4.clone() },
///     PartitionContent::Swap { uuid: [7; 16], label: "swap".into() },
///     PartitionContent::Ext4 { tree: &data, options: Ext4Options { label: "data".into(), ..ext4 } },
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
fn root_index(layout: &DiskLayout) -> usize {
    layout
        .partitions
        .iter()
        .position(|p| p.role == PartitionRole::Root)
        .unwrap_or(0)
}

/// What goes into the partitions besides the filesystems, the tables and
/// the boot code.
#[derive(Default)]
struct Extras {
    /// Swap headers: `(offset, page)`.
    swaps: Vec<(u64, Vec<u8>)>,
    /// How the ESP, if there is one, is formatted.
    esp: FatFormat,
    /// Host images copied into partitions.
    copies: Vec<PartitionCopy>,
}

/// Puts the partition table, the boot partitions and the swap headers
/// (`around`) around the planned filesystems (`(partition index,
/// plan)`, the root among them). Identifiers are derived from the root
/// filesystem's UUID for reproducible builds (its options have a
/// timestamp), random otherwise.
fn with_table<'t>(
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

/// What a streamed build does besides placing the archive: `adjust` the
/// tree once the stream has ended (owners, overrides, boot files), and
/// `prepare` the planned disk before it is written (boot loaders).
pub(crate) struct StreamSteps<A, P> {
    /// Changes the tree read from the archive before it is planned.
    pub adjust: A,
    /// Changes the planned disk before it is written.
    pub prepare: P,
}

/// Builds a raw disk into `sink` (an image file, or a block device written
/// in place) from a tar archive read once, from any stream (a pipe, a
/// compressed file): each member's data is written into the image as it
/// streams past, then the rest of the filesystem is planned around it and
/// `steps` run. The disk size must be exact: nothing is known about the
/// tree before the stream ends. [`crate::DiskBuilder`] takes this path
/// whenever it can.
pub(crate) fn stream_archive_into<A, P>(
    input: impl std::io::Read + Send + 'static,
    name: &str,
    options: &ImageOptions,
    outside: OutsideRoot,
    steps: StreamSteps<A, P>,
    mut sink: SparseFile,
    observer: &mut dyn Observer,
) -> Result<(ImageSummary, usize)>
where
    A: FnOnce(&mut Tree, &mut dyn Observer) -> Result<()>,
    P: FnOnce(&mut PlannedDisk<'_>) -> Result<()>,
{
    let disk = disk_layout_of_stream(options, name)?;
    let root = disk.root().clone();
    let mut layout = Ext4Layout::new(root.size, &options.ext4, 0)?;
    let mut placement = StreamPlacement::new(&mut layout, &mut sink, root.start);
    let implied = options.ext4.timestamp.unwrap_or_else(Timestamp::now);
    // Reading and decompressing run ahead on their own thread.
    let decoded = ReadAhead::new(decompress(input, name)?).map_err(|e| Error::io(name, e))?;
    let mut tree =
        read_archive_observed(decoded, name, &mut placement, outside, implied, observer)?;
    let placed = placement.into_placed();
    (steps.adjust)(&mut tree, observer)?;
    let plan = Ext4Plan::with_placed(&tree, layout, &options.ext4, &placed)?;
    let plans = vec![(root_index(&disk), plan)];
    let mut disk = with_table(plans, disk, &Extras::default())?;
    (steps.prepare)(&mut disk)?;
    disk.write_observed(&mut sink, observer)?;
    sink.finish(disk.disk_size())?;
    Ok((disk.summary(), tree.len()))
}

/// The partitions of a disk built from a stream: its size must be given.
fn disk_layout_of_stream(options: &ImageOptions, name: &str) -> Result<DiskLayout> {
    let DiskSize::Exact(bytes) = options.size else {
        return Err(Error::InvalidOption {
            option: "size".into(),
            reason: format!(
                "{name} is read as a stream, so the disk size must be given (an automatic size needs an uncompressed archive file)"
            ),
        });
    };
    DiskLayout::new(options.table, &options.boot_partitions, bytes)
}

/// Builds a disk image holding `tree` at `output` as a sparse raw file. The
/// image is written to a temporary file next to `output` and renamed into
/// place only when complete: on error nothing is left behind and an
/// existing file is untouched.
///
/// # Examples
///
/// ```
/// use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("hostname"), "appliance\n")?;
/// let tree = blockimg::source::dir::scan(dir.path())?;
///
/// let options = ImageOptions {
///     size: DiskSize::Auto { headroom_percent: 50 }, // the smallest disk, plus room
///     table: PartitionTable::Gpt,
///     boot_partitions: BootPartitions::default(),
///     ext4: Default::default(),
///     overwrite: false,
/// };
/// let summary = build_image(&tree, &options, &dir.path().join("disk.img"))?;
/// assert_eq!(summary.partitions.len(), 1);
/// assert_eq!(std::fs::metadata(dir.path().join("disk.img"))?.len(), summary.disk_size);
/// # Ok(())
/// # }
/// ```
pub fn build_image(tree: &Tree, options: &ImageOptions, output: &Path) -> Result<ImageSummary> {
    let disk = plan_disk(tree, options)?;
    let mut sink = SparseFile::create(output, options.overwrite)?;
    disk.write_to(&mut sink)?;
    sink.finish(disk.disk_size())?;
    Ok(disk.summary())
}
