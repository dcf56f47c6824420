//! Sources: everything that builds a [`Tree`](crate::tree::Tree), the
//! in-memory model of a filesystem that the planners turn into an image.
//!
//! - [`dir`]: a directory on the host, scanned without following symlinks and
//!   without root privileges; file data stays on the host and is read only
//!   when the image is written.
//! - [`tar`]: tar archives, plain or compressed, from a file or a stream.
//! - [`manifest`], [`base_layout`]: entries added or overridden on top.
//! - [`root`]: the starting tree of a build from any of these, and the
//!   changes applied to it once read.
//!
//! # Example
//!
//! ```
//! use blockimg::source::root::{load_root, TreeAdjust};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! std::fs::write(dir.path().join("hostname"), "appliance\n")?;
//! // A directory (or a tar archive, or nothing), then the changes on top.
//! let mut tree = load_root(Some(dir.path()), Some(1_700_000_000))?;
//! TreeAdjust::default().owner(Some((0, 0))).base_layout(true).apply(&mut tree, Some(1_700_000_000))?;
//! assert!(tree.lookup(b"/hostname").is_some() && tree.lookup(b"/proc").is_some());
//! # Ok(())
//! # }
//! ```

pub mod base_layout;
pub mod dir;
pub mod manifest;
pub(crate) mod read_ahead;
pub mod root;
pub mod tar;
pub(crate) mod tar_reader;

pub use crate::error::SourceError;
