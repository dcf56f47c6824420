//! `blockimg ls`, `cat` and `get`: looking into the ext4 filesystem of an
//! image without mounting it, under a reader's lock on the image (refused
//! while a program changes it).

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use blockimg::browse::{self, extract, ls};
use blockimg::disk::ImageSpec;
use blockimg::ext4::read::Ext4Reader;
use blockimg::lock::ImageLock;
use blockimg::{Error, Result};

/// Arguments of `blockimg ls`.
#[derive(clap::Args)]
pub struct LsArgs {
    /// The image, and optionally a partition: `disk.img` or `disk.img:2`.
    pub image: OsString,
    /// The directory (or file) in the filesystem.
    #[arg(default_value = "/")]
    pub path: OsString,
    /// Long format: mode, links, owner, group, size, modification time
    /// with nanoseconds (UTC), name and symlink target.
    #[arg(short = 'l')]
    pub long: bool,
}

/// Arguments of `blockimg cat`.
#[derive(clap::Args)]
pub struct CatArgs {
    /// The image, and optionally a partition: `disk.img` or `disk.img:2`.
    pub image: OsString,
    /// The file in the filesystem (symlinks are followed).
    pub path: OsString,
}

/// Arguments of `blockimg get`.
#[derive(clap::Args)]
pub struct GetArgs {
    /// The image, and optionally a partition: `disk.img` or `disk.img:2`.
    pub image: OsString,
    /// The file or directory in the filesystem.
    pub path: OsString,
    /// Where to put it on the host (the name it gets, not a directory to
    /// put it in).
    pub dest: PathBuf,
    /// Replace existing files and write into existing directories.
    #[arg(long)]
    pub force: bool,
}

/// The image's filesystem, and the reader's lock to hold while reading it;
/// a journal holding changes not yet applied is replayed in memory, with a
/// note.
fn open(image: &OsString) -> Result<(ImageLock, Ext4Reader)> {
    let spec = ImageSpec::parse(image)?;
    let lock = ImageLock::read(&spec.path)?;
    let reader = spec.open_ext4()?;
    if let Some(replayed) = reader.replayed() {
        eprintln!(
            "blockimg: note: {}: the journal holds changes not yet applied; read with {replayed} in memory (the image is unchanged)",
            spec.path.display()
        );
    }
    Ok((lock, reader))
}

fn stdout_error(e: std::io::Error) -> Error {
    Error::io("standard output", e)
}

/// Lists a directory (or one entry) of the image.
pub fn run_ls(args: LsArgs) -> Result<()> {
    let (_lock, reader) = open(&args.image)?;
    let entries = ls::list(&reader, args.path.as_bytes())?;
    let lines = if args.long {
        ls::long_lines(&entries)
    } else {
        entries.into_iter().map(|e| e.name).collect()
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = lines
        .iter()
        .try_for_each(|line| {
            out.write_all(line)?;
            out.write_all(b"\n")
        })
        .and_then(|()| out.flush());
    closed_reader_is_fine(written.map_err(stdout_error))
}

/// Writes a file of the image to standard output; a reader that stops
/// early (`| head`) is not an error.
pub fn run_cat(args: CatArgs) -> Result<()> {
    let (_lock, reader) = open(&args.image)?;
    let mut out = std::io::stdout().lock();
    let written = browse::cat(&reader, args.path.as_bytes(), &mut out)
        .and_then(|_| out.flush().map_err(stdout_error));
    closed_reader_is_fine(written)
}

/// A reader that stops early (`| head`) is not an error: what it read was
/// complete up to there.
fn closed_reader_is_fine(written: Result<()>) -> Result<()> {
    match written {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Copies a file or tree out of the image.
pub fn run_get(args: GetArgs) -> Result<()> {
    let (_lock, reader) = open(&args.image)?;
    let options = extract::ExtractOptions::default().force(args.force);
    let summary = extract::extract(&reader, args.path.as_bytes(), &args.dest, options)?;
    for (what, count) in &summary.skipped {
        eprintln!("blockimg: warning: skipped {count} × {what}");
    }
    Ok(())
}
