//! What fills the root filesystem of a built disk, and reading it whole.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::report::Observer;
use crate::source::root::{build_time, read_archive_input, RootSource};
use crate::source::tar::OutsideRoot;
use crate::tree::Tree;

/// What fills the root filesystem.
///
/// # Examples
///
/// ```
/// use blockimg::Source;
///
/// # fn main() -> blockimg::Result<()> {
/// let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
/// // A path is a directory or an archive, whichever it is; `-` is standard input.
/// assert!(matches!(Source::path(dir.path())?, Source::Directory(_)));
/// let bytes: &'static [u8] = &[];
/// let piped = Source::reader(bytes, "an empty pipe");
/// assert!(matches!(piped, Source::Reader { .. }));
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
pub enum Source {
    /// An empty root directory with `lost+found`.
    Empty,
    /// A host directory, scanned with owners, modes, times, xattrs and
    /// hard links.
    Directory(PathBuf),
    /// A tar archive file: plain, gzip, xz or zstd, told apart by its
    /// bytes. An uncompressed one is read in place.
    Archive(PathBuf),
    /// A tar archive read from a stream (a pipe, a download), once.
    Reader {
        /// The bytes of the archive.
        reader: Box<dyn Read + Send>,
        /// Its name in messages.
        name: String,
    },
    /// A tree already in memory.
    Tree(Tree),
}

impl Source {
    /// A directory or an archive, whichever `path` is; `-` is an archive
    /// on standard input.
    pub fn path(path: &Path) -> Result<Source> {
        Ok(match RootSource::of(Some(path))? {
            RootSource::Dir(dir) => Source::Directory(dir),
            RootSource::Archive(archive) if archive == Path::new("-") => Source::Reader {
                reader: Box::new(std::io::stdin()),
                name: "-".into(),
            },
            RootSource::Archive(archive) => Source::Archive(archive),
            RootSource::Empty => Source::Empty,
        })
    }

    /// An archive read from `reader`, named `name` in messages.
    pub fn reader(reader: impl Read + Send + 'static, name: &str) -> Source {
        Source::Reader {
            reader: Box::new(reader),
            name: name.into(),
        }
    }
}

/// Reads the whole source into a tree.
pub(super) fn load(
    source: Source,
    timestamp: Option<i64>,
    outside: OutsideRoot,
    observer: &mut dyn Observer,
) -> Result<Tree> {
    let time = build_time(timestamp);
    match source {
        Source::Empty => crate::source::root::load_root(None, timestamp),
        Source::Directory(dir) => crate::source::root::load_root(Some(&dir), timestamp),
        Source::Archive(path) => {
            let input = RootSource::open_archive(&path)?;
            let name = path.display().to_string();
            read_archive_input(input, &name, Some(&path), outside, time, observer)
        }
        Source::Reader { reader, name } => {
            read_archive_input(reader, &name, None, outside, time, observer)
        }
        Source::Tree(tree) => Ok(tree),
    }
}
