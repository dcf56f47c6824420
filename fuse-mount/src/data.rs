//! Where each byte of a regular file lives: an overlay extent map.
//!
//! A file loaded from the image starts as the image's own extents, which
//! are never written. A write's bytes go to blocks of the image its
//! filesystem does not use (placed blocks, see [`crate::place`]) or, when
//! there are none left, to the spill file, and the map's entry for that
//! range is replaced by one pointing there (an overlay, so nothing is
//! copied at the first modification). Ranges no entry covers are holes and
//! read as zeros. Writes over a range already placed or in the spill file
//! are made in place.
//!
//! Placed data keeps two rules, which let the commit adopt a placed block
//! as the file's block: a placed entry lies at the same position within
//! its image block as its bytes within their file block, and each file
//! block maps into at most one placed block (whose bytes the file does
//! not map are zeros).

use std::collections::BTreeMap;
use std::sync::Arc;

use blockimg::tree::{DataSource, ExtentRun, FileContent, OpenRun, Segment};

/// Index of the image in the file list of [`FileData::content`].
pub const IMAGE_FILE: usize = 0;
/// Index of the spill file in the file list of [`FileData::content`].
pub const SPILL_FILE: usize = 1;

/// Where a stretch of a file's bytes is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Loc {
    /// At this byte offset of the image file (never written).
    Image(u64),
    /// At this byte offset of the spill file.
    Spill(u64),
    /// At this byte offset of the image file, in a block the image's
    /// filesystem does not use, which the mount owns: written in place,
    /// adopted by the commit.
    Placed(u64),
}

impl Loc {
    /// The location `by` bytes further on.
    fn advance(self, by: u64) -> Loc {
        match self {
            Loc::Image(at) => Loc::Image(at + by),
            Loc::Spill(at) => Loc::Spill(at + by),
            Loc::Placed(at) => Loc::Placed(at + by),
        }
    }
}

/// What a change of the map gave up.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Freed {
    /// Ranges `(offset, len)` of the spill file no longer used.
    pub spill: Vec<(u64, u64)>,
    /// Placed ranges no longer mapped there: `(file offset, image
    /// offset, len)`.
    pub placed: Vec<(u64, u64, u64)>,
}

/// One entry of the map: `len` bytes stored at `loc`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Piece {
    len: u64,
    loc: Loc,
}

/// A stretch of a file to read: `len` bytes of the file from `offset`,
/// stored at `loc` (`None`: a hole).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// Offset within the file.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// Where the bytes are, `None` for a hole.
    pub loc: Option<Loc>,
}

/// The size and extent map of a regular file.
#[derive(Clone, Debug, Default)]
pub struct FileData {
    /// Apparent size in bytes.
    pub size: u64,
    /// Entries by file offset, non-overlapping, all below `size`.
    map: BTreeMap<u64, Piece>,
}

impl FileData {
    /// The data of a file read from the image; `None` when its data is not
    /// in the image (the reader only makes image extents).
    pub fn from_content(content: &FileContent) -> Option<FileData> {
        let DataSource::ImageExtents { runs, .. } = &content.source else {
            return None;
        };
        let mut data = FileData {
            size: content.size,
            map: BTreeMap::new(),
        };
        for run in runs.iter().filter(|r| r.len > 0) {
            data.map.insert(
                run.file_offset,
                Piece {
                    len: run.len,
                    loc: Loc::Image(run.image_offset),
                },
            );
        }
        Some(data)
    }

    /// Removes every byte in `start..end` from the map (they become a
    /// hole) and returns the spill and placed ranges no longer used.
    pub fn remove(&mut self, start: u64, end: u64) -> Freed {
        let mut freed = Freed::default();
        if start >= end {
            return freed;
        }
        let first = self
            .map
            .range(..start)
            .next_back()
            .filter(|&(&off, p)| off + p.len > start)
            .map_or(start, |(&off, _)| off);
        let keys: Vec<u64> = self.map.range(first..end).map(|(&k, _)| k).collect();
        for off in keys {
            let Some(piece) = self.map.remove(&off) else {
                continue;
            };
            let piece_end = off + piece.len;
            if off < start {
                self.map.insert(
                    off,
                    Piece {
                        len: start - off,
                        loc: piece.loc,
                    },
                );
            }
            if piece_end > end {
                self.map.insert(
                    end,
                    Piece {
                        len: piece_end - end,
                        loc: piece.loc.advance(end - off),
                    },
                );
            }
            let cut_from = off.max(start);
            let cut_to = piece_end.min(end);
            match piece.loc.advance(cut_from - off) {
                Loc::Spill(at) => freed.spill.push((at, cut_to - cut_from)),
                Loc::Placed(at) => freed.placed.push((cut_from, at, cut_to - cut_from)),
                Loc::Image(_) => {}
            }
        }
        freed
    }

    /// Maps `len` bytes from `offset` to `loc` (replacing what was there);
    /// returns the ranges no longer used. Joins the entry before when
    /// `loc` continues it.
    pub fn map(&mut self, offset: u64, len: u64, loc: Loc) -> Freed {
        let freed = self.remove(offset, offset + len);
        if len == 0 {
            return freed;
        }
        let before = self.map.range_mut(..offset).next_back();
        if let Some((&off, piece)) = before {
            if off + piece.len == offset && piece.loc.advance(piece.len) == loc {
                piece.len += len;
                return freed;
            }
        }
        self.map.insert(offset, Piece { len, loc });
        freed
    }

    /// The spill offset where `offset..offset + len` already lies
    /// contiguously, if it does: a write there can be made in place.
    pub fn spill_in_place(&self, offset: u64, len: u64) -> Option<u64> {
        let (&off, piece) = self.map.range(..=offset).next_back()?;
        match piece.loc {
            Loc::Spill(at) if off + piece.len >= offset + len => Some(at + (offset - off)),
            _ => None,
        }
    }

    /// The image offset of the placed block file block `block` (of `bs`
    /// bytes) maps into, if it maps into one.
    pub fn placed_block(&self, block: u64, bs: u64) -> Option<u64> {
        let start = block * bs;
        let from = self
            .map
            .range(..start)
            .next_back()
            .filter(|&(&off, p)| off + p.len > start)
            .map_or(start, |(&off, _)| off);
        self.map
            .range(from..start + bs)
            .find_map(|(&off, piece)| match piece.loc {
                Loc::Placed(at) => {
                    // The first byte of the piece inside the block.
                    let first = off.max(start);
                    Some((at + (first - off)).saturating_sub(first - start))
                }
                _ => None,
            })
    }

    /// The placed blocks the map points into, as runs `(image offset of
    /// the first block, blocks)` of blocks of `bs` bytes, in file order.
    pub fn placed_blocks(&self, bs: u64) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for (&off, piece) in &self.map {
            let Loc::Placed(at) = piece.loc else {
                continue;
            };
            let first = at.saturating_sub(off % bs);
            let count = (off + piece.len).div_ceil(bs) - off / bs;
            match runs.last_mut() {
                // The same block as the piece before, or the next ones.
                Some(last) if last.0 + last.1 * bs > first && first >= last.0 => {
                    let end = (first + count * bs).max(last.0 + last.1 * bs);
                    last.1 = (end - last.0) / bs;
                }
                Some(last) if last.0 + last.1 * bs == first => last.1 += count,
                _ => runs.push((first, count)),
            }
        }
        runs
    }

    /// Sets the size; bytes past a smaller size leave the map. Returns the
    /// ranges no longer used.
    pub fn truncate(&mut self, size: u64) -> Freed {
        let freed = if size < self.size {
            self.remove(size, u64::MAX)
        } else {
            Freed::default()
        };
        self.size = size;
        freed
    }

    /// The stretches of `offset..offset + len` (clipped to the size), holes
    /// included, in order.
    pub fn spans(&self, offset: u64, len: u64) -> Vec<Span> {
        let end = offset.saturating_add(len).min(self.size);
        let mut spans = Vec::new();
        if offset >= end {
            return spans;
        }
        let mut pos = offset;
        let first = self
            .map
            .range(..=offset)
            .next_back()
            .map_or(offset, |(&k, _)| k);
        for (&off, piece) in self.map.range(first..end) {
            let piece_end = off + piece.len;
            if piece_end <= pos {
                continue;
            }
            if off > pos {
                spans.push(Span {
                    offset: pos,
                    len: off - pos,
                    loc: None,
                });
                pos = off;
            }
            let to = piece_end.min(end);
            spans.push(Span {
                offset: pos,
                len: to - pos,
                loc: Some(piece.loc.advance(pos - off)),
            });
            pos = to;
        }
        if pos < end {
            spans.push(Span {
                offset: pos,
                len: end - pos,
                loc: None,
            });
        }
        spans
    }

    /// Blocks of `bs` bytes holding data: each block any entry touches,
    /// counted once.
    pub fn blocks(&self, bs: u64) -> u64 {
        self.blocks_in(0, u64::MAX, bs)
    }

    /// Blocks of `bs` bytes within `start..end` (block-aligned outward)
    /// that hold some data.
    pub fn blocks_in(&self, start: u64, end: u64, bs: u64) -> u64 {
        let (first_block, end_block) = (start / bs, end.div_ceil(bs));
        if end_block <= first_block {
            return 0;
        }
        let mut count = 0;
        let mut counted_to = first_block; // blocks below this are counted
        let from = self
            .map
            .range(..first_block * bs)
            .next_back()
            .map_or(first_block * bs, |(&k, _)| k);
        for (&off, piece) in self.map.range(from..end_block.saturating_mul(bs)) {
            let lo = (off / bs).max(counted_to);
            let hi = (off + piece.len).div_ceil(bs).min(end_block);
            if hi > lo {
                count += hi - lo;
                counted_to = hi;
            }
        }
        count
    }

    /// Number of contiguous data ranges (the extents a new image needs at
    /// least).
    pub fn ranges(&self) -> u64 {
        self.segments().len() as u64
    }

    /// The ranges holding data, merged where they touch.
    pub fn segments(&self) -> Vec<Segment> {
        let mut segments: Vec<Segment> = Vec::new();
        for (&offset, piece) in &self.map {
            match segments.last_mut() {
                Some(last) if last.offset + last.len == offset => last.len += piece.len,
                _ => segments.push(Segment {
                    offset,
                    len: piece.len,
                }),
            }
        }
        segments
    }

    /// The first offset at or after `pos` holding data (`data: true`) or
    /// in a hole (`data: false`), as `lseek`'s `SEEK_DATA`/`SEEK_HOLE` find
    /// them; `None` past the end (or, for data, when none follows).
    pub fn seek(&self, pos: u64, data: bool) -> Option<u64> {
        if pos >= self.size {
            return None;
        }
        let spans = self.spans(pos, self.size - pos);
        match data {
            true => spans.iter().find(|s| s.loc.is_some()).map(|s| s.offset),
            false => Some(
                spans
                    .iter()
                    .find(|s| s.loc.is_none())
                    .map_or(self.size, |s| s.offset),
            ),
        }
    }

    /// The file as content for the planner: its data read from `files`
    /// (the image at [`IMAGE_FILE`], placed data included, the spill file
    /// at [`SPILL_FILE`]).
    pub fn content(&self, files: &Arc<[std::fs::File]>) -> FileContent {
        let runs: Vec<OpenRun> = self
            .map
            .iter()
            .map(|(&file_offset, piece)| {
                let (file, at) = match piece.loc {
                    Loc::Image(at) | Loc::Placed(at) => (IMAGE_FILE, at),
                    Loc::Spill(at) => (SPILL_FILE, at),
                };
                OpenRun {
                    run: ExtentRun {
                        file_offset,
                        image_offset: at,
                        len: piece.len,
                    },
                    file,
                }
            })
            .collect();
        FileContent {
            size: self.size,
            segments: self.segments(),
            source: DataSource::OpenFiles {
                files: Arc::clone(files),
                runs: runs.into(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(pieces: &[(u64, u64, Loc)], size: u64) -> FileData {
        let mut d = FileData {
            size,
            ..Default::default()
        };
        for &(off, len, loc) in pieces {
            d.map(off, len, loc);
        }
        d
    }

    #[test]
    fn overwriting_the_middle_splits_the_image_extent() {
        let mut d = data(&[(0, 100, Loc::Image(1000))], 100);
        let freed = d.map(40, 10, Loc::Spill(0));
        assert_eq!(freed, Freed::default());
        let spans = d.spans(0, 100);
        assert_eq!(
            spans,
            vec![
                Span {
                    offset: 0,
                    len: 40,
                    loc: Some(Loc::Image(1000))
                },
                Span {
                    offset: 40,
                    len: 10,
                    loc: Some(Loc::Spill(0))
                },
                Span {
                    offset: 50,
                    len: 50,
                    loc: Some(Loc::Image(1050))
                },
            ]
        );
    }

    #[test]
    fn appends_join_and_truncate_frees_spill() {
        let mut d = data(&[(0, 10, Loc::Spill(0)), (10, 10, Loc::Spill(10))], 20);
        assert_eq!(d.map.len(), 1);
        assert_eq!(d.spill_in_place(5, 10), Some(5));
        assert_eq!(d.truncate(4).spill, vec![(4, 16)]);
        d.truncate(100);
        assert_eq!(d.spans(0, 100)[1].loc, None);
    }

    #[test]
    fn nothing_is_read_past_the_end() {
        let d = data(&[(0, 10, Loc::Spill(0))], 10);
        assert_eq!(d.spans(10, 5), vec![]);
        assert_eq!(d.spans(20, 0), vec![]);
        assert_eq!(FileData::default().spans(8, 4088), vec![]);
        // fallocate with KEEP_SIZE past the end asks for an empty range.
        assert_eq!(FileData::default().blocks_in(278_948, 8318, 4096), 0);
        assert_eq!(d.placed_block(0, 4096), None);
    }

    #[test]
    fn placed_blocks_of_the_map() {
        let b = 4096;
        let mut d = data(&[(0, 10, Loc::Placed(10 * b))], 3 * b);
        d.map(20, b, Loc::Placed(10 * b + 20));
        d.map(2 * b, 5, Loc::Placed(3 * b));
        assert_eq!(d.placed_block(0, b), Some(10 * b));
        assert_eq!(d.placed_block(1, b), Some(11 * b));
        assert_eq!(d.placed_block(2, b), Some(3 * b));
        assert_eq!(d.placed_blocks(b), vec![(10 * b, 2), (3 * b, 1)]);
        let freed = d.remove(5, 2 * b + 1);
        assert_eq!(
            freed.placed,
            vec![(5, 10 * b + 5, 5), (20, 10 * b + 20, b), (2 * b, 3 * b, 1)]
        );
        assert_eq!(d.placed_blocks(b), vec![(10 * b, 1), (3 * b, 1)]);
    }

    #[test]
    fn holes_and_blocks() {
        let d = data(&[(0, 1, Loc::Spill(0)), (8192, 4097, Loc::Spill(1))], 20000);
        assert_eq!(d.blocks(4096), 3);
        assert_eq!(d.blocks_in(4096, 8192, 4096), 0);
        assert_eq!(d.blocks_in(0, 20000, 4096), 3);
        assert_eq!(d.seek(1, true), Some(8192));
        assert_eq!(d.seek(0, false), Some(1));
        assert_eq!(d.seek(8192, false), Some(8192 + 4097));
        assert_eq!(d.segments().len(), 2);
    }
}
