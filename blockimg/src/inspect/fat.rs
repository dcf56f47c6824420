//! The FAT part of a report: the volume read by `disk::fat` (fatfs, or by
//! hand for small FAT32 volumes) as a [`Filesystem`], and the UEFI boot
//! loader found on it.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::{EfiLoader, Filesystem, PartitionReport};
use crate::disk::fat::boot_sector::{self, is_fat_boot_sector};
use crate::disk::fat::read::read;
use crate::disk::found::Partition;
use crate::disk_format::Backing;

/// The FAT filesystem at the start of `part`, if its first sector is a FAT
/// boot sector.
pub fn probe(file: &dyn Backing, part: &Partition) -> Option<Filesystem> {
    let mut sector = [0u8; boot_sector::SIZE];
    file.read_exact_at(&mut sector, part.start).ok()?;
    if !is_fat_boot_sector(&sector) {
        return None;
    }
    Some(match read(file, part, &sector) {
        Ok(report) => Filesystem::Fat(report),
        Err(e) => Filesystem::Unreadable {
            kind: "fat".into(),
            error: e.to_string(),
        },
    })
}

/// Moves the boot loaders a FAT partition's report found into the boot
/// section of the report.
pub fn take_loaders(part: &mut PartitionReport) -> Vec<EfiLoader> {
    let Some(Filesystem::Fat(fat)) = &mut part.filesystem else {
        return Vec::new();
    };
    std::mem::take(&mut fat.efi_loaders)
        .into_iter()
        .map(|(path, size)| EfiLoader {
            partition: part.number,
            path,
            size,
        })
        .collect()
}
