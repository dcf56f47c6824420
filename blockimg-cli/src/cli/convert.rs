//! `blockimg convert`: a disk image from one format into another.

use std::path::PathBuf;
use std::time::Instant;

use blockimg::convert::convert;
use blockimg::sink::Destination;
use blockimg::size::format_size;
use blockimg::Result;

use super::terminal::Terminal;

use super::output_args::{describe, OutputArgs};

/// Arguments of `blockimg convert`.
#[derive(clap::Args)]
pub struct ConvertArgs {
    /// The image to read: raw, VHD (fixed or dynamic) or VMDK
    /// (stream-optimized or monolithic sparse), recognized from its bytes.
    input: PathBuf,
    /// The image to write, or `-` for standard output (raw, VMDK or fixed
    /// VHD).
    output: PathBuf,
    #[command(flatten)]
    format: OutputArgs,
    /// Replace OUTPUT if it exists.
    #[arg(short, long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `blockimg convert`.
pub fn run(args: ConvertArgs) -> Result<()> {
    let started = Instant::now();
    let dest = Destination::from_arg(&args.output);
    let options = args.format.options(&dest, args.force, None)?;
    let summary = convert(&args.input, &dest, &options, &mut Terminal::new(args.quiet))?;
    if !args.quiet {
        eprintln!(
            "{} ({}, {}) -> {}",
            args.input.display(),
            summary.input_format.name(),
            format_size(summary.disk_size),
            dest.path().display()
        );
        eprintln!(
            "{}",
            describe(options.format, summary.virtual_size, summary.output_bytes)
        );
        eprintln!(
            "  {} of data copied in {:.2} s",
            format_size(summary.data_bytes),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
