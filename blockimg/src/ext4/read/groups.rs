//! The group descriptor table: where each group's inode table is, and which
//! of its inodes were ever initialised.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::superblock::Superblock;
use super::volume::Volume;
use crate::error::Result;
use crate::ext4::bytes::{get_u16, get_u32, join64};
use crate::ext4::format::group_desc::*;

/// What the reader needs of one group descriptor.
#[derive(Clone, Debug)]
pub(super) struct GroupDesc {
    /// First block of the group's inode table.
    pub inode_table: u64,
    /// Inodes at the end of the table never used (meaningful with group
    /// flags, see [`Superblock::has_group_flags`]).
    pub itable_unused: u32,
    /// `BG_*` flags ([`crate::ext4::format::group_desc`]).
    pub flags: u16,
}

/// Reads and checks every group descriptor.
pub(super) fn read(vol: &Volume, sb: &Superblock) -> Result<Vec<GroupDesc>> {
    let bs = sb.bs();
    let desc_size = sb.desc_size as usize;
    let per_block = (bs / u64::from(sb.desc_size)) as u32;
    let groups = sb.info.groups;
    let table_blocks = groups.div_ceil(per_block);
    let itable_blocks =
        (u64::from(sb.info.inodes_per_group) * u64::from(sb.info.inode_size)).div_ceil(bs);
    let mut descs = Vec::with_capacity(groups as usize);
    let mut block = vec![0u8; bs as usize];
    for index in 0..table_blocks {
        let location = descriptor_block(sb, index);
        if location >= sb.info.blocks_count {
            return Err(vol.corrupt(
                format!("group descriptor block {index}"),
                location,
                "lies outside the filesystem",
            ));
        }
        vol.read(location * bs, &mut block)?;
        let first = index * per_block;
        for (i, raw) in block
            .chunks_exact(desc_size)
            .take((groups - first).min(per_block) as usize)
            .enumerate()
        {
            let group = first + i as u32;
            descs.push(parse_desc(vol, sb, group, raw, itable_blocks)?);
        }
    }
    Ok(descs)
}

/// Checks and decodes the descriptor of `group` (`raw`, `desc_size` bytes)
/// whose inode table spans `itable_blocks` blocks.
pub(super) fn parse_desc(
    vol: &Volume,
    sb: &Superblock,
    group: u32,
    raw: &[u8],
    itable_blocks: u64,
) -> Result<GroupDesc> {
    if let Some(csum) = &sb.csum {
        let structure = || format!("group descriptor {group}");
        vol.check_csum(
            structure,
            u32::from(get_u16(raw, BG_CHECKSUM)),
            u32::from(csum.group_desc(group, raw)),
        )?;
    }
    let hi = |offset| {
        if sb.is_64bit() {
            get_u32(raw, offset)
        } else {
            0
        }
    };
    let inode_table = join64(get_u32(raw, BG_INODE_TABLE_LO), hi(BG_INODE_TABLE_HI));
    let table_end = inode_table.checked_add(itable_blocks);
    if inode_table < sb.first_data_block || table_end.is_none_or(|end| end > sb.info.blocks_count) {
        return Err(vol.corrupt(
            format!("group descriptor {group} inode table"),
            inode_table,
            "lies outside the filesystem",
        ));
    }
    Ok(GroupDesc {
        inode_table,
        itable_unused: u32::from(get_u16(raw, BG_ITABLE_UNUSED_LO))
            | (hi(BG_ITABLE_UNUSED_HI) & 0xFFFF) << 16,
        flags: get_u16(raw, BG_FLAGS),
    })
}

/// Block holding descriptor block `index`: after the primary superblock, or
/// with meta_bg, at the start of its meta group (after a superblock backup).
fn descriptor_block(sb: &Superblock, index: u32) -> u64 {
    if !sb.has_meta_bg() || index < sb.first_meta_bg {
        return sb.first_data_block + 1 + u64::from(index);
    }
    let per_block = (sb.bs() / u64::from(sb.desc_size)) as u32;
    let group = index.saturating_mul(per_block);
    sb.group_first_block(group) + u64::from(sb.has_super(group))
}

impl GroupDesc {
    /// Whether the `index`th inode of this group's table was ever used:
    /// groups flagged `INODE_UNINIT` and the unused tail of a table hold no
    /// inodes (and may hold garbage).
    pub fn inode_initialised(&self, sb: &Superblock, index: u32) -> bool {
        if !sb.has_group_flags() {
            return true;
        }
        let used = sb.info.inodes_per_group.saturating_sub(self.itable_unused);
        self.flags & BG_INODE_UNINIT == 0 && index < used
    }
}
