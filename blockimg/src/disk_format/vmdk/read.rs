//! Reading VMDK sparse extents: stream-optimized (compressed grains behind
//! markers, grain directory in the footer or the header) and monolithic
//! sparse (uncompressed grains).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::path::{Path, PathBuf};

use flate2::{Decompress, FlushDecompress, Status};

use super::{
    corrupt, decode_table, parse_marker, SparseHeader, COMPRESS_DEFLATE, FLAG_MARKERS,
    FLAG_ZERO_GRAIN, GD_AT_END, GRAIN_MARKER_SIZE, MARKER_EOS, MARKER_FOOTER, SECTOR,
    TABLE_ENTRY_SIZE,
};
use crate::disk_format::clustered::{self, Caches, Clustered};
use crate::disk_format::{read_exact, Backing, Format, VirtualDisk};
use crate::error::{Error, Result};

/// A VMDK sparse extent read as the disk it holds. Grain tables are read
/// when needed; the last grain read is kept decompressed.
///
/// # Examples
///
/// ```
/// use blockimg::disk_format::{Format, ImageIdentity, VirtualDisk, VmdkDisk};
/// use blockimg::sink::{Sink, VmdkStream};
///
/// # fn main() -> blockimg::Result<()> {
/// let identity = ImageIdentity { uuid: [1; 16], time: 1_700_000_000 };
/// let mut vmdk = VmdkStream::new(Vec::new(), "d.vmdk".as_ref(), "d.vmdk", 2 << 20, &identity, 1, 6)?;
/// vmdk.write_at(0, &[3; 65536])?;
/// let (bytes, _) = vmdk.finish()?;
///
/// let mut disk = VmdkDisk::open(bytes, "d.vmdk".as_ref())?;
/// assert_eq!(disk.format(), Format::VmdkStream);
/// assert_eq!(disk.data_ranges()?, vec![(0, 65536)]); // one grain
/// let mut buf = [0; 4];
/// disk.read_at(65532, &mut buf)?;
/// assert_eq!(buf, [3; 4]);
/// # Ok(())
/// # }
/// ```
pub struct VmdkDisk<B> {
    extent: Extent<B>,
    caches: Caches,
}

/// The extent's file and its checked grain directory.
struct Extent<B> {
    backing: B,
    path: PathBuf,
    len: u64,
    header: SparseHeader,
    size: u64,
    /// Sector of each grain table (0: none), checked to lie in the file.
    gd: Vec<u32>,
    inflate: Decompress,
}

impl<B: Backing> VmdkDisk<B> {
    /// Opens and checks the VMDK in `backing`: header, footer and markers
    /// when the grain directory is at the end, and the grain directory.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::VmdkDisk;
    ///
    /// // Checked before anything is read: a file that is not a VMDK is refused.
    /// let err = VmdkDisk::open(vec![0u8; 4096], "disk.vmdk".as_ref()).err().expect("refused");
    /// assert!(err.to_string().contains("disk.vmdk"));
    /// ```
    pub fn open(backing: B, path: &Path) -> Result<VmdkDisk<B>> {
        let len = backing.byte_len().map_err(|e| Error::io(path, e))?;
        let mut bytes = [0u8; 512];
        if len < 512 {
            return Err(corrupt(
                path,
                "file size",
                len,
                "too small for a VMDK header",
            ));
        }
        read_exact(&backing, path, &mut bytes, 0)?;
        let mut header = SparseHeader::decode(&bytes, path, "header")?;
        if header.gd_offset == GD_AT_END {
            header = read_footer(&backing, path, len)?;
        }
        let size = header
            .capacity
            .checked_mul(SECTOR)
            .ok_or_else(|| corrupt(path, "header capacity", header.capacity, "too large"))?;
        let entries = header.gd_entries();
        let gd_bytes = entries.checked_mul(TABLE_ENTRY_SIZE);
        let gd_start = header.gd_offset.checked_mul(SECTOR);
        match (gd_start, gd_bytes) {
            (Some(start), Some(n)) if start.checked_add(n).is_some_and(|end| end <= len) => {}
            _ => {
                return Err(corrupt(
                    path,
                    "grain directory offset",
                    format!("sector {}", header.gd_offset),
                    &format!(
                        "a directory of {entries} entries (capacity {} sectors) there \
                         would end past the file's {len} bytes",
                        header.capacity
                    ),
                ))
            }
        }
        let mut raw = vec![0u8; (entries * TABLE_ENTRY_SIZE) as usize];
        read_exact(&backing, path, &mut raw, header.gd_offset * SECTOR)?;
        let gt_bytes = u64::from(header.gtes_per_gt) * TABLE_ENTRY_SIZE;
        let mut gd = Vec::with_capacity(entries as usize);
        for (index, sector) in decode_table(&raw).enumerate() {
            if sector != 0 && u64::from(sector) * SECTOR + gt_bytes > len {
                return Err(corrupt(
                    path,
                    &format!("grain directory entry {index}"),
                    format!("sector {sector}"),
                    &format!("its grain table would end past the file's {len} bytes"),
                ));
            }
            gd.push(sector);
        }
        let extent = Extent {
            backing,
            path: path.to_path_buf(),
            len,
            size,
            gd,
            inflate: Decompress::new(true),
            header,
        };
        Ok(VmdkDisk {
            extent,
            caches: Caches::default(),
        })
    }
}

impl<B: Backing> Clustered for Extent<B> {
    fn path(&self) -> &Path {
        &self.path
    }

    fn disk_size(&self) -> u64 {
        self.size
    }

    fn cluster_size(&self) -> u64 {
        self.header.grain_bytes()
    }

    fn per_table(&self) -> u64 {
        u64::from(self.header.gtes_per_gt)
    }

    fn tables(&self) -> u64 {
        self.gd.len() as u64
    }

    fn has_table(&self, table: u64) -> bool {
        self.gd
            .get(table as usize)
            .is_some_and(|&sector| sector != 0)
    }

    fn read_table(&mut self, table: u64) -> Result<Vec<u64>> {
        let sector = self.gd.get(table as usize).copied().unwrap_or(0);
        let mut raw = vec![0u8; (self.per_table() * TABLE_ENTRY_SIZE) as usize];
        read_exact(
            &self.backing,
            &self.path,
            &mut raw,
            u64::from(sector) * SECTOR,
        )?;
        Ok(decode_table(&raw).map(u64::from).collect())
    }

    fn is_hole(&self, entry: u64) -> bool {
        entry == 0 || (entry == 1 && self.header.flags & FLAG_ZERO_GRAIN != 0)
    }

    fn read_cluster(&mut self, index: u64, entry: u64, out: &mut [u8]) -> Result<()> {
        self.read_grain(index, entry, out)
    }
}

impl<B: Backing> Extent<B> {
    /// Decompresses or reads grain `index`, stored at sector `entry`, into
    /// `data` (one grain).
    fn read_grain(&mut self, index: u64, entry: u64, data: &mut [u8]) -> Result<()> {
        let grain_bytes = self.header.grain_bytes();
        let at = entry * SECTOR;
        let field = || format!("grain table entry of grain {index}");
        if self.header.compress_algorithm != COMPRESS_DEFLATE {
            if at + grain_bytes > self.len {
                return Err(corrupt(
                    &self.path,
                    &field(),
                    format!("sector {entry}"),
                    &format!("the grain would end past the file's {} bytes", self.len),
                ));
            }
            return read_exact(&self.backing, &self.path, data, at);
        }
        let (start, compressed_len) = if self.header.flags & FLAG_MARKERS != 0 {
            let mut marker = [0u8; 16];
            if at + GRAIN_MARKER_SIZE as u64 > self.len {
                return Err(corrupt(
                    &self.path,
                    &field(),
                    format!("sector {entry}"),
                    &format!("points past the file's {} bytes", self.len),
                ));
            }
            read_exact(
                &self.backing,
                &self.path,
                &mut marker[..GRAIN_MARKER_SIZE],
                at,
            )?;
            let (lba, size, _) = parse_marker(&marker);
            if lba != index * self.header.grain_size {
                return Err(corrupt(
                    &self.path,
                    &format!("grain marker at sector {entry} LBA"),
                    lba,
                    &format!(
                        "the grain table puts grain {index} (LBA {}) here",
                        index * self.header.grain_size
                    ),
                ));
            }
            if size == 0 || u64::from(size) > 2 * grain_bytes + 1024 {
                return Err(corrupt(
                    &self.path,
                    &format!("grain marker at sector {entry} size"),
                    size,
                    &format!("expected 1 to {} compressed bytes", 2 * grain_bytes + 1024),
                ));
            }
            (at + GRAIN_MARKER_SIZE as u64, u64::from(size))
        } else {
            (at, (2 * grain_bytes).min(self.len.saturating_sub(at)))
        };
        if start + compressed_len > self.len {
            return Err(corrupt(
                &self.path,
                &format!("grain marker at sector {entry} size"),
                compressed_len,
                &format!("the grain would end past the file's {} bytes", self.len),
            ));
        }
        let mut compressed = vec![0u8; compressed_len as usize];
        read_exact(&self.backing, &self.path, &mut compressed, start)?;
        self.inflate.reset(true);
        let status = self
            .inflate
            .decompress(&compressed, data, FlushDecompress::Finish);
        match status {
            Ok(Status::StreamEnd) => {}
            Ok(_) => {
                return Err(corrupt(
                    &self.path,
                    &format!("compressed grain at sector {entry}"),
                    format!("{compressed_len} bytes"),
                    &format!("does not decompress to at most {grain_bytes} bytes"),
                ))
            }
            Err(e) => {
                return Err(corrupt(
                    &self.path,
                    &format!("compressed grain at sector {entry}"),
                    format!("{compressed_len} bytes"),
                    &format!("invalid deflate data: {e}"),
                ))
            }
        }
        Ok(())
    }
}

/// Reads the footer of a stream-optimized VMDK: a footer marker, the footer
/// (a header copy holding the grain directory offset) and the end-of-stream
/// marker, in the last three sectors.
fn read_footer(backing: &dyn Backing, path: &Path, len: u64) -> Result<SparseHeader> {
    if len < 4 * SECTOR {
        return Err(corrupt(
            path,
            "file size",
            len,
            "the header says the grain directory is in the footer, but the file is too \
             small for a footer",
        ));
    }
    // The footer marker, the footer and the end-of-stream marker.
    const S: usize = SECTOR as usize;
    let mut tail = [0u8; 3 * S];
    read_exact(backing, path, &mut tail, len - 3 * SECTOR)?;
    let mut head = [0u8; 16];
    head.copy_from_slice(&tail[..16]);
    let (_, size, kind) = parse_marker(&head);
    if size != 0 || kind != MARKER_FOOTER {
        return Err(corrupt(
            path,
            "footer marker type",
            kind,
            "expected 3 (footer) three sectors before the end of the file; the stream is \
             truncated or damaged",
        ));
    }
    head.copy_from_slice(&tail[2 * S..2 * S + 16]);
    let (value, size, kind) = parse_marker(&head);
    if value != 0 || size != 0 || kind != MARKER_EOS {
        return Err(corrupt(
            path,
            "end-of-stream marker",
            format!("{value}/{size}/{kind}"),
            "expected an all-zero last sector",
        ));
    }
    let mut footer = [0u8; 512];
    footer.copy_from_slice(&tail[S..2 * S]);
    let header = SparseHeader::decode(&footer, path, "footer")?;
    if header.gd_offset == GD_AT_END {
        return Err(corrupt(
            path,
            "footer grain directory offset",
            format!("0x{GD_AT_END:x}"),
            "the footer must hold the real offset",
        ));
    }
    Ok(header)
}

impl<B: Backing> VirtualDisk for VmdkDisk<B> {
    fn format(&self) -> Format {
        match self.extent.header.compress_algorithm {
            COMPRESS_DEFLATE => Format::VmdkStream,
            _ => Format::VmdkSparse,
        }
    }

    fn size(&self) -> u64 {
        self.extent.size
    }

    fn data_ranges(&mut self) -> Result<Vec<(u64, u64)>> {
        clustered::data_ranges(&mut self.extent, &mut self.caches)
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        clustered::read_at(&mut self.extent, &mut self.caches, offset, buf)
    }
}
