//! Tests of the tar reader.

use super::header::number;
use super::pax::pax_time;
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
