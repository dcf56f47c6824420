//! qcow2: the on-disk structures a reader needs (the header, L1 and L2
//! table entries, compressed cluster descriptors), each field's offset named
//! once and parsed here. The reader (`read.rs`,
//! [`crate::disk_format::Qcow2Disk`]) builds on them; blockimg does not
//! write qcow2.
//!
//! All fields are big-endian.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

pub(crate) mod read;

use std::path::Path;

use crate::bytes::{be32, be64};
use crate::error::{Corrupt, FormatError};
use crate::error::{Error, Result};

/// The magic number a qcow2 image starts with.
pub(crate) const MAGIC: &[u8; 4] = b"QFI\xfb";

// Byte offsets of the header's fields.
/// Magic number, `QFI\xfb`.
const HEADER_MAGIC: usize = 0;
/// Version, 2 or 3.
const HEADER_VERSION: usize = 4;
/// Offset of the backing file's name; 0 for none.
const HEADER_BACKING_FILE_OFFSET: usize = 8;
/// Bits of a cluster's byte address within the cluster.
const HEADER_CLUSTER_BITS: usize = 20;
/// Virtual size in bytes.
const HEADER_SIZE: usize = 24;
/// Encryption method; 0 for none.
const HEADER_CRYPT_METHOD: usize = 32;
/// Entries in the L1 table.
const HEADER_L1_SIZE: usize = 36;
/// Offset of the L1 table.
const HEADER_L1_TABLE_OFFSET: usize = 40;
/// Incompatible feature bits (version 3).
const HEADER_INCOMPATIBLE_FEATURES: usize = 72;
/// Length of the header (version 3).
#[cfg(test)]
const HEADER_LENGTH: usize = 100;

/// Bytes of a version 2 header.
pub(crate) const V2_HEADER_SIZE: usize = 72;
/// Bytes of a version 3 header.
const V3_HEADER_SIZE: usize = 104;
/// Bytes of the header read (at most; a shorter file gives fewer).
pub(crate) const HEADER_READ: usize = 112;

/// Bytes of an L1 or L2 table entry.
pub(crate) const TABLE_ENTRY_SIZE: u64 = 8;
/// Alignment of the L1 table in the file.
pub(crate) const L1_ALIGN: u64 = 512;
/// Bits 9-55 of a table entry: a host offset.
pub(crate) const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// L2 entry flag: the cluster is compressed.
pub(crate) const COMPRESSED: u64 = 1 << 62;
/// L2 entry flag (version 3): the cluster reads as zeros.
pub(crate) const ZERO: u64 = 1;
/// Incompatible features this reader understands: the dirty bit (the
/// refcounts may be stale, which reading does not care about).
const KNOWN_INCOMPATIBLE: u64 = 1;

/// An error naming a field of a qcow2 file and its offending value.
pub(crate) fn corrupt(path: &Path, field: String, value: impl ToString, reason: String) -> Error {
    Error::from(FormatError::Corrupt(Box::new(Corrupt {
        path: path.to_path_buf(),
        format: "qcow2".into(),
        field,
        value: value.to_string(),
        reason,
    })))
}

fn unsupported(path: &Path, reason: &str) -> Error {
    Error::from(FormatError::Unsupported {
        path: path.to_path_buf(),
        reason: format!(
            "qcow2 {reason} cannot be read; convert to raw first (qemu-img convert -O raw)"
        ),
    })
}

/// The header fields the reader uses, checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Header {
    /// Virtual size in bytes.
    pub(crate) size: u64,
    /// Bits of a cluster's size (9 to 21).
    pub(crate) cluster_bits: u32,
    /// Entries in the L1 table.
    pub(crate) l1_size: u64,
    /// Offset of the L1 table.
    pub(crate) l1_offset: u64,
}

impl Header {
    /// Parses and checks the header of `path` (a file of `len` bytes) from
    /// its first bytes `h` (at most [`HEADER_READ`]): magic, version, no
    /// backing file, cluster size, no encryption, and for version 3 the
    /// incompatible features.
    pub(crate) fn decode(h: &[u8], len: u64, path: &Path) -> Result<Header> {
        let magic = h
            .get(HEADER_MAGIC..HEADER_MAGIC + MAGIC.len())
            .unwrap_or_default();
        if magic != MAGIC {
            return Err(corrupt(
                path,
                "magic".into(),
                format!("{magic:02x?}"),
                "expected QFI\\xfb".into(),
            ));
        }
        let version = be32(h, HEADER_VERSION);
        if !(2..=3).contains(&version) {
            return Err(corrupt(
                path,
                "version".into(),
                version,
                "expected 2 or 3".into(),
            ));
        }
        if be64(h, HEADER_BACKING_FILE_OFFSET) != 0 {
            return Err(unsupported(path, "images with a backing file"));
        }
        let cluster_bits = be32(h, HEADER_CLUSTER_BITS);
        if !(9..=21).contains(&cluster_bits) {
            return Err(corrupt(
                path,
                "cluster bits".into(),
                cluster_bits,
                "expected 9 to 21".into(),
            ));
        }
        let size = be64(h, HEADER_SIZE);
        if be32(h, HEADER_CRYPT_METHOD) != 0 {
            return Err(unsupported(path, "encrypted images"));
        }
        if version == 3 {
            if h.len() < V3_HEADER_SIZE {
                return Err(corrupt(
                    path,
                    "file size".into(),
                    len,
                    "too small for a version 3 header".into(),
                ));
            }
            let incompatible = be64(h, HEADER_INCOMPATIBLE_FEATURES);
            if incompatible & !KNOWN_INCOMPATIBLE != 0 {
                return Err(unsupported(
                    path,
                    &format!("images with incompatible features 0x{incompatible:x} (corrupt, external data, zstd or extended L2)"),
                ));
            }
        }
        Ok(Header {
            size,
            cluster_bits,
            l1_size: u64::from(be32(h, HEADER_L1_SIZE)),
            l1_offset: be64(h, HEADER_L1_TABLE_OFFSET),
        })
    }
}

/// The entries of an L1 or L2 table read from disk.
pub(crate) fn decode_table(raw: &[u8]) -> impl Iterator<Item = u64> + '_ {
    raw.chunks_exact(TABLE_ENTRY_SIZE as usize)
        .map(|entry| be64(entry, 0))
}

/// Where the data of a compressed cluster lies, from its L2 entry in an
/// image of `1 << cluster_bits`-byte clusters: its host offset and the
/// 512-byte sectors it spans (counted from the sector holding the offset).
pub(crate) fn compressed_extent(entry: u64, cluster_bits: u32) -> (u64, u64) {
    let shift = 62 - (cluster_bits - 8);
    let offset = entry & ((1u64 << shift) - 1);
    let sectors = ((entry >> shift) & ((1u64 << (cluster_bits - 8)) - 1)) + 1;
    (offset, sectors)
}
