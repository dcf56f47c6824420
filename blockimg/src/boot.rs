//! Bootable disks: the kernel, initramfs and grub.cfg put into the tree
//! before planning, and GRUB for BIOS installed into the planned disk's MBR
//! and the gap after it.

use std::path::PathBuf;

use grub_embed::bios;
use grub_embed::config::{grub_cfg, BootEntry};
use grub_embed::mkimage::{core_image, CoreOptions};

use crate::error::{Error, Result};
use crate::identity::format_uuid;
use crate::image::PlannedDisk;
use crate::source::dir::host_file_content;
use crate::tree::{FileContent, Metadata, Node, NodeId, NodeKind, Tree};

/// Where the kernel is put in the root filesystem.
pub const KERNEL_PATH: &str = "/boot/vmlinuz";
/// Where the initramfs is put in the root filesystem.
pub const INITRD_PATH: &str = "/boot/initrd.img";
/// Where GRUB reads its configuration.
pub const GRUB_CFG_PATH: &str = "/boot/grub/grub.cfg";

/// What a BIOS-bootable disk boots.
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
    /// GRUB's i386-pc module directory (default: the host's).
    pub grub_dir: Option<PathBuf>,
}

fn boot_error(e: grub_embed::Error) -> Error {
    Error::InvalidOption {
        option: "boot".into(),
        reason: e.to_string(),
    }
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
                return Err(Error::NotADirectory {
                    name: String::from_utf8_lossy(name).into_owned(),
                })
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
/// with). New files and directories take the root directory's owner and
/// times.
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
    let has_initrd = tree.lookup(INITRD_PATH.as_bytes()).is_some();
    let cfg = grub_cfg(&BootEntry {
        title: "Linux".into(),
        fs_uuid: format_uuid(fs_uuid),
        kernel: KERNEL_PATH.into(),
        initrd: has_initrd.then(|| INITRD_PATH.into()),
        cmdline: options.cmdline.clone(),
        timeout: 1,
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

/// Installs GRUB for BIOS into `disk`: boot.img's code into its MBR and a
/// core.img made by the host's `grub-mkimage` right after it, reading
/// `/boot/grub` from the first partition.
pub fn install_bios(disk: &mut PlannedDisk<'_>, options: &BootOptions) -> Result<()> {
    let no_table = || Error::InvalidOption {
        option: "boot".into(),
        reason: "BIOS boot needs a partition table (--table mbr)".into(),
    };
    if disk.mbr_sector().is_none() {
        return Err(no_table());
    }
    let mut core = CoreOptions::default();
    if let Some(dir) = &options.grub_dir {
        core.grub_dir = dir.clone();
    }
    let boot_path = core.grub_dir.join("boot.img");
    let boot_img = std::fs::read(&boot_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            boot_error(grub_embed::Error::GrubMissing {
                dir: core.grub_dir.clone(),
                package: grub_embed::mkimage::BIOS_PACKAGE,
            })
        } else {
            Error::io(&boot_path, e)
        }
    })?;
    let core_img = core_image(&core).map_err(boot_error)?;
    let mbr = disk.mbr_sector().ok_or_else(no_table)?;
    let sector = bios::embed(mbr, &boot_img, &core_img).map_err(boot_error)?;
    disk.set_boot_loader(&sector, core_img)
}
