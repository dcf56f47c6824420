//! The resize inode (inode 7): it owns the descriptor blocks reserved after
//! every descriptor table copy, so the kernel can grow the filesystem while
//! mounted. Its double-indirect block lists the primary reserved blocks;
//! each primary reserved block lists its copies in the backup groups.

use super::bytes::put_u32;
use super::geometry::{backup_groups, Geometry};

/// Blocks the resize inode owns: its double-indirect block, the primary
/// reserved blocks and their copies in the backup groups.
pub fn owned_blocks(g: &Geometry) -> u64 {
    let backups = backup_groups(g.groups).len() as u64;
    1 + u64::from(g.reserved_gdt_blocks) * (1 + backups)
}

/// The size the resize inode records: everything a double-indirect map can
/// address.
pub fn size(g: &Geometry) -> u64 {
    let apb = u64::from(g.block_size / 4);
    (apb * apb + apb + 12) * g.bs()
}

/// First primary reserved descriptor block.
fn first_reserved(g: &Geometry) -> u64 {
    g.first_data_block + 1 + u64::from(g.gdt_blocks)
}

/// The double-indirect block: slot `(gdt_blocks + i) % apb` points at
/// primary reserved block `i`.
pub fn dind_block(g: &Geometry) -> Vec<u8> {
    let mut block = vec![0u8; g.block_size as usize];
    let apb = g.block_size / 4;
    for i in 0..g.reserved_gdt_blocks {
        let slot = ((g.gdt_blocks + i) % apb) as usize;
        put_u32(
            &mut block,
            slot * 4,
            (first_reserved(g) + u64::from(i)) as u32,
        );
    }
    block
}

/// Primary reserved block `index`: the locations of its copies in every
/// backup group, in group order.
pub fn reserved_block(g: &Geometry, index: u32) -> Vec<u8> {
    let mut block = vec![0u8; g.block_size as usize];
    let primary = first_reserved(g) + u64::from(index);
    for (slot, grp) in backup_groups(g.groups).into_iter().enumerate() {
        let copy = primary + u64::from(grp) * u64::from(g.blocks_per_group);
        put_u32(&mut block, slot * 4, copy as u32);
    }
    block
}
