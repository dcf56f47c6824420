//! Choosing and opening an output: a format (raw, VHD, VMDK) written to a
//! file (under a temporary name until complete) or to standard output.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use super::{Completed, Sink, SparseFile, Stream, TempOutput, VhdDynamic, VhdFixed, VmdkStream};
use crate::disk_format::{format_of_name, vhd, Format, ImageIdentity};
use crate::ebs::volume::{volume_gib, GIB};
use crate::error::FormatError;
use crate::error::{Error, Result};

/// Output formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// The disk's bytes; sparse when written to a file.
    Raw,
    /// Dynamic VHD: only the 2 MiB blocks that hold data.
    Vhd,
    /// Fixed VHD: the raw disk followed by a footer.
    VhdFixed,
    /// Stream-optimized VMDK: compressed grains.
    Vmdk,
    /// An EBS snapshot, written through the EBS direct APIs
    /// ([`Output::snapshot`](crate::Output::snapshot)); its volume is
    /// whole GiB.
    EbsSnapshot,
}

impl OutputFormat {
    /// The format's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Raw => "raw",
            OutputFormat::Vhd => "vhd",
            OutputFormat::VhdFixed => "vhd-fixed",
            OutputFormat::Vmdk => "vmdk",
            OutputFormat::EbsSnapshot => "ebs-snapshot",
        }
    }

    /// The format a file name's extension asks for: `.vhd` a dynamic VHD,
    /// `.vmdk` a VMDK, `.img` and `.raw` raw; other names say nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    ///
    /// use blockimg::sink::OutputFormat;
    ///
    /// assert_eq!(OutputFormat::from_extension(Path::new("disk.vmdk")), Some(OutputFormat::Vmdk));
    /// assert_eq!(OutputFormat::from_extension(Path::new("disk.img")), Some(OutputFormat::Raw));
    /// assert_eq!(OutputFormat::from_extension(Path::new("disk")), None);
    /// ```
    pub fn from_extension(path: &Path) -> Option<OutputFormat> {
        Some(match format_of_name(path)? {
            Format::Raw => OutputFormat::Raw,
            Format::VhdFixed | Format::VhdDynamic => OutputFormat::Vhd,
            Format::VmdkStream | Format::VmdkSparse => OutputFormat::Vmdk,
            Format::Qcow2 => return None,
        })
    }

    /// The format to write to `dest`: `chosen` when given (refused when the
    /// file name's extension names another format), else the one the
    /// extension names, else raw.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::path::Path;
    ///
    /// use blockimg::sink::{Destination, OutputFormat};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let vhd = Destination::from_arg(Path::new("disk.vhd"));
    /// assert_eq!(OutputFormat::resolve(None, &vhd)?, OutputFormat::Vhd);
    /// assert_eq!(OutputFormat::resolve(Some(OutputFormat::VhdFixed), &vhd)?, OutputFormat::VhdFixed);
    /// assert!(OutputFormat::resolve(Some(OutputFormat::Vmdk), &vhd).is_err()); // the name says otherwise
    /// let stdout = Destination::from_arg(Path::new("-"));
    /// assert_eq!(OutputFormat::resolve(None, &stdout)?, OutputFormat::Raw);
    /// # Ok(())
    /// # }
    /// ```
    pub fn resolve(chosen: Option<OutputFormat>, dest: &Destination) -> Result<OutputFormat> {
        let named = match dest {
            Destination::File(path) => {
                if format_of_name(path) == Some(Format::Qcow2) {
                    return Err(Error::from(FormatError::Mismatch {
                        path: path.clone(),
                        reason: "qcow2 is read, not written; name the output .img, .vhd or .vmdk"
                            .into(),
                    }));
                }
                OutputFormat::from_extension(path)
            }
            Destination::Stdout => None,
        };
        match (chosen, named) {
            (Some(c), Some(n)) if !same_family(c, n) => Err(Error::from(FormatError::Mismatch {
                path: dest.path().to_path_buf(),
                reason: format!(
                    "the name ends in a {} extension but the format asked for is {}; \
                     rename the output or choose the format that matches it",
                    n.name(),
                    c.name()
                ),
            })),
            (Some(c), _) => Ok(c),
            (None, Some(n)) => Ok(n),
            (None, None) => Ok(OutputFormat::Raw),
        }
    }
}

fn same_family(a: OutputFormat, b: OutputFormat) -> bool {
    let vhd = |f| matches!(f, OutputFormat::Vhd | OutputFormat::VhdFixed);
    a == b || (vhd(a) && vhd(b))
}

/// Where an output goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Destination {
    /// A new file (or a replaced one, with overwriting allowed).
    File(PathBuf),
    /// Standard output, for a pipe.
    Stdout,
}

impl Destination {
    /// `-` means standard output, anything else a file.
    pub fn from_arg(arg: &Path) -> Destination {
        if arg.as_os_str() == "-" {
            Destination::Stdout
        } else {
            Destination::File(arg.to_path_buf())
        }
    }

    /// The name used in messages.
    pub fn path(&self) -> &Path {
        match self {
            Destination::File(p) => p,
            Destination::Stdout => Path::new("standard output"),
        }
    }
}

/// How an output is written.
#[derive(Clone, Debug)]
pub struct OutputOptions {
    /// The format.
    pub format: OutputFormat,
    /// Replace an existing output file.
    pub overwrite: bool,
    /// VHD: round the virtual size up to a whole MiB, as Azure requires.
    pub azure: bool,
    /// UUID and time recorded in VHD and VMDK headers.
    pub identity: ImageIdentity,
    /// Threads compressing VMDK grains.
    pub threads: usize,
    /// Compression level of VMDK grains (1-12).
    pub level: u32,
}

impl OutputOptions {
    /// Options for `format` with a random identity, all cores and the
    /// default compression level.
    pub fn new(format: OutputFormat, overwrite: bool) -> Result<OutputOptions> {
        Ok(OutputOptions {
            format,
            overwrite,
            azure: false,
            identity: ImageIdentity::random()?,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            level: crate::disk_format::vmdk::write::DEFAULT_LEVEL,
        })
    }
}

impl OutputOptions {
    /// Records an identity derived from a reproducible build's `time` and
    /// root filesystem UUID in VHD and VMDK headers, so the same build gives
    /// the same bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::sink::{OutputFormat, OutputOptions};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut options = OutputOptions::new(OutputFormat::Vhd, false)?; // a random identity
    /// options.reproducible(1_700_000_000, [0x42; 16]); // the build's time and filesystem UUID
    /// assert_eq!(options.identity.time, 1_700_000_000);
    /// let mut again = OutputOptions::new(OutputFormat::Vhd, false)?;
    /// again.reproducible(1_700_000_000, [0x42; 16]);
    /// assert_eq!(options.identity, again.identity); // same build, same headers
    /// # Ok(())
    /// # }
    /// ```
    pub fn reproducible(&mut self, time: i64, fs_uuid: [u8; 16]) {
        self.identity = ImageIdentity {
            uuid: crate::identity::derived_uuid("blockimg image identity", &[&fs_uuid]),
            time,
        };
    }
}

/// The size of the disk a `format` output of a `disk_size`-byte disk
/// describes.
///
/// # Examples
///
/// ```
/// use blockimg::sink::{virtual_size, OutputFormat};
///
/// # fn main() -> blockimg::Result<()> {
/// assert_eq!(virtual_size(OutputFormat::Raw, 100_000_000, false)?, 100_000_000);
/// // A VHD describes its disk by cylinders, heads and sectors: it rounds up.
/// let vhd = virtual_size(OutputFormat::Vhd, 100_000_000, false)?;
/// assert!(vhd >= 100_000_000);
/// assert_eq!(virtual_size(OutputFormat::Vhd, 100_000_000, true)? % (1 << 20), 0); // Azure: whole MiB
/// assert_eq!(virtual_size(OutputFormat::EbsSnapshot, 100_000_000, false)?, 1 << 30); // whole GiB
/// # Ok(())
/// # }
/// ```
pub fn virtual_size(format: OutputFormat, disk_size: u64, azure: bool) -> Result<u64> {
    match format {
        OutputFormat::Raw => Ok(disk_size),
        OutputFormat::Vhd | OutputFormat::VhdFixed => vhd::virtual_size(disk_size, azure),
        OutputFormat::Vmdk => Ok(disk_size.next_multiple_of(512)),
        OutputFormat::EbsSnapshot => Ok(volume_gib(disk_size)? * GIB),
    }
}

/// Opens an output for a disk of `disk_size` bytes.
///
/// # Examples
///
/// ```
/// use blockimg::image::{plan_disk, DiskSize, ImageOptions, PartitionTable};
/// use blockimg::sink::{open_output, Destination, OutputFormat, OutputOptions};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
/// let disk = plan_disk(&tree, &options)?;
///
/// let dir = tempfile::tempdir()?;
/// let dest = Destination::File(dir.path().join("disk.vmdk"));
/// let format = OutputOptions::new(OutputFormat::Vmdk, false)?;
/// let mut output = open_output(&dest, disk.disk_size(), &format)?;
/// disk.write_to(output.sink())?;
/// let bytes = output.finish()?;
/// assert!(bytes < 1 << 20); // compressed grains: far smaller than the disk
///
/// let vmdk = blockimg::disk_format::open(dest.path())?;
/// assert_eq!((vmdk.format().name(), vmdk.size()), ("vmdk", 64 << 20));
/// # Ok(())
/// # }
/// ```
pub fn open_output(dest: &Destination, disk_size: u64, options: &OutputOptions) -> Result<Output> {
    match dest {
        Destination::File(path) => open(Place::File(path), disk_size, options),
        Destination::Stdout => {
            let name = dest.path();
            open(Place::Stream(Box::new(stdout()?), name), disk_size, options)
        }
    }
}

/// [`open_output`] into any writer, named `name` in messages: a raw disk,
/// a fixed VHD or a stream-optimized VMDK, written front to back.
///
/// # Examples
///
/// ```
/// use std::path::Path;
/// use blockimg::sink::{open_output_writer, OutputFormat, OutputOptions};
///
/// # fn main() -> blockimg::Result<()> {
/// let options = OutputOptions::new(OutputFormat::VhdFixed, false)?;
/// let mut out = open_output_writer(Box::new(std::io::sink()), Path::new("nowhere"), 1 << 20, &options)?;
/// out.sink().write_at(0, &[0x55; 512])?;
/// let size = out.virtual_size(); // 1 MiB, rounded up to the VHD's geometry
/// assert_eq!(out.finish()?, size + 512); // the disk, then the VHD footer
/// # Ok(())
/// # }
/// ```
pub fn open_output_writer(
    writer: Box<dyn Write + Send>,
    name: &Path,
    disk_size: u64,
    options: &OutputOptions,
) -> Result<Output> {
    open(Place::Stream(writer, name), disk_size, options)
}

/// Where [`open`] writes.
enum Place<'a> {
    File(&'a Path),
    Stream(Box<dyn Write + Send>, &'a Path),
}

fn open(place: Place<'_>, disk_size: u64, options: &OutputOptions) -> Result<Output> {
    if options.azure && options.format != OutputFormat::VhdFixed {
        return Err(Error::InvalidOption {
            option: "azure".into(),
            reason: format!("Azure takes fixed VHDs, not {}", options.format.name()),
        });
    }
    let size = virtual_size(options.format, disk_size, options.azure)?;
    let writer = match (place, options.format) {
        (Place::File(p), OutputFormat::Raw) => {
            Writer::RawFile(SparseFile::create(p, options.overwrite)?)
        }
        (Place::Stream(out, path), OutputFormat::Raw) => Writer::RawStream(Stream::new(out, path)),
        (Place::File(p), OutputFormat::VhdFixed) => Writer::FixedFile(VhdFixed::new(
            SparseFile::create(p, options.overwrite)?,
            p,
            size,
            &options.identity,
        )),
        (Place::Stream(out, path), OutputFormat::VhdFixed) => Writer::FixedStream(VhdFixed::new(
            Stream::new(out, path),
            path,
            size,
            &options.identity,
        )),
        (Place::File(p), OutputFormat::Vhd) => Writer::Dynamic(VhdDynamic::create(
            p,
            options.overwrite,
            size,
            &options.identity,
        )?),
        (Place::Stream(..), OutputFormat::Vhd) => {
            return Err(Error::InvalidOption {
                option: "format".into(),
                reason: "a dynamic VHD cannot be written to a pipe; use vhd-fixed, vmdk or raw"
                    .into(),
            })
        }
        (Place::File(p), OutputFormat::Vmdk) => {
            let temp = TempOutput::create(p, options.overwrite)?;
            let file = temp.file().try_clone().map_err(|e| Error::io(p, e))?;
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "disk.vmdk".into());
            let stream = VmdkStream::new(
                // Unbuffered: grain records are large, and a failed write
                // is then reported at its own offset.
                file,
                p,
                &name,
                size,
                &options.identity,
                options.threads,
                options.level,
            )?;
            Writer::VmdkFile(stream, temp)
        }
        (_, OutputFormat::EbsSnapshot) => {
            return Err(Error::InvalidOption {
                option: "format".into(),
                reason: "an EBS snapshot is not a file: write it with blockimg::Output::snapshot"
                    .into(),
            })
        }
        (Place::Stream(out, path), OutputFormat::Vmdk) => Writer::VmdkPipe(VmdkStream::new(
            out,
            path,
            "disk.vmdk",
            size,
            &options.identity,
            options.threads,
            options.level,
        )?),
    };
    Ok(Output { writer, size })
}

/// Standard output as an unbuffered file behind a large buffer (the
/// standard library's stdout flushes at every newline). A terminal is
/// refused: disk images are binary.
fn stdout() -> Result<BufWriter<File>> {
    let out = std::io::stdout();
    if out.is_terminal() {
        return Err(Error::InvalidOption {
            option: "output".into(),
            reason: "standard output is a terminal; redirect it to a file or a pipe".into(),
        });
    }
    let fd = out
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| Error::io("standard output", e))?;
    Ok(BufWriter::with_capacity(4 << 20, File::from(fd)))
}

/// The writers behind an [`Output`].
enum Writer {
    RawFile(SparseFile),
    RawStream(Stream<Box<dyn Write + Send>>),
    FixedFile(VhdFixed<SparseFile>),
    FixedStream(VhdFixed<Stream<Box<dyn Write + Send>>>),
    Dynamic(VhdDynamic),
    VmdkFile(VmdkStream<File>, TempOutput),
    VmdkPipe(VmdkStream<Box<dyn Write + Send>>),
}

/// An opened output: a sink for the disk, completed by [`Output::finish`].
/// Dropping an unfinished output removes its temporary file.
pub struct Output {
    writer: Writer,
    size: u64,
}

impl Output {
    /// Where the disk's bytes go, in ascending offset order.
    pub fn sink(&mut self) -> &mut dyn Sink {
        match &mut self.writer {
            Writer::RawFile(w) => w,
            Writer::RawStream(w) => w,
            Writer::FixedFile(w) => w,
            Writer::FixedStream(w) => w,
            Writer::Dynamic(w) => w,
            Writer::VmdkFile(w, _) => w,
            Writer::VmdkPipe(w) => w,
        }
    }

    /// Size of the disk the output describes: the disk's size, or more
    /// when the format rounds it (VHD).
    pub fn virtual_size(&self) -> u64 {
        self.size
    }

    /// Writes trailing structures, syncs and renames the file into place.
    /// Returns the output's length in bytes.
    pub fn finish(self) -> Result<u64> {
        let (completed, len) = self.complete()?;
        completed.publish()?;
        Ok(len)
    }

    /// Writes trailing structures and syncs, but leaves a file without its
    /// final name until [`Completed::publish`]: a build with several
    /// outputs completes them all before publishing any. Returns the
    /// output's length in bytes too.
    pub fn complete(self) -> Result<(Completed, u64)> {
        let size = self.size;
        Ok(match self.writer {
            Writer::RawFile(w) => (w.seal(size, &[])?, size),
            Writer::RawStream(w) => {
                w.finish(size)?;
                (Completed::done(), size)
            }
            Writer::FixedFile(w) => {
                let len = w.file_size();
                (w.finish()?.seal(len, &[])?, len)
            }
            Writer::FixedStream(w) => {
                let len = w.file_size();
                w.finish()?.finish(len)?;
                (Completed::done(), len)
            }
            Writer::Dynamic(w) => w.seal()?,
            Writer::VmdkFile(w, temp) => {
                let (_, len) = w.finish()?;
                (Completed::sealed(temp.seal(len)?), len)
            }
            Writer::VmdkPipe(w) => (Completed::done(), w.finish()?.1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_comes_from_the_option_or_the_extension() {
        let file = |name: &str| Destination::File(PathBuf::from(name));
        let resolve = |chosen, dest: &Destination| OutputFormat::resolve(chosen, dest);
        assert_eq!(resolve(None, &file("a.VHD")).unwrap(), OutputFormat::Vhd);
        assert_eq!(resolve(None, &file("a.vmdk")).unwrap(), OutputFormat::Vmdk);
        assert_eq!(resolve(None, &file("a.qcow")).unwrap(), OutputFormat::Raw);
        assert_eq!(
            resolve(None, &Destination::Stdout).unwrap(),
            OutputFormat::Raw
        );
        let fixed = Some(OutputFormat::VhdFixed);
        assert_eq!(
            resolve(fixed, &file("a.vhd")).unwrap(),
            OutputFormat::VhdFixed
        );
        assert_eq!(
            resolve(fixed, &file("a.bin")).unwrap(),
            OutputFormat::VhdFixed
        );
        let err = resolve(Some(OutputFormat::Vmdk), &file("a.vhd")).unwrap_err();
        assert!(err.to_string().contains("a.vhd"), "{err}");
        assert!(resolve(Some(OutputFormat::Raw), &file("a.vmdk")).is_err());
        assert_eq!(Destination::from_arg(Path::new("-")), Destination::Stdout);
    }

    #[test]
    fn azure_is_for_fixed_vhds_and_dynamic_vhds_need_a_file() {
        let mut options = OutputOptions::new(OutputFormat::Vhd, false).unwrap();
        options.azure = true;
        let dir = tempfile::tempdir().unwrap();
        let dest = Destination::File(dir.path().join("a.vhd"));
        assert!(open_output(&dest, 1 << 20, &options).is_err());
        options.azure = false;
        assert!(open_output(&Destination::Stdout, 1 << 20, &options).is_err());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
