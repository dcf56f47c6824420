//! Member data written straight into the image as the archive streams
//! past, for a streamed build.

use std::io::Read;

use super::data::MemberData;
use crate::error::{Error, Result};
use crate::ext4::{Ext4Layout, PlacedData, Run};
use crate::sink::{is_zero, Sink};
use crate::tree::{DataSource, FileContent, NodeId, Segment};

/// Writes each member's data into the image as it streams past: blocks are
/// taken from the layout, all-zero blocks become holes, and the filesystem
/// starts at byte `fs_offset` of the sink.
pub(crate) struct StreamPlacement<'a> {
    layout: &'a mut Ext4Layout,
    sink: &'a mut dyn Sink,
    fs_offset: u64,
    placed: PlacedData,
    pending: Option<Vec<Run>>,
    buffer: Vec<u8>,
}

/// Bytes of member data handled at once.
const CHUNK: usize = 1 << 20;

impl<'a> StreamPlacement<'a> {
    /// Places data in `layout`, writing it into `sink`.
    pub(crate) fn new(layout: &'a mut Ext4Layout, sink: &'a mut dyn Sink, fs_offset: u64) -> Self {
        StreamPlacement {
            layout,
            sink,
            fs_offset,
            placed: PlacedData::default(),
            pending: None,
            buffer: vec![0u8; CHUNK],
        }
    }

    /// Where every file's data went.
    pub(crate) fn into_placed(mut self) -> PlacedData {
        self.release_pending();
        self.placed
    }

    /// Gives back the blocks of a file taken but never added to the tree.
    fn release_pending(&mut self) {
        if let Some(runs) = self.pending.take() {
            self.layout.release(&runs);
        }
    }
}

impl MemberData for StreamPlacement<'_> {
    fn take(
        &mut self,
        data: &mut dyn Read,
        size: u64,
        _archive_offset: u64,
        _sparse: bool,
    ) -> Result<FileContent> {
        self.release_pending();
        let bs = self.layout.geometry().bs();
        let mut segments: Vec<Segment> = Vec::new();
        let mut runs: Vec<Run> = Vec::new();
        let mut pos = 0u64;
        while pos < size {
            let want = (size - pos).min(CHUNK as u64) as usize;
            data.read_exact(&mut self.buffer[..want])
                .map_err(|e| Error::io("<archive>", e))?;
            // The last block of a file is written whole, its tail zeroed:
            // the block is the file's own, and files that follow each
            // other on disk then reach the sink as one contiguous write.
            let bs = bs as usize;
            let padded = want.div_ceil(bs) * bs;
            self.buffer[want..padded].fill(0);
            let chunk = &self.buffer[..padded];
            // Runs of non-zero blocks go to disk; zero blocks stay holes.
            let mut block = 0usize;
            while block * bs < padded {
                let start = block * bs;
                if is_zero(&chunk[start..start + bs]) {
                    block += 1;
                    continue;
                }
                let mut stop = block + 1;
                while stop * bs < padded && !is_zero(&chunk[stop * bs..(stop + 1) * bs]) {
                    stop += 1;
                }
                let bytes = &chunk[start..stop * bs];
                let taken = self.layout.take_blocks((stop - block) as u64)?;
                let mut at = 0usize;
                for run in &taken {
                    let n = run.len as usize * bs;
                    self.sink
                        .write_at(self.fs_offset + run.start * bs as u64, &bytes[at..at + n])?;
                    at += n;
                }
                runs.extend(taken);
                let offset = pos + start as u64;
                let len = ((stop * bs).min(want) - start) as u64;
                match segments.last_mut() {
                    Some(last) if last.offset + last.len == offset => last.len += len,
                    _ => segments.push(Segment { offset, len }),
                }
                block = stop;
            }
            pos += want as u64;
        }
        self.pending = Some(runs);
        Ok(FileContent {
            size,
            segments,
            source: DataSource::Written,
        })
    }

    fn added(&mut self, node: NodeId) {
        if let Some(runs) = self.pending.take() {
            self.placed.insert(node, runs);
        }
    }
}
