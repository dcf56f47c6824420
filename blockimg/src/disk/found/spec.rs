//! The `IMAGE[:PART]` notation commands use to name a filesystem, and
//! choosing the partition it names.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{partitions, Partition, PartitionKind};
use crate::disk_format::{open_disk_bytes, require_raw, Backing};
use crate::error::{Error, Result};
use crate::error::{Ext4Error, PartitionError};
use crate::ext4::read::Ext4Reader;

/// An image and, optionally, a partition of it: `disk.img` or `disk.img:2`.
///
/// # Examples
///
/// ```
/// use blockimg::disk::found::ImageSpec;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // "disk.img:1" names partition 1; "disk.img" alone the filesystem it holds.
/// let spec = ImageSpec::parse(format!("{}:1", image.display()).as_ref())?;
/// assert_eq!(spec.partition, Some(1));
/// let fs = spec.open_ext4()?;
/// assert!(fs.lookup(b"/etc/hostname").is_ok());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageSpec {
    /// The image file.
    pub path: PathBuf,
    /// The partition asked for, from 1; `None` picks the filesystem.
    pub partition: Option<u32>,
}

impl ImageSpec {
    /// Parses `IMAGE[:PART]`. A name that exists as given is a path even
    /// when it ends in `:N`.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let spec = ImageSpec::parse("disk.img:2".as_ref())?;
    /// assert_eq!((spec.path.to_str(), spec.partition), (Some("disk.img"), Some(2)));
    /// assert_eq!(ImageSpec::parse("disk.img".as_ref())?.partition, None); // the filesystem, wherever it is
    /// # Ok(())
    /// # }
    /// ```
    pub fn parse(spec: &OsStr) -> Result<ImageSpec> {
        let bytes = spec.as_bytes();
        let whole = || ImageSpec {
            path: PathBuf::from(spec),
            partition: None,
        };
        if Path::new(spec).exists() {
            return Ok(whole());
        }
        let Some(colon) = bytes.iter().rposition(|&b| b == b':') else {
            return Ok(whole());
        };
        let Some((path, number)) = bytes.split_at_checked(colon) else {
            return Ok(whole());
        };
        let number = number.get(1..).unwrap_or_default();
        if path.is_empty() || number.is_empty() || !number.iter().all(u8::is_ascii_digit) {
            return Ok(whole());
        }
        let partition = std::str::from_utf8(number)
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| Error::InvalidOption {
                option: "partition".into(),
                reason: format!(
                    "{:?}: partitions are numbered from 1",
                    String::from_utf8_lossy(number)
                ),
            })?;
        Ok(ImageSpec {
            path: PathBuf::from(OsStr::from_bytes(path)),
            partition: Some(partition),
        })
    }

    /// Opens the raw image and finds the partition holding the filesystem
    /// (see the module documentation), for the commands that change it; a
    /// VHD, VMDK or qcow2 image is refused, naming its format.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    /// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let image = dir.path().join("disk.img");
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }).overwrite(false);
    /// # build_image(&tree, &options, &image)?;
    /// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
    /// let (_file, partition) = ImageSpec::parse(image.as_os_str())?.locate()?;
    /// assert_eq!(partition.number, 3); // the Linux partition
    /// # Ok(())
    /// # }
    /// ```
    pub fn locate(&self) -> Result<(File, Partition)> {
        let file = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
        require_raw(&file, &self.path)?;
        let partition = self.choose(&file)?;
        Ok((file, partition))
    }

    /// The partition this names among those of the disk `bytes`.
    fn choose(&self, file: &dyn Backing) -> Result<Partition> {
        let parts = partitions(file, &self.path)?;
        let no_ext4 = |location: String, reason: String| {
            Error::from(Ext4Error::NoExt4 {
                image: self.path.clone(),
                location,
                reason,
            })
        };
        let chosen = match self.partition {
            Some(number) => {
                let part = parts
                    .iter()
                    .find(|p| p.number == number && p.kind != PartitionKind::Whole)
                    .ok_or_else(|| {
                        Error::from(PartitionError::NoSuchPartition {
                            image: self.path.clone(),
                            partition: number,
                            available: describe(&parts),
                        })
                    })?;
                if !Ext4Reader::probe(file, part.start) {
                    return Err(no_ext4(
                        format!("partition {number}"),
                        format!("type {}, no ext4 superblock in it", part.type_name()),
                    ));
                }
                part
            }
            None => {
                let with_ext4: Vec<&Partition> = parts
                    .iter()
                    .filter(|p| Ext4Reader::probe(file, p.start))
                    .collect();
                let first = with_ext4
                    .iter()
                    .find(|p| p.is_linux())
                    .or(with_ext4.first());
                *first.ok_or_else(|| {
                    no_ext4(
                        "the image".into(),
                        format!(
                            "no partition holds an ext4 superblock; partitions: {}",
                            describe(&parts)
                        ),
                    )
                })?
            }
        };
        Ok(chosen.clone())
    }

    /// Opens the ext4 filesystem this names, in a raw, VHD, VMDK or qcow2
    /// image (read-only: changing a filesystem needs a raw image).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    /// # use blockimg::image::{build_image, BootPartitions, DiskSize, ImageOptions, PartitionTable};
    /// # use blockimg::tree::{Metadata, Timestamp, Tree};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let image = dir.path().join("disk.img");
    /// # let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
    /// # let options = ImageOptions::default().size(DiskSize::Exact(64 << 20)).table(PartitionTable::Gpt).ext4(Default::default()).boot_partitions(BootPartitions { esp: Some(33 << 20), bios_boot: Some(1 << 20) }).overwrite(false);
    /// # build_image(&tree, &options, &image)?;
    /// // disk.img: GPT; a BIOS boot partition, an ESP and the ext4 root.
    /// let fs = ImageSpec::parse(image.as_os_str())?.open_ext4()?;
    /// assert!(fs.lookup(b"/lost+found").is_ok());
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_ext4(&self) -> Result<Ext4Reader> {
        let (bytes, _) = open_disk_bytes(&self.path)?;
        let part = self.choose(&*bytes)?;
        Ext4Reader::open_bytes(bytes, part.start, &self.path)
    }
}

/// `1 (0x83), 2 (0xef)`, or `none ...` for a bare filesystem.
fn describe(parts: &[Partition]) -> String {
    if parts.iter().all(|p| p.kind == PartitionKind::Whole) {
        return "none: the image is a bare filesystem".into();
    }
    let list: Vec<String> = parts
        .iter()
        .map(|p| format!("{} ({})", p.number, p.type_name()))
        .collect();
    list.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_split_a_trailing_partition_number() {
        let spec = |s: &str| ImageSpec::parse(OsStr::new(s));
        assert_eq!(
            spec("/no/such/disk.img:2").unwrap(),
            ImageSpec {
                path: "/no/such/disk.img".into(),
                partition: Some(2)
            }
        );
        assert_eq!(spec("/no/such/disk.img").unwrap().partition, None);
        assert_eq!(
            spec("/no/such/a:b").unwrap().path,
            PathBuf::from("/no/such/a:b")
        );
        assert!(spec("/no/such/disk.img:0").is_err());
        assert!(spec("/no/such/disk.img:99999999999").is_err());
    }

    #[test]
    fn an_existing_name_with_a_colon_is_a_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk:1");
        std::fs::write(&path, b"").unwrap();
        let spec = ImageSpec::parse(path.as_os_str()).unwrap();
        assert_eq!((spec.path, spec.partition), (path, None));
    }
}
