//! From the file's tables to a [`Recipe`]: every value parsed, every path
//! made absolute and checked to exist, the profile's defaults filled in,
//! and the settings checked against each other (boot mode and partitions,
//! sizes and layout). Every refusal names the key and its line.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::{Path, PathBuf};

use toml::Spanned;

use super::model::{self, Ext4Table, RecipeFile, Scalar};
use super::parse::Places;
use super::profile::Profile;
use super::{
    BootSpec, Content, Ec2Settings, Entry, EntryKind, Ext4Spec, InitramfsSpec, Origin, OutputSpec,
    PartitionPlan, Recipe, RootSpec,
};
use crate::boot::{BootMode, BootOptions};
use crate::disk::fat::{self, FatFormat};
use crate::disk::layout::{
    BootPartitions, DiskLayout, PartitionRole, PartitionSpec, PartitionTable, PartitionType,
};
use crate::error::PartitionError;
use crate::error::{Error, Result};
use crate::ext4::Ext4Options;
use crate::identity::parse_uuid;
use crate::initramfs::compress::Compression;
use crate::initramfs::InitramfsOptions;
use crate::sink::{virtual_size, Destination, OutputFormat};
use crate::size::parse_size;
use crate::source::root::{build_timestamp, TreeAdjust};
use crate::source::tar::OutsideRoot;

/// Default size of an ESP the recipe does not size.
pub const DEFAULT_ESP_SIZE: u64 = 64 << 20;
/// Default size of a BIOS boot partition the recipe does not size.
pub const DEFAULT_BIOS_BOOT_SIZE: u64 = 1 << 20;
/// Default free space of `auto` sizes, in percent.
pub const DEFAULT_HEADROOM: u32 = 20;

/// The checks of one recipe: where keys are, and where relative paths
/// start.
struct Check {
    places: Places,
    base: PathBuf,
}

impl Check {
    fn note<T>(&mut self, key: &str, value: &Spanned<T>) {
        self.places.note(key, value);
    }

    fn bad<T>(&self, key: &str, value: &Spanned<T>, reason: impl Into<String>) -> Error {
        self.places.error_at(key, value, reason)
    }

    /// A host path: absolute, or relative to the recipe's directory.
    fn path(&mut self, key: &str, value: &Spanned<String>) -> Result<PathBuf> {
        self.note(key, value);
        let text = value.get_ref();
        if text.is_empty() {
            return Err(self.bad(key, value, "an empty path"));
        }
        Ok(self.base.join(text))
    }

    /// A host path that must exist (`dir`: as a directory).
    fn input(&mut self, key: &str, value: &Spanned<String>, dir: Option<bool>) -> Result<PathBuf> {
        let path = self.path(key, value)?;
        match (std::fs::metadata(&path), dir) {
            (Err(e), _) => Err(self.bad(key, value, format!("{}: {e}", path.display()))),
            (Ok(m), Some(true)) if !m.is_dir() => {
                Err(self.bad(key, value, format!("{} is not a directory", path.display())))
            }
            (Ok(m), Some(false)) if m.is_dir() => {
                Err(self.bad(key, value, format!("{} is a directory", path.display())))
            }
            _ => Ok(path),
        }
    }

    /// A size in bytes, or `None` for `auto` when `auto_ok`.
    fn size(&mut self, key: &str, value: &Spanned<Scalar>, auto_ok: bool) -> Result<Option<u64>> {
        self.note(key, value);
        match value.get_ref() {
            Scalar::Int(n) => u64::try_from(*n)
                .map(Some)
                .map_err(|_| self.bad(key, value, "a size cannot be negative")),
            Scalar::Text(t) if t.trim().eq_ignore_ascii_case("auto") => {
                if auto_ok {
                    Ok(None)
                } else {
                    Err(self.bad(key, value, "\"auto\" is not allowed here"))
                }
            }
            Scalar::Text(t) => parse_size(t)
                .map(Some)
                .map_err(|e| self.bad(key, value, e.to_string())),
        }
    }

    fn uuid(&mut self, key: &str, value: &Spanned<String>) -> Result<[u8; 16]> {
        self.note(key, value);
        parse_uuid(value.get_ref()).map_err(|e| self.bad(key, value, e.to_string()))
    }

    fn mode(&mut self, key: &str, value: Option<&Spanned<Scalar>>, default: u16) -> Result<u16> {
        let Some(value) = value else {
            return Ok(default);
        };
        self.note(key, value);
        let mode = match value.get_ref() {
            Scalar::Int(n) => u16::try_from(*n).ok(),
            Scalar::Text(t) => u16::from_str_radix(t.trim().trim_start_matches("0o"), 8).ok(),
        };
        match mode {
            Some(m) if m <= 0o7777 => Ok(m),
            _ => Err(self.bad(
                key,
                value,
                "a mode is an octal string such as \"0644\" or an integer such as 0o644, at most 0o7777",
            )),
        }
    }

    fn owner(&mut self, key: &str, value: Option<&Spanned<String>>) -> Result<(u32, u32)> {
        match value {
            None => Ok((0, 0)),
            Some(v) => self.pair(key, v),
        }
    }

    /// `A:B` of two numbers.
    fn pair(&mut self, key: &str, value: &Spanned<String>) -> Result<(u32, u32)> {
        self.note(key, value);
        let parsed = value
            .get_ref()
            .split_once(':')
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
        parsed.ok_or_else(|| self.bad(key, value, "expected two numbers as A:B (e.g. 0:0)"))
    }

    /// A path inside the image: absolute, no `.` or `..` components.
    fn image_path(&mut self, key: &str, value: &Spanned<String>) -> Result<String> {
        self.note(key, value);
        let text = value.get_ref();
        let parts: Vec<&str> = text.split('/').filter(|c| !c.is_empty()).collect();
        if !text.starts_with('/')
            || parts.is_empty()
            || parts.iter().any(|c| *c == "." || *c == "..")
        {
            return Err(self.bad(
                key,
                value,
                format!(
                    "{text:?} is not an absolute path in the image (no . or .. components, not /)"
                ),
            ));
        }
        Ok(format!("/{}", parts.join("/")))
    }

    fn word<'v>(
        &mut self,
        key: &str,
        value: &'v Spanned<String>,
        allowed: &[&str],
    ) -> Result<&'v str> {
        self.note(key, value);
        let v = value.get_ref().as_str();
        if allowed.contains(&v) {
            Ok(v)
        } else {
            Err(self.bad(
                key,
                value,
                format!("{v:?} is not one of {}", allowed.join(", ")),
            ))
        }
    }
}

fn get<T: Clone>(value: &Option<Spanned<T>>) -> Option<T> {
    value.as_ref().map(|v| v.get_ref().clone())
}

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
    let defaults = profile.map(Profile::defaults).unwrap_or_default();
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
    let boot = boot_spec(
        &mut c,
        &boot_table,
        &defaults.consoles,
        defaults.boot,
        timestamp,
    )?;

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

    // [[output]]
    let mut outputs = Vec::new();
    for (i, o) in file.output.iter().enumerate() {
        let key = format!("output[{}]", i + 1);
        c.note(&key, o);
        let o = o.get_ref();
        let out_path = c.path(&format!("{key}.path"), &o.path)?;
        let chosen = match &o.format {
            Some(f) => Some(
                match c.word(
                    &format!("{key}.format"),
                    f,
                    &["raw", "vhd", "vhd-fixed", "vmdk"],
                )? {
                    "raw" => OutputFormat::Raw,
                    "vhd" => OutputFormat::Vhd,
                    "vhd-fixed" => OutputFormat::VhdFixed,
                    _ => OutputFormat::Vmdk,
                },
            ),
            None => None,
        };
        let format = OutputFormat::resolve(chosen, &Destination::File(out_path.clone()))
            .map_err(|e| c.bad(&format!("{key}.format"), &o.path, e.to_string()))?;
        let azure = get(&o.azure).unwrap_or(false);
        if azure && format != OutputFormat::VhdFixed {
            return Err(c.bad(
                &format!("{key}.azure"),
                &o.path,
                "azure = true needs format = \"vhd-fixed\"",
            ));
        }
        if outputs.iter().any(|x: &OutputSpec| x.path == out_path) {
            return Err(c.bad(
                &format!("{key}.path"),
                &o.path,
                "another output has the same path",
            ));
        }
        outputs.push(OutputSpec {
            path: out_path,
            format,
            azure,
        });
    }

    // Entries.
    let mut entries = Vec::new();
    for (i, f) in file.file.iter().enumerate() {
        let key = format!("file[{}]", i + 1);
        let line = c.places.note(&key, f).0;
        let f = f.get_ref();
        entries.push(Entry {
            path: c.image_path(&format!("{key}.path"), &f.path)?,
            kind: EntryKind::File(c.input(&format!("{key}.source"), &f.source, Some(false))?),
            mode: c.mode(&format!("{key}.mode"), f.mode.as_ref(), 0o644)?,
            owner: c.owner(&format!("{key}.owner"), f.owner.as_ref())?,
            origin: Origin::Recipe(line),
        });
    }
    for (i, t) in file.text.iter().enumerate() {
        let key = format!("text[{}]", i + 1);
        let line = c.places.note(&key, t).0;
        let t = t.get_ref();
        entries.push(Entry {
            path: c.image_path(&format!("{key}.path"), &t.path)?,
            kind: EntryKind::Text(t.content.get_ref().clone()),
            mode: c.mode(&format!("{key}.mode"), t.mode.as_ref(), 0o644)?,
            owner: c.owner(&format!("{key}.owner"), t.owner.as_ref())?,
            origin: Origin::Recipe(line),
        });
    }
    for (i, d) in file.dir.iter().enumerate() {
        let key = format!("dir[{}]", i + 1);
        let line = c.places.note(&key, d).0;
        let d = d.get_ref();
        entries.push(Entry {
            path: c.image_path(&format!("{key}.path"), &d.path)?,
            kind: EntryKind::Dir,
            mode: c.mode(&format!("{key}.mode"), d.mode.as_ref(), 0o755)?,
            owner: c.owner(&format!("{key}.owner"), d.owner.as_ref())?,
            origin: Origin::Recipe(line),
        });
    }
    for (i, s) in file.symlink.iter().enumerate() {
        let key = format!("symlink[{}]", i + 1);
        let line = c.places.note(&key, s).0;
        let s = s.get_ref();
        if s.target.get_ref().is_empty() {
            return Err(c.bad(
                &format!("{key}.target"),
                &s.target,
                "an empty symlink target",
            ));
        }
        entries.push(Entry {
            path: c.image_path(&format!("{key}.path"), &s.path)?,
            kind: EntryKind::Symlink(s.target.get_ref().clone()),
            mode: 0o777,
            owner: c.owner(&format!("{key}.owner"), s.owner.as_ref())?,
            origin: Origin::Recipe(line),
        });
    }
    // Directories first, then in file order: a [[file]] may go into a
    // [[dir]] listed after it.
    entries.sort_by_key(|e| !matches!(e.kind, EntryKind::Dir));

    let ec2 = ec2_settings(&mut c, &file, profile)?;

    let recipe = Recipe {
        path: path.to_path_buf(),
        profile,
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
        places: c.places,
    };
    check_layout(&recipe)?;
    Ok(recipe)
}

/// The layout checked now when every size is known (no `auto`): overlaps
/// and partitions past the disk are refused before any source is read.
fn check_layout(recipe: &Recipe) -> Result<()> {
    let Some(size) = recipe.size else {
        return Ok(());
    };
    if recipe.partitions.iter().any(|p| p.auto) {
        return Ok(());
    }
    let specs: Vec<PartitionSpec> = recipe.partitions.iter().map(|p| p.spec.clone()).collect();
    let fitted = fitted_size(recipe, size)?;
    DiskLayout::plan(recipe.table, fitted, &specs)
        .map(|_| ())
        .map_err(|e| layout_error(recipe, e))
}

/// The disk size every output describes the same disk at: the largest of
/// the sizes the outputs' formats round `size` to (a VHD rounds up to its
/// geometry), so a GPT's backup ends the disk in each.
pub fn fitted_size(recipe: &Recipe, size: u64) -> Result<u64> {
    if recipe.table != PartitionTable::Gpt {
        return Ok(size);
    }
    let mut fitted = size;
    for o in &recipe.outputs {
        fitted = fitted.max(virtual_size(o.format, size, o.azure)?);
    }
    Ok(fitted)
}

/// A layout refusal placed at the key it concerns: the partition's setting
/// when the recipe lists partitions, else `disk.size`.
pub fn layout_error(recipe: &Recipe, e: Error) -> Error {
    match e {
        Error::Partition(PartitionError::Placement {
            number,
            field,
            reason,
            ..
        }) if !recipe.places.has(&format!("partition[{number}]")) => recipe.places.error(
            "disk.size",
            format!("partition {number}: {field}: {reason}"),
        ),
        Error::Partition(PartitionError::Placement {
            number,
            field,
            reason,
            ..
        }) => recipe
            .places
            .error(&format!("partition[{number}].{field}"), reason),
        other => recipe.places.error("disk.size", other.to_string()),
    }
}

fn ext4_spec(c: &mut Check, key: &str, t: Option<&Spanned<Ext4Table>>) -> Result<Ext4Spec> {
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

fn root_spec(c: &mut Check, t: &model::RootTable, base_layout: bool) -> Result<RootSpec> {
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

fn boot_spec(
    c: &mut Check,
    t: &model::BootTable,
    default_consoles: &Option<Vec<String>>,
    default_mode: BootMode,
    timestamp: Option<i64>,
) -> Result<BootSpec> {
    let mode = match &t.mode {
        Some(m) => match c.word("boot.mode", m, &["none", "bios", "uefi", "hybrid"])? {
            "none" => BootMode::None,
            "bios" => BootMode::Bios,
            "uefi" => BootMode::Uefi,
            _ => BootMode::Hybrid,
        },
        None => default_mode,
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
        None => default_consoles.clone(),
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
            let mut binaries = Vec::new();
            for (n, b) in i.binaries.iter().enumerate() {
                let key = format!("boot.initramfs.binaries[{}]", n + 1);
                let path = c.input(&key, b, Some(false))?;
                binaries.push(std::path::absolute(&path).map_err(|e| Error::io(&path, e))?);
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
            let busybox = file(c, "boot.initramfs.busybox", &i.busybox)?
                .map(|p| std::path::absolute(&p).map_err(|e| Error::io(&p, e)))
                .transpose()?;
            Some(InitramfsSpec {
                options: InitramfsOptions {
                    binaries,
                    modules: i.modules.iter().map(|m| m.get_ref().clone()).collect(),
                    kernel_modules: dir(c, "boot.initramfs.kernel_modules", &i.kernel_modules)?,
                    busybox,
                    owner: Some((0, 0)),
                    timestamp,
                    ..Default::default()
                },
                compression,
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
        },
        initramfs,
    })
}

/// The partitions of a recipe that lists none: what `mkdisk` lays out for
/// the table and boot mode.
fn default_partitions(table: PartitionTable, mode: BootMode) -> Vec<PartitionPlan> {
    let boot = BootPartitions {
        esp: (mode.uefi() && table != PartitionTable::None).then_some(DEFAULT_ESP_SIZE),
        bios_boot: (mode.bios() && table == PartitionTable::Gpt).then_some(DEFAULT_BIOS_BOOT_SIZE),
    };
    DiskLayout::specs(&boot)
        .into_iter()
        .map(|spec| PartitionPlan {
            content: match spec.role {
                PartitionRole::Esp => Content::Esp(FatFormat::default()),
                PartitionRole::BiosBoot => Content::BiosBoot,
                _ => Content::Root,
            },
            spec,
            auto: false,
            mount: None,
        })
        .collect()
}

fn partition(
    c: &mut Check,
    index: usize,
    p: &Spanned<model::PartitionTable>,
) -> Result<PartitionPlan> {
    let key = format!("partition[{}]", index + 1);
    c.note(&key, p);
    let p = p.get_ref();
    let k = |field: &str| format!("{key}.{field}");
    let role = match c.word(
        &k("role"),
        &p.role,
        &["bios-boot", "esp", "root", "swap", "data"],
    )? {
        "bios-boot" => PartitionRole::BiosBoot,
        "esp" => PartitionRole::Esp,
        "root" => PartitionRole::Root,
        "swap" => PartitionRole::Swap,
        _ => PartitionRole::Data,
    };
    let format = match &p.format {
        Some(f) if role != PartitionRole::Data => {
            return Err(c.bad(&k("format"), f, "only data partitions take a format"))
        }
        Some(f) => c.word(&k("format"), f, &["ext4", "raw"])?.to_string(),
        None => "ext4".into(),
    };
    let ext4_ok = role == PartitionRole::Data && format == "ext4";
    if let (Some(e), false) = (&p.ext4, ext4_ok) {
        let why = if role == PartitionRole::Root {
            "the root's filesystem settings go in [root.ext4]"
        } else {
            "only ext4 data partitions take [partition.ext4]"
        };
        return Err(c.bad(&k("ext4"), e, why));
    }
    if let (Some(s), false) = (&p.swap, role == PartitionRole::Swap) {
        return Err(c.bad(&k("swap"), s, "only swap partitions take [partition.swap]"));
    }
    if let (Some(s), false) = (&p.source, role == PartitionRole::Data) {
        return Err(c.bad(
            &k("source"),
            s,
            "only data partitions take a source (the root's is root.source)",
        ));
    }
    if let (Some(f), false) = (&p.fat, role == PartitionRole::Esp) {
        return Err(c.bad(&k("fat"), f, "only the ESP takes [partition.fat]"));
    }
    if let (Some(m), false) = (&p.mount, ext4_ok || role == PartitionRole::Esp) {
        return Err(c.bad(
            &k("mount"),
            m,
            "only ext4 data partitions and the ESP take a mount point",
        ));
    }
    let copies_image = role == PartitionRole::Data && format == "raw" && p.source.is_some();
    let auto_ok = role == PartitionRole::Root || ext4_ok || copies_image;
    let (size, auto) = match &p.size {
        Some(s) => match c.size(&k("size"), s, auto_ok)? {
            Some(n) => (Some(n), false),
            None => (None, true),
        },
        None => (None, false),
    };
    let start = p
        .start
        .as_ref()
        .map(|s| c.size(&k("start"), s, false))
        .transpose()?
        .flatten();
    let kind = match &p.kind {
        None => None,
        Some(t) => {
            c.note(&k("type"), t);
            Some(match t.get_ref() {
                Scalar::Int(n) => PartitionType::Mbr(
                    u8::try_from(*n)
                        .map_err(|_| c.bad(&k("type"), t, "an MBR type is 0 to 255"))?,
                ),
                Scalar::Text(s) if s.len() <= 4 => {
                    let hex = s.trim_start_matches("0x");
                    PartitionType::Mbr(u8::from_str_radix(hex, 16).map_err(|_| {
                        c.bad(&k("type"), t, "an MBR type is a byte such as \"0x83\"")
                    })?)
                }
                Scalar::Text(s) => PartitionType::Gpt(
                    parse_uuid(s).map_err(|e| c.bad(&k("type"), t, e.to_string()))?,
                ),
            })
        }
    };
    let name = p.name.as_ref().map(|n| {
        c.note(&k("name"), n);
        n.get_ref().clone()
    });
    let guid = p.uuid.as_ref().map(|u| c.uuid(&k("uuid"), u)).transpose()?;
    let mount = p
        .mount
        .as_ref()
        .map(|m| c.image_path(&k("mount"), m))
        .transpose()?;
    let content = match role {
        PartitionRole::Root => Content::Root,
        PartitionRole::Esp => Content::Esp(fat_format(c, &k("fat"), p.fat.as_ref())?),
        PartitionRole::BiosBoot => Content::BiosBoot,
        PartitionRole::Swap => {
            let t = p.swap.as_ref().map(|s| {
                c.note(&k("swap"), s);
                s.get_ref().clone()
            });
            let t = t.unwrap_or_default();
            let label = match &t.label {
                Some(l) if l.get_ref().len() > crate::disk::swap::MAX_LABEL => {
                    return Err(c.bad(&k("swap.label"), l, "a swap label has at most 16 bytes"))
                }
                Some(l) => l.get_ref().clone(),
                None => String::new(),
            };
            let uuid = t
                .uuid
                .as_ref()
                .map(|u| c.uuid(&k("swap.uuid"), u))
                .transpose()?;
            Content::Swap { label, uuid }
        }
        PartitionRole::Data if format == "raw" => Content::Raw {
            source: p
                .source
                .as_ref()
                .map(|s| c.input(&k("source"), s, None))
                .transpose()?,
        },
        PartitionRole::Data => Content::Ext4 {
            source: p
                .source
                .as_ref()
                .map(|s| c.input(&k("source"), s, None))
                .transpose()?,
            ext4: ext4_spec(c, &k("ext4"), p.ext4.as_ref())?,
        },
    };
    let size = match (role, size, &p.size) {
        (PartitionRole::Esp, None, None) => Some(DEFAULT_ESP_SIZE),
        (PartitionRole::BiosBoot, None, None) => Some(DEFAULT_BIOS_BOOT_SIZE),
        _ => size,
    };
    Ok(PartitionPlan {
        spec: PartitionSpec {
            role,
            start,
            size,
            name,
            kind,
            guid,
        },
        auto,
        content,
        mount,
    })
}

/// `[partition.fat]`: the ESP's label and volume id.
fn fat_format(
    c: &mut Check,
    key: &str,
    table: Option<&Spanned<model::FatTable>>,
) -> Result<FatFormat> {
    let Some(table) = table else {
        return Ok(FatFormat::default());
    };
    c.note(key, table);
    let table = table.get_ref();
    let label = match &table.label {
        Some(l) => {
            c.note(&format!("{key}.label"), l);
            fat::volume_label(l.get_ref())
                .map_err(|e| c.bad(&format!("{key}.label"), l, e.to_string()))?;
            l.get_ref().clone()
        }
        None => String::new(),
    };
    let volume_id = table
        .volume_id
        .as_ref()
        .map(|v| {
            c.note(&format!("{key}.volume_id"), v);
            fat::parse_volume_id(v.get_ref()).ok_or_else(|| {
                c.bad(
                    &format!("{key}.volume_id"),
                    v,
                    "a FAT volume id is 8 hexadecimal digits, as \"ABCD-1234\"",
                )
            })
        })
        .transpose()?;
    Ok(FatFormat { volume_id, label })
}

/// A boot mode needs its partitions: an ESP for UEFI, a BIOS boot
/// partition for BIOS on GPT, a table for any.
fn check_boot_partitions(
    c: &Check,
    table: PartitionTable,
    mode: BootMode,
    partitions: &[PartitionPlan],
    boot: Option<&Spanned<model::BootTable>>,
) -> Result<()> {
    let at = |reason: &str| match boot.and_then(|b| b.get_ref().mode.as_ref()) {
        Some(m) => c.bad("boot.mode", m, reason),
        None => c.places.error(
            "boot.mode",
            format!("{reason} (the profile's boot mode is {})", mode.name()),
        ),
    };
    let has = |role| partitions.iter().any(|p| p.spec.role == role);
    if mode != BootMode::None && table == PartitionTable::None {
        return Err(at(
            "a bootable disk needs a partition table (disk.table = \"mbr\" or \"gpt\")",
        ));
    }
    if mode.uefi() && !has(PartitionRole::Esp) {
        return Err(at("UEFI boot needs a partition with role = \"esp\""));
    }
    if mode.bios() && table == PartitionTable::Gpt && !has(PartitionRole::BiosBoot) {
        return Err(at(
            "BIOS boot on a GPT disk needs a partition with role = \"bios-boot\"",
        ));
    }
    Ok(())
}

fn ec2_settings(c: &mut Check, file: &RecipeFile, profile: Option<Profile>) -> Result<Ec2Settings> {
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
