//! Installs GRUB into disk images without root: boot.img into the MBR and
//! core.img into the gap after it ([`bios`]), core.img made by the host's
//! `grub-mkimage` ([`mkimage`]), and the configuration GRUB reads
//! ([`config`]).
//!
//! UEFI (an EFI application on an ESP) and GPT disks (a BIOS boot
//! partition) are not supported yet.

#![deny(missing_docs)]
// Input comes from users and their images: failures are errors, never panics.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod bios;
pub mod config;
pub mod error;
pub mod mkimage;

pub use error::{Error, Result};
