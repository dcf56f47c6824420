//! The `blockimg` command line.

// Input comes from users and their images: failures are errors, never panics.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod cli;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Build bootable, partitioned disk images without root.
#[derive(Parser)]
#[command(name = "blockimg", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Make a disk image (sparse raw, VHD or VMDK) with an ext4 root
    /// filesystem, optionally filled from a directory.
    Mkdisk(cli::mkdisk::MkdiskArgs),
    /// Build the disk a recipe (TOML) describes: partitions, filesystems,
    /// files, boot loader, cloud profile and outputs (docs/RECIPES.md).
    Build(cli::build::BuildArgs),
    /// Make an initramfs (newc cpio) with executables and their libraries,
    /// kernel modules and their dependencies, and an /init.
    Initramfs(cli::initramfs::InitramfsArgs),
    /// Convert a disk image between raw, VHD (dynamic or fixed) and
    /// stream-optimized VMDK.
    Convert(cli::convert::ConvertArgs),
    /// Write a disk image onto a block device (such as an attached EBS
    /// volume) or an existing file.
    Write(cli::write::WriteArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mkdisk(args) => cli::mkdisk::run(args),
        Command::Build(args) => cli::build::run(args),
        Command::Initramfs(args) => cli::initramfs::run(args),
        Command::Convert(args) => cli::convert::run(args),
        Command::Write(args) => cli::write::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blockimg: error: {e}");
            ExitCode::FAILURE
        }
    }
}
