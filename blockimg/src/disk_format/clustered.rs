//! Disks stored as clusters found through a two-level table: VMDK (grain
//! directory, grain tables, grains) and qcow2 (L1 table, L2 tables,
//! clusters). The formats say how a table or a cluster is read; looking
//! clusters up, listing the ones with data and reading byte ranges is the
//! same for both.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::Path;

use super::check_range;
use crate::error::Result;

/// What a two-level format provides.
pub(crate) trait Clustered {
    /// The image, for messages.
    fn path(&self) -> &Path;
    /// Size of the disk in bytes.
    fn disk_size(&self) -> u64;
    /// Bytes per cluster.
    fn cluster_size(&self) -> u64;
    /// Entries per second-level table.
    fn per_table(&self) -> u64;
    /// Slots in the first-level table.
    fn tables(&self) -> u64;
    /// Whether second-level table `table` exists.
    fn has_table(&self, table: u64) -> bool;
    /// Reads second-level table `table`.
    fn read_table(&mut self, table: u64) -> Result<Vec<u64>>;
    /// Whether an entry stands for a cluster of zeros.
    fn is_hole(&self, entry: u64) -> bool;
    /// Fills `out` (one cluster, zeroed) with cluster `index`, stored as
    /// `entry`.
    fn read_cluster(&mut self, index: u64, entry: u64, out: &mut [u8]) -> Result<()>;
}

/// The last second-level table and the last cluster read.
#[derive(Default)]
pub(crate) struct Caches {
    table: Option<(u64, Vec<u64>)>,
    cluster: Option<(u64, Vec<u8>)>,
}

/// Appends `start..start + len` to ascending `ranges`, merging it with the
/// last one when they touch.
pub(crate) fn push_range(ranges: &mut Vec<(u64, u64)>, start: u64, len: u64) {
    match ranges.last_mut() {
        Some((o, l)) if *o + *l == start => *l += len,
        _ => ranges.push((start, len)),
    }
}

/// The table entry of cluster `index` (0 when its table does not exist).
fn entry<C: Clustered>(c: &mut C, caches: &mut Caches, index: u64) -> Result<u64> {
    let per_table = c.per_table();
    let table = index / per_table;
    if !c.has_table(table) {
        return Ok(0);
    }
    if caches.table.as_ref().map(|(t, _)| *t) != Some(table) {
        caches.table = Some((table, c.read_table(table)?));
    }
    Ok(caches
        .table
        .as_ref()
        .and_then(|(_, entries)| entries.get((index % per_table) as usize).copied())
        .unwrap_or(0))
}

/// The byte ranges of clusters that are stored, merged, ascending.
pub(crate) fn data_ranges<C: Clustered>(c: &mut C, caches: &mut Caches) -> Result<Vec<(u64, u64)>> {
    let cluster = c.cluster_size();
    let per_table = c.per_table();
    let size = c.disk_size();
    let clusters = size.div_ceil(cluster);
    let mut ranges = Vec::new();
    for table in 0..c.tables() {
        if !c.has_table(table) {
            continue;
        }
        let first = table * per_table;
        for index in first..(first + per_table).min(clusters) {
            let e = entry(c, caches, index)?;
            if !c.is_hole(e) {
                let start = index * cluster;
                push_range(&mut ranges, start, cluster.min(size - start));
            }
        }
    }
    Ok(ranges)
}

/// Fills `buf` with the disk's bytes from `offset`.
pub(crate) fn read_at<C: Clustered>(
    c: &mut C,
    caches: &mut Caches,
    offset: u64,
    buf: &mut [u8],
) -> Result<()> {
    check_range(c.path(), c.disk_size(), offset, buf.len())?;
    let cluster = c.cluster_size();
    let mut done = 0usize;
    while done < buf.len() {
        let at = offset + done as u64;
        let index = at / cluster;
        let within = (at % cluster) as usize;
        let n = (cluster as usize - within).min(buf.len() - done);
        let Some(part) = buf.get_mut(done..done + n) else {
            break;
        };
        let e = entry(c, caches, index)?;
        if c.is_hole(e) {
            part.fill(0);
        } else {
            if caches.cluster.as_ref().map(|(i, _)| *i) != Some(index) {
                let mut data = vec![0u8; cluster as usize];
                c.read_cluster(index, e, &mut data)?;
                caches.cluster = Some((index, data));
            }
            match &caches.cluster {
                Some((_, data)) => match data.get(within..within + n) {
                    Some(data) => part.copy_from_slice(data),
                    None => part.fill(0),
                },
                None => part.fill(0),
            }
        }
        done += n;
    }
    Ok(())
}
