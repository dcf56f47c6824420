//! Filesystem geometry: how many blocks, groups and inodes, and where each
//! group's superblock backup lives. Everything here follows from the size,
//! the block size and the number of inodes the tree needs.

use crate::error::TreeError;
use crate::error::{Error, Result};

/// Bytes per on-disk inode.
pub const INODE_SIZE: u32 = 256;
/// Bytes per group descriptor (64bit feature).
pub const DESC_SIZE: u32 = 64;
/// Groups per flex group (`2^LOG_GROUPS_PER_FLEX`).
pub const LOG_GROUPS_PER_FLEX: u32 = 4;
/// First inode number not reserved by the filesystem.
pub const FIRST_INO: u32 = 11;
/// Smallest filesystem, in blocks, that gets a journal (as mke2fs).
const MIN_JOURNAL_FS_BLOCKS: u64 = 2048;

/// The numbers that fix the filesystem's layout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    /// Block size in bytes.
    pub block_size: u32,
    /// Blocks in the filesystem.
    pub blocks_count: u64,
    /// 1 for 1 KiB blocks (block 0 is the boot block), else 0.
    pub first_data_block: u64,
    /// Blocks per group.
    pub blocks_per_group: u32,
    /// Number of block groups.
    pub groups: u32,
    /// Inodes per group.
    pub inodes_per_group: u32,
    /// Blocks of inode table per group.
    pub inode_table_blocks: u32,
    /// Blocks holding the group descriptor table.
    pub gdt_blocks: u32,
    /// Blocks reserved after each descriptor table copy for online growth
    /// (the resize inode's blocks).
    pub reserved_gdt_blocks: u32,
    /// Blocks of the journal (0 for none).
    pub journal_blocks: u32,
}

impl Geometry {
    /// Works out the geometry for a filesystem of `size_bytes`, holding at
    /// least `min_inodes` inodes, with one inode per `inode_ratio` bytes
    /// (`None`: mke2fs's ratio for the size, [`default_inode_ratio`]), and
    /// at most 2^32 - 1 inodes.
    pub fn new(
        size_bytes: u64,
        block_size: u32,
        inode_ratio: Option<u64>,
        min_inodes: u64,
        journal: bool,
    ) -> Result<Geometry> {
        if !matches!(block_size, 1024 | 2048 | 4096) {
            return Err(Error::InvalidOption {
                option: "block size".into(),
                reason: format!("{block_size} is not one of 1024, 2048, 4096"),
            });
        }
        let bs = u64::from(block_size);
        let first_data_block = u64::from(block_size == 1024);
        let blocks_per_group = block_size * 8;
        let bpg = u64::from(blocks_per_group);
        let max_blocks = 1u64 << 48;
        let mut blocks_count = (size_bytes / bs).min(max_blocks);
        let min_blocks = 64;
        if blocks_count < min_blocks {
            return Err(Error::TooSmall {
                what: "an ext4 filesystem".into(),
                needed: min_blocks * bs,
                available: size_bytes,
            });
        }
        let mut groups = (blocks_count - first_data_block).div_ceil(bpg);
        let gdt_blocks_for = |groups: u64| (groups * u64::from(DESC_SIZE)).div_ceil(bs);
        // A last group too small to be useful is dropped, as mke2fs does.
        let rem = (blocks_count - first_data_block) % bpg;
        if groups > 1 && rem != 0 {
            let last = groups - 1;
            let overhead = if has_super(last as u32) {
                let gdt = gdt_blocks_for(groups);
                let rsv =
                    reserved_gdt_blocks(blocks_count, first_data_block, block_size, gdt as u32);
                1 + gdt + u64::from(rsv)
            } else {
                0
            };
            if rem < overhead + 50 {
                blocks_count -= rem;
                groups -= 1;
            }
        }
        let groups_u32 = u32::try_from(groups).map_err(|_| Error::TooLarge {
            what: "filesystem".into(),
            size: size_bytes,
            limit: u64::from(u32::MAX) * bpg * bs,
        })?;
        // Each group descriptor table copy (after its superblock) lies
        // within one group: without meta_bg, which blockimg does not write,
        // that bounds the number of groups.
        let gdt_blocks = gdt_blocks_for(groups);
        let reserved_gdt_blocks = reserved_gdt_blocks(
            blocks_count,
            first_data_block,
            block_size,
            gdt_blocks as u32,
        );
        if 1 + gdt_blocks + u64::from(reserved_gdt_blocks) > bpg {
            let most_groups = (bpg - 1 - bs / 4) * (bs / u64::from(DESC_SIZE));
            return Err(Error::InvalidOption {
                option: "block size".into(),
                reason: format!(
                    "with {block_size}-byte blocks a filesystem holds at most {} bytes (its group descriptors must fit in one block group), and this one would have {size_bytes}; use a larger block size",
                    most_groups * bpg * bs
                ),
            });
        }
        // Inodes per group: a multiple of what fills the table's blocks
        // and of 8 (the bitmap's bytes), both powers of two.
        let ipg_step = u64::from((block_size / INODE_SIZE).max(8));
        let inode_ratio = inode_ratio.unwrap_or_else(|| default_inode_ratio(blocks_count * bs));
        let by_ratio = (blocks_count * bs / inode_ratio.max(1024)).div_ceil(groups);
        let by_need = min_inodes.div_ceil(groups);
        let per_group_cap = u64::from(blocks_per_group).min(65536 - ipg_step) / ipg_step * ipg_step;
        let max_ipg = per_group_cap.min(u64::from(u32::MAX) / groups / ipg_step * ipg_step);
        let ipg = by_ratio.max(by_need).max(16).div_ceil(ipg_step) * ipg_step;
        if by_need > max_ipg {
            if min_inodes > u64::from(u32::MAX) {
                return Err(Error::from(TreeError::TooManyNodes { count: min_inodes }));
            }
            return Err(Error::TooSmall {
                what: format!("{min_inodes} inodes"),
                needed: min_inodes.div_ceil(per_group_cap) * bpg * bs,
                available: size_bytes,
            });
        }
        let inodes_per_group = ipg.min(max_ipg) as u32;
        let inode_table_blocks = (inodes_per_group * INODE_SIZE).div_ceil(block_size);
        let journal_blocks = if journal && blocks_count >= MIN_JOURNAL_FS_BLOCKS {
            default_journal_blocks(blocks_count)
        } else {
            0
        };
        let gdt_blocks = gdt_blocks as u32;
        Ok(Geometry {
            block_size,
            blocks_count,
            first_data_block,
            blocks_per_group,
            groups: groups_u32,
            inodes_per_group,
            inode_table_blocks,
            gdt_blocks,
            reserved_gdt_blocks,
            journal_blocks,
        })
    }

    /// Total inodes.
    pub fn inodes_count(&self) -> u32 {
        self.inodes_per_group * self.groups
    }

    /// Number of groups in one flex group.
    pub fn groups_per_flex(&self) -> u32 {
        1 << LOG_GROUPS_PER_FLEX
    }

    /// Bytes in one block, as u64.
    pub fn bs(&self) -> u64 {
        u64::from(self.block_size)
    }
}

/// Descriptor blocks to reserve so the filesystem can grow online to 1024
/// times its size (or 2^32 blocks), as mke2fs computes them; at most one
/// indirect block's worth.
fn reserved_gdt_blocks(
    blocks: u64,
    first_data_block: u64,
    block_size: u32,
    gdt_blocks: u32,
) -> u32 {
    let max_blocks: u64 = if blocks < u64::from(u32::MAX) / 1024 {
        blocks * 1024
    } else {
        u64::from(u32::MAX)
    };
    let groups = (max_blocks - first_data_block).div_ceil(u64::from(block_size) * 8);
    let per_block = u64::from(block_size / DESC_SIZE);
    let wanted = groups
        .div_ceil(per_block)
        .saturating_sub(u64::from(gdt_blocks));
    wanted.min(u64::from(block_size / 4)) as u32
}

impl GroupLayout for Geometry {
    fn first_data_block(&self) -> u64 {
        self.first_data_block
    }

    fn blocks_per_group(&self) -> u32 {
        self.blocks_per_group
    }

    fn blocks_count(&self) -> u64 {
        self.blocks_count
    }

    fn descriptor_blocks(&self) -> u64 {
        u64::from(self.gdt_blocks) + u64::from(self.reserved_gdt_blocks)
    }
}

/// Where the block groups of a filesystem lie, from a few superblock
/// figures: shared by the planner's [`Geometry`] and an in-place update's.
pub(crate) trait GroupLayout {
    /// `s_first_data_block`.
    fn first_data_block(&self) -> u64;
    /// `s_blocks_per_group`.
    fn blocks_per_group(&self) -> u32;
    /// Blocks in the filesystem.
    fn blocks_count(&self) -> u64;
    /// Blocks of the group descriptor table and its reserve after each
    /// superblock copy.
    fn descriptor_blocks(&self) -> u64;

    /// First block of `group`.
    fn group_first_block(&self, group: u32) -> u64 {
        self.first_data_block() + u64::from(group) * u64::from(self.blocks_per_group())
    }

    /// Number of blocks in `group` (the last group may be short).
    fn group_len(&self, group: u32) -> u64 {
        let start = self.group_first_block(group);
        (self.blocks_count() - start).min(u64::from(self.blocks_per_group()))
    }

    /// Group holding `block`.
    fn group_of(&self, block: u64) -> u32 {
        ((block - self.first_data_block()) / u64::from(self.blocks_per_group())) as u32
    }

    /// Blocks at the start of `group` taken by a superblock backup and the
    /// group descriptor table (0 when the group has no backup).
    fn backup_blocks(&self, group: u32) -> u64 {
        if has_super(group) {
            1 + self.descriptor_blocks()
        } else {
            0
        }
    }
}

/// Whether `group` carries a superblock backup under sparse_super: groups
/// 0 and 1 and the powers of 3, 5 and 7.
pub fn has_super(group: u32) -> bool {
    if group <= 1 {
        return true;
    }
    [3u32, 5, 7].iter().any(|&base| is_power_of(group, base))
}

/// The groups after group 0 that carry a superblock backup (1 and the
/// powers of 3, 5 and 7 below `groups`), ascending: found without looking
/// at every group.
pub fn backup_groups(groups: u32) -> Vec<u32> {
    let mut found: Vec<u32> = [3u32, 5, 7]
        .iter()
        .flat_map(|&base| std::iter::successors(Some(base), move |&g| g.checked_mul(base)))
        .chain([1])
        .filter(|&g| g < groups)
        .collect();
    found.sort_unstable();
    found
}

fn is_power_of(mut n: u32, base: u32) -> bool {
    while n % base == 0 {
        n /= base;
    }
    n == 1
}

/// Bytes per inode mke2fs chooses for a filesystem of `size_bytes` (its
/// `default`, `big` and `huge` types; blockimg keeps the default ratio for
/// small filesystems, whose block size it does not change either).
pub fn default_inode_ratio(size_bytes: u64) -> u64 {
    match size_bytes {
        s if s < 4 << 40 => 16384,
        s if s < 16 << 40 => 32768,
        _ => 65536,
    }
}

/// Journal size in blocks for a filesystem of `blocks` blocks, following
/// mke2fs's defaults.
pub fn default_journal_blocks(blocks: u64) -> u32 {
    match blocks {
        b if b < 32768 => 1024,
        b if b < 256 * 1024 => 4096,
        b if b < 512 * 1024 => 8192,
        b if b < 4096 * 1024 => 16384,
        b if b < 8192 * 1024 => 32768,
        b if b < 16384 * 1024 => 65536,
        b if b < 32768 * 1024 => 131072,
        _ => 262144,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_follow_mke2fs_size_types_and_stop_at_2_pow_32() {
        assert_eq!(default_inode_ratio((4 << 40) - 1), 16384);
        assert_eq!(default_inode_ratio(4 << 40), 32768);
        assert_eq!(default_inode_ratio(16 << 40), 65536);
        let huge = Geometry::new(200 << 40, 4096, None, 0, true).unwrap();
        assert_eq!(u64::from(huge.inodes_count()), (200u64 << 40) / 65536);
        // A ratio that asks for more than 2^32 - 1 inodes gets the most
        // there can be.
        let capped = Geometry::new(200 << 40, 4096, Some(16384), 0, true).unwrap();
        assert!(
            u64::from(capped.inodes_per_group) * u64::from(capped.groups) <= u64::from(u32::MAX)
        );
        assert!(capped.inodes_count() > u32::MAX - 16 * capped.groups);
        assert!(matches!(
            Geometry::new(200 << 40, 4096, None, 5_000_000_000, true),
            Err(Error::Tree(TreeError::TooManyNodes {
                count: 5_000_000_000
            }))
        ));
    }

    #[test]
    fn descriptor_tables_must_fit_in_a_group() {
        assert!(Geometry::new(1_065_017_671_680, 1024, None, 0, true).is_ok());
        let err = Geometry::new(1 << 40, 1024, None, 0, true).unwrap_err();
        assert!(
            err.to_string().contains("at most 1065017671680 bytes"),
            "{err}"
        );
        assert!(Geometry::new(15 << 40, 2048, None, 0, true).is_ok());
        assert!(Geometry::new(250 << 40, 4096, None, 0, true).is_ok());
        assert!(Geometry::new(300 << 40, 4096, None, 0, true).is_err());
    }

    #[test]
    fn backup_groups_are_the_sparse_super_groups_after_0() {
        for groups in [0, 1, 2, 3, 4, 26, 50, 344, 1000, 100_000] {
            let by_filter: Vec<u32> = (1..groups).filter(|&g| has_super(g)).collect();
            assert_eq!(backup_groups(groups), by_filter, "{groups} groups");
        }
    }

    #[test]
    fn sparse_super_groups() {
        let with: Vec<u32> = (0..50).filter(|&g| has_super(g)).collect();
        assert_eq!(with, vec![0, 1, 3, 5, 7, 9, 25, 27, 49]);
    }

    #[test]
    fn six_gib_matches_mke2fs() {
        // dumpe2fs of `mke2fs -t ext4` on a 6 GiB file: 1572864 blocks,
        // 48 groups, 8192 inodes per group, 512 inode table blocks, 64 MiB
        // journal.
        let g = Geometry::new(6 << 30, 4096, Some(16384), 0, true).unwrap();
        assert_eq!(g.blocks_count, 1572864);
        assert_eq!(g.groups, 48);
        assert_eq!(g.inodes_per_group, 8192);
        assert_eq!(g.inode_table_blocks, 512);
        assert_eq!(g.journal_blocks, 16384);
        assert_eq!(g.gdt_blocks, 1);
        assert_eq!(g.reserved_gdt_blocks, 767);
    }

    #[test]
    fn too_small_is_an_error() {
        assert!(matches!(
            Geometry::new(4096 * 10, 4096, Some(16384), 0, true),
            Err(Error::TooSmall { .. })
        ));
    }

    #[test]
    fn many_inodes_raise_inodes_per_group() {
        let g = Geometry::new(64 << 20, 4096, Some(16384), 20000, true).unwrap();
        assert!(u64::from(g.inodes_count()) >= 20000);
    }
}
