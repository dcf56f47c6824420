//! Finding filesystems in disk images: the partitions of an MBR (primary and
//! logical) or GPT table, or a bare filesystem without a table; and the
//! `IMAGE[:PART]` notation commands use to name one.
//!
//! `disk.img` means the bare filesystem, or else the first Linux partition
//! holding ext4 (the first partition holding ext4 when none is typed Linux);
//! `disk.img:2` means partition 2 (1-based; MBR logical partitions are 5 and
//! up, as Linux numbers them).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::ffi::OsStr;
use std::fs::File;
use std::io::Cursor;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use mbrman::{MBRHeader, MBRPartitionEntry};

use super::fat::boot_sector::is_fat_boot_sector;
use super::gpt::{guid_on_disk, guid_text, BIOS_BOOT, EFI_SYSTEM, LINUX_FILESYSTEM};
use super::layout::SECTOR;
use crate::bytes::le32;
use crate::disk_format::{open_disk_bytes, require_raw, Backing, BackingCursor};
use crate::error::{Corrupt, Ext4Error, PartitionError};
use crate::error::{Error, Result};
use crate::ext4::read::Ext4Reader;

/// MBR type of a GPT's protective entry.
const GPT_PROTECTIVE: u8 = 0xEE;
/// MBR types of extended partitions (CHS, LBA, Linux).
const EXTENDED: [u8; 3] = [0x05, 0x0F, 0x85];
/// GPT attribute bit 2: legacy BIOS bootable.
const GPT_LEGACY_BOOTABLE: u64 = 1 << 2;
/// MBR type of a Linux filesystem.
const MBR_LINUX: u8 = 0x83;
/// Logical partitions followed before the EBR chain is taken as a loop.
const MAX_LOGICAL: usize = 128;
/// Largest GPT partition entry array read, in bytes (the usual is 16 KiB).
const MAX_GPT_ENTRIES_BYTES: u64 = 1 << 20;

/// What a partition is, as its table records it.
///
/// # Examples
///
/// ```
/// use blockimg::disk::found::{partitions, PartitionKind};
/// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
/// # use blockimg::tree::{Metadata, Timestamp, Tree};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let image = dir.path().join("disk.img");
/// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Gpt, ext4: Default::default(),
/// #     boot_partitions: BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }, overwrite: false };
/// # build_image(&tree, &options, &image)?;
/// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
/// let parts = partitions(&std::fs::File::open(&image)?, &image)?;
/// let PartitionKind::Gpt { name, .. } = &parts[2].kind else { panic!("a GPT entry") };
/// assert_eq!(name, "root");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PartitionKind {
    /// An MBR entry of this type byte.
    Mbr(u8),
    /// A GPT entry with this type GUID (as stored on disk) and name.
    Gpt {
        /// The partition type GUID, in on-disk byte order.
        type_guid: [u8; 16],
        /// The partition's name.
        name: String,
    },
    /// No partition table: the image is one filesystem.
    Whole,
}

/// One partition of a disk image.
///
/// # Examples
///
/// ```
/// use blockimg::disk::found::partitions;
/// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
/// # use blockimg::tree::{Metadata, Timestamp, Tree};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let image = dir.path().join("disk.img");
/// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Gpt, ext4: Default::default(),
/// #     boot_partitions: BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }, overwrite: false };
/// # build_image(&tree, &options, &image)?;
/// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
/// let parts = partitions(&std::fs::File::open(&image)?, &image)?;
/// let root = &parts[2];
/// assert_eq!((root.number, root.start), (3, 35 << 20));
/// assert_eq!(root.start + root.size, (64 << 20) - 33 * 512); // the backup GPT follows
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Number as Linux gives it, from 1; 0 for a bare filesystem.
    pub number: u32,
    /// Type from the table.
    pub kind: PartitionKind,
    /// Byte offset of its first byte.
    pub start: u64,
    /// Size in bytes.
    pub size: u64,
    /// Marked bootable: the MBR's active flag, or GPT's legacy BIOS
    /// bootable attribute.
    pub bootable: bool,
}

/// The partition table of a disk image and what identifies the disk.
///
/// # Examples
///
/// ```
/// use blockimg::disk::found::{read_table, TableKind};
/// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
/// # use blockimg::tree::{Metadata, Timestamp, Tree};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let image = dir.path().join("disk.img");
/// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Gpt, ext4: Default::default(),
/// #     boot_partitions: BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }, overwrite: false };
/// # build_image(&tree, &options, &image)?;
/// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
/// let table = read_table(&std::fs::File::open(&image)?, &image)?;
/// assert!(matches!(table.kind, TableKind::Gpt { .. }));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// An MBR (DOS) table.
    Mbr {
        /// The disk signature (bytes 440..444, little-endian).
        signature: u32,
    },
    /// A GPT (behind its protective MBR).
    Gpt {
        /// The disk GUID, in text order.
        disk_guid: [u8; 16],
    },
    /// No partition table.
    None,
}

/// A disk image's partition table and its used entries.
///
/// # Examples
///
/// ```
/// use blockimg::disk::found::read_table;
/// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
/// # use blockimg::tree::{Metadata, Timestamp, Tree};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let image = dir.path().join("disk.img");
/// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Gpt, ext4: Default::default(),
/// #     boot_partitions: BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }, overwrite: false };
/// # build_image(&tree, &options, &image)?;
/// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
/// let table = read_table(&std::fs::File::open(&image)?, &image)?;
/// assert_eq!(table.partitions.len(), 3);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FoundTable {
    /// Which table, and the disk's identity.
    pub kind: TableKind,
    /// The used entries (logical partitions included), by number; empty
    /// when there is no table.
    pub partitions: Vec<Partition>,
}

impl Partition {
    /// Whether the table types it as a Linux filesystem.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::partitions;
    /// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let image = dir.path().join("disk.img");
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Gpt, ext4: Default::default(),
    /// #     boot_partitions: BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }, overwrite: false };
    /// # build_image(&tree, &options, &image)?;
    /// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
    /// let parts = partitions(&std::fs::File::open(&image)?, &image)?;
    /// assert_eq!(parts.iter().filter(|p| p.is_linux()).count(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_linux(&self) -> bool {
        match &self.kind {
            PartitionKind::Mbr(kind) => *kind == MBR_LINUX,
            PartitionKind::Gpt { type_guid, .. } => *type_guid == guid_on_disk(LINUX_FILESYSTEM),
            PartitionKind::Whole => true,
        }
    }

    /// Whether the table types it as an EFI system partition (MBR 0xEF or
    /// the GPT ESP GUID).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::partitions;
    /// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let image = dir.path().join("disk.img");
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Gpt, ext4: Default::default(),
    /// #     boot_partitions: BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }, overwrite: false };
    /// # build_image(&tree, &options, &image)?;
    /// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
    /// let parts = partitions(&std::fs::File::open(&image)?, &image)?;
    /// assert!(parts[1].is_esp());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_esp(&self) -> bool {
        match &self.kind {
            PartitionKind::Mbr(kind) => *kind == 0xEF,
            PartitionKind::Gpt { type_guid, .. } => *type_guid == guid_on_disk(EFI_SYSTEM),
            PartitionKind::Whole => false,
        }
    }

    /// Whether it is a GPT BIOS boot partition (GRUB's core.img home).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::partitions;
    /// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let image = dir.path().join("disk.img");
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Gpt, ext4: Default::default(),
    /// #     boot_partitions: BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }, overwrite: false };
    /// # build_image(&tree, &options, &image)?;
    /// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
    /// let parts = partitions(&std::fs::File::open(&image)?, &image)?;
    /// assert!(parts[0].is_bios_boot() && !parts[1].is_bios_boot());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_bios_boot(&self) -> bool {
        matches!(&self.kind, PartitionKind::Gpt { type_guid, .. } if *type_guid == guid_on_disk(BIOS_BOOT))
    }

    /// The type, as `fdisk` shows it: `0x83`, a GUID, or `none`.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::partitions;
    /// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let image = dir.path().join("disk.img");
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Gpt, ext4: Default::default(),
    /// #     boot_partitions: BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }, overwrite: false };
    /// # build_image(&tree, &options, &image)?;
    /// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
    /// let parts = partitions(&std::fs::File::open(&image)?, &image)?;
    /// assert_eq!(parts[1].type_name(), "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"); // the ESP GUID
    /// # Ok(())
    /// # }
    /// ```
    pub fn type_name(&self) -> String {
        match &self.kind {
            PartitionKind::Mbr(kind) => format!("{kind:#04x}"),
            PartitionKind::Gpt { type_guid, .. } => guid_text(&guid_on_disk(*type_guid)),
            PartitionKind::Whole => "none".into(),
        }
    }
}

/// An image and, optionally, a partition of it: `disk.img` or `disk.img:2`.
///
/// # Examples
///
/// ```
/// use blockimg::disk::found::ImageSpec;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // "disk.img:1" names partition 1; "disk.img" alone the filesystem it holds.
/// let spec = ImageSpec::parse(format!("{}:1", image.display()).as_ref())?;
/// assert_eq!(spec.partition, Some(1));
/// let fs = spec.open_ext4()?;
/// assert!(fs.lookup(b"/etc/hostname").is_ok());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSpec {
    /// The image file.
    pub path: PathBuf,
    /// The partition asked for, from 1; `None` picks the filesystem.
    pub partition: Option<u32>,
}

impl ImageSpec {
    /// Parses `IMAGE[:PART]`. A name that exists as given is a path even
    /// when it ends in `:N`.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let spec = ImageSpec::parse("disk.img:2".as_ref())?;
    /// assert_eq!((spec.path.to_str(), spec.partition), (Some("disk.img"), Some(2)));
    /// assert_eq!(ImageSpec::parse("disk.img".as_ref())?.partition, None); // the filesystem, wherever it is
    /// # Ok(())
    /// # }
    /// ```
    pub fn parse(spec: &OsStr) -> Result<ImageSpec> {
        let bytes = spec.as_bytes();
        let whole = || ImageSpec {
            path: PathBuf::from(spec),
            partition: None,
        };
        if Path::new(spec).exists() {
            return Ok(whole());
        }
        let Some(colon) = bytes.iter().rposition(|&b| b == b':') else {
            return Ok(whole());
        };
        let Some((path, number)) = bytes.split_at_checked(colon) else {
            return Ok(whole());
        };
        let number = number.get(1..).unwrap_or_default();
        if path.is_empty() || number.is_empty() || !number.iter().all(u8::is_ascii_digit) {
            return Ok(whole());
        }
        let partition = std::str::from_utf8(number)
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::InvalidOption {
                option: "partition".into(),
                reason: format!(
                    "{:?}: partitions are numbered from 1",
                    String::from_utf8_lossy(number)
                ),
            })?;
        Ok(ImageSpec {
            path: PathBuf::from(OsStr::from_bytes(path)),
            partition: Some(partition),
        })
    }

    /// Opens the raw image and finds the partition holding the filesystem
    /// (see the module documentation), for the commands that change it; a
    /// VHD, VMDK or qcow2 image is refused, naming its format.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    /// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let image = dir.path().join("disk.img");
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Gpt, ext4: Default::default(),
    /// #     boot_partitions: BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }, overwrite: false };
    /// # build_image(&tree, &options, &image)?;
    /// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
    /// let (_file, partition) = ImageSpec::parse(image.as_os_str())?.locate()?;
    /// assert_eq!(partition.number, 3); // the Linux partition
    /// # Ok(())
    /// # }
    /// ```
    pub fn locate(&self) -> Result<(File, Partition)> {
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        require_raw(&file, &self.path)?;
        let partition = self.choose(&file)?;
        Ok((file, partition))
    }

    /// The partition this names among those of the disk `bytes`.
    fn choose(&self, file: &dyn Backing) -> Result<Partition> {
        let parts = partitions(file, &self.path)?;
        let no_ext4 = |location: String, reason: String| {
            Error::from(Ext4Error::NoExt4 {
                image: self.path.clone(),
                location,
                reason,
            })
        };
        let chosen = match self.partition {
            Some(number) => {
                let part = parts
                    .iter()
                    .find(|p| p.number == number && p.kind != PartitionKind::Whole)
                    .ok_or_else(|| {
                        Error::from(PartitionError::NoSuchPartition {
                            image: self.path.clone(),
                            partition: number,
                            available: describe(&parts),
                        })
                    })?;
                if !Ext4Reader::probe(file, part.start) {
                    return Err(no_ext4(
                        format!("partition {number}"),
                        format!("type {}, no ext4 superblock in it", part.type_name()),
                    ));
                }
                part
            }
            None => {
                let with_ext4: Vec<&Partition> = parts
                    .iter()
                    .filter(|p| Ext4Reader::probe(file, p.start))
                    .collect();
                let first = with_ext4
                    .iter()
                    .find(|p| p.is_linux())
                    .or(with_ext4.first());
                *first.ok_or_else(|| {
                    no_ext4(
                        "the image".into(),
                        format!(
                            "no partition holds an ext4 superblock; partitions: {}",
                            describe(&parts)
                        ),
                    )
                })?
            }
        };
        Ok(chosen.clone())
    }

    /// Opens the ext4 filesystem this names, in a raw, VHD, VMDK or qcow2
    /// image (read-only: changing a filesystem needs a raw image).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    /// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let image = dir.path().join("disk.img");
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions { size: DiskSize::Exact(64 << 20), table: PartitionTable::Gpt, ext4: Default::default(),
    /// #     boot_partitions: BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }, overwrite: false };
    /// # build_image(&tree, &options, &image)?;
    /// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
    /// let fs = ImageSpec::parse(image.as_os_str())?.open_ext4()?;
    /// assert!(fs.lookup(b"/lost+found").is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_ext4(&self) -> Result<Ext4Reader> {
        let (bytes, _) = open_disk_bytes(&self.path)?;
        let part = self.choose(&*bytes)?;
        Ext4Reader::open_bytes(bytes, part.start, &self.path)
    }
}

/// `1 (0x83), 2 (0xef)`, or `none ...` for a bare filesystem.
fn describe(parts: &[Partition]) -> String {
    if parts.iter().all(|p| p.kind == PartitionKind::Whole) {
        return "none: the image is a bare filesystem".into();
    }
    let list: Vec<String> = parts
        .iter()
        .map(|p| format!("{} ({})", p.number, p.type_name()))
        .collect();
    list.join(", ")
}

/// The partitions of the disk image `file`: the used entries of its GPT
/// or MBR (logical partitions included), or one [`PartitionKind::Whole`]
/// entry for an image without a table that holds an ext4 superblock.
///
/// # Examples
///
/// ```
/// use std::fs::File;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// let parts = blockimg::disk::found::partitions(&File::open(&image)?, &image)?;
/// assert_eq!(parts.iter().map(|p| p.number).collect::<Vec<_>>(), [1]);
/// assert_eq!(parts[0].type_name(), "0FC63DAF-8483-4772-8E79-3D69D8477DE4"); // Linux filesystem
/// # Ok(())
/// # }
/// ```
pub fn partitions(file: &dyn Backing, path: &Path) -> Result<Vec<Partition>> {
    let table = read_table(file, path)?;
    if !table.partitions.is_empty() {
        return Ok(table.partitions);
    }
    if Ext4Reader::probe(file, 0) {
        return Ok(vec![whole(file, path)?]);
    }
    Err(Error::from(Ext4Error::NoExt4 {
        image: path.to_path_buf(),
        location: "the image".into(),
        reason: "no partition table and no ext4 superblock".into(),
    }))
}

/// The whole image as one [`PartitionKind::Whole`] partition.
pub(crate) fn whole(file: &dyn Backing, path: &Path) -> Result<Partition> {
    let len = file.byte_len().map_err(|e| Error::io(path, e))?;
    Ok(Partition {
        number: 0,
        kind: PartitionKind::Whole,
        start: 0,
        size: len,
        bootable: false,
    })
}

/// The partition table of the disk image `file`: a GPT (behind a
/// protective MBR entry), an MBR with at least one used entry, or none (no
/// 0x55AA signature, no used entry, or a FAT boot sector rather than an
/// MBR).
///
/// # Examples
///
/// ```
/// use std::fs::File;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: an 8 MiB GPT disk with one ext4 partition.
/// let table = blockimg::disk::found::read_table(&File::open(&image)?, &image)?;
/// assert_eq!(table.partitions.len(), 1);
/// assert!(table.partitions[0].is_linux());
/// assert_eq!(table.partitions[0].start, 1 << 20);
/// # Ok(())
/// # }
/// ```
pub fn read_table(file: &dyn Backing, path: &Path) -> Result<FoundTable> {
    let none = FoundTable {
        kind: TableKind::None,
        partitions: Vec::new(),
    };
    let mut sector = [0u8; SECTOR as usize];
    if file.read_exact_at(&mut sector, 0).is_err() || is_fat_boot_sector(&sector) {
        return Ok(none);
    }
    let Some(mbr) = read_mbr(file, 0) else {
        return Ok(none);
    };
    let entries = [
        mbr.partition_1,
        mbr.partition_2,
        mbr.partition_3,
        mbr.partition_4,
    ];
    if entries.iter().any(|e| e.sys == GPT_PROTECTIVE) {
        let len = file.byte_len().map_err(|e| Error::io(path, e))?;
        return gpt_table(file, path, len);
    }
    let mut parts = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        if EXTENDED.contains(&entry.sys) {
            logical_partitions(file, path, entry, &mut parts)?;
        } else if entry.is_used() {
            parts.push(mbr_partition(i as u32 + 1, entry, 0));
        }
    }
    if parts.is_empty() {
        return Ok(none);
    }
    parts.sort_by_key(|p| p.number);
    let signature = u32::from_le_bytes([sector[440], sector[441], sector[442], sector[443]]);
    Ok(FoundTable {
        kind: TableKind::Mbr { signature },
        partitions: parts,
    })
}

/// The MBR (or EBR) in the sector at byte `at`, when it has the boot
/// signature and valid entries.
fn read_mbr(file: &dyn Backing, at: u64) -> Option<MBRHeader> {
    let mut sector = [0u8; SECTOR as usize];
    file.read_exact_at(&mut sector, at).ok()?;
    MBRHeader::read_from(&mut Cursor::new(&sector[..])).ok()
}

/// An MBR entry whose start counts from sector `base`.
fn mbr_partition(number: u32, entry: &MBRPartitionEntry, base: u64) -> Partition {
    Partition {
        number,
        kind: PartitionKind::Mbr(entry.sys),
        start: (base + u64::from(entry.starting_lba)) * SECTOR,
        size: u64::from(entry.sectors) * SECTOR,
        bootable: entry.boot == mbrman::BOOT_ACTIVE,
    }
}

/// Follows the chain of EBRs of an extended partition: each holds one
/// logical partition (its start relative to the EBR) and a link to the next
/// EBR (relative to the extended partition's start).
fn logical_partitions(
    file: &dyn Backing,
    path: &Path,
    extended: &MBRPartitionEntry,
    out: &mut Vec<Partition>,
) -> Result<()> {
    let base = u64::from(extended.starting_lba);
    let mut next = 0u64;
    for i in 0..MAX_LOGICAL {
        let ebr_lba = base + next;
        let Some(ebr) = read_mbr(file, ebr_lba * SECTOR) else {
            // An extended partition without logical partitions may lack
            // its first EBR.
            if i == 0 {
                return Ok(());
            }
            return Err(corrupt_mbr(path, ebr_lba, "no valid EBR"));
        };
        if ebr.partition_1.is_used() {
            out.push(mbr_partition(5 + i as u32, &ebr.partition_1, ebr_lba));
        }
        let link = u64::from(ebr.partition_2.starting_lba);
        if !ebr.partition_2.is_used() || link == 0 {
            return Ok(());
        }
        if link <= next {
            return Err(corrupt_mbr(
                path,
                ebr_lba,
                "the next EBR does not lie further on",
            ));
        }
        next = link;
    }
    Err(corrupt_mbr(
        path,
        base + next,
        "more than 128 logical partitions",
    ))
}

fn corrupt_mbr(path: &Path, lba: u64, reason: &str) -> Error {
    Error::from(PartitionError::Corrupt(Box::new(Corrupt {
        path: path.to_path_buf(),
        format: "MBR".into(),
        field: "extended boot record at sector".into(),
        value: lba.to_string(),
        reason: reason.into(),
    })))
}

/// The GPT's used entries and disk GUID (read with gptman, which checks
/// both headers' CRCs and falls back to the backup table).
fn gpt_table(file: &dyn Backing, path: &Path, len: u64) -> Result<FoundTable> {
    check_gpt_headers(file, path, len)?;
    let mut reader = BackingCursor::new(file).map_err(|e| Error::io(path, e))?;
    let gpt = gptman::GPT::find_from(&mut reader).map_err(|e| {
        Error::from(PartitionError::Corrupt(Box::new(Corrupt {
            path: path.to_path_buf(),
            format: "GPT".into(),
            field: "partition table".into(),
            value: "unreadable".into(),
            reason: e.to_string(),
        })))
    })?;
    let partitions = gpt
        .iter()
        .filter(|(_, entry)| entry.is_used())
        .map(|(number, entry)| Partition {
            number,
            kind: PartitionKind::Gpt {
                type_guid: entry.partition_type_guid,
                name: entry.partition_name.as_str().to_string(),
            },
            start: entry.starting_lba.saturating_mul(gpt.sector_size),
            size: (entry.ending_lba.saturating_sub(entry.starting_lba) + 1)
                .saturating_mul(gpt.sector_size),
            bootable: entry.attribute_bits & GPT_LEGACY_BOOTABLE != 0,
        })
        .collect();
    Ok(FoundTable {
        kind: TableKind::Gpt {
            disk_guid: guid_on_disk(gpt.header.disk_guid),
        },
        partitions,
    })
}

/// Refuses GPT headers (primary or backup, 512- or 4096-byte sectors) whose
/// entry array is too large or lies beyond any addressable offset, before
/// gptman allocates and seeks by those numbers.
fn check_gpt_headers(file: &dyn Backing, path: &Path, len: u64) -> Result<()> {
    for sector in [512u64, 4096] {
        let backup = (len / sector).saturating_sub(1) * sector;
        for at in [sector, backup] {
            let mut header = [0u8; 92];
            if file.read_exact_at(&mut header, at).is_err() || !header.starts_with(b"EFI PART") {
                continue;
            }
            let u32_at = |o: usize| le32(&header, o);
            let entry_lba = u64::from(u32_at(72)) | (u64::from(u32_at(76)) << 32);
            let (count, size) = (u64::from(u32_at(80)), u64::from(u32_at(84)));
            let array_fits = entry_lba
                .checked_mul(sector)
                .and_then(|start| start.checked_add(count * size))
                .is_some();
            if count * size > MAX_GPT_ENTRIES_BYTES || size < 128 || !array_fits {
                return Err(Error::from(PartitionError::Corrupt(Box::new(Corrupt {
                    path: path.to_path_buf(),
                    format: "GPT".into(),
                    field: format!("header at byte {at}"),
                    value: format!("{count} entries of {size} bytes at LBA {entry_lba}"),
                    reason: format!("entries are at least 128 bytes, at most {MAX_GPT_ENTRIES_BYTES} bytes in all, within the disk"),
                }))));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_a_trailing_partition_number() {
        let spec = |s: &str| ImageSpec::parse(OsStr::new(s));
        assert_eq!(
            spec("/no/such/disk.img:2").unwrap(),
            ImageSpec {
                path: "/no/such/disk.img".into(),
                partition: Some(2)
            }
        );
        assert_eq!(spec("/no/such/disk.img").unwrap().partition, None);
        assert_eq!(
            spec("/no/such/a:b").unwrap().path,
            PathBuf::from("/no/such/a:b")
        );
        assert!(spec("/no/such/disk.img:0").is_err());
        assert!(spec("/no/such/disk.img:99999999999").is_err());
    }

    #[test]
    fn an_existing_name_with_a_colon_is_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk:1");
        std::fs::write(&path, b"").unwrap();
        let spec = ImageSpec::parse(path.as_os_str()).unwrap();
        assert_eq!((spec.path, spec.partition), (path, None));
    }

    #[test]
    fn gpt_linux_guid_displays_as_fdisk_shows_it() {
        let part = Partition {
            number: 1,
            kind: PartitionKind::Gpt {
                type_guid: guid_on_disk(LINUX_FILESYSTEM),
                name: String::new(),
            },
            start: 0,
            size: 0,
            bootable: false,
        };
        assert_eq!(part.type_name(), "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
        assert!(part.is_linux());
    }
}
