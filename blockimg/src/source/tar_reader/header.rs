//! The fields of a 512-byte tar header: the member it describes before
//! extended records apply, octal and base-256 numbers, names, and the
//! header checksum.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::{malformed, Member, MemberKind, TarResult};
use crate::tree::Timestamp;

/// The member the header describes: names from `long_name` and
/// `long_link` (GNU `L` and `K` members) when given, or from the header
/// (with the ustar prefix); `stored` bytes of data from byte `data_start`
/// of the archive. PAX records are applied afterwards.
pub(super) fn member(
    header: &[u8; 512],
    typeflag: u8,
    stored: u64,
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    data_start: u64,
) -> TarResult<Member> {
    let field = |name: &str, range: std::ops::Range<usize>| {
        number(header.get(range).unwrap_or_default())
            .map_err(|e| malformed(format!("{name} field: {e}")))
    };
    let ustar = &header[257..263] == b"ustar\0";
    let path = long_name.unwrap_or_else(|| {
        let name = trim_nul(&header[..100]);
        let prefix = trim_nul(&header[345..500]);
        if ustar && !prefix.is_empty() {
            [prefix, b"/", name].concat()
        } else {
            name.to_vec()
        }
    });
    let link = long_link.unwrap_or_else(|| trim_nul(&header[157..257]).to_vec());
    let to_u32 = |name: &str, v: u64| {
        u32::try_from(v).map_err(|_| malformed(format!("{name} {v} does not fit 32 bits")))
    };
    let mut member = Member {
        path,
        link,
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
    Ok(member)
}

/// The name in `name_field` when `number_field` holds no number at all
/// (only NULs and spaces) and the name is not empty.
fn name_without_number(number_field: &[u8], name_field: &[u8]) -> Option<Vec<u8>> {
    let blank = number_field.iter().all(|&b| b == 0 || b == b' ');
    let name = trim_nul(name_field);
    (blank && !name.is_empty()).then(|| name.to_vec())
}

pub(super) fn trim_nul(field: &[u8]) -> &[u8] {
    field.split(|&b| b == 0).next().unwrap_or_default()
}

/// A numeric header field: octal text (NUL or space terminated), or
/// base-256 when the high bit of the first byte is set.
pub(super) fn number(field: &[u8]) -> std::result::Result<u64, String> {
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
pub(super) fn verify_checksum(header: &[u8; 512]) -> TarResult<()> {
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
