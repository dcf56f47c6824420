//! Installs GRUB into disk images without root: boot.img into the MBR and
//! core.img into the gap after it or into a GPT disk's BIOS boot partition
//! ([`bios`]), core.img and the UEFI application `BOOTX64.EFI` made by the
//! host's `grub-mkimage` ([`mkimage`]), and the configuration GRUB reads
//! ([`config`]). Putting `BOOTX64.EFI` on an ESP is the caller's job.
//!
//! # Example
//!
//! ```
//! use grub_embed::bios::{embed, CoreArea};
//! use grub_embed::mkimage::{mkimage, MkimageOptions, Platform};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # if !std::path::Path::new("/usr/lib/grub/i386-pc/boot.img").exists() {
//! #     return Ok(()); // GRUB's modules are not installed on this host
//! # }
//! // The first sector of a disk image with one partition at 1 MiB.
//! let mut mbr = [0u8; 512];
//! mbr[446 + 4] = 0x83;
//! mbr[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
//! mbr[446 + 12..446 + 16].copy_from_slice(&20480u32.to_le_bytes());
//! mbr[510..].copy_from_slice(&[0x55, 0xaa]);
//!
//! let boot_img = std::fs::read(Platform::Bios.default_dir().to_owned() + "/boot.img")?;
//! let core_img = mkimage(&MkimageOptions::new(Platform::Bios))?; // GRUB finds /boot/grub on (,msdos1)
//! let grub = embed(&mbr, &boot_img, &core_img, CoreArea::MbrGap)?;
//! // Write grub.mbr at byte 0 of the image and grub.core_img at sector grub.core_lba.
//! assert_eq!(grub.core_lba, 1);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
// Input comes from users and their images: failures are errors, never panics.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bios;
pub mod config;
pub mod error;
pub mod mkimage;

pub use error::{Error, Result};
