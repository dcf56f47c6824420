//! Disks: the partitioner for disks being built (where each partition goes,
//! [`layout`]; the tables describing them, [`mbr`], [`gpt`]; the FAT32 EFI
//! system partition, [`fat`]; swap headers, [`swap`]; the sparse in-memory
//! disk these small structures are built in, [`memory`]), and the
//! partitions and filesystems found in existing images ([`found`]).

pub mod fat;
pub mod found;
pub mod gpt;
pub mod layout;
pub mod mbr;
pub mod memory;
pub mod swap;

pub use found::{
    partitions, read_table, FoundTable, ImageSpec, Partition, PartitionKind, TableKind,
};
pub use layout::{
    BootPartitions, DiskLayout, PartitionRole, PartitionSpec, PartitionTable, PartitionType,
};
pub use memory::SparseBytes;
