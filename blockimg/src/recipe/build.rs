//! Building a checked recipe: the trees read and completed (profile files,
//! fstab, the recipe's entries, an initramfs, the boot files), the disk
//! laid out, then every filesystem planned and each output written.

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use super::partitions::{fitted_size, layout_error};
use super::profile::Account;
use super::{Content, Entry, EntryKind, Ext4Spec, Origin, Recipe};
use crate::boot::{self, add_boot_files, BootMode, GRUB_CFG_PATH, INITRD_PATH, KERNEL_PATH};
use crate::builder::{write_outputs, Output};
use crate::disk::fat::{self, FatFormat};
use crate::disk::layout::{DiskLayout, PartitionRole, PartitionSpec, ALIGN};
use crate::error::{Error, Result};
use crate::ext4::{Ext4Options, Ext4Plan};
use crate::identity::{format_uuid, id32, uuid_for};
use crate::image::copy::image_size;
use crate::image::{plan_partitions, PartitionContent, PlannedDisk};
use crate::initramfs::hostfs::HostFs;
use crate::initramfs::{archive_bytes, assemble};
use crate::report::Observer;
use crate::sink::OutputFormat;
use crate::size::format_size;
use crate::source::manifest::{Directive, Manifest};
use crate::source::root::{build_time, load_root, load_root_with};
use crate::tree::{Metadata, NodeKind, Timestamp, Tree};

/// Something put into the root filesystem, for the plan `--dry-run`
/// prints.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [[dir]]
/// path = "/srv"
/// owner = "33:33"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// let prepared = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?;
/// let srv = prepared.added().iter().find(|a| a.path == "/srv").ok_or("no /srv")?;
/// assert_eq!((srv.what.as_str(), srv.origin.as_str()), ("dir 0755 33:33", "line 2"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Added {
    /// Path in the image.
    pub path: String,
    /// What it is (`file 0644 0:0`, `symlink -> target`).
    pub what: String,
    /// Who asked for it (`line 12`, `ec2 profile`, `fstab`, `boot`).
    pub origin: String,
}

/// One output written.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [disk]
/// size = "8M"
/// [[output]]
/// path = "disk.img"
/// [[output]]
/// path = "disk.vhd"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// let written = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?.write(false, &mut blockimg::Silent)?;
/// assert_eq!(written.len(), 2);
/// assert!(written.iter().all(|w| w.disk_size >= 8 << 20 && w.path.exists()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: OutputFormat,
    /// Size of the disk it holds.
    pub disk_size: u64,
    /// Size of the file.
    pub file_bytes: u64,
}

/// A recipe whose trees are read and completed and whose disk is laid
/// out; nothing is written yet.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [disk]
/// size = "8M"
/// [[output]]
/// path = "disk.img"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// let prepared = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?; // sources read, disk laid out
/// assert_eq!(prepared.layout().disk_size, 8 << 20);
/// prepared.write(false, &mut blockimg::Silent)?;
/// assert!(dir.path().join("disk.img").exists());
/// # Ok(())
/// # }
/// ```
pub struct Prepared<'r> {
    recipe: &'r Recipe,
    root: Tree,
    /// Per partition: the tree of an ext4 data partition.
    data: Vec<Option<Tree>>,
    /// Per partition: ext4 options (root and data partitions).
    ext4: Vec<Option<Ext4Options>>,
    /// Per partition: swap UUID.
    swap: Vec<Option<[u8; 16]>>,
    /// The ESP's format, its volume id chosen.
    esp: FatFormat,
    layout: DiskLayout,
    added: Vec<Added>,
}

/// Reads the recipe's sources and lays out its disk: the root tree with the
/// profile's files, /etc/fstab, the recipe's entries, a built initramfs and
/// the boot files; the data partitions' trees; `auto` sizes computed; the
/// partitions placed. With `progress`, writing shows a progress bar on a
/// terminal.
///
/// # Errors
///
/// Whatever reading a source refuses; [`RecipeError::At`](crate::error::RecipeError::At) at the key
/// concerned when the partitions do not fit, a profile file to skip does
/// not exist or the SSH key's owner is not in the image's /etc/passwd.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// std::fs::create_dir(dir.path().join("rootfs"))?;
/// std::fs::write(dir.path().join("rootfs/data"), vec![1u8; 4 << 20])?;
/// let text = r#"
/// [disk]
/// size = "auto"
/// [root]
/// source = "rootfs"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// let prepared = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?; // the source is read here
/// assert!(prepared.layout().root().size > 4 << 20); // the auto size holds it
/// # Ok(())
/// # }
/// ```
pub fn prepare<'r>(recipe: &'r Recipe, observer: &mut dyn Observer) -> Result<Prepared<'r>> {
    let t = recipe.timestamp;
    let time = build_time(t);
    let derive = t.is_some();
    let secs = t.unwrap_or(0).to_le_bytes();

    let mut root = load_root_with(
        recipe.root.source.as_deref(),
        t,
        recipe.root.outside,
        observer,
    )?;
    recipe.root.adjust.apply(&mut root, t)?;

    // Identifiers are chosen first: grub.cfg and /etc/fstab name them.
    let root_uuid = match recipe.root.ext4.uuid {
        Some(uuid) => uuid,
        None => boot::root_uuid(t, &[recipe.root.ext4.label.as_bytes(), b"recipe root"])?,
    };
    let mut ext4 = Vec::new();
    let mut swap = Vec::new();
    let mut data = Vec::new();
    let mut esp = FatFormat::default();
    for (i, p) in recipe.partitions.iter().enumerate() {
        let index = (i as u64).to_le_bytes();
        let (fs, sw, tree) = match &p.content {
            Content::Root => (
                Some(ext4_options(&recipe.root.ext4, root_uuid, t)),
                None,
                None,
            ),
            Content::Ext4 { source, ext4 } => {
                let uuid = match ext4.uuid {
                    Some(u) => u,
                    None => uuid_for(derive, "blockimg recipe ext4 uuid", &[&secs, &index])?,
                };
                let tree = match source {
                    Some(s) => load_root(Some(s), t)?,
                    None => Tree::new(Metadata::directory(time)),
                };
                (Some(ext4_options(ext4, uuid, t)), None, Some(tree))
            }
            Content::Swap { uuid, .. } => {
                let uuid = match uuid {
                    Some(u) => *u,
                    None => uuid_for(derive, "blockimg recipe swap uuid", &[&secs, &index])?,
                };
                (None, Some(uuid), None)
            }
            Content::Esp(format) => {
                let volume_id = match format.volume_id {
                    Some(id) => id,
                    None => id32(&uuid_for(
                        derive,
                        "blockimg recipe esp volume id",
                        &[&secs],
                    )?),
                };
                esp = FatFormat {
                    volume_id: Some(volume_id),
                    label: format.label.clone(),
                };
                (None, None, None)
            }
            Content::BiosBoot | Content::Raw { .. } => (None, None, None),
        };
        ext4.push(fs);
        swap.push(sw);
        data.push(tree);
    }

    let ids = FstabIds {
        root: root_uuid,
        ext4: &ext4,
        swap: &swap,
        esp_volume_id: esp.volume_id,
    };
    let entries = root_entries(recipe, &root, &ids)?;
    let mut added: Vec<Added> = entries.iter().map(describe_entry).collect();
    let mut directives = Vec::new();
    for e in &entries {
        let line = match e.origin {
            Origin::Recipe(line) => line,
            _ => 0,
        };
        directives.push((line, directive(e)));
    }
    if let Some(spec) = &recipe.boot.initramfs {
        let start = Tree::new(Metadata::directory(time));
        let built = assemble(start, HostFs::new("/"), &spec.options)?;
        let bytes = archive_bytes(&built.tree, spec.compression, t)?;
        added.push(Added {
            path: INITRD_PATH.into(),
            what: format!(
                "initramfs {}, {} modules",
                format_size(bytes.len() as u64),
                built.modules.load.len()
            ),
            origin: "boot.initramfs".into(),
        });
        directives.push((
            0,
            Directive::Data {
                path: INITRD_PATH.as_bytes().to_vec(),
                mode: 0o644,
                owner: (0, 0),
                data: Arc::from(bytes),
            },
        ));
    }
    let manifest = Manifest {
        directives,
        // Host paths are the recipe's, already resolved.
        base: PathBuf::new(),
        name: recipe.path.display().to_string(),
    };
    manifest.apply(&mut root, time)?;
    if recipe.boot.mode != BootMode::None {
        if recipe.boot.options.kernel.is_none() && boot::menu_entries(&root).is_empty() {
            return Err(recipe.places.error(
                "boot.kernel",
                "no kernel to boot: give boot.kernel, or have /boot/vmlinuz or /boot/vmlinuz-VERSION in the root",
            ));
        }
        add_boot_files(&mut root, &recipe.boot.options, &root_uuid)?;
        if let Some(k) = &recipe.boot.options.kernel {
            added.push(boot_added(KERNEL_PATH, &format!("copy of {}", k.display())));
        }
        if let Some(i) = &recipe.boot.options.initrd {
            added.push(boot_added(INITRD_PATH, &format!("copy of {}", i.display())));
        }
        added.push(boot_added(
            GRUB_CFG_PATH,
            &format!(
                "GRUB menu, kernel command line: {}",
                kernel_cmdline(recipe, root_uuid)
            ),
        ));
    }

    // Sizes: `auto` partitions hold their tree plus headroom.
    let mut specs: Vec<PartitionSpec> = Vec::new();
    // Host images copied into partitions: (partition index, path, bytes).
    let mut images = Vec::new();
    let mut root_min = 0;
    for (i, p) in recipe.partitions.iter().enumerate() {
        let mut spec = p.spec.clone();
        let tree = match &p.content {
            Content::Root => Some((&root, &recipe.root.ext4)),
            Content::Ext4 { ext4: settings, .. } => data[i].as_ref().map(|t| (t, settings)),
            _ => None,
        };
        let needs_min = p.auto || (recipe.size.is_none() && matches!(p.content, Content::Root));
        if let (Some((tree, settings)), Some(options), true) = (tree, ext4[i].as_mut(), needs_min) {
            let (bytes, inodes) = Ext4Plan::min_size(tree, options, settings.headroom)?;
            options.min_inodes = options.min_inodes.max(inodes);
            if p.auto {
                spec.size = Some(bytes.next_multiple_of(ALIGN));
            } else {
                root_min = bytes.next_multiple_of(ALIGN);
            }
        }
        if let Content::Raw {
            source: Some(image),
        } = &p.content
        {
            let bytes = image_size(image)?;
            if p.auto {
                spec.size = Some(bytes.next_multiple_of(ALIGN));
            }
            images.push((i, image, bytes));
        }
        specs.push(spec);
    }
    let disk_size = match recipe.size {
        Some(size) => size,
        None => {
            let root_last = recipe
                .partitions
                .last()
                .is_some_and(|p| matches!(p.content, Content::Root));
            DiskLayout::fixed_bytes(recipe.table, &specs)
                + root_min
                + if root_last { 0 } else { ALIGN }
        }
    };
    let fitted = fitted_size(recipe, disk_size)?;
    let layout =
        DiskLayout::plan(recipe.table, fitted, &specs).map_err(|e| layout_error(recipe, e))?;
    for (i, image, bytes) in images {
        let room = layout.partitions.get(i).map_or(0, |p| p.size);
        if bytes > room {
            return Err(recipe.places.error(
                &format!("partition[{}].source", i + 1),
                format!(
                    "{} holds a disk of {bytes} bytes, more than the partition's {room} bytes",
                    image.display()
                ),
            ));
        }
    }
    Ok(Prepared {
        recipe,
        root,
        data,
        ext4,
        swap,
        esp,
        layout,
        added,
    })
}

fn boot_added(path: &str, what: &str) -> Added {
    Added {
        path: path.into(),
        what: what.into(),
        origin: "boot".into(),
    }
}

/// The kernel command line grub.cfg gives every kernel.
fn kernel_cmdline(recipe: &Recipe, root_uuid: [u8; 16]) -> String {
    let consoles = recipe.boot.options.consoles.clone().unwrap_or_else(|| {
        boot::DEFAULT_CONSOLES
            .iter()
            .map(|c| c.to_string())
            .collect()
    });
    let mut line = format!("root=UUID={} ro", format_uuid(&root_uuid));
    for c in consoles {
        let _ = write!(line, " console={c}");
    }
    let extra = recipe.boot.options.cmdline.trim();
    if !extra.is_empty() {
        line.push(' ');
        line.push_str(extra);
    }
    line
}

fn ext4_options(spec: &Ext4Spec, uuid: [u8; 16], t: Option<i64>) -> Ext4Options {
    Ext4Options {
        block_size: spec.block_size,
        label: spec.label.clone(),
        uuid: Some(uuid),
        timestamp: t.map(Timestamp::from_secs),
        journal: spec.journal,
        inode_ratio: spec.inode_ratio,
        reserved_percent: spec.reserved_percent,
        min_inodes: 0,
        hash_seed: None,
    }
}

/// What goes into the root besides its source, in the order it is
/// applied: the profile's files and /etc/fstab (less those skipped and
/// those the recipe gives itself), then the recipe's entries.
fn root_entries(recipe: &Recipe, root: &Tree, ids: &FstabIds<'_>) -> Result<Vec<Entry>> {
    let mut generated = Vec::new();
    if let Some(profile) = recipe.profile {
        let account = account(recipe, root)?;
        generated.extend(profile.files(&recipe.hostname, &recipe.ec2, &account));
    }
    if recipe.fstab {
        generated.push(Entry {
            path: "/etc/fstab".into(),
            kind: EntryKind::Text(fstab(recipe, ids)),
            mode: 0o644,
            owner: (0, 0),
            origin: Origin::Fstab,
        });
    }
    for (i, skip) in recipe.profile_skip.iter().enumerate() {
        if !generated.iter().any(|e| &e.path == skip) {
            return Err(recipe.places.error(
                &format!("profile_skip[{}]", i + 1),
                format!("the profile adds no {skip}"),
            ));
        }
    }
    generated.retain(|e| {
        !recipe.profile_skip.contains(&e.path) && !recipe.entries.iter().any(|r| r.path == e.path)
    });
    generated.extend(recipe.entries.iter().cloned());
    Ok(generated)
}

/// The owner and home of the ec2 profile's SSH keys: root, or the user
/// named in the image's /etc/passwd.
fn account(recipe: &Recipe, root: &Tree) -> Result<Account> {
    let user = &recipe.ec2.user;
    if user == "root" {
        return Ok(Account {
            uid: 0,
            gid: 0,
            home: "/root".into(),
        });
    }
    let missing = || {
        recipe.places.error(
            "ec2.user",
            format!("{user} is not in the image's /etc/passwd (add it to the root source or a [[file]])"),
        )
    };
    let id = root.lookup(b"etc/passwd").ok_or_else(missing)?;
    let NodeKind::File(content) = &root.node(id).kind else {
        return Err(missing());
    };
    let mut text = String::new();
    content
        .reader()?
        .read_to_string(&mut text)
        .map_err(|e| Error::io("/etc/passwd in the image", e))?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[0] == user)
        .and_then(|f| {
            Some(Account {
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .filter(|a| a.home.starts_with('/') && a.home.len() > 1)
        .ok_or_else(missing)
}

/// The identifiers /etc/fstab names, chosen before anything is planned.
struct FstabIds<'a> {
    /// The root filesystem's UUID.
    root: [u8; 16],
    /// Per partition: ext4 options, with the UUID.
    ext4: &'a [Option<Ext4Options>],
    /// Per partition: swap UUID.
    swap: &'a [Option<[u8; 16]>],
    /// The ESP's volume id.
    esp_volume_id: Option<u32>,
}

/// /etc/fstab: the root, the data partitions and the ESP with a mount
/// point, and swap, each by UUID.
fn fstab(recipe: &Recipe, ids: &FstabIds<'_>) -> String {
    let mut text = String::from("# Written by blockimg: filesystems by UUID.\n");
    let _ = writeln!(
        text,
        "UUID={}\t/\text4\tdefaults\t0 1",
        format_uuid(&ids.root)
    );
    for (i, p) in recipe.partitions.iter().enumerate() {
        let ext4_uuid = ids.ext4[i].as_ref().and_then(|o| o.uuid);
        match (&p.mount, ext4_uuid, ids.swap[i], &p.content) {
            (Some(mount), _, _, Content::Esp(_)) => {
                let id = fat::format_volume_id(ids.esp_volume_id.unwrap_or_default());
                let _ = writeln!(text, "UUID={id}\t{mount}\tvfat\tumask=0077\t0 2");
            }
            (Some(mount), Some(uuid), _, _) => {
                let _ = writeln!(
                    text,
                    "UUID={}\t{mount}\text4\tdefaults\t0 2",
                    format_uuid(&uuid)
                );
            }
            (_, _, Some(uuid), _) => {
                let _ = writeln!(text, "UUID={}\tnone\tswap\tsw\t0 0", format_uuid(&uuid));
            }
            _ => {}
        }
    }
    text
}

/// The manifest directive that makes `e`.
fn directive(e: &Entry) -> Directive {
    let path = e.path.as_bytes().to_vec();
    match &e.kind {
        EntryKind::File(host) => Directive::File {
            path,
            mode: e.mode,
            owner: e.owner,
            host: host.clone(),
        },
        EntryKind::Text(text) => Directive::Data {
            path,
            mode: e.mode,
            owner: e.owner,
            data: Arc::from(text.as_bytes()),
        },
        EntryKind::Dir => Directive::Dir {
            path,
            mode: e.mode,
            owner: e.owner,
        },
        EntryKind::Symlink(target) => Directive::Symlink {
            path,
            target: target.as_bytes().to_vec(),
            owner: e.owner,
        },
    }
}

fn describe_entry(e: &Entry) -> Added {
    let (uid, gid) = e.owner;
    let what = match &e.kind {
        EntryKind::File(host) => format!(
            "file {:04o} {uid}:{gid}, copy of {}",
            e.mode,
            host.display()
        ),
        EntryKind::Text(text) => format!("file {:04o} {uid}:{gid}, {} bytes", e.mode, text.len()),
        EntryKind::Dir => format!("dir {:04o} {uid}:{gid}", e.mode),
        EntryKind::Symlink(target) => format!("symlink -> {target}"),
    };
    let origin = match &e.origin {
        Origin::Recipe(line) => format!("line {line}"),
        Origin::Profile(p) => format!("{} profile", p.name()),
        Origin::Fstab => "fstab".into(),
    };
    Added {
        path: e.path.clone(),
        what,
        origin,
    }
}

impl Prepared<'_> {
    /// The files and directories added to the root, in order.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let text = "[disk]\nsize = \"16M\"\n[[symlink]]\npath = \"/sbin/init\"\ntarget = \"/bin/busybox\"\n";
    /// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
    /// let prepared = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?;
    /// let added = prepared.added();
    /// assert!(added.iter().any(|a| a.path == "/sbin/init"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn added(&self) -> &[Added] {
        &self.added
    }

    /// The disk's partitions.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::PartitionRole;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let text = r#"
    ///     [disk]
    ///     size = "1G"
    ///     table = "gpt"
    ///     [[partition]]
    ///     role = "root"
    ///     size = "512M"
    ///     [[partition]]
    ///     role = "swap"
    ///     size = "128M"
    ///     [[partition]]
    ///     role = "data"
    /// "#;
    /// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
    /// let prepared = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?; // nothing written yet
    /// let layout = prepared.layout();
    /// assert_eq!(layout.partitions.len(), 3);
    /// assert_eq!(layout.find(PartitionRole::Swap).map(|p| p.size), Some(128 << 20));
    /// # Ok(())
    /// # }
    /// ```
    pub fn layout(&self) -> &DiskLayout {
        &self.layout
    }

    /// Plans every filesystem and installs the boot loader: the whole disk,
    /// ready to be written.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::sink::{open_output, Destination, OutputFormat, OutputOptions};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let text = "[disk]\nsize = \"16M\"\n[[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
    /// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
    /// let prepared = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?;
    ///
    /// // Write the planned disk somewhere the recipe does not name.
    /// let disk = prepared.plan()?;
    /// let dest = Destination::File(dir.path().join("elsewhere.vhd"));
    /// let mut output = open_output(&dest, disk.disk_size(), &OutputOptions::new(OutputFormat::Vhd, false)?)?;
    /// disk.write_to(output.sink())?;
    /// output.finish()?;
    /// assert!(blockimg::disk_format::open(dest.path())?.size() >= 16 << 20); // VHD rounds up
    /// # Ok(())
    /// # }
    /// ```
    pub fn plan(&self) -> Result<PlannedDisk<'_>> {
        let mut contents = Vec::new();
        for (i, p) in self.recipe.partitions.iter().enumerate() {
            let options = self.ext4[i].clone().unwrap_or_default();
            contents.push(match &p.content {
                Content::Root => PartitionContent::Ext4 {
                    tree: &self.root,
                    options,
                },
                Content::Ext4 { .. } => match &self.data[i] {
                    Some(tree) => PartitionContent::Ext4 { tree, options },
                    None => PartitionContent::Empty,
                },
                Content::Swap { label, .. } => PartitionContent::Swap {
                    uuid: self.swap[i].unwrap_or_default(),
                    label: label.clone(),
                },
                Content::Esp(_) => PartitionContent::Fat(self.esp.clone()),
                Content::Raw {
                    source: Some(image),
                } => PartitionContent::Image(image.clone()),
                Content::BiosBoot | Content::Raw { source: None } => PartitionContent::Empty,
            });
        }
        let mut disk = plan_partitions(self.layout.clone(), contents)?;
        boot::install(&mut disk, self.recipe.boot.mode, &self.recipe.boot.options)?;
        Ok(disk)
    }

    /// Plans the disk ([`Prepared::plan`]) and writes every output, each
    /// under a temporary name; only when all are complete and synced are
    /// they renamed into place, so a build that fails leaves none of them
    /// (and existing files under their names untouched). An output that
    /// exists is refused unless `overwrite`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let text = r#"
    /// [disk]
    /// size = "8M"
    /// [[output]]
    /// path = "disk.img"
    /// "#;
    /// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
    /// let prepared = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?;
    /// assert_eq!(prepared.write(false, &mut blockimg::Silent)?[0].disk_size, 8 << 20);
    /// assert!(prepared.write(false, &mut blockimg::Silent).is_err()); // it exists now
    /// prepared.write(true, &mut blockimg::Silent)?; // replaced
    /// # Ok(())
    /// # }
    /// ```
    pub fn write(&self, overwrite: bool, observer: &mut dyn Observer) -> Result<Vec<Written>> {
        let recipe = self.recipe;
        if recipe.outputs.is_empty() {
            return Err(recipe.places.error(
                "output",
                "the recipe has no [[output]] (add one, or give -o)",
            ));
        }
        let disk = self.plan()?;
        let outputs = recipe
            .outputs
            .iter()
            .map(|o| {
                Output::file(&o.path)
                    .format(o.format)
                    .azure(o.azure)
                    .overwrite(overwrite)
            })
            .collect();
        let written = write_outputs(&disk, outputs, recipe.timestamp, observer)?;
        Ok(recipe
            .outputs
            .iter()
            .zip(written)
            .map(|(o, w)| Written {
                path: o.path.clone(),
                format: o.format,
                disk_size: disk.disk_size(),
                file_bytes: w.bytes,
            })
            .collect())
    }

    /// The plan in words, as `blockimg build --dry-run` prints it: the
    /// disk, each partition with its offset, size, type and contents, the
    /// files added to the root and by whom, the kernel command line, the
    /// outputs.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let text = r#"
    /// [disk]
    /// size = "8M"
    /// [[output]]
    /// path = "disk.img"
    /// "#;
    /// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
    /// let plan = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?.describe();
    /// assert!(plan.contains("disk.img")); // what `blockimg build --dry-run` prints
    /// assert!(!dir.path().join("disk.img").exists());
    /// # Ok(())
    /// # }
    /// ```
    pub fn describe(&self) -> String {
        let r = self.recipe;
        let l = &self.layout;
        let mut s = String::new();
        let _ = writeln!(s, "recipe: {}", r.path.display());
        if let Some(p) = r.profile {
            let _ = writeln!(s, "profile: {}", p.name());
        }
        let _ = writeln!(
            s,
            "disk: {} ({} bytes), {}, boot {}",
            format_size(l.disk_size),
            l.disk_size,
            l.table.name(),
            r.boot.mode.name()
        );
        for (i, p) in l.partitions.iter().enumerate() {
            let content = match &r.partitions[i].content {
                Content::Root | Content::Ext4 { .. } => match &self.ext4[i] {
                    Some(o) => format!(
                        "ext4 UUID {} label {:?}",
                        o.uuid.map(|u| format_uuid(&u)).unwrap_or_default(),
                        o.label
                    ),
                    None => "ext4".into(),
                },
                Content::Swap { label, .. } => format!(
                    "swap UUID {} label {label:?}",
                    self.swap[i].map(|u| format_uuid(&u)).unwrap_or_default()
                ),
                Content::Esp(_) => format!(
                    "FAT32 volume id {} label {:?}",
                    fat::format_volume_id(self.esp.volume_id.unwrap_or_default()),
                    self.esp.label
                ),
                Content::BiosBoot => "GRUB core.img".into(),
                Content::Raw { source: None } => "unformatted".into(),
                Content::Raw {
                    source: Some(image),
                } => format!("copy of {}", image.display()),
            };
            let kind = match p.kind {
                Some(crate::disk::PartitionType::Gpt(g)) => {
                    format!(" type {}", format_uuid(&g).to_uppercase())
                }
                Some(crate::disk::PartitionType::Mbr(b)) => format!(" type 0x{b:02x}"),
                None => String::new(),
            };
            let mount = r.partitions[i]
                .mount
                .as_ref()
                .map(|m| format!(", mounted at {m}"))
                .unwrap_or_default();
            let name = if l.table == crate::disk::PartitionTable::Gpt {
                format!(" name {:?}", p.name)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  partition {}: {}{kind}{name}, start {} (sector {}), size {} ({} bytes): {content}{mount}",
                p.number,
                role_word(p.role),
                p.start,
                p.start / 512,
                format_size(p.size),
                p.size
            );
        }
        let _ = writeln!(
            s,
            "root: {}",
            r.root
                .source
                .as_ref()
                .map_or("empty".into(), |p| p.display().to_string())
        );
        if r.root.adjust.base_layout {
            let _ = writeln!(
                s,
                "  + the base layout where the source has nothing: /dev (console, null), /proc, /sys, /run, /tmp, /mnt, /media, /boot, /var/run, /var/lock (root.base_layout)"
            );
        }
        for a in &self.added {
            let _ = writeln!(s, "  + {} ({}; {})", a.path, a.what, a.origin);
        }
        if r.boot.mode != BootMode::None {
            let uuid = self.ext4.iter().zip(&r.partitions).find_map(|(o, p)| {
                matches!(p.content, Content::Root)
                    .then(|| o.as_ref().and_then(|o| o.uuid))
                    .flatten()
            });
            let _ = writeln!(
                s,
                "kernel command line: {}",
                kernel_cmdline(r, uuid.unwrap_or_default())
            );
        }
        for o in &r.outputs {
            let _ = writeln!(s, "output: {} ({})", o.path.display(), o.format.name());
        }
        s
    }
}

fn role_word(role: PartitionRole) -> &'static str {
    role.gpt_name()
}
