//! blockimg builds bootable, partitioned disk images without root, loop
//! devices or a virtual machine.
//!
//! The library is one pipeline: a source builds a [`tree::Tree`] (an in-memory
//! model of a filesystem), the ext4 planner ([`ext4`]) lays out the whole
//! filesystem before a byte is written, and a [`sink::Sink`] receives the disk
//! in ascending offset order.

#![deny(missing_docs)]

pub mod disk;
pub mod error;
pub mod ext4;
pub mod identity;
pub mod image;
pub mod sink;
pub mod size;
pub mod source;
pub mod tree;

pub use error::{Error, Result};
