//! The `blockimg` command line.

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
    /// Make a sparse disk image with an ext4 root filesystem, optionally
    /// filled from a directory.
    Mkdisk(cli::mkdisk::MkdiskArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Mkdisk(args) => cli::mkdisk::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("blockimg: error: {e}");
            ExitCode::FAILURE
        }
    }
}
