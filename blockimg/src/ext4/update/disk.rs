//! The filesystem an update changes: its blocks, read from the image, and
//! the figures of its superblock an update needs (and whether it can be
//! updated in place at all).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::ext4::bytes::{get_u16, get_u32, join64};
use crate::ext4::csum::Checksummer;
use crate::ext4::features::*;
use crate::ext4::format::superblock::*;
use crate::ext4::geometry::GroupLayout;

/// Blocks of the filesystem, read from the image file.
pub(super) struct Disk {
    pub file: File,
    pub path: PathBuf,
    /// Byte offset of the filesystem in the image.
    pub offset: u64,
    pub bs: u64,
}

impl Disk {
    /// Block `block` of the filesystem.
    pub fn read_block(&self, block: u64) -> Result<Vec<u8>> {
        let mut buf = vec![0u8; self.bs as usize];
        self.file
            .read_exact_at(&mut buf, self.offset + block * self.bs)
            .map_err(|e| Error::io(&self.path, e))?;
        Ok(buf)
    }

    /// Writes `bytes` at block `block` of the filesystem.
    pub fn write_at_block(&self, block: u64, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all_at(bytes, self.offset + block * self.bs)
            .map_err(|e| Error::io(&self.path, e))
    }

    /// Flushes what was written to the device.
    pub fn sync(&self) -> Result<()> {
        self.file.sync_data().map_err(|e| Error::io(&self.path, e))
    }
}

/// What an update needs of the superblock.
#[derive(Clone, Debug)]
pub(super) struct Geometry {
    pub bs: u64,
    pub blocks_count: u64,
    pub first_data_block: u64,
    pub blocks_per_group: u32,
    pub inodes_per_group: u32,
    pub groups: u32,
    pub desc_size: u32,
    /// The 64bit feature: descriptors carry high halves.
    pub wide: bool,
    pub first_ino: u32,
    pub gdt_blocks: u64,
    pub reserved_gdt_blocks: u64,
    pub inode_table_blocks: u64,
    pub csum: Option<Checksummer>,
    pub hash_seed: [u8; 16],
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
        self.gdt_blocks + self.reserved_gdt_blocks
    }
}

impl Geometry {
    /// Reads the superblock's figures from `raw`, or says why the
    /// filesystem cannot be updated in place.
    pub fn parse(raw: &[u8]) -> std::result::Result<Geometry, String> {
        let features = Features::read(raw);
        let refuse = |what: &str| Err(format!("the filesystem has {what}"));
        if !features.has(COMPAT_HAS_JOURNAL) || get_u32(raw, S_JOURNAL_INUM) == 0 {
            return refuse("no internal journal");
        }
        if !features.has(RO_COMPAT_METADATA_CSUM) {
            return refuse("no metadata_csum");
        }
        if !features.has(INCOMPAT_EXTENTS) {
            return refuse("no extents");
        }
        for (feature, name) in [
            (INCOMPAT_META_BG, "meta_bg"),
            (INCOMPAT_INLINE_DATA, "inline_data"),
            (INCOMPAT_CSUM_SEED, "metadata_csum_seed"),
            (INCOMPAT_EA_INODE, "ea_inode"),
            (INCOMPAT_ENCRYPT, "encrypt"),
            (INCOMPAT_CASEFOLD, "casefold"),
            (INCOMPAT_MMP, "mmp"),
            (INCOMPAT_RECOVER, "a journal that needs recovery"),
            (RO_COMPAT_BIGALLOC, "bigalloc"),
            (RO_COMPAT_QUOTA, "quota"),
            (COMPAT_SPARSE_SUPER2, "sparse_super2"),
        ] {
            if features.has(feature) {
                return refuse(name);
            }
        }
        if !features.has(RO_COMPAT_SPARSE_SUPER) {
            return refuse("a superblock backup in every group (no sparse_super)");
        }
        let inode_size = u32::from(get_u16(raw, S_INODE_SIZE));
        if inode_size != 256 {
            return Err(format!(
                "inodes of {inode_size} bytes (256 are updated in place)"
            ));
        }
        let bs = 1024u64 << get_u32(raw, S_LOG_BLOCK_SIZE).min(6);
        let wide = features.has(INCOMPAT_64BIT);
        let blocks_count = join64(
            get_u32(raw, S_BLOCKS_COUNT_LO),
            if wide {
                get_u32(raw, S_BLOCKS_COUNT_HI)
            } else {
                0
            },
        );
        let first_data_block = u64::from(get_u32(raw, S_FIRST_DATA_BLOCK));
        let blocks_per_group = get_u32(raw, S_BLOCKS_PER_GROUP);
        let inodes_per_group = get_u32(raw, S_INODES_PER_GROUP);
        if blocks_per_group == 0 || inodes_per_group == 0 || blocks_count <= first_data_block {
            return refuse("a damaged superblock");
        }
        let groups = (blocks_count - first_data_block).div_ceil(u64::from(blocks_per_group)) as u32;
        let desc_size = if wide {
            u32::from(get_u16(raw, S_DESC_SIZE))
        } else {
            32
        };
        if desc_size < 32 || u64::from(desc_size) > bs || !desc_size.is_power_of_two() {
            return refuse("a damaged descriptor size");
        }
        let mut hash_seed = [0u8; 16];
        hash_seed.copy_from_slice(raw.get(S_HASH_SEED..S_HASH_SEED + 16).unwrap_or(&[0; 16]));
        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(raw.get(S_UUID..S_UUID + 16).unwrap_or(&[0; 16]));
        Ok(Geometry {
            bs,
            blocks_count,
            first_data_block,
            blocks_per_group,
            inodes_per_group,
            groups,
            desc_size,
            wide,
            first_ino: get_u32(raw, S_FIRST_INO),
            gdt_blocks: (u64::from(groups) * u64::from(desc_size)).div_ceil(bs),
            reserved_gdt_blocks: u64::from(get_u16(raw, S_RESERVED_GDT_BLOCKS)),
            inode_table_blocks: (u64::from(inodes_per_group) * u64::from(inode_size)).div_ceil(bs),
            csum: Some(Checksummer::new(&uuid)),
            hash_seed,
        })
    }
}
