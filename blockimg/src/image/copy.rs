//! A partition that holds a copy of a disk image from the host (a
//! filesystem image made by another tool, say): raw, VHD, VMDK or qcow2,
//! read as the disk it describes, holes kept as holes.

use std::path::{Path, PathBuf};

use crate::disk_format::{self, VirtualDisk};
use crate::error::SourceError;
use crate::error::{Error, Result};
use crate::sink::Sink;

/// Bytes read from the image at a time.
const CHUNK: u64 = 1 << 20;

/// A host image planned into a partition.
///
/// # Examples
///
/// ```
/// use blockimg::image::copy::{image_size, PartitionCopy};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let image = dir.path().join("fs.img"); // a filesystem image made by another tool, say
/// std::fs::write(&image, vec![7u8; 1 << 20])?;
/// // Into a 4 MiB partition at 1 MiB of the disk.
/// let copy = PartitionCopy::plan(&image, 1 << 20, 5 << 20)?;
/// assert_eq!(copy.written_ranges()?, vec![(1 << 20, 1 << 20)]);
/// let mut disk = Vec::new();
/// copy.write(&mut disk, &mut |_| {})?;
/// assert_eq!(disk[(1 << 20)..], vec![7u8; 1 << 20][..]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct PartitionCopy {
    /// Byte offset of the partition in the disk.
    pub start: u64,
    /// Byte offset of the partition's end.
    pub end: u64,
    /// The image.
    pub path: PathBuf,
    /// Size of the disk the image describes, seen when planning.
    pub size: u64,
}

/// Size of the disk the image at `path` describes, in any format
/// [`disk_format::open`] reads.
///
/// # Examples
///
/// ```
/// use blockimg::image::copy::{image_size, PartitionCopy};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let image = dir.path().join("fs.img"); // a filesystem image made by another tool, say
/// std::fs::write(&image, vec![7u8; 1 << 20])?;
/// assert_eq!(image_size(&image)?, 1 << 20); // of the disk it describes, in any format
/// # let _ = PartitionCopy::plan;
/// # Ok(())
/// # }
/// ```
pub fn image_size(path: &Path) -> Result<u64> {
    Ok(disk_format::open(path)?.size())
}

impl PartitionCopy {
    /// Plans the image at `path` into the partition at `start..end`,
    /// refusing an image larger than the partition.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::image::copy::{image_size, PartitionCopy};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let image = dir.path().join("fs.img"); // a filesystem image made by another tool, say
    /// std::fs::write(&image, vec![7u8; 1 << 20])?;
    /// assert_eq!(PartitionCopy::plan(&image, 0, 2 << 20)?.size, 1 << 20);
    /// assert!(PartitionCopy::plan(&image, 0, 512 << 10).is_err()); // larger than the partition
    /// # let _ = image_size;
    /// # Ok(())
    /// # }
    /// ```
    pub fn plan(path: &Path, start: u64, end: u64) -> Result<PartitionCopy> {
        let size = image_size(path)?;
        let room = end - start;
        if size > room {
            return Err(Error::TooSmall {
                what: format!("the partition for {}", path.display()),
                needed: size,
                available: room,
            });
        }
        Ok(PartitionCopy {
            start,
            end,
            path: path.to_path_buf(),
            size,
        })
    }

    /// The image, opened again and checked to describe a disk of the size
    /// it had when planned.
    fn open(&self) -> Result<Box<dyn VirtualDisk>> {
        let disk = disk_format::open(&self.path)?;
        if disk.size() != self.size {
            return Err(Error::from(SourceError::Changed {
                path: self.path.clone(),
                detail: format!("disk size {} -> {}", self.size, disk.size()),
            }));
        }
        Ok(disk)
    }

    /// Byte ranges of the disk this copy fills (the image's data), as
    /// (offset, length) in disk offsets.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::image::copy::{image_size, PartitionCopy};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let image = dir.path().join("fs.img"); // a filesystem image made by another tool, say
    /// std::fs::write(&image, vec![7u8; 1 << 20])?;
    /// let copy = PartitionCopy::plan(&image, 2 << 20, 4 << 20)?;
    /// assert_eq!(copy.written_ranges()?, vec![(2 << 20, 1 << 20)]); // disk offsets
    /// # let _ = image_size;
    /// # Ok(())
    /// # }
    /// ```
    pub fn written_ranges(&self) -> Result<Vec<(u64, u64)>> {
        let ranges = self.open()?.data_ranges()?;
        Ok(ranges
            .into_iter()
            .map(|(offset, len)| (self.start + offset, len))
            .collect())
    }

    /// Writes the image's data into `sink` at the partition's offset, in
    /// ascending order, calling `progress` with the bytes copied so far.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::image::copy::{image_size, PartitionCopy};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let image = dir.path().join("fs.img"); // a filesystem image made by another tool, say
    /// std::fs::write(&image, vec![7u8; 1 << 20])?;
    /// let copy = PartitionCopy::plan(&image, 0, 2 << 20)?;
    /// let (mut disk, mut done) = (Vec::new(), 0);
    /// copy.write(&mut disk, &mut |bytes| done = bytes)?;
    /// assert_eq!((disk.len(), done), (1 << 20, 1 << 20));
    /// # let _ = image_size;
    /// # Ok(())
    /// # }
    /// ```
    pub fn write(&self, sink: &mut dyn Sink, progress: &mut dyn FnMut(u64)) -> Result<()> {
        let mut disk = self.open()?;
        let mut buf = vec![0u8; CHUNK as usize];
        let mut done = 0;
        for (offset, len) in disk.data_ranges()? {
            let end = offset + len;
            let mut at = offset;
            while at < end {
                let n = (end - at).min(CHUNK);
                let chunk = &mut buf[..n as usize];
                disk.read_at(at, chunk)?;
                sink.write_at(self.start + at, chunk)?;
                at += n;
                done += n;
                progress(done);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that records what it is given.
    #[derive(Default)]
    struct Recorder(Vec<(u64, Vec<u8>)>);

    impl Sink for Recorder {
        fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
            self.0.push((offset, data.to_vec()));
            Ok(())
        }
    }

    #[test]
    fn copies_the_data_at_the_partition_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.img");
        let mut bytes = vec![0u8; 3 << 20];
        bytes[5] = 1;
        bytes[(2 << 20) + 7] = 2;
        std::fs::write(&path, &bytes).unwrap();

        let copy = PartitionCopy::plan(&path, 1 << 20, 5 << 20).unwrap();
        let mut sink = Recorder::default();
        let mut last = 0;
        copy.write(&mut sink, &mut |done| last = done).unwrap();
        let mut image = vec![0u8; 5 << 20];
        for (offset, data) in &sink.0 {
            image[*offset as usize..*offset as usize + data.len()].copy_from_slice(data);
        }
        assert_eq!(&image[1 << 20..(1 << 20) + bytes.len()], &bytes[..]);
        assert!(last > 0);
    }

    #[test]
    fn an_image_larger_than_its_partition_or_changed_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("part.img");
        std::fs::write(&path, vec![1u8; 4096]).unwrap();
        let err = PartitionCopy::plan(&path, 0, 2048).unwrap_err();
        assert!(matches!(
            err,
            Error::TooSmall {
                needed: 4096,
                available: 2048,
                ..
            }
        ));

        let copy = PartitionCopy::plan(&path, 0, 8192).unwrap();
        std::fs::write(&path, vec![1u8; 8192]).unwrap();
        let err = copy
            .write(&mut Recorder::default(), &mut |_| {})
            .unwrap_err();
        assert!(err.to_string().contains("4096 -> 8192"), "{err}");
    }
}
