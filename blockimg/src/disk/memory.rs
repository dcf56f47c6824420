//! A sparse disk held in memory: the small structures around the filesystem
//! (partition tables, the boot loader, the ESP) are built here, then emitted
//! into a sink in ascending offset order.

use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::disk_format::seek_target;
use crate::error::Result;
use crate::sink::{is_zero, Sink};

/// Bytes per chunk of the store.
const CHUNK: u64 = 4096;
/// Largest write handed to a sink at once.
const MAX_RUN: u64 = 1 << 20;

/// A byte array of a fixed length of which only the written 4 KiB chunks
/// are held; everything else reads as zeros. Writing zeros where nothing
/// was written allocates nothing, so formatting a large FAT costs memory
/// only for its few non-zero sectors.
#[derive(Clone, Debug, Default)]
pub struct SparseBytes {
    len: u64,
    chunks: BTreeMap<u64, Box<[u8]>>,
}

impl SparseBytes {
    /// An all-zero array of `len` bytes.
    pub fn new(len: u64) -> Self {
        SparseBytes {
            len,
            chunks: BTreeMap::new(),
        }
    }

    /// Copies `data` to `offset`; refused past the end.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= self.len)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "write of {} bytes at {offset} past the end ({} bytes)",
                        data.len(),
                        self.len
                    ),
                )
            })?;
        let mut pos = offset;
        while pos < end {
            let index = pos / CHUNK;
            let within = (pos % CHUNK) as usize;
            let take = (CHUNK as usize - within).min((end - pos) as usize);
            let piece = &data[(pos - offset) as usize..(pos - offset) as usize + take];
            match self.chunks.get_mut(&index) {
                Some(chunk) => chunk[within..within + take].copy_from_slice(piece),
                None if is_zero(piece) => {}
                None => {
                    let mut chunk = vec![0u8; CHUNK as usize].into_boxed_slice();
                    chunk[within..within + take].copy_from_slice(piece);
                    self.chunks.insert(index, chunk);
                }
            }
            pos += take as u64;
        }
        Ok(())
    }

    /// Fills `buf` from `offset`; bytes past the end are left untouched.
    /// Returns how many bytes were read.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let end = offset.saturating_add(buf.len() as u64).min(self.len);
        let mut pos = offset;
        while pos < end {
            let index = pos / CHUNK;
            let within = (pos % CHUNK) as usize;
            let take = (CHUNK as usize - within).min((end - pos) as usize);
            let out = &mut buf[(pos - offset) as usize..(pos - offset) as usize + take];
            match self.chunks.get(&index) {
                Some(chunk) => out.copy_from_slice(&chunk[within..within + take]),
                None => out.fill(0),
            }
            pos += take as u64;
        }
        end.saturating_sub(offset) as usize
    }

    /// The written bytes in `[start, end)` as ascending `(offset, bytes)`
    /// runs of adjacent chunks, at most 1 MiB each.
    pub fn runs(&self, start: u64, end: u64) -> Vec<(u64, Vec<u8>)> {
        let mut runs: Vec<(u64, Vec<u8>)> = Vec::new();
        for (&index, chunk) in self.chunks.range(start / CHUNK..end.div_ceil(CHUNK)) {
            let chunk_start = index * CHUNK;
            let from = start.max(chunk_start);
            let to = end.min(chunk_start + CHUNK).min(self.len);
            if from >= to {
                continue;
            }
            let bytes = &chunk[(from - chunk_start) as usize..(to - chunk_start) as usize];
            match runs.last_mut() {
                Some((offset, run))
                    if *offset + run.len() as u64 == from && (run.len() as u64) < MAX_RUN =>
                {
                    run.extend_from_slice(bytes)
                }
                _ => runs.push((from, bytes.to_vec())),
            }
        }
        runs
    }

    /// Byte ranges `(offset, len)` of [`SparseBytes::runs`].
    pub fn ranges(&self, start: u64, end: u64) -> Vec<(u64, u64)> {
        self.runs(start, end)
            .into_iter()
            .map(|(offset, bytes)| (offset, bytes.len() as u64))
            .collect()
    }

    /// Writes the written bytes in `[start, end)` into `sink`, ascending.
    pub fn write_range(&self, sink: &mut dyn Sink, start: u64, end: u64) -> Result<()> {
        for (offset, bytes) in self.runs(start, end) {
            sink.write_at(offset, &bytes)?;
        }
        Ok(())
    }

    /// A `Read + Write + Seek` view of `len` bytes from `start`, seen as
    /// a stream starting at offset 0 (what the fatfs and gptman crates
    /// expect of a partition or a disk).
    pub fn window(&mut self, start: u64, len: u64) -> Window<'_> {
        Window {
            bytes: self,
            start,
            len,
            pos: 0,
        }
    }
}

/// A part of a [`SparseBytes`] as a seekable stream.
#[derive(Debug)]
pub struct Window<'a> {
    bytes: &'a mut SparseBytes,
    start: u64,
    len: u64,
    pos: u64,
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.len.saturating_sub(self.pos);
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let n = self.bytes.read_at(self.start + self.pos, &mut buf[..want]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for Window<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.pos + buf.len() as u64 > self.len {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!(
                    "write of {} bytes at {} past the end of a {}-byte region",
                    buf.len(),
                    self.pos,
                    self.len
                ),
            ));
        }
        self.bytes.write_at(self.start + self.pos, buf)?;
        self.pos += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = seek_target(self.pos, self.len, to)?;
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_writes_and_zeros_elsewhere() {
        let mut b = SparseBytes::new(20_000);
        b.write_at(4000, &[7u8; 200]).unwrap();
        let mut buf = vec![1u8; 400];
        assert_eq!(b.read_at(3900, &mut buf), 400);
        assert!(buf[..100].iter().all(|&x| x == 0));
        assert!(buf[100..300].iter().all(|&x| x == 7));
        assert!(buf[300..].iter().all(|&x| x == 0));
        assert!(b.write_at(19_999, &[1, 2]).is_err());
    }

    #[test]
    fn zeros_allocate_nothing_and_runs_merge_adjacent_chunks() {
        let mut b = SparseBytes::new(1 << 30);
        b.write_at(0, &vec![0u8; 1 << 20]).unwrap();
        assert!(b.runs(0, 1 << 30).is_empty());
        b.write_at(100, &[1]).unwrap();
        b.write_at(5000, &[2]).unwrap();
        b.write_at(100_000, &[3]).unwrap();
        let runs = b.runs(0, 1 << 30);
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[0].0, runs[0].1.len()), (0, 8192));
        assert_eq!(runs[0].1[5000], 2);
        assert_eq!(runs[1].0, 98_304);
        // A range cuts runs at its ends.
        assert_eq!(b.ranges(50, 5001), vec![(50, 4951)]);
    }

    #[test]
    fn a_window_is_a_stream_from_zero() {
        let mut b = SparseBytes::new(10_000);
        {
            let mut w = b.window(1000, 100);
            assert_eq!(w.seek(SeekFrom::End(0)).unwrap(), 100);
            w.seek(SeekFrom::Start(98)).unwrap();
            assert!(w.write_all(&[9, 9, 9]).is_err());
            w.seek(SeekFrom::Start(10)).unwrap();
            w.write_all(&[5, 6]).unwrap();
            let mut rest = Vec::new();
            w.seek(SeekFrom::Start(0)).unwrap();
            w.read_to_end(&mut rest).unwrap();
            assert_eq!(rest.len(), 100);
            assert_eq!(&rest[10..12], &[5, 6]);
        }
        let mut one = [0u8; 2];
        b.read_at(1010, &mut one);
        assert_eq!(one, [5, 6]);
    }
}
