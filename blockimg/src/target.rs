//! Writing a disk image onto a block device (such as an attached EBS
//! volume) or an existing file, in place.
//!
//! Before a byte is written the target is checked: it must be a block
//! device or a regular file, at least as large as the disk (or as its
//! partitions, when only zeros follow them, as in a VHD), not mounted,
//! not held by another device (device mapper, RAID), not used as swap, not
//! behind a loop device, and, unless forced, blank in its first MiB. Block
//! devices are opened exclusively (`O_EXCL`), which the kernel refuses while
//! anything has the device claimed; a regular file is locked for writing
//! ([`crate::lock`]), which is refused while another program changes or
//! reads it (a mount of it, `blockimg add`).

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use crate::convert::{copy_disk, CHUNK};
use crate::disk::found::mbr;
use crate::disk::layout::SECTOR;
use crate::disk_format::VirtualDisk;
use crate::error::{Error, Result};
use crate::lock::ImageLock;
use crate::report::{self, Observer, Phase};
use crate::sink::DeviceWriter;

pub use crate::error::TargetError;

/// Bytes at the start of a target that must be zero for it to count as
/// blank.
const BLANK_CHECK: u64 = 1 << 20;

/// A checked, opened target.
///
/// # Examples
///
/// ```
/// use blockimg::target::open_target;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// // A block device such as /dev/nvme1n1 in real use; here an existing file.
/// let path = dir.path().join("target.img");
/// std::fs::File::create(&path)?.set_len(16 << 20)?;
/// let target = open_target(&path)?;
/// assert_eq!((target.size(), target.is_block_device()), (16 << 20, false));
/// # Ok(())
/// # }
/// ```
pub struct Target {
    file: File,
    path: PathBuf,
    size: u64,
    block_device: bool,
    /// A regular file's write lock, held until the target is dropped.
    lock: Option<ImageLock>,
}

impl Target {
    /// The target's size in bytes.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::target::open_target;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// // A block device such as /dev/nvme1n1 in real use; here an existing file.
    /// let path = dir.path().join("target.img");
    /// std::fs::File::create(&path)?.set_len(16 << 20)?;
    /// assert_eq!(open_target(&path)?.size(), 16 << 20);
    /// # Ok(())
    /// # }
    /// ```
    pub fn size(&self) -> u64 {
        self.size
    }

    /// True for a block device, false for a regular file.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::target::open_target;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// // A block device such as /dev/nvme1n1 in real use; here an existing file.
    /// let path = dir.path().join("target.img");
    /// std::fs::File::create(&path)?.set_len(16 << 20)?;
    /// assert!(!open_target(&path)?.is_block_device());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_block_device(&self) -> bool {
        self.block_device
    }
}

/// How [`write_image`] writes.
///
/// # Examples
///
/// ```
/// use blockimg::target::WriteOptions;
///
/// // For a new, empty EBS volume: skip the zeros, then read it all back.
/// let options = WriteOptions::default().skip_zeros(true).verify(true).force(false);
/// assert!(options.verify);
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default)]
pub struct WriteOptions {
    /// Leave regions of zeros unwritten. Correct only on a target that
    /// already reads as zeros: a new, empty EBS volume, never one restored
    /// from a snapshot or used before.
    pub skip_zeros: bool,
    /// Read the target back after writing and compare it with the image.
    pub verify: bool,
    /// Write over a target that is not blank.
    pub force: bool,
}

setters!(WriteOptions at "blockimg::target::WriteOptions" {
    skip_zeros: bool,
    verify: bool,
    force: bool,
});

/// What [`write_image`] did.
///
/// # Examples
///
/// ```
/// use blockimg::target::{open_target, write_image, WriteOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// let target_path = dir.path().join("target.img");
/// std::fs::File::create(&target_path)?.set_len(8 << 20)?; // empty, so zeros may be skipped
/// let options = WriteOptions::default().skip_zeros(true).verify(false).force(false);
/// let mut disk = blockimg::disk_format::open(&image)?;
/// let summary = write_image(disk.as_mut(), &image, open_target(&target_path)?, &options, &mut blockimg::Silent)?;
/// assert_eq!(summary.disk_size, 8 << 20);
/// assert!(summary.bytes_written < 8 << 20 && !summary.verified);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct WriteSummary {
    /// Bytes of the image's disk written: its size, or the target's when
    /// the disk is larger but holds only zeros past its partitions.
    pub disk_size: u64,
    /// Bytes written to the target (zeros included, skipped regions not).
    pub bytes_written: u64,
    /// Whether the target was read back and matched.
    pub verified: bool,
}

fn in_use(path: &Path, reason: String) -> Error {
    Error::from(TargetError::InUse {
        path: path.to_path_buf(),
        reason,
    })
}

/// Opens `path` for writing after checking that nothing uses it. A
/// regular file is locked for writing until the returned target is dropped
/// ([`crate::error::LockError`] while another program holds it).
///
/// # Examples
///
/// ```
/// use blockimg::target::open_target;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// // A block device such as /dev/nvme1n1 in real use; here an existing file.
/// let path = dir.path().join("target.img");
/// std::fs::File::create(&path)?.set_len(16 << 20)?;
/// assert!(open_target(&path).is_ok());
/// assert!(open_target(dir.path()).is_err()); // neither a block device nor a file
/// # Ok(())
/// # }
/// ```
pub fn open_target(path: &Path) -> Result<Target> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let block_device = meta.file_type().is_block_device();
    if !block_device && !meta.is_file() {
        return Err(Error::InvalidOption {
            option: "target".into(),
            reason: format!(
                "{} is neither a block device nor a regular file",
                path.display()
            ),
        });
    }
    if block_device {
        check_device_unused(path, meta.rdev())?;
    }
    check_no_loop_device(path)?;
    let lock = match block_device {
        true => None,
        false => Some(ImageLock::write(path, "write")?),
    };
    let mut options = OpenOptions::new();
    options.read(true).write(true);
    if block_device {
        options.custom_flags(libc::O_EXCL);
    }
    let mut file = options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::EBUSY) {
            in_use(
                path,
                "the kernel reports it busy (mounted, or claimed by another device)".into(),
            )
        } else {
            Error::io(path, e)
        }
    })?;
    if let Some(lock) = &lock {
        lock.check_file(&file)?;
    }
    let size = file
        .seek(SeekFrom::End(0))
        .map_err(|e| Error::io(path, e))?;
    Ok(Target {
        file,
        path: path.to_path_buf(),
        size,
        block_device,
        lock,
    })
}

/// `MAJ:MIN` of a device number, as /proc and /sys write it.
fn dev_name(rdev: u64) -> String {
    format!("{}:{}", libc::major(rdev), libc::minor(rdev))
}

/// Refuses a block device that is mounted, held, or used as swap, itself or
/// through one of its partitions.
fn check_device_unused(path: &Path, rdev: u64) -> Result<()> {
    let sys = PathBuf::from(format!("/sys/dev/block/{}", dev_name(rdev)));
    let mut devices = vec![(dev_name(rdev), sys.clone())];
    if let Ok(entries) = std::fs::read_dir(&sys) {
        for entry in entries.flatten() {
            let dir = entry.path();
            if dir.join("partition").exists() {
                if let Ok(dev) = std::fs::read_to_string(dir.join("dev")) {
                    devices.push((dev.trim().to_string(), dir));
                }
            }
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if let (Some(dev), Some(mount_point)) = (fields.get(2), fields.get(4)) {
            if devices.iter().any(|(d, _)| d == dev) {
                return Err(in_use(path, format!("mounted at {mount_point}")));
            }
        }
    }
    for (_, dir) in &devices {
        let holders: Vec<String> = std::fs::read_dir(dir.join("holders"))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        if !holders.is_empty() {
            return Err(in_use(
                path,
                format!(
                    "held by {} (device mapper, LVM or RAID)",
                    holders.join(", ")
                ),
            ));
        }
    }
    let swaps = std::fs::read_to_string("/proc/swaps").unwrap_or_default();
    for swap in swaps
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
    {
        let rdev_of = std::fs::metadata(swap).map(|m| m.rdev()).ok();
        if rdev_of.is_some_and(|r| devices.iter().any(|(d, _)| *d == dev_name(r))) {
            return Err(in_use(path, format!("used as swap ({swap})")));
        }
    }
    Ok(())
}

/// Refuses a file or device that backs a loop device (which may be mounted
/// or in use without that showing on the target itself).
fn check_no_loop_device(path: &Path) -> Result<()> {
    let Ok(canonical) = std::fs::canonicalize(path) else {
        return Ok(());
    };
    let Ok(entries) = std::fs::read_dir("/sys/block") else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let backing = entry.path().join("loop/backing_file");
        if let Ok(text) = std::fs::read_to_string(&backing) {
            if Path::new(text.trim()) == canonical {
                return Err(in_use(
                    path,
                    format!(
                        "it backs loop device /dev/{}",
                        entry.file_name().to_string_lossy()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// What the first bytes of a target hold, if anything.
fn contents(first: &[u8]) -> Option<&'static str> {
    if first.iter().all(|&b| b == 0) {
        return None;
    }
    Some(if first.get(512..520) == Some(b"EFI PART") {
        "a GPT partition table"
    } else if first.get(510..512) == Some(&[0x55, 0xAA]) {
        "an MBR partition table or boot sector"
    } else if first.get(1080..1082) == Some(&[0x53, 0xEF]) {
        "an ext2/3/4 filesystem"
    } else {
        "data in its first MiB"
    })
}

/// Refuses a target that holds data, unless `force`.
fn check_blank(target: &Target, force: bool) -> Result<()> {
    if force {
        return Ok(());
    }
    let mut first = vec![0u8; BLANK_CHECK.min(target.size) as usize];
    target
        .file
        .read_exact_at(&mut first, 0)
        .map_err(|source| Error::Read {
            path: target.path.clone(),
            offset: 0,
            source,
        })?;
    match contents(&first) {
        None => Ok(()),
        Some(what) => Err(Error::from(TargetError::NotBlank {
            path: target.path.clone(),
            reason: format!("it holds {what}"),
        })),
    }
}

/// True when `path` names a block device.
///
/// # Examples
///
/// ```
/// use blockimg::target::is_block_device;
///
/// assert!(!is_block_device("/etc/hostname".as_ref()));
/// assert!(!is_block_device("/no/such/device".as_ref()));
/// ```
pub fn is_block_device(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.file_type().is_block_device())
}

/// Opens `path` (a block device, or an existing file) to build a disk of
/// `disk_size` bytes straight onto it: the checks of [`open_target`], then
/// the target must hold the disk and, unless `force`, be blank. Returns the
/// open target for [`crate::sink::SparseFile::in_place`].
///
/// # Examples
///
/// ```
/// use blockimg::target::open_build_target;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// // A block device such as /dev/nvme1n1 in real use; here an existing file.
/// let path = dir.path().join("target.img");
/// std::fs::File::create(&path)?.set_len(16 << 20)?;
/// let file = open_build_target(&path, 16 << 20, false)?; // blank and large enough
/// assert!(open_build_target(&path, 32 << 20, false).is_err()); // too small for the disk
/// # drop(file);
/// # Ok(())
/// # }
/// ```
pub fn open_build_target(path: &Path, disk_size: u64, force: bool) -> Result<File> {
    let target = open_target(path)?;
    if target.size < disk_size {
        return Err(Error::TooSmall {
            what: format!("the disk for {}", path.display()),
            needed: disk_size,
            available: target.size,
        });
    }
    check_blank(&target, force)?;
    Ok(target.file)
}

/// Writes `disk` (read from `image`) onto `target`, syncs it, and with
/// `verify` reads it back and compares. A target smaller than the disk is
/// refused unless the disk's MBR partitions end within it and the disk
/// holds only zeros past them (as in a VHD, whose disk is rounded up).
///
/// # Examples
///
/// ```
/// use blockimg::target::{open_target, write_image, WriteOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // The target: a block device such as /dev/nvme1n1 (which needs the rights
/// // to open it), or here an existing, blank file as large as the disk.
/// let target_path = dir.path().join("target.img");
/// std::fs::File::create(&target_path)?.set_len(8 << 20)?;
///
/// let mut disk = blockimg::disk_format::open(&image)?;
/// let target = open_target(&target_path)?;
/// assert!(!target.is_block_device());
/// let options = WriteOptions::default().skip_zeros(false).verify(true).force(false);
/// let summary = write_image(disk.as_mut(), &image, target, &options, &mut blockimg::Silent)?;
/// assert!(summary.verified);
/// assert_eq!(std::fs::read(&target_path)?, std::fs::read(&image)?);
/// # Ok(())
/// # }
/// ```
pub fn write_image(
    disk: &mut dyn VirtualDisk,
    image: &Path,
    target: Target,
    options: &WriteOptions,
    observer: &mut dyn Observer,
) -> Result<WriteSummary> {
    let disk_size = disk.size();
    let needed = required_size(disk)?;
    let written_size = disk_size.min(target.size);
    if target.size < needed {
        return Err(Error::TooSmall {
            what: format!(
                "the disk in {} (target {})",
                image.display(),
                target.path.display()
            ),
            needed,
            available: target.size,
        });
    }
    check_blank(&target, options.force)?;
    let path = target.path.clone();
    let (file, bytes_written) =
        report::phase(observer, Phase::Writing, written_size, |progress| {
            let mut writer =
                DeviceWriter::new(target.file, &path, written_size, options.skip_zeros);
            writer.set_progress(progress);
            copy_disk(disk, &mut writer, written_size, &mut |_| {})?;
            writer.finish()
        })?;
    if let Some(lock) = &target.lock {
        // A file renamed over the target meanwhile would not hold the disk.
        lock.check_path()?;
    }
    let mut summary = WriteSummary {
        disk_size: written_size,
        bytes_written,
        verified: false,
    };
    if options.verify {
        verify(disk, written_size, &file, &path, observer)?;
        summary.verified = true;
    }
    Ok(summary)
}

/// Bytes a target needs to hold `disk`: all of them, unless the disk has an
/// MBR whose partitions end sooner and nothing but zeros past them (a VHD
/// rounds its disk up that way); then up to the end of the last partition.
fn required_size(disk: &mut dyn VirtualDisk) -> Result<u64> {
    let size = disk.size();
    if size < SECTOR {
        return Ok(size);
    }
    let mut sector = [0u8; SECTOR as usize];
    disk.read_at(0, &mut sector)?;
    // Whatever the entries of a sector mbrman takes for an MBR say (a GPT's
    // protective entry covers the disk), non-zero data past them counts.
    let Some(header) = mbr::parse(&sector) else {
        return Ok(size);
    };
    let partitions_end = mbr::entries(&header)
        .iter()
        .filter(|e| e.is_used())
        .map(|e| (u64::from(e.starting_lba) + u64::from(e.sectors)) * SECTOR)
        .fold(SECTOR, u64::max)
        .min(size);
    Ok(data_end(disk, partitions_end)?.map_or(partitions_end, |end| end.max(partitions_end)))
}

/// Where the last non-zero byte of `disk` past byte `from` ends, if there
/// is one: `None` when everything from `from` on reads as zeros.
fn data_end(disk: &mut dyn VirtualDisk, from: u64) -> Result<Option<u64>> {
    let mut end = None;
    let mut buf = vec![0u8; CHUNK];
    for (start, len) in disk.data_ranges()? {
        let mut at = start.max(from);
        while at < start + len {
            let n = (start + len - at).min(CHUNK as u64) as usize;
            disk.read_at(at, &mut buf[..n])?;
            if let Some(last) = buf[..n].iter().rposition(|&b| b != 0) {
                end = Some(at + last as u64 + 1);
            }
            at += n as u64;
        }
    }
    Ok(end)
}

/// Compares the first `size` bytes of `file` with the disk, after dropping
/// the target's cached pages so that the reads reach the device.
fn verify(
    disk: &mut dyn VirtualDisk,
    size: u64,
    file: &File,
    path: &Path,
    observer: &mut dyn Observer,
) -> Result<()> {
    // SAFETY: posix_fadvise only advises the kernel about this descriptor's
    // cached pages; the descriptor is valid for the call.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
    report::phase(observer, Phase::Verifying, size, |progress| {
        compare(disk, size, file, path, progress)
    })
}

/// Reads `file` back and compares it with `disk`, reporting the bytes
/// compared so far.
fn compare(
    disk: &mut dyn VirtualDisk,
    size: u64,
    file: &File,
    path: &Path,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    let mut expected = vec![0u8; CHUNK];
    let mut found = vec![0u8; CHUNK];
    let mut at = 0u64;
    while at < size {
        let n = (size - at).min(CHUNK as u64) as usize;
        disk.read_at(at, &mut expected[..n])?;
        file.read_exact_at(&mut found[..n], at)
            .map_err(|source| Error::Read {
                path: path.to_path_buf(),
                offset: at,
                source,
            })?;
        if expected[..n] != found[..n] {
            let i = (0..n).find(|&i| expected[i] != found[i]).unwrap_or(0);
            return Err(Error::from(TargetError::VerifyFailed {
                path: path.to_path_buf(),
                offset: at + i as u64,
            }));
        }
        at += n as u64;
        progress(at);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_are_named() {
        let mut b = vec![0u8; 4096];
        assert_eq!(contents(&b), None);
        b[1080] = 0x53;
        b[1081] = 0xEF;
        assert_eq!(contents(&b), Some("an ext2/3/4 filesystem"));
        b[510] = 0x55;
        b[511] = 0xAA;
        assert_eq!(contents(&b), Some("an MBR partition table or boot sector"));
        b[512..520].copy_from_slice(b"EFI PART");
        assert_eq!(contents(&b), Some("a GPT partition table"));
    }

    /// An 8 MiB disk whose MBR has `entries` (boot flag, type, start LBA,
    /// sectors) and a 0x55AA signature.
    fn mbr_disk(entries: &[(u8, u8, u32, u32)]) -> Vec<u8> {
        let mut b = vec![0u8; 8 << 20];
        for (i, &(boot, sys, start, sectors)) in entries.iter().enumerate() {
            let e = &mut b[0x1BE + 16 * i..][..16];
            e[0] = boot;
            e[4] = sys;
            e[8..12].copy_from_slice(&start.to_le_bytes());
            e[12..16].copy_from_slice(&sectors.to_le_bytes());
        }
        b[510..512].copy_from_slice(&[0x55, 0xAA]);
        b
    }

    fn required(bytes: Vec<u8>) -> u64 {
        let mut disk = crate::disk_format::RawDisk::open(bytes, Path::new("disk.img")).unwrap();
        required_size(&mut disk).unwrap()
    }

    #[test]
    fn required_size_ends_with_the_partitions_or_the_data() {
        // Partition 2 ends at 3 MiB; an unused entry (type 0) says nothing.
        let disk = mbr_disk(&[
            (0x80, 0x83, 2048, 2048),
            (0, 0x0C, 4096, 2048),
            (0, 0, 1, 16000),
        ]);
        assert_eq!(required(disk.clone()), 3 << 20);
        // Data past the partitions counts, to its last non-zero byte.
        let mut with_data = disk.clone();
        with_data[(5 << 20) + 9] = 1;
        assert_eq!(required(with_data), (5 << 20) + 10);
        // No MBR (a boot flag other than 0x00 or 0x80, no signature): the
        // whole disk.
        assert_eq!(required(mbr_disk(&[(0x01, 0x83, 2048, 2048)])), 8 << 20);
        let mut unsigned = disk;
        unsigned[511] = 0;
        assert_eq!(required(unsigned), 8 << 20);
        // Entries past the disk: the disk; no used entry: its first sector.
        assert_eq!(required(mbr_disk(&[(0, 0xEE, 1, u32::MAX)])), 8 << 20);
        assert_eq!(required(mbr_disk(&[])), 512);
        assert_eq!(required(vec![1u8; 100]), 100);
    }
}
