//! Journal replay: the transactions a jbd2 log holds, found the way
//! e2fsprogs' `e2fsck/recovery.c` and the kernel find them, and applied
//! either in memory (an `Overlay` every read of the filesystem consults)
//! or to the image itself ([`replay_in_place`]).
//!
//! The log is walked from `s_start` expecting transaction `s_sequence`:
//! descriptor blocks name the filesystem blocks whose copies follow them,
//! revoke blocks list blocks not to replay from this or earlier
//! transactions, a commit block ends a transaction. The walk stops at the
//! first block that does not continue the log (another magic, another
//! sequence, an unknown type, a descriptor, revoke or commit block whose
//! checksum fails); only transactions whose commit block was found and
//! checks out are replayed. recovery.c does this in three passes over the
//! log (scan, revoke, replay); here one walk records each committed
//! transaction's tags and revokes, then the revokes of every committed
//! transaction apply to the tags of every transaction at or before them,
//! and the newest copy of each block wins. A block copy whose tag checksum
//! (checksums v2 and v3) fails is skipped, as recovery.c skips it. The
//! crc32 of the older `COMPAT_CHECKSUM` commit blocks is not checked.
//!
//! The walk is bounded by the log's size: it reads at most `s_maxlen -
//! s_first` blocks, and what it keeps (a tag or revoke per record) is
//! bounded by the bytes of those blocks.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use super::journal::{superblock_checksum, Journal};
use super::volume::{Copy, Overlay, Volume};
use super::Ext4Reader;
use crate::error::{Error, Result};
use crate::ext4::bytes::{get_be32, put_be32, put_u32};
use crate::ext4::csum::Checksummer;
use crate::ext4::features::{Features, INCOMPAT_RECOVER, RO_COMPAT_METADATA_CSUM};
use crate::ext4::format::jbd2::*;
use crate::ext4::format::superblock::{
    SUPERBLOCK_LEN, SUPERBLOCK_OFFSET, S_CHECKSUM as S_CHECKSUM_FS,
};
use crate::ext4::journal::LogLayout;

/// What replaying a journal did ([`Ext4Reader::replayed`]).
///
/// # Examples
///
/// ```
/// use blockimg::ext4::read::Replayed;
///
/// let replayed = Replayed { transactions: 2, blocks: 5, ..Default::default() };
/// assert_eq!(replayed.to_string(), "2 transactions, 5 blocks replayed from the journal");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Committed transactions replayed.
    pub transactions: u32,
    /// Filesystem blocks replaced by their newest copy in the journal.
    pub blocks: u64,
    /// Block copies skipped because a revoke record covers them.
    pub revoked: u64,
    /// Block copies skipped because their tag checksum fails.
    pub bad_checksums: u64,
    /// The journal's `s_sequence` once replayed: past the last transaction
    /// replayed, as e2fsck leaves it.
    pub next_sequence: u32,
}

impl std::fmt::Display for Replayed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} transactions, {} blocks replayed from the journal",
            self.transactions, self.blocks
        )?;
        if self.revoked > 0 {
            write!(f, ", {} revoked", self.revoked)?;
        }
        if self.bad_checksums > 0 {
            write!(f, ", {} skipped for a bad checksum", self.bad_checksums)?;
        }
        Ok(())
    }
}

/// One tag of a descriptor block: a log block and where it is replayed.
#[derive(Clone, Copy, Debug)]
struct Tag {
    /// The filesystem block it replaces.
    target: u64,
    /// Its block in the journal.
    log_block: u32,
    escaped: bool,
    /// The tag's checksum of the log block (checksums v2 and v3).
    checksum: Option<u32>,
}

/// A committed transaction.
#[derive(Debug, Default)]
struct Transaction {
    sequence: u32,
    tags: Vec<Tag>,
    revokes: Vec<u64>,
}

/// The layout of `journal`'s log, from its superblock.
fn layout_of(journal: &Journal) -> LogLayout {
    let sb = &journal.sb;
    LogLayout::new(
        sb.info.incompat,
        sb.info.block_size,
        &sb.uuid,
        sb.info.first,
        sb.info.blocks,
    )
}

/// The tags of descriptor block `block`: (filesystem block, flags,
/// stored checksum), up to the last tag or the end of the tag area.
fn tags(layout: &LogLayout, block: &[u8]) -> Vec<(u64, u32, Option<u32>)> {
    let end = layout.bs
        - if layout.checksummed() {
            BLOCK_TAIL_LEN
        } else {
            0
        };
    let mut tags = Vec::new();
    let mut at = HEADER_LEN;
    while at + layout.tag_len <= end {
        let be16 = |offset: usize| get_be32(block, at + offset - 2) & 0xFFFF;
        let low = u64::from(get_be32(block, at + T_BLOCKNR));
        let high = if layout.is_64bit {
            u64::from(get_be32(block, at + T_BLOCKNR_HIGH))
        } else {
            0
        };
        let (flags, checksum) = if layout.csum_v3 {
            let sum = get_be32(block, at + T3_CHECKSUM);
            (get_be32(block, at + T3_FLAGS), Some(sum))
        } else {
            (be16(T_FLAGS), layout.csum_v2.then(|| be16(T_CHECKSUM)))
        };
        tags.push((low | high << 32, flags, checksum));
        at += layout.tag_len;
        if flags & FLAG_SAME_UUID == 0 {
            at += TAG_UUID_LEN;
        }
        if flags & FLAG_LAST_TAG != 0 {
            break;
        }
    }
    tags
}

/// The log of `journal` in a filesystem of `blocks_count` blocks, read
/// through `read` (fills a buffer from a byte offset of the filesystem as
/// stored), as far as it checks out: the
/// committed transactions, oldest first, and the sequence number after
/// the last.
fn walk(
    vol: &Volume,
    journal: &Journal,
    blocks_count: u64,
    read: &dyn Fn(u64, &mut [u8]) -> Result<()>,
) -> Result<(Vec<Transaction>, u32)> {
    let layout = layout_of(journal);
    let bs = layout.bs;
    let log_len = journal.sb.info.blocks.saturating_sub(layout.first);
    let locate = |n: u32| {
        journal.physical(n).ok_or_else(|| {
            vol.corrupt(
                format!("journal block {n}"),
                n,
                "the log reaches a block the journal inode does not map",
            )
        })
    };
    let read_log = |n: u32, buf: &mut [u8]| read(locate(n)? * bs as u64, buf);
    let mut block = vec![0u8; bs];
    let mut done = Vec::new();
    let mut current = Transaction {
        sequence: journal.sb.info.sequence,
        ..Default::default()
    };
    let mut pos = journal.sb.start;
    // Blocks of the log walked so far: a log never holds more than the
    // journal, whatever its blocks claim.
    let mut used = 0u32;
    while journal.sb.start != 0 && used < log_len {
        read_log(pos, &mut block)?;
        pos = layout.next(pos);
        used += 1;
        if get_be32(&block, H_MAGIC) != JBD2_MAGIC
            || get_be32(&block, H_SEQUENCE) != current.sequence
        {
            break;
        }
        match get_be32(&block, H_BLOCKTYPE) {
            DESCRIPTOR_BLOCK => {
                if !layout.tail_ok(&block) {
                    break;
                }
                let tags = tags(&layout, &block);
                if tags.len() as u64 + u64::from(used) > u64::from(log_len) {
                    break;
                }
                for (target, flags, checksum) in tags {
                    current.tags.push(Tag {
                        target,
                        log_block: pos,
                        escaped: flags & FLAG_ESCAPE != 0,
                        checksum,
                    });
                    pos = layout.next(pos);
                    used += 1;
                }
            }
            COMMIT_BLOCK => {
                if layout.checksummed()
                    && get_be32(&block, H_CHKSUM) != layout.block_checksum(&block, H_CHKSUM)
                {
                    break;
                }
                let next = current.sequence.wrapping_add(1);
                done.push(std::mem::replace(
                    &mut current,
                    Transaction {
                        sequence: next,
                        ..Default::default()
                    },
                ));
            }
            REVOKE_BLOCK => {
                if !layout.tail_ok(&block) {
                    break;
                }
                let count = get_be32(&block, R_COUNT) as usize;
                let room = bs
                    - if layout.checksummed() {
                        BLOCK_TAIL_LEN
                    } else {
                        0
                    };
                if count > room {
                    return Err(vol.corrupt(
                        format!("journal revoke block {} r_count", current.sequence),
                        count,
                        format!("a revoke block has {room} bytes for records"),
                    ));
                }
                let record = if layout.is_64bit { 8 } else { 4 };
                let mut at = REVOKE_HEADER_LEN;
                while at + record <= count {
                    let low = u64::from(get_be32(&block, at + record - 4));
                    let high = if layout.is_64bit {
                        u64::from(get_be32(&block, at))
                    } else {
                        0
                    };
                    current.revokes.push(high << 32 | low);
                    at += record;
                }
            }
            _ => break,
        }
    }
    // Tag checksums, and the targets: within the filesystem, outside the
    // journal (replaying over the log would change what is replayed).
    let mut journal_runs: Vec<(u64, u64)> =
        journal.runs.iter().map(|r| (r.physical, r.len)).collect();
    journal_runs.sort_unstable();
    for tx in &done {
        for tag in &tx.tags {
            let field = || format!("journal transaction {} tag t_blocknr", tx.sequence);
            if tag.target >= blocks_count {
                return Err(vol.corrupt(
                    field(),
                    tag.target,
                    format!("the filesystem has {blocks_count} blocks"),
                ));
            }
            let i = journal_runs.partition_point(|&(start, _)| start <= tag.target);
            let inside = i
                .checked_sub(1)
                .and_then(|i| journal_runs.get(i))
                .is_some_and(|&(start, len)| tag.target < start + len);
            if inside {
                return Err(vol.corrupt(
                    field(),
                    tag.target,
                    "the block is one of the journal's own",
                ));
            }
        }
    }
    Ok((done, current.sequence))
}

/// Replays the log of `journal` in memory over the filesystem of `vol`,
/// of `blocks_count` blocks: the overlay of replayed blocks and what was
/// replayed.
pub(super) fn replay(
    vol: &Volume,
    journal: &Journal,
    blocks_count: u64,
) -> Result<(Overlay, Replayed)> {
    let raw = |at: u64, buf: &mut [u8]| vol.read_stored(at, buf);
    let (transactions, end) = walk(vol, journal, blocks_count, &raw)?;
    let layout = layout_of(journal);
    let bs = layout.bs as u64;
    // The newest revoke of each block.
    let mut revoked: HashMap<u64, u32> = HashMap::new();
    for tx in &transactions {
        for &block in &tx.revokes {
            let newest = revoked.entry(block).or_insert(tx.sequence);
            if (tx.sequence.wrapping_sub(*newest) as i32) > 0 {
                *newest = tx.sequence;
            }
        }
    }
    let mut stats = Replayed {
        transactions: transactions.len() as u32,
        next_sequence: end.wrapping_add(1),
        ..Default::default()
    };
    let mut blocks = BTreeMap::new();
    let mut data = vec![0u8; layout.bs];
    for tx in &transactions {
        for tag in &tx.tags {
            let is_revoked = revoked
                .get(&tag.target)
                .is_some_and(|&r| (tx.sequence.wrapping_sub(r) as i32) <= 0);
            if is_revoked {
                stats.revoked += 1;
                continue;
            }
            // Mapped: the walk located every log block it kept.
            let Some(physical) = journal.physical(tag.log_block) else {
                continue;
            };
            let at = physical * bs;
            if let Some(stored) = tag.checksum {
                raw(at, &mut data)?;
                if layout.data_checksum(tx.sequence, &data) != stored {
                    stats.bad_checksums += 1;
                    continue;
                }
            }
            blocks.insert(
                tag.target,
                Copy {
                    at,
                    escaped: tag.escaped,
                },
            );
        }
    }
    stats.blocks = blocks.len() as u64;
    Ok((
        Overlay {
            block_size: bs,
            blocks,
        },
        stats,
    ))
}

/// Clears `needs_recovery` in the primary superblock `raw` and, with
/// metadata_csum, recomputes its checksum: the superblock a replay leaves.
fn recovered_superblock(raw: &mut [u8]) {
    let features = Features::read(raw);
    features.without(INCOMPAT_RECOVER).write(raw);
    if features.has(RO_COMPAT_METADATA_CSUM) {
        let sum = Checksummer::superblock(raw);
        put_u32(raw, S_CHECKSUM_FS, sum);
    }
}

/// Replays the journal of the filesystem at byte `offset` of the raw image
/// `file` into the image itself, as e2fsck does before it checks a
/// filesystem: each replayed block written, synced, then the journal
/// marked empty (`s_start` 0, `s_sequence` past the last transaction
/// replayed, its checksum recomputed) and `needs_recovery` cleared in the
/// superblock (its checksum recomputed), synced. `file` must be open for
/// writing; `path` names it in errors. Returns what was replayed, or `None`
/// when the journal needed no replay.
///
/// # Examples
///
/// ```
/// use blockimg::ext4::read::{replay_in_place, Ext4Reader};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: an MBR disk whose ext4 filesystem, at 1 MiB, was cleanly unmounted.
/// let file = std::fs::OpenOptions::new().read(true).write(true).open(&image)?;
/// assert_eq!(replay_in_place(&file, 1 << 20, &image)?, None); // nothing to replay
/// # Ok(())
/// # }
/// ```
pub fn replay_in_place(
    file: &File,
    offset: u64,
    path: impl Into<PathBuf>,
) -> Result<Option<Replayed>> {
    let path = path.into();
    let io = |e| Error::io(&path, e);
    let reader = Ext4Reader::open_bytes(Arc::new(file.try_clone().map_err(io)?), offset, &path)?;
    let Some(replayed) = reader.replayed else {
        return Ok(None);
    };
    // Where the journal superblock is (the journal inode as replayed).
    let journal_at = match reader.read_journal() {
        Ok(journal) => journal.and_then(|j| j.physical(0)),
        Err(damage) => {
            return Err(reader
                .volume
                .corrupt(damage.field, damage.value, damage.reason))
        }
    };
    let bs = reader.sb.bs();
    let mut block = vec![0u8; bs as usize];
    if let Some(overlay) = &reader.volume.overlay {
        for &n in overlay.blocks.keys() {
            reader.volume.read(n * bs, &mut block)?;
            file.write_all_at(&block, offset + n * bs).map_err(io)?;
        }
    }
    file.sync_data().map_err(io)?;
    // The journal, empty; then the superblock, recovered.
    if let Some(block) = journal_at {
        let at = block * bs;
        let mut jsb = vec![0u8; JOURNAL_SUPERBLOCK_LEN];
        file.read_exact_at(&mut jsb, offset + at).map_err(io)?;
        put_be32(&mut jsb, S_START, 0);
        put_be32(&mut jsb, S_SEQUENCE, replayed.next_sequence);
        let version2 = get_be32(&jsb, H_BLOCKTYPE) == SUPERBLOCK_V2;
        if version2
            && get_be32(&jsb, S_FEATURE_INCOMPAT) & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0
        {
            let sum = superblock_checksum(&jsb);
            put_be32(&mut jsb, S_CHECKSUM, sum);
        }
        file.write_all_at(&jsb, offset + at).map_err(io)?;
    }
    let mut raw = [0u8; SUPERBLOCK_LEN];
    file.read_exact_at(&mut raw, offset + SUPERBLOCK_OFFSET)
        .map_err(io)?;
    recovered_superblock(&mut raw);
    file.write_all_at(&raw, offset + SUPERBLOCK_OFFSET)
        .map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(Some(replayed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext4::journal::superblock;
    use crate::ext4::read::fuzzing::replay_journal;

    const BS: usize = 1024;
    /// Blocks of the journals built here.
    const BLOCKS: u32 = 32;

    /// A journal of [`BLOCKS`] blocks of [`BS`] bytes with these
    /// incompatible features, its log starting at `start` with transaction
    /// `sequence`; log blocks are written with [`Builder::put`].
    struct Builder {
        bytes: Vec<u8>,
        incompat: u32,
        pos: u32,
    }

    impl Builder {
        fn new(incompat: u32, start: u32, sequence: u32) -> Self {
            let mut bytes = superblock(BS as u32, BLOCKS, &[7; 16]);
            bytes.resize(BS * BLOCKS as usize, 0);
            put_be32(&mut bytes, S_FEATURE_INCOMPAT, incompat);
            put_be32(&mut bytes, S_START, start);
            put_be32(&mut bytes, S_SEQUENCE, sequence);
            if incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0 {
                bytes[S_CHECKSUM_TYPE] = CRC32C_CHKSUM;
                let sum = superblock_checksum(&bytes);
                put_be32(&mut bytes, S_CHECKSUM, sum);
            }
            Builder {
                bytes,
                incompat,
                pos: start,
            }
        }

        fn layout(&self) -> LogLayout {
            let sb = super::super::journal::parse(&self.bytes, BS as u32, BLOCKS.into()).unwrap();
            layout_of(&Journal {
                sb,
                runs: Vec::new(),
            })
        }

        /// Writes `block` at the next log block (wrapping).
        fn put(&mut self, block: &[u8]) {
            let at = self.pos as usize * BS;
            self.bytes[at..at + BS].copy_from_slice(block);
            self.pos = self.layout().next(self.pos);
        }

        /// A descriptor block of transaction `sequence` for `blocks`
        /// (target, content), then their copies (escaped as jbd2 does):
        /// the transaction the update's commit writes, without its commit
        /// block.
        fn transaction_blocks(&mut self, sequence: u32, blocks: &[(u64, Vec<u8>)]) {
            let targets: Vec<(u64, &[u8])> =
                blocks.iter().map(|(t, d)| (*t, d.as_slice())).collect();
            let mut log = self.layout().transaction(sequence, &targets, (0, 0));
            log.pop();
            for block in log {
                self.put(&block);
            }
        }

        fn with_tail(&self, mut block: Vec<u8>) -> Vec<u8> {
            let layout = self.layout();
            if layout.checksummed() {
                let at = BS - BLOCK_TAIL_LEN;
                let sum = layout.block_checksum(&block, at);
                put_be32(&mut block, at, sum);
            }
            block
        }

        fn revoke(&mut self, sequence: u32, blocks: &[u64]) {
            let mut b = self.layout().header(REVOKE_BLOCK, sequence);
            let record = if self.incompat & INCOMPAT_64BIT != 0 {
                8
            } else {
                4
            };
            let mut at = REVOKE_HEADER_LEN;
            for &block in blocks {
                if record == 8 {
                    put_be32(&mut b, at, (block >> 32) as u32);
                }
                put_be32(&mut b, at + record - 4, block as u32);
                at += record;
            }
            put_be32(&mut b, R_COUNT, at as u32);
            self.put(&self.with_tail(b));
        }

        fn commit(&mut self, sequence: u32) {
            let log = self.layout().transaction(sequence, &[], (0, 0));
            for block in log {
                self.put(&block);
            }
        }

        /// The filesystem as replayed, and what was.
        fn replay(&self) -> (Volume, Replayed) {
            replay_journal(&self.bytes).unwrap().unwrap()
        }
    }

    fn filled(byte: u8) -> Vec<u8> {
        vec![byte; BS]
    }

    fn block(volume: &Volume, n: u64) -> Vec<u8> {
        let mut b = vec![0u8; BS];
        volume.read(n * BS as u64, &mut b).unwrap();
        b
    }

    const FLAVOURS: [u32; 5] = [
        0,
        INCOMPAT_64BIT,
        INCOMPAT_CSUM_V2,
        INCOMPAT_CSUM_V2 | INCOMPAT_64BIT,
        INCOMPAT_CSUM_V3 | INCOMPAT_64BIT,
    ];

    /// Two transactions in every tag format: the newest copy wins, an
    /// escaped block gets its magic back, a revoke hides the copies of its
    /// own and earlier transactions but not later ones.
    #[test]
    fn committed_transactions_replay_newest_first_and_revokes_apply() {
        for incompat in FLAVOURS {
            let mut log = Builder::new(incompat, 1, 40);
            let mut magic = filled(0xAB);
            magic[..4].copy_from_slice(&JBD2_MAGIC.to_be_bytes());
            log.transaction_blocks(40, &[(2, filled(1)), (3, magic.clone()), (4, filled(4))]);
            log.commit(40);
            log.transaction_blocks(41, &[(2, filled(2)), (5, filled(5))]);
            log.revoke(41, &[4, 5]);
            log.commit(41);
            log.transaction_blocks(42, &[(5, filled(6))]);
            log.commit(42);
            let (volume, replayed) = log.replay();
            assert_eq!(
                replayed,
                Replayed {
                    transactions: 3,
                    blocks: 3,
                    revoked: 2,
                    bad_checksums: 0,
                    next_sequence: 44,
                },
                "{incompat:#x}"
            );
            assert_eq!(block(&volume, 2), filled(2));
            assert_eq!(block(&volume, 3), magic);
            assert_eq!(block(&volume, 4), vec![0; BS], "revoked");
            assert_eq!(block(&volume, 5), filled(6), "after the revoke");
            // A read across blocks, starting inside the escaped one.
            let mut buf = vec![0u8; BS];
            volume.read(3 * BS as u64 + 2, &mut buf).unwrap();
            assert_eq!(&buf[..2], &JBD2_MAGIC.to_be_bytes()[2..]);
        }
    }

    /// A transaction without its commit block, or whose commit checksum
    /// fails, is not replayed, nor anything after it.
    #[test]
    fn uncommitted_and_bad_commits_end_the_log() {
        for incompat in FLAVOURS {
            let mut log = Builder::new(incompat, 1, 7);
            log.transaction_blocks(7, &[(2, filled(1))]);
            log.commit(7);
            log.transaction_blocks(8, &[(3, filled(2))]);
            let (volume, replayed) = log.replay();
            assert_eq!((replayed.transactions, replayed.blocks), (1, 1));
            assert_eq!(replayed.next_sequence, 9);
            assert_eq!(block(&volume, 3), vec![0; BS], "no commit block");

            log.commit(8);
            log.transaction_blocks(9, &[(4, filled(3))]);
            log.commit(9);
            assert_eq!(log.replay().1.transactions, 3);
            // The commit of 8 damaged: with checksums, 8 and 9 are lost.
            let commit_8 = 6 * BS;
            log.bytes[commit_8 + 0x40] ^= 1;
            let (volume, replayed) = log.replay();
            if incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0 {
                assert_eq!(replayed.transactions, 1, "{incompat:#x}");
                assert_eq!(block(&volume, 4), vec![0; BS]);
            } else {
                assert_eq!(replayed.transactions, 3, "{incompat:#x}");
            }
        }
    }

    /// A data block whose tag checksum fails is skipped; the rest of the
    /// transaction replays. A descriptor whose tail checksum fails ends
    /// the log.
    #[test]
    fn bad_data_and_descriptor_checksums() {
        for incompat in [INCOMPAT_CSUM_V2, INCOMPAT_CSUM_V3] {
            let mut log = Builder::new(incompat, 1, 1);
            log.transaction_blocks(1, &[(2, filled(1)), (3, filled(2))]);
            log.commit(1);
            log.bytes[2 * BS + 9] ^= 0xFF; // the copy of block 2
            let (volume, replayed) = log.replay();
            assert_eq!((replayed.blocks, replayed.bad_checksums), (1, 1));
            assert_eq!(block(&volume, 3), filled(2));
            log.bytes[BS + 0x200] ^= 1; // the descriptor
            assert_eq!(log.replay().1.transactions, 0);
        }
    }

    /// A log running past the journal's end continues at `s_first`.
    #[test]
    fn the_log_wraps_around() {
        let mut log = Builder::new(INCOMPAT_CSUM_V3, BLOCKS - 2, 3);
        log.transaction_blocks(3, &[(2, filled(1)), (3, filled(2)), (4, filled(3))]);
        log.commit(3);
        assert_eq!(log.pos, 4);
        let (volume, replayed) = log.replay();
        assert_eq!((replayed.transactions, replayed.blocks), (1, 3));
        assert_eq!(block(&volume, 4), filled(3));
    }

    /// Hostile logs: a descriptor claiming more blocks than the log holds
    /// ends it; a block outside the filesystem, or inside the journal, is
    /// an error naming the tag; a revoke block longer than a block too.
    #[test]
    fn hostile_logs_stop_or_fail_by_name() {
        let mut log = Builder::new(0, 1, 1);
        let tags: Vec<(u64, Vec<u8>)> = (0..40).map(|i| (2 + i % 8, filled(1))).collect();
        log.transaction_blocks(1, &tags);
        assert_eq!(log.replay().1.transactions, 0);

        for (target, reason) in [(1 << 40, "blocks"), (20, "journal's own")] {
            let mut log = Builder::new(INCOMPAT_64BIT, 1, 1);
            log.transaction_blocks(1, &[(target, filled(1))]);
            log.commit(1);
            let error = replay_journal(&log.bytes).unwrap_err().to_string();
            assert!(
                error.contains("journal transaction 1 tag t_blocknr"),
                "{error}"
            );
            assert!(error.contains(reason), "{error}");
        }

        let mut log = Builder::new(0, 1, 1);
        log.revoke(1, &[2]);
        put_be32(&mut log.bytes, BS + R_COUNT, BS as u32 + 1);
        let error = replay_journal(&log.bytes).unwrap_err().to_string();
        assert!(error.contains("r_count"), "{error}");
    }

    /// A journal whose log is made only of descriptors pointing back at
    /// themselves would loop forever: the walk stops after the log's size.
    #[test]
    fn the_walk_is_bounded() {
        let mut log = Builder::new(0, 1, 1);
        for _ in 1..BLOCKS {
            log.revoke(1, &[2]);
        }
        let (_, replayed) = log.replay();
        assert_eq!(replayed.transactions, 0);
        assert!(!crate::ext4::read::fuzzing::replay(&[0; 10]));
    }
}
