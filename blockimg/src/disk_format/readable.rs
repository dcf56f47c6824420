//! Reading the disk an image holds, in place, whatever its format: a raw
//! image is its own bytes; VHD, VMDK and qcow2 are read through their
//! readers, behind one [`Backing`] that several readers can share.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::{Arc, Mutex};

use super::{detect, open_backing, Backing, Format, VirtualDisk};
use crate::error::{Error, Result};

/// The bytes of a disk image, shared between readers and threads.
pub type DiskBytes = Arc<dyn Backing + Sync>;

/// A virtual disk behind a lock, read by position like a file.
struct SharedDisk {
    disk: Mutex<Box<dyn VirtualDisk>>,
    size: u64,
}

impl Backing for SharedDisk {
    fn byte_len(&self) -> io::Result<u64> {
        Ok(self.size)
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut disk = self
            .disk
            .lock()
            .map_err(|_| io::Error::other("a reader of this disk failed"))?;
        disk.read_at(offset, buf).map_err(io::Error::other)
    }
}

/// Opens the image at `path` for reading its disk's bytes: a raw image (or
/// block device) as it is, a VHD, VMDK or qcow2 image through its reader.
/// Returns the bytes and the format found (from the contents, never the
/// name).
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{open_disk_bytes, Format};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n[[output]]\npath = \"disk.vmdk\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let (raw, vmdk) = (dir.path().join("disk.img"), dir.path().join("disk.vmdk"));
/// // disk.img and disk.vmdk hold the same 8 MiB disk.
/// let (raw_bytes, format) = open_disk_bytes(&raw)?;
/// assert_eq!(format, Format::Raw);
/// let (vmdk_bytes, format) = open_disk_bytes(&vmdk)?;
/// assert_eq!(format, Format::VmdkStream);
/// assert_eq!(vmdk_bytes.byte_len()?, 8 << 20);
/// let (mut a, mut b) = ([0u8; 512], [0u8; 512]);
/// raw_bytes.read_exact_at(&mut a, 0)?;
/// vmdk_bytes.read_exact_at(&mut b, 0)?;
/// assert_eq!(a, b); // the MBR, read through the VMDK's grains
/// # Ok(())
/// # }
/// ```
pub fn open_disk_bytes(path: &Path) -> Result<(DiskBytes, Format)> {
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let format = detect(&file, path)?;
    if format == Format::Raw {
        return Ok((Arc::new(file), format));
    }
    let disk = open_backing(file, path)?;
    let size = disk.size();
    let shared = SharedDisk {
        disk: Mutex::new(disk),
        size,
    };
    Ok((Arc::new(shared), format))
}

/// A [`Read`] and [`Seek`] stream over a [`Backing`], for parsers that
/// want one (gptman).
///
/// # Examples
///
/// ```
/// use std::io::{Read, Seek, SeekFrom};
///
/// use blockimg::disk_format::BackingCursor;
///
/// # fn main() -> std::io::Result<()> {
/// let disk = b"0123456789".to_vec();
/// let mut cursor = BackingCursor::new(&disk)?;
/// cursor.seek(SeekFrom::End(-4))?;
/// let mut rest = String::new();
/// cursor.read_to_string(&mut rest)?;
/// assert_eq!(rest, "6789");
/// # Ok(())
/// # }
/// ```
pub struct BackingCursor<'a> {
    bytes: &'a dyn Backing,
    len: u64,
    pos: u64,
}

impl<'a> BackingCursor<'a> {
    /// A stream at the start of `bytes`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// use blockimg::disk_format::BackingCursor;
    ///
    /// # fn main() -> std::io::Result<()> {
    /// let disk = vec![7u8; 3];
    /// let mut all = Vec::new();
    /// BackingCursor::new(&disk)?.read_to_end(&mut all)?;
    /// assert_eq!(all, [7, 7, 7]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(bytes: &'a dyn Backing) -> io::Result<Self> {
        Ok(BackingCursor {
            len: bytes.byte_len()?,
            bytes,
            pos: 0,
        })
    }
}

impl Read for BackingCursor<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.len.saturating_sub(self.pos).min(buf.len() as u64) as usize;
        let dst = buf.get_mut(..n).unwrap_or_default();
        self.bytes.read_exact_at(dst, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for BackingCursor<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = seek_target(self.pos, self.len, to)?;
        Ok(self.pos)
    }
}

/// Where a seek `to` lands in a stream of `len` bytes now at `pos`; an
/// error before the start.
pub(crate) fn seek_target(pos: u64, len: u64, to: SeekFrom) -> io::Result<u64> {
    match to {
        SeekFrom::Start(at) => Some(at),
        SeekFrom::End(delta) => len.checked_add_signed(delta),
        SeekFrom::Current(delta) => pos.checked_add_signed(delta),
    }
    .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))
}
