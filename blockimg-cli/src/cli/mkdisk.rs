//! `blockimg mkdisk`: a partitioned, ext4-formatted disk image, optionally
//! filled from a directory.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use blockimg::boot::{BootMode, BootOptions};
use blockimg::ext4::Ext4Options;
use blockimg::identity::{format_uuid, parse_uuid};
use blockimg::image::{DiskSize, ImageSummary, PartitionRole, PartitionTable};
use blockimg::size::{format_size, parse_size};
use blockimg::source::root::build_timestamp;
use blockimg::{DiskBuilder, Output, Result, Source};
use clap::ValueEnum;

use super::common::{parse_owner, ArchArg, TreeArgs};
use super::ebs::ToSnapshotArgs;
use super::output_args::{describe, OutputArgs};
use super::terminal::Terminal;

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
    /// The architecture the disk boots on: arm64 boots by UEFI only
    /// (/EFI/BOOT/BOOTAA64.EFI from GRUB's arm64-efi modules, console
    /// ttyAMA0), built on any host.
    #[arg(long, value_enum, default_value = "x86_64")]
    arch: ArchArg,
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
    /// GRUB's UEFI module directory (default /usr/lib/grub/x86_64-efi, or
    /// /usr/lib/grub/arm64-efi with --arch arm64: on an x86-64 host, Debian's
    /// grub-efi-arm64-bin:arm64 unpacked with dpkg-deb -x).
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
        required_unless_present_any = ["out", "to_snapshot"],
        conflicts_with_all = ["out", "to_snapshot"]
    )]
    output: Option<PathBuf>,
    /// The image file to write, or `-` for standard output (raw, VMDK or
    /// fixed VHD, in one pass, for a pipe).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "OUT",
        conflicts_with = "to_snapshot"
    )]
    out: Option<PathBuf>,
    #[command(flatten)]
    ebs: ToSnapshotArgs,
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
    let uuid = args.uuid.as_deref().map(parse_uuid).transpose()?;
    let mode = BootMode::from(args.boot);
    let table = match args.table {
        TableArg::Mbr => PartitionTable::Mbr,
        TableArg::Gpt => PartitionTable::Gpt,
        TableArg::None => PartitionTable::None,
    };
    let boot = BootOptions::default()
        .kernel(args.kernel.clone())
        .initrd(args.initrd.clone())
        .cmdline(args.cmdline.clone())
        .consoles(None)
        .grub_dir(args.grub_dir.clone())
        .grub_efi_dir(args.grub_efi_dir.clone());
    let source = match &args.root {
        Some(root) => Source::path(root)?,
        None => Source::Empty,
    };
    let mut disk = DiskBuilder::new(source)
        .size(size)
        .table(table)
        .ext4(
            Ext4Options::default()
                .block_size(args.block_size)
                .label(args.label.clone())
                .uuid(uuid)
                .journal(!args.no_journal),
        )
        .adjust(args.tree.adjust(args.owner))
        .outside_root(args.tree.outside())
        .timestamp(timestamp)
        .boot(mode, boot)
        .arch(args.arch.into())
        // Two disks built at one time differ by label and size.
        .uuid_seed(&[args.label.as_bytes(), args.size.as_bytes()]);
    if mode.uefi() {
        disk = disk.esp_size(parse_size(&args.esp_size)?);
    }
    if mode.bios() && table == PartitionTable::Gpt {
        disk = disk.bios_boot_size(parse_size(&args.bios_boot_size)?);
    }
    args.ebs.check(mode, args.arch.into(), false)?;
    let path = args
        .out
        .as_deref()
        .or(args.output.as_deref())
        .unwrap_or(Path::new("-"));
    let to_stdout = path == Path::new("-") && !args.ebs.to_snapshot;
    let mut output = if args.ebs.to_snapshot {
        args.ebs.output()?
    } else if to_stdout {
        Output::stdout()
    } else {
        Output::file(path)
    };
    if let Some(format) = args.format.format {
        output = output.format(format.into());
    }
    let output = output
        .azure(args.format.azure)
        .overwrite(args.force)
        .skip_zeros(args.skip_zeros);
    let built = disk.write(output, &mut Terminal::new(args.quiet))?;
    if !args.quiet {
        // Standard output may carry the image itself.
        let mut w: Box<dyn Write> = if to_stdout {
            Box::new(std::io::stderr())
        } else {
            Box::new(std::io::stdout())
        };
        let shown = if to_stdout {
            Path::new("standard output")
        } else if args.ebs.to_snapshot {
            Path::new("EBS snapshot")
        } else {
            path
        };
        let seconds = started.elapsed().as_secs_f64();
        print_summary(&mut w, &args, shown, &built.summary, built.nodes, seconds);
        match (&built.snapshot, built.output_bytes) {
            (Some(_), _) => {}
            (None, Some(bytes)) => {
                let _ = writeln!(w, "{}", describe(built.format, built.virtual_size, bytes));
            }
            (None, None) => {}
        }
    }
    if let Some(snapshot) = &built.snapshot {
        args.ebs
            .report(snapshot, mode, args.arch.into(), args.quiet)?;
    }
    Ok(())
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
