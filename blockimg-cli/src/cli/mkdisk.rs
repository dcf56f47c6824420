//! `blockimg mkdisk`: a partitioned, ext4-formatted disk image, optionally
//! filled from a directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use blockimg::boot::{self, add_boot_files, BootMode, BootOptions};
use blockimg::ext4::Ext4Options;
use blockimg::identity::{format_uuid, parse_uuid};
use blockimg::image::{
    plan_disk_fitted, stream_archive_into, BootPartitions, DiskSize, ImageOptions, ImageSummary,
    PartitionRole, PartitionTable, PlannedDisk, StreamSteps,
};
use blockimg::sink::{open_output, virtual_size, Destination, OutputFormat, SparseFile};
use blockimg::size::{format_size, parse_size};
use blockimg::source::root::{build_timestamp, load_root_with, RootSource};
use blockimg::target::{is_block_device, open_build_target};
use blockimg::tree::{Timestamp, Tree};
use blockimg::Result;
use clap::ValueEnum;

use super::common::{parse_owner, TreeArgs};
use super::output_args::{describe, OutputArgs};

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TableArg {
    /// MBR: the root a bootable Linux partition, after the ESP if any.
    Mbr,
    /// GPT: a BIOS boot partition and an ESP when booting needs them, then
    /// the root.
    Gpt,
    /// No partition table: a bare ext4 filesystem image.
    None,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum BootArg {
    /// Not bootable: no boot loader.
    None,
    /// GRUB for BIOS in the MBR and the gap before the first partition (or
    /// a GPT disk's BIOS boot partition).
    Bios,
    /// GRUB for UEFI on an EFI system partition.
    Uefi,
    /// Both on one disk: BIOS and UEFI firmware boot it.
    Hybrid,
}

impl From<BootArg> for BootMode {
    fn from(arg: BootArg) -> BootMode {
        match arg {
            BootArg::None => BootMode::None,
            BootArg::Bios => BootMode::Bios,
            BootArg::Uefi => BootMode::Uefi,
            BootArg::Hybrid => BootMode::Hybrid,
        }
    }
}

/// Arguments of `blockimg mkdisk`.
#[derive(clap::Args)]
pub struct MkdiskArgs {
    /// Disk size: bytes, or with a binary suffix (512M, 6G, 10GiB), or
    /// `auto` for the smallest size that holds the tree plus --headroom.
    #[arg(short, long, allow_hyphen_values = true)]
    size: String,
    /// Free space with --size auto, in percent of the tree's size.
    #[arg(long, default_value_t = 20)]
    headroom: u32,
    /// What fills the root filesystem: a directory, a tar archive (plain,
    /// gzip, xz or zstd, told apart by its bytes), or `-` for an archive on
    /// standard input.
    #[arg(short, long)]
    root: Option<PathBuf>,
    /// Filesystem label (at most 16 bytes).
    #[arg(short = 'L', long, default_value = "")]
    label: String,
    /// Owner of every file in the image, as UID:GID (e.g. 0:0).
    #[arg(long, value_parser = parse_owner)]
    owner: Option<(u32, u32)>,
    /// Partition table.
    #[arg(long, value_enum, default_value = "mbr")]
    table: TableArg,
    /// Filesystem block size in bytes.
    #[arg(short, long, default_value_t = 4096)]
    block_size: u32,
    /// Filesystem UUID (default: random, or derived from --timestamp).
    #[arg(long)]
    uuid: Option<String>,
    /// Time recorded in the image, in seconds since the epoch; newer file
    /// times are clamped to it and identifiers are derived from it, so the
    /// build is reproducible. Defaults to SOURCE_DATE_EPOCH when set.
    #[arg(long)]
    timestamp: Option<i64>,
    /// Do not create a journal.
    #[arg(long)]
    no_journal: bool,
    /// Make the disk bootable with GRUB (needs the host's grub-mkimage).
    #[arg(long, value_enum, default_value = "none")]
    boot: BootArg,
    /// Kernel copied to /boot/vmlinuz (with --boot).
    #[arg(long, requires = "boot")]
    kernel: Option<PathBuf>,
    /// Initramfs copied to /boot/initrd.img (with --boot).
    #[arg(long, requires = "boot")]
    initrd: Option<PathBuf>,
    /// Extra kernel command line (with --boot).
    #[arg(long, default_value = "", requires = "boot")]
    cmdline: String,
    /// GRUB's i386-pc module directory for BIOS (default
    /// /usr/lib/grub/i386-pc).
    #[arg(long, requires = "boot")]
    grub_dir: Option<PathBuf>,
    /// GRUB's x86_64-efi module directory for UEFI (default
    /// /usr/lib/grub/x86_64-efi).
    #[arg(long, requires = "boot")]
    grub_efi_dir: Option<PathBuf>,
    /// Size of the EFI system partition (FAT32) with --boot uefi or hybrid,
    /// rounded up to whole MiB; at least 33M.
    #[arg(long, default_value = "64M")]
    esp_size: String,
    /// Size of the BIOS boot partition holding GRUB's core.img on a GPT
    /// disk with --boot bios or hybrid.
    #[arg(long, default_value = "1M")]
    bios_boot_size: String,
    /// Replace OUTPUT if it exists; for a block device, write over it even
    /// if it is not blank.
    #[arg(short, long)]
    force: bool,
    /// On a block device: leave the regions the image does not use
    /// unwritten. Only for a device that reads as zeros everywhere, such as
    /// a new, empty EBS volume.
    #[arg(long)]
    skip_zeros: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// The image file to write (or give it with -o), or a block device to
    /// build the disk on in place.
    #[arg(
        value_name = "OUTPUT",
        required_unless_present = "out",
        conflicts_with = "out"
    )]
    output: Option<PathBuf>,
    /// The image file to write, or `-` for standard output (raw, VMDK or
    /// fixed VHD, in one pass, for a pipe).
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    out: Option<PathBuf>,
    #[command(flatten)]
    format: OutputArgs,
    #[command(flatten)]
    tree: TreeArgs,
}

/// Runs `blockimg mkdisk`.
pub fn run(args: MkdiskArgs) -> Result<()> {
    let started = Instant::now();
    let size = if args.size.trim().eq_ignore_ascii_case("auto") {
        DiskSize::Auto {
            headroom_percent: args.headroom,
        }
    } else {
        DiskSize::Exact(parse_size(&args.size)?)
    };
    let timestamp = build_timestamp(args.timestamp)?;
    let mut uuid = args.uuid.as_deref().map(parse_uuid).transpose()?;
    let boot = BootOptions {
        kernel: args.kernel.clone(),
        initrd: args.initrd.clone(),
        cmdline: args.cmdline.clone(),
        consoles: None,
        grub_dir: args.grub_dir.clone(),
        grub_efi_dir: args.grub_efi_dir.clone(),
    };
    let mode = BootMode::from(args.boot);
    let table = match args.table {
        TableArg::Mbr => PartitionTable::Mbr,
        TableArg::Gpt => PartitionTable::Gpt,
        TableArg::None => PartitionTable::None,
    };
    let boot_partitions = BootPartitions {
        esp: mode
            .uefi()
            .then(|| parse_size(&args.esp_size))
            .transpose()?,
        bios_boot: (mode.bios() && table == PartitionTable::Gpt)
            .then(|| parse_size(&args.bios_boot_size))
            .transpose()?,
    };
    if mode != BootMode::None && uuid.is_none() {
        // grub.cfg names the filesystem UUID, so it is chosen before planning.
        let parts: [&[u8]; 2] = [args.label.as_bytes(), args.size.as_bytes()];
        uuid = Some(boot::root_uuid(timestamp, &parts)?);
    }
    let options = ImageOptions {
        size,
        table,
        boot_partitions,
        ext4: Ext4Options {
            block_size: args.block_size,
            label: args.label.clone(),
            uuid,
            timestamp: timestamp.map(Timestamp::from_secs),
            journal: !args.no_journal,
            ..Ext4Options::default()
        },
        overwrite: args.force,
        progress: !args.quiet,
    };
    let dest = Destination::from_arg(
        args.out
            .as_deref()
            .or(args.output.as_deref())
            .unwrap_or(Path::new("-")),
    );
    let source = RootSource::of(args.root.as_deref())?;
    let device = match &dest {
        Destination::File(path) if is_block_device(path) => Some(path.as_path()),
        _ => None,
    };
    let format = OutputFormat::resolve(args.format.format.map(Into::into), &dest)?;
    if device.is_some() && format != OutputFormat::Raw {
        return Err(blockimg::Error::InvalidOption {
            option: "--format".into(),
            reason: format!("a block device takes the raw disk, not {}", format.name()),
        });
    }
    // An archive becoming a raw image of known size is read once, its data
    // written into the image as it streams past.
    if let (
        RootSource::Archive(archive),
        DiskSize::Exact(bytes),
        Destination::File(out),
        OutputFormat::Raw,
    ) = (&source, size, &dest, format)
    {
        let input = RootSource::open_archive(archive)?;
        let name = archive.display().to_string();
        let steps = StreamSteps {
            adjust: |tree: &mut Tree| {
                args.tree.adjust(args.owner).apply(tree, timestamp)?;
                add_boot(tree, mode, &boot, uuid)
            },
            prepare: |disk: &mut PlannedDisk<'_>| boot::install(disk, mode, &boot),
        };
        let sink = match device {
            Some(device) => device_sink(device, bytes / 512 * 512, &args)?,
            None => SparseFile::create(out, args.force)?,
        };
        let outside = args.tree.outside();
        let (summary, nodes) = stream_archive_into(input, &name, &options, outside, steps, sink)?;
        if !args.quiet {
            let seconds = started.elapsed().as_secs_f64();
            print_summary(&mut std::io::stdout(), &args, out, &summary, nodes, seconds);
        }
        return Ok(());
    }
    let mut tree = load_root_with(args.root.as_deref(), timestamp, args.tree.outside())?;
    args.tree.adjust(args.owner).apply(&mut tree, timestamp)?;
    add_boot(&mut tree, mode, &boot, uuid)?;
    // A GPT's backup belongs in the last sectors of the disk the output
    // describes, which a VHD may round up.
    let fit = |size| match table {
        PartitionTable::Gpt => virtual_size(format, size, args.format.azure),
        PartitionTable::Mbr | PartitionTable::None => Ok(size),
    };
    let mut disk = plan_disk_fitted(&tree, &options, &fit)?;
    boot::install(&mut disk, mode, &boot)?;
    let summary = disk.summary();
    if let Some(device) = device {
        let mut sink = device_sink(device, disk.disk_size(), &args)?;
        disk.write_to(&mut sink)?;
        sink.finish(disk.disk_size())?;
        if !args.quiet {
            let seconds = started.elapsed().as_secs_f64();
            let mut w = std::io::stdout();
            print_summary(&mut w, &args, device, &summary, tree.len(), seconds);
        }
        return Ok(());
    }
    let reproducible = timestamp.map(|t| (t, summary.uuid));
    let out_options = args.format.options(&dest, args.force, reproducible)?;
    let mut out = open_output(&dest, disk.disk_size(), &out_options)?;
    disk.write_to(out.sink())?;
    let virtual_size = out.virtual_size();
    let file_bytes = out.finish()?;
    if !args.quiet {
        // Standard output may carry the image itself.
        let mut w: Box<dyn Write> = match dest {
            Destination::Stdout => Box::new(std::io::stderr()),
            Destination::File(_) => Box::new(std::io::stdout()),
        };
        let seconds = started.elapsed().as_secs_f64();
        print_summary(&mut w, &args, dest.path(), &summary, tree.len(), seconds);
        let _ = writeln!(
            w,
            "{}",
            describe(out_options.format, virtual_size, file_bytes)
        );
    }
    Ok(())
}

/// Puts the kernel, initrd and grub.cfg into the tree when a boot loader
/// is asked for.
fn add_boot(
    tree: &mut Tree,
    mode: BootMode,
    boot: &BootOptions,
    uuid: Option<[u8; 16]>,
) -> Result<()> {
    match uuid {
        Some(uuid) if mode != BootMode::None => {
            if boot.kernel.is_none() && boot::menu_entries(tree).is_empty() {
                eprintln!(
                    "blockimg: warning: no kernel in /boot and no --kernel: grub.cfg boots /boot/vmlinuz, which the disk does not have yet"
                );
            }
            add_boot_files(tree, boot, &uuid)
        }
        _ => Ok(()),
    }
}

/// The sink for a disk of `disk_size` bytes built in place on `device`,
/// after the checks a block device gets (not in use, large enough, blank
/// unless --force).
fn device_sink(device: &Path, disk_size: u64, args: &MkdiskArgs) -> Result<SparseFile> {
    let file = open_build_target(device, disk_size, args.force)?;
    SparseFile::in_place(file, device, args.skip_zeros)
}

fn print_summary(
    w: &mut dyn Write,
    args: &MkdiskArgs,
    output: &Path,
    s: &ImageSummary,
    nodes: usize,
    seconds: f64,
) {
    let _ = writeln!(
        w,
        "{}: {} ({} bytes)",
        output.display(),
        format_size(s.disk_size),
        s.disk_size
    );
    match (s.disk_signature, s.disk_guid) {
        (Some(sig), _) => {
            let _ = writeln!(w, "  partition table: MBR, disk signature 0x{sig:08x}");
        }
        (None, Some(guid)) => {
            let _ = writeln!(
                w,
                "  partition table: GPT, disk GUID {}",
                format_uuid(&guid)
            );
        }
        (None, None) => {}
    }
    for p in &s.partitions {
        let kind = match (s.table, p.role) {
            (PartitionTable::Mbr, PartitionRole::Root) => " (0x83), bootable",
            (PartitionTable::Mbr, PartitionRole::Esp) => " (0xef)",
            _ => "",
        };
        let _ = writeln!(
            w,
            "  partition {}: {}{kind}, start sector {}, {} sectors, PARTUUID {}",
            p.number,
            p.role.description(),
            p.start / 512,
            p.size / 512,
            p.partuuid
        );
    }
    let _ = writeln!(
        w,
        "  ext4 at byte offset {}: UUID {}, label {:?}",
        s.partition_offset,
        format_uuid(&s.uuid),
        args.label
    );
    let _ = writeln!(
        w,
        "  blocks: {} of {} bytes, {} free; inodes: {}, {} free",
        s.blocks_count, s.block_size, s.free_blocks, s.inodes_count, s.free_inodes
    );
    let _ = writeln!(
        w,
        "  {nodes} files and directories written in {seconds:.2} s"
    );
}
