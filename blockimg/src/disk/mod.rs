//! The partitioner: where each partition of a disk goes ([`layout`]), the
//! tables describing them ([`mbr`], [`gpt`]), the FAT32 EFI system
//! partition ([`fat`]), swap headers ([`swap`]), and the sparse in-memory disk ([`memory`]) these
//! small structures are built in before the disk is written.

pub mod fat;
pub mod gpt;
pub mod layout;
pub mod mbr;
pub mod memory;
pub mod swap;

pub use layout::{
    BootPartitions, DiskLayout, Partition, PartitionRole, PartitionSpec, PartitionTable,
    PartitionType,
};
pub use memory::SparseBytes;
