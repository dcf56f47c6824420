//! File contents: reading and writing data (written data goes to free
//! blocks of the image, else to the spill file), `fallocate`,
//! `SEEK_DATA`/`SEEK_HOLE`, and symlink targets.

use std::fs::File;
use std::os::unix::fs::FileExt;

use blockimg::tree::Timestamp;
use fuser::Errno;

use super::{errno, Fs, OpResult};
use crate::data::{FileData, Freed, Loc, IMAGE_FILE};
use crate::inode::Kind;
use crate::spill::Spill;

/// Bytes `offset..offset + len` of `data` (zeros for holes and past the
/// end), read from the image (`files[IMAGE_FILE]`) and `spill`.
fn read_data(
    files: &[File],
    spill: &Spill,
    data: &FileData,
    offset: u64,
    len: u64,
) -> std::io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len as usize];
    for span in data.spans(offset, len) {
        let start = (span.offset - offset) as usize;
        let dst = &mut buf[start..start + span.len as usize];
        match span.loc {
            None => {}
            Some(Loc::Image(at) | Loc::Placed(at)) => match files.get(IMAGE_FILE) {
                Some(image) => image.read_exact_at(dst, at)?,
                None => return Err(std::io::ErrorKind::NotFound.into()),
            },
            Some(Loc::Spill(at)) => spill.read_at(at, dst)?,
        }
    }
    Ok(buf)
}

/// The errno of a failed write into the image: `ENOSPC` when the disk
/// holding it is full, else `EIO`.
fn write_errno(e: &std::io::Error) -> Errno {
    match e.raw_os_error() {
        Some(libc::ENOSPC | libc::EDQUOT) => errno(libc::ENOSPC),
        _ => Errno::EIO,
    }
}

impl Fs {
    /// The target of symlink `ino`.
    pub fn readlink(&self, ino: u64) -> OpResult<Vec<u8>> {
        match &self.get(ino)?.kind {
            Kind::Symlink(target) => Ok(target.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Reads up to `len` bytes of file `ino` from `offset`.
    pub fn read(&self, ino: u64, offset: u64, len: u32) -> OpResult<Vec<u8>> {
        let data = match &self.get(ino)?.kind {
            Kind::File(data) => data,
            Kind::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        let len = u64::from(len).min(data.size.saturating_sub(offset));
        read_data(&self.files, &self.spill, data, offset, len).map_err(|_| Errno::EIO)
    }

    /// Writes `bytes` into file `ino` at `offset`: into placed blocks of
    /// the image while there are free ones, else into the spill file.
    pub fn write(&mut self, ino: u64, offset: u64, bytes: &[u8]) -> OpResult<u32> {
        self.writable()?;
        let len = bytes.len() as u64;
        let end = offset.checked_add(len).ok_or(errno(libc::EFBIG))?;
        if end > self.max_file_size() {
            return Err(errno(libc::EFBIG));
        }
        let bs = self.bs();
        let data = self.file_mut(ino)?;
        let new_blocks = end.div_ceil(bs) - offset / bs - data.blocks_in(offset, end, bs);
        self.admit(new_blocks)?;
        if !self.write_placed(ino, offset, bytes)? {
            let in_place = self.file_mut(ino)?.spill_in_place(offset, len);
            let at = in_place.unwrap_or_else(|| self.spill.alloc(len));
            self.spill.write_at(at, bytes).map_err(|_| Errno::EIO)?;
            if in_place.is_none() {
                let freed = self.file_mut(ino)?.map(offset, len, Loc::Spill(at));
                self.release(ino, freed)?;
            }
        }
        let data = self.file_mut(ino)?;
        data.size = data.size.max(end);
        self.recount(ino);
        let now = Timestamp::now();
        let inode = self.get_mut(ino)?;
        inode.meta.mtime = now;
        inode.meta.ctime = now;
        Ok(bytes.len() as u32)
    }

    /// Writes `bytes` at `offset` of file `ino` into placed blocks: in
    /// place into the blocks the file's blocks already map into, else into
    /// newly placed ones, whose bytes the write does not cover get what
    /// the file holds there (zeros for holes and past its end). `false`,
    /// having changed nothing, without placement or free blocks enough.
    fn write_placed(&mut self, ino: u64, offset: u64, bytes: &[u8]) -> OpResult<bool> {
        let keep = self.placement_reserve();
        let Some(placer) = self.placer.as_mut() else {
            return Ok(false);
        };
        let data = match self.inodes.get(ino as usize).and_then(Option::as_ref) {
            Some(inode) => match &inode.kind {
                Kind::File(data) => data,
                _ => return Err(Errno::EINVAL),
            },
            None => return Err(Errno::ENOENT),
        };
        if bytes.is_empty() {
            return Ok(false);
        }
        let bs = placer.block_size();
        let end = offset + bytes.len() as u64;
        let (first, last) = (offset / bs, end.div_ceil(bs));
        let mut at: Vec<Option<u64>> = (first..last).map(|b| data.placed_block(b, bs)).collect();
        let fresh: Vec<bool> = at.iter().map(Option::is_none).collect();
        let missing = fresh.iter().filter(|&&f| f).count() as u64;
        if missing > 0 {
            // Continue the file where its block before the first new one
            // lies.
            let i = fresh.iter().position(|&f| f).unwrap_or(0);
            let before = match i {
                0 => first.checked_sub(1).and_then(|b| data.placed_block(b, bs)),
                _ => at.get(i - 1).copied().flatten(),
            };
            let near = before.map(|a| placer.block_of(a) + 1);
            let Some(runs) = placer.alloc(near, missing, keep) else {
                return Ok(false);
            };
            let mut blocks = runs.iter().flat_map(|&(start, n)| start..start + n);
            for slot in at.iter_mut().filter(|slot| slot.is_none()) {
                *slot = blocks.next().map(|b| placer.image_offset(b));
            }
        }
        let Some(at) = at.into_iter().collect::<Option<Vec<u64>>>() else {
            return Err(Errno::EIO);
        };
        let (Some(&first_fresh), Some(&last_fresh)) = (fresh.first(), fresh.last()) else {
            return Ok(false);
        };
        // A new block not wholly written gets the file's bytes around the
        // write (read before the map changes).
        let around = |from: u64, to: u64| {
            let held = to.min(data.size).saturating_sub(from);
            let mut buf = read_data(&self.files, &self.spill, data, from, held)?;
            buf.resize((to - from) as usize, 0);
            Ok::<Vec<u8>, std::io::Error>(buf)
        };
        let head_start = first * bs;
        let head = match first_fresh && offset > head_start {
            true => Some(around(head_start, offset).map_err(|_| Errno::EIO)?),
            false => None,
        };
        let tail_end = last * bs;
        let tail = match last_fresh && end < tail_end {
            true => Some(around(end, tail_end).map_err(|_| Errno::EIO)?),
            false => None,
        };
        // Runs of blocks contiguous in the image: one write each (and the
        // head and tail around it).
        let mut mapped = Vec::new();
        let mut i = 0;
        while i < at.len() {
            let mut j = i + 1;
            while j < at.len() && at[j] == at[j - 1] + bs {
                j += 1;
            }
            let run_start = (first + i as u64) * bs;
            let run_end = (first + j as u64) * bs;
            let (from, to) = (offset.max(run_start), end.min(run_end));
            let image_at = |pos: u64| at[i] + (pos - run_start);
            let part = &bytes[(from - offset) as usize..(to - offset) as usize];
            placer
                .write_at(image_at(from), part)
                .map_err(|e| write_errno(&e))?;
            let (mut map_from, mut map_to) = (from, to);
            if let (0, Some(head)) = (i, &head) {
                placer.write_at(at[0], head).map_err(|e| write_errno(&e))?;
                map_from = run_start;
            }
            if let (true, Some(tail)) = (j == at.len(), &tail) {
                placer
                    .write_at(image_at(end), tail)
                    .map_err(|e| write_errno(&e))?;
                // The file's bytes after the write, now in the block.
                map_to = to.max(run_end.min(data.size));
            }
            mapped.push((map_from, map_to - map_from, Loc::Placed(image_at(map_from))));
            i = j;
        }
        let mut freed = Freed::default();
        let data = self.file_mut(ino)?;
        for (from, len, loc) in mapped {
            let f = data.map(from, len, loc);
            freed.spill.extend(f.spill);
            freed.placed.extend(f.placed);
        }
        self.release(ino, freed)?;
        Ok(true)
    }

    /// `fallocate`: mode 0 and `KEEP_SIZE` give the holes of the range
    /// storage (zeros), `PUNCH_HOLE | KEEP_SIZE` makes the range a hole.
    pub fn fallocate(&mut self, ino: u64, offset: u64, len: u64, mode: i32) -> OpResult<()> {
        self.writable()?;
        let end = offset.checked_add(len).ok_or(errno(libc::EFBIG))?;
        if end > self.max_file_size() {
            return Err(errno(libc::EFBIG));
        }
        let bs = self.bs();
        let keep_size = mode & libc::FALLOC_FL_KEEP_SIZE != 0;
        match mode & !libc::FALLOC_FL_KEEP_SIZE {
            0 => {
                let data = self.file_mut(ino)?;
                let end_kept = if keep_size { end.min(data.size) } else { end };
                let holes: Vec<_> = data
                    .spans(offset, end_kept.saturating_sub(offset))
                    .into_iter()
                    .filter(|s| s.loc.is_none())
                    .collect();
                // Past the end, spans stop at the size: the rest is one hole.
                let tail = (!keep_size && end > data.size).then(|| (data.size.max(offset), end));
                let needed = end_kept.div_ceil(bs).saturating_sub(offset / bs)
                    - data.blocks_in(offset, end_kept, bs)
                    + tail.map_or(0, |(from, to)| to.div_ceil(bs) - from / bs);
                self.admit(needed)?;
                let mut ranges: Vec<(u64, u64)> = holes.iter().map(|s| (s.offset, s.len)).collect();
                if let Some((from, to)) = tail {
                    self.file_mut(ino)?.size = end;
                    ranges.push((from, to - from));
                }
                for (from, len) in ranges {
                    self.fill_hole(ino, from, len)?;
                }
            }
            libc::FALLOC_FL_PUNCH_HOLE if keep_size => {
                let data = self.file_mut(ino)?;
                let freed = data.remove(offset, end.min(data.size));
                self.release(ino, freed)?;
            }
            _ => return Err(errno(libc::EOPNOTSUPP)),
        }
        self.recount(ino);
        let now = Timestamp::now();
        let inode = self.get_mut(ino)?;
        inode.meta.mtime = now;
        inode.meta.ctime = now;
        Ok(())
    }

    /// Gives the hole `from..from + len` of file `ino` storage (zeros): its
    /// parts in blocks that map into a placed block point there (the
    /// block's bytes the file does not map are zeros), the rest into new
    /// space of the spill file.
    fn fill_hole(&mut self, ino: u64, from: u64, len: u64) -> OpResult<()> {
        let (mut start, mut end) = (from, from + len);
        if let Some(bs) = self.placer.as_ref().map(|p| p.block_size()) {
            let data = self.file_mut(ino)?;
            let head = start / bs;
            if let Some(at) = data.placed_block(head, bs) {
                let to = end.min((head + 1) * bs);
                data.map(start, to - start, Loc::Placed(at + (start - head * bs)));
                start = to;
            }
            if start < end {
                let tail = (end - 1) / bs;
                if let Some(at) = data.placed_block(tail, bs) {
                    let from = start.max(tail * bs);
                    data.map(from, end - from, Loc::Placed(at + (from - tail * bs)));
                    end = from;
                }
            }
        }
        if start < end {
            let at = self
                .spill
                .alloc_zeroed(end - start)
                .map_err(|e| write_errno(&e))?;
            self.file_mut(ino)?.map(start, end - start, Loc::Spill(at));
        }
        Ok(())
    }

    /// `lseek` with `SEEK_DATA` or `SEEK_HOLE`.
    pub fn seek(&self, ino: u64, offset: u64, data: bool) -> OpResult<u64> {
        match &self.get(ino)?.kind {
            Kind::File(file) => file.seek(offset, data).ok_or(errno(libc::ENXIO)),
            _ => Err(Errno::EINVAL),
        }
    }
}
