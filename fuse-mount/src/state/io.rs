//! File contents: reading and writing data (written data goes to the spill
//! file), `fallocate`, `SEEK_DATA`/`SEEK_HOLE`, and symlink targets.

use std::os::unix::fs::FileExt;

use blockimg::tree::Timestamp;
use fuser::Errno;

use super::{errno, Fs, OpResult};
use crate::data::{Loc, IMAGE_FILE};
use crate::inode::Kind;

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
        let spans = data.spans(offset, u64::from(len));
        let total: u64 = spans.iter().map(|s| s.len).sum();
        let mut buf = vec![0u8; total as usize];
        for span in spans {
            let start = (span.offset - offset) as usize;
            let dst = &mut buf[start..start + span.len as usize];
            let read = match span.loc {
                None => Ok(()),
                Some(Loc::Image(at)) => self.files[IMAGE_FILE].read_exact_at(dst, at),
                Some(Loc::Spill(at)) => self.spill.read_at(at, dst),
            };
            read.map_err(|_| Errno::EIO)?;
        }
        Ok(buf)
    }

    /// Writes `bytes` into file `ino` at `offset`.
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
        let in_place = data.spill_in_place(offset, len);
        self.admit(new_blocks)?;
        let at = in_place.unwrap_or_else(|| self.spill.alloc(len));
        self.spill.write_at(at, bytes).map_err(|_| Errno::EIO)?;
        let data = self.file_mut(ino)?;
        if in_place.is_none() {
            let freed = data.map(offset, len, Loc::Spill(at));
            self.spill.release(&freed);
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
                    let at = self.spill.alloc(len);
                    self.file_mut(ino)?.map(from, len, Loc::Spill(at));
                }
            }
            libc::FALLOC_FL_PUNCH_HOLE if keep_size => {
                let data = self.file_mut(ino)?;
                let freed = data.remove(offset, end.min(data.size));
                self.spill.release(&freed);
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

    /// `lseek` with `SEEK_DATA` or `SEEK_HOLE`.
    pub fn seek(&self, ino: u64, offset: u64, data: bool) -> OpResult<u64> {
        match &self.get(ino)?.kind {
            Kind::File(file) => file.seek(offset, data).ok_or(errno(libc::ENXIO)),
            _ => Err(Errno::EINVAL),
        }
    }
}
