//! Placement of new file data straight into the image: an allocator over
//! the blocks the image's filesystem does not use (free in its block
//! bitmaps, read at mount), and the writes into them.
//!
//! The old filesystem never reads a free block, so data written there
//! changes nothing it holds: a daemon that dies before its commit leaves
//! the filesystem as it was. The commit adopts each block whose bytes are
//! a file's as they are (the in-place update's `placed` blocks) instead of
//! copying it; the full rewrite reads them from the image like any other
//! data, and the old image stays intact until its rename.
//!
//! Blocks are handed out whole. A block given up by its file (truncated,
//! punched out, unlinked) is not handed out again during the mount: it
//! may still hold bytes of the file it left, and the allocator keeps no
//! record of which; it stays free in the filesystem, and the commit may
//! use it for its own blocks.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::fs::FileExt;

/// The free blocks of the image's filesystem and the image, open for
/// writing.
#[derive(Debug)]
pub struct Placer {
    file: File,
    /// Byte offset of the filesystem in the image.
    offset: u64,
    bs: u64,
    /// Free runs, `first block -> count`.
    free: BTreeMap<u64, u64>,
    /// Blocks in `free`.
    free_count: u64,
    /// Where the next block is looked for when no neighbour is asked for.
    cursor: u64,
}

impl Placer {
    /// A placer writing into `file` (the image, open for writing), whose
    /// filesystem starts at byte `offset` and has blocks of `bs` bytes, of
    /// which `free` (runs `(first block, count)`) are not used.
    pub fn new(file: File, offset: u64, bs: u64, free: &[(u64, u64)]) -> Placer {
        let free: BTreeMap<u64, u64> = free.iter().filter(|r| r.1 > 0).copied().collect();
        Placer {
            file,
            offset,
            bs,
            free_count: free.values().sum(),
            free,
            cursor: 0,
        }
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u64 {
        self.bs
    }

    /// Byte offset in the image of block `block`.
    pub fn image_offset(&self, block: u64) -> u64 {
        self.offset + block * self.bs
    }

    /// The block holding byte `image_offset` of the image.
    pub fn block_of(&self, image_offset: u64) -> u64 {
        image_offset.saturating_sub(self.offset) / self.bs
    }

    /// Hands out `count` blocks, as runs `(first block, count)` in order,
    /// starting at block `near` when it is free (a file's next block
    /// after its last), else at the lowest free block from the cursor on.
    /// `None`, handing out nothing, when fewer than `keep` blocks would be
    /// left.
    pub fn alloc(&mut self, near: Option<u64>, count: u64, keep: u64) -> Option<Vec<(u64, u64)>> {
        if count == 0 || self.free_count < count.saturating_add(keep) {
            return None;
        }
        let mut runs: Vec<(u64, u64)> = Vec::new();
        let mut left = count;
        if let Some(near) = near {
            left -= self.take(near, left, &mut runs);
        }
        while left > 0 {
            let start = match self.free.range(self.cursor..).next() {
                Some((&start, _)) => start,
                None => match self.free.keys().next() {
                    Some(&start) => start,
                    None => break,
                },
            };
            left -= self.take(start, left, &mut runs);
        }
        Some(runs)
    }

    /// Takes up to `count` blocks from `start` on if `start` is free;
    /// appends them to `runs` and returns how many.
    fn take(&mut self, start: u64, count: u64, runs: &mut Vec<(u64, u64)>) -> u64 {
        let Some((&run_start, &run_len)) = self.free.range(..=start).next_back() else {
            return 0;
        };
        if start >= run_start + run_len {
            return 0;
        }
        let n = count.min(run_start + run_len - start);
        self.free.remove(&run_start);
        if start > run_start {
            self.free.insert(run_start, start - run_start);
        }
        if start + n < run_start + run_len {
            self.free.insert(start + n, run_start + run_len - start - n);
        }
        self.free_count -= n;
        self.cursor = start + n;
        match runs.last_mut() {
            Some(last) if last.0 + last.1 == start => last.1 += n,
            _ => runs.push((start, n)),
        }
        n
    }

    /// Writes `bytes` at byte `at` of the image (into its page cache; the
    /// commit syncs them).
    pub fn write_at(&self, at: u64, bytes: &[u8]) -> std::io::Result<()> {
        self.file.write_all_at(bytes, at)
    }

    /// Zeroes `len` bytes at byte `at` of the image (part of a placed
    /// block its file no longer maps).
    pub fn zero(&self, at: u64, len: u64) -> std::io::Result<()> {
        self.file.write_all_at(&vec![0u8; len as usize], at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placer(free: &[(u64, u64)]) -> Placer {
        Placer::new(tempfile::tempfile().unwrap(), 1 << 20, 4096, free)
    }

    #[test]
    fn hands_out_the_lowest_blocks_then_continues_a_file() {
        let mut p = placer(&[(100, 10), (200, 50)]);
        assert_eq!(p.free_count, 60);
        assert_eq!(p.alloc(None, 4, 0), Some(vec![(100, 4)]));
        // Another file takes the next ones; the first continues after its
        // last block only if that is still free.
        assert_eq!(p.alloc(None, 2, 0), Some(vec![(104, 2)]));
        assert_eq!(p.alloc(Some(104), 3, 0), Some(vec![(106, 3)]));
        // A run too short is continued in the next one.
        assert_eq!(p.alloc(Some(109), 5, 0), Some(vec![(109, 1), (200, 4)]));
        assert_eq!(p.free_count, 46);
        assert_eq!(p.image_offset(200), (1 << 20) + 200 * 4096);
        assert_eq!(p.block_of((1 << 20) + 200 * 4096 + 17), 200);
    }

    #[test]
    fn keeps_the_reserve_and_wraps_around() {
        let mut p = placer(&[(10, 4), (20, 4)]);
        assert_eq!(p.alloc(Some(22), 2, 0), Some(vec![(22, 2)]));
        // From the cursor (24) nothing is left above: back to the lowest.
        assert_eq!(p.alloc(None, 3, 0), Some(vec![(10, 3)]));
        assert_eq!(p.alloc(None, 2, 2), None, "the reserve is not handed out");
        assert_eq!(p.alloc(None, 0, 0), None);
        assert_eq!(p.alloc(None, 3, 0), Some(vec![(13, 1), (20, 2)]));
        assert_eq!(p.free_count, 0);
        assert_eq!(p.alloc(None, 1, 0), None);
    }

    #[test]
    fn writes_and_zeroes_in_the_image() {
        let p = placer(&[(0, 4)]);
        p.write_at(p.image_offset(1) + 3, b"abc").unwrap();
        p.zero(p.image_offset(1) + 4, 1).unwrap();
        let mut buf = [9u8; 3];
        p.file
            .read_exact_at(&mut buf, p.image_offset(1) + 3)
            .unwrap();
        assert_eq!(&buf, b"a\0c");
    }
}
