//! A streaming reader of tar archives: ustar, GNU (long names and links,
//! old-style sparse members, base-256 numbers) and PAX (local and global
//! records, binary values, nanosecond times, xattrs, sparse 1.0).
//!
//! It reads each header once and hands out the member's data as a reader
//! with holes expanded to zeros, so nothing is buffered beyond one block.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::io::{self, Read};

use crate::tree::Timestamp;

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

struct SparseState {
    chunks: Vec<(u64, u64)>,
    index: usize,
    /// Logical position in the file.
    pos: u64,
    size: u64,
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
        let field = |name: &str, range: std::ops::Range<usize>| {
            number(header.get(range).unwrap_or_default())
                .map_err(|e| malformed(format!("{name} field: {e}")))
        };
        let ustar = &header[257..263] == b"ustar\0";
        let mut path = long_name.unwrap_or_else(|| {
            let name = trim_nul(&header[..100]);
            let prefix = trim_nul(&header[345..500]);
            if ustar && !prefix.is_empty() {
                [prefix, b"/", name].concat()
            } else {
                name.to_vec()
            }
        });
        let mut link = long_link.unwrap_or_else(|| trim_nul(&header[157..257]).to_vec());
        let to_u32 = |name: &str, v: u64| {
            u32::try_from(v).map_err(|_| malformed(format!("{name} {v} does not fit 32 bits")))
        };
        let mut member = Member {
            path: Vec::new(),
            link: Vec::new(),
            kind: MemberKind::File,
            mode: (field("mode", 100..108)? & 0o7777) as u32,
            uid: to_u32("uid", field("uid", 108..116)?)?,
            gid: to_u32("gid", field("gid", 116..124)?)?,
            uname: name_without_number(&header[108..116], &header[265..297]),
            gname: name_without_number(&header[116..124], &header[297..329]),
            mtime: Timestamp::from_secs(
                i64::try_from(field("mtime", 136..148)?)
                    .map_err(|_| malformed("mtime out of range"))?,
            ),
            atime: None,
            ctime: None,
            size: stored,
            major: 0,
            minor: 0,
            xattrs: Vec::new(),
            data_offset: data_start,
            sparse: None,
        };
        if matches!(typeflag, b'3' | b'4') {
            member.major = to_u32("devmajor", field("devmajor", 329..337)?)?;
            member.minor = to_u32("devminor", field("devminor", 337..345)?)?;
        }
        member.kind = match typeflag {
            b'0' | 0 | b'7' | b'S' => MemberKind::File,
            b'1' => MemberKind::HardLink,
            b'2' => MemberKind::Symlink,
            b'3' => MemberKind::CharDevice,
            b'4' => MemberKind::BlockDevice,
            b'5' => MemberKind::Directory,
            b'6' => MemberKind::Fifo,
            other => {
                return Err(malformed(format!(
                    "member type {:?} is not supported",
                    other as char
                )))
            }
        };
        let mut sparse_major = None;
        let mut sparse_size = None;
        for (key, value) in pax {
            let text = std::str::from_utf8(value).unwrap_or("");
            match key.as_slice() {
                b"path" => path = value.clone(),
                b"linkpath" => link = value.clone(),
                b"uid" => {
                    member.uid = parse_u32(text, "uid")?;
                    member.uname = None;
                }
                b"gid" => {
                    member.gid = parse_u32(text, "gid")?;
                    member.gname = None;
                }
                b"size" => {
                    member.size = text
                        .parse()
                        .map_err(|_| malformed(format!("PAX size {text:?}")))?
                }
                b"mtime" => member.mtime = pax_time(text)?,
                b"atime" => member.atime = Some(pax_time(text)?),
                b"ctime" => member.ctime = Some(pax_time(text)?),
                b"GNU.sparse.major" => sparse_major = Some(text.to_string()),
                b"GNU.sparse.name" => path = value.clone(),
                b"GNU.sparse.realsize" | b"GNU.sparse.size" => {
                    sparse_size = Some(
                        text.parse::<u64>()
                            .map_err(|_| malformed(format!("PAX sparse size {text:?}")))?,
                    )
                }
                _ => {
                    if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                        member.xattrs.push((name.to_vec(), value.clone()));
                    }
                }
            }
        }
        member.xattrs.sort();
        member.xattrs.dedup_by(|a, b| a.0 == b.0);
        member.path = path;
        member.link = link;
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
        if typeflag == b'S' {
            let (chunks, real) = self.gnu_sparse_map(header)?;
            member.data_offset = self.position;
            member.size = real;
            member.sparse = Some(chunks);
        } else if sparse_major.as_deref() == Some("1") {
            let real = sparse_size
                .ok_or_else(|| malformed("PAX sparse member without GNU.sparse.realsize"))?;
            let chunks = self.pax_sparse_map()?;
            member.data_offset = self.position;
            member.size = real;
            member.sparse = Some(chunks);
        }
        if let Some(chunks) = &member.sparse {
            let stored_total: u64 = chunks.iter().map(|c| c.1).sum();
            if stored_total > self.remaining {
                return Err(malformed(
                    "the sparse map lists more data than the member stores",
                ));
            }
            let mut end = 0;
            for &(offset, len) in chunks {
                if offset < end || !matches!(offset.checked_add(len), Some(e) if e <= member.size) {
                    return Err(malformed("sparse chunks overlap or pass the file's size"));
                }
                end = offset + len;
            }
            self.sparse = Some(SparseState {
                chunks: chunks.clone(),
                index: 0,
                pos: 0,
                size: member.size,
            });
        }
        Ok(member)
    }

    /// The old GNU sparse map: four entries in the header, more in
    /// extension blocks.
    fn gnu_sparse_map(&mut self, header: &[u8; 512]) -> TarResult<(Vec<(u64, u64)>, u64)> {
        let mut chunks = Vec::new();
        let entry = |bytes: &[u8]| -> TarResult<Option<(u64, u64)>> {
            let (offset, len) = bytes.split_at_checked(12).unwrap_or_default();
            if offset.first().is_none_or(|&b| b == 0) {
                return Ok(None);
            }
            let offset = number(offset).map_err(|e| malformed(format!("sparse offset: {e}")))?;
            let len = number(len).map_err(|e| malformed(format!("sparse length: {e}")))?;
            Ok(Some((offset, len)))
        };
        let (_, in_header) = header.split_at(386);
        for bytes in in_header.chunks_exact(24).take(4) {
            if let Some(c) = entry(bytes)? {
                chunks.push(c);
            }
        }
        let real =
            number(&header[483..495]).map_err(|e| malformed(format!("sparse real size: {e}")))?;
        let mut extended = header[482] != 0;
        while extended {
            let mut block = [0u8; 512];
            self.read_exact(&mut block)?;
            for bytes in block.chunks_exact(24).take(21) {
                if let Some(c) = entry(bytes)? {
                    chunks.push(c);
                }
            }
            extended = block[504] != 0;
            if chunks.len() > 1 << 20 {
                return Err(malformed("sparse map too long"));
            }
        }
        Ok((chunks, real))
    }

    /// The PAX sparse 1.0 map: decimal lines at the start of the data,
    /// padded to a block.
    fn pax_sparse_map(&mut self) -> TarResult<Vec<(u64, u64)>> {
        let mut text = Vec::new();
        let mut numbers = Vec::new();
        let mut count: Option<u64> = None;
        let mut consumed = 0u64;
        loop {
            let mut byte = [0u8; 1];
            if self.remaining == 0 {
                return Err(malformed("PAX sparse map runs past the member"));
            }
            self.read_exact(&mut byte)?;
            self.remaining -= 1;
            consumed += 1;
            if byte[0] != b'\n' {
                text.push(byte[0]);
                if text.len() > 20 {
                    return Err(malformed("PAX sparse map number too long"));
                }
                continue;
            }
            let n: u64 = std::str::from_utf8(&text)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| malformed("PAX sparse map is not decimal"))?;
            text.clear();
            match count {
                None => {
                    if n > 1 << 20 {
                        return Err(malformed("PAX sparse map too long"));
                    }
                    count = Some(n);
                }
                Some(_) => numbers.push(n),
            }
            if count.is_some_and(|c| numbers.len() as u64 == 2 * c) {
                break;
            }
        }
        let pad = padding(consumed).min(self.remaining);
        self.skip(pad)?;
        self.remaining -= pad;
        Ok(numbers
            .chunks_exact(2)
            .filter_map(|c| match *c {
                [offset, len] => Some((offset, len)),
                _ => None,
            })
            .collect())
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

/// The name in `name_field` when `number_field` holds no number at all
/// (only NULs and spaces) and the name is not empty.
fn name_without_number(number_field: &[u8], name_field: &[u8]) -> Option<Vec<u8>> {
    let blank = number_field.iter().all(|&b| b == 0 || b == b' ');
    let name = trim_nul(name_field);
    (blank && !name.is_empty()).then(|| name.to_vec())
}

fn padding(size: u64) -> u64 {
    (BLOCK - size % BLOCK) % BLOCK
}

fn trim_nul(field: &[u8]) -> &[u8] {
    field.split(|&b| b == 0).next().unwrap_or_default()
}

/// A numeric header field: octal text (NUL or space terminated), or
/// base-256 when the high bit of the first byte is set.
fn number(field: &[u8]) -> std::result::Result<u64, String> {
    if let Some(&first) = field.first() {
        if first & 0x80 != 0 {
            if first & 0x40 != 0 {
                return Err("negative base-256 number".into());
            }
            let mut value: u64 = u64::from(first & 0x3f);
            for &b in field.get(1..).unwrap_or_default() {
                value = value
                    .checked_mul(256)
                    .and_then(|v| v.checked_add(u64::from(b)))
                    .ok_or_else(|| "base-256 number too large".to_string())?;
            }
            return Ok(value);
        }
    }
    let text: Vec<u8> = field
        .iter()
        .copied()
        .skip_while(|&b| b == b' ')
        .take_while(|&b| b != 0 && b != b' ')
        .collect();
    if text.is_empty() {
        return Ok(0);
    }
    let s = std::str::from_utf8(&text).map_err(|_| format!("{text:?} is not octal"))?;
    u64::from_str_radix(s, 8).map_err(|_| format!("{s:?} is not octal"))
}

/// Checks the header checksum (unsigned sum, or signed as old tars wrote).
fn verify_checksum(header: &[u8; 512]) -> TarResult<()> {
    let stored =
        number(&header[148..156]).map_err(|e| malformed(format!("checksum field: {e}")))?;
    let field = 148..156;
    let unsigned: u64 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| if field.contains(&i) { 32 } else { u64::from(b) })
        .sum();
    let signed: i64 = header
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if field.contains(&i) {
                32
            } else {
                i64::from(b as i8)
            }
        })
        .sum();
    if stored == unsigned || stored as i64 == signed {
        Ok(())
    } else {
        Err(malformed(format!(
            "header checksum {stored} does not match the header ({unsigned})"
        )))
    }
}

/// Parses PAX records `LEN key=value\n`, where LEN counts the whole record:
/// values may hold any bytes, newlines included.
fn parse_pax(data: &[u8]) -> TarResult<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut records = Vec::new();
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break;
        }
        let space = rest
            .iter()
            .position(|&b| b == b' ')
            .ok_or_else(|| malformed("PAX record without a length"))?;
        let digits = rest.get(..space).unwrap_or_default();
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| malformed("PAX record length is not a number"))?;
        let (this, next) = rest
            .split_at_checked(len)
            .filter(|_| len > space + 1)
            .ok_or_else(|| malformed("PAX record length does not match its content"))?;
        let record = match this.strip_suffix(b"\n").and_then(|r| r.get(space + 1..)) {
            Some(record) => record,
            None => return Err(malformed("PAX record length does not match its content")),
        };
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| malformed("PAX record without '='"))?;
        let (key, value) = record.split_at(eq);
        records.push((key.to_vec(), value.get(1..).unwrap_or_default().to_vec()));
        rest = next;
    }
    Ok(records)
}

fn parse_u32(text: &str, name: &str) -> TarResult<u32> {
    text.parse()
        .map_err(|_| malformed(format!("PAX {name} {text:?} is not a 32-bit number")))
}

/// Parses a PAX time: decimal seconds with an optional fraction, possibly
/// negative (`-1.25` is a quarter second after -2).
fn pax_time(text: &str) -> TarResult<Timestamp> {
    let bad = || malformed(format!("PAX time {text:?}"));
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    let secs: i64 = int.parse().map_err(|_| bad())?;
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let digits: String = frac.chars().chain("000000000".chars()).take(9).collect();
    let nanos: u32 = digits.parse().map_err(|_| bad())?;
    if int.starts_with('-') && nanos > 0 {
        Ok(Timestamp {
            secs: secs - 1,
            nanos: 1_000_000_000 - nanos,
        })
    } else {
        Ok(Timestamp { secs, nanos })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_records_may_hold_newlines() {
        let value = b"a\nb";
        let body = "user.x=";
        // Two digits of length, a space, the record, the newline.
        let len = 2 + 1 + body.len() + value.len() + 1;
        let mut rec = format!("{len} {body}").into_bytes();
        rec.extend_from_slice(value);
        rec.push(b'\n');
        let parsed = parse_pax(&rec).unwrap();
        assert_eq!(parsed, vec![(b"user.x".to_vec(), value.to_vec())]);
        assert!(parse_pax(b"5 a=b\n").is_err());
    }

    #[test]
    fn streams_that_do_not_start_with_a_header_are_not_archives() {
        let mut empty = TarReader::new(&b""[..]);
        let err = empty.next_member().unwrap_err();
        assert!(matches!(err, TarError::NotAnArchive(_)), "{err}");
        assert!(err.to_string().contains("empty (0 bytes)"), "{err}");
        let mut end_only = TarReader::new(&[0u8; 1024][..]);
        assert!(matches!(end_only.next_member(), Ok(None)));
        let mut short = TarReader::new(&b"not a directory"[..]);
        let err = short.next_member().unwrap_err();
        assert!(err.to_string().contains("holds 15 bytes"), "{err}");
        let text = b"# /etc/services\n".repeat(64);
        let err = TarReader::new(&text[..]).next_member().unwrap_err();
        assert!(
            err.to_string()
                .starts_with("not a tar archive (plain, gzip, xz or zstd): its first 512 bytes"),
            "{err}"
        );
    }

    /// One ustar header of an empty regular file named `a`.
    fn header_only_archive() -> Vec<u8> {
        let mut header = vec![0u8; 512];
        header[0] = b'a';
        header[100..108].copy_from_slice(b"0000644\0");
        header[124..136].copy_from_slice(b"00000000000\0");
        header[156] = b'0';
        header[257..265].copy_from_slice(b"ustar\x0000");
        header[148..156].copy_from_slice(b"        ");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum();
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        header
    }

    #[test]
    fn a_header_cut_short_after_the_first_is_truncation() {
        let mut archive = header_only_archive();
        archive.extend_from_slice(&[b'x'; 100]);
        let mut reader = TarReader::new(&archive[..]);
        assert!(reader.next_member().unwrap().is_some());
        assert!(matches!(reader.next_member(), Err(TarError::Truncated)));
    }

    #[test]
    fn numbers_in_octal_and_base_256() {
        assert_eq!(number(b"0000644\0").unwrap(), 0o644);
        assert_eq!(number(b"  17 \0").unwrap(), 0o17);
        assert_eq!(number(&[0x80, 0, 0, 1, 0]).unwrap(), 256);
        assert!(number(b"89\0").is_err());
    }

    #[test]
    fn pax_times_parse_with_fractions_and_signs() {
        assert_eq!(
            pax_time("12.5").unwrap(),
            Timestamp {
                secs: 12,
                nanos: 500_000_000
            }
        );
        assert_eq!(
            pax_time("-1.25").unwrap(),
            Timestamp {
                secs: -2,
                nanos: 750_000_000
            }
        );
        assert_eq!(pax_time("7").unwrap(), Timestamp::from_secs(7));
        assert!(pax_time("x").is_err());
    }
}
