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
    /// filesystem, optionally filled from a directory or a tar archive.
    Mkdisk(Box<cli::mkdisk::MkdiskArgs>),
    /// Build the disk a recipe (TOML) describes: partitions, filesystems,
    /// files, boot loader, cloud profile and outputs (docs/RECIPES.md).
    Build(cli::build::BuildArgs),
    /// Make an initramfs (newc cpio) with executables and their libraries,
    /// kernel modules and their dependencies, and an /init.
    Initramfs(cli::initramfs::InitramfsArgs),
    /// Convert a disk image between raw, VHD (dynamic or fixed) and
    /// stream-optimized VMDK.
    Convert(cli::convert::ConvertArgs),
    /// Send a disk image (raw, VHD, VMDK or qcow2) into a new EBS snapshot
    /// through the EBS direct APIs, optionally registering a machine image
    /// from it.
    Upload(cli::ebs::UploadArgs),
    /// Write a disk image onto a block device (such as an attached EBS
    /// volume) or an existing file.
    Write(cli::write::WriteArgs),
    /// Install GRUB for BIOS and/or UEFI into an existing disk image, with a
    /// menu entry per kernel in the root's /boot; the root filesystem is
    /// only read.
    InstallGrub(cli::install_grub::InstallGrubArgs),
    /// Show what a disk image holds: its partition table, each partition's
    /// type and filesystem (ext2/3/4, FAT, swap) and the boot code
    /// installed.
    Inspect(cli::inspect::InspectArgs),
    /// List a directory of an image's ext4 filesystem (like `ls -a`; `-l`
    /// like `ls -lan --time-style=full-iso`, times in UTC).
    Ls(cli::browse::LsArgs),
    /// Write a file of an image's ext4 filesystem to standard output.
    Cat(cli::browse::CatArgs),
    /// Copy a file or directory tree out of an image's ext4 filesystem.
    Get(cli::browse::GetArgs),
    /// Copy a host file, directory tree or tar archive into an image's ext4
    /// filesystem without mounting it; the image is rewritten atomically.
    Add(cli::add::AddArgs),
    /// Mount the ext4 filesystem of an image read-write through FUSE; the
    /// image is rewritten, atomically, when it is unmounted.
    Mount(cli::mount::MountArgs),
    /// Unmount a filesystem mounted with `blockimg mount` and wait until
    /// its image is committed.
    Umount(cli::mount::UmountArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result: Result<(), Box<dyn std::error::Error>> = match cli.command {
        Command::Mkdisk(args) => cli::mkdisk::run(*args).map_err(Into::into),
        Command::Build(args) => cli::build::run(args).map_err(Into::into),
        Command::Initramfs(args) => cli::initramfs::run(args).map_err(Into::into),
        Command::Convert(args) => cli::convert::run(args).map_err(Into::into),
        Command::Upload(args) => cli::ebs::run_upload(args).map_err(Into::into),
        Command::Write(args) => cli::write::run(args).map_err(Into::into),
        Command::InstallGrub(args) => cli::install_grub::run(args).map_err(Into::into),
        Command::Inspect(args) => cli::inspect::run(args).map_err(Into::into),
        Command::Ls(args) => cli::browse::run_ls(args).map_err(Into::into),
        Command::Cat(args) => cli::browse::run_cat(args).map_err(Into::into),
        Command::Get(args) => cli::browse::run_get(args).map_err(Into::into),
        Command::Add(args) => cli::add::run(args).map_err(Into::into),
        Command::Mount(args) => cli::mount::run_mount(args).map_err(Into::into),
        Command::Umount(args) => cli::mount::run_umount(args).map_err(Into::into),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "blockimg: error: {}",
                cli::message::error_message(e.as_ref())
            );
            ExitCode::FAILURE
        }
    }
}
