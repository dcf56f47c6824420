//! Sinks receive a disk image in ascending offset order.
//!
//! Because the whole layout is planned before a byte is written, every
//! output format can be produced in one pass: a sparse raw file today,
//! other formats through the same trait.

mod blocks;
mod deflate_pool;
mod device;
mod output;
mod sparse_file;
mod stream;
mod temp_output;
mod vhd;
mod vmdk;

pub use device::{DeviceWriter, WINDOW};
pub use output::{open_output, virtual_size, Destination, Output, OutputFormat, OutputOptions};
pub use sparse_file::SparseFile;
pub use stream::Stream;
pub use temp_output::Completed;
pub(crate) use temp_output::TempOutput;
pub use vhd::{VhdDynamic, VhdFixed};
pub use vmdk::VmdkStream;

use crate::error::Result;

/// Where an image's bytes go. Writes come in ascending, non-overlapping
/// offset order; ranges never written read as zeros.
pub trait Sink {
    /// Writes `data` at byte `offset` of the image.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()>;

    /// Like [`Sink::write_at`], but takes the buffer, and returns a buffer
    /// the caller may fill next (its length and contents are arbitrary).
    /// Sinks that hand buffers to another thread take it as it is and save
    /// a copy.
    fn write_owned(&mut self, offset: u64, data: Vec<u8>) -> Result<Vec<u8>> {
        self.write_at(offset, &data)?;
        Ok(data)
    }
}

/// True when every byte of `data` is zero.
pub fn is_zero(data: &[u8]) -> bool {
    let mut words = data.chunks_exact(16);
    let body_zero = words.all(|w| u128::from_ne_bytes(w.try_into().unwrap_or([1; 16])) == 0);
    body_zero && words.remainder().iter().all(|&b| b == 0)
}

/// An image held in memory: bytes land at their offsets, gaps are zeros.
impl Sink for Vec<u8> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let start = usize::try_from(offset).map_err(|_| crate::error::Error::TooLarge {
            what: "in-memory image".into(),
            size: offset,
            limit: usize::MAX as u64,
        })?;
        let end = start + data.len();
        if self.len() < end {
            self.resize(end, 0);
        }
        self[start..end].copy_from_slice(data);
        Ok(())
    }
}
