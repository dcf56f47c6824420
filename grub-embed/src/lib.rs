//! Installs GRUB into disk images without root: boot.img into the MBR,
//! core.img into the gap after it, and an EFI application onto an ESP.
//!
//! This crate is being built up; it has no public items yet.
