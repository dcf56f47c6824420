//! Linux swap space: the header `mkswap` writes in a swap partition's first
//! page (version 1, the last usable page, a UUID and a label, and the
//! `SWAPSPACE2` signature in the page's last ten bytes).

use crate::error::{Error, Result};

/// The page size the header is written for (x86-64 and most Linux
/// systems); the kernel refuses a swap area whose header is for another.
pub const PAGE_SIZE: u64 = 4096;
/// The signature at the end of the first page.
pub const SIGNATURE: &[u8; 10] = b"SWAPSPACE2";
/// Longest label, in bytes.
pub const MAX_LABEL: usize = 16;

/// The first page of a swap area of `size` bytes with `uuid` (text order)
/// and `label`: what `mkswap -U UUID -L LABEL` writes. The rest of the area
/// needs no initialisation.
///
/// # Errors
///
/// [`Error::InvalidOption`] for a label longer than 16 bytes or an area
/// smaller than ten pages.
///
/// # Examples
///
/// ```
/// use blockimg::disk::swap::{header, PAGE_SIZE, SIGNATURE};
///
/// # fn main() -> blockimg::Result<()> {
/// let page = header(64 << 20, &[7; 16], "swap")?;
/// assert_eq!(page.len() as u64, PAGE_SIZE);
/// assert_eq!(&page[page.len() - 10..], SIGNATURE);
/// assert!(header(64 << 20, &[7; 16], "a label of over 16 bytes").is_err());
/// # Ok(())
/// # }
/// ```
pub fn header(size: u64, uuid: &[u8; 16], label: &str) -> Result<Vec<u8>> {
    if label.len() > MAX_LABEL {
        return Err(Error::InvalidOption {
            option: "swap label".into(),
            reason: format!("{label:?} is longer than {MAX_LABEL} bytes"),
        });
    }
    let pages = size / PAGE_SIZE;
    if pages < 10 {
        return Err(Error::InvalidOption {
            option: "swap size".into(),
            reason: format!("{size} bytes is less than ten {PAGE_SIZE}-byte pages"),
        });
    }
    let last_page = u32::try_from(pages - 1).unwrap_or(u32::MAX);
    let mut page = vec![0u8; PAGE_SIZE as usize];
    // struct swap_header_v1_2 after 1024 bytes of boot bits.
    page[1024..1028].copy_from_slice(&1u32.to_le_bytes());
    page[1028..1032].copy_from_slice(&last_page.to_le_bytes());
    // nr_badpages stays 0.
    page[1036..1052].copy_from_slice(uuid);
    page[1052..1052 + label.len()].copy_from_slice(label.as_bytes());
    let sig = PAGE_SIZE as usize - SIGNATURE.len();
    page[sig..].copy_from_slice(SIGNATURE);
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_fields_are_where_mkswap_puts_them() {
        let page = header(1 << 20, &[7u8; 16], "swap").unwrap();
        assert_eq!(&page[4086..], b"SWAPSPACE2");
        assert_eq!(page[1024..1028], 1u32.to_le_bytes());
        assert_eq!(page[1028..1032], 255u32.to_le_bytes());
        assert_eq!(&page[1036..1052], &[7u8; 16]);
        assert_eq!(&page[1052..1056], b"swap");
        assert!(header(1 << 20, &[0; 16], "a-label-that-is-too-long").is_err());
        assert!(header(9 * 4096, &[0; 16], "").is_err());
    }
}
