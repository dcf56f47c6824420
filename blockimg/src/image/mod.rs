//! Whole-disk images: the partition table, the boot partitions and the ext4
//! filesystem inside it, and the output file, written atomically.

pub mod add;
pub mod copy;
mod options;
mod plan;
mod planned;
pub mod rewrite;
mod stream;

use std::path::Path;

use crate::disk::layout::ALIGN;
pub use crate::disk::layout::{
    BootPartitions, PartitionRole, PartitionSpec, PartitionTable, PartitionType,
};
use crate::error::Result;
use crate::sink::SparseFile;
use crate::tree::Tree;
pub use options::{DiskSize, ImageOptions, ImageSummary, PartitionSummary};
pub use plan::{plan_disk, plan_disk_fitted, plan_partitions, PartitionContent};
pub use planned::PlannedDisk;
pub use rewrite::{Commit, ExistingFilesystem, Loaded};
pub(crate) use stream::{stream_archive_into, StreamSteps};

/// Byte offset of the first partition: 1 MiB, the usual alignment, which
/// leaves room for a boot loader after the MBR.
pub const PARTITION_START: u64 = ALIGN;
/// Where a UEFI firmware looks for the boot loader of a removable disk (and
/// of any disk without boot entries) on x86-64.
pub const EFI_BOOT_PATH: &str = "EFI/BOOT/BOOTX64.EFI";

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
/// let options = ImageOptions::default()
///     .size(DiskSize::Auto { headroom_percent: 50 }) // the smallest disk, plus room
///     .table(PartitionTable::Gpt)
///     .boot_partitions(BootPartitions::default());
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
