//! The settings tables of a recipe: `[root]` (source, tree adjustments and
//! `[root.ext4]`), the ext4 settings of any partition, `[boot]` (mode,
//! kernel, command line, initramfs) and `[ec2]`.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use toml::Spanned;

use super::check::{get, Check};
use super::model::{self, Ext4Table, RecipeFile};
use super::profile::{Defaults, Profile};
use super::{BootSpec, Ec2Settings, Ext4Spec, InitramfsSpec, RootSpec};
use crate::arch::Arch;
use crate::boot::{check_arch, BootMode, BootOptions};
use crate::error::{Error, Result};
use crate::ext4::Ext4Options;
use crate::initramfs::compress::Compression;
use crate::initramfs::InitramfsOptions;
use crate::source::root::TreeAdjust;
use crate::source::tar::OutsideRoot;

/// Default free space of `auto` sizes, in percent.
const DEFAULT_HEADROOM: u32 = 20;

pub(super) fn ext4_spec(
    c: &mut Check,
    key: &str,
    t: Option<&Spanned<Ext4Table>>,
) -> Result<Ext4Spec> {
    let defaults = Ext4Options::default();
    let Some(t) = t else {
        return Ok(Ext4Spec {
            label: String::new(),
            uuid: None,
            block_size: defaults.block_size,
            journal: defaults.journal,
            headroom: DEFAULT_HEADROOM,
            inode_ratio: defaults.inode_ratio,
            reserved_percent: defaults.reserved_percent,
        });
    };
    c.note(key, t);
    let t = t.get_ref();
    let label = match &t.label {
        Some(l) if l.get_ref().len() > 16 => {
            return Err(c.bad(
                &format!("{key}.label"),
                l,
                "an ext4 label has at most 16 bytes",
            ))
        }
        Some(l) => {
            c.note(&format!("{key}.label"), l);
            l.get_ref().clone()
        }
        None => String::new(),
    };
    let uuid = t
        .uuid
        .as_ref()
        .map(|u| c.uuid(&format!("{key}.uuid"), u))
        .transpose()?;
    let block_size = match &t.block_size {
        Some(b) if ![1024, 2048, 4096].contains(b.get_ref()) => {
            return Err(c.bad(
                &format!("{key}.block_size"),
                b,
                "the block size is 1024, 2048 or 4096",
            ))
        }
        Some(b) => *b.get_ref(),
        None => defaults.block_size,
    };
    let inode_ratio = match &t.inode_ratio {
        Some(r) if *r.get_ref() < 1024 || *r.get_ref() > 1 << 26 => {
            return Err(c.bad(
                &format!("{key}.inode_ratio"),
                r,
                "bytes per inode are between 1024 and 67108864",
            ))
        }
        Some(r) => Some(*r.get_ref()),
        None => defaults.inode_ratio,
    };
    let reserved_percent = match &t.reserved_percent {
        Some(r) if *r.get_ref() > 50 => {
            return Err(c.bad(&format!("{key}.reserved_percent"), r, "at most 50 percent"))
        }
        Some(r) => *r.get_ref(),
        None => defaults.reserved_percent,
    };
    Ok(Ext4Spec {
        label,
        uuid,
        block_size,
        journal: get(&t.journal).unwrap_or(defaults.journal),
        headroom: get(&t.headroom).unwrap_or(DEFAULT_HEADROOM),
        inode_ratio,
        reserved_percent,
    })
}

pub(super) fn root_spec(
    c: &mut Check,
    t: &model::RootTable,
    base_layout: bool,
) -> Result<RootSpec> {
    let source = t
        .source
        .as_ref()
        .map(|s| c.input("root.source", s, None))
        .transpose()?;
    let mut manifests = Vec::new();
    for (i, m) in t.manifests.iter().enumerate() {
        manifests.push(c.input(&format!("root.manifests[{}]", i + 1), m, Some(false))?);
    }
    let owner = t
        .owner
        .as_ref()
        .map(|o| c.pair("root.owner", o))
        .transpose()?;
    let mut map_uid = Vec::new();
    for (i, m) in t.map_uid.iter().enumerate() {
        map_uid.push(c.pair(&format!("root.map_uid[{}]", i + 1), m)?);
    }
    let mut map_gid = Vec::new();
    for (i, m) in t.map_gid.iter().enumerate() {
        map_gid.push(c.pair(&format!("root.map_gid[{}]", i + 1), m)?);
    }
    Ok(RootSpec {
        source,
        adjust: TreeAdjust {
            owner,
            map_uid,
            map_gid,
            base_layout: get(&t.base_layout).unwrap_or(base_layout),
            manifests,
        },
        outside: if get(&t.skip_outside_root).unwrap_or(false) {
            OutsideRoot::Skip
        } else {
            OutsideRoot::Refuse
        },
        ext4: ext4_spec(c, "root.ext4", t.ext4.as_ref())?,
    })
}

/// `[boot]` for a disk of `arch`, the profile's `defaults` filling in
/// what it leaves out.
pub(super) fn boot_spec(
    c: &mut Check,
    t: &model::BootTable,
    defaults: &Defaults,
    arch: Arch,
    timestamp: Option<i64>,
) -> Result<BootSpec> {
    let mode = match &t.mode {
        Some(m) => {
            let mode = match c.word("boot.mode", m, &["none", "bios", "uefi", "hybrid"])? {
                "none" => BootMode::None,
                "bios" => BootMode::Bios,
                "uefi" => BootMode::Uefi,
                _ => BootMode::Hybrid,
            };
            if let Err(e) = check_arch(mode, arch) {
                return Err(c.bad("boot.mode", m, e.to_string()));
            }
            mode
        }
        // A profile's mode the architecture's firmware lacks (xen-domu's
        // BIOS on arm64) is refused where the architecture is chosen.
        None => {
            check_arch(defaults.boot, arch).map_err(|e| c.places.error("arch", e.to_string()))?;
            defaults.boot
        }
    };
    let file = |c: &mut Check, key: &str, v: &Option<Spanned<String>>| {
        v.as_ref().map(|v| c.input(key, v, Some(false))).transpose()
    };
    let dir = |c: &mut Check, key: &str, v: &Option<Spanned<String>>| {
        v.as_ref().map(|v| c.input(key, v, Some(true))).transpose()
    };
    let kernel = file(c, "boot.kernel", &t.kernel)?;
    let initrd = file(c, "boot.initrd", &t.initrd)?;
    let grub_dir = dir(c, "boot.grub_dir", &t.grub_dir)?;
    let grub_efi_dir = dir(c, "boot.grub_efi_dir", &t.grub_efi_dir)?;
    let consoles = match &t.consoles {
        Some(list) => {
            c.note("boot.consoles", list);
            if list
                .get_ref()
                .iter()
                .any(|s| s.is_empty() || s.contains(char::is_whitespace))
            {
                return Err(c.bad(
                    "boot.consoles",
                    list,
                    "a console is a word such as ttyS0,115200",
                ));
            }
            Some(list.get_ref().clone())
        }
        None => defaults.consoles.clone(),
    };
    let cmdline = match &t.cmdline {
        Some(s) => {
            c.note("boot.cmdline", s);
            if s.get_ref().contains(['\n', '\'']) {
                return Err(c.bad(
                    "boot.cmdline",
                    s,
                    "the command line is one line without ' quotes",
                ));
            }
            s.get_ref().clone()
        }
        None => String::new(),
    };
    let initramfs = match &t.initramfs {
        None => None,
        Some(i) => {
            c.note("boot.initramfs", i);
            if let Some(initrd) = &t.initrd {
                return Err(c.bad(
                    "boot.initrd",
                    initrd,
                    "give boot.initrd or [boot.initramfs], not both",
                ));
            }
            let i = i.get_ref();
            let sysroot = dir(c, "boot.initramfs.sysroot", &i.sysroot)?;
            let mut binaries = Vec::new();
            for (n, b) in i.binaries.iter().enumerate() {
                let key = format!("boot.initramfs.binaries[{}]", n + 1);
                binaries.push(match &sysroot {
                    // A path inside the sysroot, as the image will hold it.
                    Some(root) => c.image_path_in(&key, b, root)?,
                    None => {
                        let path = c.input(&key, b, Some(false))?;
                        std::path::absolute(&path).map_err(|e| Error::io(&path, e))?
                    }
                });
            }
            let compression = match &i.compress {
                None => Compression::Gzip,
                Some(s) => match c.word(
                    "boot.initramfs.compress",
                    s,
                    &["gzip", "zstd", "xz", "none"],
                )? {
                    "gzip" => Compression::Gzip,
                    "zstd" => Compression::Zstd,
                    "xz" => Compression::Xz,
                    _ => Compression::None,
                },
            };
            let busybox = match (&i.busybox, &sysroot) {
                (Some(b), Some(root)) => {
                    Some(c.image_path_in("boot.initramfs.busybox", b, root)?)
                }
                _ => file(c, "boot.initramfs.busybox", &i.busybox)?
                    .map(|p| std::path::absolute(&p).map_err(|e| Error::io(&p, e)))
                    .transpose()?,
            };
            let mut modules: Vec<String> = i.modules.iter().map(|m| m.get_ref().clone()).collect();
            for module in &defaults.initramfs_modules {
                if !modules.iter().any(|m| m == module) {
                    modules.push(module.to_string());
                }
            }
            Some(InitramfsSpec {
                options: InitramfsOptions {
                    binaries,
                    modules,
                    kernel_modules: dir(c, "boot.initramfs.kernel_modules", &i.kernel_modules)?,
                    busybox,
                    owner: Some((0, 0)),
                    timestamp,
                    arch: Some(arch),
                    ..Default::default()
                },
                compression,
                sysroot,
            })
        }
    };
    if mode == BootMode::None {
        let stray = [
            ("boot.kernel", t.kernel.is_some()),
            ("boot.initrd", t.initrd.is_some()),
            ("boot.initramfs", t.initramfs.is_some()),
            ("boot.cmdline", t.cmdline.is_some()),
        ];
        if let Some((key, _)) = stray.iter().find(|(_, set)| *set) {
            return Err(c.places.error(
                key,
                "the disk boots nothing (boot.mode is \"none\"); set boot.mode",
            ));
        }
    }
    Ok(BootSpec {
        mode,
        options: BootOptions {
            kernel,
            initrd,
            cmdline,
            consoles,
            grub_dir,
            grub_efi_dir,
            arch,
        },
        initramfs,
    })
}

pub(super) fn ec2_settings(
    c: &mut Check,
    file: &RecipeFile,
    profile: Option<Profile>,
) -> Result<Ec2Settings> {
    let Some(t) = &file.ec2 else {
        return Ok(Ec2Settings {
            user: "root".into(),
            dhcp: true,
            interface: "eth0".into(),
            ..Default::default()
        });
    };
    c.note("ec2", t);
    if profile != Some(Profile::Ec2) {
        return Err(c.bad("ec2", t, "[ec2] settings need profile = \"ec2\""));
    }
    let t = t.get_ref();
    let mut ssh_keys = Vec::new();
    for (i, k) in t.ssh_authorized_keys.iter().enumerate() {
        let key = format!("ec2.ssh_authorized_keys[{}]", i + 1);
        c.note(&key, k);
        let text = k.get_ref().trim();
        if text.is_empty() || text.contains('\n') {
            return Err(c.bad(
                &key,
                k,
                "a public key is one line (ssh-ed25519 AAAA... comment)",
            ));
        }
        ssh_keys.push(text.to_string());
    }
    if let Some(f) = &t.ssh_authorized_keys_file {
        let path = c.input("ec2.ssh_authorized_keys_file", f, Some(false))?;
        let text = std::fs::read_to_string(&path).map_err(|e| {
            c.bad(
                "ec2.ssh_authorized_keys_file",
                f,
                format!("{}: {e}", path.display()),
            )
        })?;
        ssh_keys.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from),
        );
    }
    let user = match &t.user {
        Some(u) => {
            c.note("ec2.user", u);
            let ok = !u.get_ref().is_empty()
                && u.get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !ok {
                return Err(c.bad("ec2.user", u, "a user name is letters, digits, -, _ and ."));
            }
            u.get_ref().clone()
        }
        None => "root".into(),
    };
    let dhcp = match &t.network {
        Some(n) => c.word("ec2.network", n, &["dhcp", "none"])? == "dhcp",
        None => true,
    };
    let interface = match &t.interface {
        Some(i) => {
            c.note("ec2.interface", i);
            let ok = !i.get_ref().is_empty()
                && i.get_ref().len() < 16
                && i.get_ref()
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
            if !ok {
                return Err(c.bad("ec2.interface", i, "an interface name such as eth0 or ens5"));
            }
            i.get_ref().clone()
        }
        None => "eth0".into(),
    };
    Ok(Ec2Settings {
        ssh_keys,
        user,
        imds_ssh_key: get(&t.imds_ssh_key).unwrap_or(false),
        dhcp,
        interface,
    })
}
