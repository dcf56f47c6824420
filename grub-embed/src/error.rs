//! Errors of GRUB installation.

use std::path::PathBuf;

/// Result with this crate's [`Error`].
///
/// # Examples
///
/// ```
/// fn check(sector: &[u8]) -> grub_embed::Result<()> {
///     match sector.get(510..512) {
///         Some([0x55, 0xaa]) => Ok(()),
///         _ => Err(grub_embed::Error::NoMbrSignature),
///     }
/// }
/// assert!(check(&[0; 512]).is_err());
/// ```
pub type Result<T> = std::result::Result<T, Error>;

/// Why GRUB could not be installed into an image.
///
/// # Examples
///
/// ```
/// use grub_embed::bios::{embed, CoreArea};
/// use grub_embed::Error;
///
/// let truncated_boot_img = [0u8; 100];
/// let err = embed(&[0; 512], &truncated_boot_img, &[0; 1024], CoreArea::MbrGap).err();
/// assert!(matches!(err, Some(Error::BadBootImage(100))));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The sector given as the MBR does not end in 0x55AA.
    #[error("the first sector is not an MBR: no 0x55AA signature at byte 510")]
    NoMbrSignature,
    /// The MBR sector is not 512 bytes long.
    #[error("the MBR sector is {0} bytes, not 512")]
    BadMbrSize(usize),
    /// A partition entry has a boot flag other than 0x00 or 0x80.
    #[error("partition {partition} has boot flag 0x{flag:02x}; only 0x00 and 0x80 are valid")]
    BadBootFlag {
        /// Partition number, from 1.
        partition: usize,
        /// The flag found.
        flag: u8,
    },
    /// The MBR is a protective MBR of a GPT disk, but core.img was to go in
    /// the gap after it.
    #[error(
        "partition {partition} is of type 0xEE: on a GPT disk core.img goes in a BIOS boot partition, not after the MBR"
    )]
    GptDisk {
        /// Partition number, from 1.
        partition: usize,
    },
    /// core.img was to go in a BIOS boot partition, but the MBR is not the
    /// protective MBR of a GPT disk.
    #[error("the first sector has no 0xEE (GPT protective) partition: not a GPT disk")]
    NotGpt,
    /// The BIOS boot partition cannot hold core.img.
    #[error("core.img needs {needed} sectors but the BIOS boot partition has only {available}")]
    BiosBootTooSmall {
        /// Sectors core.img occupies.
        needed: u64,
        /// Sectors in the BIOS boot partition.
        available: u64,
    },
    /// The gap between the MBR and the first partition cannot hold core.img.
    #[error(
        "core.img needs {needed} sectors after the MBR but only {available} are free before the first partition"
    )]
    GapTooSmall {
        /// Sectors core.img occupies.
        needed: u64,
        /// Sectors between the MBR and the first partition.
        available: u64,
    },
    /// boot.img is not one sector.
    #[error("boot.img is {0} bytes, not 512")]
    BadBootImage(usize),
    /// core.img is empty.
    #[error("core.img is empty")]
    EmptyCoreImage,
    /// core.img's first sector does not carry the blocklist `grub-mkimage`
    /// writes for loading it from LBA 1.
    #[error("core.img's blocklist is not the one grub-mkimage writes: {0}")]
    BadBlocklist(String),
    /// GRUB's module directory for the platform is missing.
    #[error("{dir} not found: GRUB's {target} modules are missing ({how})")]
    GrubMissing {
        /// The directory looked for.
        dir: PathBuf,
        /// GRUB's name of the platform (i386-pc, x86_64-efi, arm64-efi).
        target: &'static str,
        /// How to get them: the package that provides them, and for
        /// arm64-efi how to unpack it on another architecture's host.
        how: &'static str,
    },
    /// `grub-mkimage` could not be run.
    #[error("cannot run grub-mkimage (install package {package}): {source}")]
    MkimageNotRun {
        /// The package that provides it.
        package: &'static str,
        /// Why it could not be started.
        source: std::io::Error,
    },
    /// `grub-mkimage` failed.
    #[error("grub-mkimage failed ({status}): {stderr}")]
    MkimageFailed {
        /// Its exit status.
        status: String,
        /// What it printed on standard error.
        stderr: String,
    },
    /// A file could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}
