//! Finding filesystems in disk images: the partitions of an MBR (primary and
//! logical) or GPT table, or a bare filesystem without a table; and the
//! `IMAGE[:PART]` notation commands use to name one.
//!
//! `disk.img` means the bare filesystem, or else the first Linux partition
//! holding ext4 (the first partition holding ext4 when none is typed Linux);
//! `disk.img:2` means partition 2 (1-based; MBR logical partitions are 5 and
//! up, as Linux numbers them).
//!
//! `mbr.rs` reads MBRs (and the EBR chains of logical partitions), `gpt.rs`
//! GPTs, `spec.rs` the `IMAGE[:PART]` notation ([`ImageSpec`]).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod gpt;
pub(crate) mod mbr;
mod spec;

use std::path::Path;

pub use spec::ImageSpec;

use super::fat::boot_sector::is_fat_boot_sector;
use super::gpt::{guid_on_disk, guid_text, BIOS_BOOT, EFI_SYSTEM, LINUX_FILESYSTEM};
use super::layout::SECTOR;
use super::mbr::{ESP_PARTITION, LINUX_PARTITION};
use crate::disk_format::Backing;
use crate::error::Ext4Error;
use crate::error::{Error, Result};
use crate::ext4::read::Ext4Reader;

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
/// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }).overwrite(false);
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
/// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }).overwrite(false);
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
/// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }).overwrite(false);
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
/// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }).overwrite(false);
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }).overwrite(false);
    /// # build_image(&tree, &options, &image)?;
    /// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
    /// let parts = partitions(&std::fs::File::open(&image)?, &image)?;
    /// assert_eq!(parts.iter().filter(|p| p.is_linux()).count(), 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_linux(&self) -> bool {
        match &self.kind {
            PartitionKind::Mbr(kind) => *kind == LINUX_PARTITION,
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }).overwrite(false);
    /// # build_image(&tree, &options, &image)?;
    /// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
    /// let parts = partitions(&std::fs::File::open(&image)?, &image)?;
    /// assert!(parts[1].is_esp());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_esp(&self) -> bool {
        match &self.kind {
            PartitionKind::Mbr(kind) => *kind == ESP_PARTITION,
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }).overwrite(false);
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
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }).overwrite(false);
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
    let Some(header) = mbr::parse(&sector) else {
        return Ok(none);
    };
    if mbr::is_protective(&header) {
        let len = file.byte_len().map_err(|e| Error::io(path, e))?;
        return gpt::table(file, path, len);
    }
    Ok(mbr::table(file, path, &header)?.unwrap_or(none))
}

#[cfg(test)]
mod tests {
    use super::*;

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
