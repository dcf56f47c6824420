//! Reading MBRs with mbrman: the four primary entries, the disk
//! signature, and the chain of EBRs that holds the logical partitions.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::io::Cursor;
use std::path::Path;

use mbrman::{MBRHeader, MBRPartitionEntry};

use super::{FoundTable, Partition, PartitionKind, TableKind};
use crate::disk::layout::SECTOR;
use crate::disk_format::Backing;
use crate::error::{Corrupt, PartitionError};
use crate::error::{Error, Result};

/// MBR type of a GPT's protective entry.
const GPT_PROTECTIVE: u8 = 0xEE;
/// MBR types of extended partitions (CHS, LBA, Linux).
const EXTENDED: [u8; 3] = [0x05, 0x0F, 0x85];
/// Logical partitions followed before the EBR chain is taken as a loop.
const MAX_LOGICAL: usize = 128;

/// The MBR (or EBR) in `sector`, when it has the boot signature and every
/// entry's boot flag is 0x00 or 0x80.
pub(crate) fn parse(sector: &[u8]) -> Option<MBRHeader> {
    MBRHeader::read_from(&mut Cursor::new(sector)).ok()
}

/// The four primary entries of `mbr`.
pub(crate) fn entries(mbr: &MBRHeader) -> [&MBRPartitionEntry; 4] {
    [
        &mbr.partition_1,
        &mbr.partition_2,
        &mbr.partition_3,
        &mbr.partition_4,
    ]
}

/// Whether `mbr` is a GPT's protective MBR.
pub(crate) fn is_protective(mbr: &MBRHeader) -> bool {
    entries(mbr).iter().any(|e| e.sys == GPT_PROTECTIVE)
}

/// The partitions of the MBR `mbr` of `file`, logical ones included, or
/// `None` when it has no used entry.
pub(crate) fn table(
    file: &dyn Backing,
    path: &Path,
    mbr: &MBRHeader,
) -> Result<Option<FoundTable>> {
    let mut parts = Vec::new();
    for (i, entry) in entries(mbr).into_iter().enumerate() {
        if EXTENDED.contains(&entry.sys) {
            logical_partitions(file, path, entry, &mut parts)?;
        } else if entry.is_used() {
            parts.push(mbr_partition(i as u32 + 1, entry, 0));
        }
    }
    if parts.is_empty() {
        return Ok(None);
    }
    parts.sort_by_key(|p| p.number);
    Ok(Some(FoundTable {
        kind: TableKind::Mbr {
            signature: u32::from_le_bytes(mbr.disk_signature),
        },
        partitions: parts,
    }))
}

/// The MBR (or EBR) in the sector at byte `at`, when it has the boot
/// signature and valid entries.
fn read_mbr(file: &dyn Backing, at: u64) -> Option<MBRHeader> {
    let mut sector = [0u8; SECTOR as usize];
    file.read_exact_at(&mut sector, at).ok()?;
    parse(&sector)
}

/// An MBR entry whose start counts from sector `base`.
fn mbr_partition(number: u32, entry: &MBRPartitionEntry, base: u64) -> Partition {
    Partition {
        number,
        kind: PartitionKind::Mbr(entry.sys),
        start: (base + u64::from(entry.starting_lba)) * SECTOR,
        size: u64::from(entry.sectors) * SECTOR,
        bootable: entry.boot == mbrman::BOOT_ACTIVE,
    }
}

/// Follows the chain of EBRs of an extended partition: each holds one
/// logical partition (its start relative to the EBR) and a link to the next
/// EBR (relative to the extended partition's start).
fn logical_partitions(
    file: &dyn Backing,
    path: &Path,
    extended: &MBRPartitionEntry,
    out: &mut Vec<Partition>,
) -> Result<()> {
    let base = u64::from(extended.starting_lba);
    let mut next = 0u64;
    for i in 0..MAX_LOGICAL {
        let ebr_lba = base + next;
        let Some(ebr) = read_mbr(file, ebr_lba * SECTOR) else {
            // An extended partition without logical partitions may lack
            // its first EBR.
            if i == 0 {
                return Ok(());
            }
            return Err(corrupt_mbr(path, ebr_lba, "no valid EBR"));
        };
        if ebr.partition_1.is_used() {
            out.push(mbr_partition(5 + i as u32, &ebr.partition_1, ebr_lba));
        }
        let link = u64::from(ebr.partition_2.starting_lba);
        if !ebr.partition_2.is_used() || link == 0 {
            return Ok(());
        }
        if link <= next {
            return Err(corrupt_mbr(
                path,
                ebr_lba,
                "the next EBR does not lie further on",
            ));
        }
        next = link;
    }
    Err(corrupt_mbr(
        path,
        base + next,
        "more than 128 logical partitions",
    ))
}

fn corrupt_mbr(path: &Path, lba: u64, reason: &str) -> Error {
    Error::from(PartitionError::Corrupt(Box::new(Corrupt {
        path: path.to_path_buf(),
        format: "MBR".into(),
        field: "extended boot record at sector".into(),
        value: lba.to_string(),
        reason: reason.into(),
    })))
}
