//! A streaming writer of "newc" cpio archives (the kernel's initramfs
//! format) from a [`Tree`].
//!
//! Entries come in a deterministic order: the root as `.`, then a
//! depth-first walk with each directory's entries in byte order of their
//! names, so a directory always precedes what it holds. Inode numbers count
//! from 1 in that order. A file reachable under several names is written
//! once per name with the same inode number and link count, and its data
//! only with the last name, as GNU cpio and the kernel's `gen_init_cpio`
//! do; the kernel's unpacker (`init/initramfs.c`) creates the first name and
//! links the others to it, and GNU cpio defers the empty names until the
//! one with the data. Symlink targets are the data of each symlink entry.
//! Every header and every data part is padded to 4 bytes; the archive ends
//! with the `TRAILER!!!` entry.
//!
//! newc stores times as unsigned 32-bit seconds and sizes as 32-bit byte
//! counts: times before 1970 are written as 0, later than 2106 as the
//! largest value, and a file of 4 GiB or more is an error.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::path::PathBuf;

use super::output::output_error;
use crate::error::{Error, Result};
use crate::error::{Ext4Error, SourceError};
use crate::tree::{DataSource, FileContent, NodeId, NodeKind, Timestamp, Tree};

/// The magic number of newc headers (no checksum).
const MAGIC: &[u8; 6] = b"070701";
/// Length of a newc header without its name.
const HEADER_LEN: usize = 110;
/// Name of the entry that ends an archive.
const TRAILER: &[u8] = b"TRAILER!!!";
/// Longest path the kernel's unpacker accepts, without the NUL.
pub const MAX_PATH_LEN: usize = 4095;

/// How the archive is written.
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::cpio::{write_newc, NewcOptions};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let tree = Tree::new(Metadata::directory(Timestamp::from_secs(2_000_000_000)));
/// let options = NewcOptions { clamp_mtime: Some(1_700_000_000) }; // SOURCE_DATE_EPOCH
/// let (cpio, _) = write_newc(&tree, &options, Vec::new())?;
/// assert_eq!(&cpio[46..54], format!("{:08X}", 1_700_000_000).as_bytes()); // the root's mtime
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default)]
pub struct NewcOptions {
    /// Modification times later than this are written as this (seconds
    /// since the epoch), for reproducible archives (`SOURCE_DATE_EPOCH`).
    pub clamp_mtime: Option<i64>,
}

/// One entry of the archive: its path and the node it names.
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::cpio::entries;
/// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
/// let dev = tree.add(Tree::ROOT, b"dev", Node::new(Metadata::directory(Timestamp::from_secs(0)), NodeKind::Directory(Default::default())))?;
/// let list = entries(&tree)?;
/// assert_eq!((list[1].path.as_slice(), list[1].node), (&b"dev"[..], dev));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the root (`.` for the root itself), `/`-separated.
    pub path: Vec<u8>,
    /// The node.
    pub node: NodeId,
}

/// The entries of `tree` in archive order.
///
/// # Errors
///
/// [`Ext4Error::DirectoryHardLink`] when a directory is reachable under two
/// names (the walk would not end).
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::cpio::entries;
/// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let time = Timestamp::from_secs(0);
/// let mut tree = Tree::new(Metadata::directory(time));
/// let bin = tree.add(Tree::ROOT, b"bin", Node::new(Metadata::directory(time), NodeKind::Directory(Default::default())))?;
/// tree.add(bin, b"sh", Node::new(Metadata::directory(time), NodeKind::Symlink(b"busybox".to_vec())))?;
/// let paths: Vec<_> = entries(&tree)?.into_iter().map(|e| e.path).collect();
/// assert_eq!(paths, [b".".to_vec(), b"bin".to_vec(), b"bin/sh".to_vec()]); // parents first
/// # Ok(())
/// # }
/// ```
pub fn entries(tree: &Tree) -> Result<Vec<Entry>> {
    let mut out = vec![Entry {
        path: b".".to_vec(),
        node: Tree::ROOT,
    }];
    let mut seen_dirs = vec![false; tree.len()];
    seen_dirs[Tree::ROOT.index()] = true;
    // Directories whose entries are still to be listed, with their paths;
    // a stack of iterators keeps the walk depth-first and in name order.
    let mut stack = vec![(Vec::new(), Tree::ROOT, 0usize)];
    while let Some((dir_path, dir, next)) = stack.pop() {
        let Some(children) = tree.entries(dir) else {
            continue;
        };
        let Some((name, &child)) = children.iter().nth(next) else {
            continue;
        };
        stack.push((dir_path.clone(), dir, next + 1));
        let mut path = dir_path;
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(name);
        if tree.node(child).is_dir() {
            let seen = &mut seen_dirs[child.index()];
            if *seen {
                return Err(Error::from(Ext4Error::DirectoryHardLink {
                    path: String::from_utf8_lossy(&path).into_owned(),
                }));
            }
            *seen = true;
            stack.push((path.clone(), child, 0));
        }
        out.push(Entry { path, node: child });
    }
    Ok(out)
}

/// Writes `tree` as a newc archive to `out` and returns `out` and the number
/// of bytes written.
///
/// Regular files backed by host files are read here; a file whose size or
/// modification time differs from what the tree recorded is reported as
/// changed.
///
/// # Errors
///
/// [`Error::TooLarge`] for a file of 4 GiB or more or a path longer than
/// [`MAX_PATH_LEN`]; [`Ext4Error::DirectoryHardLink`]; [`SourceError::Changed`]
/// and [`Error::Io`] for source files; [`Error::Write`] when `out` fails
/// (or the error `out` reported, when it is one of this crate's).
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::cpio::{write_newc, NewcOptions};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let (archive, len) = write_newc(&tree, &NewcOptions::default(), Vec::new())?;
/// assert_eq!(archive.len() as u64, len);
/// assert!(archive.windows(10).any(|w| w == b"TRAILER!!!"));
/// # Ok(())
/// # }
/// ```
pub fn write_newc<W: Write>(tree: &Tree, options: &NewcOptions, out: W) -> Result<(W, u64)> {
    let entries = entries(tree)?;
    let counts = link_counts(tree, &entries);
    // Inode numbers in order of first appearance, and the last appearance
    // of each node (which carries the data).
    let mut inos: HashMap<NodeId, u32> = HashMap::new();
    let mut last: HashMap<NodeId, usize> = HashMap::new();
    for (index, entry) in entries.iter().enumerate() {
        let next = inos.len() as u32 + 1;
        inos.entry(entry.node).or_insert(next);
        last.insert(entry.node, index);
    }
    let mut out = Counting { inner: out, pos: 0 };
    for (index, entry) in entries.iter().enumerate() {
        let node = tree.node(entry.node);
        let carries_data = last.get(&entry.node) == Some(&index);
        let (size, rdev) = match &node.kind {
            NodeKind::File(content) if carries_data => (content.size, (0, 0)),
            NodeKind::Symlink(target) => (target.len() as u64, (0, 0)),
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                (0, (*major, *minor))
            }
            _ => (0, (0, 0)),
        };
        let size = u32::try_from(size).map_err(|_| Error::TooLarge {
            what: format!("{} in a cpio archive", show(&entry.path)),
            size,
            limit: u64::from(u32::MAX),
        })?;
        let mtime = match options.clamp_mtime {
            Some(limit) => node.meta.mtime.clamp_to(Timestamp::from_secs(limit)),
            None => node.meta.mtime,
        };
        let header = Header {
            ino: inos.get(&entry.node).copied().unwrap_or(0),
            mode: u32::from(node.mode()),
            uid: node.meta.uid,
            gid: node.meta.gid,
            nlink: counts.get(&entry.node).copied().unwrap_or(1),
            mtime: u32::try_from(mtime.secs.max(0)).unwrap_or(u32::MAX),
            size,
            rdev,
        };
        write_header(&mut out, &header, &entry.path)?;
        match &node.kind {
            NodeKind::File(content) if carries_data => copy_content(&mut out, content)?,
            NodeKind::Symlink(target) => out.put(target)?,
            _ => {}
        }
        out.pad()?;
    }
    let trailer = Header {
        nlink: 1,
        ..Header::default()
    };
    write_header(&mut out, &trailer, TRAILER)?;
    let written = out.pos;
    Ok((out.inner, written))
}

/// Link counts as the archive states them: for a directory 2 plus its
/// subdirectories, for anything else the number of its entries.
fn link_counts(tree: &Tree, entries: &[Entry]) -> HashMap<NodeId, u32> {
    let mut counts: HashMap<NodeId, u32> = HashMap::new();
    for entry in entries {
        let node = tree.node(entry.node);
        if let NodeKind::Directory(children) = &node.kind {
            let subdirs = children
                .values()
                .filter(|&&c| tree.node(c).is_dir())
                .count();
            counts.insert(entry.node, 2 + subdirs as u32);
        } else {
            *counts.entry(entry.node).or_insert(0) += 1;
        }
    }
    counts
}

/// The numeric fields of a newc header.
#[derive(Default)]
struct Header {
    ino: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u32,
    mtime: u32,
    size: u32,
    rdev: (u32, u32),
}

fn write_header<W: Write>(out: &mut Counting<W>, h: &Header, name: &[u8]) -> Result<()> {
    if name.len() > MAX_PATH_LEN {
        return Err(Error::TooLarge {
            what: format!("path {} in a cpio archive", show(name)),
            size: name.len() as u64,
            limit: MAX_PATH_LEN as u64,
        });
    }
    let mut buf = Vec::with_capacity(HEADER_LEN + name.len() + 4);
    buf.extend_from_slice(MAGIC);
    let namesize = name.len() as u32 + 1;
    for field in [
        h.ino, h.mode, h.uid, h.gid, h.nlink, h.mtime, h.size, 0, 0, h.rdev.0, h.rdev.1, namesize,
        0,
    ] {
        buf.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    buf.extend_from_slice(name);
    buf.push(0);
    out.put(&buf)?;
    out.pad()
}

/// Streams a regular file's content.
fn copy_content<W: Write>(out: &mut Counting<W>, content: &FileContent) -> Result<()> {
    if let DataSource::Memory(bytes) = &content.source {
        if bytes.len() as u64 != content.size {
            return Err(Error::from(SourceError::Changed {
                path: PathBuf::from("<memory>"),
                detail: format!(
                    "holds {} bytes, recorded size {}",
                    bytes.len(),
                    content.size
                ),
            }));
        }
        return out.put(bytes);
    }
    let mut reader = content.reader()?;
    let origin = || content.source.origin();
    let mut buf = vec![0u8; 256 * 1024];
    let mut copied = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(origin(), e)),
        };
        out.put(&buf[..n])?;
        copied += n as u64;
    }
    if copied != content.size {
        return Err(Error::from(SourceError::Changed {
            path: origin(),
            detail: format!("ended at byte {copied} of {}", content.size),
        }));
    }
    Ok(())
}

/// A writer that counts bytes and pads to 4.
struct Counting<W> {
    inner: W,
    pos: u64,
}

impl<W: Write> Counting<W> {
    fn put(&mut self, bytes: &[u8]) -> Result<()> {
        self.inner
            .write_all(bytes)
            .map_err(|e| output_error(e, "cpio archive".as_ref(), self.pos))?;
        self.pos += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> Result<()> {
        let pad = (4 - (self.pos % 4) as usize) % 4;
        self.put(&[0u8; 3][..pad])
    }
}

fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tree::{FileContent, Metadata, Node};

    fn meta(permissions: u16, mtime: i64) -> Metadata {
        Metadata {
            permissions,
            mtime: Timestamp::from_secs(mtime),
            ..Default::default()
        }
    }

    /// Parses a newc archive into (name, ino, mode, nlink, mtime, data).
    fn parse(mut a: &[u8]) -> Vec<(String, u32, u32, u32, u32, Vec<u8>)> {
        let total = a.len();
        let mut out = Vec::new();
        loop {
            assert_eq!((total - a.len()) % 4, 0);
            assert_eq!(&a[..6], MAGIC);
            let field = |i: usize| {
                u32::from_str_radix(std::str::from_utf8(&a[6 + 8 * i..14 + 8 * i]).unwrap(), 16)
                    .unwrap()
            };
            let (ino, mode, nlink, mtime, size, namesize) =
                (field(0), field(1), field(4), field(5), field(6), field(11));
            let name =
                String::from_utf8(a[HEADER_LEN..HEADER_LEN + namesize as usize - 1].to_vec())
                    .unwrap();
            let data_at = (HEADER_LEN + namesize as usize).div_ceil(4) * 4;
            let data = a[data_at..data_at + size as usize].to_vec();
            let next = (data_at + size as usize).div_ceil(4) * 4;
            if name == "TRAILER!!!" {
                assert_eq!(data_at, a.len());
                return out;
            }
            out.push((name, ino, mode, nlink, mtime, data));
            a = &a[next..];
        }
    }

    #[test]
    fn hard_links_carry_data_once_on_the_last_name_and_times_clamp() {
        let mut tree = Tree::new(meta(0o755, 50));
        let dir = tree
            .add(
                Tree::ROOT,
                b"d",
                Node::new(meta(0o700, 10), NodeKind::Directory(Default::default())),
            )
            .unwrap();
        let file = tree
            .add(
                dir,
                b"a",
                Node::new(
                    meta(0o644, 2_000),
                    NodeKind::File(FileContent::from_bytes(b"hello".to_vec())),
                ),
            )
            .unwrap();
        tree.link(Tree::ROOT, b"z", file).unwrap();
        tree.add(
            Tree::ROOT,
            b"s",
            Node::new(meta(0o777, -5), NodeKind::Symlink(b"d/a".to_vec())),
        )
        .unwrap();
        let options = NewcOptions {
            clamp_mtime: Some(1_000),
        };
        let (bytes, len) = write_newc(&tree, &options, Vec::new()).unwrap();
        assert_eq!(len as usize, bytes.len());
        let got = parse(&bytes);
        let names: Vec<&str> = got.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(names, [".", "d", "d/a", "s", "z"]);
        let (_, ino_a, mode_a, nlink_a, mtime_a, data_a) = &got[2];
        let (_, ino_z, _, nlink_z, _, data_z) = &got[4];
        assert_eq!((ino_a, nlink_a, nlink_z), (ino_z, &2, &2));
        assert_eq!(
            (data_a.as_slice(), data_z.as_slice()),
            (&b""[..], &b"hello"[..])
        );
        assert_eq!((*mode_a, *mtime_a), (0o100644, 1_000));
        assert_eq!(got[3].5, b"d/a");
        assert_eq!(got[3].4, 0, "negative times become 0");
        assert_eq!(got[0].3, 3, "root links: 2 + one subdirectory");
        assert_eq!(write_newc(&tree, &options, Vec::new()).unwrap().0, bytes);
    }

    #[test]
    fn output_errors_keep_the_crate_error() {
        #[derive(Debug)]
        struct Failing;
        impl Write for Failing {
            fn write(&mut self, _: &[u8]) -> io::Result<usize> {
                Err(io::Error::other(Error::OutputExists { path: "x".into() }))
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let tree = Tree::new(meta(0o755, 0));
        let err = write_newc(&tree, &NewcOptions::default(), Failing).unwrap_err();
        assert!(matches!(err, Error::OutputExists { .. }), "{err}");
    }
}
