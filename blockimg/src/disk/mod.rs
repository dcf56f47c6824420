//! Disks: the partitioner for disks being built (where each partition goes,
//! [`layout`]; the FAT32 EFI system partition, [`fat`], which also reads FAT
//! volumes for `inspect`; swap headers, [`swap`]), and the partitions and
//! filesystems found in existing images ([`found`]). The MBR and GPT writers
//! and the sparse in-memory disk these small structures are built in are
//! internal to the crate.
//!
//! # Example
//!
//! ```
//! use blockimg::disk::layout::{DiskLayout, PartitionRole, PartitionSpec, PartitionTable};
//! use blockimg::disk::{partitions, ImageSpec};
//! use blockimg::image::{plan_partitions, PartitionContent};
//! use blockimg::tree::{Metadata, Timestamp, Tree};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // Lay out a disk: 16 MiB of swap, then the root.
//! let specs = [PartitionSpec::new(PartitionRole::Swap, Some(16 << 20)), PartitionSpec::new(PartitionRole::Root, None)];
//! let layout = DiskLayout::plan(PartitionTable::Mbr, 64 << 20, &specs)?;
//! let tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
//! let contents = vec![
//!     PartitionContent::Swap { uuid: [1; 16], label: String::new() },
//!     PartitionContent::Ext4 { tree: &tree, options: Default::default() },
//! ];
//! let dir = tempfile::tempdir()?;
//! let image = dir.path().join("disk.img");
//! let disk = plan_partitions(layout, contents)?;
//! let mut sink = blockimg::sink::SparseFile::create(&image, false)?;
//! disk.write_to(&mut sink)?;
//! sink.finish(disk.disk_size())?;
//!
//! // Find them again.
//! let found = partitions(&std::fs::File::open(&image)?, &image)?;
//! assert_eq!(found.iter().map(|p| p.type_name()).collect::<Vec<_>>(), ["0x82", "0x83"]);
//! assert_eq!(ImageSpec::parse(image.as_os_str())?.locate()?.1.number, 2); // the ext4 one
//! # Ok(())
//! # }
//! ```

pub mod fat;
pub mod found;
pub(crate) mod gpt;
pub mod layout;
pub(crate) mod mbr;
pub(crate) mod memory;
pub(crate) mod role;
pub mod swap;

pub use crate::error::PartitionError;
pub use found::{
    partitions, read_table, FoundTable, ImageSpec, Partition, PartitionKind, TableKind,
};
pub use layout::{
    BootPartitions, DiskLayout, PartitionRole, PartitionSpec, PartitionTable, PartitionType,
};
pub(crate) use memory::SparseBytes;
