//! Where a regular file's data lives (a host file, memory, a range of an
//! archive or of an image, runs in open files) and how it is read, holes
//! kept as holes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Timestamp;
use crate::error::SourceError;
use crate::error::{Error, Result};

/// A byte range of a regular file that holds data; everything outside the
/// segments of a file is a hole.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{DataSource, FileContent, Segment};
///
/// // A 1 MiB file whose data is its last 4 KiB; the rest is a hole.
/// let sparse = FileContent {
///     size: 1 << 20,
///     segments: vec![Segment { offset: (1 << 20) - 4096, len: 4096 }],
///     source: DataSource::Memory(vec![7u8; 1 << 20].into()),
/// };
/// let data: u64 = sparse.segments.iter().map(|s| s.len).sum();
/// assert_eq!(data, 4096); // all the image stores; the hole stays a hole
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Offset of the first byte of the range within the file.
    pub offset: u64,
    /// Length of the range in bytes.
    pub len: u64,
}

impl Segment {
    /// The segments of a file of `size` bytes without holes: one covering
    /// everything, or none for an empty file.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::Segment;
    ///
    /// assert_eq!(Segment::whole(10), [Segment { offset: 0, len: 10 }]);
    /// assert!(Segment::whole(0).is_empty());
    /// ```
    pub fn whole(size: u64) -> Vec<Segment> {
        if size == 0 {
            Vec::new()
        } else {
            vec![Segment {
                offset: 0,
                len: size,
            }]
        }
    }
}

/// A stretch of a file's data stored contiguously in a disk image: `len`
/// bytes of the file from `file_offset` are at `image_offset` of the image
/// file.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use blockimg::tree::{DataSource, ExtentRun};
///
/// # fn main() -> blockimg::Result<()> {
/// // 5 bytes of a file, at offset 100 of an image held in a file.
/// let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
/// let image = dir.path().join("disk.img");
/// std::fs::write(&image, [b"x".repeat(100), b"hello".to_vec()].concat()).map_err(|e| blockimg::Error::io(&image, e))?;
/// let run = ExtentRun { file_offset: 0, image_offset: 100, len: 5 };
/// let source = DataSource::ImageExtents { path: Arc::new(image), runs: Arc::new([run]) };
/// let file = source.open_file(5)?;
/// let mut buf = [0; 5];
/// source.read_at(file.as_ref(), 0, &mut buf)?;
/// assert_eq!(&buf, b"hello");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtentRun {
    /// Offset of the run's first byte within the file.
    pub file_offset: u64,
    /// Offset of the run's first byte within the image file.
    pub image_offset: u64,
    /// Length of the run in bytes.
    pub len: u64,
}

/// Where the bytes of a regular file come from.
///
/// # Examples
///
/// ```
/// use blockimg::tree::DataSource;
///
/// # fn main() -> blockimg::Result<()> {
/// let source = DataSource::Memory(b"generated".to_vec().into());
/// assert_eq!(source.origin(), std::path::Path::new("<memory>"));
/// let mut buf = [0; 3];
/// source.read_at(None, 6, &mut buf)?; // nothing to open for memory
/// assert_eq!(&buf, b"ted");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub enum DataSource {
    /// A file on the host, read when the image is written. `mtime` and the
    /// file's size are those seen when the tree was built; a mismatch at write
    /// time means the source changed while it was read.
    HostFile {
        /// Path of the file on the host.
        path: PathBuf,
        /// Modification time seen when the tree was built.
        mtime: Timestamp,
    },
    /// Bytes held in memory (generated files, small inline content).
    Memory(Arc<[u8]>),
    /// A byte range of an uncompressed archive file: the file's data starts
    /// at `offset` and is contiguous.
    Archive {
        /// Path of the archive.
        path: Arc<PathBuf>,
        /// Offset of the file's first byte within the archive.
        offset: u64,
    },
    /// Data left in an existing disk image (a filesystem read by
    /// `ext4::read`): the file's data runs, ascending by file offset and
    /// non-overlapping. Bytes of the file no run covers are holes.
    ImageExtents {
        /// Path of the image file.
        path: Arc<PathBuf>,
        /// Where the file's data lies in the image.
        runs: Arc<[ExtentRun]>,
    },
    /// Data already written into the image as its source streamed in; the
    /// planner keeps it where it is (see `ext4::PlacedData`).
    Written,
    /// Data in files the caller holds open, such as a mounted image and the
    /// spill file of the writes made through the mount: each run names the
    /// file holding it. Bytes no run covers are holes.
    OpenFiles {
        /// The files runs refer to by index; one list is usually shared by
        /// many nodes.
        files: Arc<[std::fs::File]>,
        /// The file's data runs, ascending by file offset and
        /// non-overlapping.
        runs: Arc<[OpenRun]>,
    },
}

/// A stretch of a file's data in one of the files of a
/// [`DataSource::OpenFiles`].
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use blockimg::tree::{DataSource, ExtentRun, OpenRun};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("spill"), b"..data")?;
/// let files: Arc<[std::fs::File]> = Arc::new([std::fs::File::open(dir.path().join("spill"))?]);
/// let run = OpenRun { run: ExtentRun { file_offset: 0, image_offset: 2, len: 4 }, file: 0 };
/// let source = DataSource::OpenFiles { files, runs: Arc::new([run]) };
/// let mut buf = [0; 4];
/// source.read_at(None, 0, &mut buf)?;
/// assert_eq!(&buf, b"data");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenRun {
    /// Where the bytes are: `image_offset` is the offset within file
    /// `file`.
    pub run: ExtentRun,
    /// Index of the file in [`DataSource::OpenFiles::files`].
    pub file: usize,
}

impl DataSource {
    /// Where the data comes from, for messages.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{DataSource, Timestamp};
    ///
    /// let host = DataSource::HostFile { path: "/etc/hostname".into(), mtime: Timestamp::from_secs(0) };
    /// assert_eq!(host.origin(), std::path::Path::new("/etc/hostname")); // for messages
    /// ```
    pub fn origin(&self) -> PathBuf {
        match self {
            DataSource::HostFile { path, .. } => path.clone(),
            DataSource::Archive { path, .. } | DataSource::ImageExtents { path, .. } => {
                path.to_path_buf()
            }
            DataSource::Memory(_) => PathBuf::from("<memory>"),
            DataSource::Written => PathBuf::from("<image>"),
            DataSource::OpenFiles { .. } => PathBuf::from("<open files>"),
        }
    }

    /// The file several nodes' data may share (an archive, an image), by
    /// the address of its shared path: a caller copying many files can keep
    /// that file open across them. `None` for sources owned by one node.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::Arc;
    /// use blockimg::tree::DataSource;
    ///
    /// let archive = Arc::new(std::path::PathBuf::from("rootfs.tar"));
    /// let a = DataSource::Archive { path: archive.clone(), offset: 512 };
    /// let b = DataSource::Archive { path: archive, offset: 2048 };
    /// assert!(a.shared_file().is_some());
    /// assert_eq!(a.shared_file(), b.shared_file()); // one open file serves both
    /// assert_eq!(DataSource::Memory(b"x".to_vec().into()).shared_file(), None);
    /// ```
    pub fn shared_file(&self) -> Option<usize> {
        match self {
            DataSource::Archive { path, .. } | DataSource::ImageExtents { path, .. } => {
                Some(Arc::as_ptr(path) as usize)
            }
            DataSource::HostFile { .. }
            | DataSource::Memory(_)
            | DataSource::Written
            | DataSource::OpenFiles { .. } => None,
        }
    }

    /// Opens the file holding the data of a file of `size` bytes, for
    /// [`DataSource::read_at`]; `None` for data held in memory. A host file
    /// must still have the size and mtime seen when the tree was built.
    /// Files are opened without moving their access time where the kernel
    /// allows that.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::FileContent;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("motd"), "hello\n")?;
    /// let (tree, id) = blockimg::source::dir::scan_path(&dir.path().join("motd"))?;
    /// let blockimg::tree::NodeKind::File(content) = &tree.node(id).kind else { panic!("a file") };
    /// let file = content.source.open_file(content.size)?;
    /// assert!(file.is_some());
    /// std::fs::write(dir.path().join("motd"), "changed since the scan\n")?;
    /// assert!(content.source.open_file(content.size).is_err());
    /// # let _ = FileContent::from_bytes(vec![]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_file(&self, size: u64) -> Result<Option<std::fs::File>> {
        use std::os::unix::fs::MetadataExt;
        match self {
            DataSource::HostFile { path, mtime } => {
                let file = open_noatime(path)?;
                let meta = file.metadata().map_err(|e| Error::io(path, e))?;
                let seen = Timestamp {
                    secs: meta.mtime(),
                    nanos: meta.mtime_nsec() as u32,
                };
                if meta.len() != size || seen != *mtime {
                    return Err(Error::from(SourceError::Changed {
                        path: path.clone(),
                        detail: format!(
                            "size {size} -> {}, mtime {}.{:09} -> {}.{:09}",
                            meta.len(),
                            mtime.secs,
                            mtime.nanos,
                            seen.secs,
                            seen.nanos
                        ),
                    }));
                }
                Ok(Some(file))
            }
            DataSource::Archive { path, .. } | DataSource::ImageExtents { path, .. } => {
                Ok(Some(open_noatime(path)?))
            }
            DataSource::Memory(_) | DataSource::OpenFiles { .. } => Ok(None),
            DataSource::Written => Err(self.not_readable()),
        }
    }

    /// Fills `buf` with the file's bytes from `pos` (holes read as zeros),
    /// reading from `file` as returned by [`DataSource::open_file`]. A short
    /// read means the source shrank after the tree was built.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::FileContent;
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let content = FileContent::from_bytes(b"0123456789".to_vec());
    /// let file = content.source.open_file(content.size)?; // None: the bytes are in memory
    /// let mut buf = [0; 4];
    /// content.source.read_at(file.as_ref(), 3, &mut buf)?;
    /// assert_eq!(&buf, b"3456");
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_at(&self, file: Option<&std::fs::File>, pos: u64, buf: &mut [u8]) -> Result<()> {
        match (self, file) {
            (DataSource::Memory(bytes), _) => {
                let src = usize::try_from(pos)
                    .ok()
                    .and_then(|start| bytes.get(start..start.checked_add(buf.len())?))
                    .ok_or_else(|| self.ended_early(pos))?;
                buf.copy_from_slice(src);
                Ok(())
            }
            (DataSource::HostFile { .. }, Some(file)) => self.read_exact_at(file, pos, pos, buf),
            (DataSource::Archive { offset, .. }, Some(file)) => {
                self.read_exact_at(file, offset.saturating_add(pos), pos, buf)
            }
            (DataSource::ImageExtents { runs, .. }, Some(file)) => read_runs(
                runs,
                |r| r,
                pos,
                buf,
                |_, at, from, dst| self.read_exact_at(file, at, from, dst),
            ),
            (DataSource::OpenFiles { files, runs }, _) => read_runs(
                runs,
                |r| &r.run,
                pos,
                buf,
                |r, at, from, dst| {
                    let file = files.get(r.file).ok_or_else(|| self.ended_early(from))?;
                    self.read_exact_at(file, at, from, dst)
                },
            ),
            _ => Err(self.not_readable()),
        }
    }

    /// Fills `buf` from `file` at `at`, which holds the file's byte `pos`.
    fn read_exact_at(&self, file: &std::fs::File, at: u64, pos: u64, buf: &mut [u8]) -> Result<()> {
        use std::os::unix::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            match file.read_at(&mut buf[done..], at + done as u64) {
                Ok(0) => return Err(self.ended_early(pos + done as u64)),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::io(self.origin(), e)),
            }
        }
        Ok(())
    }

    fn ended_early(&self, pos: u64) -> Error {
        Error::from(SourceError::Changed {
            path: self.origin(),
            detail: format!("ended at byte {pos} while more data was expected"),
        })
    }

    /// The error for data that was written into the image while streaming
    /// and has no source to read again.
    fn not_readable(&self) -> Error {
        Error::from(SourceError::Changed {
            path: self.origin(),
            detail: "data written while streaming has no source to read again".into(),
        })
    }
}

/// Fills `buf` with a file's bytes from `pos` out of its data runs (`run`
/// gives the extent of each), holes as zeros: `read(run, at, from, dst)`
/// reads the file's bytes from `from` into `dst`, found at `at`.
pub(crate) fn read_runs<R>(
    runs: &[R],
    run: impl Fn(&R) -> &ExtentRun,
    pos: u64,
    buf: &mut [u8],
    mut read: impl FnMut(&R, u64, u64, &mut [u8]) -> Result<()>,
) -> Result<()> {
    buf.fill(0);
    let end = pos.saturating_add(buf.len() as u64);
    let first = runs.partition_point(|r| run(r).file_offset.saturating_add(run(r).len) <= pos);
    for r in runs[first..]
        .iter()
        .take_while(|r| run(r).file_offset < end)
    {
        let extent = run(r);
        let from = extent.file_offset.max(pos);
        let to = extent.file_offset.saturating_add(extent.len).min(end);
        let dst = &mut buf[(from - pos) as usize..(to - pos) as usize];
        let at = extent
            .image_offset
            .saturating_add(from - extent.file_offset);
        read(r, at, from, dst)?;
    }
    Ok(())
}

/// Opens `path` for reading without updating its access time where the
/// kernel allows that (the caller owns the file, or is root).
fn open_noatime(path: &Path) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let noatime = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOATIME)
        .open(path);
    match noatime {
        Ok(file) => Ok(file),
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
            std::fs::File::open(path).map_err(|e| Error::io(path, e))
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Content of a regular file.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
/// let content = FileContent::from_bytes(b"appliance\n".to_vec());
/// assert_eq!((content.size, content.segments.len()), (10, 1));
/// tree.add(Tree::ROOT, b"hostname", Node::new(meta, NodeKind::File(content)))?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct FileContent {
    /// Apparent size of the file in bytes.
    pub size: u64,
    /// Ranges of the file holding data, ascending and non-overlapping.
    pub segments: Vec<Segment>,
    /// Where the data comes from.
    pub source: DataSource,
}

impl FileContent {
    /// A reader over the whole content (`size` bytes, holes as zeros).
    /// Host files are checked against the size and mtime seen when the tree
    /// was built.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// use blockimg::tree::FileContent;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let content = FileContent::from_bytes(&b"hello\n"[..]);
    /// let mut text = String::new();
    /// content.reader()?.read_to_string(&mut text)?;
    /// assert_eq!(text, "hello\n");
    /// # Ok(())
    /// # }
    /// ```
    pub fn reader(&self) -> Result<Box<dyn std::io::Read + Send>> {
        let file = self.source.open_file(self.size)?;
        Ok(Box::new(ContentReader {
            source: self.source.clone(),
            file,
            pos: 0,
            size: self.size,
        }))
    }

    /// Content held in memory, with no holes.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::FileContent;
    ///
    /// let content = FileContent::from_bytes(b"#!/bin/sh\n".to_vec());
    /// assert_eq!(content.size, 10);
    /// assert_eq!(content.segments.len(), 1); // one run of data, no holes
    /// ```
    pub fn from_bytes(bytes: impl Into<Arc<[u8]>>) -> Self {
        let bytes: Arc<[u8]> = bytes.into();
        let size = bytes.len() as u64;
        FileContent {
            size,
            segments: Segment::whole(size),
            source: DataSource::Memory(bytes),
        }
    }
}

/// Reads a file's content in order through [`DataSource::read_at`].
struct ContentReader {
    source: DataSource,
    file: Option<std::fs::File>,
    pos: u64,
    size: u64,
}

impl std::io::Read for ContentReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (self.size - self.pos).min(buf.len() as u64) as usize;
        self.source
            .read_at(self.file.as_ref(), self.pos, &mut buf[..n])
            .map_err(std::io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}
