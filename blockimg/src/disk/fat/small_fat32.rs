//! FAT32 volumes with fewer clusters than the specification's FAT32
//! minimum (65,525), which `mkfs.fat -F 32` makes on small partitions (with
//! a warning) and which Linux and UEFI firmware read as FAT32 because the
//! boot sector says so. fatfs decides the type from the cluster count and
//! refuses them, so the report's figures and the boot loader lookup are
//! read here from the boot sector, the FAT and the directories.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::io;

use super::boot_sector::{self, BootSector, MIN_FAT32_CLUSTERS};
use super::dir_entry::{
    self, ATTR_DIRECTORY, ATTR_LONG_NAME, ATTR_VOLUME_ID, DELETED, END, NAME_LEN,
};
use super::report::{loaders, FatReport};
use super::{format_volume_id, FAT32_ENTRY_MASK, FAT32_ENTRY_SIZE};
use crate::bytes::le32;
use crate::disk::found::Partition;
use crate::disk_format::Backing;

/// A small FAT32 volume in an image, with its FAT read.
struct Volume<'a> {
    file: &'a dyn Backing,
    /// Byte offset of cluster 2 in the image.
    data: u64,
    cluster_bytes: u64,
    /// Data clusters.
    clusters: u32,
    root: u32,
    /// The FAT entries of the data clusters (cluster 2 first).
    entries: Vec<u32>,
}

/// True when the boot sector describes FAT32 (no 16-bit FAT size) with
/// fewer clusters than FAT32 has by the specification's count.
pub(crate) fn is_small_fat32(sector: &[u8; boot_sector::SIZE]) -> bool {
    BootSector::parse(sector).is_some_and(|bs| bs.clusters < MIN_FAT32_CLUSTERS)
        && boot_sector::is_fat32(sector)
}

/// Reads the report of the small FAT32 volume whose boot sector is
/// `sector`.
pub(crate) fn read(
    file: &dyn Backing,
    part: &Partition,
    sector: &[u8; boot_sector::SIZE],
) -> io::Result<FatReport> {
    let invalid = |what: &str| io::Error::new(io::ErrorKind::InvalidData, what.to_string());
    let bs = BootSector::parse(sector).ok_or_else(|| invalid("inconsistent FAT32 boot sector"))?;
    let clusters = u32::try_from(bs.clusters).map_err(|_| invalid("too many clusters"))?;
    let cluster_bytes = bs.cluster_bytes();
    let mut fat = vec![0u8; (clusters as usize + 2) * FAT32_ENTRY_SIZE as usize];
    file.read_exact_at(&mut fat, part.start + bs.fat_offset())?;
    let volume = Volume {
        file,
        data: part.start + bs.cluster_offset(2),
        cluster_bytes,
        clusters,
        root: bs.root,
        entries: fat
            .chunks_exact(FAT32_ENTRY_SIZE as usize)
            .skip(2)
            .map(|e| le32(e, 0) & FAT32_ENTRY_MASK)
            .collect(),
    };
    let label = boot_sector::volume_label_32(sector);
    Ok(FatReport {
        fat_type: "FAT32".into(),
        label: String::from_utf8_lossy(label).trim_end().to_string(),
        volume_id: format_volume_id(boot_sector::volume_id_32(sector)),
        size: bs.total * bs.bytes_per_sector,
        cluster_size: u32::try_from(cluster_bytes).map_err(|_| invalid("cluster size"))?,
        clusters,
        free_clusters: volume.entries.iter().filter(|&&e| e == 0).count() as u32,
        efi_loaders: loaders(|path| volume.loader_size(path)),
    })
}

impl Volume<'_> {
    /// The bytes of the chain starting at `first`, each cluster at most
    /// once (a damaged FAT may link in a loop).
    fn chain(&self, first: u32) -> io::Result<Vec<u8>> {
        let mut seen = vec![false; self.clusters as usize];
        let mut out = Vec::new();
        let mut cluster = first;
        while let Some(index) = cluster.checked_sub(2).filter(|&i| i < self.clusters) {
            match seen.get_mut(index as usize) {
                Some(visited) if !*visited => *visited = true,
                _ => break,
            }
            let mut buf = vec![0u8; self.cluster_bytes as usize];
            self.file
                .read_exact_at(&mut buf, self.data + u64::from(index) * self.cluster_bytes)?;
            out.extend_from_slice(&buf);
            cluster = self
                .entries
                .get(index as usize)
                .copied()
                .unwrap_or(FAT32_ENTRY_MASK);
        }
        Ok(out)
    }

    /// The entry named `name` (an 8.3 name, compared without case) in the
    /// directory starting at `dir`: its first cluster, size and whether it
    /// is a directory.
    fn find(&self, dir: u32, name: &str) -> Option<(u32, u64, bool)> {
        let wanted = short_name(name)?;
        let bytes = self.chain(dir).ok()?;
        for entry in bytes.chunks_exact(dir_entry::SIZE) {
            let (first, attr) = (dir_entry::first_byte(entry), dir_entry::attr(entry));
            match first {
                END => break,
                DELETED => continue,
                _ => {}
            }
            if attr == ATTR_LONG_NAME || attr & ATTR_VOLUME_ID != 0 {
                continue;
            }
            if dir_entry::name(entry).eq_ignore_ascii_case(&wanted) {
                let size = dir_entry::file_size(entry);
                let cluster = dir_entry::first_cluster(entry);
                return Some((cluster, u64::from(size), attr & ATTR_DIRECTORY != 0));
            }
        }
        None
    }

    /// Size of the file at `path` (names from the root).
    fn loader_size(&self, path: &[&str]) -> Option<u64> {
        let (file_name, dirs) = path.split_last()?;
        let mut dir = self.root;
        for name in dirs {
            let (cluster, _, true) = self.find(dir, name)? else {
                return None;
            };
            dir = cluster;
        }
        match self.find(dir, file_name)? {
            (_, size, false) => Some(size),
            _ => None,
        }
    }
}

/// `name` as a directory entry stores it: base padded to 8, extension to
/// 3, upper case.
fn short_name(name: &str) -> Option<[u8; NAME_LEN]> {
    let (base, ext) = name.split_once('.').unwrap_or((name, ""));
    if base.len() > 8 || ext.len() > 3 {
        return None;
    }
    let mut out = [b' '; NAME_LEN];
    for (slot, byte) in out.iter_mut().zip(base.bytes()) {
        *slot = byte.to_ascii_uppercase();
    }
    for (slot, byte) in out.iter_mut().skip(8).zip(ext.bytes()) {
        *slot = byte.to_ascii_uppercase();
    }
    Some(out)
}
