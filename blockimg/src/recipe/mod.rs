//! Image recipes: a TOML file describing a whole disk (its size, table and
//! partitions, what fills the root and the other filesystems, the boot
//! loader and kernel, the outputs) built with `blockimg build image.toml`
//! or [`build`]. Keys are documented in `docs/RECIPES.md`.
//!
//! The work is done in three steps, each usable on its own:
//!
//! 1. [`parse()`] (or [`load`]) reads and checks the whole recipe: unknown
//!    keys, bad values, missing input files, partitions that overlap or do
//!    not fit and contradicting settings are refused with the key and its
//!    line, before anything is read or written. Relative paths are taken
//!    from the recipe's directory.
//! 2. [`prepare`] reads the sources into trees, adds what the profile and
//!    the recipe's entries ask for, builds an initramfs if asked, puts the
//!    boot files in and lays out the disk through the front door
//!    ([`DiskBuilder::partitions`](crate::DiskBuilder::partitions) and
//!    [`DiskBuilder::prepare`](crate::DiskBuilder::prepare)): a
//!    [`Prepared`] recipe, whose [`Prepared::describe`] is what `--dry-run`
//!    prints. Still nothing is written.
//! 3. [`Prepared::write`] plans every filesystem, installs the boot loader
//!    and writes each output (each atomically), as
//!    [`PreparedDisk::write`](crate::PreparedDisk::write) does for any
//!    embedder.
//!
//! (The file is over 600 lines because every type of the recipe model
//! and each of its fields carry their documentation: about 450 of its
//! lines are comments.)
//!
//! # Example
//!
//! ```
//! # fn main() -> blockimg::Result<()> {
//! let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
//! let text = r#"
//! timestamp = 1700000000
//!
//! [disk]
//! size = "64M"
//! table = "gpt"
//!
//! [[output]]
//! path = "disk.img"
//!
//! [[partition]]
//! role = "root"
//!
//! [[partition]]
//! role = "swap"
//! size = "8M"
//!
//! [[text]]
//! path = "/etc/hostname"
//! content = "appliance\n"
//! "#;
//! let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
//! let prepared = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?;
//! assert!(prepared.describe().contains("/etc/hostname"));
//! let written = prepared.write(false, &mut blockimg::Silent)?;
//! assert_eq!(written[0].disk_size, 64 << 20);
//! # Ok(())
//! # }
//! ```
//!
//! (The file is over 600 lines because it holds every public type of a
//! recipe, each with its runnable example: about 380 of its lines are
//! documentation.)

pub(crate) mod model;
pub(crate) mod parse;

pub use crate::error::RecipeError;
// Public for the tests crate (the IMDS script).
mod check;
mod partitions;
#[doc(hidden)]
pub mod profile;
mod tables;
pub(crate) mod validate;

mod additions;
mod build;
mod describe;
mod snapshot;

use std::path::{Path, PathBuf};

use crate::arch::Arch;
use crate::boot::{BootMode, BootOptions};
use crate::disk::fat::FatFormat;
use crate::disk::layout::{PartitionSpec, PartitionTable};
use crate::error::{Error, Result};
use crate::initramfs::compress::Compression;
use crate::initramfs::InitramfsOptions;
use crate::report::Observer;
use crate::sink::OutputFormat;
use crate::source::root::TreeAdjust;
use crate::source::tar::OutsideRoot;

pub use additions::Added;
pub use build::{prepare, Prepared, Written};
pub(crate) use parse::Places;
pub use profile::Profile;

/// A checked recipe: every value parsed, every path absolute, the
/// profile's defaults applied where the recipe left a setting out.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// hostname = "appliance"
/// [disk]
/// size = "64M"
/// [[output]]
/// path = "disk.vhd"
/// [[text]]
/// path = "/etc/motd"
/// content = "hello\n"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// assert_eq!((recipe.hostname.as_str(), recipe.size), ("appliance", Some(64 << 20)));
/// assert_eq!(recipe.outputs[0].path, dir.path().join("disk.vhd")); // paths made absolute
/// assert_eq!(recipe.entries[0].path, "/etc/motd");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Recipe {
    /// The recipe file.
    pub path: PathBuf,
    /// The profile.
    pub profile: Option<Profile>,
    /// The architecture the disk boots on (`arch`, default x86-64): what
    /// an image registration names (EC2's `--architecture`).
    pub arch: Arch,
    /// Build time: `timestamp`, else `SOURCE_DATE_EPOCH`, else `None` (the
    /// clock, and random identifiers).
    pub timestamp: Option<i64>,
    /// The machine's name, for profiles.
    pub hostname: String,
    /// Whether /etc/fstab is written.
    pub fstab: bool,
    /// Profile files left out.
    pub profile_skip: Vec<String>,
    /// The partition table.
    pub table: PartitionTable,
    /// The disk's size; `None` for `auto` (what the partitions need, the
    /// root's headroom included).
    pub size: Option<u64>,
    /// The outputs.
    pub outputs: Vec<OutputSpec>,
    /// The partitions, in table order.
    pub partitions: Vec<PartitionPlan>,
    /// What fills the root filesystem.
    pub root: RootSpec,
    /// Files, directories and symlinks added to the root, in order.
    pub entries: Vec<Entry>,
    /// The boot loader and what it boots.
    pub boot: BootSpec,
    /// Settings of the `ec2` profile.
    pub ec2: Ec2Settings,
    /// `[register]`: the machine image registered from the snapshot
    /// output once it is complete.
    pub register: Option<crate::ebs::RegisterOptions>,
    /// Where each key was written, for messages.
    pub(crate) places: Places,
}

/// One output file.
///
/// # Examples
///
/// ```
/// use blockimg::sink::OutputFormat;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [[output]]
/// path = "disk.vhd"
/// [[output]]
/// path = "azure.vhd"
/// format = "vhd-fixed"
/// azure = true
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// assert_eq!(recipe.outputs[0].format, OutputFormat::Vhd); // from the extension
/// assert_eq!((recipe.outputs[1].format, recipe.outputs[1].azure), (OutputFormat::VhdFixed, true));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutputSpec {
    /// Where it is written (empty for a snapshot).
    pub path: PathBuf,
    /// Its format.
    pub format: OutputFormat,
    /// A fixed VHD sized for Azure.
    pub azure: bool,
    /// With [`OutputFormat::EbsSnapshot`]: how the snapshot is made.
    pub snapshot: Option<crate::ebs::SnapshotOptions>,
}

/// One partition and what goes into it.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [disk]
/// size = "1G"
/// [[partition]]
/// role = "root"
/// size = "auto"
/// [[partition]]
/// role = "data"
/// mount = "/srv"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// let (root, data) = (&recipe.partitions[0], &recipe.partitions[1]);
/// assert!(root.auto && root.spec.size.is_none()); // sized by what the tree needs
/// assert_eq!(data.mount.as_deref(), Some("/srv"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PartitionPlan {
    /// Its place and table entry; `size` is `None` for the partition
    /// filling the free space and for `auto` sizes.
    pub spec: PartitionSpec,
    /// Sized to hold its tree plus headroom.
    pub auto: bool,
    /// What it holds.
    pub content: Content,
    /// Where /etc/fstab mounts it (data partitions, the ESP).
    pub mount: Option<String>,
}

/// What a partition holds.
///
/// # Examples
///
/// ```
/// use blockimg::recipe::Content;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [disk]
/// table = "gpt"
/// [[partition]]
/// role = "swap"
/// size = "64M"
/// [partition.swap]
/// label = "swap"
/// [[partition]]
/// role = "root"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// assert!(matches!(&recipe.partitions[0].content, Content::Swap { label, .. } if label == "swap"));
/// assert!(matches!(recipe.partitions[1].content, Content::Root));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub enum Content {
    /// The root filesystem ([`Recipe::root`]).
    Root,
    /// The EFI system partition (FAT32), formatted as given; a volume id
    /// left `None` is chosen when the build starts.
    Esp(FatFormat),
    /// The BIOS boot partition.
    BiosBoot,
    /// Linux swap.
    Swap {
        /// Label.
        label: String,
        /// UUID; `None` derives or draws one.
        uuid: Option<[u8; 16]>,
    },
    /// An ext4 filesystem from a directory or archive, or empty.
    Ext4 {
        /// The source, if any.
        source: Option<PathBuf>,
        /// Filesystem settings.
        ext4: Ext4Spec,
    },
    /// Unformatted space, or a copy of a host disk image.
    Raw {
        /// The image (raw, VHD, VMDK or qcow2) copied into the partition;
        /// `None` leaves it reading as zeros.
        source: Option<PathBuf>,
    },
}

/// Settings of an ext4 filesystem.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [root.ext4]
/// label = "root"
/// block_size = 1024
/// journal = false
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// let ext4 = &recipe.root.ext4;
/// assert_eq!((ext4.label.as_str(), ext4.block_size, ext4.journal), ("root", 1024, false));
/// assert_eq!(ext4.headroom, 20); // the default
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ext4Spec {
    /// Volume label.
    pub label: String,
    /// UUID; `None` derives or draws one.
    pub uuid: Option<[u8; 16]>,
    /// Block size.
    pub block_size: u32,
    /// A journal.
    pub journal: bool,
    /// Free space of an `auto` size, in percent.
    pub headroom: u32,
    /// Bytes per inode; `None` chooses by size as mke2fs does.
    pub inode_ratio: Option<u64>,
    /// Blocks reserved for root, in percent.
    pub reserved_percent: u8,
}

/// What fills the root filesystem.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// std::fs::create_dir(dir.path().join("rootfs"))?;
/// let text = r#"
/// [root]
/// source = "rootfs"
/// owner = "0:0"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// assert_eq!(recipe.root.source, Some(dir.path().join("rootfs")));
/// assert_eq!(recipe.root.adjust.owner, Some((0, 0)));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct RootSpec {
    /// A directory or tar archive; `None` starts empty.
    pub source: Option<PathBuf>,
    /// Owners, the base layout and manifests.
    pub adjust: TreeAdjust,
    /// What happens to archive members outside the root.
    pub outside: OutsideRoot,
    /// Filesystem settings.
    pub ext4: Ext4Spec,
}

/// Where an entry comes from.
///
/// # Examples
///
/// ```
/// use blockimg::recipe::Origin;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [[dir]]
/// path = "/srv"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// assert_eq!(recipe.entries[0].origin, Origin::Recipe(2)); // the line of its table
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The recipe, at this line.
    Recipe(usize),
    /// A profile.
    Profile(Profile),
    /// The `fstab` setting.
    Fstab,
}

/// A file, directory or symlink put into the root.
///
/// # Examples
///
/// ```
/// use blockimg::recipe::EntryKind;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [[symlink]]
/// path = "/sbin/init"
/// target = "/bin/busybox"
/// [[text]]
/// path = "/etc/hostname"
/// content = "appliance\n"
/// mode = "0600"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// let entry = |path: &str| recipe.entries.iter().find(|e| e.path == path).ok_or("missing");
/// assert_eq!(entry("/sbin/init")?.kind, EntryKind::Symlink("/bin/busybox".into()));
/// assert_eq!((entry("/etc/hostname")?.mode, entry("/etc/hostname")?.owner), (0o600, (0, 0)));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Absolute path in the image.
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Permissions.
    pub mode: u16,
    /// Owner and group.
    pub owner: (u32, u32),
    /// Who asked for it.
    pub origin: Origin,
}

/// What an [`Entry`] is.
///
/// # Examples
///
/// ```
/// use blockimg::recipe::EntryKind;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("issue"), "Welcome\n")?; // checked when the recipe is read
/// let text = r#"
/// [[file]]
/// path = "/etc/issue"
/// source = "issue"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// assert_eq!(recipe.entries[0].kind, EntryKind::File(dir.path().join("issue")));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A copy of a host file.
    File(PathBuf),
    /// A file with these contents.
    Text(String),
    /// A directory.
    Dir,
    /// A symlink to this target.
    Symlink(String),
}

/// The boot loader and what it boots.
///
/// # Examples
///
/// ```
/// use blockimg::boot::BootMode;
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [boot]
/// mode = "none"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// assert_eq!(recipe.boot.mode, BootMode::None);
/// assert!(recipe.boot.initramfs.is_none());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct BootSpec {
    /// Which boot loaders.
    pub mode: BootMode,
    /// Kernel, initrd, command line, consoles, GRUB's directories.
    pub options: BootOptions,
    /// An initramfs built by blockimg, put at /boot/initrd.img.
    pub initramfs: Option<InitramfsSpec>,
}

/// An initramfs to build.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [boot]
/// mode = "bios"
/// [boot.initramfs]
/// compress = "zstd"
/// modules = ["virtio_blk"]
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// let initramfs = recipe.boot.initramfs.ok_or("no initramfs")?;
/// assert_eq!(initramfs.compression, blockimg::initramfs::compress::Compression::Zstd);
/// assert_eq!(initramfs.options.modules, ["virtio_blk"]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct InitramfsSpec {
    /// What goes in.
    pub options: InitramfsOptions,
    /// Its compression.
    pub compression: Compression,
    /// The directory `binaries`, their libraries and the default busybox
    /// are looked up in (another architecture's system unpacked on this
    /// host); `None`: `/`.
    pub sysroot: Option<PathBuf>,
}

/// Settings of the `ec2` profile.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// profile = "ec2"
/// [ec2]
/// ssh_authorized_keys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDyRnLz7 admin"]
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// assert_eq!(recipe.ec2.ssh_keys.len(), 1);
/// assert_eq!((recipe.ec2.user.as_str(), recipe.ec2.interface.as_str()), ("root", "eth0"));
/// assert_eq!(recipe.table, blockimg::disk::layout::PartitionTable::Gpt); // the profile's default
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ec2Settings {
    /// Public keys written to the user's authorized_keys.
    pub ssh_keys: Vec<String>,
    /// Whose keys (default `root`).
    pub user: String,
    /// A first-boot script fetches the key from the instance metadata.
    pub imds_ssh_key: bool,
    /// DHCP on `interface` (`network = "dhcp"`, the default).
    pub dhcp: bool,
    /// The interface (default `eth0`).
    pub interface: String,
}

/// Reads and checks the recipe file at `path` ([`parse()`]).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("motd"), "welcome\n")?;
/// std::fs::write(dir.path().join("image.toml"), r#"
/// [disk]
/// size = "32M"
///
/// [[output]]
/// path = "disk.vhd"
///
/// [[file]]
/// path = "/etc/motd"
/// source = "motd"  # relative to the recipe
/// "#)?;
///
/// let recipe = blockimg::recipe::load(&dir.path().join("image.toml"))?;
/// let written = blockimg::recipe::build(&recipe, false, &mut blockimg::Silent)?;
/// assert_eq!(written[0].path, dir.path().join("disk.vhd"));
/// assert_eq!(written[0].format, blockimg::sink::OutputFormat::Vhd);
/// # Ok(())
/// # }
/// ```
pub fn load(path: &Path) -> Result<Recipe> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse(&text, path)
}

/// Parses and checks a recipe's `text`, as if read from `path` (relative
/// paths are taken from its directory): every value is checked, and
/// errors name the line.
///
/// # Errors
///
/// [`RecipeError::At`], naming the key and its line, for anything wrong.
///
/// # Examples
///
/// ```
/// use std::path::Path;
///
/// // Mistakes are refused before anything is read or written, with their line.
/// let text = "[disk]\nsize = \"64M\"\ntable = \"gtp\"\n";
/// let error = blockimg::recipe::parse(text, Path::new("image.toml")).unwrap_err();
/// let message = error.to_string();
/// assert!(message.contains("image.toml:3"), "{message}");
/// assert!(message.contains("table"), "{message}");
/// ```
pub fn parse(text: &str, path: &Path) -> Result<Recipe> {
    let (file, places) = parse::parse_file(text, path)?;
    validate::validate(file, places, path)
}

/// Builds the recipe: [`prepare`], then [`Prepared::write`].
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let text = r#"
///     timestamp = 1700000000   # reproducible: same recipe, same bytes
///     [disk]
///     size = "16M"
///     [[output]]
///     path = "disk.img"
///     [[output]]
///     path = "disk.vmdk"
///     [[text]]
///     path = "/etc/hostname"
///     content = "appliance\n"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// let written = blockimg::recipe::build(&recipe, false, &mut blockimg::Silent)?;
/// assert_eq!(written.len(), 2); // one disk, two outputs
/// assert!(written.iter().all(|w| w.disk_size == 16 << 20));
/// # Ok(())
/// # }
/// ```
pub fn build(
    recipe: &Recipe,
    overwrite: bool,
    observer: &mut dyn Observer,
) -> Result<Vec<Written>> {
    prepare(recipe, observer)?.write(overwrite, observer)
}
