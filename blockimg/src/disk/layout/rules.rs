//! The refusals that are about the list of partitions rather than where
//! one of them goes: the role rules checked before placement, and overlaps
//! checked after it.

use super::{Partition, PartitionRole, PartitionSpec, PartitionTable, PartitionType};
use crate::error::{Error, Result};

/// The role rules: one root; at most one ESP and BIOS boot partition, the
/// latter on GPT only; four MBR partitions; one partition filling the rest;
/// nothing but the root without a table.
pub(super) fn check_roles(
    table: PartitionTable,
    specs: &[PartitionSpec],
    bad: &dyn Fn(usize, &'static str, String) -> Error,
) -> Result<()> {
    let refuse = |reason: &str| Error::InvalidOption {
        option: "partition layout".into(),
        reason: reason.into(),
    };
    let roots = specs
        .iter()
        .filter(|s| s.role == PartitionRole::Root)
        .count();
    if roots == 0 {
        return Err(refuse("a disk needs a root partition"));
    }
    if table == PartitionTable::None {
        if let Some(i) = specs.iter().position(|s| s.role != PartitionRole::Root) {
            return Err(bad(
                i,
                "role",
                "an ESP, a BIOS boot partition or any other partition needs a partition table (MBR or GPT)".into(),
            ));
        }
    }
    let mut seen = Vec::new();
    let mut fill = None;
    for (i, spec) in specs.iter().enumerate() {
        let unique = matches!(
            spec.role,
            PartitionRole::Root | PartitionRole::Esp | PartitionRole::BiosBoot
        );
        if unique && seen.contains(&spec.role) {
            return Err(bad(
                i,
                "role",
                format!("a disk has one {} partition", spec.role.description()),
            ));
        }
        seen.push(spec.role);
        if spec.role == PartitionRole::BiosBoot && table != PartitionTable::Gpt {
            return Err(bad(
                i,
                "role",
                "a BIOS boot partition belongs on a GPT disk; on an MBR disk core.img goes in the gap after the MBR".into(),
            ));
        }
        if table == PartitionTable::Mbr && i >= 4 {
            return Err(bad(
                i,
                "role",
                "an MBR holds at most four (primary) partitions; use a GPT".into(),
            ));
        }
        if spec.size.is_none() {
            if let Some(first) = fill {
                return Err(bad(
                    i,
                    "size",
                    format!("only one partition may fill the free space, and partition {} does; give this one a size", first + 1),
                ));
            }
            fill = Some(i);
        }
        let kind_fits = match spec.kind {
            Some(PartitionType::Gpt(_)) => table == PartitionTable::Gpt,
            Some(PartitionType::Mbr(_)) => table == PartitionTable::Mbr,
            None => true,
        };
        if !kind_fits {
            return Err(bad(
                i,
                "type",
                format!(
                    "a {} takes {}",
                    table.name(),
                    match table {
                        PartitionTable::Gpt => "a type GUID",
                        _ => "a one-byte type such as 0x83",
                    }
                ),
            ));
        }
        if (spec.guid.is_some() || spec.name.is_some()) && table != PartitionTable::Gpt {
            let field = if spec.guid.is_some() { "uuid" } else { "name" };
            return Err(bad(
                i,
                field,
                "partition names and GUIDs belong to a GPT".into(),
            ));
        }
        if spec
            .name
            .as_ref()
            .is_some_and(|n| n.encode_utf16().count() > 36)
        {
            return Err(bad(
                i,
                "name",
                "a GPT partition name has at most 36 UTF-16 code units".into(),
            ));
        }
    }
    if table == PartitionTable::None && specs.len() > 1 {
        return Err(bad(
            1,
            "role",
            "a disk without a table holds one filesystem".into(),
        ));
    }
    Ok(())
}

/// Refuses partitions that overlap, naming the later one in table order
/// and its `start` (when given) or `size`.
pub(super) fn check_overlaps(
    specs: &[PartitionSpec],
    partitions: &[Partition],
    bad: &dyn Fn(usize, &'static str, String) -> Error,
) -> Result<()> {
    let mut order: Vec<usize> = (0..partitions.len()).collect();
    order.sort_by_key(|&i| partitions[i].start);
    for pair in order.windows(2) {
        let (a, b) = (&partitions[pair[0]], &partitions[pair[1]]);
        if b.start < a.end() {
            let later = pair[0].max(pair[1]);
            let other = &partitions[pair[0].min(pair[1])];
            let field = if specs[later].start.is_some() {
                "start"
            } else {
                "size"
            };
            return Err(bad(
                later,
                field,
                format!(
                    "bytes {}..{} overlap partition {} (bytes {}..{})",
                    partitions[later].start,
                    partitions[later].end(),
                    other.number,
                    other.start,
                    other.end()
                ),
            ));
        }
    }
    Ok(())
}
