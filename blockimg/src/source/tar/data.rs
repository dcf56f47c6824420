//! What becomes of the data of regular members: the [`MemberData`] trait
//! and the two kinds a caller picks, [`ArchiveRanges`] (left in an
//! uncompressed archive file) and [`InMemory`].

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::tree::{DataSource, FileContent, NodeId, Segment};

/// What happens to the data of regular members.
///
/// # Examples
///
/// ```
/// use blockimg::source::tar::{read_archive, InMemory, OutsideRoot};
/// use blockimg::tree::{NodeKind, Timestamp};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let mut builder = tar::Builder::new(Vec::new());
/// let mut header = tar::Header::new_gnu();
/// header.set_size(10);
/// header.set_mode(0o644);
/// builder.append_data(&mut header, "etc/hostname", &b"appliance\n"[..])?;
/// let archive = builder.into_inner()?;
/// // InMemory and ArchiveRanges are the two kinds of MemberData.
/// let tree = read_archive(&archive[..], "root.tar", &mut InMemory::new(1 << 20), OutsideRoot::Refuse, Timestamp::now())?;
/// let NodeKind::File(content) = &tree.node(tree.lookup(b"/etc/hostname").ok_or("missing")?).kind else { panic!() };
/// assert_eq!(content.size, 10);
/// # let _ = dir;
/// # Ok(())
/// # }
/// ```
pub trait MemberData {
    /// Takes the `size` bytes of a member's data from `data` (which starts at
    /// byte `archive_offset` of the uncompressed archive) and says where the
    /// file's content lives.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// use blockimg::source::tar::{read_archive, MemberData, OutsideRoot};
    /// use blockimg::tree::{FileContent, NodeId, Timestamp};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // Keeps every member's data in memory and counts the files.
    /// #[derive(Default)]
    /// struct Counting(usize);
    /// impl MemberData for Counting {
    ///     fn take(&mut self, data: &mut dyn Read, size: u64, _offset: u64, _sparse: bool) -> blockimg::Result<FileContent> {
    ///         let mut bytes = Vec::with_capacity(size as usize);
    ///         data.take(size).read_to_end(&mut bytes).map_err(|e| blockimg::Error::io("archive", e))?;
    ///         Ok(FileContent::from_bytes(bytes))
    ///     }
    ///     fn added(&mut self, _node: NodeId) {
    ///         self.0 += 1;
    ///     }
    /// }
    /// let mut builder = tar::Builder::new(Vec::new());
    /// let mut header = tar::Header::new_gnu();
    /// header.set_size(3);
    /// header.set_mode(0o644);
    /// builder.append_data(&mut header, "a", &b"abc"[..])?;
    /// let archive = builder.into_inner()?;
    /// let mut data = Counting::default();
    /// read_archive(&archive[..], "a.tar", &mut data, OutsideRoot::Refuse, Timestamp::now())?;
    /// assert_eq!(data.0, 1);
    /// # Ok(())
    /// # }
    /// ```
    fn take(
        &mut self,
        data: &mut dyn Read,
        size: u64,
        archive_offset: u64,
        sparse: bool,
    ) -> Result<FileContent>;

    /// Called once the file taken last is in the tree as `node`.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::source::tar::{read_archive, InMemory, MemberData, OutsideRoot};
    /// use blockimg::tree::Timestamp;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// // Called after each file member's node is in the tree; most kinds of
    /// // member data need nothing then, and the default does nothing.
    /// let mut data = InMemory::new(1 << 20);
    /// data.added(blockimg::tree::Tree::ROOT);
    /// let empty = tar::Builder::new(Vec::new()).into_inner()?;
    /// assert_eq!(read_archive(&empty[..], "empty.tar", &mut data, OutsideRoot::Refuse, Timestamp::now())?.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    fn added(&mut self, _node: NodeId) {}
}

/// Leaves the data in an uncompressed archive file and records its offset.
///
/// # Examples
///
/// ```
/// use blockimg::source::tar::{read_archive, ArchiveRanges, OutsideRoot};
/// use blockimg::tree::{DataSource, NodeKind, Timestamp};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let mut builder = tar::Builder::new(Vec::new());
/// let mut header = tar::Header::new_gnu();
/// header.set_size(10);
/// header.set_mode(0o644);
/// builder.append_data(&mut header, "etc/hostname", &b"appliance\n"[..])?;
/// let archive = builder.into_inner()?;
/// let path = dir.path().join("root.tar");
/// std::fs::write(&path, &archive)?;
/// let mut ranges = ArchiveRanges::new(&path);
/// let tree = read_archive(std::fs::File::open(&path)?, "root.tar", &mut ranges, OutsideRoot::Refuse, Timestamp::now())?;
/// let NodeKind::File(content) = &tree.node(tree.lookup(b"/etc/hostname").ok_or("missing")?).kind else { panic!() };
/// assert!(matches!(content.source, DataSource::Archive { offset: 512, .. })); // after its header
/// # Ok(())
/// # }
/// ```
pub struct ArchiveRanges {
    path: Arc<PathBuf>,
}

impl ArchiveRanges {
    /// Data will be read from the archive at `path` when the image is
    /// written.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::source::tar::ArchiveRanges;
    ///
    /// // Data stays in rootfs.tar, read again when the image is written.
    /// let _ranges = ArchiveRanges::new("rootfs.tar".as_ref());
    /// ```
    pub fn new(path: &Path) -> Self {
        ArchiveRanges {
            path: Arc::new(path.to_path_buf()),
        }
    }
}

impl MemberData for ArchiveRanges {
    fn take(
        &mut self,
        _data: &mut dyn Read,
        size: u64,
        archive_offset: u64,
        sparse: bool,
    ) -> Result<FileContent> {
        if sparse {
            return Err(Error::InvalidOption {
                option: "archive".into(),
                reason: "sparse members are read as a stream: give an exact disk size".into(),
            });
        }
        Ok(FileContent {
            size,
            segments: Segment::whole(size),
            source: DataSource::Archive {
                path: self.path.clone(),
                offset: archive_offset,
            },
        })
    }
}

/// Keeps member data in memory, up to a limit on the total: for archives
/// that must become a tree before anything is written (compressed
/// archives and pipes when the image cannot be written in one pass).
///
/// # Examples
///
/// ```
/// use blockimg::source::tar::{read_archive, InMemory, OutsideRoot};
/// use blockimg::tree::Timestamp;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let mut builder = tar::Builder::new(Vec::new());
/// let mut header = tar::Header::new_gnu();
/// header.set_size(10);
/// header.set_mode(0o644);
/// builder.append_data(&mut header, "etc/hostname", &b"appliance\n"[..])?;
/// let archive = builder.into_inner()?;
/// let small = read_archive(&archive[..], "root.tar", &mut InMemory::new(4), OutsideRoot::Refuse, Timestamp::now());
/// assert!(small.is_err()); // more file data than the limit
/// # let _ = dir;
/// # Ok(())
/// # }
/// ```
pub struct InMemory {
    limit: u64,
    total: u64,
}

impl InMemory {
    /// Holds at most `limit` bytes of file data in all.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::source::tar::InMemory;
    ///
    /// let _data = InMemory::new(256 << 20); // at most 256 MiB of file data
    /// ```
    pub fn new(limit: u64) -> Self {
        InMemory { limit, total: 0 }
    }
}

impl MemberData for InMemory {
    fn take(
        &mut self,
        data: &mut dyn Read,
        size: u64,
        _offset: u64,
        _sparse: bool,
    ) -> Result<FileContent> {
        self.total = self.total.saturating_add(size);
        if self.total > self.limit {
            return Err(Error::TooLarge {
                what: "archive data held in memory (write a raw image of exact size to stream it, or give an uncompressed archive file)".into(),
                size: self.total,
                limit: self.limit,
            });
        }
        let mut bytes = Vec::with_capacity(size.min(1 << 20) as usize);
        data.take(size)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::io("<archive>", e))?;
        if bytes.len() as u64 != size {
            return Err(Error::io(
                "<archive>",
                std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "the archive ends in the middle of a member",
                ),
            ));
        }
        Ok(FileContent::from_bytes(bytes))
    }
}
