//! Sinks receive a disk image in ascending offset order.
//!
//! Because the whole layout is planned before a byte is written, every
//! output format can be produced in one pass: a sparse raw file today,
//! other formats through the same trait.
//!
//! # Example
//!
//! ```
//! use blockimg::sink::{Sink, SparseFile};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let path = dir.path().join("disk.img");
//! let mut sink = SparseFile::create(&path, false)?;
//! sink.write_at(0, &[0x55; 512])?;
//! sink.write_at(4 << 20, &[0; 4096])?; // zeros stay holes
//! sink.finish(8 << 20)?;
//! assert_eq!(std::fs::metadata(&path)?.len(), 8 << 20);
//! # Ok(())
//! # }
//! ```

pub(crate) mod base;
pub(crate) mod blocks;
mod device;
mod output;
pub(crate) mod sparse_file;
mod stream;
pub(crate) mod temp_output;

pub use crate::disk_format::vhd::write::{VhdDynamic, VhdFixed};
pub use crate::disk_format::vmdk::write::VmdkStream;
pub use base::{is_zero, Sink};
pub use device::{DeviceWriter, WINDOW};
pub use output::{
    open_output, open_output_writer, virtual_size, Destination, Output, OutputFormat, OutputOptions,
};
pub use sparse_file::SparseFile;
pub use stream::Stream;
pub use temp_output::Completed;
pub(crate) use temp_output::TempOutput;
