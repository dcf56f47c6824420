//! Option handling shared by the subcommands.

use std::io::Read;
use std::path::{Path, PathBuf};

use blockimg::source::tar::{self, ArchiveRanges, Compression, InMemory, OutsideRoot};
use blockimg::source::{base_layout, manifest};
use blockimg::tree::{Metadata, Timestamp, Tree};
use blockimg::{Error, Result};

/// Parses `--owner UID:GID`.
pub fn parse_owner(text: &str) -> std::result::Result<(u32, u32), String> {
    let (uid, gid) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not UID:GID"))?;
    let num = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{s:?} in {text:?} is not a number"))
    };
    Ok((num(uid)?, num(gid)?))
}

/// The build time: `--timestamp` when given, else `SOURCE_DATE_EPOCH` when
/// set.
pub fn build_timestamp(option: Option<i64>) -> Result<Option<i64>> {
    if option.is_some() {
        return Ok(option);
    }
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

/// What `--root` names.
pub enum RootSource {
    /// Nothing: an empty root directory.
    Empty,
    /// A host directory.
    Dir(PathBuf),
    /// A tar archive file, or standard input (`-`).
    Archive(PathBuf),
}

impl RootSource {
    /// Classifies `--root`: `-` is standard input, a directory is scanned,
    /// anything else is read as a tar archive.
    pub fn of(root: Option<&Path>) -> Result<RootSource> {
        let Some(root) = root else {
            return Ok(RootSource::Empty);
        };
        if root == Path::new("-") {
            return Ok(RootSource::Archive(root.to_path_buf()));
        }
        let meta = std::fs::metadata(root).map_err(|e| Error::io(root, e))?;
        Ok(if meta.is_dir() {
            RootSource::Dir(root.to_path_buf())
        } else {
            RootSource::Archive(root.to_path_buf())
        })
    }

    /// Opens an archive source: the file, or standard input for `-`.
    pub fn open_archive(path: &Path) -> Result<Box<dyn Read + Send>> {
        if path == Path::new("-") {
            return Ok(Box::new(std::io::stdin()));
        }
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(Box::new(file))
    }
}

/// Options that shape the tree after it is read, shared by the commands
/// that take `--root`.
#[derive(clap::Args, Default)]
pub struct TreeArgs {
    /// A manifest of entries to add or override (devices, owners, modes,
    /// files from the host; see docs/SOURCES.md). Repeatable; applied in
    /// order, after the source.
    #[arg(long = "manifest", value_name = "FILE")]
    pub manifests: Vec<PathBuf>,
    /// Give files owned by uid FROM the uid TO instead (FROM:TO; repeatable).
    #[arg(long = "map-uid", value_name = "FROM:TO", value_parser = parse_owner)]
    pub map_uid: Vec<(u32, u32)>,
    /// Give files owned by gid FROM the gid TO instead (FROM:TO; repeatable).
    #[arg(long = "map-gid", value_name = "FROM:TO", value_parser = parse_owner)]
    pub map_gid: Vec<(u32, u32)>,
    /// Add what a bootable Linux root needs and a snapshot leaves out
    /// (/dev with console and null, /proc, /sys, /run, /tmp, /mnt, /media,
    /// /boot, /var/run and /var/lock links), keeping what the source has.
    #[arg(long)]
    pub base_layout: bool,
    /// Skip archive members whose path leaves the root (`..`) with a
    /// warning, instead of refusing the archive.
    #[arg(long)]
    pub skip_outside_root: bool,
}

impl TreeArgs {
    /// How archive members outside the root are treated.
    pub fn outside(&self) -> OutsideRoot {
        if self.skip_outside_root {
            OutsideRoot::Skip
        } else {
            OutsideRoot::Refuse
        }
    }

    /// Applies, in order: the owner squash, uid/gid maps, the base layout
    /// and the manifests. New entries are stamped with `timestamp` (or now).
    pub fn adjust(
        &self,
        tree: &mut Tree,
        owner: Option<(u32, u32)>,
        timestamp: Option<i64>,
    ) -> Result<()> {
        if let Some((uid, gid)) = owner {
            tree.set_owner_all(uid, gid);
        }
        tree.map_owners(&self.map_uid, &self.map_gid);
        let now = build_time(timestamp);
        if self.base_layout {
            base_layout::add(tree, now)?;
        }
        for path in &self.manifests {
            manifest::load(path)?.apply(tree, now)?;
        }
        Ok(())
    }
}

/// Largest archive data kept in memory when a compressed archive or a pipe
/// has to become a tree before the image is planned.
const IN_MEMORY_LIMIT: u64 = 1 << 30;

/// Reads an archive into a tree: data stays in an uncompressed archive file
/// and is read when the image is written; compressed archives and pipes
/// are held in memory.
pub fn load_archive(path: &Path, outside: OutsideRoot, implied: Timestamp) -> Result<Tree> {
    let name = path.display().to_string();
    let mut input = RootSource::open_archive(path)?;
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match input
            .read(&mut head[got..])
            .map_err(|e| Error::io(path, e))?
        {
            0 => break,
            n => got += n,
        }
    }
    let stream = std::io::Cursor::new(head[..got].to_vec()).chain(input);
    let seekable_plain =
        path != Path::new("-") && Compression::detect(&head[..got]) == Compression::None;
    if seekable_plain {
        tar::read_archive(
            stream,
            &name,
            &mut ArchiveRanges::new(path),
            outside,
            implied,
        )
    } else {
        let decoded = tar::decompress(stream, &name)?;
        tar::read_archive(
            decoded,
            &name,
            &mut InMemory::new(IN_MEMORY_LIMIT),
            outside,
            implied,
        )
    }
}

/// The tree a build starts from: the source `root` (a host directory, a tar
/// archive or `-` for one on standard input), or an empty root directory
/// owned by root and stamped with `timestamp` (or the current time).
/// Archive members outside the root are refused.
pub fn load_root(root: Option<&Path>, timestamp: Option<i64>) -> Result<Tree> {
    load_root_with(root, timestamp, OutsideRoot::Refuse)
}

/// [`load_root`], choosing what happens to archive members outside the
/// root.
pub fn load_root_with(
    root: Option<&Path>,
    timestamp: Option<i64>,
    outside: OutsideRoot,
) -> Result<Tree> {
    match RootSource::of(root)? {
        RootSource::Dir(dir) => blockimg::source::dir::scan(&dir),
        RootSource::Archive(path) => load_archive(&path, outside, build_time(timestamp)),
        RootSource::Empty => Ok(Tree::new(Metadata::directory(build_time(timestamp)))),
    }
}

/// The time new entries get: `--timestamp`/`SOURCE_DATE_EPOCH`, else now.
fn build_time(timestamp: Option<i64>) -> Timestamp {
    timestamp.map_or_else(Timestamp::now, Timestamp::from_secs)
}
