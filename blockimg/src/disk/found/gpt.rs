//! Reading GPTs with gptman, after checking the headers' entry array
//! figures by hand.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::Path;

use super::{FoundTable, Partition, PartitionKind, TableKind};
use crate::bytes::{le32, le64};
use crate::disk::gpt::guid_on_disk;
use crate::disk_format::{Backing, BackingCursor};
use crate::error::{Corrupt, PartitionError};
use crate::error::{Error, Result};

/// GPT attribute bit 2: legacy BIOS bootable.
const GPT_LEGACY_BOOTABLE: u64 = 1 << 2;
/// Largest GPT partition entry array read, in bytes (the usual is 16 KiB).
const MAX_GPT_ENTRIES_BYTES: u64 = 1 << 20;

/// The signature a GPT header starts with.
const HEADER_SIGNATURE: &[u8; 8] = b"EFI PART";
// Byte offsets of the GPT header's fields checked here.
/// First LBA of the partition entry array (8 bytes).
const HEADER_ENTRIES_LBA: usize = 72;
/// Entries in the array (4 bytes).
const HEADER_ENTRY_COUNT: usize = 80;
/// Bytes per entry (4 bytes).
const HEADER_ENTRY_SIZE: usize = 84;
/// Bytes of the header read: up to the end of its last field.
const HEADER_READ: usize = 92;

/// The GPT's used entries and disk GUID (read with gptman, which checks
/// both headers' CRCs and falls back to the backup table).
pub(crate) fn table(file: &dyn Backing, path: &Path, len: u64) -> Result<FoundTable> {
    check_gpt_headers(file, path, len)?;
    let mut reader = BackingCursor::new(file).map_err(|e| Error::io(path, e))?;
    let gpt = gptman::GPT::find_from(&mut reader).map_err(|e| {
        Error::from(PartitionError::Corrupt(Box::new(Corrupt {
            path: path.to_path_buf(),
            format: "GPT".into(),
            field: "partition table".into(),
            value: "unreadable".into(),
            reason: e.to_string(),
        })))
    })?;
    let partitions = gpt
        .iter()
        .filter(|(_, entry)| entry.is_used())
        .map(|(number, entry)| Partition {
            number,
            kind: PartitionKind::Gpt {
                type_guid: entry.partition_type_guid,
                name: entry.partition_name.as_str().to_string(),
            },
            start: entry.starting_lba.saturating_mul(gpt.sector_size),
            size: (entry.ending_lba.saturating_sub(entry.starting_lba) + 1)
                .saturating_mul(gpt.sector_size),
            bootable: entry.attribute_bits & GPT_LEGACY_BOOTABLE != 0,
        })
        .collect();
    Ok(FoundTable {
        kind: TableKind::Gpt {
            disk_guid: guid_on_disk(gpt.header.disk_guid),
        },
        partitions,
    })
}

/// Refuses GPT headers (primary or backup, 512- or 4096-byte sectors) whose
/// entry array is too large or lies beyond any addressable offset, before
/// gptman allocates and seeks by those numbers.
fn check_gpt_headers(file: &dyn Backing, path: &Path, len: u64) -> Result<()> {
    for sector in [512u64, 4096] {
        let backup = (len / sector).saturating_sub(1) * sector;
        for at in [sector, backup] {
            let mut header = [0u8; HEADER_READ];
            if file.read_exact_at(&mut header, at).is_err() || !header.starts_with(HEADER_SIGNATURE)
            {
                continue;
            }
            let entry_lba = le64(&header, HEADER_ENTRIES_LBA);
            let count = u64::from(le32(&header, HEADER_ENTRY_COUNT));
            let size = u64::from(le32(&header, HEADER_ENTRY_SIZE));
            let array_fits = entry_lba
                .checked_mul(sector)
                .and_then(|start| start.checked_add(count * size))
                .is_some();
            if count * size > MAX_GPT_ENTRIES_BYTES || size < 128 || !array_fits {
                return Err(Error::from(PartitionError::Corrupt(Box::new(Corrupt {
                    path: path.to_path_buf(),
                    format: "GPT".into(),
                    field: format!("header at byte {at}"),
                    value: format!("{count} entries of {size} bytes at LBA {entry_lba}"),
                    reason: format!("entries are at least 128 bytes, at most {MAX_GPT_ENTRIES_BYTES} bytes in all, within the disk"),
                }))));
            }
        }
    }
    Ok(())
}
