//! VMDK sparse extent structures: the header (and its copy in the footer of
//! a stream-optimized file), markers, and the embedded descriptor.
//!
//! All fields are little-endian. A stream-optimized VMDK is the header, the
//! descriptor, then compressed grains, each grain table behind a marker
//! after its grains, the grain directory behind a marker, a footer marker
//! with the footer (the header with the real grain directory offset) and an
//! end-of-stream marker.

use std::path::Path;

use crate::bytes::{le32, le64};
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

const MAGIC: &[u8; 4] = b"KDMV";

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
        b[0..4].copy_from_slice(MAGIC);
        b[4..8].copy_from_slice(&self.version.to_le_bytes());
        b[8..12].copy_from_slice(&self.flags.to_le_bytes());
        b[12..20].copy_from_slice(&self.capacity.to_le_bytes());
        b[20..28].copy_from_slice(&self.grain_size.to_le_bytes());
        b[28..36].copy_from_slice(&self.descriptor_offset.to_le_bytes());
        b[36..44].copy_from_slice(&self.descriptor_size.to_le_bytes());
        b[44..48].copy_from_slice(&self.gtes_per_gt.to_le_bytes());
        b[48..56].copy_from_slice(&self.rgd_offset.to_le_bytes());
        b[56..64].copy_from_slice(&self.gd_offset.to_le_bytes());
        b[64..72].copy_from_slice(&self.overhead.to_le_bytes());
        b[73..77].copy_from_slice(b"\n \r\n");
        b[77..79].copy_from_slice(&self.compress_algorithm.to_le_bytes());
        b
    }

    /// Reads the header of `path` (or the footer copy of it) and checks the
    /// fields a reader relies on: magic, version, grain size, grain table
    /// size, compression, and the newline bytes that reveal a file damaged
    /// by a text-mode transfer.
    pub fn decode(bytes: &[u8; 512], path: &Path, what: &str) -> Result<SparseHeader> {
        let field = |name: &str| format!("{what} {name}");
        if &bytes[0..4] != MAGIC {
            return Err(corrupt(
                path,
                &field("magic"),
                format!("{:?}", String::from_utf8_lossy(&bytes[0..4])),
                "expected \"KDMV\"",
            ));
        }
        let h = SparseHeader {
            version: le32(bytes, 4),
            flags: le32(bytes, 8),
            capacity: le64(bytes, 12),
            grain_size: le64(bytes, 20),
            descriptor_offset: le64(bytes, 28),
            descriptor_size: le64(bytes, 36),
            gtes_per_gt: le32(bytes, 44),
            rgd_offset: le64(bytes, 48),
            gd_offset: le64(bytes, 56),
            overhead: le64(bytes, 64),
            compress_algorithm: u16::from_le_bytes([bytes[77], bytes[78]]),
        };
        if !(1..=3).contains(&h.version) {
            return Err(corrupt(
                path,
                &field("version"),
                h.version,
                "expected 1, 2 or 3",
            ));
        }
        if h.flags & FLAG_NEWLINE_TEST != 0 && &bytes[73..77] != b"\n \r\n" {
            return Err(corrupt(
                path,
                &field("newline test bytes"),
                format!("{:02x?}", &bytes[73..77]),
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
    b[0..8].copy_from_slice(&sectors.to_le_bytes());
    b[12..16].copy_from_slice(&kind.to_le_bytes());
    b
}

/// Parses a marker sector's start: (value, size, type). A marker with a
/// non-zero size is a grain marker (value = LBA, size = compressed bytes).
pub fn parse_marker(bytes: &[u8; 16]) -> (u64, u32, u32) {
    (le64(bytes, 0), le32(bytes, 8), le32(bytes, 12))
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
