//! Reading a FAT volume for `inspect` ([`FatReport`]): label, volume id,
//! FAT type, size and free space, and the size of a UEFI boot loader at
//! `/EFI/BOOT/BOOTX64.EFI`; with fatfs through a read-only window of the
//! image, or by `small_fat32.rs` for FAT32 volumes fatfs refuses.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::io::{self, Read, Seek, SeekFrom, Write};

use fatfs::{FatType, FileSystem, FsOptions};

use super::boot_sector::{self, TOTAL_SECTORS_16, TOTAL_SECTORS_32};
use super::report::{loaders, FatReport};
use super::{format_volume_id, small_fat32};
use crate::disk::found::Partition;
use crate::disk_format::{seek_target, Backing};

/// The report of the FAT volume at the start of `part`, whose boot sector
/// is `sector`.
pub(crate) fn read(
    file: &dyn Backing,
    part: &Partition,
    sector: &[u8; boot_sector::SIZE],
) -> io::Result<FatReport> {
    if small_fat32::is_small_fat32(sector) {
        small_fat32::read(file, part, sector)
    } else {
        read_with_fatfs(file, part, sector)
    }
}

/// The boot sector as fatfs wants it: mkfs.fat and the kernel accept a
/// small FAT32 whose sector count is in the 16-bit field; fatfs wants it
/// in the 32-bit one.
fn for_fatfs(sector: &[u8; boot_sector::SIZE]) -> [u8; boot_sector::SIZE] {
    let mut boot = *sector;
    let small = boot_sector::total_sectors_16(sector);
    if boot_sector::is_fat32(sector) && small != 0 {
        boot[TOTAL_SECTORS_16..TOTAL_SECTORS_16 + 2].fill(0);
        boot[TOTAL_SECTORS_32..TOTAL_SECTORS_32 + 4].copy_from_slice(&(small as u32).to_le_bytes());
    }
    boot
}

fn read_with_fatfs(
    file: &dyn Backing,
    part: &Partition,
    sector: &[u8; boot_sector::SIZE],
) -> io::Result<FatReport> {
    let bytes_per_sector = boot_sector::bytes_per_sector(sector);
    let sectors = boot_sector::total_sectors(sector);
    let boot = for_fatfs(sector);
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
        volume_id: format_volume_id(id),
        size: sectors * bytes_per_sector,
        cluster_size: stats.cluster_size(),
        clusters: stats.total_clusters(),
        free_clusters: stats.free_clusters(),
        efi_loaders: loaders(|path| loader_size(&fs, path)),
    })
}

/// Size of the file at `path` (names from the root), names compared
/// without case.
fn loader_size<T: fatfs::ReadWriteSeek>(fs: &FileSystem<T>, path: &[&str]) -> Option<u64> {
    let mut dir = fs.root_dir();
    let (file_name, dirs) = path.split_last()?;
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
