//! Where each partition of a disk goes: the partition table's kind, the
//! BIOS boot partition and the ESP a boot loader asks for, and the root
//! filesystem filling the rest, all aligned to 1 MiB.

use crate::error::{Error, Result};

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

/// The partition table written in front of the filesystem.
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
    pub fn name(self) -> &'static str {
        match self {
            PartitionTable::Mbr => "MBR",
            PartitionTable::Gpt => "GPT",
            PartitionTable::None => "no partition table",
        }
    }
}

/// Partitions that boot loaders need besides the root filesystem.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BootPartitions {
    /// An EFI system partition of this many bytes (rounded up to 1 MiB),
    /// formatted FAT32.
    pub esp: Option<u64>,
    /// A BIOS boot partition of this many bytes (whole sectors) for GRUB's
    /// core.img on a GPT disk.
    pub bios_boot: Option<u64>,
}

/// What a partition is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionRole {
    /// GPT BIOS boot partition: holds GRUB's core.img, no filesystem.
    BiosBoot,
    /// EFI system partition: FAT32 holding the UEFI boot loader.
    Esp,
    /// The root ext4 filesystem.
    Root,
}

impl PartitionRole {
    /// The GPT partition name written for this role.
    pub fn gpt_name(self) -> &'static str {
        match self {
            PartitionRole::BiosBoot => "bios-boot",
            PartitionRole::Esp => "esp",
            PartitionRole::Root => "root",
        }
    }

    /// A description for summaries.
    pub fn description(self) -> &'static str {
        match self {
            PartitionRole::BiosBoot => "BIOS boot",
            PartitionRole::Esp => "EFI system (FAT32)",
            PartitionRole::Root => "Linux root (ext4)",
        }
    }
}

/// One partition: its number in the table (from 1) and its byte range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    /// What it holds.
    pub role: PartitionRole,
    /// Number in the table, from 1.
    pub number: u32,
    /// Byte offset of its first sector.
    pub start: u64,
    /// Length in bytes.
    pub size: u64,
}

impl Partition {
    /// Byte offset just past its last sector.
    pub fn end(&self) -> u64 {
        self.start + self.size
    }
}

/// A disk's partitions, in table order and in ascending offsets. With
/// [`PartitionTable::None`] the root "partition" is the whole disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskLayout {
    /// The table.
    pub table: PartitionTable,
    /// Size of the disk in bytes, whole sectors.
    pub disk_size: u64,
    /// Partitions, the root last.
    pub partitions: Vec<Partition>,
}

impl DiskLayout {
    /// Bytes in front of the root filesystem for `table` and `boot`.
    pub fn front_bytes(table: PartitionTable, boot: &BootPartitions) -> Result<u64> {
        Ok(Self::boot_partitions(table, boot)?
            .last()
            .map_or(Self::first_start(table), |&(_, start, size)| {
                (start + size).next_multiple_of(ALIGN)
            }))
    }

    /// Bytes after the root filesystem: the GPT's backup.
    pub fn back_bytes(table: PartitionTable) -> u64 {
        match table {
            PartitionTable::Gpt => GPT_BACKUP_BYTES,
            PartitionTable::Mbr | PartitionTable::None => 0,
        }
    }

    /// Lays out a disk of `disk_size` bytes (rounded down to whole
    /// sectors). Refuses boot partitions without a table, a BIOS boot
    /// partition on an MBR disk, an ESP too small for FAT32, a disk too
    /// small for its partitions and an MBR disk past 2 TiB.
    pub fn new(table: PartitionTable, boot: &BootPartitions, disk_size: u64) -> Result<Self> {
        let disk_size = disk_size / SECTOR * SECTOR;
        let mut partitions: Vec<Partition> = Self::boot_partitions(table, boot)?
            .into_iter()
            .enumerate()
            .map(|(i, (role, start, size))| Partition {
                role,
                number: i as u32 + 1,
                start,
                size,
            })
            .collect();
        let root_start = Self::front_bytes(table, boot)?;
        let back = Self::back_bytes(table);
        let needed = root_start + ALIGN + back;
        if disk_size < needed {
            return Err(Error::TooSmall {
                what: match table {
                    PartitionTable::None => "a filesystem".into(),
                    _ => format!("a {}-partitioned disk", table.name()),
                },
                needed,
                available: disk_size,
            });
        }
        if table == PartitionTable::Mbr && disk_size > MBR_LIMIT {
            return Err(Error::TooLarge {
                what: "an MBR-partitioned disk".into(),
                size: disk_size,
                limit: MBR_LIMIT,
            });
        }
        partitions.push(Partition {
            role: PartitionRole::Root,
            number: partitions.len() as u32 + 1,
            start: root_start,
            size: disk_size - back - root_start,
        });
        Ok(DiskLayout {
            table,
            disk_size,
            partitions,
        })
    }

    /// The root filesystem's partition.
    pub fn root(&self) -> &Partition {
        // `new` always puts the root last.
        &self.partitions[self.partitions.len() - 1]
    }

    /// The partition with `role`, if the disk has one.
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

    /// The boot partitions asked for, as `(role, start, size)` in disk
    /// order: the BIOS boot partition, then the ESP.
    fn boot_partitions(
        table: PartitionTable,
        boot: &BootPartitions,
    ) -> Result<Vec<(PartitionRole, u64, u64)>> {
        let refuse = |reason: String| Error::InvalidOption {
            option: "partition layout".into(),
            reason,
        };
        if table == PartitionTable::None && (boot.esp.is_some() || boot.bios_boot.is_some()) {
            return Err(refuse(
                "an ESP or a BIOS boot partition needs a partition table (--table mbr or gpt)"
                    .into(),
            ));
        }
        let mut parts = Vec::new();
        let mut next = Self::first_start(table);
        if let Some(size) = boot.bios_boot {
            if table != PartitionTable::Gpt {
                return Err(refuse(
                    "a BIOS boot partition belongs on a GPT disk; on an MBR disk core.img goes in the gap after the MBR"
                        .into(),
                ));
            }
            let size = size / SECTOR * SECTOR;
            if size == 0 {
                return Err(refuse(
                    "the BIOS boot partition needs at least one sector".into(),
                ));
            }
            parts.push((PartitionRole::BiosBoot, next, size));
            next = (next + size).next_multiple_of(ALIGN);
        }
        if let Some(size) = boot.esp {
            let size = size.next_multiple_of(ALIGN);
            if size < super::fat::MIN_ESP_SIZE {
                return Err(Error::TooSmall {
                    what: "a FAT32 EFI system partition (--esp-size)".into(),
                    needed: super::fat::MIN_ESP_SIZE,
                    available: size,
                });
            }
            parts.push((PartitionRole::Esp, next, size));
        }
        Ok(parts)
    }
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
        assert!(small.to_string().contains("--esp-size"), "{small}");
        let tiny = DiskLayout::new(PartitionTable::Gpt, &esp(64), 65 * MIB).unwrap_err();
        assert!(matches!(tiny, Error::TooSmall { .. }), "{tiny}");
        let huge = DiskLayout::new(PartitionTable::Mbr, &esp(64), 3 << 40).unwrap_err();
        assert!(matches!(huge, Error::TooLarge { .. }), "{huge}");
        assert!(DiskLayout::new(PartitionTable::Gpt, &esp(64), 3 << 40).is_ok());
    }
}
