//! The FAT part of an `inspect` report, which both FAT readers fill:
//! `read.rs` (with fatfs) and `small_fat32.rs` (FAT32 volumes below the
//! specification's cluster count); and where a UEFI boot loader is looked
//! for on it.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use serde::Serialize;

use crate::arch::Arch;

/// Where UEFI firmware looks for a boot loader on removable media, for
/// each architecture (`EFI/BOOT/BOOTX64.EFI`, `EFI/BOOT/BOOTAA64.EFI`).
pub(crate) fn removable_paths() -> impl Iterator<Item = &'static str> {
    Arch::ALL.into_iter().map(Arch::efi_boot_path)
}

/// Each removable-media loader path whose file `size` finds (its path
/// split into names, compared without case by `size`), with that size.
pub(crate) fn loaders(size: impl Fn(&[&str]) -> Option<u64>) -> Vec<(String, u64)> {
    removable_paths()
        .filter_map(|path| {
            let names: Vec<&str> = path.split('/').collect();
            size(&names).map(|bytes| (format!("/{path}"), bytes))
        })
        .collect()
}

/// A FAT filesystem.
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
/// let Some(Filesystem::Fat(fat)) = &report.partitions[0].filesystem else { panic!("FAT") };
/// assert_eq!((fat.fat_type.as_str(), fat.label.as_str()), ("FAT32", "EFI"));
/// assert_eq!(fat.volume_id, "ABCD-1234");
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FatReport {
    /// `FAT12`, `FAT16` or `FAT32` (from the cluster count, as the
    /// specification decides it).
    pub fat_type: String,
    /// The volume label of the boot sector, trailing spaces removed.
    pub label: String,
    /// The volume id (serial number), as `blkid` shows it: `1234-ABCD`.
    pub volume_id: String,
    /// Size of the filesystem in bytes (total sectors times sector size).
    pub size: u64,
    /// Bytes per cluster.
    pub cluster_size: u32,
    /// Data clusters.
    pub clusters: u32,
    /// Free clusters (FAT32's FSInfo count when valid, else counted).
    pub free_clusters: u32,
    /// The removable-media UEFI loaders the filesystem has
    /// (`/EFI/BOOT/BOOTX64.EFI`, `/EFI/BOOT/BOOTAA64.EFI`), with their
    /// sizes.
    #[serde(skip)]
    pub efi_loaders: Vec<(String, u64)>,
}
