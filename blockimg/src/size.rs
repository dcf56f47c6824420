//! Human-readable sizes: parsing what users type (`6G`, `512MiB`, `1.5T`)
//! and formatting byte counts for messages.
//!
//! blockimg sizes are binary: every suffix is a power of 1024, so `6G`,
//! `6GB` and `6GiB` all mean 6 GiB (6 × 2³⁰ bytes), as with `qemu-img` and
//! `truncate`.

use crate::error::{Error, Result};

/// Suffix letters and the power of 1024 each stands for.
const UNITS: [(char, u32); 6] = [('k', 1), ('m', 2), ('g', 3), ('t', 4), ('p', 5), ('e', 6)];

/// Unit names used by [`format_size`], index `i` standing for `1024^i` bytes.
const UNIT_NAMES: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];

/// Parses a size in bytes.
///
/// Accepted forms, surrounding whitespace ignored:
/// - a plain number of bytes: `1048576`;
/// - a number followed by a suffix, letters in any case, optionally
///   separated by spaces: `K`, `M`, `G`, `T`, `P`, `E`, each optionally
///   followed by `B` or `iB` (`512M`, `512MB`, `512MiB`, `4k`), or `B` alone
///   for bytes (`4096B`);
/// - a decimal fraction with a suffix, as long as the result is a whole
///   number of bytes: `1.5G`, `0.5K` (but not `0.3K`).
///
/// All suffixes are powers of 1024: `1K` is 1024 bytes, `6G` is 6 GiB.
///
/// # Errors
///
/// [`Error::InvalidSize`] for an empty text, zero, a negative number, an
/// unknown suffix, a value that does not fit in 64 bits, a fraction that is
/// not a whole number of bytes, or anything else that is not a size.
///
/// # Examples
///
/// ```
/// use blockimg::size::parse_size;
///
/// # fn main() -> blockimg::Result<()> {
/// assert_eq!(parse_size("512M")?, 512 << 20);
/// assert_eq!(parse_size("6GB")?, 6 << 30); // every suffix is binary
/// assert_eq!(parse_size("1.5 GiB")?, 3 << 29);
/// assert_eq!(parse_size("4096")?, 4096);
/// assert!(parse_size("0.3K").is_err()); // not a whole number of bytes
/// # Ok(())
/// # }
/// ```
pub fn parse_size(text: &str) -> Result<u64> {
    let invalid = |reason: String| Error::InvalidSize {
        text: text.to_owned(),
        reason,
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(invalid("the size is empty".to_owned()));
    }
    if trimmed.starts_with('-') {
        return Err(invalid("a size cannot be negative".to_owned()));
    }

    let number_len = trimmed
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(trimmed.len());
    let (number, suffix) = trimmed.split_at(number_len);
    let (whole, fraction) = match number.split_once('.') {
        Some((whole, fraction)) => (whole, fraction),
        None => (number, ""),
    };
    if whole.is_empty() {
        return Err(invalid(
            "expected a number, optionally followed by a unit such as K, M or G".to_owned(),
        ));
    }
    if number.contains('.') && fraction.is_empty() {
        return Err(invalid(
            "expected digits after the decimal point".to_owned(),
        ));
    }
    if fraction.contains('.') {
        return Err(invalid(
            "the number has more than one decimal point".to_owned(),
        ));
    }

    let power = unit_power(suffix.trim_start()).ok_or_else(|| {
        invalid(format!(
            "unknown unit {:?} (use B, K, M, G, T, P or E, optionally followed by B or iB; \
             all units are powers of 1024)",
            suffix.trim_start()
        ))
    })?;
    let shift = 10 * power;

    let too_large = || {
        invalid(format!(
            "the size exceeds the largest possible, {} bytes",
            u64::MAX
        ))
    };
    let mut whole_value: u64 = 0;
    for digit in whole.bytes() {
        whole_value = whole_value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(digit - b'0')))
            .ok_or_else(too_large)?;
    }
    let whole_bytes = whole_value
        .checked_mul(1u64 << shift)
        .ok_or_else(too_large)?;
    let fraction_bytes = fraction_times_power_of_two(fraction, shift).ok_or_else(|| {
        invalid(format!(
            "{number}{} is not a whole number of bytes",
            UNIT_NAMES.get(power as usize).copied().unwrap_or("")
        ))
    })?;
    let bytes = whole_bytes
        .checked_add(fraction_bytes)
        .ok_or_else(too_large)?;
    if bytes == 0 {
        return Err(invalid("the size must be greater than zero".to_owned()));
    }
    Ok(bytes)
}

/// The power of 1024 a unit suffix stands for, or `None` for an unknown
/// suffix. The empty suffix and `B` mean bytes.
fn unit_power(suffix: &str) -> Option<u32> {
    let lower = suffix.to_ascii_lowercase();
    if lower.is_empty() || lower == "b" {
        return Some(0);
    }
    let mut chars = lower.chars();
    let letter = chars.next()?;
    let rest = chars.as_str();
    if !matches!(rest, "" | "b" | "ib") {
        return None;
    }
    UNITS
        .iter()
        .find(|(unit, _)| *unit == letter)
        .map(|&(_, power)| power)
}

/// The value of the decimal fraction `0.<digits>` multiplied by
/// `2^shift`, or `None` when that is not a whole number. Exact for any
/// number of digits: the fraction is doubled `shift` times in decimal, each
/// doubling carrying at most one into the whole part.
fn fraction_times_power_of_two(digits: &str, shift: u32) -> Option<u64> {
    let mut fraction: Vec<u8> = digits.bytes().map(|d| d - b'0').collect();
    while fraction.last() == Some(&0) {
        fraction.pop();
    }
    let mut whole: u64 = 0;
    for _ in 0..shift {
        if fraction.is_empty() {
            whole <<= 1;
            continue;
        }
        let mut carry = 0u8;
        for digit in fraction.iter_mut().rev() {
            let doubled = *digit * 2 + carry;
            *digit = doubled % 10;
            carry = doubled / 10;
        }
        whole = (whole << 1) | u64::from(carry);
        while fraction.last() == Some(&0) {
            fraction.pop();
        }
    }
    // `shift` is at most 60, so `whole < 2^60` never overflowed.
    fraction.is_empty().then_some(whole)
}

/// Formats a byte count for messages, in the largest binary unit that keeps
/// the number at least 1: `1023 B`, `512 MiB`, `6.0 GiB`, `1.5 TiB`.
///
/// Values below 100 in their unit get one decimal, larger ones none. The
/// result is rounded, so messages that need exact values should also give
/// the byte count.
///
/// # Examples
///
/// ```
/// use blockimg::size::format_size;
///
/// assert_eq!(format_size(1023), "1023 B");
/// assert_eq!(format_size(512 << 20), "512 MiB");
/// assert_eq!(format_size(6 << 30), "6.0 GiB");
/// ```
pub fn format_size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut index = 0usize;
    let mut unit = 1u64;
    while index + 1 < UNIT_NAMES.len() && bytes / unit >= 1024 {
        index += 1;
        unit <<= 10;
    }
    // Precision loss is irrelevant for a display value.
    let value = bytes as f64 / unit as f64;
    let name = UNIT_NAMES.get(index).copied().unwrap_or("B");
    if value < 99.95 {
        return format!("{value:.1} {name}");
    }
    let rounded = value.round();
    if rounded >= 1024.0 && index + 1 < UNIT_NAMES.len() {
        let next = UNIT_NAMES.get(index + 1).copied().unwrap_or("B");
        return format!("1.0 {next}");
    }
    format!("{rounded:.0} {name}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn reason(text: &str) -> String {
        match parse_size(text) {
            Err(Error::InvalidSize { reason, text: t }) => {
                assert_eq!(t, text);
                reason
            }
            other => panic!("{text:?}: expected InvalidSize, got {other:?}"),
        }
    }

    #[test]
    fn plain_bytes() {
        assert_eq!(parse_size("1048576").unwrap(), 1_048_576);
        assert_eq!(parse_size("  512 ").unwrap(), 512);
        assert_eq!(parse_size("007").unwrap(), 7);
        assert_eq!(parse_size("4096B").unwrap(), 4096);
        assert_eq!(parse_size("4096 b").unwrap(), 4096);
        assert_eq!(parse_size("18446744073709551615").unwrap(), u64::MAX);
    }

    #[test]
    fn suffixes_are_binary_and_case_insensitive() {
        for text in ["1K", "1k", "1KB", "1kb", "1KiB", "1kib", "1 K", "1 KiB"] {
            assert_eq!(parse_size(text).unwrap(), 1024, "{text}");
        }
        assert_eq!(parse_size("512M").unwrap(), 512 << 20);
        assert_eq!(parse_size("512MB").unwrap(), 512 << 20);
        assert_eq!(parse_size("6G").unwrap(), 6 << 30);
        assert_eq!(parse_size("6GiB").unwrap(), 6 << 30);
        assert_eq!(parse_size("2t").unwrap(), 2 << 40);
        assert_eq!(parse_size("3P").unwrap(), 3 << 50);
        assert_eq!(parse_size("15E").unwrap(), 15 << 60);
    }

    #[test]
    fn fractions() {
        assert_eq!(parse_size("1.5G").unwrap(), 3 << 29);
        assert_eq!(parse_size("0.5K").unwrap(), 512);
        assert_eq!(parse_size("2.25M").unwrap(), 9 << 18);
        assert_eq!(parse_size("1.000G").unwrap(), 1 << 30);
        assert_eq!(parse_size("3.0").unwrap(), 3);
        // 2^-10 K is exactly one byte.
        assert_eq!(parse_size("0.0009765625K").unwrap(), 1);
        assert!(reason("0.3K").contains("whole number of bytes"));
        assert!(reason("1.5").contains("whole number of bytes"));
        assert!(reason("1.").contains("after the decimal point"));
        assert!(reason(".5G").contains("expected a number"));
        assert!(reason("1.2.3G").contains("more than one decimal point"));
    }

    #[test]
    fn errors() {
        assert!(reason("").contains("empty"));
        assert!(reason("   ").contains("empty"));
        assert!(reason("0").contains("greater than zero"));
        assert!(reason("0G").contains("greater than zero"));
        assert!(reason("0.0M").contains("greater than zero"));
        assert!(reason("-1G").contains("negative"));
        assert!(reason("5X").contains("unknown unit"));
        assert!(reason("5GG").contains("unknown unit"));
        assert!(reason("5Gi").contains("unknown unit"));
        assert!(reason("1e3").contains("unknown unit"));
        assert!(reason("abc").contains("expected a number"));
        assert!(reason("+5").contains("expected a number"));
        assert!(reason("18446744073709551616").contains("exceeds"));
        assert!(reason("16E").contains("exceeds"));
        assert!(reason("99999999999999999999999999999G").contains("exceeds"));
    }

    #[test]
    fn error_message_names_the_text() {
        let message = parse_size("12Q").unwrap_err().to_string();
        assert!(message.contains("\"12Q\""), "{message}");
    }

    #[test]
    fn formatting() {
        assert_eq!(format_size(0), "0 B");
        assert_eq!(format_size(1023), "1023 B");
        assert_eq!(format_size(1024), "1.0 KiB");
        assert_eq!(format_size(1536), "1.5 KiB");
        assert_eq!(format_size(512 << 20), "512 MiB");
        assert_eq!(format_size(6 << 30), "6.0 GiB");
        assert_eq!(format_size((1 << 30) - 1), "1.0 GiB");
        assert_eq!(format_size(100 << 20), "100 MiB");
        assert_eq!(format_size(u64::MAX), "16.0 EiB");
    }

    const SUFFIXES: [(&str, u32); 16] = [
        ("K", 10),
        ("k", 10),
        ("KiB", 10),
        ("KB", 10),
        ("M", 20),
        ("MiB", 20),
        ("mb", 20),
        ("G", 30),
        ("GiB", 30),
        ("gB", 30),
        ("T", 40),
        ("TiB", 40),
        ("P", 50),
        ("PiB", 50),
        ("E", 60),
        ("eib", 60),
    ];

    proptest! {
        #[test]
        fn plain_numbers_round_trip(n in 1u64..) {
            prop_assert_eq!(parse_size(&n.to_string()).unwrap(), n);
        }

        #[test]
        fn suffixes_multiply(n in 1u64..(1 << 20), index in 0..SUFFIXES.len()) {
            let (suffix, shift) = SUFFIXES[index];
            let parsed = parse_size(&format!("{n}{suffix}"));
            match n.checked_mul(1u64 << shift) {
                Some(expected) => prop_assert_eq!(parsed.unwrap(), expected),
                None => prop_assert!(parsed.is_err()),
            }
        }

        #[test]
        fn never_panics_on_any_string(text in any::<String>()) {
            let _ = parse_size(&text);
        }

        #[test]
        fn never_panics_on_number_like_strings(text in "[ 0-9.a-zA-Z-]{0,40}") {
            if let Ok(bytes) = parse_size(&text) {
                prop_assert!(bytes > 0);
            }
        }

        #[test]
        fn format_never_panics(n in any::<u64>()) {
            prop_assert!(!format_size(n).is_empty());
        }
    }
}
