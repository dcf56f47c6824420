//! Identifiers written into images (filesystem UUIDs, hash seeds, disk
//! signatures): random by default, derived from the build's inputs when the
//! build must be reproducible.

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// Sixteen random bytes shaped as a version-4 UUID.
///
/// # Examples
///
/// ```
/// use blockimg::identity::random_uuid;
///
/// # fn main() -> blockimg::Result<()> {
/// let (a, b) = (random_uuid()?, random_uuid()?);
/// assert_ne!(a, b);
/// assert_eq!((a[6] >> 4, a[8] >> 6), (4, 0b10)); // version 4, RFC 4122 variant
/// # Ok(())
/// # }
/// ```
pub fn random_uuid() -> Result<[u8; 16]> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| Error::InvalidOption {
        option: "random source".into(),
        reason: e.to_string(),
    })?;
    Ok(as_uuid_v4(bytes))
}

/// Sixteen bytes derived from `tag` and `parts`, shaped as a version-4 UUID:
/// the same inputs always give the same bytes.
///
/// # Examples
///
/// ```
/// use blockimg::identity::{derived_uuid, format_uuid, parse_uuid};
///
/// # fn main() -> blockimg::Result<()> {
/// let uuid = derived_uuid("root", &[b"1700000000"]);
/// assert_eq!(uuid, derived_uuid("root", &[b"1700000000"])); // reproducible
/// assert_eq!(uuid[6] >> 4, 4); // version 4
/// let text = format_uuid(&uuid);
/// assert_eq!(parse_uuid(&text)?, uuid);
/// # Ok(())
/// # }
/// ```
pub fn derived_uuid(tag: &str, parts: &[&[u8]]) -> [u8; 16] {
    let mut hasher = Sha256::new();
    hasher.update(tag.as_bytes());
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    as_uuid_v4(bytes)
}

/// [`derived_uuid`] of `tag` and `parts` when `derive` (a reproducible
/// build), [`random_uuid`] otherwise.
///
/// # Examples
///
/// ```
/// use blockimg::identity::{derived_uuid, uuid_for};
///
/// # fn main() -> blockimg::Result<()> {
/// let secs = 1_700_000_000i64.to_le_bytes();
/// assert_eq!(uuid_for(true, "swap", &[&secs])?, derived_uuid("swap", &[&secs])); // reproducible
/// assert_ne!(uuid_for(false, "swap", &[&secs])?, uuid_for(false, "swap", &[&secs])?);
/// # Ok(())
/// # }
/// ```
pub fn uuid_for(derive: bool, tag: &str, parts: &[&[u8]]) -> Result<[u8; 16]> {
    if derive {
        Ok(derived_uuid(tag, parts))
    } else {
        random_uuid()
    }
}

fn as_uuid_v4(mut bytes: [u8; 16]) -> [u8; 16] {
    bytes[6] = (bytes[6] & 0x0F) | 0x40;
    bytes[8] = (bytes[8] & 0x3F) | 0x80;
    bytes
}

/// The first four bytes of an identifier, for the 32-bit ones: an MBR
/// disk signature, a FAT volume id.
pub(crate) fn id32(id: &[u8; 16]) -> u32 {
    u32::from_le_bytes([id[0], id[1], id[2], id[3]])
}

/// Formats a UUID as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
///
/// # Examples
///
/// ```
/// use blockimg::identity::format_uuid;
///
/// let uuid = [0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef, 0x81, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef];
/// assert_eq!(format_uuid(&uuid), "12345678-9abc-4def-8123-456789abcdef");
/// ```
pub fn format_uuid(uuid: &[u8; 16]) -> String {
    let hex: String = uuid.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Parses `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (hyphens optional).
///
/// # Examples
///
/// ```
/// use blockimg::identity::parse_uuid;
///
/// # fn main() -> blockimg::Result<()> {
/// let uuid = parse_uuid("12345678-9abc-4def-8123-456789abcdef")?;
/// assert_eq!(uuid, parse_uuid("123456789ABC4DEF8123456789ABCDEF")?); // hyphens optional
/// assert!(parse_uuid("not a uuid").is_err());
/// # Ok(())
/// # }
/// ```
pub fn parse_uuid(text: &str) -> Result<[u8; 16]> {
    let bad = |reason: &str| Error::InvalidOption {
        option: "UUID".into(),
        reason: format!("{text:?}: {reason}"),
    };
    let hex: Vec<u8> = text.bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 {
        return Err(bad("expected 32 hexadecimal digits"));
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let s = std::str::from_utf8(pair).map_err(|_| bad("not hexadecimal"))?;
        out[i] = u8::from_str_radix(s, 16).map_err(|_| bad("not hexadecimal"))?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_round_trips() {
        let u = derived_uuid("t", &[b"a"]);
        assert_eq!(parse_uuid(&format_uuid(&u)).unwrap(), u);
        assert_eq!(derived_uuid("t", &[b"a"]), u);
        assert_ne!(derived_uuid("t", &[b"b"]), u);
        assert!(parse_uuid("xyz").is_err());
    }
}
