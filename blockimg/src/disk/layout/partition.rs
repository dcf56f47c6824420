//! What a layout is made of: the partition table, the partitions asked
//! for ([`PartitionSpec`], [`BootPartitions`]) and the partitions placed
//! ([`Partition`]), with their types.

use super::PartitionRole;

/// The partition table written in front of the filesystem.
///
/// # Examples
///
/// ```
/// use blockimg::disk::layout::{BootPartitions, DiskLayout, PartitionTable};
///
/// # fn main() -> blockimg::Result<()> {
/// let none = BootPartitions::default();
/// // A bare filesystem fills the whole disk; a table puts it at 1 MiB.
/// assert_eq!(DiskLayout::new(PartitionTable::None, &none, 8 << 20)?.root().start, 0);
/// assert_eq!(DiskLayout::new(PartitionTable::Mbr, &none, 8 << 20)?.root().start, 1 << 20);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionTable {
    /// An MBR: the root is a bootable Linux partition (type 0x83), after an
    /// ESP (type 0xEF) when there is one.
    Mbr,
    /// A GPT with its protective MBR and backup at the end of the disk: a
    /// BIOS boot partition and an ESP when asked for, then the root
    /// (Linux filesystem type).
    Gpt,
    /// No table: the image is a bare ext4 filesystem.
    None,
}

impl PartitionTable {
    /// Name used in messages.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::PartitionTable;
    ///
    /// assert_eq!(PartitionTable::Gpt.name(), "GPT");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            PartitionTable::Mbr => "MBR",
            PartitionTable::Gpt => "GPT",
            PartitionTable::None => "no partition table",
        }
    }
}

/// Partitions that boot loaders need besides the root filesystem.
///
/// # Examples
///
/// ```
/// use blockimg::disk::layout::{BootPartitions, DiskLayout, PartitionRole, PartitionTable};
///
/// # fn main() -> blockimg::Result<()> {
/// let boot = BootPartitions { esp: Some(40 << 20), bios_boot: Some(1 << 20) };
/// let layout = DiskLayout::new(PartitionTable::Gpt, &boot, 128 << 20)?;
/// assert_eq!(layout.partitions.len(), 3);
/// assert_eq!(layout.find(PartitionRole::Esp).map(|p| p.size), Some(40 << 20));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootPartitions {
    /// An EFI system partition of this many bytes (rounded up to 1 MiB),
    /// formatted FAT32.
    pub esp: Option<u64>,
    /// A BIOS boot partition of this many bytes (whole sectors) for GRUB's
    /// core.img on a GPT disk.
    pub bios_boot: Option<u64>,
}

/// A partition type other than its role's: a GPT type GUID or an MBR
/// system id.
///
/// # Examples
///
/// ```
/// use blockimg::disk::layout::{DiskLayout, PartitionRole, PartitionSpec, PartitionTable, PartitionType};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut data = PartitionSpec::new(PartitionRole::Data, Some(8 << 20));
/// data.kind = Some(PartitionType::Mbr(0x0c)); // FAT32 (LBA), for another system
/// let specs = [data, PartitionSpec::new(PartitionRole::Root, None)];
/// let layout = DiskLayout::plan(PartitionTable::Mbr, 64 << 20, &specs)?;
/// assert_eq!(layout.partitions[0].kind, Some(PartitionType::Mbr(0x0c)));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionType {
    /// GPT partition type GUID, in text order.
    Gpt([u8; 16]),
    /// MBR system id (e.g. 0x83).
    Mbr(u8),
}

/// One partition asked for: its role, where it goes and what the table
/// says about it. [`DiskLayout::plan`](super::DiskLayout::plan) places a list of them.
///
/// # Examples
///
/// ```
/// use blockimg::disk::layout::{DiskLayout, PartitionRole, PartitionSpec, PartitionTable};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut swap = PartitionSpec::new(PartitionRole::Swap, Some(16 << 20));
/// swap.start = Some(48 << 20); // after the root
/// let specs = [PartitionSpec::new(PartitionRole::Root, Some(40 << 20)), swap];
/// let layout = DiskLayout::plan(PartitionTable::Gpt, 128 << 20, &specs)?;
/// assert_eq!(layout.partitions[1].start, 48 << 20);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionSpec {
    /// What it holds.
    pub role: PartitionRole,
    /// Byte offset of its first sector; `None` puts it on the next 1 MiB
    /// boundary after the partition before it.
    pub start: Option<u64>,
    /// Length in bytes (rounded up to whole sectors, an ESP to whole MiB);
    /// `None` fills the space the other partitions leave (one partition at
    /// most).
    pub size: Option<u64>,
    /// GPT partition name; `None` uses the role's.
    pub name: Option<String>,
    /// Partition type; `None` uses the role's.
    pub kind: Option<PartitionType>,
    /// GPT unique partition GUID (text order); `None` derives or draws
    /// one.
    pub guid: Option<[u8; 16]>,
}

impl PartitionSpec {
    /// A partition of `role` and `size` (`None`: the rest of the disk)
    /// placed after the one before it, with the role's name and type.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::{PartitionRole, PartitionSpec};
    ///
    /// let root = PartitionSpec::new(PartitionRole::Root, None); // the rest of the disk
    /// assert_eq!((root.start, root.size, root.name), (None, None, None));
    /// ```
    pub fn new(role: PartitionRole, size: Option<u64>) -> PartitionSpec {
        PartitionSpec {
            role,
            start: None,
            size,
            name: None,
            kind: None,
            guid: None,
        }
    }
}

/// One partition: its number in the table (from 1) and its byte range.
///
/// # Examples
///
/// ```
/// use blockimg::disk::layout::{BootPartitions, DiskLayout, PartitionRole, PartitionTable};
///
/// # fn main() -> blockimg::Result<()> {
/// let boot = BootPartitions { esp: Some(40 << 20), bios_boot: Some(1 << 20) };
/// let layout = DiskLayout::new(PartitionTable::Gpt, &boot, 128 << 20)?;
/// let root = layout.root();
/// assert_eq!((root.number, root.start), (3, 42 << 20));
/// assert_eq!(root.end(), (128 << 20) - 33 * 512); // the backup GPT follows
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// What it holds.
    pub role: PartitionRole,
    /// Number in the table, from 1.
    pub number: u32,
    /// Byte offset of its first sector.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
    /// GPT partition name.
    pub name: String,
    /// Partition type other than the role's, if any.
    pub kind: Option<PartitionType>,
    /// GPT unique partition GUID given by the caller, if any.
    pub guid: Option<[u8; 16]>,
}

impl Partition {
    /// Byte offset just past its last sector.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::{BootPartitions, DiskLayout, PartitionRole, PartitionTable};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let boot = BootPartitions { esp: Some(40 << 20), bios_boot: Some(1 << 20) };
    /// let layout = DiskLayout::new(PartitionTable::Gpt, &boot, 128 << 20)?;
    /// let root = layout.root();
    /// assert_eq!(root.end(), root.start + root.size);
    /// # let _ = PartitionRole::Root;
    /// # Ok(())
    /// # }
    /// ```
    pub fn end(&self) -> u64 {
        self.start + self.size
    }
}
