//! The EFI system partition: FAT32 made by the fatfs crate inside a window
//! of the in-memory disk, with a fixed volume id and fixed file times so
//! that a reproducible build gives the same bytes.
//!
//! Two more fatfs 0.3 habits are corrected so that `fsck.fat -n` finds
//! nothing to fix: the free cluster count in FSInfo is computed rather than
//! left unknown, and the `..` entry of a directory in the root points at
//! cluster 0, as FAT requires, not at the root's cluster.
//!
//! Names are 8.3 short names only: fatfs 0.3 built with long names writes
//! long-name entries even for `.` and `..`, which `fsck.fat` rejects, so
//! the crate is built without them and files under other names are refused.

use fatfs::{FatType, FileSystem, FormatVolumeOptions, FsOptions, TimeProvider};
use std::io::{Read, Seek, SeekFrom, Write};

use super::boot_sector::{self, BootSector};
use super::dir_entry::{self, ATTR_DIRECTORY, ATTR_LONG_NAME, DELETED, END};
use super::{FAT32_END_OF_CHAIN, FAT32_ENTRY_MASK, FAT32_ENTRY_SIZE, NAME_PUNCTUATION, NO_LABEL};
use crate::disk::memory::Window;
use crate::error::{Error, Result};
use crate::tree::Timestamp;

/// The smallest ESP that is FAT32 with 512-byte sectors: FAT32 needs at
/// least 65,525 clusters, which at one sector each, with the two FATs and
/// reserved sectors, is a little over 32 MiB.
///
/// # Examples
///
/// ```
/// use blockimg::disk::fat::MIN_ESP_SIZE;
/// use blockimg::disk::layout::{BootPartitions, DiskLayout, PartitionTable};
///
/// let small = BootPartitions { esp: Some(MIN_ESP_SIZE - (1 << 20)), bios_boot: None };
/// assert!(DiskLayout::new(PartitionTable::Gpt, &small, 256 << 20).is_err());
/// let enough = BootPartitions { esp: Some(MIN_ESP_SIZE), bios_boot: None };
/// assert!(DiskLayout::new(PartitionTable::Gpt, &enough, 256 << 20).is_ok());
/// ```
pub const MIN_ESP_SIZE: u64 = 33 << 20;

fn fat_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Fat { what, source }
}

/// Formats `window` (the whole ESP) as FAT32 with `volume_id` and `label`
/// (see [`volume_label`]), refusing a size that would not be FAT32.
pub(crate) fn format(mut window: Window<'_>, volume_id: u32, label: [u8; 11]) -> Result<()> {
    let options = FormatVolumeOptions::new()
        .fat_type(FatType::Fat32)
        .volume_id(volume_id)
        .volume_label(label);
    fatfs::format_volume(&mut window, options).map_err(fat_error("formatting FAT32"))?;
    let fs = FileSystem::new(&mut window, FsOptions::new()).map_err(fat_error("mounting"))?;
    let fat_type = fs.fat_type();
    // Counts the free clusters into FSInfo, kept up to date from here on.
    fs.stats().map_err(fat_error("counting free clusters"))?;
    fs.unmount().map_err(fat_error("unmounting"))?;
    if fat_type != FatType::Fat32 {
        return Err(Error::TooSmall {
            what: "a FAT32 EFI system partition".into(),
            needed: MIN_ESP_SIZE,
            available: window_len(&mut window)?,
        });
    }
    if label != NO_LABEL {
        label_entry(&mut window, label).map_err(fat_error("writing the volume label"))?;
    }
    Ok(())
}

/// Writes the root directory's volume label entry, which `fsck.fat` and
/// `blkid` expect to match the boot sector's label (fatfs writes only the
/// latter). The root is empty when this runs, so the entry is its first.
fn label_entry(window: &mut Window<'_>, label: [u8; 11]) -> std::io::Result<()> {
    let boot = read_boot_sector(window)?;
    window.seek(SeekFrom::Start(boot.cluster_offset(boot.root)))?;
    window.write_all(&dir_entry::volume_label(label))
}

fn window_len(window: &mut Window<'_>) -> Result<u64> {
    window.seek(SeekFrom::End(0)).map_err(fat_error("sizing"))
}

/// Writes `data` to `path` (`/`-separated, e.g. `EFI/BOOT/BOOTX64.EFI`) in
/// the FAT at `window`, creating directories on the way. Entries get the
/// time `time`.
pub(crate) fn add_file(
    mut window: Window<'_>,
    path: &str,
    data: &[u8],
    time: Timestamp,
) -> Result<()> {
    if let Some(bad) = path.split('/').find(|n| !is_short_name(n)) {
        return Err(Error::Fat {
            what: path.into(),
            source: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{bad:?} is not an upper-case 8.3 name"),
            ),
        });
    }
    let options = FsOptions::new().time_provider(fixed_time(time));
    let fs = FileSystem::new(&mut window, options).map_err(fat_error("mounting"))?;
    fs.stats().map_err(fat_error("counting free clusters"))?;
    {
        let mut dir = fs.root_dir();
        let mut names = path.split('/').peekable();
        while let Some(name) = names.next() {
            if names.peek().is_none() {
                let mut file = dir.create_file(name).map_err(fat_error(path))?;
                file.truncate().map_err(fat_error(path))?;
                file.write_all(data).map_err(fat_error(path))?;
                file.flush().map_err(fat_error(path))?;
            } else {
                dir = dir.create_dir(name).map_err(fat_error(path))?;
            }
        }
    }
    // Every handle is dropped before the volume is unmounted.
    fs.unmount().map_err(fat_error("unmounting"))?;
    root_parent_links(&mut window).map_err(fat_error("fixing '..' entries"))
}

/// Reads `buf.len()` bytes at `at`.
fn read_at(window: &mut Window<'_>, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
    window.seek(SeekFrom::Start(at))?;
    window.read_exact(buf)
}

/// The boot sector of the volume in `window`.
fn read_boot_sector(window: &mut Window<'_>) -> std::io::Result<BootSector> {
    let mut sector = [0u8; boot_sector::SIZE];
    read_at(window, 0, &mut sector)?;
    BootSector::parse(&sector).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "inconsistent boot sector")
    })
}

/// Points the `..` entry of every directory in the root at cluster 0 (the
/// root, as FAT writes it) where fatfs put the root's own cluster.
fn root_parent_links(window: &mut Window<'_>) -> std::io::Result<()> {
    let boot = read_boot_sector(window)?;
    let (cluster_bytes, root) = (boot.cluster_bytes(), boot.root);
    let offset = |cluster: u32| boot.cluster_offset(cluster);
    let total_clusters = window.seek(SeekFrom::End(0))? / cluster_bytes.max(1);
    let mut cluster = root;
    // Follow the root's cluster chain, never further than there are
    // clusters.
    for _ in 0..total_clusters {
        let mut dir = vec![0u8; cluster_bytes as usize];
        read_at(window, offset(cluster), &mut dir)?;
        for entry in dir.chunks_exact(dir_entry::SIZE) {
            match (dir_entry::first_byte(entry), dir_entry::attr(entry)) {
                (END, _) => return Ok(()),
                (DELETED | b'.', _) | (_, ATTR_LONG_NAME) => continue,
                (_, attr) if attr & ATTR_DIRECTORY == 0 => continue,
                _ => {}
            }
            let dotdot_at = offset(dir_entry::first_cluster(entry)) + dir_entry::SIZE as u64;
            let mut dotdot = [0u8; dir_entry::SIZE];
            read_at(window, dotdot_at, &mut dotdot)?;
            if dir_entry::name(&dotdot) == b"..         "
                && dir_entry::first_cluster(&dotdot) == root
            {
                dir_entry::set_first_cluster(&mut dotdot, 0);
                window.seek(SeekFrom::Start(dotdot_at))?;
                window.write_all(&dotdot)?;
            }
        }
        let mut next = [0u8; FAT32_ENTRY_SIZE as usize];
        read_at(
            window,
            boot.fat_offset() + u64::from(cluster) * FAT32_ENTRY_SIZE,
            &mut next,
        )?;
        let next = u32::from_le_bytes(next) & FAT32_ENTRY_MASK;
        if !(2..FAT32_END_OF_CHAIN).contains(&next) {
            break;
        }
        cluster = next;
    }
    Ok(())
}

/// True for an upper-case 8.3 name: up to 8 characters, optionally a dot
/// and up to 3 more, of A-Z, 0-9 and `_-~!#$%&'()@^{}`.
fn is_short_name(name: &str) -> bool {
    let ok = |part: &str, max: usize| {
        !part.is_empty()
            && part.len() <= max
            && part.bytes().all(|b| {
                b.is_ascii_uppercase() || b.is_ascii_digit() || NAME_PUNCTUATION.contains(&b)
            })
    };
    match name.split_once('.') {
        Some((base, ext)) => ok(base, 8) && ok(ext, 3),
        None => ok(name, 8),
    }
}

/// A clock that always says the same time.
#[derive(Debug)]
struct FixedTime(fatfs::DateTime);

impl TimeProvider for FixedTime {
    fn get_current_date(&self) -> fatfs::Date {
        self.0.date
    }

    fn get_current_date_time(&self) -> fatfs::DateTime {
        self.0
    }
}

/// fatfs 0.3 wants a `'static` clock: each mount leaks one of 16 bytes.
fn fixed_time(time: Timestamp) -> &'static FixedTime {
    Box::leak(Box::new(FixedTime(dos_time(time.secs))))
}

/// `secs` since the epoch (UTC) as a DOS date and time, clamped to the
/// years FAT can store (1980-2107).
fn dos_time(secs: i64) -> fatfs::DateTime {
    const MIN: i64 = 315_532_800; // 1980-01-01T00:00:00Z
    const MAX: i64 = 4_354_819_198; // 2107-12-31T23:59:58Z
    let utc = Timestamp::from_secs(secs.clamp(MIN, MAX)).utc();
    fatfs::DateTime {
        date: fatfs::Date {
            year: utc.year as u16,
            month: utc.month as u16,
            day: utc.day as u16,
        },
        time: fatfs::Time {
            hour: utc.hour as u16,
            min: utc.minute as u16,
            sec: utc.second as u16,
            millis: 0,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::super::volume_label;
    use super::*;
    use crate::disk::memory::SparseBytes;
    use std::io::Read;

    #[test]
    fn dos_times_of_known_instants() {
        let t = dos_time(1_700_000_000); // 2023-11-14T22:13:20Z
        assert_eq!((t.date.year, t.date.month, t.date.day), (2023, 11, 14));
        assert_eq!((t.time.hour, t.time.min, t.time.sec), (22, 13, 20));
        let leap = dos_time(951_782_400); // 2000-02-29T00:00:00Z
        assert_eq!(
            (leap.date.year, leap.date.month, leap.date.day),
            (2000, 2, 29)
        );
        let early = dos_time(0);
        assert_eq!(
            (early.date.year, early.date.month, early.date.day),
            (1980, 1, 1)
        );
        assert_eq!(dos_time(i64::MAX).date.year, 2107);
    }

    #[test]
    fn formats_fat32_and_reads_a_file_back() {
        let size = MIN_ESP_SIZE;
        let mut disk = SparseBytes::new(size);
        format(disk.window(0, size), 0xABCD_1234, NO_LABEL).unwrap();
        let data: Vec<u8> = (0..70_000u32).map(|i| i as u8).collect();
        let time = Timestamp::from_secs(1_700_000_000);
        add_file(disk.window(0, size), "EFI/BOOT/BOOTX64.EFI", &data, time).unwrap();
        {
            let mut window = disk.window(0, size);
            let fs = FileSystem::new(&mut window, FsOptions::new()).unwrap();
            assert_eq!(fs.fat_type(), FatType::Fat32);
            assert_eq!(fs.volume_id(), 0xABCD_1234);
            let mut back = Vec::new();
            fs.root_dir()
                .open_file("EFI/BOOT/BOOTX64.EFI")
                .unwrap()
                .read_to_end(&mut back)
                .unwrap();
            assert_eq!(back, data);
        }
        // Only the written sectors take memory.
        assert!(disk.ranges(0, size).iter().map(|r| r.1).sum::<u64>() < 2 << 20);
    }

    #[test]
    fn only_short_names_are_taken() {
        assert!(is_short_name("BOOTX64.EFI") && is_short_name("EFI"));
        for bad in ["", "bootx64.efi", "LONGERTHAN8", "A.LONG", "A B", "A.B.C"] {
            assert!(!is_short_name(bad), "{bad:?}");
        }
        let mut disk = SparseBytes::new(MIN_ESP_SIZE);
        format(disk.window(0, MIN_ESP_SIZE), 1, NO_LABEL).unwrap();
        let err = add_file(
            disk.window(0, MIN_ESP_SIZE),
            "EFI/grub.cfg",
            b"",
            Timestamp::from_secs(0),
        );
        assert!(err.unwrap_err().to_string().contains("grub.cfg"));
    }

    #[test]
    fn labels_are_written() {
        let size = MIN_ESP_SIZE;
        let mut disk = SparseBytes::new(size);
        let label = volume_label("boot").unwrap();
        format(disk.window(0, size), 0xC0DE_2026, label).unwrap();
        add_file(disk.window(0, size), "A.TXT", b"a", Timestamp::from_secs(0)).unwrap();
        let mut window = disk.window(0, size);
        let fs = FileSystem::new(&mut window, FsOptions::new()).unwrap();
        assert_eq!(fs.volume_label_as_bytes(), b"BOOT");
        // The root's label entry is not a file, and files go after it.
        let names: Vec<Vec<u8>> = fs
            .root_dir()
            .iter()
            .map(|e| e.unwrap().short_file_name_as_bytes().to_vec())
            .collect();
        assert_eq!(names, [b"A.TXT".to_vec()]);
    }

    #[test]
    fn too_small_for_fat32_is_refused() {
        let size = MIN_ESP_SIZE - (2 << 20);
        let mut disk = SparseBytes::new(size);
        let err = format(disk.window(0, size), 1, NO_LABEL).unwrap_err();
        assert!(err.to_string().contains("FAT32"), "{err}");
    }
}
