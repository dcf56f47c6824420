//! `blockimg mkdisk`: a partitioned, ext4-formatted disk image, optionally
//! filled from a directory.

use std::path::PathBuf;
use std::time::Instant;

use blockimg::ext4::Ext4Options;
use blockimg::identity::{format_uuid, parse_uuid};
use blockimg::image::{build_image, DiskSize, ImageOptions, ImageSummary, PartitionTable};
use blockimg::size::{format_size, parse_size};
use blockimg::tree::{Metadata, Timestamp, Tree};
use blockimg::{Error, Result};
use clap::ValueEnum;

#[derive(Clone, Copy, ValueEnum)]
enum TableArg {
    /// One bootable Linux partition at 1 MiB.
    Mbr,
    /// No partition table: a bare ext4 filesystem image.
    None,
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
    /// Directory whose contents fill the root filesystem.
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
    /// Replace OUTPUT if it exists.
    #[arg(short, long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
    /// The image file to write.
    output: PathBuf,
}

fn parse_owner(text: &str) -> std::result::Result<(u32, u32), String> {
    let (uid, gid) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not UID:GID"))?;
    let num = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{s:?} in {text:?} is not a number"))
    };
    Ok((num(uid)?, num(gid)?))
}

fn source_date_epoch() -> Result<Option<i64>> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(text) if !text.trim().is_empty() => {
            text.trim()
                .parse()
                .map(Some)
                .map_err(|_| Error::InvalidOption {
                    option: "SOURCE_DATE_EPOCH".into(),
                    reason: format!("{text:?} is not a number of seconds"),
                })
        }
        _ => Ok(None),
    }
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
    let timestamp = match args.timestamp {
        Some(t) => Some(t),
        None => source_date_epoch()?,
    };
    let uuid = args.uuid.as_deref().map(parse_uuid).transpose()?;
    let mut tree = match &args.root {
        Some(root) => blockimg::source::dir::scan(root)?,
        None => Tree::new(default_root_metadata(timestamp)),
    };
    if let Some((uid, gid)) = args.owner {
        tree.set_owner_all(uid, gid);
    }
    let options = ImageOptions {
        size,
        table: match args.table {
            TableArg::Mbr => PartitionTable::Mbr,
            TableArg::None => PartitionTable::None,
        },
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
    let summary = build_image(&tree, &options, &args.output)?;
    if !args.quiet {
        print_summary(&args, &summary, tree.len(), started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn default_root_metadata(timestamp: Option<i64>) -> Metadata {
    let now = match timestamp {
        Some(t) => Timestamp::from_secs(t),
        None => {
            let d = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            Timestamp {
                secs: d.as_secs() as i64,
                nanos: d.subsec_nanos(),
            }
        }
    };
    Metadata {
        permissions: 0o755,
        uid: 0,
        gid: 0,
        atime: now,
        mtime: now,
        ctime: now,
        crtime: Some(now),
    }
}

fn print_summary(args: &MkdiskArgs, s: &ImageSummary, nodes: usize, seconds: f64) {
    println!(
        "{}: {} ({} bytes)",
        args.output.display(),
        format_size(s.disk_size),
        s.disk_size
    );
    if let Some(sig) = s.disk_signature {
        println!("  partition table: MBR, disk signature 0x{sig:08x}");
        println!(
            "  partition 1: Linux (0x83), bootable, start sector {}, {} sectors, PARTUUID {sig:08x}-01",
            s.partition_offset / 512,
            s.partition_size / 512
        );
    }
    println!(
        "  ext4 at byte offset {}: UUID {}, label {:?}",
        s.partition_offset,
        format_uuid(&s.uuid),
        args.label
    );
    println!(
        "  blocks: {} of {} bytes, {} free; inodes: {}, {} free",
        s.blocks_count, s.block_size, s.free_blocks, s.inodes_count, s.free_inodes
    );
    println!("  {nodes} files and directories written in {seconds:.2} s");
}
