//! Disk image formats: raw, VHD (fixed and dynamic), VMDK (stream-optimized
//! and monolithic sparse) and, for reading, qcow2.
//!
//! [`open`] recognizes a format from a file's bytes (never from its name),
//! checks its structures, and returns a [`VirtualDisk`] that reads the disk
//! it holds. Readers never trust the file: every offset, size and count is
//! checked before use, and errors name the file, the field and the value.
//!
//! Each format has a folder: `vhd/` and `vmdk/` hold the on-disk structures
//! (`mod.rs`), the reader (`read.rs`) and the writers (`write.rs`, which
//! [`crate::sink`] re-exports: [`crate::sink::VhdFixed`],
//! [`crate::sink::VhdDynamic`], [`crate::sink::VmdkStream`]); `qcow2/` the
//! same without a writer. Readers of two-level formats (VMDK, qcow2) share
//! `clustered.rs`; raw disks, which have no structure, are read by `raw.rs`.

mod backing;
mod clustered;
mod qcow2;
mod raw;
mod readable;

#[cfg(test)]
mod roundtrip_tests;
// Public for the fuzz targets and the tests crate (checksum, sizes).
#[doc(hidden)]
pub mod vhd;
pub(crate) mod vmdk;

use std::fs::File;
use std::io;
use std::path::Path;

pub use backing::Backing;
pub use qcow2::read::Qcow2Disk;
pub use raw::RawDisk;
pub(crate) use readable::seek_target;
pub use readable::{open_disk_bytes, BackingCursor, DiskBytes};
pub use vhd::read::VhdDisk;
pub use vmdk::read::VmdkDisk;

pub use crate::error::FormatError;
use crate::error::{Error, Result};

/// The formats [`open`] reads.
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{open_backing, Format};
///
/// # fn main() -> blockimg::Result<()> {
/// let disk = open_backing(vec![0u8; 4096], "zeros.img".as_ref())?;
/// assert_eq!(disk.format(), Format::Raw);
/// assert_eq!(Format::VhdDynamic.name(), "vhd");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// The disk's bytes as they are.
    Raw,
    /// VHD, fixed: the raw disk followed by a footer.
    VhdFixed,
    /// VHD, dynamic: allocated 2 MiB blocks only.
    VhdDynamic,
    /// VMDK, stream-optimized: compressed grains.
    VmdkStream,
    /// VMDK, monolithic sparse: uncompressed grains.
    VmdkSparse,
    /// qcow2 (read only): plain, zero and compressed clusters.
    Qcow2,
}

impl Format {
    /// The name used on the command line and in messages.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::Format;
    ///
    /// assert_eq!(Format::VmdkStream.name(), "vmdk");
    /// assert_eq!(Format::VhdFixed.name(), "vhd-fixed");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::VhdFixed => "vhd-fixed",
            Format::VhdDynamic => "vhd",
            Format::VmdkStream => "vmdk",
            Format::VmdkSparse => "vmdk (monolithicSparse)",
            Format::Qcow2 => "qcow2",
        }
    }
}

/// Identity written into image headers: a UUID (VHD) or content ID (VMDK)
/// and a creation time. Derived from the filesystem for reproducible
/// builds, random otherwise.
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::ImageIdentity;
/// use blockimg::sink::{Sink, VhdFixed};
///
/// # fn main() -> blockimg::Result<()> {
/// // Fixed for a reproducible image; ImageIdentity::random() otherwise.
/// let identity = ImageIdentity { uuid: [7; 16], time: 1_700_000_000 };
/// let build = || -> blockimg::Result<Vec<u8>> {
///     let mut vhd = VhdFixed::new(Vec::new(), "disk.vhd".as_ref(), 1 << 20, &identity);
///     vhd.write_at(0, b"same bytes")?;
///     vhd.finish()
/// };
/// assert_eq!(build()?, build()?);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageIdentity {
    /// Unique identifier of the image.
    pub uuid: [u8; 16],
    /// Creation time in seconds since the Unix epoch.
    pub time: i64,
}

impl ImageIdentity {
    /// A random identifier and the current time.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::ImageIdentity;
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let (a, b) = (ImageIdentity::random()?, ImageIdentity::random()?);
    /// assert_ne!(a.uuid, b.uuid);
    /// assert!(a.time > 1_600_000_000);
    /// # Ok(())
    /// # }
    /// ```
    pub fn random() -> Result<ImageIdentity> {
        let time = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Ok(ImageIdentity {
            uuid: crate::identity::random_uuid()?,
            time,
        })
    }
}

/// A disk held in an image file, read as the disk it describes.
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{open_backing, Format, VirtualDisk};
///
/// # fn main() -> blockimg::Result<()> {
/// // Copies the data of any disk image, skipping its holes.
/// fn copy_data(disk: &mut dyn VirtualDisk) -> blockimg::Result<Vec<u8>> {
///     let mut out = vec![0; disk.size() as usize];
///     for (offset, len) in disk.data_ranges()? {
///         disk.read_at(offset, &mut out[offset as usize..][..len as usize])?;
///     }
///     Ok(out)
/// }
/// let mut disk = open_backing(vec![1u8; 4096], "ones.img".as_ref())?;
/// assert_eq!(disk.format(), Format::Raw);
/// assert_eq!(copy_data(disk.as_mut())?, vec![1u8; 4096]);
/// # Ok(())
/// # }
/// ```
pub trait VirtualDisk: Send {
    /// The image's format.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::{open_backing, Format};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut disk = open_backing(vec![1u8; 8192], "disk.img".as_ref())?;
    /// assert_eq!(disk.format(), Format::Raw);
    /// # Ok(())
    /// # }
    /// ```
    fn format(&self) -> Format;
    /// Size of the disk in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::{open_backing, Format};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut disk = open_backing(vec![1u8; 8192], "disk.img".as_ref())?;
    /// assert_eq!(disk.size(), 8192);
    /// # Ok(())
    /// # }
    /// ```
    fn size(&self) -> u64;
    /// The ranges of the disk that may hold data, as (offset, length),
    /// ascending and non-overlapping; everything else reads as zeros.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::{open_backing, Format};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut disk = open_backing(vec![1u8; 8192], "disk.img".as_ref())?;
    /// assert_eq!(disk.data_ranges()?, [(0, 8192)]);
    /// # Ok(())
    /// # }
    /// ```
    fn data_ranges(&mut self) -> Result<Vec<(u64, u64)>>;
    /// Fills `buf` with the disk's bytes from `offset`; the range must lie
    /// within the disk.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::{open_backing, Format};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut disk = open_backing(vec![1u8; 8192], "disk.img".as_ref())?;
    /// let mut buf = [0; 512];
    /// disk.read_at(4096, &mut buf)?;
    /// assert_eq!(buf, [1; 512]);
    /// assert!(disk.read_at(8000, &mut buf).is_err()); // past the end of the disk
    /// # Ok(())
    /// # }
    /// ```
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;
}

/// Reads `buf.len()` bytes at `offset` of `backing`, naming `path` and the
/// offset on failure.
pub(crate) fn read_exact(
    backing: &dyn Backing,
    path: &Path,
    buf: &mut [u8],
    offset: u64,
) -> Result<()> {
    backing
        .read_exact_at(buf, offset)
        .map_err(|source| Error::Read {
            path: path.to_path_buf(),
            offset,
            source,
        })
}

/// Checks that `offset..offset + len` lies within a disk of `size` bytes.
pub(crate) fn check_range(path: &Path, size: u64, offset: u64, len: usize) -> Result<()> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::Read {
            path: path.to_path_buf(),
            offset,
            source: io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!("{len} bytes at byte offset {offset} lie beyond the disk's {size} bytes"),
            ),
        }),
    }
}

/// Recognizes the format of the image in `backing` from its bytes.
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{detect, Format, ImageIdentity};
/// use blockimg::sink::VhdFixed;
///
/// # fn main() -> blockimg::Result<()> {
/// let identity = ImageIdentity { uuid: [1; 16], time: 1_700_000_000 };
/// let vhd = VhdFixed::new(Vec::new(), "disk".as_ref(), 1 << 20, &identity).finish()?;
/// // By its bytes, never by its name.
/// assert_eq!(detect(&vhd, "disk.img".as_ref())?, Format::VhdFixed);
/// assert_eq!(detect(&vec![0u8; 1 << 20], "disk.vhd".as_ref())?, Format::Raw);
/// # Ok(())
/// # }
/// ```
pub fn detect(backing: &dyn Backing, path: &Path) -> Result<Format> {
    let len = backing.byte_len().map_err(|e| Error::io(path, e))?;
    if len < 512 {
        return Ok(Format::Raw);
    }
    let mut head = [0u8; 512];
    read_exact(backing, path, &mut head, 0)?;
    let unsupported = |what: &str| {
        Err(Error::from(FormatError::Unsupported {
            path: path.to_path_buf(),
            reason: format!(
                "{what} images cannot be read; convert to raw first \
                 (qemu-img convert -O raw)"
            ),
        }))
    };
    if head.starts_with(vmdk::MAGIC) {
        let header = vmdk::SparseHeader::decode(&head, path, "header")?;
        return Ok(match header.compress_algorithm {
            vmdk::COMPRESS_DEFLATE => Format::VmdkStream,
            _ => Format::VmdkSparse,
        });
    }
    if head.starts_with(vhd::FOOTER_MAGIC) {
        return Ok(Format::VhdDynamic);
    }
    if head.starts_with(qcow2::MAGIC) {
        return Ok(Format::Qcow2);
    }
    if head.starts_with(b"vhdxfile") {
        return unsupported("VHDX");
    }
    if head.starts_with(b"COWD") {
        return unsupported("VMware ESX sparse (COWD)");
    }
    if head.starts_with(b"# Disk DescriptorFile") {
        return Err(Error::from(FormatError::Unsupported {
            path: path.to_path_buf(),
            reason: "this is a VMDK descriptor without data; \
                     give the extent file it names instead"
                .into(),
        }));
    }
    if head.starts_with(b"<<< ") && head.get(0x40..0x44) == Some(b"\x7f\x10\xda\xbe") {
        return unsupported("VirtualBox VDI");
    }
    let mut tail = [0u8; 512];
    read_exact(backing, path, &mut tail, len - 512)?;
    if tail.starts_with(b"conectix") {
        let footer = vhd::Footer::decode(&tail, path)?;
        return Ok(match footer.disk_type {
            vhd::DiskType::Fixed => Format::VhdFixed,
            vhd::DiskType::Dynamic => Format::VhdDynamic,
        });
    }
    Ok(Format::Raw)
}

/// Opens the image in `backing` (named `path` in messages) as a virtual
/// disk, whatever its format.
///
/// # Examples
///
/// ```
/// use std::path::Path;
///
/// use blockimg::disk_format::{detect, open_backing, Format};
///
/// # fn main() -> blockimg::Result<()> {
/// // A 1 MiB raw disk held in memory, with an MBR signature.
/// let mut bytes = vec![0u8; 1 << 20];
/// bytes[510..512].copy_from_slice(&[0x55, 0xaa]);
/// assert_eq!(detect(&bytes, Path::new("memory"))?, Format::Raw);
///
/// let mut disk = open_backing(bytes, Path::new("memory"))?;
/// let mut sector = [0u8; 512];
/// disk.read_at(0, &mut sector)?;
/// assert_eq!((disk.size(), &sector[510..]), (1 << 20, &[0x55, 0xaa][..]));
/// # Ok(())
/// # }
/// ```
pub fn open_backing<B: Backing + 'static>(backing: B, path: &Path) -> Result<Box<dyn VirtualDisk>> {
    Ok(match detect(&backing, path)? {
        Format::Raw => Box::new(RawDisk::open(backing, path)?),
        Format::VhdFixed | Format::VhdDynamic => Box::new(VhdDisk::open(backing, path)?),
        Format::VmdkStream | Format::VmdkSparse => Box::new(VmdkDisk::open(backing, path)?),
        Format::Qcow2 => Box::new(Qcow2Disk::open(backing, path)?),
    })
}

/// Opens the image file at `path` as a virtual disk, whatever its format.
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{open, Format};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // Any format: raw, VHD, VMDK, qcow2.
/// let mut disk = open(&image)?;
/// assert_eq!((disk.format(), disk.size()), (Format::Raw, 8 << 20));
/// let mut sector = [0u8; 512];
/// disk.read_at(0, &mut sector)?;
/// assert_eq!(&sector[510..], &[0x55, 0xaa]); // the protective MBR's signature
/// assert!(disk.data_ranges()?.len() >= 2); // the tables and the filesystem; holes between
/// # Ok(())
/// # }
/// ```
pub fn open(path: &Path) -> Result<Box<dyn VirtualDisk>> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    open_backing(file, path)
}

/// The format a file name's extension suggests, if any.
///
/// # Examples
///
/// ```
/// use std::path::Path;
///
/// use blockimg::disk_format::{check_name_matches, format_of_name, Format};
///
/// assert_eq!(format_of_name(Path::new("disk.qcow2")), Some(Format::Qcow2));
/// assert_eq!(format_of_name(Path::new("disk.bin")), None);
/// // A file named .vhd that holds a raw disk is refused rather than read raw.
/// assert!(check_name_matches(Path::new("disk.vhd"), Format::Raw).is_err());
/// assert!(check_name_matches(Path::new("disk.vhd"), Format::VhdDynamic).is_ok());
/// ```
pub fn format_of_name(path: &Path) -> Option<Format> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "vhd" => Some(Format::VhdDynamic),
        "vmdk" => Some(Format::VmdkStream),
        "qcow2" => Some(Format::Qcow2),
        "img" | "raw" => Some(Format::Raw),
        _ => None,
    }
}

/// Checks that an input's contents agree with its name: a file named
/// `*.vhd` or `*.vmdk` that holds no such image is refused rather than read
/// as a raw disk.
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{check_name_matches, Format};
///
/// # fn main() -> blockimg::Result<()> {
/// check_name_matches("disk.vmdk".as_ref(), Format::VmdkSparse)?; // either VMDK
/// check_name_matches("disk.bin".as_ref(), Format::Qcow2)?; // no claim made
/// assert!(check_name_matches("disk.qcow2".as_ref(), Format::Raw).is_err());
/// # Ok(())
/// # }
/// ```
pub fn check_name_matches(path: &Path, found: Format) -> Result<()> {
    let family = |f: Format| match f {
        Format::Raw => "raw",
        Format::VhdFixed | Format::VhdDynamic => "VHD",
        Format::VmdkStream | Format::VmdkSparse => "VMDK",
        Format::Qcow2 => "qcow2",
    };
    match format_of_name(path) {
        Some(named) if named != Format::Raw && family(named) != family(found) => {
            Err(Error::from(FormatError::Mismatch {
                path: path.to_path_buf(),
                reason: format!(
                    "the name says {} but the contents are {} (no {} header or footer found)",
                    family(named),
                    family(found),
                    family(named)
                ),
            }))
        }
        _ => Ok(()),
    }
}

/// Refuses an image that is not a raw disk (VHD, VMDK, qcow2), for the
/// commands that change a filesystem in place (`add`, `mount`,
/// `install-grub`); reading works on every format ([`open_disk_bytes`]).
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::require_raw;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let raw = dir.path().join("disk.img");
/// # let vmdk = dir.path().join("disk.vmdk");
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n[[output]]\npath = \"disk.vmdk\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// require_raw(&std::fs::File::open(&raw)?, &raw)?;
/// let err = require_raw(&std::fs::File::open(&vmdk)?, &vmdk).unwrap_err();
/// assert!(err.to_string().ends_with("disk.vmdk: a vmdk image; blockimg changes filesystems in raw images only: `blockimg convert` it to raw first"));
/// # Ok(())
/// # }
/// ```
pub fn require_raw(file: &File, path: &Path) -> Result<()> {
    match detect(file, path)? {
        Format::Raw => Ok(()),
        format => Err(Error::from(FormatError::Unsupported {
            path: path.to_path_buf(),
            reason: format!(
                "a {} image; blockimg changes filesystems in raw images only: `blockimg convert` it to raw first",
                format.name()
            ),
        })),
    }
}
