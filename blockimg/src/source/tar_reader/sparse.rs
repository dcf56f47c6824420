//! Sparse members: the old GNU map (in the header and extension blocks)
//! and the PAX 1.0 map (at the start of the data), checked against the
//! member before its data is read through it.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::io::Read;

use super::header::number;
use super::pax::PaxSparse;
use super::{malformed, padding, Member, TarReader, TarResult};

/// Where the data of a sparse member being read stands.
pub(super) struct SparseState {
    /// The data chunks `(offset, len)` in the file.
    pub(super) chunks: Vec<(u64, u64)>,
    /// The chunk read or next to read.
    pub(super) index: usize,
    /// Logical position in the file.
    pub(super) pos: u64,
    /// The file's size.
    pub(super) size: u64,
}

impl<R: Read> TarReader<R> {
    /// Reads the sparse map of `member` when it has one (type `S` or PAX
    /// sparse 1.0): its real size, where its stored data starts and its
    /// chunks, checked to lie in order within the file and to fit the
    /// stored data. The member's data is then read through the map.
    pub(super) fn sparse_map(
        &mut self,
        member: &mut Member,
        header: &[u8; 512],
        typeflag: u8,
        pax: PaxSparse,
    ) -> TarResult<()> {
        if typeflag == b'S' {
            let (chunks, real) = self.gnu_sparse_map(header)?;
            member.data_offset = self.position;
            member.size = real;
            member.sparse = Some(chunks);
        } else if pax.major.as_deref() == Some("1") {
            let real = pax
                .size
                .ok_or_else(|| malformed("PAX sparse member without GNU.sparse.realsize"))?;
            let chunks = self.pax_sparse_map()?;
            member.data_offset = self.position;
            member.size = real;
            member.sparse = Some(chunks);
        }
        if let Some(chunks) = &member.sparse {
            let stored_total: u64 = chunks.iter().map(|c| c.1).sum();
            if stored_total > self.remaining {
                return Err(malformed(
                    "the sparse map lists more data than the member stores",
                ));
            }
            let mut end = 0;
            for &(offset, len) in chunks {
                if offset < end || !matches!(offset.checked_add(len), Some(e) if e <= member.size) {
                    return Err(malformed("sparse chunks overlap or pass the file's size"));
                }
                end = offset + len;
            }
            self.sparse = Some(SparseState {
                chunks: chunks.clone(),
                index: 0,
                pos: 0,
                size: member.size,
            });
        }
        Ok(())
    }

    /// The old GNU sparse map: four entries in the header, more in
    /// extension blocks.
    fn gnu_sparse_map(&mut self, header: &[u8; 512]) -> TarResult<(Vec<(u64, u64)>, u64)> {
        let mut chunks = Vec::new();
        let entry = |bytes: &[u8]| -> TarResult<Option<(u64, u64)>> {
            let (offset, len) = bytes.split_at_checked(12).unwrap_or_default();
            if offset.first().is_none_or(|&b| b == 0) {
                return Ok(None);
            }
            let offset = number(offset).map_err(|e| malformed(format!("sparse offset: {e}")))?;
            let len = number(len).map_err(|e| malformed(format!("sparse length: {e}")))?;
            Ok(Some((offset, len)))
        };
        let (_, in_header) = header.split_at(386);
        for bytes in in_header.chunks_exact(24).take(4) {
            if let Some(c) = entry(bytes)? {
                chunks.push(c);
            }
        }
        let real =
            number(&header[483..495]).map_err(|e| malformed(format!("sparse real size: {e}")))?;
        let mut extended = header[482] != 0;
        while extended {
            let mut block = [0u8; 512];
            self.read_exact(&mut block)?;
            for bytes in block.chunks_exact(24).take(21) {
                if let Some(c) = entry(bytes)? {
                    chunks.push(c);
                }
            }
            extended = block[504] != 0;
            if chunks.len() > 1 << 20 {
                return Err(malformed("sparse map too long"));
            }
        }
        Ok((chunks, real))
    }

    /// The PAX sparse 1.0 map: decimal lines at the start of the data,
    /// padded to a block.
    fn pax_sparse_map(&mut self) -> TarResult<Vec<(u64, u64)>> {
        let mut text = Vec::new();
        let mut numbers = Vec::new();
        let mut count: Option<u64> = None;
        let mut consumed = 0u64;
        loop {
            let mut byte = [0u8; 1];
            if self.remaining == 0 {
                return Err(malformed("PAX sparse map runs past the member"));
            }
            self.read_exact(&mut byte)?;
            self.remaining -= 1;
            consumed += 1;
            if byte[0] != b'\n' {
                text.push(byte[0]);
                if text.len() > 20 {
                    return Err(malformed("PAX sparse map number too long"));
                }
                continue;
            }
            let n: u64 = std::str::from_utf8(&text)
                .ok()
                .and_then(|t| t.parse().ok())
                .ok_or_else(|| malformed("PAX sparse map is not decimal"))?;
            text.clear();
            match count {
                None => {
                    if n > 1 << 20 {
                        return Err(malformed("PAX sparse map too long"));
                    }
                    count = Some(n);
                }
                Some(_) => numbers.push(n),
            }
            if count.is_some_and(|c| numbers.len() as u64 == 2 * c) {
                break;
            }
        }
        let pad = padding(consumed).min(self.remaining);
        self.skip(pad)?;
        self.remaining -= pad;
        Ok(numbers
            .chunks_exact(2)
            .filter_map(|c| match *c {
                [offset, len] => Some((offset, len)),
                _ => None,
            })
            .collect())
    }
}
