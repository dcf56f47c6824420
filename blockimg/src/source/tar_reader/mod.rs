//! A streaming reader of tar archives: ustar, GNU (long names and links,
//! old-style sparse members, base-256 numbers) and PAX (local and global
//! records, binary values, nanosecond times, xattrs, sparse 1.0).
//!
//! It reads each header once and hands out the member's data as a reader
//! with holes expanded to zeros, so nothing is buffered beyond one block.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod header;
mod pax;
mod sparse;
#[cfg(test)]
mod tests;

use std::io::{self, Read};

use crate::tree::Timestamp;

use header::{number, trim_nul, verify_checksum};
use pax::parse_pax;
use sparse::SparseState;

const BLOCK: u64 = 512;

/// The kind of a member.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberKind {
    /// A regular file.
    File,
    /// A hard link to an earlier member.
    HardLink,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
}

/// One member's header, with GNU and PAX extensions applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Path as stored.
    pub path: Vec<u8>,
    /// Link target (symlinks and hard links).
    pub link: Vec<u8>,
    /// Kind.
    pub kind: MemberKind,
    /// Mode bits (permissions, setuid, setgid, sticky).
    pub mode: u32,
    /// Numeric owner.
    pub uid: u32,
    /// Numeric group.
    pub gid: u32,
    /// The owner's user name, kept only when the header has no numeric
    /// uid (a blank field): names are the fallback, numbers the truth.
    pub uname: Option<Vec<u8>>,
    /// The group name, kept only when the header has no numeric gid.
    pub gname: Option<Vec<u8>>,
    /// Modification time.
    pub mtime: Timestamp,
    /// Access time, when recorded.
    pub atime: Option<Timestamp>,
    /// Change time, when recorded.
    pub ctime: Option<Timestamp>,
    /// Apparent size of a file.
    pub size: u64,
    /// Device major number.
    pub major: u32,
    /// Device minor number.
    pub minor: u32,
    /// Extended attributes (PAX `SCHILY.xattr.*`), sorted by name.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
    /// Byte offset of the member's stored data in the uncompressed archive.
    pub data_offset: u64,
    /// For sparse members, the data chunks `(offset, len)` in the file;
    /// `None` for ordinary members (all `size` bytes stored).
    pub sparse: Option<Vec<(u64, u64)>>,
}

/// Why an archive could not be read.
#[derive(Debug)]
pub enum TarError {
    /// Reading the stream failed (including decompression errors).
    Io(io::Error),
    /// The archive ended in the middle of a member.
    Truncated,
    /// The stream does not start with a tar header: it is empty (an empty
    /// archive still has its end-of-archive blocks), shorter than one
    /// header, or its first 512 bytes are something else.
    NotAnArchive(String),
    /// A header or record is malformed.
    Malformed(String),
}

impl std::fmt::Display for TarError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TarError::Io(e) => write!(f, "{e}"),
            TarError::Truncated => write!(f, "the archive ends in the middle of a member"),
            TarError::NotAnArchive(why) => {
                write!(f, "not a tar archive (plain, gzip, xz or zstd): {why}")
            }
            TarError::Malformed(m) => write!(f, "{m}"),
        }
    }
}

type TarResult<T> = std::result::Result<T, TarError>;

fn malformed(text: impl Into<String>) -> TarError {
    TarError::Malformed(text.into())
}

/// Reads members one after another from a tar stream.
pub struct TarReader<R: Read> {
    input: R,
    /// Bytes consumed from `input` so far.
    position: u64,
    /// Stored data bytes of the current member not yet read.
    remaining: u64,
    /// Padding after the current member's data.
    padding: u64,
    /// PAX global records, applied to every later member.
    global: Vec<(Vec<u8>, Vec<u8>)>,
    /// Sparse map of the current member and the position within it.
    sparse: Option<SparseState>,
    finished: bool,
}

impl<R: Read> TarReader<R> {
    /// Reads the archive in `input` (already decompressed).
    pub fn new(input: R) -> Self {
        TarReader {
            input,
            position: 0,
            remaining: 0,
            padding: 0,
            global: Vec::new(),
            sparse: None,
            finished: false,
        }
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> TarResult<()> {
        let mut done = 0;
        while let Some(rest) = buf.get_mut(done..).filter(|rest| !rest.is_empty()) {
            match self.input.read(rest) {
                Ok(0) => return Err(TarError::Truncated),
                Ok(n) => {
                    done += n;
                    self.position += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(TarError::Io(e)),
            }
        }
        Ok(())
    }

    fn skip(&mut self, mut n: u64) -> TarResult<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let k = n.min(buf.len() as u64) as usize;
            self.read_exact(buf.get_mut(..k).unwrap_or_default())?;
            n -= k as u64;
        }
        Ok(())
    }

    /// Reads a whole extension member's data (long names, PAX records).
    fn read_small(&mut self, size: u64) -> TarResult<Vec<u8>> {
        if size > 64 << 20 {
            return Err(malformed(format!("an extension header of {size} bytes")));
        }
        let mut data = vec![0u8; size as usize];
        self.read_exact(&mut data)?;
        self.skip(padding(size))?;
        Ok(data)
    }

    /// The next member, or `None` at the end of the archive. Data of the
    /// previous member that was not read is skipped.
    pub fn next_member(&mut self) -> TarResult<Option<Member>> {
        if self.finished {
            return Ok(None);
        }
        let rest = self.remaining + self.padding;
        self.skip(rest)?;
        self.remaining = 0;
        self.padding = 0;
        self.sparse = None;
        let mut long_name: Option<Vec<u8>> = None;
        let mut long_link: Option<Vec<u8>> = None;
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        loop {
            let mut header = [0u8; 512];
            // A stream that ends exactly where a header would start ends the
            // archive (some writers omit the two zero blocks); one that ends
            // inside a header is truncated.
            let at_start = self.position;
            match self.read_exact(&mut header) {
                Ok(()) => {}
                Err(TarError::Truncated) if self.position == 0 => {
                    return Err(TarError::NotAnArchive("it is empty (0 bytes)".into()))
                }
                Err(TarError::Truncated) if at_start == 0 => {
                    return Err(TarError::NotAnArchive(format!(
                        "it holds {} bytes, less than one 512-byte header",
                        self.position
                    )))
                }
                Err(TarError::Truncated)
                    if self.position == at_start && long_name.is_none() && pax.is_empty() =>
                {
                    self.finished = true;
                    return Ok(None);
                }
                Err(e) => return Err(e),
            }
            if header.iter().all(|&b| b == 0) {
                self.finished = true;
                return Ok(None);
            }
            verify_checksum(&header).map_err(|e| match e {
                TarError::Malformed(why) if at_start == 0 => TarError::NotAnArchive(format!(
                    "its first 512 bytes are not a tar header ({why})"
                )),
                other => other,
            })?;
            let typeflag = header[156];
            let size =
                number(&header[124..136]).map_err(|e| malformed(format!("size field: {e}")))?;
            match typeflag {
                b'L' => long_name = Some(trim_nul(&self.read_small(size)?).to_vec()),
                b'K' => long_link = Some(trim_nul(&self.read_small(size)?).to_vec()),
                b'x' => pax.extend(parse_pax(&self.read_small(size)?)?),
                b'g' => {
                    let records = parse_pax(&self.read_small(size)?)?;
                    self.global.extend(records);
                }
                _ => {
                    let data_start = self.position;
                    let mut records = self.global.clone();
                    records.extend(pax);
                    return self
                        .member(
                            &header, typeflag, size, long_name, long_link, &records, data_start,
                        )
                        .map(Some);
                }
            }
        }
    }

    /// The member of `header` (of type `typeflag`, storing `stored` bytes
    /// from byte `data_start`), with the names of GNU `L` and `K` members
    /// and the PAX records `pax` applied, ready for its data to be read.
    #[allow(clippy::too_many_arguments)]
    fn member(
        &mut self,
        header: &[u8; 512],
        typeflag: u8,
        stored: u64,
        long_name: Option<Vec<u8>>,
        long_link: Option<Vec<u8>>,
        pax: &[(Vec<u8>, Vec<u8>)],
        data_start: u64,
    ) -> TarResult<Member> {
        let mut member =
            header::member(header, typeflag, stored, long_name, long_link, data_start)?;
        let sparse = pax::apply(&mut member, pax)?;
        let stored = if typeflag == b'S' || member.kind != MemberKind::File {
            stored
        } else {
            member.size
        };
        self.remaining = stored;
        self.padding = padding(stored);
        if member.kind != MemberKind::File {
            member.size = 0;
        }
        self.sparse_map(&mut member, header, typeflag, sparse)?;
        Ok(member)
    }

    /// Reads the current member's data (holes of sparse members as zeros).
    pub fn read_data(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(state) = self.sparse.as_mut() else {
            let n = (buf.len() as u64).min(self.remaining) as usize;
            if n == 0 {
                return Ok(0);
            }
            let got = self.input.read(buf.get_mut(..n).unwrap_or_default())?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the archive ends in the middle of a member",
                ));
            }
            self.position += got as u64;
            self.remaining -= got as u64;
            return Ok(got);
        };
        if state.pos >= state.size || buf.is_empty() {
            return Ok(0);
        }
        let (next_offset, next_len) = state
            .chunks
            .get(state.index)
            .copied()
            .unwrap_or((state.size, 0));
        if state.pos < next_offset {
            let n = (next_offset - state.pos).min(buf.len() as u64) as usize;
            buf.get_mut(..n).unwrap_or_default().fill(0);
            state.pos += n as u64;
            return Ok(n);
        }
        let left = next_offset + next_len - state.pos;
        let n = left.min(buf.len() as u64) as usize;
        let got = self.input.read(buf.get_mut(..n).unwrap_or_default())?;
        if got == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends in the middle of a member",
            ));
        }
        self.position += got as u64;
        self.remaining = self.remaining.saturating_sub(got as u64);
        state.pos += got as u64;
        if state.pos == next_offset + next_len {
            state.index += 1;
        }
        Ok(got)
    }
}

/// The current member's data as a reader.
pub struct MemberBody<'a, R: Read>(pub &'a mut TarReader<R>);

impl<R: Read> Read for MemberBody<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read_data(buf)
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}
