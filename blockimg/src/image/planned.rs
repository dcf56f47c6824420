//! A disk whose whole layout is known, before a byte is written: the
//! tables, boot partitions and filesystems, with the places a boot loader
//! may go, and its writing into any sink in ascending offset order.

use super::copy::PartitionCopy;
use super::{ImageSummary, PartitionSummary};
use crate::disk::fat;
use crate::disk::layout::{DiskLayout, PartitionRole, PartitionTable, SECTOR};
use crate::disk::SparseBytes;
use crate::error::{Error, Result};
use crate::ext4::Ext4Plan;
use crate::identity;
use crate::report::{self, Observer, Phase, Silent};
use crate::sink::Sink;
use crate::tree::Timestamp;

/// The identifiers of a disk's table and ESP.
#[derive(Clone, Debug)]
pub(super) struct DiskIds {
    /// MBR disk signature.
    pub(super) signature: Option<u32>,
    /// GPT disk GUID, text order.
    pub(super) disk_guid: Option<[u8; 16]>,
    /// GPT unique partition GUIDs in table order, text order.
    pub(super) partition_guids: Vec<[u8; 16]>,
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
/// let options = ImageOptions::default().size(DiskSize::Exact(128 << 20)).table(PartitionTable::Gpt).boot_partitions(BootPartitions { esp: Some(64 << 20), bios_boot: None }).ext4(blockimg::ext4::Ext4Options::default().timestamp(Some(time))).overwrite(false);
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
    pub(super) filesystems: Vec<PlacedFs<'t>>,
    /// Which of them is the root.
    pub(super) root: usize,
    pub(super) layout: DiskLayout,
    /// Host images copied into partitions, in ascending offset order.
    pub(super) copies: Vec<PartitionCopy>,
    /// Everything outside the root filesystem: the tables, the boot loader
    /// after the MBR or in the BIOS boot partition, the ESP, the backup GPT.
    pub(super) around: SparseBytes,
    pub(super) ids: DiskIds,
    /// Time given to files added to the ESP.
    pub(super) esp_time: Timestamp,
}

/// An ext4 filesystem planned for a partition.
pub(super) struct PlacedFs<'t> {
    /// Byte range of its partition.
    pub(super) start: u64,
    pub(super) end: u64,
    pub(super) plan: Ext4Plan<'t>,
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
    /// let uuid = [7; 16];
    /// let fixed = options.ext4(blockimg::ext4::Ext4Options::default().uuid(Some(uuid)));
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
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
    /// let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
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
    /// let options = ImageOptions::default().size(DiskSize::Exact(64 << 20));
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
    /// let mbr = plan_disk(&tree, &options)?.mbr_sector().ok_or("no table")?;
    /// assert_eq!(mbr[0x1c2], 0x83); // the root partition's type: Linux
    /// let bare = options.table(PartitionTable::None);
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
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

    /// Writes `data` to `path` (e.g. [`EFI_BOOT_PATH`](super::EFI_BOOT_PATH)) in the ESP, making
    /// the directories on the way.
    ///
    /// # Examples
    ///
    /// ```
    /// # use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
    /// use blockimg::image::{BootPartitions, EFI_BOOT_PATH};
    /// let uefi = options.clone().table(PartitionTable::Gpt).boot_partitions(BootPartitions { esp: Some(40 << 20), bios_boot: None });
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
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
