//! Building a checked recipe: the trees read and completed (profile files,
//! fstab, the recipe's entries, an initramfs, the boot files), the disk
//! laid out, then every filesystem planned and each output written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::additions::{
    boot_added, describe_entry, directive, kernel_cmdline, root_entries, Added, FstabIds,
};
use super::partitions::layout_error;
use super::{Content, Ext4Spec, Origin, Recipe};
use crate::arch::Arch;
use crate::boot::{self, BootMode, GRUB_CFG_PATH, INITRD_PATH, KERNEL_PATH};
use crate::builder::{DiskBuilder, Output, Partition, PartitionFill, PreparedDisk, Source};
use crate::disk::fat::FatFormat;
use crate::disk::layout::DiskLayout;
use crate::error::Result;
use crate::ext4::Ext4Options;
use crate::identity::{id32, uuid_for};
use crate::image::DiskSize;
use crate::image::PlannedDisk;
use crate::initramfs::hostfs::HostFs;
use crate::initramfs::{archive_bytes, assemble};
use crate::report::Observer;
use crate::sink::OutputFormat;
use crate::size::format_size;
use crate::source::manifest::{Directive, Manifest};
use crate::source::root::{build_time, load_root, load_root_with};
use crate::tree::{Metadata, Timestamp, Tree};

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
    /// Size of the file (bytes sent, for a snapshot).
    pub file_bytes: u64,
    /// The snapshot, for an EBS snapshot output.
    pub snapshot: Option<crate::ebs::Snapshot>,
    /// The machine image `[register]` made from that snapshot.
    pub image: Option<crate::ebs::Image>,
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
    pub(super) recipe: &'r Recipe,
    /// The disk: its trees read and completed, its partitions laid out.
    pub(super) disk: PreparedDisk,
    pub(super) added: Vec<Added>,
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
    let mut root = load_root_with(
        recipe.root.source.as_deref(),
        t,
        recipe.root.outside,
        observer,
    )?;
    recipe.root.adjust.apply(&mut root, t)?;
    // Identifiers are chosen first: grub.cfg and /etc/fstab name them.
    let Contents {
        root_uuid,
        ext4,
        swap,
        data,
        esp,
    } = contents(recipe)?;
    let ids = FstabIds {
        root: root_uuid,
        ext4: &ext4,
        swap: &swap,
        esp_volume_id: esp.volume_id,
    };
    let mut added = add_entries(recipe, &mut root, &ids)?;
    if recipe.boot.mode != BootMode::None {
        added.extend(boot_files(recipe, &root, root_uuid)?);
    }
    let root_ext4 = ext4_options(&recipe.root.ext4, root_uuid, t);
    let partitions = recipe
        .partitions
        .iter()
        .zip(ext4.into_iter().zip(swap).zip(data))
        .map(|(p, ((options, swap), tree))| {
            let fill = match (&p.content, options, tree) {
                (Content::Root, ..) => PartitionFill::Root,
                (Content::Ext4 { .. }, Some(options), Some(tree)) => {
                    PartitionFill::Ext4 { tree, options }
                }
                (Content::Swap { label, .. }, ..) => PartitionFill::Swap {
                    uuid: swap.unwrap_or_default(),
                    label: label.clone(),
                },
                (Content::Esp(_), ..) => PartitionFill::Esp(esp.clone()),
                (
                    Content::Raw {
                        source: Some(image),
                    },
                    ..,
                ) => PartitionFill::Image(image.clone()),
                _ => PartitionFill::Empty,
            };
            let partition = Partition::new(p.spec.clone(), fill);
            match (&p.content, p.auto) {
                (Content::Root, true) => partition.fit(recipe.root.ext4.headroom),
                (Content::Ext4 { ext4, .. }, true) => partition.fit(ext4.headroom),
                (_, true) => partition.fit(0),
                (_, false) => partition,
            }
        })
        .collect();
    let size = match recipe.size {
        Some(bytes) => DiskSize::Exact(bytes),
        None => DiskSize::Auto {
            headroom_percent: recipe.root.ext4.headroom,
        },
    };
    let disk = DiskBuilder::new(Source::Tree(root))
        .table(recipe.table)
        .size(size)
        .ext4(root_ext4)
        .timestamp(t)
        .boot(recipe.boot.mode, recipe.boot.options.clone())
        .arch(recipe.arch)
        .partitions(partitions)
        .prepare(&outputs(recipe, false)?, observer)
        .map_err(|e| layout_error(recipe, e))?;
    Ok(Prepared {
        recipe,
        disk,
        added,
    })
}

/// The recipe's outputs.
fn outputs(recipe: &Recipe, overwrite: bool) -> Result<Vec<Output>> {
    recipe
        .outputs
        .iter()
        .map(|o| match &o.snapshot {
            #[cfg(feature = "ebs")]
            Some(options) => Ok(Output::snapshot(options.clone())),
            #[cfg(not(feature = "ebs"))]
            Some(_) => Err(crate::Error::InvalidOption {
                option: "output".into(),
                reason: "EBS snapshots need blockimg built with the ebs feature".into(),
            }),
            None => Ok(Output::file(&o.path)
                .format(o.format)
                .azure(o.azure)
                .overwrite(overwrite)),
        })
        .collect()
}

/// What each partition holds, with its identifiers derived (under a fixed
/// timestamp) or random where the recipe gives none.
struct Contents {
    /// The root filesystem's UUID.
    root_uuid: [u8; 16],
    /// Per partition: the ext4 options of the root and ext4 data partitions.
    ext4: Vec<Option<Ext4Options>>,
    /// Per partition: the UUID of a swap partition.
    swap: Vec<Option<[u8; 16]>>,
    /// Per partition: the tree of an ext4 data partition.
    data: Vec<Option<Tree>>,
    /// The ESP's format, its volume id chosen.
    esp: FatFormat,
}

/// Reads the data partitions' sources and chooses every identifier.
fn contents(recipe: &Recipe) -> Result<Contents> {
    let t = recipe.timestamp;
    let time = build_time(t);
    let derive = t.is_some();
    let secs = t.unwrap_or(0).to_le_bytes();
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

    Ok(Contents {
        root_uuid,
        ext4,
        swap,
        data,
        esp,
    })
}

/// Puts the recipe's entries, the profile's files, /etc/fstab and the
/// initramfs into the root; returns what was added, for `--dry-run`.
fn add_entries(recipe: &Recipe, root: &mut Tree, ids: &FstabIds<'_>) -> Result<Vec<Added>> {
    let t = recipe.timestamp;
    let time = build_time(t);
    let entries = root_entries(recipe, root, ids)?;
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
        let host = HostFs::new(spec.sysroot.as_deref().unwrap_or(Path::new("/")));
        let built = assemble(start, host, &spec.options)?;
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
    manifest.apply(root, time)?;
    Ok(added)
}

/// The kernel, initrd and GRUB menu that go into the root of a bootable
/// disk, for `--dry-run`; refuses a disk with no kernel to boot.
fn boot_files(recipe: &Recipe, root: &Tree, root_uuid: [u8; 16]) -> Result<Vec<Added>> {
    let mut added = Vec::new();
    if recipe.boot.options.kernel.is_none() && boot::menu_entries(root).is_empty() {
        return Err(recipe.places.error(
            "boot.kernel",
            "no kernel to boot: give boot.kernel, or have /boot/vmlinuz or /boot/vmlinuz-VERSION in the root",
        ));
    }
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
    Ok(added)
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

    /// The disk's boot mode and architecture, as a registration of its
    /// image needs them (EC2's `register-image --boot-mode` is
    /// [`BootMode::ec2_boot_mode`], `--architecture` is
    /// [`Arch::name`](crate::arch::Arch::name)).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::arch::Arch;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let text = "profile = \"ec2\"\narch = \"arm64\"\n[disk]\nsize = \"128M\"\n[boot]\nkernel = \"vmlinuz\"\n";
    /// std::fs::write(dir.path().join("vmlinuz"), b"a kernel")?;
    /// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
    /// let (mode, arch) = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?.boot();
    /// assert_eq!((mode.ec2_boot_mode(), arch.name()), (Some("uefi"), "arm64")); // Graviton
    /// # Ok(())
    /// # }
    /// ```
    pub fn boot(&self) -> (BootMode, Arch) {
        self.disk.boot()
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
        self.disk.layout()
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
        self.disk.plan()
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
        if recipe.register.is_some() && !recipe.outputs.iter().any(|o| o.snapshot.is_some()) {
            return Err(recipe.places.error(
                "register",
                "[register] needs an [[output]] with format = \"ebs-snapshot\" (or --to-snapshot)",
            ));
        }
        let written = self.disk.write(outputs(recipe, overwrite)?, observer)?;
        let mut written: Vec<Written> = recipe
            .outputs
            .iter()
            .zip(written)
            .map(|(o, w)| Written {
                path: o.path.clone(),
                format: o.format,
                disk_size: w.summary.disk_size,
                file_bytes: w.output_bytes.unwrap_or_default(),
                snapshot: w.snapshot,
                image: None,
            })
            .collect();
        register(recipe, &mut written)?;
        Ok(written)
    }
}

/// Registers the machine image `[register]` asks for from the snapshot
/// among `written`.
#[cfg(feature = "ebs")]
fn register(recipe: &Recipe, written: &mut [Written]) -> Result<()> {
    let Some(options) = &recipe.register else {
        return Ok(());
    };
    let attempts = recipe
        .outputs
        .iter()
        .find_map(|o| o.snapshot.as_ref().map(|s| s.attempts))
        .unwrap_or_default();
    for w in written.iter_mut() {
        if let Some(snapshot) = &w.snapshot {
            let ebs = crate::ebs::Ebs::with_attempts(attempts)?;
            w.image = Some(crate::ebs::register_image(&ebs, snapshot, options)?);
        }
    }
    Ok(())
}

/// Without the `ebs` feature no snapshot was made, so there is nothing to
/// register (the snapshot output was refused).
#[cfg(not(feature = "ebs"))]
fn register(_: &Recipe, _: &mut [Written]) -> Result<()> {
    Ok(())
}
