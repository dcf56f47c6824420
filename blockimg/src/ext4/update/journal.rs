//! Committing an update's metadata through the filesystem's journal, the
//! way the kernel's jbd2 does: the transaction into the log, the journal
//! superblock pointing at it, the blocks in place, the journal emptied.
//! The journal gets the features the kernel gives it when it mounts a
//! metadata_csum filesystem (checksums v3, 64-bit block numbers on a
//! 64bit filesystem).

use std::collections::BTreeMap;

use super::disk::Disk;
use crate::error::{Error, Result};
use crate::ext4::bytes::{get_be32, put_be32, put_u32};
use crate::ext4::csum::Checksummer;
use crate::ext4::features::{Features, INCOMPAT_64BIT as FS_64BIT, INCOMPAT_RECOVER};
use crate::ext4::format::jbd2::*;
use crate::ext4::format::superblock::{
    SUPERBLOCK_LEN, SUPERBLOCK_OFFSET, S_CHECKSUM as S_CHECKSUM_FS,
};
use crate::ext4::journal::{superblock_checksum, LogLayout};
use crate::ext4::read::{Ext4Reader, Journal};

/// A step of the commit, reported as it completes (a crash after it
/// leaves the filesystem as the step says).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CommitStep {
    /// New data, directories, extent trees and xattr blocks are on disk,
    /// in blocks the old filesystem does not use: still the old
    /// filesystem.
    NewBlocksWritten,
    /// The transaction is in the journal's log, which nothing points at
    /// yet: still the old filesystem.
    LogWritten,
    /// The superblock says the journal needs recovery; the journal is
    /// still empty: still the old filesystem.
    RecoveryFlagged,
    /// The journal superblock points at the transaction: from here on a
    /// replay gives the new filesystem.
    Committed,
    /// This many metadata blocks are written in place (the rest are still
    /// old; a replay completes them).
    InPlace(usize),
    /// The journal is empty again.
    JournalCleared,
    /// The superblock says the journal needs no recovery: done.
    Clean,
}

impl std::fmt::Display for CommitStep {
    /// The step's name: `new-blocks-written`, `log-written`,
    /// `recovery-flagged`, `committed`, `in-place-N`, `journal-cleared`,
    /// `clean`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CommitStep::NewBlocksWritten => f.write_str("new-blocks-written"),
            CommitStep::LogWritten => f.write_str("log-written"),
            CommitStep::RecoveryFlagged => f.write_str("recovery-flagged"),
            CommitStep::Committed => f.write_str("committed"),
            CommitStep::InPlace(n) => write!(f, "in-place-{n}"),
            CommitStep::JournalCleared => f.write_str("journal-cleared"),
            CommitStep::Clean => f.write_str("clean"),
        }
    }
}

/// Commits `blocks` (filesystem block, new contents) through the journal
/// of `reader`'s filesystem; returns the journal blocks written, as runs.
pub(super) fn commit(
    disk: &Disk,
    reader: &Ext4Reader,
    blocks: &BTreeMap<u64, Vec<u8>>,
    step: &mut dyn FnMut(CommitStep),
) -> Result<Vec<(u64, u64)>> {
    let journal = reader
        .internal_journal()
        .ok_or_else(|| Error::InvalidOption {
            option: "journal".into(),
            reason: "the filesystem's journal cannot be read".into(),
        })?;
    let jsb_block = physical(&journal, 0)?;
    let mut jsb = disk.read_block(jsb_block)?;
    if get_be32(&jsb, S_START) != 0 {
        return Err(Error::InvalidOption {
            option: "journal".into(),
            reason: "the journal holds transactions not yet applied".into(),
        });
    }
    // The features the kernel sets on the journal of a metadata_csum
    // filesystem.
    let mut raw_sb = [0u8; SUPERBLOCK_LEN];
    std::os::unix::fs::FileExt::read_exact_at(
        &disk.file,
        &mut raw_sb,
        disk.offset + SUPERBLOCK_OFFSET,
    )
    .map_err(|e| Error::io(&disk.path, e))?;
    let fs_features = Features::read(&raw_sb);
    let mut incompat = get_be32(&jsb, S_FEATURE_INCOMPAT) & !INCOMPAT_CSUM_V2;
    incompat |= INCOMPAT_CSUM_V3;
    if fs_features.has(FS_64BIT) {
        incompat |= INCOMPAT_64BIT;
    }
    put_be32(&mut jsb, S_FEATURE_INCOMPAT, incompat);
    if let Some(kind) = jsb.get_mut(S_CHECKSUM_TYPE) {
        *kind = CRC32C_CHKSUM;
    }
    let info = &journal.sb.info;
    let layout = LogLayout::new(
        incompat,
        info.block_size,
        &journal.sb.uuid,
        info.first,
        info.blocks,
    );
    let sequence = get_be32(&jsb, S_SEQUENCE);
    // The superblock goes into the journal and into place saying the
    // journal needs recovery, as the kernel's copies do; the last step
    // clears the flag.
    let (sb_block, sb_at) = if disk.bs > SUPERBLOCK_OFFSET {
        (0, SUPERBLOCK_OFFSET as usize)
    } else {
        (SUPERBLOCK_OFFSET / disk.bs, 0)
    };
    let mut blocks = blocks.clone();
    if let Some(block) = blocks.get_mut(&sb_block) {
        if let Some(sb) = block.get_mut(sb_at..sb_at + SUPERBLOCK_LEN) {
            set_recover(sb, true);
        }
    }
    let targets: Vec<(u64, &[u8])> = blocks.iter().map(|(&b, d)| (b, d.as_slice())).collect();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let log = layout.transaction(sequence, &targets, (now.as_secs(), now.subsec_nanos()));
    if log.len() as u64 + 1 > u64::from(info.blocks.saturating_sub(info.first)) {
        return Err(Error::TooSmall {
            what: "the journal for this change".into(),
            needed: log.len() as u64 * disk.bs,
            available: u64::from(info.blocks) * disk.bs,
        });
    }
    let mut written = vec![(jsb_block, 1)];
    for (i, block) in log.iter().enumerate() {
        let at = physical(&journal, info.first + i as u32)?;
        disk.write_at_block(at, block)?;
        match written.last_mut() {
            Some(last) if last.0 + last.1 == at => last.1 += 1,
            _ => written.push((at, 1)),
        }
    }
    step(CommitStep::LogWritten);
    write_superblock(disk, |sb| set_recover(sb, true))?;
    // The new blocks, the log and the flag are durable before anything
    // points at the log (their own order does not matter: until then
    // they are invisible).
    disk.sync()?;
    step(CommitStep::RecoveryFlagged);
    put_be32(&mut jsb, S_START, info.first);
    put_be32(&mut jsb, S_SEQUENCE, sequence);
    seal_journal_superblock(&mut jsb);
    disk.write_at_block(jsb_block, &jsb)?;
    disk.sync()?;
    step(CommitStep::Committed);
    for (n, (&block, bytes)) in blocks.iter().enumerate() {
        disk.write_at_block(block, bytes)?;
        step(CommitStep::InPlace(n + 1));
    }
    disk.sync()?;
    put_be32(&mut jsb, S_START, 0);
    put_be32(&mut jsb, S_SEQUENCE, sequence.wrapping_add(1));
    seal_journal_superblock(&mut jsb);
    disk.write_at_block(jsb_block, &jsb)?;
    step(CommitStep::JournalCleared);
    // Either order of these two reaches a consistent filesystem: the
    // metadata is in place.
    write_superblock(disk, |sb| set_recover(sb, false))?;
    disk.sync()?;
    step(CommitStep::Clean);
    Ok(written)
}

/// The filesystem block holding journal block `n`.
fn physical(journal: &Journal, n: u32) -> Result<u64> {
    journal.physical(n).ok_or_else(|| Error::InvalidOption {
        option: "journal".into(),
        reason: format!("journal block {n} is not mapped"),
    })
}

/// Sets or clears `needs_recovery` in the superblock `sb`, checksum
/// included.
fn set_recover(sb: &mut [u8], on: bool) {
    let mut features = Features::read(sb);
    if on {
        features = features.with(INCOMPAT_RECOVER);
    } else {
        features = features.without(INCOMPAT_RECOVER);
    }
    features.write(sb);
    let sum = Checksummer::superblock(sb);
    put_u32(sb, S_CHECKSUM_FS, sum);
}

/// Rewrites the superblock in place through `change`.
fn write_superblock(disk: &Disk, change: impl Fn(&mut [u8])) -> Result<()> {
    let mut sb = [0u8; SUPERBLOCK_LEN];
    std::os::unix::fs::FileExt::read_exact_at(&disk.file, &mut sb, disk.offset + SUPERBLOCK_OFFSET)
        .map_err(|e| Error::io(&disk.path, e))?;
    change(&mut sb);
    std::os::unix::fs::FileExt::write_all_at(&disk.file, &sb, disk.offset + SUPERBLOCK_OFFSET)
        .map_err(|e| Error::io(&disk.path, e))
}

/// Sets the journal superblock's checksum (checksums v2 and v3).
fn seal_journal_superblock(jsb: &mut [u8]) {
    let sum = superblock_checksum(jsb);
    put_be32(jsb, S_CHECKSUM, sum);
}
