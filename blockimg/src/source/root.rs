//! The tree a build starts from: a host directory, a tar archive (a file or
//! standard input) or nothing, then reshaped by owners, the base layout and
//! manifests. Shared by `mkdisk`, `initramfs` and recipes.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::tar::{self, ArchiveRanges, Compression, InMemory, OutsideRoot};
use super::{base_layout, manifest};
use crate::error::{Error, Result};
use crate::report::{Observer, Silent};
use crate::tree::{Metadata, Timestamp, Tree};

/// What a root source names.
///
/// # Examples
///
/// ```
/// use std::path::Path;
///
/// use blockimg::source::root::RootSource;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// assert_eq!(RootSource::of(None)?, RootSource::Empty);
/// assert_eq!(RootSource::of(Some(dir.path()))?, RootSource::Dir(dir.path().into()));
/// assert_eq!(RootSource::of(Some(Path::new("-")))?, RootSource::Archive("-".into()));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootSource {
    /// Nothing: an empty root directory.
    Empty,
    /// A host directory.
    Dir(PathBuf),
    /// A tar archive file, or standard input (`-`).
    Archive(PathBuf),
}

impl RootSource {
    /// Classifies a root source: `-` is standard input, a directory is
    /// scanned, anything else is read as a tar archive.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::source::root::RootSource;
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// assert_eq!(RootSource::of(None)?, RootSource::Empty);
    /// assert_eq!(RootSource::of(Some("/etc".as_ref()))?, RootSource::Dir("/etc".into()));
    /// assert_eq!(RootSource::of(Some("-".as_ref()))?, RootSource::Archive("-".into())); // standard input
    /// assert!(RootSource::of(Some("/no/such/rootfs.tar".as_ref())).is_err());
    /// # Ok(())
    /// # }
    /// ```
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
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::source::root::RootSource;
    /// use blockimg::source::tar::{decompress, read_archive, InMemory, OutsideRoot};
    /// use blockimg::tree::Timestamp;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("root.tar");
    /// let mut builder = tar::Builder::new(std::fs::File::create(&path)?);
    /// builder.append_dir("srv", dir.path())?;
    /// builder.finish()?;
    /// drop(builder);
    /// let input = decompress(RootSource::open_archive(&path)?, "root.tar")?;
    /// let tree = read_archive(input, "root.tar", &mut InMemory::new(1 << 20), OutsideRoot::Refuse, Timestamp::now())?;
    /// assert!(tree.lookup(b"/srv").is_some());
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_archive(path: &Path) -> Result<Box<dyn Read + Send>> {
        if path == Path::new("-") {
            return Ok(Box::new(std::io::stdin()));
        }
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Ok(Box::new(file))
    }
}

/// Changes made to a tree once it is read, in this order: every owner set
/// to `owner`, owners and groups mapped, the base layout added, the
/// manifests applied.
///
/// # Examples
///
/// ```
/// use blockimg::source::root::{load_root, TreeAdjust};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let manifest = dir.path().join("extra.manifest");
/// std::fs::write(&manifest, "dir /srv/www 0750 33:33\n")?;
///
/// let time = Some(1_700_000_000);
/// let mut tree = load_root(None, time)?; // an empty root
/// let adjust = TreeAdjust::default()
///     .base_layout(true) // /proc, /sys, /dev/console, ...
///     .manifests(vec![manifest]);
/// adjust.apply(&mut tree, time)?;
/// assert!(tree.lookup(b"/proc").is_some());
/// assert_eq!(tree.node(tree.lookup(b"/srv/www").unwrap()).meta.uid, 33);
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default)]
pub struct TreeAdjust {
    /// Owner and group of every file, when set.
    pub owner: Option<(u32, u32)>,
    /// `(from, to)` user ids.
    pub map_uid: Vec<(u32, u32)>,
    /// `(from, to)` group ids.
    pub map_gid: Vec<(u32, u32)>,
    /// Add what a bootable root needs and a snapshot leaves out
    /// ([`base_layout::add`]).
    pub base_layout: bool,
    /// Manifest files, applied in order.
    pub manifests: Vec<PathBuf>,
}

setters!(TreeAdjust at "blockimg::source::root::TreeAdjust" {
    owner: Option<(u32, u32)>,
    map_uid: Vec<(u32, u32)>,
    map_gid: Vec<(u32, u32)>,
    base_layout: bool,
    manifests: Vec<PathBuf>,
});

impl TreeAdjust {
    /// Applies the changes to `tree`; new entries are stamped with
    /// `timestamp` (or now).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::source::root::{load_root, TreeAdjust};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = load_root(None, Some(0))?;
    /// let adjust = TreeAdjust::default().owner(Some((1000, 1000))).map_uid(vec![(1000, 0)]);
    /// adjust.apply(&mut tree, Some(0))?; // owner first, then the mapping
    /// assert_eq!((tree.node(blockimg::tree::Tree::ROOT).meta.uid, tree.node(blockimg::tree::Tree::ROOT).meta.gid), (0, 1000));
    /// # Ok(())
    /// # }
    /// ```
    pub fn apply(&self, tree: &mut Tree, timestamp: Option<i64>) -> Result<()> {
        if let Some((uid, gid)) = self.owner {
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
///
/// # Examples
///
/// ```
/// use blockimg::source::tar::OutsideRoot;
/// use blockimg::tree::Timestamp;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("rootfs.tar");
/// let mut archive = tar::Builder::new(std::fs::File::create(&path)?);
/// let mut header = tar::Header::new_gnu();
/// header.set_size(10);
/// header.set_mode(0o644);
/// archive.append_data(&mut header, "etc/hostname", &b"appliance\n"[..])?;
/// archive.finish()?;
/// drop(archive);
///
/// let tree = blockimg::source::root::load_archive(&path, OutsideRoot::Refuse, Timestamp::from_secs(0))?;
/// assert!(tree.lookup(b"/etc/hostname").is_some());
/// # Ok(())
/// # }
/// ```
pub fn load_archive(path: &Path, outside: OutsideRoot, implied: Timestamp) -> Result<Tree> {
    let input = RootSource::open_archive(path)?;
    let seekable = (path != Path::new("-")).then_some(path);
    let name = path.display().to_string();
    read_archive_input(input, &name, seekable, outside, implied, &mut Silent)
}

/// Reads an archive from `input` into a tree. When `seekable` names the
/// file `input` reads and the archive is uncompressed, file data stays in
/// that file; otherwise it is held in memory.
pub(crate) fn read_archive_input(
    mut input: Box<dyn Read + Send>,
    name: &str,
    seekable: Option<&Path>,
    outside: OutsideRoot,
    implied: Timestamp,
    observer: &mut dyn Observer,
) -> Result<Tree> {
    let mut head = [0u8; 6];
    let mut got = 0;
    while got < head.len() {
        match input
            .read(&mut head[got..])
            .map_err(|e| Error::io(name, e))?
        {
            0 => break,
            n => got += n,
        }
    }
    let stream = std::io::Cursor::new(head[..got].to_vec()).chain(input);
    match seekable {
        Some(path) if Compression::detect(&head[..got]) == Compression::None => {
            let mut ranges = ArchiveRanges::new(path);
            tar::read_archive_observed(stream, name, &mut ranges, outside, implied, observer)
        }
        _ => {
            let decoded = tar::decompress(stream, name)?;
            let mut memory = InMemory::new(IN_MEMORY_LIMIT);
            tar::read_archive_observed(decoded, name, &mut memory, outside, implied, observer)
        }
    }
}

/// The tree a build starts from: the source `root` (a host directory, a tar
/// archive or `-` for one on standard input), or an empty root directory
/// owned by root and stamped with `timestamp` (or the current time).
/// Archive members outside the root are refused.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("README"), "hello\n")?;
///
/// // A directory is scanned, anything else is read as a tar archive.
/// let tree = blockimg::source::root::load_root(Some(dir.path()), Some(1_700_000_000))?;
/// assert!(tree.lookup(b"/README").is_some());
/// // No root at all: an empty root directory stamped with the build time.
/// let empty = blockimg::source::root::load_root(None, Some(1_700_000_000))?;
/// assert!(empty.is_empty());
/// # Ok(())
/// # }
/// ```
pub fn load_root(root: Option<&Path>, timestamp: Option<i64>) -> Result<Tree> {
    load_root_with(root, timestamp, OutsideRoot::Refuse, &mut Silent)
}

/// [`load_root`], choosing what happens to archive members outside the
/// root and telling `observer` of those it skips.
///
/// # Examples
///
/// ```
/// use blockimg::source::root::load_root_with;
/// use blockimg::source::tar::OutsideRoot;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("hostname"), "appliance\n")?;
/// let mut quiet = blockimg::Silent;
/// let tree = load_root_with(Some(dir.path()), Some(1_700_000_000), OutsideRoot::Skip, &mut quiet)?;
/// assert!(tree.lookup(b"/hostname").is_some());
/// # Ok(())
/// # }
/// ```
pub fn load_root_with(
    root: Option<&Path>,
    timestamp: Option<i64>,
    outside: OutsideRoot,
    observer: &mut dyn Observer,
) -> Result<Tree> {
    match RootSource::of(root)? {
        RootSource::Dir(dir) => super::dir::scan(&dir),
        RootSource::Archive(path) => {
            let input = RootSource::open_archive(&path)?;
            let seekable = (path != Path::new("-")).then_some(path.as_path());
            let name = path.display().to_string();
            let time = build_time(timestamp);
            read_archive_input(input, &name, seekable, outside, time, observer)
        }
        RootSource::Empty => Ok(Tree::new(Metadata::directory(build_time(timestamp)))),
    }
}

/// The time new entries get: the build's timestamp, else now.
///
/// # Examples
///
/// ```
/// use blockimg::source::root::build_time;
/// use blockimg::tree::Timestamp;
///
/// assert_eq!(build_time(Some(1_700_000_000)), Timestamp::from_secs(1_700_000_000));
/// assert!(build_time(None).secs > 1_700_000_000); // now
/// ```
pub fn build_time(timestamp: Option<i64>) -> Timestamp {
    timestamp.map_or_else(Timestamp::now, Timestamp::from_secs)
}

/// The build time: `option` when given, else `SOURCE_DATE_EPOCH` when set
/// (a reproducible build), else `None` (the clock).
///
/// # Examples
///
/// ```
/// use blockimg::source::root::build_timestamp;
///
/// # fn main() -> blockimg::Result<()> {
/// assert_eq!(build_timestamp(Some(1_700_000_000))?, Some(1_700_000_000)); // given: it wins
/// // Else SOURCE_DATE_EPOCH when the environment sets it, else None (the clock).
/// let expected = std::env::var("SOURCE_DATE_EPOCH").ok().and_then(|s| s.parse().ok());
/// assert_eq!(build_timestamp(None)?, expected);
/// # Ok(())
/// # }
/// ```
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
