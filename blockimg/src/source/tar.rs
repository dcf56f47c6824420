//! Tar archives as a source: plain, gzip, xz or zstd (detected from the
//! bytes), from a file or a stream. Ownership, modes, nanosecond times,
//! devices, hard links and xattrs come from the archive, never from the
//! host, so a rootless build keeps root-owned files and device nodes.
//!
//! File data is never extracted: [`MemberData`] decides what becomes of it.
//! [`ArchiveRanges`] leaves it in an uncompressed archive file and records
//! where; [`InMemory`] keeps it in memory; and a streamed build
//! ([`crate::DiskBuilder`] with an exact size) writes it straight into the
//! image as the archive streams past.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::tar_reader::{MemberBody, MemberKind, TarError, TarReader};
use crate::error::SourceError;
use crate::error::{Error, Result};
use crate::ext4::{Ext4Layout, PlacedData, Run};
use crate::report::{Observer, Silent, Warning};
use crate::sink::{is_zero, Sink};
use crate::tree::{
    DataSource, FileContent, Metadata, Node, NodeId, NodeKind, Segment, Timestamp, Tree, Xattr,
};

/// The compression of an archive, recognised from its first bytes.
///
/// # Examples
///
/// ```
/// use blockimg::source::tar::Compression;
///
/// // By the bytes, whatever the file is called.
/// assert_eq!(Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Compression::Zstd);
/// assert_eq!(Compression::detect(b"\xfd7zXZ\0"), Compression::Xz);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Recognises the compression from the first bytes of a stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::source::tar::Compression;
    ///
    /// assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0, 0, 0]), Compression::Gzip);
    /// assert_eq!(Compression::detect(b"etc/hostname\0"), Compression::None);
    /// ```
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Wraps `input` in the decoder its first bytes call for.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// gz.write_all(b"tar bytes")?;
/// let compressed = gz.finish()?;
///
/// // The compression is recognised from the first bytes.
/// let mut text = String::new();
/// blockimg::source::tar::decompress(&compressed[..], "rootfs.tar.gz")?.read_to_string(&mut text)?;
/// assert_eq!(text, "tar bytes");
/// # Ok(())
/// # }
/// ```
pub fn decompress<'a>(
    input: impl Read + Send + 'a,
    name: &str,
) -> Result<Box<dyn Read + Send + 'a>> {
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let head = buffered.fill_buf().map_err(|e| Error::io(name, e))?;
    Ok(match Compression::detect(head) {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered).map_err(|e| Error::io(name, e))?,
        ),
    })
}

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

/// Writes each member's data into the image as it streams past: blocks are
/// taken from the layout, all-zero blocks become holes, and the filesystem
/// starts at byte `fs_offset` of the sink.
pub(crate) struct StreamPlacement<'a> {
    layout: &'a mut Ext4Layout,
    sink: &'a mut dyn Sink,
    fs_offset: u64,
    placed: PlacedData,
    pending: Option<Vec<Run>>,
    buffer: Vec<u8>,
}

/// Bytes of member data handled at once.
const CHUNK: usize = 1 << 20;

impl<'a> StreamPlacement<'a> {
    /// Places data in `layout`, writing it into `sink`.
    pub(crate) fn new(layout: &'a mut Ext4Layout, sink: &'a mut dyn Sink, fs_offset: u64) -> Self {
        StreamPlacement {
            layout,
            sink,
            fs_offset,
            placed: PlacedData::default(),
            pending: None,
            buffer: vec![0u8; CHUNK],
        }
    }

    /// Where every file's data went.
    pub(crate) fn into_placed(mut self) -> PlacedData {
        self.release_pending();
        self.placed
    }

    /// Gives back the blocks of a file taken but never added to the tree.
    fn release_pending(&mut self) {
        if let Some(runs) = self.pending.take() {
            self.layout.release(&runs);
        }
    }
}

impl MemberData for StreamPlacement<'_> {
    fn take(
        &mut self,
        data: &mut dyn Read,
        size: u64,
        _archive_offset: u64,
        _sparse: bool,
    ) -> Result<FileContent> {
        self.release_pending();
        let bs = self.layout.geometry().bs();
        let mut segments: Vec<Segment> = Vec::new();
        let mut runs: Vec<Run> = Vec::new();
        let mut pos = 0u64;
        while pos < size {
            let want = (size - pos).min(CHUNK as u64) as usize;
            data.read_exact(&mut self.buffer[..want])
                .map_err(|e| Error::io("<archive>", e))?;
            // The last block of a file is written whole, its tail zeroed:
            // the block is the file's own, and files that follow each
            // other on disk then reach the sink as one contiguous write.
            let bs = bs as usize;
            let padded = want.div_ceil(bs) * bs;
            self.buffer[want..padded].fill(0);
            let chunk = &self.buffer[..padded];
            // Runs of non-zero blocks go to disk; zero blocks stay holes.
            let mut block = 0usize;
            while block * bs < padded {
                let start = block * bs;
                if is_zero(&chunk[start..start + bs]) {
                    block += 1;
                    continue;
                }
                let mut stop = block + 1;
                while stop * bs < padded && !is_zero(&chunk[stop * bs..(stop + 1) * bs]) {
                    stop += 1;
                }
                let bytes = &chunk[start..stop * bs];
                let taken = self.layout.take_blocks((stop - block) as u64)?;
                let mut at = 0usize;
                for run in &taken {
                    let n = run.len as usize * bs;
                    self.sink
                        .write_at(self.fs_offset + run.start * bs as u64, &bytes[at..at + n])?;
                    at += n;
                }
                runs.extend(taken);
                let offset = pos + start as u64;
                let len = ((stop * bs).min(want) - start) as u64;
                match segments.last_mut() {
                    Some(last) if last.offset + last.len == offset => last.len += len,
                    _ => segments.push(Segment { offset, len }),
                }
                block = stop;
            }
            pos += want as u64;
        }
        self.pending = Some(runs);
        Ok(FileContent {
            size,
            segments,
            source: DataSource::Written,
        })
    }

    fn added(&mut self, node: NodeId) {
        if let Some(runs) = self.pending.take() {
            self.placed.insert(node, runs);
        }
    }
}

/// How members whose path leaves the root are treated.
///
/// # Examples
///
/// ```
/// use blockimg::source::tar::{read_archive, InMemory, OutsideRoot};
/// use blockimg::tree::Timestamp;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut builder = tar::Builder::new(Vec::new());
/// let mut header = tar::Header::new_gnu();
/// header.set_size(0);
/// header.as_gnu_mut().ok_or("gnu")?.name[..10].copy_from_slice(b"../escaped");
/// header.set_cksum();
/// builder.append(&header, &[][..])?;
/// let archive = builder.into_inner()?;
/// let read = |outside| read_archive(&archive[..], "evil.tar", &mut InMemory::new(1 << 20), outside, Timestamp::now());
/// assert!(read(OutsideRoot::Refuse).is_err());
/// assert_eq!(read(OutsideRoot::Skip)?.len(), 1); // the root alone
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OutsideRoot {
    /// Refuse the archive, naming the member.
    #[default]
    Refuse,
    /// Skip such members with a warning on standard error.
    Skip,
}

/// Reads every member of the (decompressed) tar stream `input` into a tree.
/// `name` names the archive in errors. Directories the archive implies but
/// does not list (the root included) get the times `implied`, mode 0755
/// and root as owner, as `tar -x` would create them at that time.
///
/// # Examples
///
/// ```
/// use blockimg::source::tar::{read_archive, InMemory, OutsideRoot};
/// use blockimg::tree::Timestamp;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut archive = tar::Builder::new(Vec::new());
/// let mut header = tar::Header::new_gnu();
/// header.set_size(6);
/// header.set_mode(0o755);
/// archive.append_data(&mut header, "bin/hello", &b"#!/bin/sh"[..6])?;
/// let bytes = archive.into_inner()?;
///
/// // The data of each member kept in memory, up to 1 MiB in all.
/// let mut data = InMemory::new(1 << 20);
/// let tree = read_archive(&bytes[..], "hello.tar", &mut data, OutsideRoot::Refuse, Timestamp::from_secs(0))?;
/// let hello = tree.node(tree.lookup(b"/bin/hello").ok_or("missing")?);
/// assert_eq!(hello.mode(), 0o100755);
/// # Ok(())
/// # }
/// ```
pub fn read_archive(
    input: impl Read,
    name: &str,
    data: &mut dyn MemberData,
    outside: OutsideRoot,
    implied: Timestamp,
) -> Result<Tree> {
    read_archive_observed(input, name, data, outside, implied, &mut Silent)
}

/// [`read_archive`], telling `observer` of every member it skips
/// ([`Warning::SkippedOutsideRoot`]).
///
/// # Examples
///
/// ```
/// use blockimg::source::tar::{read_archive_observed, InMemory, OutsideRoot};
/// use blockimg::tree::Timestamp;
/// use blockimg::{Observer, Warning};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut archive = tar::Builder::new(Vec::new());
/// let mut header = tar::Header::new_gnu();
/// header.as_gnu_mut().ok_or("gnu")?.name[..12].copy_from_slice(b"../etc/shell");
/// header.set_size(0);
/// header.set_cksum();
/// archive.append(&header, &[][..])?;
/// let bytes = archive.into_inner()?;
///
/// #[derive(Default)]
/// struct Warnings(Vec<Warning>);
/// impl Observer for Warnings {
///     fn warn(&mut self, w: Warning) { self.0.push(w); }
/// }
/// let mut warnings = Warnings::default();
/// let mut data = InMemory::new(1 << 20);
/// let time = Timestamp::from_secs(0);
/// let tree = read_archive_observed(&bytes[..], "a.tar", &mut data, OutsideRoot::Skip, time, &mut warnings)?;
/// assert_eq!(tree.len(), 1); // the root alone
/// assert_eq!(warnings.0.len(), 1);
/// # Ok(())
/// # }
/// ```
pub fn read_archive_observed(
    input: impl Read,
    name: &str,
    data: &mut dyn MemberData,
    outside: OutsideRoot,
    implied: Timestamp,
    observer: &mut dyn Observer,
) -> Result<Tree> {
    let mut reader = TarReader::new(input);
    let mut builder = TreeBuilder::new(implied);
    let mut owners = OwnerNames::default();
    let mut last_member = String::new();
    loop {
        let member = match reader.next_member() {
            Ok(Some(member)) => member,
            Ok(None) => break,
            Err(e @ TarError::NotAnArchive(_)) => return Err(bad(name, "", &e.to_string())),
            Err(e) => {
                let after = if last_member.is_empty() {
                    "at the start".to_string()
                } else {
                    format!("after {last_member:?}")
                };
                return Err(bad(name, "", &format!("{e} ({after})")));
            }
        };
        let shown = String::from_utf8_lossy(&member.path).into_owned();
        last_member = shown.clone();
        let Some(components) = normalise(&member.path) else {
            match outside {
                OutsideRoot::Refuse => {
                    return Err(bad(
                        name,
                        &shown,
                        "the path leaves the archive's root (`..`)",
                    ))
                }
                OutsideRoot::Skip => {
                    observer.warn(Warning::SkippedOutsideRoot {
                        archive: name.to_owned(),
                        member: shown,
                    });
                    continue;
                }
            }
        };
        let meta = Metadata {
            permissions: (member.mode & 0o7777) as u16,
            uid: member.uid,
            gid: member.gid,
            atime: member.atime.unwrap_or(member.mtime),
            mtime: member.mtime,
            ctime: member.ctime.unwrap_or(member.mtime),
            crtime: None,
        };
        let kind = match member.kind {
            MemberKind::Directory => NodeKind::Directory(BTreeMap::new()),
            MemberKind::File => {
                let mut body = owners.watch(&components, MemberBody(&mut reader));
                let content = data
                    .take(
                        &mut body,
                        member.size,
                        member.data_offset,
                        member.sparse.is_some(),
                    )
                    .map_err(|e| bad(name, &shown, &e.to_string()))?;
                NodeKind::File(content)
            }
            MemberKind::Symlink => NodeKind::Symlink(member.link.clone()),
            MemberKind::CharDevice => NodeKind::CharDevice {
                major: member.major,
                minor: member.minor,
            },
            MemberKind::BlockDevice => NodeKind::BlockDevice {
                major: member.major,
                minor: member.minor,
            },
            MemberKind::Fifo => NodeKind::Fifo,
            MemberKind::HardLink => {
                let target = normalise(&member.link)
                    .ok_or_else(|| bad(name, &shown, "hard link target leaves the root"))?;
                builder
                    .hard_link(&components, &target)
                    .map_err(|reason| bad(name, &shown, &reason))?;
                continue;
            }
        };
        let mut node = Node::new(meta, kind);
        node.xattrs = member
            .xattrs
            .into_iter()
            .map(|(name, value)| Xattr { name, value })
            .collect();
        if let Some(id) = builder
            .put(&components, node)
            .map_err(|reason| bad(name, &shown, &reason))?
        {
            data.added(id);
            owners.note(id, &shown, member.uname, member.gname);
        }
    }
    let mut tree = builder.tree;
    owners
        .resolve(&mut tree)
        .map_err(|(member, reason)| bad(name, &member, &reason))?;
    Ok(tree)
}

/// Owners given by name only (headers whose numeric uid or gid is blank),
/// resolved when the whole archive has been read against the archive's own
/// `/etc/passwd` and `/etc/group`: the accounts of the system being built,
/// not the host's. `root` is 0 even without those files.
#[derive(Default)]
struct OwnerNames {
    /// Nodes whose owner is still to resolve.
    pending: Vec<NamedOwner>,
    passwd: Vec<u8>,
    group: Vec<u8>,
}

/// A node whose user or group is known only by name.
struct NamedOwner {
    node: NodeId,
    member: String,
    user: Option<Vec<u8>>,
    group: Option<Vec<u8>>,
}

/// Most of `/etc/passwd` or `/etc/group` kept for resolving names.
const ACCOUNTS_LIMIT: u64 = 4 << 20;

impl OwnerNames {
    /// Wraps a member's data so that `/etc/passwd` and `/etc/group` are
    /// kept as they stream past.
    fn watch<'a>(&'a mut self, components: &[Vec<u8>], body: impl Read + 'a) -> impl Read + 'a {
        let mut kept = match components {
            [etc, file] if etc == b"etc" && file == b"passwd" => Some(&mut self.passwd),
            [etc, file] if etc == b"etc" && file == b"group" => Some(&mut self.group),
            _ => None,
        };
        if let Some(kept) = kept.as_deref_mut() {
            // A later member of the same path replaces the earlier one.
            kept.clear();
        }
        Watched { body, kept }
    }

    /// Records the names of a member added as `id` (replacing what an
    /// earlier member of the same path left).
    fn note(&mut self, id: NodeId, member: &str, user: Option<Vec<u8>>, group: Option<Vec<u8>>) {
        self.pending.retain(|named| named.node != id);
        if user.is_some() || group.is_some() {
            self.pending.push(NamedOwner {
                node: id,
                member: member.to_string(),
                user,
                group,
            });
        }
    }

    /// Sets the owners given by name, or says which name is unknown.
    fn resolve(&self, tree: &mut Tree) -> std::result::Result<(), (String, String)> {
        for NamedOwner {
            node,
            member,
            user,
            group,
        } in &self.pending
        {
            let meta = &mut tree.node_mut(*node).meta;
            if let Some(user) = user {
                meta.uid = account_id(&self.passwd, user)
                    .ok_or_else(|| (member.clone(), unknown_name("user", user, "/etc/passwd")))?;
            }
            if let Some(group) = group {
                meta.gid = account_id(&self.group, group)
                    .ok_or_else(|| (member.clone(), unknown_name("group", group, "/etc/group")))?;
            }
        }
        Ok(())
    }
}

fn unknown_name(what: &str, name: &[u8], file: &str) -> String {
    format!(
        "the header has no numeric {what} id and the {what} name {:?} is not in the archive's {file}",
        String::from_utf8_lossy(name)
    )
}

/// The id of `name` in a passwd or group file (`name:x:id:...`); `root` is
/// 0 when the file does not list it.
fn account_id(file: &[u8], name: &[u8]) -> Option<u32> {
    let listed = file.split(|&b| b == b'\n').find_map(|line| {
        let mut fields = line.split(|&b| b == b':');
        (fields.next()? == name)
            .then(|| {
                std::str::from_utf8(fields.nth(1)?)
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            })
            .flatten()
    });
    listed.or((name == b"root").then_some(0))
}

/// A member's data reader that keeps a copy of what passes (up to
/// [`ACCOUNTS_LIMIT`]) when `kept` is set.
struct Watched<'a, R> {
    body: R,
    kept: Option<&'a mut Vec<u8>>,
}

impl<R: Read> Read for Watched<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.body.read(buf)?;
        if let Some(kept) = self.kept.as_deref_mut() {
            let room = (ACCOUNTS_LIMIT as usize).saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        Ok(n)
    }
}

fn bad(archive: &str, member: &str, reason: &str) -> Error {
    Error::from(SourceError::BadArchive {
        archive: archive.to_string(),
        member: member.to_string(),
        reason: reason.to_string(),
    })
}

/// Splits a member path into components: `./` prefixes, leading `/` and
/// empty or `.` components dropped. `None` when a `..` component appears.
fn normalise(path: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            other => out.push(other.to_vec()),
        }
    }
    Some(out)
}

/// Builds a tree with tar's semantics: missing parents are created, a later
/// member replaces an earlier one of the same path, a directory member
/// listed after its contents only updates the directory's metadata.
struct TreeBuilder {
    tree: Tree,
    /// Metadata of directories created because members need them.
    implied: Metadata,
}

impl TreeBuilder {
    fn new(time: Timestamp) -> Self {
        let implied = Metadata::directory(time);
        TreeBuilder {
            tree: Tree::new(implied.clone()),
            implied,
        }
    }

    /// The directory holding `components`' last part, created as needed.
    fn parent_of(&mut self, components: &[Vec<u8>]) -> std::result::Result<NodeId, String> {
        let mut dir = Tree::ROOT;
        let Some((_, parents)) = components.split_last() else {
            return Ok(dir);
        };
        for (depth, part) in parents.iter().enumerate() {
            let existing = self.tree.entries(dir).and_then(|e| e.get(part)).copied();
            dir = match existing {
                Some(id) if self.tree.node(id).is_dir() => id,
                Some(_) => {
                    let shown: Vec<String> = components[..=depth]
                        .iter()
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    return Err(format!("its parent {} is not a directory", shown.join("/")));
                }
                None => self
                    .tree
                    .add(
                        dir,
                        part,
                        Node::new(self.implied.clone(), NodeKind::Directory(BTreeMap::new())),
                    )
                    .map_err(|e| e.to_string())?,
            };
        }
        Ok(dir)
    }

    /// Adds or replaces the node at `components`; returns its id (none for
    /// the root, whose metadata a `./` member sets).
    fn put(
        &mut self,
        components: &[Vec<u8>],
        node: Node,
    ) -> std::result::Result<Option<NodeId>, String> {
        let Some(last) = components.last() else {
            if !node.is_dir() {
                return Err("the archive's root can only be a directory".into());
            }
            let root = self.tree.node_mut(Tree::ROOT);
            root.meta = node.meta;
            root.xattrs = node.xattrs;
            return Ok(None);
        };
        let parent = self.parent_of(components)?;
        let existing = self.tree.entries(parent).and_then(|e| e.get(last)).copied();
        if let Some(id) = existing {
            if node.is_dir() && self.tree.node(id).is_dir() {
                let current = self.tree.node_mut(id);
                current.meta = node.meta;
                current.xattrs = node.xattrs;
                return Ok(Some(id));
            }
        }
        self.tree
            .add(parent, last, node)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    fn hard_link(
        &mut self,
        components: &[Vec<u8>],
        target: &[Vec<u8>],
    ) -> std::result::Result<(), String> {
        let joined = target
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let target_id = self
            .tree
            .lookup(target.join(&b'/').as_slice())
            .filter(|_| !target.is_empty())
            .ok_or_else(|| {
                format!("hard link to {joined}, which is not in the archive before it")
            })?;
        if self.tree.node(target_id).is_dir() {
            return Err(format!("hard link to directory {joined}"));
        }
        let Some(last) = components.last() else {
            return Err("hard link named like the root".into());
        };
        let parent = self.parent_of(components)?;
        self.tree
            .link(parent, last, target_id)
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A member of a test archive: a file with data, a directory, or a hard
    /// link to an earlier path.
    enum M<'a> {
        File(&'a str, &'a [u8], u32),
        Dir(&'a str, u32),
        Link(&'a str, &'a str),
    }

    fn archive(members: &[M]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for m in members {
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(1_600_000_000);
            match *m {
                M::File(path, data, mode) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_size(data.len() as u64);
                    h.set_mode(mode);
                    b.append_data(&mut h, path, data).unwrap();
                }
                M::Dir(path, mode) => {
                    h.set_entry_type(tar::EntryType::Directory);
                    h.set_size(0);
                    h.set_mode(mode);
                    b.append_data(&mut h, path, &b""[..]).unwrap();
                }
                M::Link(path, target) => {
                    h.set_entry_type(tar::EntryType::Link);
                    h.set_size(0);
                    h.set_mode(0o644);
                    b.append_link(&mut h, path, target).unwrap();
                }
            }
        }
        b.into_inner().unwrap()
    }

    fn read(bytes: &[u8], outside: OutsideRoot) -> Result<Tree> {
        read_archive(
            bytes,
            "t.tar",
            &mut InMemory::new(1 << 20),
            outside,
            Timestamp::from_secs(0),
        )
    }

    /// `bytes` with the member at header `index` given blank numeric
    /// uid and gid fields and the names `user` and `group`.
    fn names_only(mut bytes: Vec<u8>, index: usize, user: &str, group: &str) -> Vec<u8> {
        let header = &mut bytes[index * 512..(index + 1) * 512];
        header[108..124].fill(0);
        header[265..329].fill(0);
        header[265..265 + user.len()].copy_from_slice(user.as_bytes());
        header[297..297 + group.len()].copy_from_slice(group.as_bytes());
        let mut fixed = tar::Header::from_byte_slice(header).clone();
        fixed.set_cksum();
        header.copy_from_slice(fixed.as_bytes());
        bytes
    }

    #[test]
    fn owners_given_only_by_name_come_from_the_archives_own_accounts() {
        let passwd = b"root:x:0:0::/root:/bin/sh\nlfs:x:1001:1001::/home/lfs:/bin/bash\n";
        let group = b"root:x:0:\nstaff:x:50:\n";
        // The named member comes first: names resolve once all is read.
        let bytes = archive(&[
            M::File("home/lfs/notes", b"n", 0o644),
            M::File("etc/passwd", passwd, 0o644),
            M::File("etc/group", group, 0o644),
            M::File("etc/motd", b"m", 0o644),
        ]);
        // Headers: notes at 0, passwd at 2 (after 1 data block), group at
        // 4, motd at 6.
        let bytes = names_only(bytes, 0, "lfs", "staff");
        let bytes = names_only(bytes, 6, "root", "root");
        let tree = read(&bytes, OutsideRoot::Refuse).unwrap();
        let notes = &tree.node(tree.lookup(b"home/lfs/notes").unwrap()).meta;
        assert_eq!((notes.uid, notes.gid), (1001, 50));
        let motd = &tree.node(tree.lookup(b"etc/motd").unwrap()).meta;
        assert_eq!((motd.uid, motd.gid), (0, 0));

        let unknown = names_only(archive(&[M::File("f", b"x", 0o644)]), 0, "nobody", "root");
        let err = read(&unknown, OutsideRoot::Refuse).unwrap_err().to_string();
        assert!(
            err.contains("\"f\"") && err.contains("\"nobody\"") && err.contains("/etc/passwd"),
            "{err}"
        );
    }

    #[test]
    fn later_members_replace_and_missing_parents_appear() {
        let bytes = archive(&[
            M::File("./a/b/f", b"one", 0o644),
            M::File("a/b/f", b"two", 0o600),
            M::Dir("a/", 0o700),
        ]);
        let tree = read(&bytes, OutsideRoot::Refuse).unwrap();
        let f = tree.lookup(b"a/b/f").unwrap();
        assert_eq!(tree.node(f).meta.permissions, 0o600);
        let a = tree.lookup(b"a").unwrap();
        assert_eq!(tree.node(a).meta.permissions, 0o700);
        assert!(
            tree.lookup(b"a/b").is_some(),
            "contents kept when the directory comes later"
        );
    }

    #[test]
    fn dotdot_members_are_refused_or_skipped() {
        let mut raw = archive(&[M::File("ok", b"x", 0o644)]);
        // Write a `..` path directly into the header (the builder refuses it).
        let name = b"../evil";
        raw[..100].fill(0);
        raw[..name.len()].copy_from_slice(name);
        let mut fixed = tar::Header::from_byte_slice(&raw[..512]).clone();
        fixed.set_cksum();
        raw[..512].copy_from_slice(fixed.as_bytes());
        let err = read(&raw, OutsideRoot::Refuse).unwrap_err();
        assert!(err.to_string().contains("../evil"), "{err}");
        assert!(read(&raw, OutsideRoot::Skip).unwrap().is_empty());
    }

    #[test]
    fn hard_links_share_a_node_and_missing_targets_are_errors() {
        let bytes = archive(&[M::File("f", b"hi", 0o644), M::Link("d/g", "f")]);
        let tree = read(&bytes, OutsideRoot::Refuse).unwrap();
        assert_eq!(tree.lookup(b"f"), tree.lookup(b"d/g"));
        let err = read(&archive(&[M::Link("g", "missing")]), OutsideRoot::Refuse).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn a_file_as_parent_is_an_error() {
        let bytes = archive(&[M::File("f", b"x", 0o644), M::File("f/g", b"y", 0o644)]);
        let err = read(&bytes, OutsideRoot::Refuse).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[test]
    fn in_memory_data_has_a_limit() {
        let bytes = archive(&[M::File("big", &[7u8; 5000], 0o644)]);
        let mut small = InMemory::new(4096);
        let err = read_archive(
            &bytes[..],
            "t.tar",
            &mut small,
            OutsideRoot::Refuse,
            Timestamp::from_secs(0),
        )
        .unwrap_err();
        assert!(err.to_string().contains("4096"), "{err}");
    }

    #[test]
    fn compression_is_recognised_from_bytes() {
        assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
        assert_eq!(Compression::detect(b"\xfd7zXZ\0"), Compression::Xz);
        assert_eq!(
            Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
            Compression::Zstd
        );
        assert_eq!(Compression::detect(b"ustar"), Compression::None);
    }
}
