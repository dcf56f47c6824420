//! Bootable disks: the kernel, initramfs and grub.cfg put into the tree
//! before planning; GRUB for BIOS installed into the planned disk's MBR and
//! the gap after it or its BIOS boot partition, and GRUB for UEFI put on
//! its ESP.

use std::path::PathBuf;

use grub_embed::bios::{self, CoreArea};
use grub_embed::config::{grub_cfg, GrubConfig, MenuEntry};
use grub_embed::mkimage::{mkimage, MkimageOptions, Platform};

use crate::arch::Arch;
use crate::disk::layout::{DiskLayout, PartitionRole, PartitionTable, SECTOR};
use crate::error::TreeError;
use crate::error::{Error, Result};
use crate::identity::format_uuid;
use crate::image::PlannedDisk;
use crate::source::dir::host_file_content;
use crate::tree::{FileContent, Metadata, Node, NodeId, NodeKind, Tree};

/// Where the kernel is put in the root filesystem.
pub const KERNEL_PATH: &str = "/boot/vmlinuz";
/// Where the initramfs is put in the root filesystem.
pub const INITRD_PATH: &str = "/boot/initrd.img";
/// The kernel consoles of an x86-64 disk booted without others asked for:
/// the screen and the first serial port ([`Arch::default_consoles`] gives
/// each architecture's).
pub const DEFAULT_CONSOLES: [&str; 2] = ["tty0", "ttyS0,115200n8"];
/// Where GRUB reads its configuration.
pub const GRUB_CFG_PATH: &str = "/boot/grub/grub.cfg";

/// Which firmware a disk boots under.
///
/// # Examples
///
/// ```
/// use blockimg::boot::BootMode;
///
/// assert!(BootMode::Hybrid.bios() && BootMode::Hybrid.uefi());
/// assert!(!BootMode::Uefi.bios());
/// assert_eq!(BootMode::Bios.name(), "bios");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BootMode {
    /// Not bootable: no boot loader.
    #[default]
    None,
    /// GRUB for BIOS in the first sector and the gap after it (or a GPT
    /// disk's BIOS boot partition).
    Bios,
    /// GRUB for UEFI on an EFI system partition.
    Uefi,
    /// Both on one disk (EC2's `uefi-preferred`).
    Hybrid,
}

impl BootMode {
    /// Whether a BIOS boot loader is installed.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::boot::BootMode;
    ///
    /// assert!(BootMode::Hybrid.bios() && BootMode::Bios.bios());
    /// assert!(!BootMode::Uefi.bios());
    /// ```
    pub fn bios(self) -> bool {
        matches!(self, BootMode::Bios | BootMode::Hybrid)
    }

    /// Whether a UEFI boot loader is installed.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::boot::BootMode;
    ///
    /// assert!(BootMode::Hybrid.uefi() && !BootMode::None.uefi());
    /// ```
    pub fn uefi(self) -> bool {
        matches!(self, BootMode::Uefi | BootMode::Hybrid)
    }

    /// The mode's name (`none`, `bios`, `uefi`, `hybrid`).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::boot::BootMode;
    ///
    /// assert_eq!(BootMode::Hybrid.name(), "hybrid");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            BootMode::None => "none",
            BootMode::Bios => "bios",
            BootMode::Uefi => "uefi",
            BootMode::Hybrid => "hybrid",
        }
    }

    /// The boot mode EC2's `register-image --boot-mode` takes for a disk
    /// booted this way (`legacy-bios`, `uefi`, `uefi-preferred`); `None`
    /// for a disk without a boot loader.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::boot::BootMode;
    ///
    /// assert_eq!(BootMode::Hybrid.ec2_boot_mode(), Some("uefi-preferred"));
    /// assert_eq!(BootMode::Uefi.ec2_boot_mode(), Some("uefi")); // arm64 (Graviton)
    /// assert_eq!(BootMode::None.ec2_boot_mode(), None);
    /// ```
    pub fn ec2_boot_mode(self) -> Option<&'static str> {
        match self {
            BootMode::None => None,
            BootMode::Bios => Some("legacy-bios"),
            BootMode::Uefi => Some("uefi"),
            BootMode::Hybrid => Some("uefi-preferred"),
        }
    }
}

/// The UUID a bootable disk's root filesystem gets when none is given
/// (grub.cfg names it, so it is chosen before the filesystem is planned):
/// derived from `timestamp` and `parts` (e.g. the label and size asked
/// for) in a reproducible build, random otherwise.
///
/// # Examples
///
/// ```
/// use blockimg::boot::root_uuid;
///
/// # fn main() -> blockimg::Result<()> {
/// // Reproducible: the same build time and parts give the same UUID.
/// assert_eq!(root_uuid(Some(1_700_000_000), &[b"root"])?, root_uuid(Some(1_700_000_000), &[b"root"])?);
/// assert_ne!(root_uuid(Some(1_700_000_000), &[b"root"])?, root_uuid(Some(1_700_000_000), &[b"data"])?);
/// // Without a build time, a random one.
/// assert_ne!(root_uuid(None, &[])?, root_uuid(None, &[])?);
/// # Ok(())
/// # }
/// ```
pub fn root_uuid(timestamp: Option<i64>, parts: &[&[u8]]) -> Result<[u8; 16]> {
    match timestamp {
        Some(t) => {
            let secs = t.to_le_bytes();
            let mut all: Vec<&[u8]> = vec![&secs];
            all.extend_from_slice(parts);
            Ok(crate::identity::derived_uuid(
                "blockimg boot filesystem uuid",
                &all,
            ))
        }
        None => crate::identity::random_uuid(),
    }
}

/// Installs the boot loaders `mode` asks for into `disk`.
///
/// # Examples
///
/// ```
/// use blockimg::boot::{self, BootMode, BootOptions};
/// use blockimg::image::{plan_disk, BootPartitions, DiskSize, ImageOptions, PartitionTable};
/// use blockimg::sink::SparseFile;
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc").exists() || !std::path::Path::new("/usr/lib/grub/x86_64-efi").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// let dir = tempfile::tempdir()?;
/// let kernel = dir.path().join("vmlinuz");
/// std::fs::write(&kernel, b"a kernel")?;
/// let time = Some(1_700_000_000);
///
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let uuid = boot::root_uuid(time, &[b"example"])?; // grub.cfg finds the root by it
/// let boot_options = BootOptions::default().kernel(Some(kernel));
/// boot::add_boot_files(&mut tree, &boot_options, &uuid)?;
///
/// let options = ImageOptions::default().size(DiskSize::Exact(128 << 20)).table(PartitionTable::Gpt).boot_partitions(BootPartitions { esp: Some(64 << 20), bios_boot: Some(1 << 20) }).ext4(blockimg::ext4::Ext4Options::default().uuid(Some(uuid))).overwrite(false);
/// let mut disk = plan_disk(&tree, &options)?;
/// boot::install(&mut disk, BootMode::Hybrid, &boot_options)?; // BIOS and UEFI
/// let path = dir.path().join("disk.img");
/// let mut sink = SparseFile::create(&path, false)?;
/// disk.write_to(&mut sink)?;
/// sink.finish(disk.disk_size())?;
///
/// let boot = blockimg::inspect::inspect(&path)?.boot;
/// assert!(boot.grub_bios.is_some() && !boot.efi.is_empty());
/// # Ok(())
/// # }
/// ```
pub fn install(disk: &mut PlannedDisk<'_>, mode: BootMode, options: &BootOptions) -> Result<()> {
    check_arch(mode, options.arch)?;
    if mode.bios() {
        install_bios(disk, options)?;
    }
    if mode.uefi() {
        install_uefi(disk, options)?;
    }
    Ok(())
}

/// What a bootable disk boots, and where GRUB's files come from.
///
/// # Examples
///
/// ```
/// use blockimg::boot::{add_boot_files, BootOptions, GRUB_CFG_PATH};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("vmlinuz"), b"a kernel")?;
/// let options = BootOptions::default()
///     .kernel(Some(dir.path().join("vmlinuz"))) // copied to /boot/vmlinuz
///     .cmdline("quiet".into())
///     .consoles(Some(vec!["ttyS0,115200n8".into()]));
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
/// add_boot_files(&mut tree, &options, &[1; 16])?;
/// assert!(tree.lookup(b"/boot/vmlinuz").is_some() && tree.lookup(GRUB_CFG_PATH.as_bytes()).is_some());
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default)]
pub struct BootOptions {
    /// Host kernel copied to [`KERNEL_PATH`]; without it grub.cfg boots a
    /// kernel already at that path in the tree.
    pub kernel: Option<PathBuf>,
    /// Host initramfs copied to [`INITRD_PATH`]; without it grub.cfg loads
    /// one only if the tree has it.
    pub initrd: Option<PathBuf>,
    /// Extra kernel command line.
    pub cmdline: String,
    /// The kernel's `console=` arguments, in order (the last is
    /// `/dev/console`); `None` for `tty0` and `ttyS0,115200n8`.
    pub consoles: Option<Vec<String>>,
    /// GRUB's i386-pc module directory for BIOS (default: the host's).
    pub grub_dir: Option<PathBuf>,
    /// GRUB's UEFI module directory (`x86_64-efi`, or `arm64-efi` for
    /// [`Arch::Arm64`]; default: the host's `/usr/lib/grub/TARGET`).
    pub grub_efi_dir: Option<PathBuf>,
    /// The architecture the disk boots on: GRUB's UEFI platform, the
    /// loader's path on the ESP and the default consoles follow it, and an
    /// arm64 disk boots by UEFI only. [`DiskBuilder::arch`](crate::DiskBuilder::arch)
    /// sets it for the front door.
    pub arch: Arch,
}

setters!(BootOptions at "blockimg::boot::BootOptions" {
    kernel: Option<PathBuf>,
    initrd: Option<PathBuf>,
    cmdline: String,
    consoles: Option<Vec<String>>,
    grub_dir: Option<PathBuf>,
    grub_efi_dir: Option<PathBuf>,
    arch: Arch,
});

impl BootOptions {
    /// The kernel's `console=` arguments: those asked for, else the
    /// architecture's ([`Arch::default_consoles`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::arch::Arch;
    /// use blockimg::boot::BootOptions;
    ///
    /// let arm64 = BootOptions::default().arch(Arch::Arm64);
    /// assert_eq!(arm64.console_args(), ["tty0", "ttyAMA0,115200n8"]);
    /// let graviton = arm64.consoles(Some(vec!["ttyS0,115200".into()]));
    /// assert_eq!(graviton.console_args(), ["ttyS0,115200"]);
    /// ```
    pub fn console_args(&self) -> Vec<String> {
        match &self.consoles {
            Some(consoles) => consoles.clone(),
            None => self
                .arch
                .default_consoles()
                .iter()
                .map(|c| c.to_string())
                .collect(),
        }
    }
}

/// Refuses a boot mode the architecture's firmware does not have: an
/// arm64 disk boots by UEFI only, so BIOS and hybrid are refused for it.
///
/// # Examples
///
/// ```
/// use blockimg::arch::Arch;
/// use blockimg::boot::{check_arch, BootMode};
///
/// assert!(check_arch(BootMode::Uefi, Arch::Arm64).is_ok());
/// let err = check_arch(BootMode::Hybrid, Arch::Arm64).unwrap_err().to_string();
/// assert!(err.contains("arm64") && err.contains("UEFI only"));
/// assert!(check_arch(BootMode::Hybrid, Arch::X86_64).is_ok());
/// ```
pub fn check_arch(mode: BootMode, arch: Arch) -> Result<()> {
    if mode.bios() && !arch.has_bios() {
        return Err(boot_refused(&format!(
            "an {arch} disk boots by UEFI only, and boot mode {} needs a PC BIOS \
             (GRUB's i386-pc); ask for uefi",
            mode.name()
        )));
    }
    Ok(())
}

fn boot_refused(reason: &str) -> Error {
    Error::InvalidOption {
        option: "boot".into(),
        reason: reason.into(),
    }
}

/// `grub-mkimage`'s options for `platform`: the module directory given or
/// the host's, and the root partition of `layout` as the prefix, its drive
/// left empty for GRUB to fill with the disk it was loaded from.
fn mkimage_options(
    platform: Platform,
    dir: Option<&PathBuf>,
    layout: &DiskLayout,
) -> MkimageOptions {
    let mut options = MkimageOptions::new(platform);
    if let Some(dir) = dir {
        options.grub_dir = dir.clone();
    }
    let scheme = match layout.table {
        PartitionTable::Gpt => "gpt",
        PartitionTable::Mbr | PartitionTable::None => "msdos",
    };
    options.prefix = format!("(,{scheme}{})/boot/grub", layout.root().number);
    options
}

/// The directory at `path` under the root, created (with `meta`) where
/// missing.
fn ensure_dir(tree: &mut Tree, path: &[&[u8]], meta: &Metadata) -> Result<NodeId> {
    let mut dir = Tree::ROOT;
    for name in path {
        let existing = tree.entries(dir).and_then(|e| e.get(*name)).copied();
        dir = match existing {
            Some(id) if tree.node(id).is_dir() => id,
            Some(_) => {
                return Err(Error::from(TreeError::NotADirectory {
                    name: String::from_utf8_lossy(name).into_owned(),
                }))
            }
            None => tree.add(
                dir,
                name,
                Node::new(meta.clone(), NodeKind::Directory(Default::default())),
            )?,
        };
    }
    Ok(dir)
}

/// Puts the kernel, the initramfs and grub.cfg into `tree` for a root
/// filesystem of UUID `fs_uuid` (which must be the UUID it is then planned
/// with). grub.cfg has an entry per kernel in `/boot` ([`menu_entries`]);
/// without any, one for [`KERNEL_PATH`], for a kernel installed later. New files and directories take the root directory's owner and
/// times.
///
/// # Examples
///
/// ```
/// use blockimg::boot::{add_boot_files, root_uuid, BootOptions, GRUB_CFG_PATH};
/// use blockimg::tree::{Metadata, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let uuid = root_uuid(Some(1_700_000_000), &[b"root"])?;
/// let options = BootOptions::default().cmdline("quiet".into());
/// add_boot_files(&mut tree, &options, &uuid)?;
///
/// let cfg = tree.node(tree.lookup(GRUB_CFG_PATH.as_bytes()).ok_or("no grub.cfg")?);
/// let NodeKind::File(content) = &cfg.kind else { panic!("not a file") };
/// let mut text = String::new();
/// std::io::Read::read_to_string(&mut content.reader()?, &mut text)?;
/// assert!(text.contains(&blockimg::identity::format_uuid(&uuid)));
/// assert!(text.contains("/boot/vmlinuz") && text.contains("quiet"));
/// # Ok(())
/// # }
/// ```
pub fn add_boot_files(tree: &mut Tree, options: &BootOptions, fs_uuid: &[u8; 16]) -> Result<()> {
    let root = tree.node(Tree::ROOT).meta.clone();
    let with_mode = |permissions| Metadata {
        permissions,
        ..root.clone()
    };
    let dir_meta = with_mode(0o755);
    let boot = ensure_dir(tree, &[b"boot"], &dir_meta)?;
    let grub = ensure_dir(tree, &[b"boot", b"grub"], &dir_meta)?;
    if let Some(kernel) = &options.kernel {
        let content = host_file_content(kernel)?;
        tree.add(
            boot,
            b"vmlinuz",
            Node::new(with_mode(0o644), NodeKind::File(content)),
        )?;
    }
    if let Some(initrd) = &options.initrd {
        let content = host_file_content(initrd)?;
        tree.add(
            boot,
            b"initrd.img",
            Node::new(with_mode(0o644), NodeKind::File(content)),
        )?;
    }
    let mut entries = menu_entries(tree);
    if entries.is_empty() {
        // Nothing to boot yet (a kernel may be installed into the image
        // later): the menu boots the path --kernel would have filled.
        entries.push(MenuEntry {
            title: "Linux".into(),
            kernel: KERNEL_PATH.into(),
            initrd: None,
        });
    }
    let cfg = grub_cfg(&GrubConfig {
        fs_uuid: format_uuid(fs_uuid),
        entries,
        cmdline: options.cmdline.clone(),
        consoles: options.console_args(),
        timeout: 1,
        serial_terminal: options.arch.has_bios(),
    });
    tree.add(
        grub,
        b"grub.cfg",
        Node::new(
            with_mode(0o644),
            NodeKind::File(FileContent::from_bytes(cfg.into_bytes())),
        ),
    )?;
    Ok(())
}

/// One menu entry per kernel in the tree's `/boot`: `vmlinuz` (where
/// `--kernel` goes) first, then `vmlinuz-VERSION` and `bzImage-VERSION`,
/// newest version first, each with the initramfs its distribution names
/// after it (`initrd.img-VERSION`, `initramfs-VERSION.img`,
/// `initrd-VERSION.img`, `initrd-VERSION`), if there is one.
///
/// # Examples
///
/// ```
/// use blockimg::source::manifest;
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("kernel"), b"a kernel")?;
/// let time = Timestamp::from_secs(1_700_000_000);
/// let mut tree = Tree::new(Metadata::directory(time));
/// let text = b"file /boot/vmlinuz-6.1.0-amd64 0644 0:0 kernel\nfile /boot/initrd.img-6.1.0-amd64 0644 0:0 kernel\n";
/// manifest::parse(text, "boot.manifest", dir.path().into())?.apply(&mut tree, time)?;
///
/// let entries = blockimg::boot::menu_entries(&tree);
/// assert_eq!(entries.len(), 1);
/// assert_eq!(entries[0].kernel, "/boot/vmlinuz-6.1.0-amd64");
/// assert_eq!(entries[0].initrd.as_deref(), Some("/boot/initrd.img-6.1.0-amd64"));
/// # Ok(())
/// # }
/// ```
pub fn menu_entries(tree: &Tree) -> Vec<MenuEntry> {
    let Some(boot) = tree.lookup(b"boot") else {
        return Vec::new();
    };
    let Some(names) = tree.entries(boot) else {
        return Vec::new();
    };
    let bootable = |name: &str| {
        names.get(name.as_bytes()).is_some_and(|&id| {
            matches!(tree.node(id).kind, NodeKind::File(_) | NodeKind::Symlink(_))
        })
    };
    let mut versions: Vec<(String, String)> = names
        .keys()
        .filter_map(|name| std::str::from_utf8(name).ok())
        .filter(|name| bootable(name))
        .filter_map(|name| {
            ["vmlinuz-", "bzImage-"].iter().find_map(|prefix| {
                let version = name.strip_prefix(prefix)?;
                (!version.is_empty()).then(|| (name.to_string(), version.to_string()))
            })
        })
        .collect();
    versions.sort_by(|a, b| natural_order(&b.1, &a.1));
    let initrd_for = |candidates: Vec<String>| {
        candidates
            .into_iter()
            .find(|name| bootable(name))
            .map(|name| format!("/boot/{name}"))
    };
    let mut entries = Vec::new();
    if bootable("vmlinuz") {
        entries.push(MenuEntry {
            title: "Linux".into(),
            kernel: KERNEL_PATH.into(),
            initrd: initrd_for(vec!["initrd.img".into(), "initramfs.img".into()]),
        });
    }
    for (name, version) in versions {
        entries.push(MenuEntry {
            title: format!("Linux {version}"),
            kernel: format!("/boot/{name}"),
            initrd: initrd_for(vec![
                format!("initrd.img-{version}"),
                format!("initramfs-{version}.img"),
                format!("initrd-{version}.img"),
                format!("initrd-{version}"),
            ]),
        });
    }
    entries
}

/// Orders version strings as people read them: runs of digits by value,
/// everything else byte by byte (`6.10` after `6.9`).
fn natural_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let key = |s| {
        chunks(s)
            .into_iter()
            .map(|(digits, text)| {
                let trimmed = text.trim_start_matches('0');
                (
                    digits,
                    if digits { trimmed.len() } else { 0 },
                    trimmed.to_string(),
                    text.to_string(),
                )
            })
            .collect::<Vec<_>>()
    };
    key(a).cmp(&key(b))
}

/// Installs GRUB for BIOS into `disk`: boot.img's code into its first
/// sector and a core.img made by the host's `grub-mkimage` in the gap after
/// an MBR or in a GPT disk's BIOS boot partition, reading `/boot/grub` from
/// the root partition.
///
/// # Examples
///
/// ```
/// use blockimg::boot::{self, BootOptions};
/// use blockimg::image::{plan_disk, BootPartitions, DiskSize, ImageOptions, PartitionTable};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/i386-pc").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let options = ImageOptions::default().size(DiskSize::Exact(128 << 20)).table(PartitionTable::Mbr).boot_partitions(Default::default()).ext4(Default::default()).overwrite(false);
/// let mut disk = plan_disk(&tree, &options)?;
/// boot::install_bios(&mut disk, &BootOptions::default())?; // core.img in the gap after the MBR
/// let mbr = disk.mbr_sector().ok_or("no MBR")?;
/// assert_eq!(&mbr[0x1fe..], &[0x55, 0xaa]);
/// assert_ne!(mbr[..0x5c], [0; 0x5c]); // boot.img's code
/// # Ok(())
/// # }
/// ```
pub fn install_bios(disk: &mut PlannedDisk<'_>, options: &BootOptions) -> Result<()> {
    check_arch(BootMode::Bios, options.arch)?;
    let mbr = disk
        .mbr_sector()
        .ok_or_else(|| boot_refused("BIOS boot needs a partition table (MBR or GPT)"))?;
    let layout = disk.layout();
    let area = match layout.find(PartitionRole::BiosBoot) {
        Some(p) => CoreArea::BiosBootPartition {
            start: p.start / SECTOR,
            sectors: p.size / SECTOR,
        },
        None if layout.table == PartitionTable::Gpt => {
            return Err(boot_refused(
                "BIOS boot on a GPT disk needs a BIOS boot partition for core.img",
            ))
        }
        None => CoreArea::MbrGap,
    };
    let mk = mkimage_options(Platform::Bios, options.grub_dir.as_ref(), layout);
    let embedded = bios_boot_code(&mk, &mbr, area)?;
    disk.set_boot_loader(&embedded.mbr, embedded.core_lba, &embedded.core_img)
}

/// GRUB for BIOS for the disk whose first sector is `mbr`: core.img made
/// with `mk`, placed in `area`, and the first sector with boot.img's code
/// (from `mk`'s module directory) patched to load it.
pub(crate) fn bios_boot_code(
    mk: &MkimageOptions,
    mbr: &[u8],
    area: CoreArea,
) -> Result<bios::Embedded> {
    let boot_path = mk.grub_dir.join("boot.img");
    let boot_img = std::fs::read(&boot_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            Error::Boot(grub_embed::Error::GrubMissing {
                dir: mk.grub_dir.clone(),
                target: Platform::Bios.target(),
                how: Platform::Bios.how_to_get(),
            })
        } else {
            Error::io(&boot_path, e)
        }
    })?;
    let core_img = mkimage(mk)?;
    Ok(bios::embed(mbr, &boot_img, &core_img, area)?)
}

/// Installs GRUB for UEFI into `disk`: `/EFI/BOOT/BOOTX64.EFI` on its ESP
/// (`BOOTAA64.EFI` for [`Arch::Arm64`], GRUB's `arm64-efi` from
/// [`BootOptions::grub_efi_dir`]), made by the host's `grub-mkimage` with
/// an early configuration that finds the root filesystem by UUID and reads
/// `/boot/grub` from it.
///
/// # Examples
///
/// ```
/// use blockimg::boot::{self, BootOptions};
/// use blockimg::image::{plan_disk, BootPartitions, DiskSize, ImageOptions, PartitionTable};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/x86_64-efi").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let options = ImageOptions::default().size(DiskSize::Exact(128 << 20)).table(PartitionTable::Gpt).boot_partitions(BootPartitions { esp: Some(64 << 20), bios_boot: None }).ext4(Default::default()).overwrite(false);
/// let mut disk = plan_disk(&tree, &options)?;
/// boot::install_uefi(&mut disk, &BootOptions::default())?; // /EFI/BOOT/BOOTX64.EFI on the ESP
/// let dir = tempfile::tempdir()?;
/// let mut sink = blockimg::sink::SparseFile::create(&dir.path().join("disk.img"), false)?;
/// disk.write_to(&mut sink)?;
/// sink.finish(disk.disk_size())?;
/// assert_eq!(blockimg::inspect::inspect(&dir.path().join("disk.img"))?.boot.efi.len(), 1);
/// # Ok(())
/// # }
/// ```
pub fn install_uefi(disk: &mut PlannedDisk<'_>, options: &BootOptions) -> Result<()> {
    if disk.layout().find(PartitionRole::Esp).is_none() {
        return Err(boot_refused(
            "UEFI boot needs an EFI system partition on a partitioned disk (MBR or GPT)",
        ));
    }
    let uuid = format_uuid(&disk.fs_uuid());
    let platform = options.arch.efi_platform();
    let mut mk = mkimage_options(platform, options.grub_efi_dir.as_ref(), disk.layout());
    mk.early_config = Some(format!(
        "search --no-floppy --fs-uuid --set=root {uuid}\nset prefix=($root)/boot/grub\n"
    ));
    let efi = mkimage(&mk)?;
    disk.add_esp_file(options.arch.efi_boot_path(), &efi)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::Timestamp;

    fn tree_with_boot(files: &[&str], links: &[&str]) -> Tree {
        let meta = Metadata::directory(Timestamp::from_secs(0));
        let mut tree = Tree::new(meta.clone());
        let boot = tree
            .add(
                Tree::ROOT,
                b"boot",
                Node::new(meta.clone(), NodeKind::Directory(Default::default())),
            )
            .unwrap();
        for name in files {
            let file = NodeKind::File(FileContent::from_bytes(b"k".to_vec()));
            tree.add(boot, name.as_bytes(), Node::new(meta.clone(), file))
                .unwrap();
        }
        for name in links {
            let link = NodeKind::Symlink(b"elsewhere".to_vec());
            tree.add(boot, name.as_bytes(), Node::new(meta.clone(), link))
                .unwrap();
        }
        tree
    }

    #[test]
    fn one_entry_per_kernel_newest_first_with_its_initramfs() {
        let tree = tree_with_boot(
            &[
                "vmlinuz",
                "initrd.img",
                "vmlinuz-6.9.1-lfs",
                "vmlinuz-6.10.2-lfs",
                "initramfs-6.10.2-lfs.img",
                "vmlinuz-6.1.0-13-amd64",
                "initrd.img-6.1.0-13-amd64",
                "config-6.1.0-13-amd64",
                "System.map-6.1.0-13-amd64",
            ],
            &["bzImage-5.15"],
        );
        let got: Vec<(String, String, Option<String>)> = menu_entries(&tree)
            .into_iter()
            .map(|e| (e.title, e.kernel, e.initrd))
            .collect();
        let want =
            |t: &str, k: &str, i: Option<&str>| (t.to_string(), k.to_string(), i.map(String::from));
        assert_eq!(
            got,
            vec![
                want("Linux", "/boot/vmlinuz", Some("/boot/initrd.img")),
                want(
                    "Linux 6.10.2-lfs",
                    "/boot/vmlinuz-6.10.2-lfs",
                    Some("/boot/initramfs-6.10.2-lfs.img")
                ),
                want("Linux 6.9.1-lfs", "/boot/vmlinuz-6.9.1-lfs", None),
                want(
                    "Linux 6.1.0-13-amd64",
                    "/boot/vmlinuz-6.1.0-13-amd64",
                    Some("/boot/initrd.img-6.1.0-13-amd64")
                ),
                want("Linux 5.15", "/boot/bzImage-5.15", None),
            ]
        );
    }

    #[test]
    fn without_a_kernel_the_menu_boots_the_kernel_path() {
        let mut tree = tree_with_boot(&["config-6.1"], &[]);
        assert!(menu_entries(&tree).is_empty());
        add_boot_files(&mut tree, &BootOptions::default(), &[0; 16]).unwrap();
        let cfg = tree.lookup(b"boot/grub/grub.cfg").unwrap();
        let NodeKind::File(content) = &tree.node(cfg).kind else {
            panic!("grub.cfg is not a file")
        };
        let mut text = String::new();
        std::io::Read::read_to_string(&mut content.reader().unwrap(), &mut text).unwrap();
        assert!(text.contains("linux /boot/vmlinuz root=UUID="), "{text}");
    }
}
