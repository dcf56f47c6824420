//! The swap part of a report: a Linux swap area's `SWAPSPACE2` signature,
//! label and UUID (mkswap's version 1 header).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use serde::Serialize;

use crate::bytes::le32;
use crate::disk::gpt::guid_text;
use crate::disk_format::Backing;

/// Page sizes a swap area may have been made for.
const PAGE_SIZES: [u64; 4] = [4096, 8192, 16384, 65536];
/// The signature in the last ten bytes of the first page.
const MAGIC: &[u8; 10] = b"SWAPSPACE2";
/// Offset of the version 1 header (after the boot block).
const HEADER: u64 = 1024;

/// A Linux swap area.
///
/// # Examples
///
/// ```
/// use blockimg::inspect::{inspect, Filesystem};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"48M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[partition]]\nrole = \"esp\"\nsize = \"33M\"\n[partition.fat]\nlabel = \"EFI\"\nvolume_id = \"ABCD-1234\"\n\
/// #             [[partition]]\nrole = \"swap\"\nsize = \"4M\"\n[partition.swap]\nlabel = \"swap\"\n[[partition]]\nrole = \"root\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: GPT; an ESP labelled EFI, 4 MiB of swap, an ext4 root.
/// let report = inspect(&image)?;
/// let Some(Filesystem::Swap(swap)) = &report.partitions[1].filesystem else { panic!("swap") };
/// assert_eq!((swap.version, swap.label.as_str()), (1, "swap"));
/// assert_eq!(swap.size, (4 << 20) - 4096); // all but the header page
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SwapReport {
    /// The page size the signature was found for.
    pub page_size: u64,
    /// The header's version (1).
    pub version: u32,
    /// The area's UUID.
    pub uuid: String,
    /// Its label (lossily decoded).
    pub label: String,
    /// Usable size in bytes: pages up to the header's last page, less the
    /// header page.
    pub size: u64,
}

/// The swap area at byte `start`, if one has a signature there.
pub fn probe(file: &dyn Backing, start: u64) -> Option<SwapReport> {
    let page_size = PAGE_SIZES.into_iter().find(|&page| {
        let mut magic = [0u8; 10];
        file.read_exact_at(&mut magic, start + page - MAGIC.len() as u64)
            .is_ok()
            && &magic == MAGIC
    })?;
    let mut header = [0u8; 44];
    file.read_exact_at(&mut header, start + HEADER).ok()?;
    let u32_at = |o: usize| le32(&header, o);
    let (_, rest) = header.split_at(12);
    let (uuid_bytes, label) = rest.split_at(16);
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(uuid_bytes);
    let label = label.split(|&b| b == 0).next().unwrap_or_default();
    Some(SwapReport {
        page_size,
        version: u32_at(0),
        uuid: guid_text(&uuid).to_lowercase(),
        label: String::from_utf8_lossy(label).into_owned(),
        size: u64::from(u32_at(4)) * page_size,
    })
}
