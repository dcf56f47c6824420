//! EBS snapshots and machine images on the command line: the options
//! `mkdisk --to-snapshot`, `build --to-snapshot` and `upload` share, the
//! registration `--register` asks for, and `blockimg upload` itself.

use std::path::PathBuf;
#[cfg(feature = "ebs")]
use std::time::Instant;

use blockimg::arch::Arch;
use blockimg::boot::BootMode;
use blockimg::ebs::{
    parse_tag, AmiBootMode, Image, Manifest, RegisterOptions, Snapshot, SnapshotOptions,
};
#[cfg(feature = "ebs")]
use blockimg::ebs::{register_image, upload_image, Ebs};
use blockimg::size::format_size;
use blockimg::{Error, Output, Result};
use clap::ValueEnum;

#[cfg(feature = "ebs")]
use super::terminal::Terminal;

/// `--to-snapshot`, with how the snapshot is made and registered: what
/// `mkdisk` and `build` share.
#[derive(clap::Args)]
pub struct ToSnapshotArgs {
    /// Write the disk into a new EBS snapshot as it is built (EBS direct
    /// APIs; region and credentials the AWS way, AWS_ENDPOINT_URL
    /// honoured). The disk is laid out for a volume of whole GiB.
    #[arg(long)]
    pub to_snapshot: bool,
    #[command(flatten)]
    pub snapshot: SnapshotArgs,
    #[command(flatten)]
    pub register: RegisterArgs,
}

impl ToSnapshotArgs {
    /// Refuses --register without a snapshot (--to-snapshot, or
    /// `has_snapshot`: a recipe's snapshot output), and a registration that
    /// cannot be made for a disk booting with `mode` on `arch`, before
    /// anything is built.
    pub fn check(&self, mode: BootMode, arch: Arch, has_snapshot: bool) -> Result<()> {
        match (
            self.to_snapshot || has_snapshot,
            self.register.register.is_some(),
        ) {
            (true, _) => self.register.check(Some((mode, arch))),
            (false, true) => Err(invalid("register", "needs --to-snapshot".into())),
            (false, false) => Ok(()),
        }
    }

    /// The output --to-snapshot asks for.
    pub fn output(&self) -> Result<Output> {
        #[cfg(feature = "ebs")]
        return Ok(Output::snapshot(self.snapshot.options()?));
        #[cfg(not(feature = "ebs"))]
        Err(not_built())
    }

    /// The registration --register asks for, of a disk booting with `mode`
    /// on `arch`.
    pub fn register_options(&self, mode: BootMode, arch: Arch) -> Result<Option<RegisterOptions>> {
        self.register
            .options(Some((mode, arch)), &self.snapshot.tags)
    }

    /// Says what the snapshot upload did, and registers the image when
    /// asked.
    pub fn report(
        &self,
        snapshot: &Snapshot,
        mode: BootMode,
        arch: Arch,
        quiet: bool,
    ) -> Result<()> {
        print_snapshot(snapshot, quiet);
        self.register
            .register(snapshot, Some((mode, arch)), &self.snapshot, quiet)
    }
}

/// How a snapshot is made.
#[derive(clap::Args)]
pub struct SnapshotArgs {
    /// The snapshot's description.
    #[arg(long)]
    description: Option<String>,
    /// A tag of the snapshot (and of the image with --register); repeat
    /// for more.
    #[arg(long = "tag", value_name = "KEY=VALUE", value_parser = parse_tag)]
    tags: Vec<(String, String)>,
    /// Make an incremental snapshot of this one: only blocks that differ
    /// from it are sent. Needs --parent-block-manifest or --parent-image.
    #[arg(long, value_name = "SNAPSHOT_ID")]
    parent_snapshot: Option<String>,
    /// The block manifest written (--block-manifest) when the parent
    /// snapshot was uploaded.
    #[arg(long, requires = "parent_snapshot", value_name = "FILE")]
    parent_block_manifest: Option<PathBuf>,
    /// The image the parent snapshot was made from (read to hash its
    /// blocks), when its manifest is not at hand.
    #[arg(
        long,
        requires = "parent_snapshot",
        conflicts_with = "parent_block_manifest",
        value_name = "IMAGE"
    )]
    parent_image: Option<PathBuf>,
    /// Write the hashes of the new snapshot's blocks here, for the next
    /// incremental upload.
    #[arg(long, value_name = "FILE")]
    block_manifest: Option<PathBuf>,
    /// Blocks (512 KiB each) sent at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Attempts each call to AWS gets while it fails with throttling,
    /// server errors or dropped connections.
    #[arg(long, default_value_t = 8)]
    attempts: u32,
}

impl SnapshotArgs {
    /// The snapshot's options, with the parent's block hashes read.
    pub fn options(&self) -> Result<SnapshotOptions> {
        let parent = match (
            &self.parent_snapshot,
            &self.parent_block_manifest,
            &self.parent_image,
        ) {
            (None, ..) => None,
            (Some(id), Some(path), _) => {
                let manifest = Manifest::load(path)?;
                if manifest.snapshot != *id {
                    return Err(invalid(
                        "parent-block-manifest",
                        format!(
                            "{} is the manifest of {}, not of {id}",
                            path.display(),
                            manifest.snapshot
                        ),
                    ));
                }
                Some(manifest)
            }
            (Some(id), None, Some(image)) => {
                let mut disk = blockimg::disk_format::open(image)?;
                Some(Manifest::of_image(disk.as_mut(), id)?)
            }
            (Some(_), None, None) => return Err(invalid(
                "parent-snapshot",
                "needs --parent-block-manifest or --parent-image: which blocks the parent holds"
                    .into(),
            )),
        };
        Ok(SnapshotOptions::default()
            .description(self.description.clone())
            .tags(self.tags.clone())
            .parent(parent)
            .manifest(self.block_manifest.clone())
            .concurrency(self.concurrency)
            .attempts(self.attempts))
    }
}

/// Boot modes of a machine image.
#[derive(Clone, Copy, ValueEnum)]
enum BootModeArg {
    /// BIOS.
    LegacyBios,
    /// UEFI.
    Uefi,
    /// UEFI where the instance type has it, else BIOS (a hybrid disk).
    UefiPreferred,
}

/// Registering a machine image from the snapshot.
#[derive(clap::Args)]
pub struct RegisterArgs {
    /// Register a machine image (AMI) of this name from the snapshot and
    /// wait until it is available.
    #[arg(long, value_name = "NAME")]
    register: Option<String>,
    /// The image's architecture (default: the disk's, x86_64 for an
    /// image uploaded).
    #[arg(long, requires = "register", value_parser = ["x86_64", "arm64"])]
    architecture: Option<String>,
    /// The image's boot mode (default: the one the disk's boot loader
    /// needs; legacy-bios, uefi, or uefi-preferred for a hybrid disk).
    #[arg(long, value_enum, requires = "register")]
    boot_mode: Option<BootModeArg>,
    /// The root device's name.
    #[arg(long, default_value = "/dev/xvda", requires = "register")]
    root_device: String,
    /// Register without ENA networking.
    #[arg(long, requires = "register")]
    no_ena: bool,
}

impl RegisterArgs {
    /// The registration asked for, with the boot mode and architecture of
    /// the disk (`disk`, when known) where none is given.
    fn options(
        &self,
        disk: Option<(BootMode, Arch)>,
        tags: &[(String, String)],
    ) -> Result<Option<RegisterOptions>> {
        let Some(name) = &self.register else {
            return Ok(None);
        };
        let boot_mode = match (
            self.boot_mode,
            disk.and_then(|(m, _)| AmiBootMode::of_disk(m)),
        ) {
            (Some(BootModeArg::LegacyBios), _) => AmiBootMode::LegacyBios,
            (Some(BootModeArg::Uefi), _) => AmiBootMode::Uefi,
            (Some(BootModeArg::UefiPreferred), _) => AmiBootMode::UefiPreferred,
            (None, Some(mode)) => mode,
            (None, None) => {
                return Err(invalid(
                    "register",
                    "give --boot-mode: the disk's boot loader is not known (or it has none)".into(),
                ))
            }
        };
        let mut options = RegisterOptions::new(name, boot_mode);
        options.architecture = match (&self.architecture, disk) {
            (Some(architecture), _) => architecture.clone(),
            (None, Some((_, arch))) => arch.name().to_string(),
            (None, None) => Arch::X86_64.name().to_string(),
        };
        options.root_device = self.root_device.clone();
        options.ena = !self.no_ena;
        options.tags = tags.to_vec();
        Ok(Some(options))
    }

    /// Refuses a registration that cannot be made, before anything is
    /// built: `disk` is the disk's boot mode and architecture when known.
    fn check(&self, disk: Option<(BootMode, Arch)>) -> Result<()> {
        self.options(disk, &[]).map(|_| ())
    }

    /// Registers the image when asked, and says so unless `quiet`.
    fn register(
        &self,
        snapshot: &Snapshot,
        disk: Option<(BootMode, Arch)>,
        snapshot_args: &SnapshotArgs,
        quiet: bool,
    ) -> Result<()> {
        let Some(options) = self.options(disk, &snapshot_args.tags)? else {
            return Ok(());
        };
        #[cfg(feature = "ebs")]
        {
            let ebs = Ebs::with_attempts(snapshot_args.attempts)?;
            let image = register_image(&ebs, snapshot, &options)?;
            print_image(&image, &options, snapshot, quiet);
            Ok(())
        }
        #[cfg(not(feature = "ebs"))]
        {
            let _ = (options, snapshot, quiet);
            Err(not_built())
        }
    }
}

/// Says which machine image was registered (only its id when `quiet`).
pub fn print_image(image: &Image, options: &RegisterOptions, snapshot: &Snapshot, quiet: bool) {
    if quiet {
        println!("{}", image.id);
    } else {
        println!(
            "image {}: {} ({}, {}, root {} from {})",
            image.id,
            image.name,
            options.architecture,
            options.boot_mode.name(),
            options.root_device,
            snapshot.id
        );
    }
}

/// Says what a snapshot upload did (only its id when `quiet`).
pub fn print_snapshot(snapshot: &Snapshot, quiet: bool) {
    if quiet {
        println!("{}", snapshot.id);
        return;
    }
    println!(
        "snapshot {}: {} GiB volume, {} blocks sent ({}), {} unchanged from the parent",
        snapshot.id,
        snapshot.volume_gib,
        snapshot.blocks_sent,
        format_size(snapshot.bytes_sent),
        snapshot.blocks_unchanged
    );
}

/// The error of an EBS option in a blockimg built without the `ebs`
/// feature.
#[cfg(not(feature = "ebs"))]
fn not_built() -> Error {
    invalid(
        "to-snapshot",
        "this blockimg was built without EBS snapshots (cargo feature ebs)".into(),
    )
}

fn invalid(option: &str, reason: String) -> Error {
    Error::InvalidOption {
        option: option.into(),
        reason,
    }
}

/// Arguments of `blockimg upload`.
#[derive(clap::Args)]
pub struct UploadArgs {
    /// The disk image to send: raw, VHD, VMDK or qcow2, told by its bytes.
    image: PathBuf,
    #[command(flatten)]
    snapshot: SnapshotArgs,
    #[command(flatten)]
    register: RegisterArgs,
    /// Print only the snapshot's (and image's) id.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `blockimg upload`.
#[cfg(feature = "ebs")]
pub fn run_upload(args: UploadArgs) -> Result<()> {
    let started = Instant::now();
    args.register.check(None)?;
    let options = args.snapshot.options()?;
    let ebs = Ebs::with_attempts(options.attempts)?;
    let snapshot = upload_image(&ebs, &args.image, &options, &mut Terminal::new(args.quiet))?;
    print_snapshot(&snapshot, args.quiet);
    if !args.quiet {
        println!(
            "  from {} in {:.2} s",
            args.image.display(),
            started.elapsed().as_secs_f64()
        );
    }
    args.register
        .register(&snapshot, None, &args.snapshot, args.quiet)
}

/// Runs `blockimg upload`: refused without the `ebs` feature.
#[cfg(not(feature = "ebs"))]
pub fn run_upload(args: UploadArgs) -> Result<()> {
    let _ = (&args.image, args.quiet, &args.register);
    Err(not_built())
}
