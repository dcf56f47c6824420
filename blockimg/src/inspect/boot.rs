//! GRUB for BIOS in a disk's first sector: boot.img (recognized as GRUB's
//! `grub-embed` describes it) and the core.img it loads.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use grub_embed::bios::{installed_boot_img, installed_core_sectors, SECTOR_SIZE};

use super::GrubBios;
use crate::disk::Partition;
use crate::disk_format::Backing;

/// GRUB's boot.img in the first sector of `file`, with where its core.img
/// lies among `parts`.
pub fn grub_bios(file: &dyn Backing, parts: &[Partition]) -> Option<GrubBios> {
    let mut sector = [0u8; SECTOR_SIZE];
    file.read_exact_at(&mut sector, 0).ok()?;
    let boot = installed_boot_img(&sector)?;
    let sector_size = SECTOR_SIZE as u64;
    let core_at = boot.core_lba.checked_mul(sector_size)?;
    let mut core_first = [0u8; SECTOR_SIZE];
    let core_sectors = file
        .read_exact_at(&mut core_first, core_at)
        .ok()
        .and_then(|()| installed_core_sectors(&core_first));
    let holding = parts
        .iter()
        .find(|p| p.size > 0 && (p.start..p.start + p.size).contains(&core_at));
    let first_start = parts.iter().map(|p| p.start).filter(|&s| s > 0).min();
    let location = match (holding, first_start) {
        (Some(part), _) => format!("partition {}", part.number),
        (None, Some(first)) if core_at >= sector_size && core_at < first => "MBR gap".into(),
        _ => "outside any partition".into(),
    };
    Some(GrubBios {
        core_lba: boot.core_lba,
        core_sectors,
        location,
    })
}
