//! GRUB for BIOS (i386-pc): boot.img's code in the MBR, core.img in the gap
//! between the MBR and the first partition of an MBR disk, or in the BIOS
//! boot partition of a GPT disk.
//!
//! [`embed`] makes the same first sector `grub-bios-setup --no-rs-codes`
//! writes: boot.img's first 440 bytes with the BIOS parameter block area of
//! the existing sector kept and the fields setup patches (core.img's LBA,
//! boot drive, the drive-check jump) set, followed by the existing disk
//! signature, partition table and 0x55AA. `grub-mkimage` gives core.img the
//! blocklist for loading it from [`CORE_LBA`]; [`embed`] checks it, and
//! moves it to the BIOS boot partition's sectors on a GPT disk.

use crate::error::{Error, Result};

/// Bytes in a sector.
pub const SECTOR_SIZE: usize = 512;
/// The sector core.img starts at on an MBR disk: right after the MBR.
pub const CORE_LBA: u64 = 1;

/// Offset of the MBR disk signature; boot code ends here.
const BOOT_CODE_END: usize = 0x1B8;
/// The BIOS parameter block area boot.img skips over, kept from the disk.
const BPB_START: usize = 0x03;
const BPB_END: usize = 0x5A;
/// boot.img's u64 LE LBA of core.img's first sector.
const KERNEL_SECTOR: usize = 0x5C;
/// boot.img's boot drive; 0xFF uses the drive the BIOS passed in DL.
const BOOT_DRIVE: usize = 0x64;
/// boot.img's two-byte jump over the drive check, replaced by NOPs for
/// hard disks.
const DRIVE_CHECK: usize = 0x66;
/// Partition entries of the MBR.
const PARTITION_TABLE: usize = 0x1BE;
/// Offset of the first blocklist entry in core.img's first sector.
const BLOCKLIST: usize = 0x1F4;
/// Bytes in a blocklist entry: u64 start, u16 count, u16 segment.
const BLOCKLIST_ENTRY: usize = 12;
/// Segment diskboot loads the rest of core.img to.
const CORE_SEGMENT: u16 = 0x820;
/// MBR partition type of a GPT protective partition.
const GPT_PROTECTIVE: u8 = 0xEE;
/// Where boot.img keeps the message it prints first, which identifies it.
const GRUB_MESSAGE: usize = 0x180;
/// boot.img's message.
const GRUB_MESSAGE_TEXT: &[u8] = b"GRUB \0";

/// Where core.img goes.
///
/// # Examples
///
/// ```
/// use grub_embed::bios::{embed, CoreArea};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc/boot.img").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// # let boot_img = std::fs::read("/usr/lib/grub/i386-pc/boot.img")?;
/// # let core_img = grub_embed::mkimage::mkimage(&grub_embed::mkimage::MkimageOptions::new(grub_embed::mkimage::Platform::Bios))?;
/// # let mut mbr = [0u8; 512];
/// # mbr[446 + 4] = 0x83;
/// # mbr[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
/// # mbr[446 + 12..446 + 16].copy_from_slice(&20480u32.to_le_bytes());
/// # mbr[510..].copy_from_slice(&[0x55, 0xaa]);
/// // mbr: an MBR whose one partition starts at 1 MiB; boot_img and core_img:
/// // GRUB's boot.img and a core.img from grub-mkimage.
/// let embedded = embed(&mbr, &boot_img, &core_img, CoreArea::MbrGap)?;
/// assert_eq!(embedded.core_lba, 1); // CORE_LBA: right after the MBR
/// // On a GPT disk: the BIOS boot partition, given by its first LBA and length.
/// let _gpt = CoreArea::BiosBootPartition { start: 2048, sectors: 2048 };
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoreArea {
    /// The gap between the MBR and the first partition of an MBR disk,
    /// from [`CORE_LBA`].
    MbrGap,
    /// The BIOS boot partition of a GPT disk.
    BiosBootPartition {
        /// Its first LBA.
        start: u64,
        /// Its length in sectors.
        sectors: u64,
    },
}

/// GRUB ready to be written: the first sector, and core.img with the LBA to
/// write it at.
///
/// # Examples
///
/// ```
/// use grub_embed::bios::{core_sectors, embed, CoreArea};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc/boot.img").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// # let boot_img = std::fs::read("/usr/lib/grub/i386-pc/boot.img")?;
/// # let core_img = grub_embed::mkimage::mkimage(&grub_embed::mkimage::MkimageOptions::new(grub_embed::mkimage::Platform::Bios))?;
/// # let mut mbr = [0u8; 512];
/// # mbr[446 + 4] = 0x83;
/// # mbr[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
/// # mbr[446 + 12..446 + 16].copy_from_slice(&20480u32.to_le_bytes());
/// # mbr[510..].copy_from_slice(&[0x55, 0xaa]);
/// // mbr: an MBR whose one partition starts at 1 MiB; boot_img and core_img:
/// // GRUB's boot.img and a core.img from grub-mkimage.
/// let embedded = embed(&mbr, &boot_img, &core_img, CoreArea::MbrGap)?;
/// assert_eq!(&embedded.mbr[440..], &mbr[440..]); // signature and partitions kept
/// assert!(core_sectors(&embedded.core_img) < 2047); // fits before the partition
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Embedded {
    /// The new first sector of the disk.
    pub mbr: [u8; SECTOR_SIZE],
    /// The sector core.img starts at.
    pub core_lba: u64,
    /// core.img, its blocklist pointing at the sectors after `core_lba`.
    pub core_img: Vec<u8>,
}

/// One of the four primary entries of an MBR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    boot: u8,
    kind: u8,
    start: u32,
    sectors: u32,
}

fn entries(mbr: &[u8]) -> impl Iterator<Item = (usize, Entry)> + '_ {
    (0..4).map(move |i| {
        let e = &mbr[PARTITION_TABLE + 16 * i..PARTITION_TABLE + 16 * (i + 1)];
        let u32_at = |o: usize| u32::from_le_bytes([e[o], e[o + 1], e[o + 2], e[o + 3]]);
        (
            i + 1,
            Entry {
                boot: e[0],
                kind: e[4],
                start: u32_at(8),
                sectors: u32_at(12),
            },
        )
    })
}

/// GRUB's boot.img as found in a disk's first sector.
///
/// # Examples
///
/// ```
/// use grub_embed::bios::{embed, installed_boot_img, CoreArea};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc/boot.img").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// # let boot_img = std::fs::read("/usr/lib/grub/i386-pc/boot.img")?;
/// # let core_img = grub_embed::mkimage::mkimage(&grub_embed::mkimage::MkimageOptions::new(grub_embed::mkimage::Platform::Bios))?;
/// # let mut mbr = [0u8; 512];
/// # mbr[446 + 4] = 0x83;
/// # mbr[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
/// # mbr[446 + 12..446 + 16].copy_from_slice(&20480u32.to_le_bytes());
/// # mbr[510..].copy_from_slice(&[0x55, 0xaa]);
/// // mbr: an MBR whose one partition starts at 1 MiB; boot_img and core_img:
/// // GRUB's boot.img and a core.img from grub-mkimage.
/// let embedded = embed(&mbr, &boot_img, &core_img, CoreArea::MbrGap)?;
/// let found = installed_boot_img(&embedded.mbr).ok_or("no boot.img")?;
/// assert_eq!(found.core_lba, embedded.core_lba);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstalledBootImg {
    /// The LBA boot.img loads core.img's first sector from.
    pub core_lba: u64,
}

/// Recognizes boot.img in `sector` (a disk's first sector): its message
/// `GRUB ` at 0x180 and the 0x55AA signature; reads core.img's LBA from the
/// field at 0x5C.
///
/// # Examples
///
/// ```
/// use grub_embed::bios::installed_boot_img;
///
/// let mut blank = [0u8; 512];
/// blank[510..].copy_from_slice(&[0x55, 0xaa]);
/// assert!(installed_boot_img(&blank).is_none()); // an MBR without GRUB
/// ```
pub fn installed_boot_img(sector: &[u8]) -> Option<InstalledBootImg> {
    let message = sector.get(GRUB_MESSAGE..GRUB_MESSAGE + GRUB_MESSAGE_TEXT.len())?;
    if message != GRUB_MESSAGE_TEXT || sector.get(0x1FE..0x200) != Some(&[0x55, 0xAA][..]) {
        return None;
    }
    let field = sector.get(KERNEL_SECTOR..KERNEL_SECTOR + 8)?;
    let core_lba = u64::from_le_bytes(field.try_into().ok()?);
    Some(InstalledBootImg { core_lba })
}

/// Sectors of an installed core.img, from its first sector (diskboot.img):
/// that sector and the ones its first blocklist entry loads. `None` when
/// the sector does not end in a blocklist loading to GRUB's segment.
///
/// # Examples
///
/// ```
/// use grub_embed::bios::{core_sectors, embed, installed_core_sectors, CoreArea};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc/boot.img").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// # let boot_img = std::fs::read("/usr/lib/grub/i386-pc/boot.img")?;
/// # let core_img = grub_embed::mkimage::mkimage(&grub_embed::mkimage::MkimageOptions::new(grub_embed::mkimage::Platform::Bios))?;
/// # let mut mbr = [0u8; 512];
/// # mbr[446 + 4] = 0x83;
/// # mbr[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
/// # mbr[446 + 12..446 + 16].copy_from_slice(&20480u32.to_le_bytes());
/// # mbr[510..].copy_from_slice(&[0x55, 0xaa]);
/// // mbr: an MBR whose one partition starts at 1 MiB; boot_img and core_img:
/// // GRUB's boot.img and a core.img from grub-mkimage.
/// let embedded = embed(&mbr, &boot_img, &core_img, CoreArea::MbrGap)?;
/// let first = &embedded.core_img[..512]; // diskboot.img
/// assert_eq!(installed_core_sectors(first), Some(core_sectors(&embedded.core_img)));
/// assert_eq!(installed_core_sectors(&[0; 512]), None);
/// # Ok(())
/// # }
/// ```
pub fn installed_core_sectors(first_sector: &[u8]) -> Option<u64> {
    let entry = first_sector.get(BLOCKLIST..BLOCKLIST + BLOCKLIST_ENTRY)?;
    let count = u16::from_le_bytes([entry[8], entry[9]]);
    let segment = u16::from_le_bytes([entry[10], entry[11]]);
    (segment == CORE_SEGMENT).then_some(1 + u64::from(count))
}

/// Sectors core.img occupies on the disk.
///
/// # Examples
///
/// ```
/// use grub_embed::bios::core_sectors;
///
/// assert_eq!(core_sectors(&[0; 513]), 2); // whole sectors
/// ```
pub fn core_sectors(core_img: &[u8]) -> u64 {
    core_img.len().div_ceil(SECTOR_SIZE) as u64
}

/// Checks that the disk whose first sector is `mbr` can take GRUB with
/// `core_img` in `area`, and returns what to write: boot.img's code with
/// the fields `grub-bios-setup` patches and `mbr`'s disk signature and
/// partition table at LBA 0, and core.img at the area's first sector.
///
/// # Examples
///
/// ```
/// use grub_embed::bios::{embed, installed_boot_img, CoreArea, SECTOR_SIZE};
/// use grub_embed::mkimage::{mkimage, MkimageOptions, Platform};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc/boot.img").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// let boot_img = std::fs::read("/usr/lib/grub/i386-pc/boot.img")?;
/// let core_img = mkimage(&MkimageOptions::new(Platform::Bios))?;
///
/// // An MBR with one partition starting at 1 MiB: core.img goes in the gap.
/// let mut mbr = [0u8; SECTOR_SIZE];
/// mbr[446 + 4] = 0x83; // Linux
/// mbr[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes()); // first LBA
/// mbr[446 + 12..446 + 16].copy_from_slice(&20480u32.to_le_bytes()); // sectors
/// mbr[510..].copy_from_slice(&[0x55, 0xaa]);
///
/// let embedded = embed(&mbr, &boot_img, &core_img, CoreArea::MbrGap)?;
/// assert_eq!(&embedded.mbr[446..], &mbr[446..]); // the partition table is kept
/// assert_eq!(installed_boot_img(&embedded.mbr).map(|b| b.core_lba), Some(embedded.core_lba));
/// // Write embedded.mbr at LBA 0 and embedded.core_img at embedded.core_lba.
/// # Ok(())
/// # }
/// ```
pub fn embed(mbr: &[u8], boot_img: &[u8], core_img: &[u8], area: CoreArea) -> Result<Embedded> {
    if boot_img.len() != SECTOR_SIZE {
        return Err(Error::BadBootImage(boot_img.len()));
    }
    check_core(core_img)?;
    check_mbr(mbr, core_sectors(core_img), area)?;
    let core_lba = match area {
        CoreArea::MbrGap => CORE_LBA,
        CoreArea::BiosBootPartition { start, .. } => start,
    };
    let mut core_img = core_img.to_vec();
    core_img[BLOCKLIST..BLOCKLIST + 8].copy_from_slice(&(core_lba + 1).to_le_bytes());
    let mut sector = [0u8; SECTOR_SIZE];
    sector[..BOOT_CODE_END].copy_from_slice(&boot_img[..BOOT_CODE_END]);
    sector[BPB_START..BPB_END].copy_from_slice(&mbr[BPB_START..BPB_END]);
    sector[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&core_lba.to_le_bytes());
    sector[BOOT_DRIVE] = 0xFF;
    sector[DRIVE_CHECK..DRIVE_CHECK + 2].copy_from_slice(&[0x90, 0x90]);
    sector[BOOT_CODE_END..].copy_from_slice(&mbr[BOOT_CODE_END..]);
    Ok(Embedded {
        mbr: sector,
        core_lba,
        core_img,
    })
}

/// Refuses an MBR that is not one or has invalid boot flags; in the MBR
/// gap, one of a GPT disk or leaving fewer than `needed` sectors before
/// its first partition; for a BIOS boot partition, one that is not a GPT
/// protective MBR or a partition shorter than `needed`.
fn check_mbr(mbr: &[u8], needed: u64, area: CoreArea) -> Result<()> {
    if mbr.len() != SECTOR_SIZE {
        return Err(Error::BadMbrSize(mbr.len()));
    }
    if mbr[0x1FE..] != [0x55, 0xAA] {
        return Err(Error::NoMbrSignature);
    }
    let mut first_start: Option<u64> = None;
    let mut protective = None;
    for (partition, e) in entries(mbr) {
        if e.boot != 0x00 && e.boot != 0x80 {
            return Err(Error::BadBootFlag {
                partition,
                flag: e.boot,
            });
        }
        if e.kind == GPT_PROTECTIVE {
            protective = Some(partition);
        }
        if e.kind != 0 && e.sectors != 0 {
            let start = u64::from(e.start);
            first_start = Some(first_start.map_or(start, |s| s.min(start)));
        }
    }
    match area {
        CoreArea::MbrGap => {
            if let Some(partition) = protective {
                return Err(Error::GptDisk { partition });
            }
            if let Some(start) = first_start {
                let available = start.saturating_sub(CORE_LBA);
                if needed > available {
                    return Err(Error::GapTooSmall { needed, available });
                }
            }
        }
        CoreArea::BiosBootPartition { sectors, .. } => {
            if protective.is_none() {
                return Err(Error::NotGpt);
            }
            if needed > sectors {
                return Err(Error::BiosBootTooSmall {
                    needed,
                    available: sectors,
                });
            }
        }
    }
    Ok(())
}

/// Refuses a core.img whose first sector does not load the rest of it from
/// the sectors after [`CORE_LBA`], as `grub-mkimage` writes it.
fn check_core(core_img: &[u8]) -> Result<()> {
    if core_img.is_empty() {
        return Err(Error::EmptyCoreImage);
    }
    if core_img.len() < SECTOR_SIZE {
        return Err(Error::BadBlocklist(format!(
            "core.img is {} bytes, shorter than one sector",
            core_img.len()
        )));
    }
    let entry = &core_img[BLOCKLIST..BLOCKLIST + BLOCKLIST_ENTRY];
    let start = u64::from_le_bytes([
        entry[0], entry[1], entry[2], entry[3], entry[4], entry[5], entry[6], entry[7],
    ]);
    let count = u16::from_le_bytes([entry[8], entry[9]]);
    let segment = u16::from_le_bytes([entry[10], entry[11]]);
    let sectors = core_sectors(core_img);
    let want_count = sectors - 1;
    if start != CORE_LBA + 1 || u64::from(count) != want_count || segment != CORE_SEGMENT {
        return Err(Error::BadBlocklist(format!(
            "found start {start}, count {count}, segment 0x{segment:x}; \
             need start {}, count {want_count}, segment 0x{CORE_SEGMENT:x}",
            CORE_LBA + 1
        )));
    }
    if core_img[BLOCKLIST - BLOCKLIST_ENTRY..BLOCKLIST]
        .iter()
        .any(|&b| b != 0)
    {
        return Err(Error::BadBlocklist(
            "the entry after the first is not empty: core.img would be loaded from more than one place"
                .into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An MBR with signature 0x12345678 and one bootable Linux partition at
    /// `start`.
    fn mbr(start: u32) -> Vec<u8> {
        let mut s = vec![0u8; 512];
        s[0x1B8..0x1BC].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        s[0x1BE] = 0x80;
        s[0x1C2] = 0x83;
        s[0x1C6..0x1CA].copy_from_slice(&start.to_le_bytes());
        s[0x1CA..0x1CE].copy_from_slice(&100_000u32.to_le_bytes());
        s[0x1FE] = 0x55;
        s[0x1FF] = 0xAA;
        s
    }

    /// [`embed`] into the MBR gap, returning the first sector.
    fn gap(mbr: &[u8], boot: &[u8], core: &[u8]) -> Result<[u8; SECTOR_SIZE]> {
        let out = embed(mbr, boot, core, CoreArea::MbrGap)?;
        assert_eq!(out.core_lba, CORE_LBA);
        assert_eq!(out.core_img, core, "core.img is written unchanged at LBA 1");
        Ok(out.mbr)
    }

    /// A GPT protective MBR.
    fn protective() -> Vec<u8> {
        let mut s = mbr(1);
        s[0x1BE] = 0;
        s[0x1C2] = 0xEE;
        s
    }

    /// boot.img's shape: a jump, the fields at 0x5C.., the drive check.
    fn boot_img() -> Vec<u8> {
        let mut b = vec![0xCCu8; 512];
        b[0..3].copy_from_slice(&[0xEB, 0x63, 0x90]);
        b[BPB_START..BPB_END].fill(0);
        b[KERNEL_SECTOR..KERNEL_SECTOR + 8].copy_from_slice(&1u64.to_le_bytes());
        b[BOOT_DRIVE] = 0xFF;
        b[DRIVE_CHECK..DRIVE_CHECK + 2].copy_from_slice(&[0xEB, 0x05]);
        b[0x1FE] = 0x55;
        b[0x1FF] = 0xAA;
        b
    }

    /// A core.img of `sectors` sectors with the blocklist for LBA 1.
    fn core_img(sectors: usize) -> Vec<u8> {
        let mut c = vec![0x11u8; sectors * 512 - 100];
        c[0x1E8..0x200].fill(0);
        c[0x1F4..0x1FC].copy_from_slice(&2u64.to_le_bytes());
        c[0x1FC..0x1FE].copy_from_slice(&((sectors - 1) as u16).to_le_bytes());
        c[0x1FE..0x200].copy_from_slice(&0x820u16.to_le_bytes());
        c
    }

    #[test]
    fn patches_boot_code_and_keeps_the_table() {
        let disk = mbr(2048);
        let out = gap(&disk, &boot_img(), &core_img(300)).unwrap();
        assert_eq!(&out[..3], &[0xEB, 0x63, 0x90]);
        assert_eq!(&out[0x5C..0x64], &1u64.to_le_bytes());
        assert_eq!(out[0x64], 0xFF);
        assert_eq!(&out[0x66..0x68], &[0x90, 0x90]);
        assert_eq!(&out[0x68..0x1B8], &boot_img()[0x68..0x1B8]);
        assert_eq!(&out[0x1B8..], &disk[0x1B8..]);
    }

    #[test]
    fn the_host_boot_img_is_patched_where_grub_setup_patches_it() {
        let Ok(boot) = std::fs::read("/usr/lib/grub/i386-pc/boot.img") else {
            eprintln!("SKIPPED: no /usr/lib/grub/i386-pc/boot.img (package grub-pc-bin)");
            return;
        };
        // The stock image carries the defaults at the patched offsets.
        assert_eq!(&boot[0x5C..0x64], &1u64.to_le_bytes());
        assert_eq!(boot[0x64], 0xFF);
        assert_eq!(&boot[0x66..0x68], &[0xEB, 0x05]);
        let out = gap(&mbr(2048), &boot, &core_img(300)).unwrap();
        let changed: Vec<usize> = (0..0x1B8).filter(|&i| out[i] != boot[i]).collect();
        assert_eq!(changed, vec![0x66, 0x67]);
    }

    #[test]
    fn refuses_a_gap_too_small_naming_both_sizes() {
        let err = gap(&mbr(64), &boot_img(), &core_img(300)).unwrap_err();
        assert!(matches!(
            err,
            Error::GapTooSmall {
                needed: 300,
                available: 63
            }
        ));
        let text = err.to_string();
        assert!(text.contains("300") && text.contains("63"), "{text}");
        // Exactly fitting is fine.
        gap(&mbr(301), &boot_img(), &core_img(300)).unwrap();
    }

    #[test]
    fn refuses_a_sector_without_0x55aa() {
        let mut disk = mbr(2048);
        disk[0x1FF] = 0;
        assert!(matches!(
            gap(&disk, &boot_img(), &core_img(3)),
            Err(Error::NoMbrSignature)
        ));
        assert!(matches!(
            gap(&disk[..100], &boot_img(), &core_img(3)),
            Err(Error::BadMbrSize(100))
        ));
    }

    #[test]
    fn refuses_invalid_boot_flags() {
        let mut disk = mbr(2048);
        disk[0x1BE + 16] = 0x01;
        assert!(matches!(
            gap(&disk, &boot_img(), &core_img(3)),
            Err(Error::BadBootFlag {
                partition: 2,
                flag: 0x01
            })
        ));
    }

    #[test]
    fn refuses_the_gap_of_a_gpt_disk() {
        let err = gap(&protective(), &boot_img(), &core_img(3)).unwrap_err();
        assert!(matches!(err, Error::GptDisk { partition: 1 }));
        assert!(err.to_string().contains("BIOS boot partition"));
    }

    #[test]
    fn core_img_moves_into_the_bios_boot_partition() {
        let area = CoreArea::BiosBootPartition {
            start: 2048,
            sectors: 2048,
        };
        let disk = protective();
        let out = embed(&disk, &boot_img(), &core_img(300), area).unwrap();
        assert_eq!(out.core_lba, 2048);
        assert_eq!(&out.mbr[0x5C..0x64], &2048u64.to_le_bytes());
        assert_eq!(&out.mbr[0x1B8..], &disk[0x1B8..]);
        // The blocklist now loads sectors 2049.. (count and segment kept);
        // nothing else of core.img changes.
        assert_eq!(&out.core_img[0x1F4..0x1FC], &2049u64.to_le_bytes());
        assert_eq!(&out.core_img[0x1FC..0x1FE], &299u16.to_le_bytes());
        let core = core_img(300);
        assert_eq!(&out.core_img[..0x1F4], &core[..0x1F4]);
        assert_eq!(&out.core_img[0x1FC..], &core[0x1FC..]);
    }

    #[test]
    fn refuses_a_bios_boot_partition_too_small_or_an_mbr_disk() {
        let small = CoreArea::BiosBootPartition {
            start: 2048,
            sectors: 32,
        };
        let err = embed(&protective(), &boot_img(), &core_img(33), small).unwrap_err();
        assert!(matches!(
            err,
            Error::BiosBootTooSmall {
                needed: 33,
                available: 32
            }
        ));
        assert!(err.to_string().contains("33") && err.to_string().contains("32"));
        embed(&protective(), &boot_img(), &core_img(32), small).unwrap();
        let err = embed(&mbr(2048), &boot_img(), &core_img(3), small).unwrap_err();
        assert!(matches!(err, Error::NotGpt), "{err}");
    }

    #[test]
    fn refuses_a_boot_img_of_the_wrong_size() {
        assert!(matches!(
            gap(&mbr(2048), &boot_img()[..440], &core_img(3)),
            Err(Error::BadBootImage(440))
        ));
    }

    #[test]
    fn refuses_an_empty_or_short_core_img() {
        assert!(matches!(
            gap(&mbr(2048), &boot_img(), &[]),
            Err(Error::EmptyCoreImage)
        ));
        assert!(matches!(
            gap(&mbr(2048), &boot_img(), &[0u8; 200]),
            Err(Error::BadBlocklist(_))
        ));
    }

    #[test]
    fn refuses_a_blocklist_for_another_place() {
        let bad = |patch: &dyn Fn(&mut Vec<u8>)| {
            let mut c = core_img(10);
            patch(&mut c);
            gap(&mbr(2048), &boot_img(), &c).unwrap_err()
        };
        // Another start sector.
        let err = bad(&|c| c[0x1F4] = 3);
        assert!(err.to_string().contains("start 3"), "{err}");
        // A count that does not cover the image.
        let err = bad(&|c| c[0x1FC] = 5);
        assert!(err.to_string().contains("count 5"), "{err}");
        // Another load segment.
        let err = bad(&|c| c[0x1FF] = 0x10);
        assert!(err.to_string().contains("segment"), "{err}");
        // A second blocklist entry.
        let err = bad(&|c| c[0x1F0] = 1);
        assert!(matches!(err, Error::BadBlocklist(_)), "{err}");
    }

    #[test]
    fn accepts_the_hosts_grub_mkimage_output() {
        let Ok(core) = crate::mkimage::mkimage(&crate::mkimage::MkimageOptions::new(
            crate::mkimage::Platform::Bios,
        )) else {
            eprintln!("SKIPPED: grub-mkimage or GRUB's i386-pc modules are missing");
            return;
        };
        let out = gap(&mbr(2048), &boot_img(), &core).unwrap();
        assert_eq!(&out[0x1FE..], &[0x55, 0xAA]);
    }

    #[test]
    fn an_embedded_boot_img_is_recognized_with_its_core_img() {
        let area = CoreArea::BiosBootPartition {
            start: 2048,
            sectors: 2048,
        };
        let mut boot = boot_img();
        boot[GRUB_MESSAGE..GRUB_MESSAGE + 6].copy_from_slice(b"GRUB \0");
        let out = embed(&protective(), &boot, &core_img(300), area).unwrap();
        let found = installed_boot_img(&out.mbr).unwrap();
        assert_eq!(found.core_lba, 2048);
        assert_eq!(installed_core_sectors(&out.core_img), Some(300));
        // Without the message, a first sector is not GRUB's.
        assert_eq!(installed_boot_img(&protective()), None);
        assert_eq!(installed_core_sectors(&[0u8; 512]), None);
    }
}
