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

mod builder;
mod compression;
mod data;
mod owners;
mod stream;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::io::Read;

pub use compression::{decompress, Compression};
pub use data::{ArchiveRanges, InMemory, MemberData};
pub(crate) use stream::StreamPlacement;

use super::tar_reader::{Member, MemberBody, MemberKind, TarError, TarReader};
use builder::{normalise, TreeBuilder};
use owners::OwnerNames;

use crate::error::SourceError;
use crate::error::{Error, Result};
use crate::report::{Observer, Silent, Warning};
use crate::tree::{Metadata, Node, NodeKind, Timestamp, Tree, Xattr};

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
            Err(e) => return Err(unreadable(name, e, &last_member)),
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
        let meta = metadata(&member);
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

/// The tree metadata of `member`: its times default to its `mtime`.
fn metadata(member: &Member) -> Metadata {
    Metadata {
        permissions: (member.mode & 0o7777) as u16,
        uid: member.uid,
        gid: member.gid,
        atime: member.atime.unwrap_or(member.mtime),
        mtime: member.mtime,
        ctime: member.ctime.unwrap_or(member.mtime),
        crtime: None,
    }
}

/// The error for an archive the reader stopped in, naming the last member
/// read (unless the stream is no archive at all).
fn unreadable(archive: &str, err: TarError, last_member: &str) -> Error {
    if let TarError::NotAnArchive(_) = err {
        return bad(archive, "", &err.to_string());
    }
    let after = if last_member.is_empty() {
        "at the start".to_string()
    } else {
        format!("after {last_member:?}")
    };
    bad(archive, "", &format!("{err} ({after})"))
}

fn bad(archive: &str, member: &str, reason: &str) -> Error {
    Error::from(SourceError::BadArchive {
        archive: archive.to_string(),
        member: member.to_string(),
        reason: reason.to_string(),
    })
}
