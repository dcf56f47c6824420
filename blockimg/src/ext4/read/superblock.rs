//! The primary superblock: geometry, feature checks and the checksum seed.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::volume::Volume;
use crate::error::Result;
use crate::ext4::bytes::{get_u16, get_u32, get_u8, join64};
use crate::ext4::csum::Checksummer;
use crate::ext4::features::*;
use crate::ext4::format::group_desc::{MAX_DESC_SIZE, MIN_DESC_SIZE, MIN_DESC_SIZE_64BIT};
use crate::ext4::format::inode::GOOD_OLD_INODE_SIZE;
use crate::ext4::format::superblock::*;
use crate::ext4::geometry;
use crate::tree::Timestamp;

/// What the superblock says about a filesystem.
///
/// # Examples
///
/// ```
/// use blockimg::ext4::read::Ext4Reader;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n[[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: an MBR disk whose ext4 filesystem, at 1 MiB, holds /etc/hostname
/// // ("appliance\n") and the symlink /etc/name -> hostname.
/// let fs = Ext4Reader::open(std::fs::File::open(&image)?, 1 << 20, &image)?;
/// let info = fs.info();
/// assert_eq!(info.free_inodes + 14, info.inodes_count); // 11 reserved, /etc and two files
/// assert_eq!(info.created.secs, 1_700_000_000);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FsInfo {
    /// Filesystem UUID.
    pub uuid: [u8; 16],
    /// Volume label (up to 16 bytes, without its zero padding).
    pub label: Vec<u8>,
    /// Block size in bytes.
    pub block_size: u32,
    /// Blocks in the filesystem.
    pub blocks_count: u64,
    /// Free blocks, as last recorded in the superblock.
    pub free_blocks: u64,
    /// Blocks reserved for the superuser.
    pub reserved_blocks: u64,
    /// Inodes in the filesystem.
    pub inodes_count: u32,
    /// Free inodes, as last recorded in the superblock.
    pub free_inodes: u32,
    /// Bytes per on-disk inode.
    pub inode_size: u16,
    /// Blocks per block group.
    pub blocks_per_group: u32,
    /// Inodes per block group.
    pub inodes_per_group: u32,
    /// Number of block groups.
    pub groups: u32,
    /// Enabled features, named as `dumpe2fs` names them.
    pub features: Vec<String>,
    /// When the filesystem was created.
    pub created: Timestamp,
    /// When the superblock was last written.
    pub written: Timestamp,
}

impl FsInfo {
    /// Whether the feature `name` (as `dumpe2fs` names it) is enabled.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::Ext4Reader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n\
    /// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n[[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.img");
    /// // disk.img: an MBR disk whose ext4 filesystem, at 1 MiB, holds /etc/hostname
    /// // ("appliance\n") and the symlink /etc/name -> hostname.
    /// let fs = Ext4Reader::open(std::fs::File::open(&image)?, 1 << 20, &image)?;
    /// assert!(fs.info().has_feature("metadata_csum"));
    /// assert!(!fs.info().has_feature("encrypt"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn has_feature(&self, name: &str) -> bool {
        self.features.iter().any(|f| f == name)
    }
}

/// The superblock fields the reader works with.
#[derive(Clone, Debug)]
pub(super) struct Superblock {
    pub info: FsInfo,
    pub first_data_block: u64,
    pub desc_size: u32,
    pub features: Features,
    pub first_meta_bg: u32,
    /// The two backup groups of sparse_super2.
    pub backup_bgs: [u32; 2],
    /// Checksums of the metadata, when metadata_csum is on.
    pub csum: Option<Checksummer>,
    /// `s_journal_inum`: the inode of an internal journal.
    pub journal_inum: u32,
    /// Whether the journal is on another device (`s_journal_dev` or
    /// `s_journal_uuid` set).
    pub external_journal: bool,
}

/// Incompatible features the reader handles; any other is refused.
const READABLE_INCOMPAT: Features = Features::of(&[
    INCOMPAT_FILETYPE,
    INCOMPAT_RECOVER,
    INCOMPAT_META_BG,
    INCOMPAT_EXTENTS,
    INCOMPAT_64BIT,
    INCOMPAT_FLEX_BG,
    INCOMPAT_CSUM_SEED,
    INCOMPAT_LARGEDIR,
]);
/// Read-only-compatible features that change what the data means: bigalloc
/// counts in clusters, verity files carry a Merkle tree a rebuild would
/// lose, and an unknown replica or snapshot format could hide anything.
const REFUSED_RO_COMPAT: Features = Features::of(&[
    RO_COMPAT_SNAPSHOT,
    RO_COMPAT_BIGALLOC,
    RO_COMPAT_REPLICA,
    RO_COMPAT_VERITY,
]);

/// The first feature of `features` the reader refuses, lowest bit first
/// (an incompatible feature before a read-only-compatible one of the same
/// bit).
fn first_refused(features: Features) -> Option<Feature> {
    (0..32).map(|shift| 1u32 << shift).find_map(|bit| {
        let (incompat, ro_compat) = (Feature::incompat(bit), Feature::ro_compat(bit));
        if features.has(incompat) && !READABLE_INCOMPAT.has(incompat) {
            Some(incompat)
        } else if features.has(ro_compat) && REFUSED_RO_COMPAT.has(ro_compat) {
            Some(ro_compat)
        } else {
            None
        }
    })
}

/// Why each refused feature cannot be read.
fn refusal(feature: Feature) -> &'static str {
    match feature {
        INCOMPAT_MMP => {
            "multi-mount protection: the filesystem may be in use by another host; clear it with `tune2fs -O ^mmp` when it is not"
        }
        INCOMPAT_INLINE_DATA => "small files and directories stored inside their inodes are not supported",
        INCOMPAT_ENCRYPT => "encrypted files cannot be read",
        INCOMPAT_CASEFOLD => "case-insensitive directories are not supported",
        INCOMPAT_COMPRESSION => "compressed files are not supported",
        INCOMPAT_JOURNAL_DEV => "this is an external journal device, not a filesystem",
        INCOMPAT_EA_INODE => "extended attribute values in their own inodes are not supported",
        RO_COMPAT_VERITY => "verity files are not supported",
        RO_COMPAT_BIGALLOC => "bigalloc (cluster allocation) is not supported",
        _ => "the feature is not supported",
    }
}

impl Superblock {
    /// Parses and checks the superblock read from the start of `vol`.
    pub fn parse(raw: &[u8; SUPERBLOCK_LEN], vol: &Volume) -> Result<Superblock> {
        let magic = get_u16(raw, S_MAGIC);
        if magic != SUPER_MAGIC {
            return Err(vol.corrupt(
                "superblock magic",
                format!("{magic:#06x}"),
                format!("not an ext2/3/4 filesystem (expected {SUPER_MAGIC:#06x})"),
            ));
        }
        let features = Features::read(raw);
        if let Some(feature) = first_refused(features) {
            return Err(vol.unsupported(feature.name(), refusal(feature)));
        }
        let csum = if features.has(RO_COMPAT_METADATA_CSUM) {
            let kind = raw[S_CHECKSUM_TYPE];
            if kind != CRC32C_CHKSUM {
                return Err(vol.corrupt(
                    "superblock checksum type",
                    kind,
                    "only crc32c (1) exists",
                ));
            }
            vol.check_csum(
                || "superblock".into(),
                get_u32(raw, S_CHECKSUM),
                Checksummer::superblock(raw),
            )?;
            let mut uuid = [0u8; 16];
            uuid.copy_from_slice(&raw[S_UUID..S_UUID + 16]);
            Some(if features.has(INCOMPAT_CSUM_SEED) {
                Checksummer::with_seed(get_u32(raw, S_CHECKSUM_SEED))
            } else {
                Checksummer::new(&uuid)
            })
        } else {
            None
        };

        let is_64bit = features.has(INCOMPAT_64BIT);
        let hi = |offset| if is_64bit { get_u32(raw, offset) } else { 0 };
        let log_block = get_u32(raw, S_LOG_BLOCK_SIZE);
        if log_block > 6 {
            return Err(vol.corrupt(
                "superblock s_log_block_size",
                log_block,
                "block sizes range from 1 KiB (0) to 64 KiB (6)",
            ));
        }
        let block_size = 1024u32 << log_block;
        let bs = u64::from(block_size);
        let blocks_count = join64(get_u32(raw, S_BLOCKS_COUNT_LO), hi(S_BLOCKS_COUNT_HI));
        let first_data_block = u64::from(get_u32(raw, S_FIRST_DATA_BLOCK));
        if first_data_block >= blocks_count {
            return Err(vol.corrupt(
                "superblock s_blocks_count",
                blocks_count,
                format!("no blocks after the first data block {first_data_block}"),
            ));
        }
        let fs_bytes = blocks_count.saturating_mul(bs);
        if fs_bytes > vol.len {
            return Err(vol.corrupt(
                "image size",
                vol.len,
                format!("the filesystem has {blocks_count} blocks of {block_size} bytes ({fs_bytes} bytes): the image is truncated"),
            ));
        }
        let blocks_per_group = get_u32(raw, S_BLOCKS_PER_GROUP);
        if blocks_per_group == 0 || blocks_per_group % 8 != 0 || blocks_per_group > block_size * 8 {
            return Err(vol.corrupt(
                "superblock s_blocks_per_group",
                blocks_per_group,
                format!("must be a multiple of 8 up to {}", block_size * 8),
            ));
        }
        let inodes_per_group = get_u32(raw, S_INODES_PER_GROUP);
        if inodes_per_group == 0 || inodes_per_group > block_size * 8 {
            return Err(vol.corrupt(
                "superblock s_inodes_per_group",
                inodes_per_group,
                format!("must be 1 to {}", block_size * 8),
            ));
        }
        let groups = (blocks_count - first_data_block).div_ceil(u64::from(blocks_per_group));
        let inodes_count = get_u32(raw, S_INODES_COUNT);
        if u64::from(inodes_count) != groups * u64::from(inodes_per_group) {
            return Err(vol.corrupt(
                "superblock s_inodes_count",
                inodes_count,
                format!(
                    "{groups} groups of {inodes_per_group} inodes make {}",
                    groups * u64::from(inodes_per_group)
                ),
            ));
        }
        let rev_level = get_u32(raw, S_REV_LEVEL);
        let inode_size = if rev_level == 0 {
            GOOD_OLD_INODE_SIZE as u16
        } else {
            get_u16(raw, S_INODE_SIZE)
        };
        if !inode_size.is_power_of_two()
            || usize::from(inode_size) < GOOD_OLD_INODE_SIZE
            || u32::from(inode_size) > block_size
        {
            return Err(vol.corrupt(
                "superblock s_inode_size",
                inode_size,
                "must be a power of two from 128 to the block size",
            ));
        }
        let desc_size = if is_64bit {
            u32::from(get_u16(raw, S_DESC_SIZE))
        } else {
            MIN_DESC_SIZE
        };
        if !desc_size.is_power_of_two()
            || !(MIN_DESC_SIZE..=MAX_DESC_SIZE).contains(&desc_size)
            || (is_64bit && desc_size < MIN_DESC_SIZE_64BIT)
            || desc_size > block_size
        {
            return Err(vol.corrupt(
                "superblock s_desc_size",
                desc_size,
                "must be a power of two from 64 to 1024 with 64bit",
            ));
        }

        let mut uuid = [0u8; 16];
        uuid.copy_from_slice(&raw[S_UUID..S_UUID + 16]);
        let label = raw[S_VOLUME_NAME..S_VOLUME_NAME + 16]
            .split(|&b| b == 0)
            .next()
            .unwrap_or_default()
            .to_vec();
        let time = |lo: usize, hi: usize| {
            Timestamp::from_secs(i64::from(get_u32(raw, lo)) | (i64::from(get_u8(raw, hi)) << 32))
        };
        Ok(Superblock {
            info: FsInfo {
                uuid,
                label,
                block_size,
                blocks_count,
                free_blocks: join64(
                    get_u32(raw, S_FREE_BLOCKS_COUNT_LO),
                    hi(S_FREE_BLOCKS_COUNT_HI),
                ),
                reserved_blocks: join64(get_u32(raw, S_R_BLOCKS_COUNT_LO), hi(S_R_BLOCKS_COUNT_HI)),
                inodes_count,
                free_inodes: get_u32(raw, S_FREE_INODES_COUNT),
                inode_size,
                blocks_per_group,
                inodes_per_group,
                groups: groups as u32,
                features: features.names().collect(),
                created: time(S_MKFS_TIME, S_MKFS_TIME_HI),
                written: time(S_WTIME, S_WTIME_HI),
            },
            first_data_block,
            desc_size,
            features,
            first_meta_bg: get_u32(raw, S_FIRST_META_BG),
            backup_bgs: [get_u32(raw, S_BACKUP_BGS), get_u32(raw, S_BACKUP_BGS + 4)],
            csum,
            journal_inum: get_u32(raw, S_JOURNAL_INUM),
            external_journal: get_u32(raw, S_JOURNAL_DEV) != 0
                || raw
                    .get(S_JOURNAL_UUID..S_JOURNAL_UUID + 16)
                    .is_some_and(|uuid| uuid.iter().any(|&b| b != 0)),
        })
    }

    /// Block size in bytes.
    /// Whether the journal holds changes not yet applied
    /// (`needs_recovery`).
    pub fn needs_recovery(&self) -> bool {
        self.features.has(INCOMPAT_RECOVER)
    }

    /// The superblock as a journal replay leaves it: without
    /// `needs_recovery`.
    pub fn clear_recovery(&mut self) {
        self.features = self.features.without(INCOMPAT_RECOVER);
        self.info.features = self.features.names().collect();
    }

    pub fn bs(&self) -> u64 {
        u64::from(self.info.block_size)
    }

    /// Whether directory entries carry a file type.
    pub fn has_filetype(&self) -> bool {
        self.features.has(INCOMPAT_FILETYPE)
    }

    /// Whether group descriptors' flags and unused-inode counts are
    /// meaningful (uninit_bg or metadata_csum).
    pub fn has_group_flags(&self) -> bool {
        self.features
            .has_any(Features::of(&[RO_COMPAT_GDT_CSUM, RO_COMPAT_METADATA_CSUM]))
    }

    /// Whether `i_blocks` has a high half (huge_file).
    pub fn has_huge_file(&self) -> bool {
        self.features.has(RO_COMPAT_HUGE_FILE)
    }

    /// Whether the filesystem has a journal (has_journal).
    pub fn has_journal(&self) -> bool {
        self.features.has(COMPAT_HAS_JOURNAL)
    }

    /// Whether block numbers have a high half (64bit).
    pub fn is_64bit(&self) -> bool {
        self.features.has(INCOMPAT_64BIT)
    }

    /// Whether the descriptor table is spread over meta block groups.
    pub fn has_meta_bg(&self) -> bool {
        self.features.has(INCOMPAT_META_BG)
    }

    /// Whether `group` holds a superblock backup.
    pub fn has_super(&self, group: u32) -> bool {
        if group == 0 {
            true
        } else if self.features.has(COMPAT_SPARSE_SUPER2) {
            self.backup_bgs.contains(&group)
        } else if self.features.has(RO_COMPAT_SPARSE_SUPER) {
            geometry::has_super(group)
        } else {
            true
        }
    }

    /// First block of `group`.
    pub fn group_first_block(&self, group: u32) -> u64 {
        self.first_data_block + u64::from(group) * u64::from(self.info.blocks_per_group)
    }
}
