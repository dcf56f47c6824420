//! PAX extended headers: records read by their length (so values may hold
//! any bytes), applied to a member over what its header says.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::{malformed, Member, TarResult};
use crate::tree::Timestamp;

/// What the records say of a sparse member (`GNU.sparse.*`).
#[derive(Default)]
pub(super) struct PaxSparse {
    /// `GNU.sparse.major`: `1` for the sparse 1.0 format.
    pub(super) major: Option<String>,
    /// `GNU.sparse.realsize` (or `GNU.sparse.size`): the file's size.
    pub(super) size: Option<u64>,
}

/// Applies `pax`, the records of a member (global ones first), to
/// `member`: path, link, owner, size, times and xattrs (sorted, one value
/// per name); returns what they say of a sparse member.
pub(super) fn apply(member: &mut Member, pax: &[(Vec<u8>, Vec<u8>)]) -> TarResult<PaxSparse> {
    let mut sparse = PaxSparse::default();
    for (key, value) in pax {
        let text = std::str::from_utf8(value).unwrap_or("");
        match key.as_slice() {
            b"path" => member.path = value.clone(),
            b"linkpath" => member.link = value.clone(),
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
            b"GNU.sparse.major" => sparse.major = Some(text.to_string()),
            b"GNU.sparse.name" => member.path = value.clone(),
            b"GNU.sparse.realsize" | b"GNU.sparse.size" => {
                sparse.size = Some(
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
    Ok(sparse)
}

/// Parses PAX records `LEN key=value\n`, where LEN counts the whole record:
/// values may hold any bytes, newlines included.
pub(super) fn parse_pax(data: &[u8]) -> TarResult<Vec<(Vec<u8>, Vec<u8>)>> {
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
pub(super) fn pax_time(text: &str) -> TarResult<Timestamp> {
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
