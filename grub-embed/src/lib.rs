//! Installs GRUB into disk images without root: boot.img into the MBR and
//! core.img into the gap after it or into a GPT disk's BIOS boot partition
//! ([`bios`]), core.img and the UEFI application `BOOTX64.EFI` made by the
//! host's `grub-mkimage` ([`mkimage`]), and the configuration GRUB reads
//! ([`config`]). Putting `BOOTX64.EFI` on an ESP is the caller's job.

#![deny(missing_docs)]
// Input comes from users and their images: failures are errors, never panics.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bios;
pub mod config;
pub mod error;
pub mod mkimage;

pub use error::{Error, Result};
