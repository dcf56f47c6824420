//! Superblock feature flags: their bits and the names e2fsprogs gives them.

/// `has_journal`: an internal jbd2 journal (inode 8).
pub const COMPAT_HAS_JOURNAL: u32 = 0x4;
/// `ext_attr`: extended attributes.
pub const COMPAT_EXT_ATTR: u32 = 0x8;
/// `resize_inode`: reserved descriptor blocks for online growth.
pub const COMPAT_RESIZE_INODE: u32 = 0x10;
/// `dir_index`: htree directories.
pub const COMPAT_DIR_INDEX: u32 = 0x20;
/// `sparse_super2`: at most two superblock backups, named in the superblock.
pub const COMPAT_SPARSE_SUPER2: u32 = 0x200;

/// `filetype`: directory entries record the file type.
pub const INCOMPAT_FILETYPE: u32 = 0x2;
/// `needs_recovery`: the journal holds changes not yet applied.
pub const INCOMPAT_RECOVER: u32 = 0x4;
/// `meta_bg`: group descriptors spread over the meta block groups.
pub const INCOMPAT_META_BG: u32 = 0x10;
/// `extent`: extent trees.
pub const INCOMPAT_EXTENTS: u32 = 0x40;
/// `64bit`: block numbers above 2^32 and 64-byte group descriptors.
pub const INCOMPAT_64BIT: u32 = 0x80;
/// `flex_bg`: a group's metadata may live in another group.
pub const INCOMPAT_FLEX_BG: u32 = 0x200;
/// `metadata_csum_seed`: the checksum seed is stored in the superblock.
pub const INCOMPAT_CSUM_SEED: u32 = 0x2000;
/// `large_dir`: directories above 2 GiB and three-level htrees.
pub const INCOMPAT_LARGEDIR: u32 = 0x4000;

/// `sparse_super`: superblock backups only in groups 0, 1 and powers of 3, 5, 7.
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;
/// `large_file`: files above 2 GiB.
pub const RO_COMPAT_LARGE_FILE: u32 = 0x2;
/// `huge_file`: block counts in filesystem blocks for huge files.
pub const RO_COMPAT_HUGE_FILE: u32 = 0x8;
/// `uninit_bg` (`gdt_csum`): crc16 group descriptor checksums.
pub const RO_COMPAT_GDT_CSUM: u32 = 0x10;
/// `dir_nlink`: directories with more than 65000 subdirectories.
pub const RO_COMPAT_DIR_NLINK: u32 = 0x20;
/// `extra_isize`: inodes reserve room for the extra fields.
pub const RO_COMPAT_EXTRA_ISIZE: u32 = 0x40;
/// `metadata_csum`: crc32c checksums of all metadata.
pub const RO_COMPAT_METADATA_CSUM: u32 = 0x400;

const COMPAT_NAMES: &[(u32, &str)] = &[
    (0x1, "dir_prealloc"),
    (0x2, "imagic_inodes"),
    (COMPAT_HAS_JOURNAL, "has_journal"),
    (COMPAT_EXT_ATTR, "ext_attr"),
    (COMPAT_RESIZE_INODE, "resize_inode"),
    (COMPAT_DIR_INDEX, "dir_index"),
    (0x40, "lazy_bg"),
    (0x100, "snapshot_bitmap"),
    (COMPAT_SPARSE_SUPER2, "sparse_super2"),
    (0x400, "fast_commit"),
    (0x800, "stable_inodes"),
    (0x1000, "orphan_file"),
];

const INCOMPAT_NAMES: &[(u32, &str)] = &[
    (0x1, "compression"),
    (INCOMPAT_FILETYPE, "filetype"),
    (INCOMPAT_RECOVER, "needs_recovery"),
    (0x8, "journal_dev"),
    (INCOMPAT_META_BG, "meta_bg"),
    (INCOMPAT_EXTENTS, "extent"),
    (INCOMPAT_64BIT, "64bit"),
    (0x100, "mmp"),
    (INCOMPAT_FLEX_BG, "flex_bg"),
    (0x400, "ea_inode"),
    (0x1000, "dirdata"),
    (INCOMPAT_CSUM_SEED, "metadata_csum_seed"),
    (INCOMPAT_LARGEDIR, "large_dir"),
    (0x8000, "inline_data"),
    (0x10000, "encrypt"),
    (0x20000, "casefold"),
];

const RO_COMPAT_NAMES: &[(u32, &str)] = &[
    (RO_COMPAT_SPARSE_SUPER, "sparse_super"),
    (RO_COMPAT_LARGE_FILE, "large_file"),
    (0x4, "btree_dir"),
    (RO_COMPAT_HUGE_FILE, "huge_file"),
    (RO_COMPAT_GDT_CSUM, "uninit_bg"),
    (RO_COMPAT_DIR_NLINK, "dir_nlink"),
    (RO_COMPAT_EXTRA_ISIZE, "extra_isize"),
    (0x80, "snapshot"),
    (0x100, "quota"),
    (0x200, "bigalloc"),
    (RO_COMPAT_METADATA_CSUM, "metadata_csum"),
    (0x800, "replica"),
    (0x1000, "read-only"),
    (0x2000, "project"),
    (0x4000, "shared_blocks"),
    (0x8000, "verity"),
    (0x10000, "orphan_present"),
];

/// Which of the three feature words a bit belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureSet {
    /// `s_feature_compat`: safe to ignore.
    Compat,
    /// `s_feature_incompat`: must be understood to read at all.
    Incompat,
    /// `s_feature_ro_compat`: must be understood to write.
    RoCompat,
}

impl FeatureSet {
    fn table(self) -> &'static [(u32, &'static str)] {
        match self {
            FeatureSet::Compat => COMPAT_NAMES,
            FeatureSet::Incompat => INCOMPAT_NAMES,
            FeatureSet::RoCompat => RO_COMPAT_NAMES,
        }
    }

    /// The name of one feature bit: e2fsprogs' name, or `FEATURE_I17`
    /// (`C`, `I`, `R` and the bit's position) for a bit it has none for,
    /// as e2fsprogs prints those.
    pub fn name(self, bit: u32) -> String {
        match self.table().iter().find(|(b, _)| *b == bit) {
            Some((_, name)) => (*name).to_string(),
            None => {
                let letter = match self {
                    FeatureSet::Compat => 'C',
                    FeatureSet::Incompat => 'I',
                    FeatureSet::RoCompat => 'R',
                };
                format!("FEATURE_{letter}{}", bit.trailing_zeros())
            }
        }
    }

    /// The names of every bit set in `word`, lowest bit first.
    pub fn names(self, word: u32) -> impl Iterator<Item = String> {
        (0..32)
            .map(|shift| 1u32 << shift)
            .filter(move |bit| word & bit != 0)
            .map(move |bit| self.name(bit))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_e2fsprogs() {
        let names: Vec<String> = FeatureSet::Incompat
            .names(INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | 0x8000 | (1 << 30))
            .collect();
        assert_eq!(names, ["filetype", "extent", "inline_data", "FEATURE_I30"]);
        assert_eq!(FeatureSet::Compat.name(0x1000), "orphan_file");
        assert_eq!(FeatureSet::RoCompat.name(0x8000), "verity");
    }
}
