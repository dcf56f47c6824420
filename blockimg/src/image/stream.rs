//! A tar archive read once into a raw disk: member data placed in the image
//! as it streams past, the rest of the filesystem planned around it.

use super::plan::{root_index, with_table, Extras};
use super::{DiskSize, ImageOptions, ImageSummary, PlannedDisk};
use crate::disk::layout::DiskLayout;
use crate::error::{Error, Result};
use crate::ext4::{Ext4Layout, Ext4Plan};
use crate::report::Observer;
use crate::sink::SparseFile;
use crate::source::read_ahead::ReadAhead;
use crate::source::tar::{decompress, read_archive_observed, OutsideRoot, StreamPlacement};
use crate::tree::{Timestamp, Tree};

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
