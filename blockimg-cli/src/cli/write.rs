//! `blockimg write`: a disk image onto a block device (such as an attached
//! EBS volume) or an existing file, in place.

use std::path::PathBuf;
use std::time::Instant;

use blockimg::disk_format::{check_name_matches, open};
use blockimg::size::format_size;
use blockimg::target::{open_target, write_image, WriteOptions};
use blockimg::Result;

use super::terminal::Terminal;

/// Arguments of `blockimg write`.
#[derive(clap::Args)]
pub struct WriteArgs {
    /// The image to write: raw, VHD or VMDK, recognized from its bytes.
    image: PathBuf,
    /// The block device or existing file to write it onto. It must be at
    /// least as large as the disk and must not be mounted or in use.
    target: PathBuf,
    /// Do not write regions of zeros. Only for a target that already reads
    /// as zeros everywhere, such as a new, empty EBS volume; never for a
    /// volume restored from a snapshot or used before.
    #[arg(long)]
    skip_zeros: bool,
    /// Read the target back after writing and compare it with the image.
    #[arg(long)]
    verify: bool,
    /// Write over a target whose first MiB is not blank (a partition table,
    /// a filesystem, any data).
    #[arg(short, long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `blockimg write`.
pub fn run(args: WriteArgs) -> Result<()> {
    let started = Instant::now();
    // A reader's lock on the image, held to the end: refused while a
    // program changes it.
    let _lock = blockimg::lock::ImageLock::read(&args.image)?;
    let mut disk = open(&args.image)?;
    check_name_matches(&args.image, disk.format())?;
    let target = open_target(&args.target)?;
    let target_size = target.size();
    let options = WriteOptions::default()
        .skip_zeros(args.skip_zeros)
        .verify(args.verify)
        .force(args.force);
    let mut terminal = Terminal::new(args.quiet);
    let summary = write_image(disk.as_mut(), &args.image, target, &options, &mut terminal)?;
    if !args.quiet {
        println!(
            "{} ({}, {}) -> {} ({})",
            args.image.display(),
            disk.format().name(),
            format_size(summary.disk_size),
            args.target.display(),
            format_size(target_size)
        );
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "  {} written{} in {seconds:.2} s{}",
            format_size(summary.bytes_written),
            if args.skip_zeros {
                " (regions of zeros skipped)"
            } else {
                ""
            },
            if summary.verified {
                "; read back and verified"
            } else {
                ""
            }
        );
    }
    Ok(())
}
