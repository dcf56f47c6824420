//! Converting a disk image from one format to another.
//!
//! The input is read as a [`VirtualDisk`] (any format [`disk_format::open`]
//! recognizes) and only its ranges that may hold data are read: holes of a
//! sparse raw file, unallocated VHD blocks and absent VMDK grains are
//! skipped. The output sink then leaves out what is still zeros.
//!
//! [`disk_format::open`]: crate::disk_format::open

use std::path::Path;

use crate::disk_format::{self, check_name_matches, Format, VirtualDisk};
use crate::error::Result;
use crate::lock::ImageLock;
use crate::report::{self, Observer, Phase};
use crate::sink::{open_output, Destination, OutputOptions, Sink};

/// Bytes read and written at a time.
pub const CHUNK: usize = 4 << 20;

/// What [`convert`] did.
///
/// # Examples
///
/// ```
/// use blockimg::convert::convert;
/// use blockimg::sink::{Destination, OutputFormat, OutputOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// let vmdk = Destination::File(dir.path().join("disk.vmdk"));
/// let summary = convert(&image, &vmdk, &OutputOptions::new(OutputFormat::Vmdk, false)?, &mut blockimg::Silent)?;
/// assert_eq!(summary.virtual_size, 8 << 20); // VMDK keeps the size; VHD may round it up
/// assert!(summary.output_bytes < 8 << 20); // holes skipped, grains compressed
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct ConvertSummary {
    /// Format of the input.
    pub input_format: Format,
    /// Size of the input's disk in bytes.
    pub disk_size: u64,
    /// Size of the disk the output describes (VHD rounds it up).
    pub virtual_size: u64,
    /// Length of the output in bytes.
    pub output_bytes: u64,
    /// Bytes of the input's disk that were read.
    pub data_bytes: u64,
}

/// Copies the ranges of `disk` below byte `limit` that may hold data into
/// `sink`, in ascending order, `CHUNK` bytes at a time; `progress` gets the
/// bytes copied so far. Returns the bytes copied.
///
/// # Examples
///
/// ```
/// use blockimg::convert::{copy_disk, data_bytes};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// let mut disk = blockimg::disk_format::open(&image)?;
/// let mut copy = Vec::new(); // any Sink
/// let size = disk.size();
/// let copied = copy_disk(disk.as_mut(), &mut copy, size, &mut |_done| {})?;
/// assert_eq!(copied, data_bytes(disk.as_mut())?);
/// let mut mbr = [0u8; 512];
/// disk.read_at(0, &mut mbr)?;
/// assert_eq!(&copy[..512], &mbr[..]);
/// # Ok(())
/// # }
/// ```
pub fn copy_disk(
    disk: &mut dyn VirtualDisk,
    sink: &mut dyn Sink,
    limit: u64,
    progress: &mut dyn FnMut(u64),
) -> Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut copied = 0u64;
    for (start, len) in disk.data_ranges()? {
        let mut at = start;
        let end = (start + len).min(limit);
        while at < end {
            // Chunks end on CHUNK boundaries, so blocks and grains of every
            // format arrive whole.
            let boundary = (at / CHUNK as u64 + 1) * CHUNK as u64;
            let n = (end.min(boundary) - at) as usize;
            buf.resize(n, 0);
            disk.read_at(at, &mut buf)?;
            buf = sink.write_owned(at, buf)?;
            at += n as u64;
            copied += n as u64;
            progress(copied);
        }
    }
    Ok(copied)
}

/// The bytes of `disk` that may hold data.
///
/// # Examples
///
/// ```
/// use blockimg::convert::data_bytes;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// let mut disk = blockimg::disk_format::open(&image)?;
/// assert!(data_bytes(disk.as_mut())? < 8 << 20); // what a conversion has to read
/// # Ok(())
/// # }
/// ```
pub fn data_bytes(disk: &mut dyn VirtualDisk) -> Result<u64> {
    Ok(disk.data_ranges()?.iter().map(|&(_, len)| len).sum())
}

/// Converts the image at `input` into `options.format` at `dest`, with a
/// progress bar on a terminal when `progress`. An input whose name claims a
/// format its contents do not have is refused.
///
/// # Examples
///
/// ```
/// use blockimg::convert::convert;
/// use blockimg::disk_format::Format;
/// use blockimg::sink::{Destination, OutputFormat, OutputOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: a raw 8 MiB disk image.
/// let vhd = Destination::File(dir.path().join("disk.vhd"));
/// let options = OutputOptions::new(OutputFormat::Vhd, false)?;
/// let summary = convert(&image, &vhd, &options, &mut blockimg::Silent)?;
/// assert_eq!((summary.input_format, summary.disk_size), (Format::Raw, 8 << 20));
/// assert!(summary.data_bytes < 8 << 20); // the raw file's holes were skipped
///
/// let back = blockimg::disk_format::open(vhd.path())?;
/// assert_eq!(back.format(), Format::VhdDynamic);
/// assert_eq!(back.size(), summary.virtual_size);
/// # Ok(())
/// # }
/// ```
pub fn convert(
    input: &Path,
    dest: &Destination,
    options: &OutputOptions,
    observer: &mut dyn Observer,
) -> Result<ConvertSummary> {
    // A reader's lock, held to the end: refused while a program changes
    // the input, and no writer starts before the copy is done.
    let _lock = ImageLock::read(input)?;
    let mut disk = disk_format::open(input)?;
    check_name_matches(input, disk.format())?;
    let disk_size = disk.size();
    let total = data_bytes(disk.as_mut())?;
    let mut out = open_output(dest, disk_size, options)?;
    let data_bytes = report::phase(observer, Phase::Converting, total, |progress| {
        copy_disk(disk.as_mut(), out.sink(), disk_size, progress)
    })?;
    let virtual_size = out.virtual_size();
    let output_bytes = out.finish()?;
    Ok(ConvertSummary {
        input_format: disk.format(),
        disk_size,
        virtual_size,
        output_bytes,
        data_bytes,
    })
}
