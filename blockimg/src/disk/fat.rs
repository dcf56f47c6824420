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

use super::memory::Window;
use crate::bytes::{le16, le32, u8_at};
use crate::error::{Error, Result};
use crate::tree::Timestamp;

/// The smallest ESP that is FAT32 with 512-byte sectors: FAT32 needs at
/// least 65,525 clusters, which at one sector each, with the two FATs and
/// reserved sectors, is a little over 32 MiB.
pub const MIN_ESP_SIZE: u64 = 33 << 20;
/// The label of a volume without one (`fsck.fat` expects no label entry
/// in the root directory for this one).
pub const NO_LABEL: [u8; 11] = *b"NO NAME    ";

/// How an EFI system partition is formatted.
///
/// # Examples
///
/// ```
/// use blockimg::disk::fat::{parse_volume_id, FatFormat};
/// use blockimg::disk::layout::{DiskLayout, PartitionRole, PartitionSpec, PartitionTable};
/// use blockimg::image::{plan_partitions, PartitionContent};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let specs = [PartitionSpec::new(PartitionRole::Esp, Some(40 << 20)), PartitionSpec::new(PartitionRole::Root, None)];
/// let layout = DiskLayout::plan(PartitionTable::Gpt, 64 << 20, &specs)?;
/// let esp = FatFormat { volume_id: parse_volume_id("ABCD-1234"), label: "EFI".into() };
/// let root = PartitionContent::Ext4 { tree: &tree, options: Default::default() };
/// let mut disk = plan_partitions(layout, vec![PartitionContent::Fat(esp), root])?;
/// disk.add_esp_file("EFI/BOOT/BOOTX64.EFI", b"MZ")?;
/// assert_eq!(disk.summary().partitions[0].role, PartitionRole::Esp);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FatFormat {
    /// The volume id (`blkid`'s UUID, `XXXX-XXXX`); `None` derives one
    /// from the root filesystem's UUID in a reproducible build, or draws
    /// one.
    pub volume_id: Option<u32>,
    /// The volume label ([`volume_label`]); empty for none.
    pub label: String,
}

/// A FAT volume id written as `blkid` shows it (`ABCD-1234`) or as 8 hex
/// digits.
///
/// # Examples
///
/// ```
/// use blockimg::disk::fat::parse_volume_id;
///
/// assert_eq!(parse_volume_id("ABCD-1234"), Some(0xABCD_1234));
/// assert_eq!(parse_volume_id("abcd1234"), Some(0xABCD_1234));
/// assert_eq!(parse_volume_id("ABCD-12345"), None);
/// ```
pub fn parse_volume_id(text: &str) -> Option<u32> {
    let digits: String = match text.split_once('-') {
        Some((high, low)) if high.len() == 4 && low.len() == 4 => format!("{high}{low}"),
        Some(_) => return None,
        None => text.to_string(),
    };
    if digits.len() != 8 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    u32::from_str_radix(&digits, 16).ok()
}

/// A volume id as `blkid` and /etc/fstab write it: `ABCD-1234`.
///
/// # Examples
///
/// ```
/// use blockimg::disk::fat::format_volume_id;
///
/// assert_eq!(format_volume_id(0xABCD_1234), "ABCD-1234"); // UUID=ABCD-1234 in /etc/fstab
/// ```
pub fn format_volume_id(id: u32) -> String {
    format!("{:04X}-{:04X}", id >> 16, id & 0xFFFF)
}

/// Characters a short name or volume label may hold besides A-Z and 0-9.
const NAME_PUNCTUATION: &[u8] = b"_-~!#$%&'()@^{}";

/// A volume label as FAT stores it: at most 11 characters of A-Z, 0-9,
/// space and `_-~!#$%&'()@^{}` (lower case is upper-cased, as `mkfs.fat`
/// and Windows do), padded with spaces; an empty text gives [`NO_LABEL`].
///
/// # Examples
///
/// ```
/// use blockimg::disk::fat::{volume_label, NO_LABEL};
///
/// # fn main() -> blockimg::Result<()> {
/// assert_eq!(&volume_label("efi")?, b"EFI        ");
/// assert_eq!(volume_label("")?, NO_LABEL);
/// assert!(volume_label("much too long").is_err());
/// assert!(volume_label("a.b").is_err());
/// # Ok(())
/// # }
/// ```
pub fn volume_label(text: &str) -> Result<[u8; 11]> {
    let upper = text.to_ascii_uppercase();
    let bad = |reason: String| Error::InvalidOption {
        option: "FAT label".into(),
        reason: format!("{text:?}: {reason}"),
    };
    if upper.len() > 11 {
        return Err(bad(format!("{} bytes, at most 11", upper.len())));
    }
    let allowed = |c: char| {
        c == ' '
            || c.is_ascii_alphanumeric()
            || (c.is_ascii() && NAME_PUNCTUATION.contains(&(c as u8)))
    };
    if let Some(c) = upper.chars().find(|&c| !allowed(c)) {
        return Err(bad(format!(
            "{c:?} is not allowed (A-Z, 0-9, space and _-~!#$%&'()@^{{}})"
        )));
    }
    if upper.starts_with(' ') {
        return Err(bad("a label cannot start with a space".into()));
    }
    if upper.trim_end().is_empty() {
        return Ok(NO_LABEL);
    }
    let mut label = [b' '; 11];
    label[..upper.len()].copy_from_slice(upper.as_bytes());
    Ok(label)
}

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
    let boot = BootSector::read(window)?;
    let mut entry = [0u8; ENTRY];
    entry[..11].copy_from_slice(&label);
    entry[11] = ATTR_VOLUME_ID;
    window.seek(SeekFrom::Start(boot.cluster_offset(boot.root)))?;
    window.write_all(&entry)
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

/// Bytes of a directory entry.
const ENTRY: usize = 32;

/// Reads `buf.len()` bytes at `at`.
fn read_at(window: &mut Window<'_>, at: u64, buf: &mut [u8]) -> std::io::Result<()> {
    window.seek(SeekFrom::Start(at))?;
    window.read_exact(buf)
}

/// The first cluster of a directory entry.
fn first_cluster(entry: &[u8]) -> u32 {
    u32::from(u16::from_le_bytes([entry[20], entry[21]])) << 16
        | u32::from(u16::from_le_bytes([entry[26], entry[27]]))
}

/// The attribute of a volume label entry.
const ATTR_VOLUME_ID: u8 = 0x08;

/// Where a FAT32 volume's structures are, from its boot sector.
pub(crate) struct BootSector {
    pub(crate) bytes_per_sector: u64,
    pub(crate) sectors_per_cluster: u64,
    /// Sectors before the first FAT.
    pub(crate) reserved: u64,
    /// Sectors of the volume.
    pub(crate) total: u64,
    /// First sector of the data area (cluster 2).
    pub(crate) data: u64,
    /// Data clusters.
    pub(crate) clusters: u64,
    /// The root directory's first cluster.
    pub(crate) root: u32,
}

impl BootSector {
    /// The fields of the boot sector `sector` (missing bytes read as
    /// zero), when they are consistent.
    pub(crate) fn parse(sector: &[u8]) -> Option<BootSector> {
        let bytes_per_sector = u64::from(le16(sector, 0x0B));
        let sectors_per_cluster = u64::from(u8_at(sector, 0x0D));
        let reserved = u64::from(le16(sector, 0x0E));
        let total = match le16(sector, 0x13) {
            0 => u64::from(le32(sector, 0x20)),
            small => u64::from(small),
        };
        let fat_sectors = u64::from(le32(sector, 0x24));
        let data =
            reserved.checked_add(u64::from(u8_at(sector, 0x10)).checked_mul(fat_sectors)?)?;
        let clusters = total.checked_sub(data)?.checked_div(sectors_per_cluster)?;
        (bytes_per_sector != 0).then_some(BootSector {
            bytes_per_sector,
            sectors_per_cluster,
            reserved,
            total,
            data,
            clusters,
            root: le32(sector, 0x2C),
        })
    }

    /// Bytes per cluster.
    pub(crate) fn cluster_bytes(&self) -> u64 {
        self.bytes_per_sector * self.sectors_per_cluster
    }

    /// Byte offset of the first FAT in the volume.
    pub(crate) fn fat_offset(&self) -> u64 {
        self.reserved * self.bytes_per_sector
    }

    /// Byte offset of `cluster` in the volume.
    pub(crate) fn cluster_offset(&self, cluster: u32) -> u64 {
        self.data * self.bytes_per_sector
            + u64::from(cluster.saturating_sub(2)) * self.cluster_bytes()
    }

    /// The boot sector of the volume in `window`.
    fn read(window: &mut Window<'_>) -> std::io::Result<BootSector> {
        let mut sector = [0u8; 512];
        read_at(window, 0, &mut sector)?;
        BootSector::parse(&sector).ok_or_else(|| {
            std::io::Error::new(std::io::ErrorKind::InvalidData, "inconsistent boot sector")
        })
    }
}

/// Points the `..` entry of every directory in the root at cluster 0 (the
/// root, as FAT writes it) where fatfs put the root's own cluster.
fn root_parent_links(window: &mut Window<'_>) -> std::io::Result<()> {
    let boot = BootSector::read(window)?;
    let (cluster_bytes, root) = (boot.cluster_bytes(), boot.root);
    let offset = |cluster: u32| boot.cluster_offset(cluster);
    let total_clusters = window.seek(SeekFrom::End(0))? / cluster_bytes.max(1);
    let mut cluster = root;
    // Follow the root's cluster chain, never further than there are
    // clusters.
    for _ in 0..total_clusters {
        let mut dir = vec![0u8; cluster_bytes as usize];
        read_at(window, offset(cluster), &mut dir)?;
        for entry in dir.chunks_exact(ENTRY) {
            match (entry[0], entry[11]) {
                (0, _) => return Ok(()),
                (0xE5 | b'.', _) | (_, 0x0F) => continue,
                (_, attr) if attr & 0x10 == 0 => continue,
                _ => {}
            }
            let dotdot_at = offset(first_cluster(entry)) + ENTRY as u64;
            let mut dotdot = [0u8; ENTRY];
            read_at(window, dotdot_at, &mut dotdot)?;
            if &dotdot[..11] == b"..         " && first_cluster(&dotdot) == root {
                dotdot[20..22].fill(0);
                dotdot[26..28].fill(0);
                window.seek(SeekFrom::Start(dotdot_at))?;
                window.write_all(&dotdot)?;
            }
        }
        let mut next = [0u8; 4];
        read_at(
            window,
            boot.fat_offset() + u64::from(cluster) * 4,
            &mut next,
        )?;
        let next = u32::from_le_bytes(next) & 0x0FFF_FFFF;
        if !(2..0x0FFF_FFF8).contains(&next) {
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
    fn labels_and_volume_ids_are_checked_and_written() {
        assert_eq!(volume_label("").unwrap(), NO_LABEL);
        assert_eq!(&volume_label("efi-boot").unwrap(), b"EFI-BOOT   ");
        assert_eq!(&volume_label("ELEVEN CHRS").unwrap(), b"ELEVEN CHRS");
        for bad in ["TWELVE CHARS", "A/B", "A.B", " LEADING", "\u{e9}T\u{e9}"] {
            assert!(volume_label(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_volume_id("C0DE-2026"), Some(0xC0DE_2026));
        assert_eq!(parse_volume_id("c0de2026"), Some(0xC0DE_2026));
        for bad in [
            "C0DE-202",
            "C0DE20261",
            "+0DE2026",
            "12-345678",
            "G0DE-2026",
        ] {
            assert_eq!(parse_volume_id(bad), None, "{bad:?}");
        }
        assert_eq!(format_volume_id(0xC0DE_2026), "C0DE-2026");

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
