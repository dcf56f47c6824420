//! A disk whose root is read and whose partitions are laid out, ready to
//! be planned and written to one output or several.

use std::path::Path;

use super::output::{device_sink, write_outputs, Output};
use super::partitions::{contents, Partition};
use super::Built;
use crate::boot::{self, BootMode, BootOptions};
use crate::disk::layout::DiskLayout;
use crate::error::Result;
use crate::ext4::Ext4Options;
use crate::image::{plan_partitions, PlannedDisk};
use crate::report::Observer;
use crate::sink::OutputFormat;
use crate::tree::Tree;

/// A disk whose root tree is read and completed (adjustments, boot files)
/// and whose partitions are laid out; nothing is written yet
/// ([`DiskBuilder::prepare`](super::DiskBuilder::prepare)).
///
/// # Examples
///
/// ```
/// use blockimg::image::DiskSize;
/// use blockimg::{DiskBuilder, Output, Silent, Source};
///
/// # fn main() -> blockimg::Result<()> {
/// # let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
/// let out = dir.path().join("disk.img");
/// let prepared = DiskBuilder::new(Source::Empty)
///     .size(DiskSize::Exact(32 << 20))
///     .prepare(&[Output::file(&out)], &mut Silent)?;
/// assert_eq!(prepared.layout().disk_size, 32 << 20);
/// assert!(!out.exists()); // nothing written yet
/// prepared.write(vec![Output::file(&out)], &mut Silent)?;
/// assert!(out.exists());
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct PreparedDisk {
    pub(super) root: Tree,
    pub(super) root_ext4: Ext4Options,
    pub(super) partitions: Vec<Partition>,
    pub(super) layout: DiskLayout,
    pub(super) boot: BootMode,
    pub(super) boot_options: BootOptions,
    pub(super) timestamp: Option<i64>,
}

impl PreparedDisk {
    /// Where every partition goes.
    pub fn layout(&self) -> &DiskLayout {
        &self.layout
    }

    /// The partitions in table order, with what each holds (identifiers
    /// chosen, inode counts raised to what the trees need).
    pub fn partitions(&self) -> &[Partition] {
        &self.partitions
    }

    /// How the root filesystem is formatted (its UUID chosen when a boot
    /// menu names it).
    pub fn root_options(&self) -> &Ext4Options {
        &self.root_ext4
    }

    /// The boot mode and the architecture the disk boots on, as an
    /// image registration needs them (EC2's `register-image`
    /// `--boot-mode` and `--architecture`: [`BootMode::name`] and
    /// [`Arch::name`](crate::arch::Arch::name)).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::arch::Arch;
    /// use blockimg::boot::BootMode;
    /// use blockimg::image::DiskSize;
    /// use blockimg::{DiskBuilder, Output, Silent, Source};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// # let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
    /// let prepared = DiskBuilder::new(Source::Empty)
    ///     .size(DiskSize::Exact(32 << 20))
    ///     .arch(Arch::Arm64)
    ///     .prepare(&[Output::file(dir.path().join("disk.img"))], &mut Silent)?;
    /// assert_eq!(prepared.boot(), (BootMode::None, Arch::Arm64));
    /// # Ok(())
    /// # }
    /// ```
    pub fn boot(&self) -> (BootMode, crate::arch::Arch) {
        (self.boot, self.boot_options.arch)
    }

    /// The root filesystem's tree, as it will be written.
    pub fn tree(&self) -> &Tree {
        &self.root
    }

    /// Plans every filesystem and installs the boot loader: the whole
    /// disk, in memory, ready to be written anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::image::DiskSize;
    /// use blockimg::{DiskBuilder, Silent, Source};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let prepared = DiskBuilder::new(Source::Empty)
    ///     .size(DiskSize::Exact(32 << 20))
    ///     .prepare(&[], &mut Silent)?;
    /// let disk = prepared.plan()?;
    /// assert_eq!(disk.disk_size(), 32 << 20);
    /// # Ok(())
    /// # }
    /// ```
    pub fn plan(&self) -> Result<PlannedDisk<'_>> {
        let contents = contents(&self.partitions, &self.root, &self.root_ext4);
        let mut disk = plan_partitions(self.layout.clone(), contents)?;
        boot::install(&mut disk, self.boot, &self.boot_options)?;
        Ok(disk)
    }

    /// Plans the disk and writes it to every output, in the order given.
    /// Files are written under temporary names and renamed into place
    /// together once all are complete and synced, so a failure leaves none
    /// of them (and existing files untouched); a block device is written
    /// in place. A snapshot is completed once every file is complete,
    /// before the files are published.
    pub fn write(&self, outputs: Vec<Output>, observer: &mut dyn Observer) -> Result<Vec<Built>> {
        let disk = self.plan()?;
        let summary = disk.summary();
        let nodes = self.root.len();
        let mut built = Vec::new();
        let mut files = Vec::new();
        for output in outputs {
            let format = output.checked_format()?;
            match output.device().map(Path::to_path_buf) {
                Some(device) => {
                    let mut sink = device_sink(&device, disk.disk_size(), &output)?;
                    disk.write_observed(&mut sink, observer)?;
                    sink.finish(disk.disk_size())?;
                    built.push(Some(Built {
                        summary: summary.clone(),
                        nodes,
                        format,
                        virtual_size: summary.disk_size,
                        output_bytes: None,
                        snapshot: None,
                    }));
                }
                None => {
                    built.push(None);
                    files.push((output, format));
                }
            }
        }
        let formats: Vec<OutputFormat> = files.iter().map(|(_, format)| *format).collect();
        let outputs = files.into_iter().map(|(output, _)| output).collect();
        let mut written = write_outputs(&disk, outputs, self.timestamp, observer)?
            .into_iter()
            .zip(formats);
        Ok(built
            .into_iter()
            .filter_map(|device| {
                device.or_else(|| {
                    written.next().map(|(w, format)| Built {
                        summary: summary.clone(),
                        nodes,
                        format,
                        virtual_size: w.virtual_size,
                        output_bytes: Some(w.bytes),
                        snapshot: w.snapshot,
                    })
                })
            })
            .collect())
    }
}
