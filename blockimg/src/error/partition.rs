//! PartitionError: partitions and partition tables: a layout that cannot be made, a table that cannot be written or read, a partition that is not there.

use std::path::PathBuf;

use super::Corrupt;
use crate::disk::role::PartitionRole;

/// Partitions and partition tables: a layout that cannot be made, a table that cannot be written or read, a partition that is not there.
///
/// # Examples
///
/// ```
/// use blockimg::error::PartitionError;
///
/// let err = blockimg::Error::from(PartitionError::NoSuchPartition {
///     image: "disk.img".into(),
///     partition: 3,
///     available: "1, 2".into(),
/// });
/// assert_eq!(err.to_string(), "disk.img has no partition 3 (partitions: 1, 2)");
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum PartitionError {
    /// A partition that cannot be placed as asked.
    #[error("partition {number} ({}): {field}: {reason}", role.description())]
    Placement {
        /// Its number in the table, from 1.
        number: u32,
        /// What it was to hold.
        role: PartitionRole,
        /// The setting at fault (`size`, `start`, `role`, `type`, `name`,
        /// `uuid`).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A partition table that cannot be written.
    #[error("{table} partition table: {reason}")]
    Table {
        /// The kind of table (MBR, GPT).
        table: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A partition number the disk's table does not have.
    #[error("{image} has no partition {partition} (partitions: {available})")]
    NoSuchPartition {
        /// The disk image.
        image: PathBuf,
        /// The partition asked for, from 1.
        partition: u32,
        /// The partitions it has (`1, 2`, or `none`).
        available: String,
    },
    /// A structure whose field breaks its format's rules.
    #[error(transparent)]
    Corrupt(Box<Corrupt>),
}
