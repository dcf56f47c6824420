//! The in-memory model of a filesystem that every source builds and every
//! filesystem planner consumes.
//!
//! A [`Tree`] holds nodes (inodes): their metadata, their kind and, for regular
//! files, a reference to where the data lives. Directory entries point at nodes
//! by [`NodeId`]; a node reachable from several entries is a hard link.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::SourceError;
use crate::error::{Error, Result};

pub use crate::error::TreeError;

/// Longest file name a directory entry can hold, in bytes.
pub const MAX_NAME_LEN: usize = 255;

/// A point in time: seconds since the Unix epoch (may be negative) and
/// nanoseconds within that second.
///
/// # Examples
///
/// ```
/// use blockimg::tree::Timestamp;
///
/// let t = Timestamp { secs: 1_700_000_000, nanos: 500_000_000 };
/// assert!(t > Timestamp::from_secs(1_700_000_000)); // ordered by time
/// assert_eq!(t.utc().year, 2023);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    /// Whole seconds since 1970-01-01T00:00:00Z.
    pub secs: i64,
    /// Nanoseconds, `0..1_000_000_000`.
    pub nanos: u32,
}

impl Timestamp {
    /// A timestamp at a whole second.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::Timestamp;
    ///
    /// let t = Timestamp::from_secs(1_700_000_000);
    /// assert_eq!((t.secs, t.nanos), (1_700_000_000, 0));
    /// ```
    pub const fn from_secs(secs: i64) -> Self {
        Timestamp { secs, nanos: 0 }
    }

    /// The current time from the system clock.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::Timestamp;
    ///
    /// assert!(Timestamp::now() > Timestamp::from_secs(1_700_000_000));
    /// ```
    pub fn now() -> Self {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp {
            secs: now.as_secs() as i64,
            nanos: now.subsec_nanos(),
        }
    }

    /// The earlier of `self` and `limit` (used to clamp times to
    /// `SOURCE_DATE_EPOCH`).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::Timestamp;
    ///
    /// let epoch = Timestamp::from_secs(1_700_000_000);
    /// assert_eq!(Timestamp::now().clamp_to(epoch), epoch);
    /// assert_eq!(Timestamp::from_secs(5).clamp_to(epoch), Timestamp::from_secs(5));
    /// ```
    pub fn clamp_to(self, limit: Timestamp) -> Self {
        self.min(limit)
    }

    /// The calendar date and time of day in UTC (proleptic Gregorian).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::Timestamp;
    ///
    /// let t = Timestamp::from_secs(1_700_000_000).utc();
    /// assert_eq!((t.year, t.month, t.day), (2023, 11, 14));
    /// assert_eq!((t.hour, t.minute, t.second), (22, 13, 20));
    /// ```
    pub fn utc(self) -> UtcTime {
        let (days, rem) = (self.secs.div_euclid(86_400), self.secs.rem_euclid(86_400));
        let (year, month, day) = civil_from_days(days);
        UtcTime {
            year,
            month: month as u32,
            day: day as u32,
            hour: (rem / 3600) as u32,
            minute: (rem / 60 % 60) as u32,
            second: (rem % 60) as u32,
        }
    }
}

/// A [`Timestamp`]'s date and time of day in UTC.
///
/// # Examples
///
/// ```
/// use blockimg::tree::Timestamp;
///
/// let t = Timestamp::from_secs(0).utc();
/// assert_eq!((t.year, t.month, t.day, t.hour), (1970, 1, 1, 0));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    /// The year (may be before 1970 or after 9999).
    pub year: i64,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, from 1.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
}

/// Year, month and day of `days` since 1970-01-01 in the proleptic
/// Gregorian calendar (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Ownership, permissions and times of one node.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{Metadata, Timestamp};
///
/// let time = Timestamp::from_secs(1_700_000_000);
/// let meta = Metadata { permissions: 0o600, uid: 1000, gid: 1000, ..Metadata::directory(time) };
/// assert_eq!((meta.mtime, meta.crtime), (time, None));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// Permission bits including setuid, setgid and sticky (`0o7777` mask).
    pub permissions: u16,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// Last access.
    pub atime: Timestamp,
    /// Last modification of the content.
    pub mtime: Timestamp,
    /// Last change of the inode.
    pub ctime: Timestamp,
    /// Creation (birth) time, when the source knows it.
    pub crtime: Option<Timestamp>,
}

impl Metadata {
    /// A directory made on the way: mode 0755, owned by root, every time
    /// `time` (the creation time left to the writer).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Timestamp};
    ///
    /// let time = Timestamp::from_secs(1_700_000_000);
    /// let dir = Metadata::directory(time);
    /// assert_eq!((dir.permissions, dir.uid, dir.gid), (0o755, 0, 0));
    /// // Other kinds of node start from it too.
    /// let script = Metadata { permissions: 0o700, ..Metadata::directory(time) };
    /// assert_eq!(script.mtime, time);
    /// ```
    pub fn directory(time: Timestamp) -> Metadata {
        Metadata {
            permissions: 0o755,
            uid: 0,
            gid: 0,
            atime: time,
            mtime: time,
            ctime: time,
            crtime: None,
        }
    }
}

/// One extended attribute: its full name (`user.foo`, `security.selinux`,
/// `system.posix_acl_access`, ...) and its value as the VFS presents it.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree, Xattr};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
/// let mut node = Node::new(meta, NodeKind::File(FileContent::from_bytes(b"x".to_vec())));
/// node.xattrs.push(Xattr { name: b"user.comment".to_vec(), value: b"kept in the image".to_vec() });
/// let id = tree.add(Tree::ROOT, b"file", node)?;
/// assert_eq!(tree.node(id).xattrs[0].name, b"user.comment");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Xattr {
    /// Full attribute name including its namespace prefix.
    pub name: Vec<u8>,
    /// Value bytes (POSIX ACLs in the VFS `posix_acl_xattr` format).
    pub value: Vec<u8>,
}

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

/// Identifies a node within its [`Tree`].
///
/// # Examples
///
/// ```
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
/// let id = tree.add(Tree::ROOT, b"etc", Node::new(meta, NodeKind::Directory(Default::default())))?;
/// assert_eq!((Tree::ROOT.index(), id.index()), (0, 1));
/// assert_eq!(tree.lookup(b"/etc"), Some(id));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl NodeId {
    /// Position of the node in [`Tree::nodes`].
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert!(tree.nodes()[Tree::ROOT.index()].is_dir());
    /// # Ok(())
    /// # }
    /// ```
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// What a node is.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
/// tree.add(Tree::ROOT, b"null", Node::new(meta.clone(), NodeKind::CharDevice { major: 1, minor: 3 }))?;
/// tree.add(Tree::ROOT, b"init", Node::new(meta, NodeKind::Symlink(b"/bin/busybox".to_vec())))?;
/// let init = tree.lookup(b"/init").expect("added");
/// assert!(matches!(&tree.node(init).kind, NodeKind::Symlink(target) if target == b"/bin/busybox"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// A regular file.
    File(FileContent),
    /// A directory: its entries by name (without `.` and `..`).
    Directory(BTreeMap<Vec<u8>, NodeId>),
    /// A symbolic link and its target.
    Symlink(Vec<u8>),
    /// A character device.
    CharDevice {
        /// Major device number.
        major: u32,
        /// Minor device number.
        minor: u32,
    },
    /// A block device.
    BlockDevice {
        /// Major device number.
        major: u32,
        /// Minor device number.
        minor: u32,
    },
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
}

/// One inode of the tree.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
/// let node = Node::new(meta, NodeKind::Fifo);
/// assert_eq!(node.mode(), 0o010644);
/// let id = tree.add(Tree::ROOT, b"pipe", node)?;
/// tree.node_mut(id).meta.uid = 1000;
/// assert_eq!(tree.node(id).meta.uid, 1000);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Node {
    /// Owner, permissions and times.
    pub meta: Metadata,
    /// Type and type-specific content.
    pub kind: NodeKind,
    /// Extended attributes, sorted by name.
    pub xattrs: Vec<Xattr>,
}

impl Node {
    /// A node of the given kind with the given metadata and no xattrs.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp};
    ///
    /// let node = Node::new(Metadata::directory(Timestamp::from_secs(0)), NodeKind::Directory(Default::default()));
    /// assert!(node.is_dir() && node.xattrs.is_empty());
    /// ```
    pub fn new(meta: Metadata, kind: NodeKind) -> Self {
        Node {
            meta,
            kind,
            xattrs: Vec::new(),
        }
    }

    /// True for directories.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert!(tree.node(Tree::ROOT).is_dir());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Directory(_))
    }

    /// The file-type bits of `st_mode` (`S_IFREG`, `S_IFDIR`, ...).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert_eq!(tree.node(Tree::ROOT).type_bits(), 0o040000); // S_IFDIR
    /// # Ok(())
    /// # }
    /// ```
    pub fn type_bits(&self) -> u16 {
        match self.kind {
            NodeKind::File(_) => 0o100000,
            NodeKind::Directory(_) => 0o040000,
            NodeKind::Symlink(_) => 0o120000,
            NodeKind::CharDevice { .. } => 0o020000,
            NodeKind::BlockDevice { .. } => 0o060000,
            NodeKind::Fifo => 0o010000,
            NodeKind::Socket => 0o140000,
        }
    }

    /// The full `st_mode`: type bits and permissions.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp};
    ///
    /// let meta = Metadata { permissions: 0o777, ..Metadata::directory(Timestamp::default()) };
    /// let link = Node::new(meta, NodeKind::Symlink(b"/bin/busybox".to_vec()));
    /// assert_eq!(link.type_bits(), 0o120000);
    /// assert_eq!(link.mode(), 0o120777);
    /// assert!(!link.is_dir());
    /// ```
    pub fn mode(&self) -> u16 {
        self.type_bits() | (self.meta.permissions & 0o7777)
    }
}

/// An in-memory filesystem tree. Node 0 is the root directory.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let time = Timestamp::from_secs(1_700_000_000);
/// let mut tree = Tree::new(Metadata::directory(time));
/// let etc = tree.add(Tree::ROOT, b"etc", Node::new(Metadata::directory(time), NodeKind::Directory(Default::default())))?;
/// let file = Metadata { permissions: 0o644, ..Metadata::directory(time) };
/// let hostname = FileContent::from_bytes(&b"appliance\n"[..]);
/// tree.add(etc, b"hostname", Node::new(file, NodeKind::File(hostname)))?;
///
/// assert_eq!(tree.len(), 3); // the root, etc and hostname
/// assert_eq!(tree.node(tree.lookup(b"/etc/hostname").unwrap()).mode(), 0o100644);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    /// The root directory's id.
    pub const ROOT: NodeId = NodeId(0);

    /// A tree holding only a root directory with the given metadata.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert_eq!(tree.len(), 1); // the root alone
    /// assert_eq!(tree.node(Tree::ROOT).meta.permissions, 0o755);
    /// # Ok(())
    /// # }
    /// ```
    pub fn new(root: Metadata) -> Self {
        Tree {
            nodes: vec![Node::new(root, NodeKind::Directory(BTreeMap::new()))],
        }
    }

    /// All nodes, indexed by [`NodeId::index`].
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// tree.add(Tree::ROOT, b"a", Node::new(meta.clone(), NodeKind::Fifo))?;
    /// tree.add(Tree::ROOT, b"b", Node::new(meta, NodeKind::Socket))?;
    /// assert_eq!(tree.nodes().iter().filter(|n| !n.is_dir()).count(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node with the given id.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert_eq!(tree.node(Tree::ROOT).meta.mtime, Timestamp::from_secs(1_700_000_000));
    /// # Ok(())
    /// # }
    /// ```
    pub fn node(&self, id: NodeId) -> &Node {
        &self.nodes[id.index()]
    }

    /// Mutable access to the node with the given id.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Timestamp, Tree, Xattr};
    ///
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
    /// let root = tree.node_mut(Tree::ROOT);
    /// root.meta.permissions = 0o700;
    /// root.xattrs.push(Xattr { name: b"user.origin".to_vec(), value: b"build".to_vec() });
    /// assert_eq!(tree.node(Tree::ROOT).mode(), 0o040700);
    /// ```
    pub fn node_mut(&mut self, id: NodeId) -> &mut Node {
        &mut self.nodes[id.index()]
    }

    /// Number of nodes, the root included.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// let file = tree.add(Tree::ROOT, b"a", Node::new(meta, NodeKind::Fifo))?;
    /// tree.link(Tree::ROOT, b"b", file)?; // a hard link: a name, not a node
    /// assert_eq!(tree.len(), 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// True when the tree holds only the root.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// assert!(tree.is_empty()); // the root alone
    /// let meta = tree.node(Tree::ROOT).meta.clone();
    /// tree.add(Tree::ROOT, b"pipe", Node::new(meta, NodeKind::Fifo))?;
    /// assert!(!tree.is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_empty(&self) -> bool {
        self.nodes.len() == 1
    }

    /// Adds `node` as entry `name` of directory `parent` and returns its id.
    /// An existing entry of that name is replaced.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// let dir = tree.add(Tree::ROOT, b"etc", Node::new(meta.clone(), NodeKind::Directory(Default::default())))?;
    /// tree.add(dir, b"motd", Node::new(meta.clone(), NodeKind::File(FileContent::from_bytes(b"hi\n".to_vec()))))?;
    /// tree.add(dir, b"motd", Node::new(meta.clone(), NodeKind::Fifo))?; // replaces the file
    /// assert!(matches!(tree.node(tree.lookup(b"/etc/motd").expect("added")).kind, NodeKind::Fifo));
    /// assert!(tree.add(dir, b"a/b", Node::new(meta, NodeKind::Fifo)).is_err()); // not a name
    /// # Ok(())
    /// # }
    /// ```
    pub fn add(&mut self, parent: NodeId, name: &[u8], node: Node) -> Result<NodeId> {
        let id = NodeId(u32::try_from(self.nodes.len()).map_err(|_| {
            Error::from(TreeError::TooManyNodes {
                count: self.nodes.len() as u64,
            })
        })?);
        self.nodes.push(node);
        if let Err(e) = self.link(parent, name, id) {
            self.nodes.pop();
            return Err(e);
        }
        Ok(id)
    }

    /// Adds entry `name` in directory `parent` pointing at the existing node
    /// `target` (a hard link when `target` already has a name).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let meta = Metadata::directory(Timestamp::from_secs(0));
    /// let mut tree = Tree::new(meta.clone());
    /// let busybox = FileContent::from_bytes(&b"\x7fELF"[..]);
    /// let id = tree.add(Tree::ROOT, b"busybox", Node::new(meta, NodeKind::File(busybox)))?;
    /// tree.link(Tree::ROOT, b"sh", id)?; // a second name for the same inode
    ///
    /// assert_eq!(tree.lookup(b"/sh"), Some(id));
    /// assert_eq!(tree.link_counts()[id.index()], 2);
    /// # Ok(())
    /// # }
    /// ```
    pub fn link(&mut self, parent: NodeId, name: &[u8], target: NodeId) -> Result<()> {
        validate_name(name)?;
        match &mut self.nodes[parent.index()].kind {
            NodeKind::Directory(entries) => {
                entries.insert(name.to_vec(), target);
                Ok(())
            }
            _ => Err(Error::from(TreeError::NotADirectory {
                name: String::from_utf8_lossy(name).into_owned(),
            })),
        }
    }

    /// Maps owners: a uid equal to the first of a pair in `uids` becomes
    /// the second (likewise for gids); others are kept.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Timestamp, Tree};
    ///
    /// let mut root = Metadata::directory(Timestamp::from_secs(0));
    /// (root.uid, root.gid) = (1000, 1000); // scanned from a user's directory
    /// let mut tree = Tree::new(root);
    /// tree.map_owners(&[(1000, 0)], &[]);
    /// assert_eq!((tree.node(Tree::ROOT).meta.uid, tree.node(Tree::ROOT).meta.gid), (0, 1000));
    /// tree.set_owner_all(0, 0);
    /// assert_eq!(tree.node(Tree::ROOT).meta.gid, 0);
    /// ```
    pub fn map_owners(&mut self, uids: &[(u32, u32)], gids: &[(u32, u32)]) {
        let map = |pairs: &[(u32, u32)], id: u32| {
            pairs
                .iter()
                .find(|(from, _)| *from == id)
                .map_or(id, |(_, to)| *to)
        };
        for node in &mut self.nodes {
            node.meta.uid = map(uids, node.meta.uid);
            node.meta.gid = map(gids, node.meta.gid);
        }
    }

    /// Removes entry `name` from directory `parent`; the node stays in the
    /// tree but is no longer reachable through that name.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let meta = Metadata::directory(Timestamp::from_secs(0));
    /// let mut tree = Tree::new(meta.clone());
    /// let tmp = tree.add(Tree::ROOT, b"tmp", Node::new(meta, NodeKind::Directory(Default::default())))?;
    /// assert_eq!(tree.unlink(Tree::ROOT, b"tmp"), Some(tmp));
    /// assert_eq!(tree.lookup(b"/tmp"), None);
    /// assert!(tree.entries(Tree::ROOT).unwrap().is_empty());
    /// # Ok(())
    /// # }
    /// ```
    pub fn unlink(&mut self, parent: NodeId, name: &[u8]) -> Option<NodeId> {
        match &mut self.nodes[parent.index()].kind {
            NodeKind::Directory(entries) => entries.remove(name),
            _ => None,
        }
    }

    /// The entries of a directory node, or `None` for other kinds.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// for name in [&b"b"[..], b"a"] {
    ///     tree.add(Tree::ROOT, name, Node::new(meta.clone(), NodeKind::Fifo))?;
    /// }
    /// let names: Vec<_> = tree.entries(Tree::ROOT).expect("a directory").keys().cloned().collect();
    /// assert_eq!(names, [b"a".to_vec(), b"b".to_vec()]); // sorted by name
    /// let a = tree.lookup(b"/a").expect("added");
    /// assert!(tree.entries(a).is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn entries(&self, dir: NodeId) -> Option<&BTreeMap<Vec<u8>, NodeId>> {
        match &self.node(dir).kind {
            NodeKind::Directory(entries) => Some(entries),
            _ => None,
        }
    }

    /// Looks up a `/`-separated path relative to the root.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let meta = Metadata::directory(Timestamp::from_secs(0));
    /// let mut tree = Tree::new(meta.clone());
    /// let usr = tree.add(Tree::ROOT, b"usr", Node::new(meta.clone(), NodeKind::Directory(Default::default())))?;
    /// let bin = tree.add(usr, b"bin", Node::new(meta, NodeKind::Directory(Default::default())))?;
    /// assert_eq!(tree.lookup(b"/usr/bin"), Some(bin));
    /// assert_eq!(tree.lookup(b"usr/./bin/"), Some(bin));
    /// assert_eq!(tree.lookup(b"/"), Some(Tree::ROOT));
    /// assert_eq!(tree.lookup(b"/usr/lib"), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn lookup(&self, path: &[u8]) -> Option<NodeId> {
        let mut current = Self::ROOT;
        for component in path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
        {
            current = *self.entries(current)?.get(component)?;
        }
        Some(current)
    }

    /// Gives every node, the root included, the owner `uid` and group `gid`
    /// (for images whose files should all belong to one user, typically root,
    /// whatever their owners on the host).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// let id = tree.add(Tree::ROOT, b"f", Node::new(Metadata { uid: 1000, ..meta }, NodeKind::Fifo))?;
    /// tree.set_owner_all(0, 0);
    /// assert_eq!((tree.node(id).meta.uid, tree.node(Tree::ROOT).meta.uid), (0, 0));
    /// # Ok(())
    /// # }
    /// ```
    pub fn set_owner_all(&mut self, uid: u32, gid: u32) {
        for node in &mut self.nodes {
            node.meta.uid = uid;
            node.meta.gid = gid;
        }
    }

    /// Hard-link count of every node: the number of directory entries naming
    /// it; for directories, 2 plus the number of subdirectories.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// let meta = Metadata { permissions: 0o644, ..tree.node(Tree::ROOT).meta.clone() };
    /// let file = tree.add(Tree::ROOT, b"a", Node::new(meta.clone(), NodeKind::Fifo))?;
    /// tree.link(Tree::ROOT, b"b", file)?;
    /// tree.add(Tree::ROOT, b"dir", Node::new(meta, NodeKind::Directory(Default::default())))?;
    /// let counts = tree.link_counts();
    /// assert_eq!(counts[file.index()], 2);
    /// assert_eq!(counts[Tree::ROOT.index()], 3); // ".", its own "..", and dir's ".."
    /// # Ok(())
    /// # }
    /// ```
    pub fn link_counts(&self) -> Vec<u32> {
        let mut counts = vec![0u32; self.nodes.len()];
        for (index, node) in self.nodes.iter().enumerate() {
            if let NodeKind::Directory(entries) = &node.kind {
                counts[index] = counts[index].saturating_add(2);
                for &child in entries.values() {
                    let slot = if self.node(child).is_dir() {
                        index
                    } else {
                        child.index()
                    };
                    counts[slot] = counts[slot].saturating_add(1);
                }
            }
        }
        counts
    }
}

/// Checks that `name` can be a directory entry: 1..=255 bytes, no `/` or NUL,
/// not `.` or `..`.
///
/// # Examples
///
/// ```
/// use blockimg::tree::validate_name;
///
/// assert!(validate_name(b"hostname").is_ok());
/// assert!(validate_name(b"a/b").is_err());
/// assert!(validate_name(b"..").is_err());
/// assert!(validate_name(&[b'x'; 256]).is_err());
/// ```
pub fn validate_name(name: &[u8]) -> Result<()> {
    let display = || String::from_utf8_lossy(name).into_owned();
    if name.len() > MAX_NAME_LEN {
        return Err(Error::from(TreeError::NameTooLong {
            name: display(),
            len: name.len(),
        }));
    }
    if name.is_empty() || name == b"." || name == b".." || name.contains(&b'/') || name.contains(&0)
    {
        return Err(Error::from(TreeError::InvalidName { name: display() }));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_extents_read_runs_and_zero_holes() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("image");
        std::fs::write(&path, b"0123456789abcdefghij").unwrap();
        let runs: Arc<[ExtentRun]> = vec![
            ExtentRun {
                file_offset: 2,
                image_offset: 10,
                len: 3,
            },
            ExtentRun {
                file_offset: 8,
                image_offset: 0,
                len: 2,
            },
        ]
        .into();
        let content = FileContent {
            size: 12,
            segments: vec![],
            source: DataSource::ImageExtents {
                path: Arc::new(path),
                runs,
            },
        };
        let mut all = Vec::new();
        std::io::Read::read_to_end(&mut content.reader().unwrap(), &mut all).unwrap();
        assert_eq!(all, b"\0\0abc\0\0\0\x30\x31\0\0");
        let file = content.source.open_file(12).unwrap();
        let mut part = [9u8; 4];
        content.source.read_at(file.as_ref(), 3, &mut part).unwrap();
        assert_eq!(&part, b"bc\0\0");
    }
}
