//! From the file's tables to a [`Recipe`]: every value parsed, every path
//! made absolute and checked to exist, the profile's defaults filled in,
//! and the settings checked against each other (boot mode and partitions,
//! sizes and layout). Every refusal names the key and its line.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::Path;

use toml::Spanned;

use super::check::{get, Check};
use super::model::{RecipeFile, Scalar};
use super::parse::Places;
use super::partitions::{check_boot_partitions, check_layout, default_partitions, partition};
use super::profile::Profile;
use super::snapshot::{refuse_snapshot_keys, register, snapshot_output};
use super::tables::{boot_spec, ec2_settings, root_spec};
use super::{Content, Entry, EntryKind, Origin, OutputSpec, Recipe};
use crate::arch::Arch;
use crate::disk::layout::PartitionTable;
use crate::error::Result;
use crate::sink::{Destination, OutputFormat};
use crate::source::root::build_timestamp;

/// Checks `file` (read from `path`, keys at `places`) and resolves it into a
/// [`Recipe`].
///
/// # Errors
///
/// [`RecipeError::At`](crate::error::RecipeError::At) naming the key and line of the first problem: a value
/// out of range or of the wrong form, a missing input file, a setting that
/// contradicts another (a boot mode without the partition it needs, keys of
/// another profile), partitions that overlap or do not fit the disk.
pub fn validate(file: RecipeFile, places: Places, path: &Path) -> Result<Recipe> {
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let mut c = Check { places, base };

    let profile = match &file.profile {
        None => None,
        Some(p) => Some(match c.word("profile", p, &["ec2", "xen-domu"])? {
            "ec2" => Profile::Ec2,
            _ => Profile::XenDomu,
        }),
    };
    let arch = match &file.arch {
        None => Arch::default(),
        Some(a) => match c.word("arch", a, &["x86_64", "arm64"])? {
            "arm64" => Arch::Arm64,
            _ => Arch::X86_64,
        },
    };
    let defaults = profile.map(|p| p.defaults(arch)).unwrap_or_default();
    if let Some(t) = &file.timestamp {
        c.note("timestamp", t);
    }
    let timestamp = build_timestamp(get(&file.timestamp))?;
    let hostname = match &file.hostname {
        Some(h) => {
            c.note("hostname", h);
            let name = h.get_ref();
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !ok {
                return Err(c.bad(
                    "hostname",
                    h,
                    "a host name is 1-64 letters, digits, - and .",
                ));
            }
            name.clone()
        }
        None => "localhost".into(),
    };
    if let Some(f) = &file.fstab {
        c.note("fstab", f);
    }
    // A mount point is only written down in /etc/fstab: giving one asks
    // for the file.
    let mounts = file.partition.iter().any(|p| p.get_ref().mount.is_some());
    let fstab = get(&file.fstab).unwrap_or(defaults.fstab || mounts);
    let mut profile_skip = Vec::new();
    for (i, p) in file.profile_skip.iter().enumerate() {
        profile_skip.push(c.image_path(&format!("profile_skip[{}]", i + 1), p)?);
    }
    if let (Some(first), None) = (file.profile_skip.first(), profile) {
        return Err(c.bad("profile_skip", first, "there is no profile"));
    }

    // [disk]
    let disk = file.disk.as_ref().map(|d| d.get_ref().clone());
    if let Some(d) = &file.disk {
        c.note("disk", d);
    }
    let table = match disk.as_ref().and_then(|d| d.table.as_ref()) {
        Some(t) => match c.word("disk.table", t, &["mbr", "gpt", "none"])? {
            "mbr" => PartitionTable::Mbr,
            "gpt" => PartitionTable::Gpt,
            _ => PartitionTable::None,
        },
        None => defaults.table,
    };
    let size = match disk.as_ref().and_then(|d| d.size.as_ref()) {
        Some(s) => c.size("disk.size", s, true)?,
        None => None,
    };

    // [boot]
    let boot_table = file
        .boot
        .as_ref()
        .map(|b| b.get_ref().clone())
        .unwrap_or_default();
    if let Some(b) = &file.boot {
        c.note("boot", b);
    }
    let boot = boot_spec(&mut c, &boot_table, &defaults, arch, timestamp)?;

    // [root]
    let root_table = file
        .root
        .as_ref()
        .map(|r| r.get_ref().clone())
        .unwrap_or_default();
    if let Some(r) = &file.root {
        c.note("root", r);
    }
    let root = root_spec(&mut c, &root_table, defaults.base_layout)?;

    // [[partition]]
    let partitions = if file.partition.is_empty() {
        default_partitions(table, boot.mode)
    } else {
        file.partition
            .iter()
            .enumerate()
            .map(|(i, p)| partition(&mut c, i, p))
            .collect::<Result<Vec<_>>>()?
    };
    check_boot_partitions(&c, table, boot.mode, &partitions, file.boot.as_ref())?;
    if size.is_none() {
        if let Some((i, _)) = partitions
            .iter()
            .enumerate()
            .find(|(_, p)| p.spec.size.is_none() && !p.auto && !matches!(p.content, Content::Root))
        {
            return Err(c.places.error(
                &format!("partition[{}].size", i + 1),
                "with disk.size = \"auto\" only the root may be left without a size",
            ));
        }
    }

    let outputs = outputs(&mut c, &file)?;
    let mut entries = entries(&mut c, &file)?;
    // Directories first, then in file order: a [[file]] may go into a
    // [[dir]] listed after it.
    entries.sort_by_key(|e| !matches!(e.kind, EntryKind::Dir));

    let ec2 = ec2_settings(&mut c, &file, profile)?;
    let register = match &file.register {
        Some(t) => Some(register(&mut c, t, boot.mode, arch)?),
        None => None,
    };

    let recipe = Recipe {
        path: path.to_path_buf(),
        profile,
        arch,
        timestamp,
        hostname,
        fstab,
        profile_skip,
        table,
        size,
        outputs,
        partitions,
        root,
        entries,
        boot,
        ec2,
        register,
        places: c.places,
    };
    check_layout(&recipe)?;
    Ok(recipe)
}

/// `[[output]]`: each output's path, its format (given, or from the
/// extension) and Azure sizing, or an EBS snapshot (at most one); no two
/// outputs with one path.
fn outputs(c: &mut Check, file: &RecipeFile) -> Result<Vec<OutputSpec>> {
    let mut outputs = Vec::new();
    for (i, o) in file.output.iter().enumerate() {
        let key = format!("output[{}]", i + 1);
        c.note(&key, o);
        let o_ = o.get_ref();
        let formats = ["raw", "vhd", "vhd-fixed", "vmdk", "ebs-snapshot"];
        let chosen = match &o_.format {
            Some(f) => Some(match c.word(&format!("{key}.format"), f, &formats)? {
                "raw" => OutputFormat::Raw,
                "vhd" => OutputFormat::Vhd,
                "vhd-fixed" => OutputFormat::VhdFixed,
                "vmdk" => OutputFormat::Vmdk,
                _ => OutputFormat::EbsSnapshot,
            }),
            None => None,
        };
        if chosen == Some(OutputFormat::EbsSnapshot) {
            if outputs.iter().any(|x: &OutputSpec| x.snapshot.is_some()) {
                return Err(c.bad(&key, o, "a recipe makes at most one EBS snapshot"));
            }
            outputs.push(snapshot_output(c, &key, o)?);
            continue;
        }
        let o = o_;
        refuse_snapshot_keys(c, &key, o)?;
        let Some(path) = &o.path else {
            return Err(c
                .places
                .error(&key, "path is required (but for format = \"ebs-snapshot\")"));
        };
        let out_path = c.path(&format!("{key}.path"), path)?;
        let format = OutputFormat::resolve(chosen, &Destination::File(out_path.clone()))
            .map_err(|e| c.bad(&format!("{key}.format"), path, e.to_string()))?;
        let azure = get(&o.azure).unwrap_or(false);
        if azure && format != OutputFormat::VhdFixed {
            return Err(c.bad(
                &format!("{key}.azure"),
                path,
                "azure = true needs format = \"vhd-fixed\"",
            ));
        }
        if outputs.iter().any(|x: &OutputSpec| x.path == out_path) {
            return Err(c.bad(
                &format!("{key}.path"),
                path,
                "another output has the same path",
            ));
        }
        outputs.push(OutputSpec {
            path: out_path,
            format,
            azure,
            snapshot: None,
        });
    }

    Ok(outputs)
}

/// `[[file]]`, `[[text]]`, `[[dir]]` and `[[symlink]]`: what the recipe
/// puts into the root, in file order within each kind.
fn entries(c: &mut Check, file: &RecipeFile) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    for (i, f) in file.file.iter().enumerate() {
        let f_ = f.get_ref();
        let fields = EntryFields {
            path: &f_.path,
            mode: (f_.mode.as_ref(), 0o644),
            owner: f_.owner.as_ref(),
        };
        entries.push(entry(c, ("file", i, f), fields, |c, key| {
            let source = c.input(&format!("{key}.source"), &f_.source, Some(false))?;
            Ok(EntryKind::File(source))
        })?);
    }
    for (i, t) in file.text.iter().enumerate() {
        let t_ = t.get_ref();
        let fields = EntryFields {
            path: &t_.path,
            mode: (t_.mode.as_ref(), 0o644),
            owner: t_.owner.as_ref(),
        };
        entries.push(entry(c, ("text", i, t), fields, |_, _| {
            Ok(EntryKind::Text(t_.content.get_ref().clone()))
        })?);
    }
    for (i, d) in file.dir.iter().enumerate() {
        let d_ = d.get_ref();
        let fields = EntryFields {
            path: &d_.path,
            mode: (d_.mode.as_ref(), 0o755),
            owner: d_.owner.as_ref(),
        };
        entries.push(entry(c, ("dir", i, d), fields, |_, _| Ok(EntryKind::Dir))?);
    }
    for (i, s) in file.symlink.iter().enumerate() {
        let s_ = s.get_ref();
        let fields = EntryFields {
            path: &s_.path,
            mode: (None, 0o777),
            owner: s_.owner.as_ref(),
        };
        entries.push(entry(c, ("symlink", i, s), fields, |c, key| {
            if s_.target.get_ref().is_empty() {
                return Err(c.bad(
                    &format!("{key}.target"),
                    &s_.target,
                    "an empty symlink target",
                ));
            }
            Ok(EntryKind::Symlink(s_.target.get_ref().clone()))
        })?);
    }
    Ok(entries)
}

/// The keys every entry table has.
struct EntryFields<'f> {
    path: &'f Spanned<String>,
    /// The `mode` key and the kind's default.
    mode: (Option<&'f Spanned<Scalar>>, u16),
    owner: Option<&'f Spanned<String>>,
}

/// Entry `index` of the table `name` (`file`, `text`, ...): its kind as
/// `kind` reads it (checked first, then the path, mode and owner).
fn entry<T>(
    c: &mut Check,
    (name, index, table): (&str, usize, &Spanned<T>),
    fields: EntryFields<'_>,
    kind: impl FnOnce(&mut Check, &str) -> Result<EntryKind>,
) -> Result<Entry> {
    let key = format!("{name}[{}]", index + 1);
    let line = c.places.note(&key, table).0;
    let path = c.image_path(&format!("{key}.path"), fields.path)?;
    let kind = kind(c, &key)?;
    Ok(Entry {
        path,
        kind,
        mode: c.mode(&format!("{key}.mode"), fields.mode.0, fields.mode.1)?,
        owner: c.owner(&format!("{key}.owner"), fields.owner)?,
        origin: Origin::Recipe(line),
    })
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;
    use crate::boot::BootMode;

    fn recipe(text: &str) -> Result<Recipe> {
        parse(text, Path::new("/nonexistent/r.toml"))
    }

    #[test]
    fn arch_defaults_to_x86_64_and_reaches_the_boot_options() {
        let r = recipe("[boot]\nmode = \"uefi\"\n").unwrap();
        assert_eq!((r.arch, r.boot.options.arch), (Arch::X86_64, Arch::X86_64));
        let r = recipe("arch = \"arm64\"\n[boot]\nmode = \"uefi\"\n").unwrap();
        assert_eq!((r.arch, r.boot.options.arch), (Arch::Arm64, Arch::Arm64));
    }

    #[test]
    fn an_unknown_arch_is_refused_with_its_line() {
        let err = recipe("\narch = \"aarch64\"\n").unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/r.toml:2:"), "{err}");
        assert!(err.contains("x86_64") && err.contains("arm64"), "{err}");
    }

    #[test]
    fn bios_and_hybrid_are_refused_for_arm64_at_boot_mode() {
        for mode in ["bios", "hybrid"] {
            let text = format!("arch = \"arm64\"\n[boot]\nmode = \"{mode}\"\n");
            let err = recipe(&text).unwrap_err().to_string();
            assert!(err.starts_with("/nonexistent/r.toml:3:"), "{err}");
            assert!(err.contains("UEFI only") && err.contains(mode), "{err}");
        }
    }

    #[test]
    fn ec2_on_arm64_boots_by_uefi_on_graviton_console_with_nvme_and_ena() {
        let text = "profile = \"ec2\"\narch = \"arm64\"\n[boot.initramfs]\nmodules = [\"ext4\", \"ena\"]\n";
        let r = recipe(text).unwrap();
        assert_eq!(r.boot.mode, BootMode::Uefi);
        assert_eq!(r.boot.options.console_args(), ["tty0", "ttyS0,115200"]);
        let initramfs = r.boot.initramfs.unwrap().options;
        assert_eq!(initramfs.modules, ["ext4", "ena", "nvme"]);
        assert_eq!(initramfs.arch, Some(Arch::Arm64));
        // On x86-64 the profile stays hybrid and adds no modules.
        let r = recipe("profile = \"ec2\"\n[boot.initramfs]\nmodules = [\"ext4\"]\n").unwrap();
        assert_eq!(r.boot.mode, BootMode::Hybrid);
        assert_eq!(r.boot.initramfs.unwrap().options.modules, ["ext4"]);
    }

    #[test]
    fn initramfs_binaries_are_paths_inside_the_sysroot() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bin")).unwrap();
        std::fs::write(root.path().join("bin/busybox"), b"").unwrap();
        let text = format!(
            "arch = \"arm64\"\n[boot]\nmode = \"uefi\"\n[boot.initramfs]\nsysroot = \"{}\"\n\
             busybox = \"/bin/busybox\"\nbinaries = [\"/bin/busybox\"]\n",
            root.path().display()
        );
        let spec = recipe(&text).unwrap().boot.initramfs.unwrap();
        assert_eq!(spec.sysroot.as_deref(), Some(root.path()));
        assert_eq!(spec.options.busybox, Some("/bin/busybox".into()));
        assert_eq!(
            spec.options.binaries,
            [std::path::PathBuf::from("/bin/busybox")]
        );
        let missing = text.replace("binaries = [\"/bin/busybox\"]", "binaries = [\"/bin/sh\"]");
        let err = recipe(&missing).unwrap_err().to_string();
        assert!(err.starts_with("/nonexistent/r.toml:7:"), "{err}");
        assert!(err.contains("bin/sh"), "{err}");
    }

    #[test]
    fn a_profile_booting_by_bios_is_refused_for_arm64_at_arch() {
        let err = recipe("profile = \"xen-domu\"\narch = \"arm64\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("/nonexistent/r.toml:2:"), "{err}");
        assert!(err.contains("UEFI only"), "{err}");
    }
}
