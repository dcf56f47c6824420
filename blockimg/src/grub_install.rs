//! GRUB into an existing disk image (`blockimg install-grub`), ours or
//! another tool's, without writing into its root filesystem.
//!
//! The menu (one entry per kernel in the root's `/boot`, the root found by
//! filesystem UUID) travels inside GRUB itself, in a memdisk holding
//! `/boot/grub/grub.cfg`: core.img for BIOS goes into the gap after the MBR
//! or the GPT's BIOS boot partition with boot.img's code in the first
//! sector, and `BOOTX64.EFI` for UEFI goes into the ESP's FAT. The root
//! filesystem is only read. Everything is built and checked before the
//! first byte is written, so a refusal leaves the image as it was.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use grub_embed::bios::CoreArea;
use grub_embed::config::{grub_cfg, GrubConfig, MenuEntry};
use grub_embed::mkimage::{mkimage, MkimageOptions, Platform};

use crate::arch::Arch;
use crate::boot::{bios_boot_code, check_arch, menu_entries, BootMode};
use crate::disk::memory::SparseBytes;
use crate::disk::{fat, partitions, ImageSpec, Partition, PartitionKind};
use crate::disk_format::{detect, Format};
use crate::error::{Error, Result};
use crate::ext4::read::Ext4Reader;
use crate::identity::format_uuid;
use crate::lock::ImageLock;
use crate::tree::Timestamp;

/// ext4 features GRUB 2.06 (Debian 12's) cannot read: a root filesystem with
/// one of these would leave GRUB unable to load the kernel. Checked against
/// `grub-fstest` in the tests.
pub const GRUB_UNREADABLE_FEATURES: &[&str] = &["inline_data", "casefold", "ea_inode", "bigalloc"];

/// Largest ESP read into memory to add GRUB's files to it.
const MAX_ESP: u64 = 4 << 30;

/// Which firmware the installed GRUB serves.
///
/// # Examples
///
/// ```
/// use blockimg::grub_install::{install_grub, Firmware, InstallOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// # let dir = tempfile::tempdir()?;
/// # let text = "[disk]\nsize = \"16M\"\n[[output]]\npath = \"disk.img\"\n[[text]]\npath = \"/boot/vmlinuz-6.1.0-amd64\"\ncontent = \"a kernel\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: an MBR disk whose ext4 root has /boot/vmlinuz-6.1.0-amd64.
/// let options = InstallOptions {
///     firmware: Firmware::Bios,
///     partition: None,
///     cmdline: String::new(),
///     grub_dir: None,
///     grub_efi_dir: None,
///     arch: Default::default(), // x86_64
/// };
/// let summary = install_grub(&image, &options)?;
/// assert!(summary.core_lba.is_some() && summary.esp.is_none()); // BIOS only
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// PC BIOS only.
    Bios,
    /// UEFI only.
    Uefi,
    /// Both (what EC2's `uefi-preferred` boot mode needs).
    Hybrid,
}

impl Firmware {
    fn bios(self) -> bool {
        matches!(self, Firmware::Bios | Firmware::Hybrid)
    }

    fn uefi(self) -> bool {
        matches!(self, Firmware::Uefi | Firmware::Hybrid)
    }

    /// The boot mode of a disk built with this firmware's boot loaders.
    fn mode(self) -> BootMode {
        match self {
            Firmware::Bios => BootMode::Bios,
            Firmware::Uefi => BootMode::Uefi,
            Firmware::Hybrid => BootMode::Hybrid,
        }
    }
}

/// What [`install_grub`] installs.
///
/// # Examples
///
/// ```
/// use blockimg::grub_install::{install_grub, Firmware, InstallOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// # let dir = tempfile::tempdir()?;
/// # let text = "[disk]\nsize = \"16M\"\n[[output]]\npath = \"disk.img\"\n[[text]]\npath = \"/boot/vmlinuz-6.1.0-amd64\"\ncontent = \"a kernel\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: an MBR disk whose ext4 root has /boot/vmlinuz-6.1.0-amd64.
/// let options = InstallOptions {
///     firmware: Firmware::Bios,
///     partition: None,
///     cmdline: String::new(),
///     grub_dir: None,
///     grub_efi_dir: None,
///     arch: Default::default(), // x86_64
/// };
/// let summary = install_grub(&image, &options)?;
/// assert_eq!(summary.root.number, 1); // found: the partition holding ext4
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct InstallOptions {
    /// The firmware to serve.
    pub firmware: Firmware,
    /// The root partition (1-based); `None` picks the first Linux partition
    /// holding ext4.
    pub partition: Option<u32>,
    /// Extra kernel command line.
    pub cmdline: String,
    /// GRUB's i386-pc module directory (default: the host's).
    pub grub_dir: Option<PathBuf>,
    /// GRUB's UEFI module directory, `x86_64-efi` or `arm64-efi` as
    /// `arch` asks (default: the host's `/usr/lib/grub/TARGET`).
    pub grub_efi_dir: Option<PathBuf>,
    /// The architecture the disk boots on: an arm64 disk gets
    /// `/EFI/BOOT/BOOTAA64.EFI` (GRUB's `arm64-efi`) and the `ttyAMA0`
    /// console, and BIOS is refused for it.
    pub arch: Arch,
}

/// What [`install_grub`] did.
///
/// # Examples
///
/// ```
/// use blockimg::grub_install::{install_grub, Firmware, InstallOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// # let dir = tempfile::tempdir()?;
/// # let text = "[disk]\nsize = \"16M\"\n[[output]]\npath = \"disk.img\"\n[[text]]\npath = \"/boot/vmlinuz-6.1.0-amd64\"\ncontent = \"a kernel\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: an MBR disk whose ext4 root has /boot/vmlinuz-6.1.0-amd64.
/// let options = InstallOptions {
///     firmware: Firmware::Bios,
///     partition: None,
///     cmdline: String::new(),
///     grub_dir: None,
///     grub_efi_dir: None,
///     arch: Default::default(), // x86_64
/// };
/// let summary = install_grub(&image, &options)?;
/// assert_eq!(summary.core_lba, Some(1)); // core.img right after the MBR
/// assert_eq!(summary.entries.len(), 1);
/// let fs = blockimg::disk::found::ImageSpec::parse(image.as_os_str())?.open_ext4()?;
/// assert_eq!(summary.fs_uuid, fs.info().uuid);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct InstallSummary {
    /// The root partition GRUB boots from.
    pub root: Partition,
    /// Its filesystem UUID.
    pub fs_uuid: [u8; 16],
    /// The menu entries, the default first.
    pub entries: Vec<MenuEntry>,
    /// The sector core.img starts at, for BIOS.
    pub core_lba: Option<u64>,
    /// The ESP's partition number, for UEFI.
    pub esp: Option<u32>,
}

/// Bytes to write at an offset of the image.
struct Write {
    offset: u64,
    bytes: Vec<u8>,
}

/// Installs GRUB into the raw disk image at `image`, which is locked for
/// writing throughout ([`crate::lock`]): refused while another program
/// changes or reads it.
///
/// # Examples
///
/// ```
/// use blockimg::grub_install::{install_grub, Firmware, InstallOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// let dir = tempfile::tempdir()?;
/// // Any MBR or GPT disk image whose root has a kernel in /boot; here, one
/// // built from a recipe.
/// let recipe = r#"
///     [disk]
///     size = "16M"
///     table = "mbr"
///     [[output]]
///     path = "disk.img"
///     [[text]]
///     path = "/boot/vmlinuz-6.1.0-amd64"
///     content = "a kernel"
/// "#;
/// blockimg::recipe::build(&blockimg::recipe::parse(recipe, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
///
/// let options = InstallOptions {
///     firmware: Firmware::Bios,
///     partition: None, // the one holding ext4
///     cmdline: "console=ttyS0".into(),
///     grub_dir: None, // the host's /usr/lib/grub/i386-pc
///     grub_efi_dir: None,
///     arch: Default::default(), // x86_64
/// };
/// let summary = install_grub(&dir.path().join("disk.img"), &options)?;
/// assert_eq!(summary.entries[0].kernel, "/boot/vmlinuz-6.1.0-amd64");
/// assert_eq!(summary.core_lba, Some(1)); // core.img right after the MBR
/// # Ok(())
/// # }
/// ```
pub fn install_grub(image: &Path, options: &InstallOptions) -> Result<InstallSummary> {
    check_arch(options.firmware.mode(), options.arch)?;
    // Held until everything is written.
    let lock = ImageLock::write(image, "install-grub")?;
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(image)
        .map_err(|e| Error::io(image, e))?;
    lock.check_file(&file)?;
    let format = detect(&file, image)?;
    if format != Format::Raw {
        return Err(refused(format!(
            "{} is a {} image; install-grub writes raw disks (blockimg convert it to raw first)",
            image.display(),
            format.name()
        )));
    }
    let found = partitions(&file, image)?;
    if found.iter().any(|p| p.kind == PartitionKind::Whole) {
        return Err(refused(format!(
            "{} has no partition table; GRUB needs one",
            image.display()
        )));
    }
    let spec = ImageSpec {
        path: image.to_path_buf(),
        partition: options.partition,
    };
    let (_, root) = spec.locate()?;
    let reader = Ext4Reader::open(clone(&file, image)?, root.start, image)?;
    check_grub_can_read(&reader, &root)?;
    let fs_uuid = reader.info().uuid;
    let entries = menu_entries(&reader.read_tree()?);
    if entries.is_empty() {
        return Err(refused(format!(
            "no kernel in /boot of partition {} (vmlinuz or vmlinuz-VERSION)",
            root.number
        )));
    }
    let cfg = grub_cfg(&GrubConfig {
        fs_uuid: format_uuid(&fs_uuid),
        entries: entries.clone(),
        cmdline: options.cmdline.clone(),
        consoles: options
            .arch
            .default_consoles()
            .iter()
            .map(|c| c.to_string())
            .collect(),
        timeout: 1,
        serial_terminal: options.arch.has_bios(),
    });

    let mut writes = Vec::new();
    let mut summary = InstallSummary {
        root: root.clone(),
        fs_uuid,
        entries,
        core_lba: None,
        esp: None,
    };
    if options.firmware.bios() {
        let mk = memdisk_image(Platform::Bios, options.grub_dir.as_ref(), &cfg);
        let mut mbr = vec![0u8; 512];
        file.read_exact_at(&mut mbr, 0)
            .map_err(|e| Error::io(image, e))?;
        let embedded = bios_boot_code(&mk, &mbr, core_area(&found)?)?;
        summary.core_lba = Some(embedded.core_lba);
        writes.push(Write {
            offset: embedded.core_lba * 512,
            bytes: embedded.core_img,
        });
        // The boot code last: until it is written, the old one runs.
        writes.push(Write {
            offset: 0,
            bytes: embedded.mbr.to_vec(),
        });
    }
    if options.firmware.uefi() {
        let esp = found.iter().find(|p| p.is_esp()).ok_or_else(|| {
            refused(format!(
                "{} has no EFI system partition for UEFI (MBR type 0xEF or the GPT ESP type)",
                image.display()
            ))
        })?;
        let platform = options.arch.efi_platform();
        let mk = memdisk_image(platform, options.grub_efi_dir.as_ref(), &cfg);
        let efi = mkimage(&mk)?;
        summary.esp = Some(esp.number);
        let path = options.arch.efi_boot_path();
        let esp_writes = esp_with_file(&file, image, esp, path, &efi)?;
        writes.splice(0..0, esp_writes);
    }
    for write in &writes {
        file.write_all_at(&write.bytes, write.offset)
            .map_err(|source| Error::Write {
                path: image.to_path_buf(),
                offset: write.offset,
                source,
            })?;
    }
    file.sync_all().map_err(|source| Error::Write {
        path: image.to_path_buf(),
        offset: 0,
        source,
    })?;
    Ok(summary)
}

fn refused(reason: String) -> Error {
    Error::InvalidOption {
        option: "install-grub".into(),
        reason,
    }
}

fn clone(file: &File, path: &Path) -> Result<File> {
    file.try_clone().map_err(|e| Error::io(path, e))
}

/// Refuses a root filesystem GRUB could not read.
fn check_grub_can_read(reader: &Ext4Reader, root: &Partition) -> Result<()> {
    let unreadable: Vec<&str> = reader
        .info()
        .features
        .iter()
        .map(String::as_str)
        .filter(|f| GRUB_UNREADABLE_FEATURES.contains(f))
        .collect();
    if unreadable.is_empty() {
        return Ok(());
    }
    Err(refused(format!(
        "GRUB cannot read the ext4 of partition {}: it has {}",
        root.number,
        unreadable.join(", ")
    )))
}

/// Where core.img goes: a GPT's BIOS boot partition, or an MBR's gap.
fn core_area(found: &[Partition]) -> Result<CoreArea> {
    let gpt = found
        .iter()
        .any(|p| matches!(p.kind, PartitionKind::Gpt { .. }));
    match found.iter().find(|p| p.is_bios_boot()) {
        Some(p) => Ok(CoreArea::BiosBootPartition {
            start: p.start / 512,
            sectors: p.size / 512,
        }),
        None if gpt => Err(refused(
            "BIOS boot on a GPT disk needs a BIOS boot partition for core.img \
             (type 21686148-6449-6E6F-744E-656564454649, 1 MiB is plenty)"
                .into(),
        )),
        None => Ok(CoreArea::MbrGap),
    }
}

/// A GRUB image for `platform` whose configuration is `cfg` in its memdisk.
fn memdisk_image(platform: Platform, dir: Option<&PathBuf>, cfg: &str) -> MkimageOptions {
    let mut mk = MkimageOptions::new(platform);
    if let Some(dir) = dir {
        mk.grub_dir = dir.clone();
    }
    mk.prefix = "(memdisk)/boot/grub".into();
    mk.memdisk = vec![("boot/grub/grub.cfg".into(), cfg.as_bytes().to_vec())];
    mk
}

/// The writes that put `data` at `path` in the FAT of `esp`: the partition
/// is read into memory, changed there, and only the 4 KiB chunks that
/// differ are written back.
fn esp_with_file(
    file: &File,
    image: &Path,
    esp: &Partition,
    path: &str,
    data: &[u8],
) -> Result<Vec<Write>> {
    if esp.size > MAX_ESP {
        return Err(Error::TooLarge {
            what: format!("EFI system partition {}", esp.number),
            size: esp.size,
            limit: MAX_ESP,
        });
    }
    let mut bytes = SparseBytes::new(esp.size);
    let mut chunk = vec![0u8; 1 << 20];
    let mut at = 0u64;
    while at < esp.size {
        let n = (esp.size - at).min(chunk.len() as u64) as usize;
        file.read_exact_at(&mut chunk[..n], esp.start + at)
            .map_err(|e| Error::io(image, e))?;
        bytes
            .write_at(at, &chunk[..n])
            .map_err(|e| Error::io(image, e))?;
        at += n as u64;
    }
    let before = bytes.clone();
    fat::add_file(bytes.window(0, esp.size), path, data, Timestamp::now())?;
    let mut writes = Vec::new();
    let mut old = vec![0u8; 4096];
    for (offset, run) in bytes.runs(0, esp.size) {
        for (i, new) in run.chunks(4096).enumerate() {
            let at = offset + (i * 4096) as u64;
            let n = before.read_at(at, &mut old[..new.len()]);
            if n != new.len() || old[..new.len()] != *new {
                writes.push(Write {
                    offset: esp.start + at,
                    bytes: new.to_vec(),
                });
            }
        }
    }
    Ok(writes)
}
