//! What a partition is for. It depends on nothing, so errors can name it.

/// What a partition is for.
///
/// # Examples
///
/// ```
/// use blockimg::disk::layout::{BootPartitions, DiskLayout, PartitionRole, PartitionTable};
///
/// # fn main() -> blockimg::Result<()> {
/// let boot = BootPartitions { esp: Some(40 << 20), bios_boot: Some(1 << 20) };
/// let layout = DiskLayout::new(PartitionTable::Gpt, &boot, 128 << 20)?;
/// let roles: Vec<_> = layout.partitions.iter().map(|p| p.role).collect();
/// assert_eq!(roles, [PartitionRole::BiosBoot, PartitionRole::Esp, PartitionRole::Root]);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionRole {
    /// GPT BIOS boot partition: holds GRUB's core.img, no filesystem.
    BiosBoot,
    /// EFI system partition: FAT32 holding the UEFI boot loader.
    Esp,
    /// The root ext4 filesystem.
    Root,
    /// Linux swap space.
    Swap,
    /// Any other partition: an ext4 filesystem or raw space.
    Data,
}

impl PartitionRole {
    /// The GPT partition name written for this role.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::PartitionRole;
    ///
    /// assert_eq!(PartitionRole::Root.gpt_name(), "root");
    /// ```
    pub fn gpt_name(self) -> &'static str {
        match self {
            PartitionRole::BiosBoot => "bios-boot",
            PartitionRole::Esp => "esp",
            PartitionRole::Root => "root",
            PartitionRole::Swap => "swap",
            PartitionRole::Data => "data",
        }
    }

    /// A description for summaries.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::layout::PartitionRole;
    ///
    /// assert_eq!(PartitionRole::Esp.description(), "EFI system (FAT32)");
    /// ```
    pub fn description(self) -> &'static str {
        match self {
            PartitionRole::BiosBoot => "BIOS boot",
            PartitionRole::Esp => "EFI system (FAT32)",
            PartitionRole::Root => "Linux root (ext4)",
            PartitionRole::Swap => "Linux swap",
            PartitionRole::Data => "Linux data",
        }
    }
}
