//! The text `blockimg inspect` prints: one paragraph for the disk and its
//! boot code, one per partition.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::fmt;

use super::{Filesystem, PartitionReport, Report, Table};
use crate::size::format_size;

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let table = match &self.table {
            Table::Mbr { disk_signature } => {
                format!("MBR partition table, disk signature {disk_signature}")
            }
            Table::Gpt { disk_guid } => format!("GPT partition table, disk GUID {disk_guid}"),
            Table::None => "no partition table".into(),
        };
        let format = match self.format.as_str() {
            "raw" => String::new(),
            other => format!("{other} image, "),
        };
        writeln!(
            f,
            "{}: {} bytes ({}), {format}{table}",
            self.image.display(),
            self.size,
            format_size(self.size)
        )?;
        if let Some(grub) = &self.boot.grub_bios {
            let sectors = grub.core_sectors.map_or_else(
                || "not GRUB's diskboot.img".into(),
                |n| format!("{n} sectors"),
            );
            writeln!(
                f,
                "boot: GRUB for BIOS (boot.img in the first sector), core.img at sector {} ({sectors}, {})",
                grub.core_lba, grub.location
            )?;
        }
        for loader in &self.boot.efi {
            writeln!(
                f,
                "boot: UEFI loader {} on partition {} ({} bytes)",
                loader.path, loader.partition, loader.size
            )?;
        }
        if self.boot.grub_bios.is_none() && self.boot.efi.is_empty() {
            writeln!(f, "boot: no boot loader found")?;
        }
        for part in &self.partitions {
            writeln!(f)?;
            write_partition(f, part)?;
        }
        Ok(())
    }
}

fn write_partition(f: &mut fmt::Formatter<'_>, part: &PartitionReport) -> fmt::Result {
    let title = if part.number == 0 {
        "whole image".to_string()
    } else {
        format!("partition {}", part.number)
    };
    write!(
        f,
        "{title}: start {}, size {} ({}), type {} ({})",
        part.start,
        part.size,
        format_size(part.size),
        part.type_code,
        part.type_name
    )?;
    if let Some(name) = part.name.as_deref().filter(|n| !n.is_empty()) {
        write!(f, ", name {name:?}")?;
    }
    if part.bootable {
        write!(f, ", bootable")?;
    }
    writeln!(f)?;
    match &part.filesystem {
        None => writeln!(f, "  no filesystem recognized"),
        Some(Filesystem::Ext4(fs)) => {
            writeln!(
                f,
                "  {}: label {:?}, UUID {}, block size {}, size {} ({})",
                fs.version,
                fs.label,
                fs.uuid,
                fs.block_size,
                fs.size,
                format_size(fs.size)
            )?;
            writeln!(
                f,
                "  blocks: {} ({} used, {} free, {} reserved); inodes: {} of {} bytes ({} used, {} free)",
                fs.blocks,
                fs.used_blocks,
                fs.free_blocks,
                fs.reserved_blocks,
                fs.inodes,
                fs.inode_size,
                fs.used_inodes,
                fs.free_inodes
            )?;
            writeln!(f, "  features: {}", fs.features.join(" "))?;
            match &fs.journal_replayed {
                Some(replayed) => writeln!(
                    f,
                    "  journal: needs recovery; read with {replayed} in memory (the image is unchanged)"
                ),
                None => Ok(()),
            }
        }
        Some(Filesystem::Fat(fs)) => writeln!(
            f,
            "  {}: label {:?}, volume id {}, size {} ({}), {} clusters of {} bytes ({} free)",
            fs.fat_type,
            fs.label,
            fs.volume_id,
            fs.size,
            format_size(fs.size),
            fs.clusters,
            fs.cluster_size,
            fs.free_clusters
        ),
        Some(Filesystem::Swap(swap)) => writeln!(
            f,
            "  swap (version {}): label {:?}, UUID {}, size {} ({}), page size {}",
            swap.version,
            swap.label,
            swap.uuid,
            swap.size,
            format_size(swap.size),
            swap.page_size
        ),
        Some(Filesystem::Unreadable { kind, error }) => {
            writeln!(f, "  {kind}, unreadable: {error}")
        }
    }
}
