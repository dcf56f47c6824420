//! `blockimg add`: host files, trees or archives into the ext4 filesystem
//! of an existing image, without mounting it.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use blockimg::disk::ImageSpec;
use blockimg::image::add::{add, AddOptions};
use blockimg::source::tar::OutsideRoot;
use blockimg::tree::{Timestamp, Tree};
use blockimg::{Error, Result};

use blockimg::source::root::load_archive;

use super::common::{commit_steps, parse_owner};

/// Arguments of `blockimg add`.
#[derive(clap::Args)]
pub struct AddArgs {
    /// The image, and optionally a partition: `disk.img` or `disk.img:2`.
    pub image: OsString,
    /// The host file or directory to add; with `--tar`, a tar archive
    /// (plain, gzip, xz or zstd; `-` for standard input).
    pub source: PathBuf,
    /// Where it goes in the filesystem: the path it gets (an existing
    /// directory there is merged with a source directory).
    pub dest: OsString,
    /// Read SOURCE as a tar archive whose members go below DEST.
    #[arg(long)]
    pub tar: bool,
    /// Owner and group of everything added (numeric UID:GID).
    #[arg(long, value_name = "UID:GID", value_parser = parse_owner)]
    pub owner: Option<(u32, u32)>,
    /// Permissions (octal) of the added file or top directory.
    #[arg(long, value_name = "MODE", value_parser = parse_mode)]
    pub mode: Option<u16>,
}

/// Parses an octal mode of at most 07777.
fn parse_mode(text: &str) -> std::result::Result<u16, String> {
    u16::from_str_radix(text, 8)
        .ok()
        .filter(|&m| m <= 0o7777)
        .ok_or_else(|| format!("{text:?} is not an octal mode (0 to 7777)"))
}

/// Adds the source to the image.
pub fn run(args: AddArgs) -> Result<()> {
    let spec = ImageSpec::parse(&args.image)?;
    if !args.dest.as_bytes().starts_with(b"/") {
        return Err(Error::InvalidOption {
            option: "destination".into(),
            reason: format!(
                "{:?} is not an absolute path in the image",
                args.dest.to_string_lossy()
            ),
        });
    }
    let (source, node) = if args.tar {
        let tree = load_archive(&args.source, OutsideRoot::Refuse, Timestamp::now())?;
        (tree, Tree::ROOT)
    } else {
        blockimg::source::dir::scan_path(&args.source)?
    };
    let options = AddOptions {
        owner: args.owner,
        mode: args.mode,
        keep_destination_metadata: args.tar,
    };
    let summary = add(
        &spec,
        &source,
        node,
        args.dest.as_bytes(),
        options,
        &mut commit_steps(),
    )?;
    if let Some(replayed) = summary.replayed {
        eprintln!(
            "{}: journal replayed into the image: {replayed}",
            spec.path.display()
        );
    }
    eprintln!("{}: {} entries added", spec.path.display(), summary.entries);
    eprintln!("{}: {}", spec.path.display(), summary.commit);
    Ok(())
}
