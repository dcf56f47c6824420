//! Whole-disk images: the partition table, the ext4 filesystem inside it, and
//! the output file, written atomically.

use std::io::IsTerminal;
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use mbrman::{MBRHeader, MBRPartitionEntry, CHS};

use crate::error::{Error, Result};
use crate::ext4::{Ext4Layout, Ext4Options, Ext4Plan};
use crate::identity;
use crate::sink::{Sink, SparseFile};
use crate::source::read_ahead::ReadAhead;
use crate::source::tar::{decompress, read_archive, OutsideRoot, StreamPlacement};
use crate::tree::{Timestamp, Tree};

/// The partition table written in front of the filesystem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionTable {
    /// An MBR with one bootable Linux partition (type 0x83) starting at
    /// 1 MiB and filling the disk.
    Mbr,
    /// No table: the image is a bare ext4 filesystem.
    None,
}

/// How large the disk is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DiskSize {
    /// Exactly this many bytes (rounded down to whole filesystem blocks).
    Exact(u64),
    /// The smallest disk that holds the tree, plus this much free space in
    /// percent of the tree's size.
    Auto {
        /// Extra free space as a percentage of what the tree needs.
        headroom_percent: u32,
    },
}

/// Everything that decides what `build_image` writes.
#[derive(Clone, Debug)]
pub struct ImageOptions {
    /// Disk size.
    pub size: DiskSize,
    /// Partition table.
    pub table: PartitionTable,
    /// Filesystem options.
    pub ext4: Ext4Options,
    /// Replace an existing output file.
    pub overwrite: bool,
    /// Show a progress bar on a terminal.
    pub progress: bool,
}

/// What `build_image` wrote.
#[derive(Clone, Debug)]
pub struct ImageSummary {
    /// Size of the disk image in bytes.
    pub disk_size: u64,
    /// MBR disk signature, when a table was written.
    pub disk_signature: Option<u32>,
    /// Byte offset of the filesystem within the image.
    pub partition_offset: u64,
    /// Size of the filesystem in bytes.
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
pub const PARTITION_START: u64 = 1 << 20;
/// Largest disk an MBR can describe with 512-byte sectors.
const MBR_LIMIT: u64 = (u32::MAX as u64) * 512;
/// MBR partition type of a Linux filesystem.
const LINUX_PARTITION: u8 = 0x83;

/// A disk whose whole layout is known: the partition table and the planned
/// filesystem. Nothing has been written yet; [`PlannedDisk::write_to`] emits
/// it into any sink in ascending offset order.
pub struct PlannedDisk<'t> {
    plan: Ext4Plan<'t>,
    disk_size: u64,
    table_bytes: u64,
    mbr: Option<(u32, Vec<u8>)>,
    /// Boot loader bytes written right after the MBR (GRUB's core.img).
    boot_area: Vec<u8>,
    progress: bool,
}

impl PlannedDisk<'_> {
    /// Size of the disk in bytes.
    pub fn disk_size(&self) -> u64 {
        self.disk_size
    }

    /// Byte ranges of the disk that [`PlannedDisk::write_to`] fills,
    /// ascending and non-overlapping; everything else reads as zeros.
    /// Sequential formats use this to size their allocation tables up front.
    pub fn written_ranges(&self) -> Vec<(u64, u64)> {
        let mut ranges = Vec::new();
        if self.mbr.is_some() {
            ranges.push((0, 512));
        }
        if !self.boot_area.is_empty() {
            ranges.push((512, self.boot_area.len() as u64));
        }
        ranges.extend(
            self.plan
                .written_ranges()
                .map(|(offset, len)| (self.table_bytes + offset, len)),
        );
        ranges
    }

    /// Writes the whole disk into `sink`, in ascending offset order, with a
    /// progress bar on a terminal when the options asked for one.
    pub fn write_to(&self, sink: &mut dyn Sink) -> Result<()> {
        if let Some((_, sector)) = &self.mbr {
            sink.write_at(0, sector)?;
        }
        if !self.boot_area.is_empty() {
            sink.write_at(512, &self.boot_area)?;
        }
        let bar = progress_bar(self.progress, self.plan.data_bytes());
        self.plan
            .write(sink, self.table_bytes, &mut |done| bar.set_position(done))?;
        bar.finish_and_clear();
        Ok(())
    }

    /// The MBR sector, when the disk has a partition table.
    pub fn mbr_sector(&self) -> Option<&[u8]> {
        self.mbr.as_ref().map(|(_, sector)| sector.as_slice())
    }

    /// Installs a boot loader: `mbr` replaces the MBR sector (it must keep
    /// its partition table) and `after_mbr` is written from byte 512, in
    /// the gap before the first partition.
    pub fn set_boot_loader(&mut self, mbr: &[u8], after_mbr: Vec<u8>) -> Result<()> {
        let Some((_, sector)) = &mut self.mbr else {
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
        let needed = 512 + after_mbr.len() as u64;
        if needed > self.table_bytes {
            return Err(Error::TooSmall {
                what: "the gap before the first partition".into(),
                needed,
                available: self.table_bytes,
            });
        }
        sector.copy_from_slice(mbr);
        self.boot_area = after_mbr;
        Ok(())
    }

    /// What the disk holds.
    pub fn summary(&self) -> ImageSummary {
        let g = self.plan.geometry();
        ImageSummary {
            disk_size: self.disk_size,
            disk_signature: self.mbr.as_ref().map(|(signature, _)| *signature),
            partition_offset: self.table_bytes,
            partition_size: self.disk_size - self.table_bytes,
            uuid: self.plan.uuid(),
            block_size: g.block_size,
            blocks_count: g.blocks_count,
            free_blocks: self.plan.free_blocks(),
            inodes_count: g.inodes_count(),
            free_inodes: self.plan.free_inodes(),
        }
    }
}

/// Plans a disk holding `tree`: its size, partition table and filesystem.
pub fn plan_disk<'t>(tree: &'t Tree, options: &ImageOptions) -> Result<PlannedDisk<'t>> {
    let table_bytes = table_bytes(options.table);
    let mut ext4 = options.ext4.clone();
    let disk_size = match options.size {
        DiskSize::Exact(bytes) => bytes / 512 * 512,
        DiskSize::Auto { headroom_percent } => {
            let (fs_size, inodes) = Ext4Plan::min_size(tree, &ext4, headroom_percent)?;
            ext4.min_inodes = ext4.min_inodes.max(inodes);
            table_bytes + fs_size
        }
    };
    check_disk_size(disk_size, options.table)?;
    let plan = Ext4Plan::new(tree, disk_size - table_bytes, &ext4)?;
    with_table(plan, disk_size, options, &ext4)
}

/// Bytes in front of the filesystem for a partition table.
fn table_bytes(table: PartitionTable) -> u64 {
    match table {
        PartitionTable::Mbr => PARTITION_START,
        PartitionTable::None => 0,
    }
}

/// Refuses disks too small for their table or too large for an MBR.
fn check_disk_size(disk_size: u64, table: PartitionTable) -> Result<()> {
    let table_bytes = table_bytes(table);
    if disk_size <= table_bytes {
        return Err(Error::TooSmall {
            what: "a partitioned disk".into(),
            needed: table_bytes + (1 << 20),
            available: disk_size,
        });
    }
    if table == PartitionTable::Mbr && disk_size > MBR_LIMIT {
        return Err(Error::TooLarge {
            what: "an MBR-partitioned disk".into(),
            size: disk_size,
            limit: MBR_LIMIT,
        });
    }
    Ok(())
}

/// Puts the partition table in front of a planned filesystem.
fn with_table<'t>(
    plan: Ext4Plan<'t>,
    disk_size: u64,
    options: &ImageOptions,
    ext4: &Ext4Options,
) -> Result<PlannedDisk<'t>> {
    let table_bytes = table_bytes(options.table);
    let fs_size = disk_size - table_bytes;
    let mbr = match options.table {
        PartitionTable::Mbr => {
            let signature = disk_signature(ext4, &plan.uuid())?;
            let sector = mbr_sector(signature, PARTITION_START / 512, fs_size / 512)?;
            Some((signature, sector))
        }
        PartitionTable::None => None,
    };
    Ok(PlannedDisk {
        plan,
        disk_size,
        table_bytes,
        mbr,
        boot_area: Vec::new(),
        progress: options.progress,
    })
}

/// Builds a sparse raw disk image at `output` from a tar archive read once,
/// from any stream (a pipe, a compressed file): each member's data is
/// written into the image as it streams past, then the rest of the
/// filesystem is planned around it. `adjust` may change the tree (owners,
/// overrides) before it is planned. The disk size must be exact: nothing is
/// known about the tree before the stream ends.
pub fn build_image_from_archive(
    input: impl std::io::Read + Send + 'static,
    name: &str,
    options: &ImageOptions,
    outside: OutsideRoot,
    adjust: impl FnOnce(&mut Tree) -> Result<()>,
    output: &Path,
) -> Result<(ImageSummary, usize)> {
    disk_size_of_stream(options, name)?;
    let sink = SparseFile::create(output, options.overwrite)?;
    stream_archive_into(input, name, options, outside, adjust, sink)
}

/// [`build_image_from_archive`] into a sink made by the caller, such as a
/// block device opened with [`crate::target::open_build_target`] and
/// written in place with [`SparseFile::in_place`].
pub fn stream_archive_into(
    input: impl std::io::Read + Send + 'static,
    name: &str,
    options: &ImageOptions,
    outside: OutsideRoot,
    adjust: impl FnOnce(&mut Tree) -> Result<()>,
    mut sink: SparseFile,
) -> Result<(ImageSummary, usize)> {
    let disk_size = disk_size_of_stream(options, name)?;
    let table_bytes = table_bytes(options.table);
    let mut layout = Ext4Layout::new(disk_size - table_bytes, &options.ext4, 0)?;
    let mut placement = StreamPlacement::new(&mut layout, &mut sink, table_bytes);
    let implied = options.ext4.timestamp.unwrap_or_else(Timestamp::now);
    // Reading and decompressing run ahead on their own thread.
    let decoded = ReadAhead::new(decompress(input, name)?).map_err(|e| Error::io(name, e))?;
    let mut tree = read_archive(decoded, name, &mut placement, outside, implied)?;
    let placed = placement.into_placed();
    adjust(&mut tree)?;
    let plan = Ext4Plan::with_placed(&tree, layout, &options.ext4, &placed)?;
    let disk = with_table(plan, disk_size, options, &options.ext4)?;
    disk.write_to(&mut sink)?;
    sink.finish(disk_size)?;
    Ok((disk.summary(), tree.len()))
}

/// The disk size of an image built from a stream: it must be given.
fn disk_size_of_stream(options: &ImageOptions, name: &str) -> Result<u64> {
    let DiskSize::Exact(bytes) = options.size else {
        return Err(Error::InvalidOption {
            option: "size".into(),
            reason: format!(
                "{name} is read as a stream, so the disk size must be given (--size auto needs an uncompressed archive file)"
            ),
        });
    };
    let disk_size = bytes / 512 * 512;
    check_disk_size(disk_size, options.table)?;
    Ok(disk_size)
}

/// Builds a disk image holding `tree` at `output` as a sparse raw file. The
/// image is written to a temporary file next to `output` and renamed into
/// place only when complete: on error nothing is left behind and an
/// existing file is untouched.
pub fn build_image(tree: &Tree, options: &ImageOptions, output: &Path) -> Result<ImageSummary> {
    let disk = plan_disk(tree, options)?;
    let mut sink = SparseFile::create(output, options.overwrite)?;
    disk.write_to(&mut sink)?;
    sink.finish(disk.disk_size())?;
    Ok(disk.summary())
}

/// A progress bar on standard error with throughput and ETA, hidden when
/// not `enabled` or when standard error is not a terminal.
pub(crate) fn progress_bar(enabled: bool, total: u64) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    let style =
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}");
    if let Ok(style) = style {
        bar.set_style(style);
    }
    bar
}

/// The MBR disk signature: derived from the filesystem UUID for
/// reproducible builds, random otherwise.
fn disk_signature(ext4: &crate::ext4::Ext4Options, fs_uuid: &[u8; 16]) -> Result<u32> {
    let bytes = match ext4.timestamp {
        Some(_) => identity::derived_uuid("blockimg disk signature", &[fs_uuid]),
        None => identity::random_uuid()?,
    };
    Ok(u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]))
}

/// Cylinder/head/sector address of `lba` at 255 heads and 63 sectors per
/// track, saturated at 1023/254/63 as firmware expects past cylinder 1023.
fn chs(lba: u64) -> CHS {
    let cylinder = lba / (255 * 63);
    if cylinder > 1023 {
        return CHS::new(1023, 254, 63);
    }
    CHS::new(
        cylinder as u16,
        ((lba / 63) % 255) as u8,
        (lba % 63 + 1) as u8,
    )
}

/// The first sector of the disk: an MBR with one bootable Linux partition.
fn mbr_sector(signature: u32, start: u64, sectors: u64) -> Result<Vec<u8>> {
    let mut header = MBRHeader::new(signature.to_le_bytes());
    header.partition_1 = MBRPartitionEntry {
        boot: mbrman::BOOT_ACTIVE,
        first_chs: chs(start),
        sys: LINUX_PARTITION,
        last_chs: chs(start + sectors - 1),
        starting_lba: start as u32,
        sectors: sectors as u32,
    };
    let mut sector = std::io::Cursor::new(vec![0u8; 512]);
    header
        .write_into(&mut sector)
        .map_err(|e| Error::InvalidOption {
            option: "partition table".into(),
            reason: e.to_string(),
        })?;
    Ok(sector.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chs_matches_the_usual_encoding() {
        // LBA 2048 at 255/63 is cylinder 0, head 32, sector 33.
        let c = chs(2048);
        assert_eq!(c, CHS::new(0, 32, 33));
        assert_eq!(chs(1 << 40), CHS::new(1023, 254, 63));
    }

    #[test]
    fn mbr_has_signature_and_partition() {
        let s = mbr_sector(0x1234_5678, 2048, 4096).unwrap();
        assert_eq!(&s[0x1FE..], &[0x55, 0xAA]);
        assert_eq!(&s[0x1B8..0x1BC], &0x1234_5678u32.to_le_bytes());
        assert_eq!(s[0x1BE], 0x80);
        assert_eq!(s[0x1C2], 0x83);
        assert_eq!(
            u32::from_le_bytes(s[0x1C6..0x1CA].try_into().unwrap()),
            2048
        );
        assert_eq!(
            u32::from_le_bytes(s[0x1CA..0x1CE].try_into().unwrap()),
            4096
        );
    }
}
