//! Disks: the partitioner for disks being built (where each partition goes,
//! [`layout`]; the FAT32 EFI system partition, [`fat`]; swap headers,
//! [`swap`]), and the partitions and filesystems found in existing images
//! ([`found`]). The MBR and GPT writers and the sparse in-memory disk these
//! small structures are built in are internal to the crate.

pub mod fat;
pub mod found;
pub(crate) mod gpt;
pub mod layout;
pub(crate) mod mbr;
pub(crate) mod memory;
pub mod swap;

pub use found::{
    partitions, read_table, FoundTable, ImageSpec, Partition, PartitionKind, TableKind,
};
pub use layout::{
    BootPartitions, DiskLayout, PartitionRole, PartitionSpec, PartitionTable, PartitionType,
};
pub(crate) use memory::SparseBytes;
