//! Where each partition of a disk goes: the partition table's kind, the
//! BIOS boot partition and the ESP a boot loader asks for, and the root
//! filesystem filling the rest, all aligned to 1 MiB.

mod partition;
mod rules;

pub use super::role::PartitionRole;
pub use partition::{BootPartitions, Partition, PartitionSpec, PartitionTable, PartitionType};

use crate::error::PartitionError;
use crate::error::{Error, Result};
use rules::{check_overlaps, check_roles};

/// Bytes in a sector: every table here uses 512-byte sectors.
pub const SECTOR: u64 = 512;
/// Partition alignment and the start of the first partition: 1 MiB, which
/// leaves room for a boot loader after an MBR.
pub const ALIGN: u64 = 1 << 20;
/// Largest disk an MBR can describe with 512-byte sectors.
pub const MBR_LIMIT: u64 = (u32::MAX as u64) * SECTOR;
/// Bytes of a GPT's backup at the end of the disk: 32 sectors of partition
/// entries and the backup header.
pub const GPT_BACKUP_BYTES: u64 = 33 * SECTOR;

/// The smallest partition of `role`, in bytes.
fn min_size(role: PartitionRole) -> u64 {
    match role {
        PartitionRole::BiosBoot => SECTOR,
        PartitionRole::Esp => super::fat::MIN_ESP_SIZE,
        // mkswap refuses fewer than ten pages.
        PartitionRole::Swap => 10 * super::swap::PAGE_SIZE,
        PartitionRole::Root => ALIGN,
        PartitionRole::Data => SECTOR,
    }
}

/// A disk's partitions, in table order. With [`PartitionTable::None`] the
/// root "partition" is the whole disk.
///
/// # Examples
///
/// ```
/// use blockimg::disk::layout::{BootPartitions, DiskLayout, PartitionRole, PartitionTable};
///
/// # fn main() -> blockimg::Result<()> {
/// let boot = BootPartitions { esp: Some(64 << 20), bios_boot: Some(1 << 20) };
/// let layout = DiskLayout::new(PartitionTable::Gpt, &boot, 1 << 30)?;
/// assert_eq!(layout.partitions.len(), 3); // BIOS boot, ESP, root
/// let esp = layout.find(PartitionRole::Esp).unwrap();
/// assert_eq!((esp.number, esp.size), (2, 64 << 20));
/// // The root fills the rest, short of the backup GPT at the end.
/// assert_eq!(layout.root().end(), (1 << 30) - DiskLayout::back_bytes(PartitionTable::Gpt));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskLayout {
    /// The table.
    pub table: PartitionTable,
    /// Size of the disk in bytes, whole sectors.
    pub disk_size: u64,
    /// Partitions in table order.
    pub partitions: Vec<Partition>,
}

impl DiskLayout {
    /// The partitions `table` and `boot` ask for, in disk order (BIOS boot
    /// partition, ESP), then the root filling the rest.
    pub(crate) fn specs(boot: &BootPartitions) -> Vec<PartitionSpec> {
        let mut specs = Vec::new();
        if let Some(size) = boot.bios_boot {
            specs.push(PartitionSpec::new(PartitionRole::BiosBoot, Some(size)));
        }
        if let Some(size) = boot.esp {
            specs.push(PartitionSpec::new(PartitionRole::Esp, Some(size)));
        }
        specs.push(PartitionSpec::new(PartitionRole::Root, None));
        specs
    }

    /// Bytes of a disk laid out as `specs` outside the partition that
    /// fills the rest: the space before and between the others (with their
    /// alignment) and the GPT backup. A disk of this size plus what the
    /// filling partition needs holds them all.
    pub(crate) fn fixed_bytes(table: PartitionTable, specs: &[PartitionSpec]) -> u64 {
        let mut next = Self::first_start(table);
        for spec in specs {
            let start = spec.start.unwrap_or(next.next_multiple_of(ALIGN));
            let size = spec.size.map_or(0, |s| rounded_size(spec.role, s));
            next = (start + size).next_multiple_of(ALIGN).max(next);
        }
        next + Self::back_bytes(table)
    }

    /// Bytes in front of the root filesystem for `table` and `boot`.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::{BootPartitions, DiskLayout, PartitionTable};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let none = BootPartitions::default();
    /// assert_eq!(DiskLayout::front_bytes(PartitionTable::Mbr, &none)?, 1 << 20);
    /// assert_eq!(DiskLayout::front_bytes(PartitionTable::None, &none)?, 0);
    /// let esp = BootPartitions { esp: Some(64 << 20), bios_boot: None };
    /// assert_eq!(DiskLayout::front_bytes(PartitionTable::Gpt, &esp)?, 65 << 20);
    /// # Ok(())
    /// # }
    /// ```
    pub fn front_bytes(table: PartitionTable, boot: &BootPartitions) -> Result<u64> {
        Ok(Self::fixed_bytes(table, &Self::specs(boot)) - Self::back_bytes(table))
    }

    /// Bytes after the last partition: the GPT's backup.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::{DiskLayout, PartitionTable};
    ///
    /// assert_eq!(DiskLayout::back_bytes(PartitionTable::Gpt), 33 * 512); // entries and header
    /// assert_eq!(DiskLayout::back_bytes(PartitionTable::Mbr), 0);
    /// ```
    pub fn back_bytes(table: PartitionTable) -> u64 {
        match table {
            PartitionTable::Gpt => GPT_BACKUP_BYTES,
            PartitionTable::Mbr | PartitionTable::None => 0,
        }
    }

    /// Lays out a disk of `disk_size` bytes (rounded down to whole
    /// sectors) with the boot partitions `boot` asks for and the root
    /// filling the rest. Refuses boot partitions without a table, a BIOS
    /// boot partition on an MBR disk, an ESP too small for FAT32, a disk too
    /// small for its partitions and an MBR disk past 2 TiB.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::{BootPartitions, DiskLayout, PartitionRole, PartitionTable};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let boot = BootPartitions { esp: Some(40 << 20), bios_boot: Some(1 << 20) };
    /// let layout = DiskLayout::new(PartitionTable::Gpt, &boot, 128 << 20)?;
    /// assert_eq!(layout.disk_size, 128 << 20);
    /// assert!(DiskLayout::new(PartitionTable::Gpt, &boot, 16 << 20).is_err()); // no room for the root
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(table: PartitionTable, boot: &BootPartitions, disk_size: u64) -> Result<Self> {
        Self::plan(table, disk_size, &Self::specs(boot)).map_err(|e| match e {
            Error::Partition(PartitionError::Placement {
                role: PartitionRole::Esp,
                field: "size",
                ..
            }) => match boot.esp.map(|s| s.next_multiple_of(ALIGN)) {
                Some(asked) if asked < super::fat::MIN_ESP_SIZE => Error::InvalidOption {
                    option: "ESP size".into(),
                    reason: format!(
                        "a FAT32 EFI system partition needs at least {} bytes, and {asked} were asked for",
                        super::fat::MIN_ESP_SIZE
                    ),
                },
                _ => Error::TooSmall {
                    what: "a disk with an EFI system partition and a root".into(),
                    needed: Self::front_bytes(table, boot).unwrap_or(0)
                        + ALIGN
                        + Self::back_bytes(table),
                    available: disk_size,
                },
            },
            other => other,
        })
    }

    /// Places `specs` (in table order) on a disk of `disk_size` bytes
    /// (rounded down to whole sectors): each partition at its `start` or
    /// on the next 1 MiB boundary, the one without a size filling what the
    /// others leave.
    ///
    /// # Errors
    ///
    /// [`PartitionError::Placement`] names the partition at fault: a second root, ESP
    /// or BIOS boot partition, a BIOS boot partition on an MBR disk, a fifth
    /// MBR partition, a second partition without a size, a partition
    /// smaller than its role needs, a start off the sector grid or inside
    /// the table, a partition past the end of the disk or overlapping
    /// another. [`Error::TooSmall`] when the disk leaves the filling
    /// partition too little room, [`Error::TooLarge`] for an MBR disk past
    /// 2 TiB, [`Error::InvalidOption`] for a disk without a root.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::{DiskLayout, PartitionRole, PartitionSpec, PartitionTable};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let specs = [
    ///     PartitionSpec::new(PartitionRole::Root, Some(200 << 20)),
    ///     PartitionSpec::new(PartitionRole::Swap, Some(64 << 20)),
    ///     PartitionSpec::new(PartitionRole::Data, None), // the rest
    /// ];
    /// let layout = DiskLayout::plan(PartitionTable::Mbr, 1 << 30, &specs)?;
    /// let sizes: Vec<u64> = layout.partitions.iter().map(|p| p.size).collect();
    /// assert_eq!(sizes, [200 << 20, 64 << 20, (1 << 30) - (265 << 20)]);
    ///
    /// // Two partitions that both want the rest of the disk are refused.
    /// let both = [PartitionSpec::new(PartitionRole::Root, None), PartitionSpec::new(PartitionRole::Data, None)];
    /// assert!(DiskLayout::plan(PartitionTable::Mbr, 1 << 30, &both).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn plan(table: PartitionTable, disk_size: u64, specs: &[PartitionSpec]) -> Result<Self> {
        let disk_size = disk_size / SECTOR * SECTOR;
        let bad = |index: usize, field: &'static str, reason: String| {
            Error::from(PartitionError::Placement {
                number: index as u32 + 1,
                role: specs[index].role,
                field,
                reason,
            })
        };
        check_roles(table, specs, &bad)?;
        if table == PartitionTable::Mbr && disk_size > MBR_LIMIT {
            return Err(Error::TooLarge {
                what: "an MBR-partitioned disk".into(),
                size: disk_size,
                limit: MBR_LIMIT,
            });
        }
        let usable_end = disk_size.saturating_sub(Self::back_bytes(table));
        let first_usable = match table {
            PartitionTable::Gpt => 34 * SECTOR,
            PartitionTable::Mbr => SECTOR,
            PartitionTable::None => 0,
        };
        let mut partitions: Vec<Partition> = Vec::with_capacity(specs.len());
        let mut next = Self::first_start(table);
        for (i, spec) in specs.iter().enumerate() {
            let start = match spec.start {
                Some(start) if start % SECTOR != 0 => {
                    return Err(bad(
                        i,
                        "start",
                        format!("{start} is not a multiple of {SECTOR}"),
                    ))
                }
                Some(start) if start < first_usable => {
                    return Err(bad(
                        i,
                        "start",
                        format!(
                        "byte {start} is inside the {} (the first usable byte is {first_usable})",
                        table.name()
                    ),
                    ))
                }
                Some(start) => start,
                None => next.next_multiple_of(ALIGN),
            };
            let size = match spec.size {
                Some(size) => rounded_size(spec.role, size),
                None => {
                    let end = fill_end(table, specs, i, usable_end);
                    let needed = start.saturating_add(min_size(spec.role));
                    if end < needed {
                        return Err(Error::TooSmall {
                            what: match table {
                                PartitionTable::None => "a filesystem".into(),
                                _ => format!("a {}-partitioned disk", table.name()),
                            },
                            needed: needed
                                + (usable_end - end.min(usable_end))
                                + Self::back_bytes(table),
                            available: disk_size,
                        });
                    }
                    end - start
                }
            };
            if size < min_size(spec.role) {
                return Err(bad(
                    i,
                    "size",
                    format!(
                        "{size} bytes is less than a {} partition needs ({} bytes)",
                        spec.role.description(),
                        min_size(spec.role)
                    ),
                ));
            }
            let end = start.saturating_add(size);
            if end > usable_end {
                let field = if spec.start.is_some() && start >= usable_end {
                    "start"
                } else {
                    "size"
                };
                return Err(bad(
                    i,
                    field,
                    format!(
                        "bytes {start}..{end} do not fit: the partitions of a {disk_size}-byte {} disk must end by byte {usable_end}",
                        table.name()
                    ),
                ));
            }
            partitions.push(Partition {
                role: spec.role,
                number: i as u32 + 1,
                start,
                size,
                name: spec
                    .name
                    .clone()
                    .unwrap_or_else(|| spec.role.gpt_name().into()),
                kind: spec.kind,
                guid: spec.guid,
            });
            next = end.max(next);
        }
        check_overlaps(specs, &partitions, &bad)?;
        Ok(DiskLayout {
            table,
            disk_size,
            partitions,
        })
    }

    /// The root filesystem's partition.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::{BootPartitions, DiskLayout, PartitionRole, PartitionTable};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let boot = BootPartitions { esp: Some(40 << 20), bios_boot: Some(1 << 20) };
    /// let layout = DiskLayout::new(PartitionTable::Gpt, &boot, 128 << 20)?;
    /// assert_eq!(layout.root().role, PartitionRole::Root);
    /// # Ok(())
    /// # }
    /// ```
    pub fn root(&self) -> &Partition {
        // `plan` refuses a layout without exactly one root.
        let index = self
            .partitions
            .iter()
            .position(|p| p.role == PartitionRole::Root)
            .unwrap_or(0);
        &self.partitions[index]
    }

    /// The partition with `role`, if the disk has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::{BootPartitions, DiskLayout, PartitionRole, PartitionTable};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let boot = BootPartitions { esp: Some(40 << 20), bios_boot: Some(1 << 20) };
    /// let layout = DiskLayout::new(PartitionTable::Gpt, &boot, 128 << 20)?;
    /// assert_eq!(layout.find(PartitionRole::BiosBoot).map(|p| p.start), Some(1 << 20));
    /// assert!(layout.find(PartitionRole::Swap).is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn find(&self, role: PartitionRole) -> Option<&Partition> {
        self.partitions.iter().find(|p| p.role == role)
    }

    /// Where the first partition starts.
    fn first_start(table: PartitionTable) -> u64 {
        match table {
            PartitionTable::Mbr | PartitionTable::Gpt => ALIGN,
            PartitionTable::None => 0,
        }
    }
}

/// The size a partition of `role` asked to hold `size` bytes gets: an ESP
/// whole MiB, anything else whole sectors.
fn rounded_size(role: PartitionRole, size: u64) -> u64 {
    match role {
        PartitionRole::Esp => size.next_multiple_of(ALIGN),
        PartitionRole::BiosBoot => size / SECTOR * SECTOR,
        _ => size.next_multiple_of(SECTOR),
    }
}

/// Where the partition `i` that fills the free space ends: before the
/// partitions after it (each on its 1 MiB boundary) up to the next one
/// with a given start, or the end of the usable space.
fn fill_end(table: PartitionTable, specs: &[PartitionSpec], i: usize, usable_end: u64) -> u64 {
    let rest = &specs[i + 1..];
    let until = rest.iter().position(|s| s.start.is_some());
    let limit = until.map_or(usable_end, |j| rest[j].start.unwrap_or(usable_end));
    let after = &rest[..until.unwrap_or(rest.len())];
    if after.is_empty() {
        return if table == PartitionTable::None || until.is_none() {
            limit
        } else {
            limit / ALIGN * ALIGN
        };
    }
    let reserved: u64 = after
        .iter()
        .map(|s| s.size.map_or(0, |size| rounded_size(s.role, size)))
        .map(|size| size.next_multiple_of(ALIGN))
        .sum();
    (limit.saturating_sub(reserved)) / ALIGN * ALIGN
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn roles(l: &DiskLayout) -> Vec<(PartitionRole, u32, u64, u64)> {
        l.partitions
            .iter()
            .map(|p| (p.role, p.number, p.start / MIB, p.size))
            .collect()
    }

    #[test]
    fn hybrid_gpt_is_bios_boot_esp_root() {
        let boot = BootPartitions {
            esp: Some(64 * MIB),
            bios_boot: Some(MIB),
        };
        let l = DiskLayout::new(PartitionTable::Gpt, &boot, 256 * MIB).unwrap();
        assert_eq!(
            roles(&l),
            vec![
                (PartitionRole::BiosBoot, 1, 1, MIB),
                (PartitionRole::Esp, 2, 2, 64 * MIB),
                (PartitionRole::Root, 3, 66, 256 * MIB - 66 * MIB - 33 * 512),
            ]
        );
        assert_eq!(
            DiskLayout::front_bytes(PartitionTable::Gpt, &boot).unwrap(),
            66 * MIB
        );
    }

    #[test]
    fn mbr_with_an_esp_puts_it_first() {
        let boot = BootPartitions {
            esp: Some(40 * MIB + 1),
            bios_boot: None,
        };
        let l = DiskLayout::new(PartitionTable::Mbr, &boot, 200 * MIB).unwrap();
        assert_eq!(
            roles(&l),
            vec![
                (PartitionRole::Esp, 1, 1, 41 * MIB),
                (PartitionRole::Root, 2, 42, 158 * MIB),
            ]
        );
        let plain = DiskLayout::new(PartitionTable::Mbr, &BootPartitions::default(), 200 * MIB);
        assert_eq!(plain.unwrap().root().start, MIB);
    }

    #[test]
    fn a_small_bios_boot_partition_keeps_the_next_aligned() {
        let boot = BootPartitions {
            esp: None,
            bios_boot: Some(16 << 10),
        };
        let l = DiskLayout::new(PartitionTable::Gpt, &boot, 64 * MIB).unwrap();
        assert_eq!(l.partitions[0].size, 16 << 10);
        assert_eq!(l.root().start, 2 * MIB);
    }

    #[test]
    fn refusals() {
        let esp = |mib| BootPartitions {
            esp: Some(mib * MIB),
            bios_boot: None,
        };
        let bios = BootPartitions {
            esp: None,
            bios_boot: Some(MIB),
        };
        assert!(DiskLayout::new(PartitionTable::None, &esp(64), 256 * MIB).is_err());
        assert!(DiskLayout::new(PartitionTable::Mbr, &bios, 256 * MIB).is_err());
        let small = DiskLayout::new(PartitionTable::Gpt, &esp(8), 256 * MIB).unwrap_err();
        assert!(
            small.to_string().contains("EFI system partition"),
            "{small}"
        );
        let tiny = DiskLayout::new(PartitionTable::Gpt, &esp(64), 65 * MIB).unwrap_err();
        assert!(matches!(tiny, Error::TooSmall { .. }), "{tiny}");
        let huge = DiskLayout::new(PartitionTable::Mbr, &esp(64), 3 << 40).unwrap_err();
        assert!(matches!(huge, Error::TooLarge { .. }), "{huge}");
        assert!(DiskLayout::new(PartitionTable::Gpt, &esp(64), 3 << 40).is_ok());
    }

    fn spec(role: PartitionRole, start_mib: Option<u64>, size_mib: Option<u64>) -> PartitionSpec {
        PartitionSpec {
            start: start_mib.map(|m| m * MIB),
            ..PartitionSpec::new(role, size_mib.map(|m| m * MIB))
        }
    }

    #[test]
    fn a_partition_filling_the_middle_leaves_room_for_those_after_it() {
        let specs = [
            spec(PartitionRole::Root, None, None),
            spec(PartitionRole::Swap, None, Some(8)),
            spec(PartitionRole::Data, None, Some(3)),
        ];
        let l = DiskLayout::plan(PartitionTable::Gpt, 64 * MIB, &specs).unwrap();
        let got: Vec<(u64, u64)> = l.partitions.iter().map(|p| (p.start, p.size)).collect();
        assert_eq!(
            got,
            vec![(MIB, 51 * MIB), (52 * MIB, 8 * MIB), (60 * MIB, 3 * MIB)]
        );
        assert!(l.partitions.last().unwrap().end() <= 64 * MIB - GPT_BACKUP_BYTES);
        assert_eq!(
            DiskLayout::fixed_bytes(PartitionTable::Gpt, &specs),
            12 * MIB + GPT_BACKUP_BYTES
        );
    }

    #[test]
    fn overlaps_and_overruns_name_the_partition_and_setting() {
        let overlap = [
            spec(PartitionRole::Root, None, Some(16)),
            spec(PartitionRole::Swap, Some(8), Some(4)),
        ];
        match DiskLayout::plan(PartitionTable::Mbr, 64 * MIB, &overlap).unwrap_err() {
            Error::Partition(PartitionError::Placement {
                number,
                field,
                reason,
                ..
            }) => {
                assert_eq!((number, field), (2, "start"));
                assert!(reason.contains("overlap partition 1"), "{reason}");
            }
            other => panic!("{other}"),
        }
        let past = [spec(PartitionRole::Root, None, Some(70))];
        assert!(matches!(
            DiskLayout::plan(PartitionTable::Mbr, 64 * MIB, &past),
            Err(Error::Partition(PartitionError::Placement {
                number: 1,
                field: "size",
                ..
            }))
        ));
        let two_fills = [
            spec(PartitionRole::Root, None, None),
            spec(PartitionRole::Data, None, None),
        ];
        assert!(matches!(
            DiskLayout::plan(PartitionTable::Gpt, 64 * MIB, &two_fills),
            Err(Error::Partition(PartitionError::Placement {
                number: 2,
                field: "size",
                ..
            }))
        ));
        let five: Vec<PartitionSpec> = std::iter::once(spec(PartitionRole::Root, None, Some(2)))
            .chain((0..4).map(|_| spec(PartitionRole::Data, None, Some(2))))
            .collect();
        assert!(matches!(
            DiskLayout::plan(PartitionTable::Mbr, 64 * MIB, &five),
            Err(Error::Partition(PartitionError::Placement {
                number: 5,
                field: "role",
                ..
            }))
        ));
        let tiny_swap = [
            spec(PartitionRole::Root, None, None),
            PartitionSpec::new(PartitionRole::Swap, Some(4096)),
        ];
        assert!(DiskLayout::plan(PartitionTable::Gpt, 64 * MIB, &tiny_swap).is_err());
    }
}
