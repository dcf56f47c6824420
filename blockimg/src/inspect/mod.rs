//! What a disk image holds, without changing it: the partition table, each
//! partition's type and filesystem (ext2/3/4 with the figures `dumpe2fs -h`
//! reports, FAT with its label, volume id and type, a swap signature), and
//! the boot code installed (GRUB's boot.img in the first sector and where
//! its core.img is; `/EFI/BOOT/BOOTX64.EFI` on a FAT partition).
//!
//! [`inspect`] returns a [`Report`]; its `Display` is the text
//! `blockimg inspect` prints, and it serializes (serde) to the document
//! `blockimg inspect --json` prints. Field names are stable.
//!
//! ```no_run
//! # fn main() -> blockimg::Result<()> {
//! let report = blockimg::inspect::inspect(std::path::Path::new("disk.img"))?;
//! for part in &report.partitions {
//!     println!("{} {:?}", part.number, part.filesystem);
//! }
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod boot;
mod ext4;
mod fat;
mod swap;
mod text;
mod types;

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::disk::gpt::guid_text;
use crate::disk::{found, Partition, PartitionKind, TableKind};
use crate::disk_format::{self, DiskBytes};
use crate::error::FormatError;
use crate::error::{Error, Result};
use crate::ext4::read::Ext4Reader;

/// Everything `blockimg inspect` reports about an image.
///
/// # Examples
///
/// ```
/// use blockimg::inspect::inspect;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"48M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[partition]]\nrole = \"esp\"\nsize = \"33M\"\n[partition.fat]\nlabel = \"EFI\"\nvolume_id = \"ABCD-1234\"\n\
/// #             [[partition]]\nrole = \"swap\"\nsize = \"4M\"\n[partition.swap]\nlabel = \"swap\"\n[[partition]]\nrole = \"root\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: GPT; an ESP labelled EFI, 4 MiB of swap, an ext4 root.
/// let report = inspect(&image)?;
/// assert_eq!((report.size, report.partitions.len()), (48 << 20, 3));
/// let text = report.to_string(); // what `blockimg inspect` prints
/// assert!(text.contains("EFI System"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    /// The image file, as given.
    pub image: PathBuf,
    /// The image's format: `raw`, `vhd`, `vhd-fixed`, `vmdk`,
    /// `vmdk (monolithicSparse)` or `qcow2`.
    pub format: String,
    /// Size of the disk in bytes (for VHD, VMDK and qcow2, the virtual
    /// size).
    pub size: u64,
    /// The partition table.
    pub table: Table,
    /// The partitions (for an image without a table, one entry numbered 0
    /// for the whole image), by number.
    pub partitions: Vec<PartitionReport>,
    /// Boot code found.
    pub boot: Boot,
}

/// The partition table of an image.
///
/// # Examples
///
/// ```
/// use blockimg::inspect::{inspect, Table};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"48M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[partition]]\nrole = \"esp\"\nsize = \"33M\"\n[partition.fat]\nlabel = \"EFI\"\nvolume_id = \"ABCD-1234\"\n\
/// #             [[partition]]\nrole = \"swap\"\nsize = \"4M\"\n[partition.swap]\nlabel = \"swap\"\n[[partition]]\nrole = \"root\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: GPT; an ESP labelled EFI, 4 MiB of swap, an ext4 root.
/// let report = inspect(&image)?;
/// let Table::Gpt { disk_guid } = &report.table else { panic!("a GPT") };
/// assert_eq!(disk_guid.len(), 36);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Table {
    /// An MBR (DOS) table.
    Mbr {
        /// The disk signature, as `sfdisk -d` prints it (`0x1234abcd`).
        disk_signature: String,
    },
    /// A GPT.
    Gpt {
        /// The disk GUID, as `sfdisk -d` prints it.
        disk_guid: String,
    },
    /// No partition table: the image is one filesystem.
    None,
}

/// One partition and what it holds.
///
/// # Examples
///
/// ```
/// use blockimg::inspect::inspect;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"48M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[partition]]\nrole = \"esp\"\nsize = \"33M\"\n[partition.fat]\nlabel = \"EFI\"\nvolume_id = \"ABCD-1234\"\n\
/// #             [[partition]]\nrole = \"swap\"\nsize = \"4M\"\n[partition.swap]\nlabel = \"swap\"\n[[partition]]\nrole = \"root\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: GPT; an ESP labelled EFI, 4 MiB of swap, an ext4 root.
/// let report = inspect(&image)?;
/// let esp = &report.partitions[0];
/// assert_eq!((esp.number, esp.start, esp.size), (1, 1 << 20, 33 << 20));
/// assert_eq!((esp.type_name.as_str(), esp.name.as_deref()), ("EFI System", Some("esp")));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PartitionReport {
    /// Its number as Linux gives it (from 1; logical MBR partitions from
    /// 5); 0 for the whole of an image without a table.
    pub number: u32,
    /// Byte offset of its first byte.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// The type as stored: `0x83`, a GUID, or `none`.
    pub type_code: String,
    /// The type's name as `fdisk` gives it (`Linux`, `EFI System`, ...),
    /// or `unknown`.
    pub type_name: String,
    /// The GPT partition name (`None` for MBR partitions).
    pub name: Option<String>,
    /// Marked bootable (MBR active flag, GPT legacy BIOS bootable).
    pub bootable: bool,
    /// The filesystem found in it, if any.
    pub filesystem: Option<Filesystem>,
}

/// A filesystem (or swap area) found in a partition.
///
/// # Examples
///
/// ```
/// use blockimg::inspect::{inspect, Filesystem};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"48M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[partition]]\nrole = \"esp\"\nsize = \"33M\"\n[partition.fat]\nlabel = \"EFI\"\nvolume_id = \"ABCD-1234\"\n\
/// #             [[partition]]\nrole = \"swap\"\nsize = \"4M\"\n[partition.swap]\nlabel = \"swap\"\n[[partition]]\nrole = \"root\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: GPT; an ESP labelled EFI, 4 MiB of swap, an ext4 root.
/// let report = inspect(&image)?;
/// let kinds: Vec<_> = report.partitions.iter().map(|p| match &p.filesystem {
///     Some(Filesystem::Fat(_)) => "fat",
///     Some(Filesystem::Swap(_)) => "swap",
///     Some(Filesystem::Ext4(_)) => "ext4",
///     _ => "other",
/// }).collect();
/// assert_eq!(kinds, ["fat", "swap", "ext4"]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Filesystem {
    /// ext2, ext3 or ext4.
    Ext4(ext4::Ext4Report),
    /// FAT12, FAT16 or FAT32.
    Fat(FatReport),
    /// A Linux swap area.
    Swap(swap::SwapReport),
    /// A filesystem that was recognized but could not be read.
    Unreadable {
        /// What it looked like (`ext4`, `fat`).
        kind: String,
        /// Why it could not be read.
        error: String,
    },
}

pub use crate::disk::fat::report::FatReport;
pub use ext4::Ext4Report;
pub use swap::SwapReport;

/// Boot code installed on the disk.
///
/// # Examples
///
/// ```
/// use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
/// use blockimg::inspect::inspect;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let image = dir.path().join("disk.img");
/// # let tree = blockimg::tree::Tree::new(blockimg::tree::Metadata::directory(blockimg::tree::Timestamp::from_secs(0)));
/// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: None }).overwrite(false);
/// let mut disk = blockimg::image::plan_disk(&tree, &options)?;
/// disk.add_esp_file(blockimg::image::EFI_BOOT_PATH, b"MZ (a UEFI boot loader)")?;
/// let mut sink = blockimg::sink::SparseFile::create(&image, false)?;
/// disk.write_to(&mut sink)?;
/// sink.finish(disk.disk_size())?;
/// # let _ = build_image;
///
/// let boot = inspect(&image)?.boot;
/// assert!(boot.grub_bios.is_none()); // no BIOS boot code
/// assert_eq!(boot.efi.len(), 1);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Boot {
    /// GRUB for BIOS: boot.img in the first sector.
    pub grub_bios: Option<GrubBios>,
    /// UEFI boot loaders at the removable-media path of FAT partitions.
    pub efi: Vec<EfiLoader>,
}

/// GRUB's boot.img in the first sector, and the core.img it loads.
///
/// # Examples
///
/// ```
/// use blockimg::grub_install::{install_grub, Firmware, InstallOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// # let dir = tempfile::tempdir()?;
/// # let text = "[disk]\nsize = \"16M\"\n[[output]]\npath = \"disk.img\"\n[[text]]\npath = \"/boot/vmlinuz-6.1.0-amd64\"\ncontent = \"a kernel\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: an MBR disk whose ext4 root has /boot/vmlinuz-6.1.0-amd64.
/// let options = InstallOptions {
///     firmware: Firmware::Bios,
///     partition: None,
///     cmdline: String::new(),
///     grub_dir: None,
///     grub_efi_dir: None,
///     arch: Default::default(),
/// };
/// let summary = install_grub(&image, &options)?;
/// let grub = blockimg::inspect::inspect(&image)?.boot.grub_bios.ok_or("no GRUB")?;
/// assert_eq!((grub.core_lba, grub.location.as_str()), (1, "MBR gap"));
/// assert!(grub.core_sectors.is_some());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GrubBios {
    /// The sector boot.img loads core.img from (its field at 0x5C).
    pub core_lba: u64,
    /// Sectors of core.img, from its first sector's blocklist; `None`
    /// when that sector is not GRUB's diskboot.img.
    pub core_sectors: Option<u64>,
    /// Where core.img is: `MBR gap`, `partition N`, or `outside any
    /// partition`.
    pub location: String,
}

/// A UEFI boot loader file on a FAT partition.
///
/// # Examples
///
/// ```
/// use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
/// use blockimg::inspect::inspect;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let image = dir.path().join("disk.img");
/// # let tree = blockimg::tree::Tree::new(blockimg::tree::Metadata::directory(blockimg::tree::Timestamp::from_secs(0)));
/// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: None }).overwrite(false);
/// let mut disk = blockimg::image::plan_disk(&tree, &options)?;
/// disk.add_esp_file(blockimg::image::EFI_BOOT_PATH, b"MZ (a UEFI boot loader)")?;
/// let mut sink = blockimg::sink::SparseFile::create(&image, false)?;
/// disk.write_to(&mut sink)?;
/// sink.finish(disk.disk_size())?;
/// # let _ = build_image;
///
/// let boot = inspect(&image)?.boot;
/// assert_eq!((boot.efi[0].partition, boot.efi[0].path.as_str()), (1, "/EFI/BOOT/BOOTX64.EFI"));
/// assert_eq!(boot.efi[0].size, 23);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EfiLoader {
    /// The partition holding it.
    pub partition: u32,
    /// Its path (`/EFI/BOOT/BOOTX64.EFI`, or `/EFI/BOOT/BOOTAA64.EFI` for
    /// arm64).
    pub path: String,
    /// Its size in bytes.
    pub size: u64,
}

/// Inspects the raw disk image at `path`. Refuses VHD, VMDK and qcow2
/// images (convert them to raw first) and files holding neither a
/// partition table nor a filesystem it recognizes.
///
/// # Examples
///
/// ```
/// use blockimg::inspect::{inspect, Filesystem, Table};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: an 8 MiB GPT disk with one ext4 partition.
/// let report = inspect(&image)?;
/// assert!(matches!(report.table, Table::Gpt { .. }));
/// assert_eq!(report.partitions.len(), 1);
/// let Some(Filesystem::Ext4(fs)) = &report.partitions[0].filesystem else { panic!("no ext4") };
/// assert_eq!(fs.version, "ext4");
/// assert!(report.boot.grub_bios.is_none()); // not bootable
/// println!("{report}"); // the text `blockimg inspect` prints
/// # Ok(())
/// # }
/// ```
pub fn inspect(path: &Path) -> Result<Report> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(not_a_disk(path, "it is a directory"));
    }
    let (bytes, format) = disk_format::open_disk_bytes(path)?;
    let file = &*bytes;
    let size = file.byte_len().map_err(|e| Error::io(path, e))?;
    let found = found::read_table(file, path)?;
    let (table, parts) = match found.kind {
        TableKind::Mbr { signature } => (
            Table::Mbr {
                disk_signature: format!("{signature:#010x}"),
            },
            found.partitions,
        ),
        TableKind::Gpt { disk_guid } => (
            Table::Gpt {
                disk_guid: guid_text(&disk_guid),
            },
            found.partitions,
        ),
        TableKind::None => (Table::None, vec![found::whole(file, path)?]),
    };
    let mut partitions: Vec<PartitionReport> = parts
        .iter()
        .map(|part| describe(&bytes, path, part))
        .collect();
    if table == Table::None && partitions.iter().all(|p| p.filesystem.is_none()) {
        return Err(not_a_disk(
            path,
            "no partition table (MBR or GPT) and no ext2/3/4, FAT or swap signature",
        ));
    }
    let boot = Boot {
        grub_bios: boot::grub_bios(file, &parts),
        efi: partitions.iter_mut().flat_map(fat::take_loaders).collect(),
    };
    Ok(Report {
        image: path.to_path_buf(),
        format: format.name().into(),
        size,
        table,
        partitions,
        boot,
    })
}

fn not_a_disk(path: &Path, reason: &str) -> Error {
    Error::from(FormatError::Unsupported {
        path: path.to_path_buf(),
        reason: format!("not a disk image: {reason}"),
    })
}

/// The report of one partition: its table entry and the filesystem probed
/// at its start.
fn describe(bytes: &DiskBytes, path: &Path, part: &Partition) -> PartitionReport {
    let name = match &part.kind {
        PartitionKind::Gpt { name, .. } => Some(name.clone()),
        _ => None,
    };
    PartitionReport {
        number: part.number,
        start: part.start,
        size: part.size,
        type_code: part.type_name(),
        type_name: types::name(&part.kind).to_string(),
        name,
        bootable: part.bootable,
        filesystem: probe(bytes, path, part),
    }
}

/// The filesystem at the start of `part`, if one is recognized.
fn probe(bytes: &DiskBytes, path: &Path, part: &Partition) -> Option<Filesystem> {
    if Ext4Reader::probe(&**bytes, part.start) {
        return Some(ext4::report(bytes, path, part.start));
    }
    if let Some(found) = fat::probe(&**bytes, part) {
        return Some(found);
    }
    swap::probe(&**bytes, part.start).map(Filesystem::Swap)
}
