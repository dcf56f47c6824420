//! Stream-optimized VMDK output, written front to back so it can go to a
//! pipe: header and descriptor, then compressed grains with each grain
//! table after its grains, the grain directory, the footer and the
//! end-of-stream marker. Grains of zeros are left out; the others are
//! compressed on all cores ([`DeflatePool`]).

use std::io::Write;
use std::path::Path;

use super::deflate_pool::{DeflatePool, GrainRecord};
use super::{
    descriptor, encode_table, marker, SparseHeader, GD_AT_END, GRAIN_SECTORS, GTES_PER_GT,
    MARKER_FOOTER, MARKER_GD, MARKER_GT, OVERHEAD_SECTORS, SECTOR,
};
use crate::disk_format::ImageIdentity;
use crate::error::{Error, Result};
use crate::sink::base::Sink;
use crate::sink::blocks::{check_bounds, Blocks, Counted};

/// Grains handed to a compression thread at once (1 MiB of disk).
const BATCH: usize = 16;
/// Compression level of the grains (libdeflate's scale, 1-12). At 6 the
/// output is slightly smaller than zlib's default level, which QEMU and
/// VMware use, at about three times its speed.
pub const DEFAULT_LEVEL: u32 = 6;
const GRAIN_BYTES: u64 = GRAIN_SECTORS * SECTOR;
/// Largest disk written: 62 TiB, VMware's limit for a virtual disk.
pub const MAX_SIZE: u64 = 62 << 40;

/// Writes the stream and keeps the tables: everything that happens after a
/// grain is compressed.
struct Tables<W> {
    out: Counted<W>,
    table: Option<(u64, Vec<u32>)>,
    directory: Vec<u32>,
}

impl<W: Write> Tables<W> {
    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.out.write(bytes)
    }

    fn sector(&self) -> Result<u32> {
        u32::try_from(self.out.pos / SECTOR).map_err(|_| Error::TooLarge {
            what: "a stream-optimized VMDK file".into(),
            size: self.out.pos,
            limit: u64::from(u32::MAX) * SECTOR,
        })
    }

    /// Writes a grain record and notes it in its grain table.
    fn grain(&mut self, record: GrainRecord) -> Result<()> {
        let table = record.index / u64::from(GTES_PER_GT);
        if self.table.as_ref().map(|(t, _)| *t) != Some(table) {
            self.close_table()?;
            self.table = Some((table, vec![0; GTES_PER_GT as usize]));
        }
        let sector = self.sector()?;
        if let Some((_, entries)) = &mut self.table {
            if let Some(e) = entries.get_mut((record.index % u64::from(GTES_PER_GT)) as usize) {
                *e = sector;
            }
        }
        self.write(&record.bytes)
    }

    /// Writes the open grain table behind its marker and enters it in the
    /// directory.
    fn close_table(&mut self) -> Result<()> {
        let Some((table, entries)) = self.table.take() else {
            return Ok(());
        };
        let bytes = encode_table(&entries);
        self.write(&marker(bytes.len() as u64 / SECTOR, MARKER_GT))?;
        let sector = self.sector()?;
        if let Some(slot) = self.directory.get_mut(table as usize) {
            *slot = sector;
        }
        self.write(&bytes)
    }
}

/// A stream-optimized VMDK written to any [`Write`]: a file, a pipe.
///
/// # Examples
///
/// ```
/// use std::path::Path;
///
/// use blockimg::disk_format::{open_backing, Format, ImageIdentity};
/// use blockimg::sink::{Sink, VmdkStream};
///
/// # fn main() -> blockimg::Result<()> {
/// let identity = ImageIdentity { uuid: [1; 16], time: 1_700_000_000 };
/// let path = Path::new("disk.vmdk");
/// let mut vmdk = VmdkStream::new(Vec::new(), path, "disk.vmdk", 4 << 20, &identity, 2, 6)?;
/// vmdk.write_at(1 << 20, b"hello")?;
/// let (bytes, len) = vmdk.finish()?;
/// assert_eq!(bytes.len() as u64, len);
///
/// let mut disk = open_backing(bytes, path)?;
/// assert_eq!((disk.format(), disk.size()), (Format::VmdkStream, 4 << 20));
/// let mut read = [0; 5];
/// disk.read_at(1 << 20, &mut read)?;
/// assert_eq!(&read, b"hello");
/// # Ok(())
/// # }
/// ```
pub struct VmdkStream<W: Write> {
    tables: Tables<W>,
    pool: DeflatePool,
    capacity: u64,
    size: u64,
    grains: Blocks,
    batch: Vec<(u64, Vec<u8>)>,
}

impl<W: Write> VmdkStream<W> {
    /// Starts a VMDK of `size` bytes (rounded up to whole sectors) written
    /// into `out`. `path` names the output in messages and `file_name` goes
    /// into the descriptor. Grains are compressed into zlib streams at
    /// `level` (1-12) by `threads` threads.
    pub fn new(
        out: W,
        path: &Path,
        file_name: &str,
        size: u64,
        identity: &ImageIdentity,
        threads: usize,
        level: u32,
    ) -> Result<VmdkStream<W>> {
        if size > MAX_SIZE {
            return Err(Error::TooLarge {
                what: "a stream-optimized VMDK disk".into(),
                size,
                limit: MAX_SIZE,
            });
        }
        let capacity = size.div_ceil(SECTOR);
        let header = SparseHeader::stream_optimized(capacity, GD_AT_END);
        let cid = u32::from_le_bytes([
            identity.uuid[0],
            identity.uuid[1],
            identity.uuid[2],
            identity.uuid[3],
        ]);
        let mut tables = Tables {
            out: Counted::new(out, path),
            table: None,
            directory: vec![0; header.gd_entries() as usize],
        };
        let mut start = header.encode().to_vec();
        start.extend_from_slice(&descriptor(capacity, cid, file_name));
        start.resize((OVERHEAD_SECTORS * SECTOR) as usize, 0);
        tables.write(&start)?;
        Ok(VmdkStream {
            tables,
            pool: DeflatePool::new(threads, level)?,
            capacity,
            size: capacity * SECTOR,
            grains: Blocks::new(GRAIN_BYTES as usize),
            batch: Vec::with_capacity(BATCH),
        })
    }

    /// Queues the batch of grains for compression.
    fn submit(
        batch: &mut Vec<(u64, Vec<u8>)>,
        pool: &mut DeflatePool,
        tables: &mut Tables<W>,
    ) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(batch, Vec::with_capacity(BATCH));
        pool.submit(batch, &mut |record| tables.grain(record))
    }

    /// Hands a grain that holds data to the batch, and a full batch to the
    /// compression threads.
    fn grain(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let VmdkStream {
            tables,
            pool,
            grains,
            batch,
            ..
        } = self;
        grains.write(offset, data, &mut |index, grain| {
            batch.push((index, grain.to_vec()));
            if batch.len() >= BATCH {
                Self::submit(batch, pool, tables)?;
            }
            Ok(())
        })
    }

    /// Writes the remaining grains, the last grain table, the grain
    /// directory, the footer and the end-of-stream marker. Returns the
    /// writer (flushed) and the number of bytes written.
    pub fn finish(self) -> Result<(W, u64)> {
        let VmdkStream {
            mut tables,
            mut pool,
            capacity,
            mut grains,
            mut batch,
            ..
        } = self;
        grains.finish(&mut |index, grain| {
            batch.push((index, grain.to_vec()));
            Ok(())
        })?;
        Self::submit(&mut batch, &mut pool, &mut tables)?;
        pool.finish(&mut |record| tables.grain(record))?;
        tables.close_table()?;
        let directory = encode_table(&tables.directory);
        tables.write(&marker(directory.len() as u64 / SECTOR, MARKER_GD))?;
        let gd_offset = tables.out.pos / SECTOR;
        tables.write(&directory)?;
        tables.write(&marker(1, MARKER_FOOTER))?;
        tables.write(&SparseHeader::stream_optimized(capacity, gd_offset).encode())?;
        tables.write(&[0; SECTOR as usize])?;
        let len = tables.out.pos;
        Ok((tables.out.finish()?, len))
    }
}

impl<W: Write> Sink for VmdkStream<W> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        check_bounds(&self.tables.out.path, self.size, offset, data.len())?;
        self.grain(offset, data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk_format::{open_backing, Format};

    #[test]
    fn stream_reads_back() {
        let identity = ImageIdentity {
            uuid: [9; 16],
            time: 0,
        };
        let size = 100 << 20;
        let mut vmdk =
            VmdkStream::new(Vec::new(), Path::new("-"), "d.vmdk", size, &identity, 2, 6).unwrap();
        let mut expected = vec![0u8; size as usize];
        for (i, at) in [0u64, 70_000, 33 << 20, (100 << 20) - 100]
            .iter()
            .enumerate()
        {
            let data: Vec<u8> = (0..100u32).map(|b| (b as u8) ^ (i as u8 + 1)).collect();
            vmdk.write_at(*at, &data).unwrap();
            expected[*at as usize..*at as usize + 100].copy_from_slice(&data);
        }
        let (bytes, len) = vmdk.finish().unwrap();
        assert_eq!(len, bytes.len() as u64);
        let mut disk = open_backing(bytes, Path::new("d.vmdk")).unwrap();
        assert_eq!(disk.format(), Format::VmdkStream);
        assert_eq!(disk.size(), size);
        let mut got = vec![0u8; size as usize];
        disk.read_at(0, &mut got).unwrap();
        assert!(got == expected);
        // Grains 0 and 1 are adjacent: one range.
        assert_eq!(disk.data_ranges().unwrap().len(), 3);
    }
}
