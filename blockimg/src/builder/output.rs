//! Where a built disk goes (a file, a block device, standard output, any
//! writer) in which format, and the output stage the builder and recipes
//! share.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::image::PlannedDisk;
use crate::report::Observer;
use crate::sink::{
    open_output, open_output_writer, Destination, OutputFormat, OutputOptions, SparseFile,
};
use crate::target::{is_block_device, open_build_target};

/// Where a disk goes, in which format.
///
/// # Examples
///
/// ```
/// use blockimg::Output;
/// use blockimg::sink::OutputFormat;
///
/// // The format follows the extension unless given.
/// let vhd = Output::file("disk.vhd");
/// let fixed = Output::file("disk.vhd").format(OutputFormat::VhdFixed).overwrite(true);
/// let piped = Output::writer(Vec::new(), "memory").format(OutputFormat::Vmdk);
/// # let _ = (vhd, fixed, piped);
/// ```
#[must_use]
pub struct Output {
    pub(super) target: OutputTarget,
    pub(super) format: Option<OutputFormat>,
    pub(super) azure: bool,
    pub(super) overwrite: bool,
    pub(super) skip_zeros: bool,
}

pub(super) enum OutputTarget {
    /// A file, or a block device to build the disk on in place.
    Path(PathBuf),
    /// Standard output.
    Stdout,
    /// Any writer, named in messages.
    Writer(Box<dyn Write + Send>, PathBuf),
    /// A new EBS snapshot.
    #[cfg(feature = "ebs")]
    Snapshot(Box<crate::ebs::SnapshotOptions>),
}

impl Output {
    fn new(target: OutputTarget) -> Output {
        Output {
            target,
            format: None,
            azure: false,
            overwrite: false,
            skip_zeros: false,
        }
    }

    /// A file, written whole under a temporary name and renamed into place
    /// when complete; or a block device (an attached EBS volume, say), on
    /// which the disk is built in place after the checks of
    /// [`open_build_target`]: not in use, large enough, blank unless
    /// [`Output::overwrite`].
    pub fn file(path: impl Into<PathBuf>) -> Output {
        Output::new(OutputTarget::Path(path.into()))
    }

    /// Standard output (a raw disk, a fixed VHD or a VMDK, in one pass).
    pub fn stdout() -> Output {
        Output::new(OutputTarget::Stdout)
    }

    /// Any writer, such as a socket or an upload, named `name` in
    /// messages: a raw disk, a fixed VHD or a VMDK, in one pass.
    pub fn writer(writer: impl Write + Send + 'static, name: &str) -> Output {
        Output::new(OutputTarget::Writer(Box::new(writer), name.into()))
    }

    /// A new EBS snapshot, written through the EBS direct APIs as the disk
    /// is built (only the blocks that hold data are sent), completed once
    /// every other output is, with the region and credentials of the
    /// standard chain ([`Ebs::from_env`](crate::ebs::Ebs::from_env)). Its
    /// volume is whole GiB, and the disk is laid out to fill it.
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use blockimg::ebs::SnapshotOptions;
    /// use blockimg::{DiskBuilder, Output, Silent, Source};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let built = DiskBuilder::new(Source::path("rootfs".as_ref())?)
    ///     .write(Output::snapshot(SnapshotOptions::default()), &mut Silent)?;
    /// println!("{}", built.snapshot.map(|s| s.id).unwrap_or_default());
    /// # Ok(())
    /// # }
    /// ```
    #[cfg(feature = "ebs")]
    pub fn snapshot(options: crate::ebs::SnapshotOptions) -> Output {
        Output::new(OutputTarget::Snapshot(Box::new(options))).format(OutputFormat::EbsSnapshot)
    }

    /// The format (default: from the file's extension, raw without one).
    pub fn format(mut self, format: OutputFormat) -> Output {
        self.format = Some(format);
        self
    }

    /// A fixed VHD sized as Azure requires (whole MiB).
    pub fn azure(mut self, azure: bool) -> Output {
        self.azure = azure;
        self
    }

    /// Replace an existing file; on a block device, write over one that
    /// is not blank.
    pub fn overwrite(mut self, overwrite: bool) -> Output {
        self.overwrite = overwrite;
        self
    }

    /// On a block device: leave what the disk does not use unwritten. Only
    /// for a device that reads as zeros, such as a new EBS volume.
    pub fn skip_zeros(mut self, skip_zeros: bool) -> Output {
        self.skip_zeros = skip_zeros;
        self
    }

    pub(super) fn destination(&self) -> Destination {
        match &self.target {
            OutputTarget::Path(path) => Destination::File(path.clone()),
            OutputTarget::Stdout | OutputTarget::Writer(..) => Destination::Stdout,
            #[cfg(feature = "ebs")]
            OutputTarget::Snapshot(_) => Destination::Stdout,
        }
    }

    /// The block device this output builds on, if it is one.
    /// The output's format, named or told by its file name; a block
    /// device takes only the raw disk.
    pub(super) fn checked_format(&self) -> Result<OutputFormat> {
        let format = OutputFormat::resolve(self.format, &self.destination())?;
        if self.device().is_some() && format != OutputFormat::Raw {
            return Err(Error::InvalidOption {
                option: "format".into(),
                reason: format!("a block device takes the raw disk, not {}", format.name()),
            });
        }
        Ok(format)
    }

    pub(super) fn device(&self) -> Option<&Path> {
        match &self.target {
            OutputTarget::Path(path) if is_block_device(path) => Some(path),
            _ => None,
        }
    }
}

/// One output [`write_outputs`] completed.
pub(crate) struct WrittenOutput {
    /// Size of the disk it presents.
    pub virtual_size: u64,
    /// Its bytes (sent, for a snapshot).
    pub bytes: u64,
    /// The snapshot, for a snapshot output.
    pub snapshot: Option<crate::ebs::Snapshot>,
}

/// Writes `disk` into each of `outputs` (files, standard output or
/// writers; not block devices), each completed and synced under a
/// temporary name, then publishes them together: a failing output leaves
/// none of the others behind. Snapshots are completed after the files and
/// before they are published. Under a fixed `timestamp` the outputs'
/// identifiers (a VHD's UUID and time) are derived, not random.
pub(crate) fn write_outputs(
    disk: &PlannedDisk<'_>,
    outputs: Vec<Output>,
    timestamp: Option<i64>,
    observer: &mut dyn Observer,
) -> Result<Vec<WrittenOutput>> {
    let mut written = Vec::new();
    let mut completed = Vec::new();
    #[cfg(feature = "ebs")]
    let mut snapshots = Vec::new();
    for output in outputs {
        #[cfg(feature = "ebs")]
        if let OutputTarget::Snapshot(options) = &output.target {
            let ebs = crate::ebs::Ebs::with_attempts(options.attempts)?;
            let mut writer = crate::ebs::SnapshotWriter::start(&ebs, disk.disk_size(), options)?;
            disk.write_observed(&mut writer, observer)?;
            snapshots.push((written.len(), writer));
            written.push(WrittenOutput {
                virtual_size: crate::sink::virtual_size(
                    OutputFormat::EbsSnapshot,
                    disk.disk_size(),
                    false,
                )?,
                bytes: 0,
                snapshot: None,
            });
            continue;
        }
        let destination = output.destination();
        let format = OutputFormat::resolve(output.format, &destination)?;
        let mut options = OutputOptions::new(format, output.overwrite)?;
        options.azure = output.azure;
        if let Some(time) = timestamp {
            options.reproducible(time, disk.fs_uuid());
        }
        let mut out = match output.target {
            OutputTarget::Writer(writer, name) => {
                open_output_writer(writer, &name, disk.disk_size(), &options)?
            }
            OutputTarget::Path(_) | OutputTarget::Stdout => {
                open_output(&destination, disk.disk_size(), &options)?
            }
            #[cfg(feature = "ebs")]
            OutputTarget::Snapshot(_) => continue,
        };
        disk.write_observed(out.sink(), observer)?;
        let virtual_size = out.virtual_size();
        let (done, bytes) = out.complete()?;
        completed.push(done);
        written.push(WrittenOutput {
            virtual_size,
            bytes,
            snapshot: None,
        });
    }
    #[cfg(feature = "ebs")]
    for (at, writer) in snapshots {
        let snapshot = writer.finish()?;
        written[at].bytes = snapshot.bytes_sent;
        written[at].snapshot = Some(snapshot);
    }
    for done in completed {
        done.publish()?;
    }
    Ok(written)
}

/// The sink for a disk of `disk_size` bytes built in place on `device`,
/// after the checks a block device gets (not in use, large enough, blank
/// unless overwriting).
pub(super) fn device_sink(device: &Path, disk_size: u64, output: &Output) -> Result<SparseFile> {
    let file = open_build_target(device, disk_size, output.overwrite)?;
    SparseFile::in_place(file, device, output.skip_zeros)
}
