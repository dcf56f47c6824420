//! The internal jbd2 journal: the superblock of an empty, clean journal
//! as mke2fs writes it ([`super::format::jbd2`]), and the blocks of its
//! log (descriptor blocks with their tags, block copies, commit blocks)
//! with their checksums, as the kernel writes a transaction and as the
//! reader's replay checks one.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::bytes::{get_be32, put_be32};
use super::csum::crc32c_raw;
use super::format::jbd2::*;

/// The journal superblock (first block of the journal) for a journal of
/// `blocks` blocks in a filesystem with this UUID.
pub fn superblock(block_size: u32, blocks: u32, uuid: &[u8; 16]) -> Vec<u8> {
    let mut b = vec![0u8; block_size as usize];
    put_be32(&mut b, H_MAGIC, JBD2_MAGIC);
    put_be32(&mut b, H_BLOCKTYPE, SUPERBLOCK_V2);
    put_be32(&mut b, S_BLOCKSIZE, block_size);
    put_be32(&mut b, S_MAXLEN, blocks);
    put_be32(&mut b, S_FIRST, 1); // the log follows the superblock
    put_be32(&mut b, S_SEQUENCE, 1);
    if let Some(slot) = b.get_mut(S_UUID..S_UUID + 16) {
        slot.copy_from_slice(uuid);
    }
    put_be32(&mut b, S_NR_USERS, 1);
    b
}

/// crc32c of a journal superblock with its `s_checksum` field zeroed (the
/// first [`JOURNAL_SUPERBLOCK_LEN`] bytes; missing bytes count as zeros).
pub(crate) fn superblock_checksum(raw: &[u8]) -> u32 {
    let mut sb = [0u8; JOURNAL_SUPERBLOCK_LEN];
    for (o, b) in sb.iter_mut().zip(raw) {
        *o = *b;
    }
    for b in sb.iter_mut().skip(S_CHECKSUM).take(4) {
        *b = 0;
    }
    crc32c_raw(!0, &sb)
}

/// How a journal's log blocks are laid out and checked, from its
/// superblock's features.
#[derive(Clone, Debug)]
pub(crate) struct LogLayout {
    pub bs: usize,
    /// Bytes of a tag.
    pub tag_len: usize,
    pub is_64bit: bool,
    pub csum_v2: bool,
    pub csum_v3: bool,
    /// crc32c of the journal's UUID: the seed of every log checksum.
    pub seed: u32,
    /// The journal's UUID, written after a descriptor block's first tag.
    pub uuid: [u8; 16],
    /// First block of the log.
    pub first: u32,
    /// Blocks in the journal (`s_maxlen`): the log wraps there.
    pub last: u32,
}

impl LogLayout {
    /// The layout of a journal with these incompatible features, block
    /// size, UUID, first log block and length.
    pub fn new(incompat: u32, block_size: u32, uuid: &[u8; 16], first: u32, last: u32) -> Self {
        let is_64bit = incompat & INCOMPAT_64BIT != 0;
        let csum_v3 = incompat & INCOMPAT_CSUM_V3 != 0;
        let csum_v2 = !csum_v3 && incompat & INCOMPAT_CSUM_V2 != 0;
        let tag_len = if csum_v3 {
            TAG3_LEN
        } else {
            TAG_LEN + if csum_v2 { 2 } else { 0 } - if is_64bit { 0 } else { 4 }
        };
        LogLayout {
            bs: block_size as usize,
            tag_len,
            is_64bit,
            csum_v2,
            csum_v3,
            seed: crc32c_raw(!0, uuid),
            uuid: *uuid,
            first,
            last,
        }
    }

    /// Whether log blocks carry checksums (v2 or v3).
    pub fn checksummed(&self) -> bool {
        self.csum_v2 || self.csum_v3
    }

    /// The journal block after `n`, wrapping from the end of the log to
    /// its first block.
    pub fn next(&self, n: u32) -> u32 {
        let n = n.saturating_add(1);
        if n >= self.last {
            self.first
        } else {
            n
        }
    }

    /// crc32c of `block` seeded with the journal's UUID, with the 4 bytes
    /// at `field` counted as zeros.
    pub fn block_checksum(&self, block: &[u8], field: usize) -> u32 {
        let before = block.get(..field).unwrap_or(block);
        let after = block.get(field + 4..).unwrap_or_default();
        let crc = crc32c_raw(self.seed, before);
        crc32c_raw(crc32c_raw(crc, &[0; 4]), after)
    }

    /// Whether the tail checksum of a descriptor or revoke block holds
    /// (always, without checksums v2 and v3).
    pub fn tail_ok(&self, block: &[u8]) -> bool {
        let at = self.bs - BLOCK_TAIL_LEN;
        !self.checksummed() || get_be32(block, at) == self.block_checksum(block, at)
    }

    /// The checksum of log block `data` of transaction `sequence`, as a
    /// tag stores it.
    pub fn data_checksum(&self, sequence: u32, data: &[u8]) -> u32 {
        let crc = crc32c_raw(self.seed, &sequence.to_be_bytes());
        let crc = crc32c_raw(crc, data);
        if self.csum_v3 {
            crc
        } else {
            crc & 0xFFFF
        }
    }

    /// A log block of `kind` (descriptor, commit, revoke) of transaction
    /// `sequence`: its header, the rest zeros.
    pub fn header(&self, kind: u32, sequence: u32) -> Vec<u8> {
        let mut b = vec![0u8; self.bs];
        put_be32(&mut b, H_MAGIC, JBD2_MAGIC);
        put_be32(&mut b, H_BLOCKTYPE, kind);
        put_be32(&mut b, H_SEQUENCE, sequence);
        b
    }

    /// Sets the tail checksum of a descriptor or revoke block.
    pub fn seal(&self, block: &mut [u8]) {
        if self.checksummed() {
            let at = self.bs - BLOCK_TAIL_LEN;
            let sum = self.block_checksum(block, at);
            put_be32(block, at, sum);
        }
    }

    /// The log blocks of transaction `sequence` writing `blocks` (target
    /// block, its new contents): descriptor blocks, each followed by the
    /// copies its tags name (a copy starting with the jbd2 magic escaped,
    /// as jbd2 escapes it), then the commit block stamped `commit_time`
    /// (seconds, nanoseconds).
    pub fn transaction(
        &self,
        sequence: u32,
        blocks: &[(u64, &[u8])],
        commit_time: (u64, u32),
    ) -> Vec<Vec<u8>> {
        let end = self.bs
            - if self.checksummed() {
                BLOCK_TAIL_LEN
            } else {
                0
            };
        let mut log = Vec::new();
        let mut pending = blocks.iter().peekable();
        while pending.peek().is_some() {
            let mut desc = self.header(DESCRIPTOR_BLOCK, sequence);
            let mut copies = Vec::new();
            let mut at = HEADER_LEN;
            let mut first = true;
            let mut last_flags_at = None;
            while let Some(&&(target, data)) = pending.peek() {
                let need = self.tag_len + if first { TAG_UUID_LEN } else { 0 };
                if at + need > end {
                    break;
                }
                pending.next();
                let mut copy = data.to_vec();
                copy.resize(self.bs, 0);
                let mut flags = if first { 0 } else { FLAG_SAME_UUID };
                if get_be32(&copy, 0) == JBD2_MAGIC {
                    if let Some(magic) = copy.get_mut(..4) {
                        magic.fill(0);
                    }
                    flags |= FLAG_ESCAPE;
                }
                put_be32(&mut desc, at + T_BLOCKNR, target as u32);
                if self.is_64bit {
                    put_be32(&mut desc, at + T_BLOCKNR_HIGH, (target >> 32) as u32);
                }
                let sum = self.data_checksum(sequence, &copy);
                if self.csum_v3 {
                    put_be32(&mut desc, at + T3_FLAGS, flags);
                    put_be32(&mut desc, at + T3_CHECKSUM, sum);
                } else {
                    put_be16(&mut desc, at + T_FLAGS, flags as u16);
                    if self.csum_v2 {
                        put_be16(&mut desc, at + T_CHECKSUM, sum as u16);
                    }
                }
                last_flags_at = Some((at, flags));
                at += self.tag_len;
                if first {
                    // The journal's UUID follows the first tag only.
                    if let Some(slot) = desc.get_mut(at..at + TAG_UUID_LEN) {
                        slot.copy_from_slice(&self.uuid);
                    }
                    at += TAG_UUID_LEN;
                    first = false;
                }
                copies.push(copy);
            }
            if let Some((at, flags)) = last_flags_at {
                let flags = flags | FLAG_LAST_TAG;
                if self.csum_v3 {
                    put_be32(&mut desc, at + T3_FLAGS, flags);
                } else {
                    put_be16(&mut desc, at + T_FLAGS, flags as u16);
                }
            }
            self.seal(&mut desc);
            log.push(desc);
            log.extend(copies);
        }
        let mut commit = self.header(COMMIT_BLOCK, sequence);
        put_be32(&mut commit, H_COMMIT_SEC, (commit_time.0 >> 32) as u32);
        put_be32(&mut commit, H_COMMIT_SEC + 4, commit_time.0 as u32);
        put_be32(&mut commit, H_COMMIT_NSEC, commit_time.1);
        if self.checksummed() {
            let sum = self.block_checksum(&commit, H_CHKSUM);
            put_be32(&mut commit, H_CHKSUM, sum);
        }
        log.push(commit);
        log
    }
}

fn put_be16(buf: &mut [u8], offset: usize, value: u16) {
    if let Some(slot) = buf.get_mut(offset..offset + 2) {
        slot.copy_from_slice(&value.to_be_bytes());
    }
}
