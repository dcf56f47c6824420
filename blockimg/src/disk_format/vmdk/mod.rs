//! VMDK sparse extents: the on-disk structures (the header and its copy in
//! the footer of a stream-optimized file, markers, grain directory and grain
//! table entries, the embedded descriptor), each field's offset named once
//! and encoded and parsed here. The reader (`read.rs`,
//! [`crate::disk_format::VmdkDisk`]) and the stream-optimized writer
//! (`write.rs`, [`crate::sink::VmdkStream`], compressing on every core with
//! `deflate_pool.rs`) build on them.
//!
//! All fields are little-endian. A stream-optimized VMDK is the header, the
//! descriptor, then compressed grains, each grain table behind a marker
//! after its grains, the grain directory behind a marker, a footer marker
//! with the footer (the header with the real grain directory offset) and an
//! end-of-stream marker.

mod deflate_pool;
pub(crate) mod read;
pub(crate) mod write;

use std::path::Path;

use crate::bytes::{le16, le32, le64};
use crate::error::{Corrupt, FormatError};
use crate::error::{Error, Result};

/// Bytes per sector; VMDK counts everything in sectors.
pub const SECTOR: u64 = 512;
/// Sectors per grain written by blockimg (64 KiB grains).
pub const GRAIN_SECTORS: u64 = 128;
/// Grain table entries per grain table written by blockimg.
pub const GTES_PER_GT: u32 = 512;
/// Sector of the embedded descriptor.
pub const DESCRIPTOR_OFFSET: u64 = 1;
/// Sectors reserved for the embedded descriptor.
pub const DESCRIPTOR_SECTORS: u64 = 20;
/// Sector of the first grain: what VMware and QEMU use as the overhead of a
/// stream-optimized extent.
pub const OVERHEAD_SECTORS: u64 = 128;
/// The grain directory offset that means "in the footer".
pub const GD_AT_END: u64 = u64::MAX;

/// Flag: the newline-detection bytes are valid.
pub const FLAG_NEWLINE_TEST: u32 = 1;
/// Flag: grain table entry 1 means a grain of zeros.
pub const FLAG_ZERO_GRAIN: u32 = 1 << 2;
/// Flag: grains are compressed.
pub const FLAG_COMPRESSED: u32 = 1 << 16;
/// Flag: grains and metadata are preceded by markers.
pub const FLAG_MARKERS: u32 = 1 << 17;

/// Compression algorithm: none.
pub const COMPRESS_NONE: u16 = 0;
/// Compression algorithm: deflate (zlib-wrapped).
pub const COMPRESS_DEFLATE: u16 = 1;

/// Marker type: end of stream.
pub const MARKER_EOS: u32 = 0;
/// Marker type: a grain table follows.
pub const MARKER_GT: u32 = 1;
/// Marker type: the grain directory follows.
pub const MARKER_GD: u32 = 2;
/// Marker type: the footer follows.
pub const MARKER_FOOTER: u32 = 3;
/// Bytes in front of a compressed grain's data: its LBA and length.
pub const GRAIN_MARKER_SIZE: usize = 12;
/// Bytes of a grain directory or grain table entry: a sector number.
pub const TABLE_ENTRY_SIZE: u64 = 4;

/// The magic number a sparse extent starts with.
pub(crate) const MAGIC: &[u8; 4] = b"KDMV";

// Byte offsets of the sparse extent header's fields.
/// Magic number, `KDMV`.
const HEADER_MAGIC: usize = 0;
const HEADER_VERSION: usize = 4;
const HEADER_FLAGS: usize = 8;
const HEADER_CAPACITY: usize = 12;
const HEADER_GRAIN_SIZE: usize = 20;
const HEADER_DESCRIPTOR_OFFSET: usize = 28;
const HEADER_DESCRIPTOR_SIZE: usize = 36;
const HEADER_GTES_PER_GT: usize = 44;
const HEADER_RGD_OFFSET: usize = 48;
const HEADER_GD_OFFSET: usize = 56;
const HEADER_OVERHEAD: usize = 64;
/// The newline-detection bytes (single end-of-line, non end-of-line,
/// double end-of-line), four bytes.
const HEADER_NEWLINE_TEST: usize = 73;
const HEADER_COMPRESS_ALGORITHM: usize = 77;
/// What the newline-detection bytes hold in an undamaged file.
const NEWLINE_TEST: &[u8; 4] = b"\n \r\n";

// Byte offsets of a marker's fields.
/// The value: the LBA of a grain, or the sectors of metadata that follow.
const MARKER_FIELD_VALUE: usize = 0;
/// Bytes of compressed data that follow (grain markers only; else 0).
const MARKER_FIELD_SIZE: usize = 8;
/// The `MARKER_*` type (metadata markers only).
const MARKER_FIELD_TYPE: usize = 12;

/// Puts `value` into `bytes` at `at`.
fn put(bytes: &mut [u8], at: usize, value: &[u8]) {
    bytes[at..at + value.len()].copy_from_slice(value);
}

/// An error naming a field of a VMDK file and its offending value.
pub fn corrupt(path: &Path, field: &str, value: impl ToString, reason: &str) -> Error {
    Error::from(FormatError::Corrupt(Box::new(Corrupt {
        path: path.to_path_buf(),
        format: "VMDK".into(),
        field: field.into(),
        value: value.to_string(),
        reason: reason.into(),
    })))
}

/// The sparse extent header (`SparseExtentHeader`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SparseHeader {
    /// Format version (1, 2 or 3).
    pub version: u32,
    /// `FLAG_*` bits.
    pub flags: u32,
    /// Virtual size in sectors.
    pub capacity: u64,
    /// Sectors per grain.
    pub grain_size: u64,
    /// Sector of the embedded descriptor (0 when there is none).
    pub descriptor_offset: u64,
    /// Sectors of the embedded descriptor.
    pub descriptor_size: u64,
    /// Entries per grain table.
    pub gtes_per_gt: u32,
    /// Sector of the redundant grain directory.
    pub rgd_offset: u64,
    /// Sector of the grain directory, or [`GD_AT_END`].
    pub gd_offset: u64,
    /// Sectors before the first grain.
    pub overhead: u64,
    /// Compression algorithm of the grains.
    pub compress_algorithm: u16,
}

impl SparseHeader {
    /// The header of a stream-optimized extent of `capacity` sectors, with
    /// the grain directory at `gd_offset` (or [`GD_AT_END`]).
    pub fn stream_optimized(capacity: u64, gd_offset: u64) -> SparseHeader {
        SparseHeader {
            version: 3,
            flags: FLAG_NEWLINE_TEST | FLAG_COMPRESSED | FLAG_MARKERS,
            capacity,
            grain_size: GRAIN_SECTORS,
            descriptor_offset: DESCRIPTOR_OFFSET,
            descriptor_size: DESCRIPTOR_SECTORS,
            gtes_per_gt: GTES_PER_GT,
            rgd_offset: 0,
            gd_offset,
            overhead: OVERHEAD_SECTORS,
            compress_algorithm: COMPRESS_DEFLATE,
        }
    }

    /// The header's 512 bytes.
    pub fn encode(&self) -> [u8; 512] {
        let mut b = [0u8; 512];
        put(&mut b, HEADER_MAGIC, MAGIC);
        put(&mut b, HEADER_VERSION, &self.version.to_le_bytes());
        put(&mut b, HEADER_FLAGS, &self.flags.to_le_bytes());
        put(&mut b, HEADER_CAPACITY, &self.capacity.to_le_bytes());
        put(&mut b, HEADER_GRAIN_SIZE, &self.grain_size.to_le_bytes());
        put(
            &mut b,
            HEADER_DESCRIPTOR_OFFSET,
            &self.descriptor_offset.to_le_bytes(),
        );
        put(
            &mut b,
            HEADER_DESCRIPTOR_SIZE,
            &self.descriptor_size.to_le_bytes(),
        );
        put(&mut b, HEADER_GTES_PER_GT, &self.gtes_per_gt.to_le_bytes());
        put(&mut b, HEADER_RGD_OFFSET, &self.rgd_offset.to_le_bytes());
        put(&mut b, HEADER_GD_OFFSET, &self.gd_offset.to_le_bytes());
        put(&mut b, HEADER_OVERHEAD, &self.overhead.to_le_bytes());
        put(&mut b, HEADER_NEWLINE_TEST, NEWLINE_TEST);
        put(
            &mut b,
            HEADER_COMPRESS_ALGORITHM,
            &self.compress_algorithm.to_le_bytes(),
        );
        b
    }

    /// Reads the header of `path` (or the footer copy of it) and checks the
    /// fields a reader relies on: magic, version, grain size, grain table
    /// size, compression, and the newline bytes that reveal a file damaged
    /// by a text-mode transfer.
    pub fn decode(bytes: &[u8; 512], path: &Path, what: &str) -> Result<SparseHeader> {
        let field = |name: &str| format!("{what} {name}");
        let magic = &bytes[HEADER_MAGIC..HEADER_MAGIC + MAGIC.len()];
        if magic != MAGIC {
            return Err(corrupt(
                path,
                &field("magic"),
                format!("{:?}", String::from_utf8_lossy(magic)),
                "expected \"KDMV\"",
            ));
        }
        let h = SparseHeader {
            version: le32(bytes, HEADER_VERSION),
            flags: le32(bytes, HEADER_FLAGS),
            capacity: le64(bytes, HEADER_CAPACITY),
            grain_size: le64(bytes, HEADER_GRAIN_SIZE),
            descriptor_offset: le64(bytes, HEADER_DESCRIPTOR_OFFSET),
            descriptor_size: le64(bytes, HEADER_DESCRIPTOR_SIZE),
            gtes_per_gt: le32(bytes, HEADER_GTES_PER_GT),
            rgd_offset: le64(bytes, HEADER_RGD_OFFSET),
            gd_offset: le64(bytes, HEADER_GD_OFFSET),
            overhead: le64(bytes, HEADER_OVERHEAD),
            compress_algorithm: le16(bytes, HEADER_COMPRESS_ALGORITHM),
        };
        if !(1..=3).contains(&h.version) {
            return Err(corrupt(
                path,
                &field("version"),
                h.version,
                "expected 1, 2 or 3",
            ));
        }
        let newline_test = &bytes[HEADER_NEWLINE_TEST..HEADER_NEWLINE_TEST + NEWLINE_TEST.len()];
        if h.flags & FLAG_NEWLINE_TEST != 0 && newline_test != NEWLINE_TEST {
            return Err(corrupt(
                path,
                &field("newline test bytes"),
                format!("{newline_test:02x?}"),
                "expected 0a 20 0d 0a; the file was damaged by a text-mode transfer",
            ));
        }
        if !h.grain_size.is_power_of_two() || !(8..=2048).contains(&h.grain_size) {
            return Err(corrupt(
                path,
                &field("grain size"),
                h.grain_size,
                "expected a power of two from 8 to 2048 sectors",
            ));
        }
        if !(1..=4096).contains(&h.gtes_per_gt) {
            return Err(corrupt(
                path,
                &field("grain table entries"),
                h.gtes_per_gt,
                "expected 1 to 4096 entries per grain table",
            ));
        }
        match h.compress_algorithm {
            COMPRESS_NONE | COMPRESS_DEFLATE => {}
            other => {
                return Err(corrupt(
                    path,
                    &field("compression algorithm"),
                    other,
                    "expected 0 (none) or 1 (deflate)",
                ))
            }
        }
        Ok(h)
    }

    /// Bytes covered by one grain.
    pub fn grain_bytes(&self) -> u64 {
        self.grain_size * SECTOR
    }

    /// Entries in the grain directory.
    pub fn gd_entries(&self) -> u64 {
        self.capacity
            .div_ceil(u64::from(self.gtes_per_gt) * self.grain_size)
    }
}

/// A metadata marker sector: `sectors` of metadata of `kind` follow it.
pub fn marker(sectors: u64, kind: u32) -> [u8; 512] {
    let mut b = [0u8; 512];
    put(&mut b, MARKER_FIELD_VALUE, &sectors.to_le_bytes());
    put(&mut b, MARKER_FIELD_TYPE, &kind.to_le_bytes());
    b
}

/// The marker in front of a compressed grain: the grain's first sector
/// (`lba`) and the `size` in bytes of the compressed data that follows.
pub fn grain_marker(lba: u64, size: u32) -> [u8; GRAIN_MARKER_SIZE] {
    let mut b = [0u8; GRAIN_MARKER_SIZE];
    put(&mut b, MARKER_FIELD_VALUE, &lba.to_le_bytes());
    put(&mut b, MARKER_FIELD_SIZE, &size.to_le_bytes());
    b
}

/// Parses a marker sector's start: (value, size, type). A marker with a
/// non-zero size is a grain marker (value = LBA, size = compressed bytes).
pub fn parse_marker(bytes: &[u8; 16]) -> (u64, u32, u32) {
    (
        le64(bytes, MARKER_FIELD_VALUE),
        le32(bytes, MARKER_FIELD_SIZE),
        le32(bytes, MARKER_FIELD_TYPE),
    )
}

/// A grain directory or grain table as stored: each entry a little-endian
/// sector number, padded with zeros to a whole sector.
pub fn encode_table(entries: &[u32]) -> Vec<u8> {
    let mut bytes: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
    bytes.resize((bytes.len() as u64).next_multiple_of(SECTOR) as usize, 0);
    bytes
}

/// The entries of a grain directory or grain table read from disk.
pub fn decode_table(raw: &[u8]) -> impl Iterator<Item = u32> + '_ {
    raw.chunks_exact(TABLE_ENTRY_SIZE as usize)
        .map(|entry| le32(entry, 0))
}

/// The embedded descriptor of a stream-optimized extent of `capacity`
/// sectors stored in a file named `file_name`, padded to
/// [`DESCRIPTOR_SECTORS`].
pub fn descriptor(capacity: u64, cid: u32, file_name: &str) -> Vec<u8> {
    let name: String = file_name
        .chars()
        .map(|c| if c == '"' || c.is_control() { '_' } else { c })
        .collect();
    let cylinders = (capacity / (16 * 63)).clamp(1, 16383);
    let text = format!(
        "# Disk DescriptorFile\n\
         version=1\n\
         CID={cid:08x}\n\
         parentCID=ffffffff\n\
         createType=\"streamOptimized\"\n\
         \n\
         # Extent description\n\
         RW {capacity} SPARSE \"{name}\"\n\
         \n\
         # The Disk Data Base\n\
         #DDB\n\
         \n\
         ddb.virtualHWVersion = \"4\"\n\
         ddb.geometry.cylinders = \"{cylinders}\"\n\
         ddb.geometry.heads = \"16\"\n\
         ddb.geometry.sectors = \"63\"\n\
         ddb.adapterType = \"lsilogic\"\n"
    );
    let mut bytes = text.into_bytes();
    bytes.resize((DESCRIPTOR_SECTORS * SECTOR) as usize, 0);
    bytes
}

/// The value of `key` in descriptor text (`key="value"` or `key = "value"`),
/// for the tests that read back what [`descriptor`] wrote.
#[cfg(test)]
fn descriptor_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = SparseHeader::stream_optimized(19532, GD_AT_END);
        let bytes = h.encode();
        assert_eq!(&bytes[0..4], b"KDMV");
        assert_eq!(
            SparseHeader::decode(&bytes, Path::new("x"), "header").unwrap(),
            h
        );
        assert_eq!(h.gd_entries(), 1);
    }

    #[test]
    fn damaged_headers_name_the_field() {
        let mut bytes = SparseHeader::stream_optimized(100, GD_AT_END).encode();
        bytes[20] = 3;
        let err = SparseHeader::decode(&bytes, Path::new("d.vmdk"), "header")
            .unwrap_err()
            .to_string();
        assert!(err.contains("d.vmdk") && err.contains("grain size") && err.contains('3'));
        let mut bytes = SparseHeader::stream_optimized(100, GD_AT_END).encode();
        bytes[75] = b'\n';
        let err = SparseHeader::decode(&bytes, Path::new("d.vmdk"), "footer")
            .unwrap_err()
            .to_string();
        assert!(err.contains("footer newline"), "{err}");
    }

    #[test]
    fn descriptor_names_the_type_and_size() {
        let d = descriptor(2048, 0x1234, "a\"b.vmdk");
        assert_eq!(d.len(), 10240);
        let text = String::from_utf8_lossy(&d);
        let text = text.trim_end_matches('\0');
        assert_eq!(
            descriptor_value(text, "createType"),
            Some("streamOptimized")
        );
        assert_eq!(descriptor_value(text, "CID"), Some("00001234"));
        assert!(text.contains("RW 2048 SPARSE \"a_b.vmdk\""));
    }
}
