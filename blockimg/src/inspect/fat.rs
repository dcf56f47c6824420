//! Reading the FAT part of a report ([`FatReport`]): label, volume id, FAT
//! type, size and free space (with fatfs through a read-only window of the
//! image, or by [`small_fat32`] for FAT32 volumes fatfs refuses), and a
//! UEFI boot loader at `/EFI/BOOT/BOOTX64.EFI`.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::io::{self, Read, Seek, SeekFrom, Write};

use super::fat_report::{FatReport, REMOVABLE_PATH};
use super::{small_fat32, EfiLoader, Filesystem, PartitionReport};
use crate::disk::found::is_fat_boot_sector;
use crate::disk::Partition;
use crate::disk_format::{seek_target, Backing};
use fatfs::{FatType, FileSystem, FsOptions};

/// The FAT filesystem at the start of `part`, if its first sector is a FAT
/// boot sector.
pub fn probe(file: &dyn Backing, part: &Partition) -> Option<Filesystem> {
    let mut sector = [0u8; 512];
    file.read_exact_at(&mut sector, part.start).ok()?;
    if !is_fat_boot_sector(&sector) {
        return None;
    }
    let report = if small_fat32::is_small_fat32(&sector) {
        small_fat32::read(file, part, &sector)
    } else {
        read(file, part, &sector)
    };
    Some(match report {
        Ok(report) => Filesystem::Fat(report),
        Err(e) => Filesystem::Unreadable {
            kind: "fat".into(),
            error: e.to_string(),
        },
    })
}

/// Moves the boot loader a FAT partition's report found into the boot
/// section of the report.
pub fn take_loader(part: &mut PartitionReport) -> Option<EfiLoader> {
    let Some(Filesystem::Fat(fat)) = &mut part.filesystem else {
        return None;
    };
    fat.efi_loader.take().map(|size| EfiLoader {
        partition: part.number,
        path: format!("/{}", REMOVABLE_PATH.join("/")),
        size,
    })
}

fn read(file: &dyn Backing, part: &Partition, sector: &[u8; 512]) -> io::Result<FatReport> {
    let bytes_per_sector = u64::from(u16::from_le_bytes([sector[0x0B], sector[0x0C]]));
    let small = u64::from(u16::from_le_bytes([sector[0x13], sector[0x14]]));
    let large = u64::from(u32::from_le_bytes([
        sector[0x20],
        sector[0x21],
        sector[0x22],
        sector[0x23],
    ]));
    let sectors = if small != 0 { small } else { large };
    // mkfs.fat and the kernel accept a small FAT32 whose sector count is
    // in the 16-bit field; fatfs wants it in the 32-bit one.
    let mut boot = *sector;
    let fat32 = boot[0x16..0x18] == [0, 0];
    if fat32 && small != 0 {
        boot[0x13..0x15].fill(0);
        boot[0x20..0x24].copy_from_slice(&(small as u32).to_le_bytes());
    }
    let window = ReadOnlyWindow {
        file,
        boot,
        start: part.start,
        len: part.size,
        pos: 0,
    };
    let fs = FileSystem::new(window, FsOptions::new())?;
    let stats = fs.stats()?;
    let id = fs.volume_id();
    let label = String::from_utf8_lossy(fs.volume_label_as_bytes());
    Ok(FatReport {
        fat_type: match fs.fat_type() {
            FatType::Fat12 => "FAT12",
            FatType::Fat16 => "FAT16",
            FatType::Fat32 => "FAT32",
        }
        .into(),
        label: label.trim_end().to_string(),
        volume_id: crate::disk::fat::format_volume_id(id),
        size: sectors * bytes_per_sector,
        cluster_size: stats.cluster_size(),
        clusters: stats.total_clusters(),
        free_clusters: stats.free_clusters(),
        efi_loader: loader_size(&fs),
    })
}

/// Size of the file at [`REMOVABLE_PATH`], names compared without case.
fn loader_size<T: fatfs::ReadWriteSeek>(fs: &FileSystem<T>) -> Option<u64> {
    let mut dir = fs.root_dir();
    let (file_name, dirs) = REMOVABLE_PATH.split_last()?;
    for name in dirs {
        let entry = dir.iter().filter_map(|e| e.ok()).find(|e| {
            e.is_dir()
                && e.short_file_name_as_bytes()
                    .eq_ignore_ascii_case(name.as_bytes())
        })?;
        dir = entry.to_dir();
    }
    dir.iter()
        .filter_map(|e| e.ok())
        .find(|e| {
            e.is_file()
                && e.short_file_name_as_bytes()
                    .eq_ignore_ascii_case(file_name.as_bytes())
        })
        .map(|e| e.len())
}

/// The bytes `start..start + len` of an image, for fatfs, which wants a
/// writable stream: writes fail, so nothing is ever changed. The first
/// sector reads as `boot`.
struct ReadOnlyWindow<'a> {
    file: &'a dyn Backing,
    boot: [u8; 512],
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for ReadOnlyWindow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(rest) = self.boot.get(self.pos as usize..).filter(|r| !r.is_empty()) {
            let mut n = 0;
            for (o, b) in buf.iter_mut().zip(rest) {
                *o = *b;
                n += 1;
            }
            self.pos += n as u64;
            return Ok(n);
        }
        let n = self.len.saturating_sub(self.pos).min(buf.len() as u64) as usize;
        let buf = buf.get_mut(..n).unwrap_or_default();
        self.file.read_exact_at(buf, self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for ReadOnlyWindow<'_> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "inspecting never writes",
        ))
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for ReadOnlyWindow<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = seek_target(self.pos, self.len, to)?;
        Ok(self.pos)
    }
}
