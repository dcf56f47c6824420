//! Superblock feature flags, as one typed set: a [`Feature`] constant for
//! every bit e2fsprogs knows (the word it belongs to, its bit and its
//! e2fsprogs name, listed once in [`NAMES`]), and [`Features`], the three
//! feature words of a superblock. The writer builds the set it formats
//! with; the reader tests, names and refuses features through the same
//! constants.

use std::ops::BitOr;

use super::bytes::{get_u32, put_u32};
use super::format::superblock::{S_FEATURE_COMPAT, S_FEATURE_INCOMPAT, S_FEATURE_RO_COMPAT};

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

/// One feature: a bit of one of the three feature words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feature {
    set: FeatureSet,
    bit: u32,
}

impl Feature {
    /// The compatible feature with this bit.
    pub const fn compat(bit: u32) -> Self {
        Feature {
            set: FeatureSet::Compat,
            bit,
        }
    }

    /// The incompatible feature with this bit.
    pub const fn incompat(bit: u32) -> Self {
        Feature {
            set: FeatureSet::Incompat,
            bit,
        }
    }

    /// The read-only-compatible feature with this bit.
    pub const fn ro_compat(bit: u32) -> Self {
        Feature {
            set: FeatureSet::RoCompat,
            bit,
        }
    }

    /// The feature's name: e2fsprogs' name, or `FEATURE_I17` (`C`, `I`,
    /// `R` and the bit's position) for a bit it has none for, as e2fsprogs
    /// prints those.
    pub fn name(self) -> String {
        match NAMES.iter().find(|(feature, _)| *feature == self) {
            Some((_, name)) => (*name).to_string(),
            None => {
                let letter = match self.set {
                    FeatureSet::Compat => 'C',
                    FeatureSet::Incompat => 'I',
                    FeatureSet::RoCompat => 'R',
                };
                format!("FEATURE_{letter}{}", self.bit.trailing_zeros())
            }
        }
    }
}

/// `dir_prealloc`: directories preallocate blocks.
pub const COMPAT_DIR_PREALLOC: Feature = Feature::compat(0x1);
/// `imagic_inodes`: AFS server inodes.
pub const COMPAT_IMAGIC_INODES: Feature = Feature::compat(0x2);
/// `has_journal`: an internal jbd2 journal (inode 8).
pub const COMPAT_HAS_JOURNAL: Feature = Feature::compat(0x4);
/// `ext_attr`: extended attributes.
pub const COMPAT_EXT_ATTR: Feature = Feature::compat(0x8);
/// `resize_inode`: reserved descriptor blocks for online growth.
pub const COMPAT_RESIZE_INODE: Feature = Feature::compat(0x10);
/// `dir_index`: htree directories.
pub const COMPAT_DIR_INDEX: Feature = Feature::compat(0x20);
/// `lazy_bg`: block groups initialised lazily (never in a kernel).
pub const COMPAT_LAZY_BG: Feature = Feature::compat(0x40);
/// `snapshot_bitmap`: the exclude bitmaps of the snapshot patches.
pub const COMPAT_SNAPSHOT_BITMAP: Feature = Feature::compat(0x100);
/// `sparse_super2`: at most two superblock backups, named in the superblock.
pub const COMPAT_SPARSE_SUPER2: Feature = Feature::compat(0x200);
/// `fast_commit`: the journal has a fast commit area.
pub const COMPAT_FAST_COMMIT: Feature = Feature::compat(0x400);
/// `stable_inodes`: inode numbers never change (encryption keys use them).
pub const COMPAT_STABLE_INODES: Feature = Feature::compat(0x800);
/// `orphan_file`: orphan inodes listed in a file.
pub const COMPAT_ORPHAN_FILE: Feature = Feature::compat(0x1000);

/// `compression`: compressed files (never in a kernel).
pub const INCOMPAT_COMPRESSION: Feature = Feature::incompat(0x1);
/// `filetype`: directory entries record the file type.
pub const INCOMPAT_FILETYPE: Feature = Feature::incompat(0x2);
/// `needs_recovery`: the journal holds changes not yet applied.
pub const INCOMPAT_RECOVER: Feature = Feature::incompat(0x4);
/// `journal_dev`: an external journal device, not a filesystem.
pub const INCOMPAT_JOURNAL_DEV: Feature = Feature::incompat(0x8);
/// `meta_bg`: group descriptors spread over the meta block groups.
pub const INCOMPAT_META_BG: Feature = Feature::incompat(0x10);
/// `extent`: extent trees.
pub const INCOMPAT_EXTENTS: Feature = Feature::incompat(0x40);
/// `64bit`: block numbers above 2^32 and 64-byte group descriptors.
pub const INCOMPAT_64BIT: Feature = Feature::incompat(0x80);
/// `mmp`: multi-mount protection.
pub const INCOMPAT_MMP: Feature = Feature::incompat(0x100);
/// `flex_bg`: a group's metadata may live in another group.
pub const INCOMPAT_FLEX_BG: Feature = Feature::incompat(0x200);
/// `ea_inode`: extended attribute values in inodes of their own.
pub const INCOMPAT_EA_INODE: Feature = Feature::incompat(0x400);
/// `dirdata`: data in directory entries (never in a kernel).
pub const INCOMPAT_DIRDATA: Feature = Feature::incompat(0x1000);
/// `metadata_csum_seed`: the checksum seed is stored in the superblock.
pub const INCOMPAT_CSUM_SEED: Feature = Feature::incompat(0x2000);
/// `large_dir`: directories above 2 GiB and three-level htrees.
pub const INCOMPAT_LARGEDIR: Feature = Feature::incompat(0x4000);
/// `inline_data`: small files and directories inside their inodes.
pub const INCOMPAT_INLINE_DATA: Feature = Feature::incompat(0x8000);
/// `encrypt`: encrypted files.
pub const INCOMPAT_ENCRYPT: Feature = Feature::incompat(0x10000);
/// `casefold`: case-insensitive directories.
pub const INCOMPAT_CASEFOLD: Feature = Feature::incompat(0x20000);

/// `sparse_super`: superblock backups only in groups 0, 1 and powers of 3, 5, 7.
pub const RO_COMPAT_SPARSE_SUPER: Feature = Feature::ro_compat(0x1);
/// `large_file`: files above 2 GiB.
pub const RO_COMPAT_LARGE_FILE: Feature = Feature::ro_compat(0x2);
/// `btree_dir`: B-tree directories (never in a kernel).
pub const RO_COMPAT_BTREE_DIR: Feature = Feature::ro_compat(0x4);
/// `huge_file`: block counts in filesystem blocks for huge files.
pub const RO_COMPAT_HUGE_FILE: Feature = Feature::ro_compat(0x8);
/// `uninit_bg` (`gdt_csum`): crc16 group descriptor checksums.
pub const RO_COMPAT_GDT_CSUM: Feature = Feature::ro_compat(0x10);
/// `dir_nlink`: directories with more than 65000 subdirectories.
pub const RO_COMPAT_DIR_NLINK: Feature = Feature::ro_compat(0x20);
/// `extra_isize`: inodes reserve room for the extra fields.
pub const RO_COMPAT_EXTRA_ISIZE: Feature = Feature::ro_compat(0x40);
/// `snapshot`: the snapshot patches' format.
pub const RO_COMPAT_SNAPSHOT: Feature = Feature::ro_compat(0x80);
/// `quota`: quota inodes.
pub const RO_COMPAT_QUOTA: Feature = Feature::ro_compat(0x100);
/// `bigalloc`: blocks allocated in clusters.
pub const RO_COMPAT_BIGALLOC: Feature = Feature::ro_compat(0x200);
/// `metadata_csum`: crc32c checksums of all metadata.
pub const RO_COMPAT_METADATA_CSUM: Feature = Feature::ro_compat(0x400);
/// `replica`: replicas (never in a kernel).
pub const RO_COMPAT_REPLICA: Feature = Feature::ro_compat(0x800);
/// `read-only`: the filesystem must be mounted read-only.
pub const RO_COMPAT_READONLY: Feature = Feature::ro_compat(0x1000);
/// `project`: project quotas.
pub const RO_COMPAT_PROJECT: Feature = Feature::ro_compat(0x2000);
/// `shared_blocks`: blocks shared between files (deduplicated images).
pub const RO_COMPAT_SHARED_BLOCKS: Feature = Feature::ro_compat(0x4000);
/// `verity`: files with a Merkle tree (fs-verity).
pub const RO_COMPAT_VERITY: Feature = Feature::ro_compat(0x8000);
/// `orphan_present`: the orphan file lists inodes.
pub const RO_COMPAT_ORPHAN_PRESENT: Feature = Feature::ro_compat(0x10000);

/// Every feature e2fsprogs names, with its name.
const NAMES: &[(Feature, &str)] = &[
    (COMPAT_DIR_PREALLOC, "dir_prealloc"),
    (COMPAT_IMAGIC_INODES, "imagic_inodes"),
    (COMPAT_HAS_JOURNAL, "has_journal"),
    (COMPAT_EXT_ATTR, "ext_attr"),
    (COMPAT_RESIZE_INODE, "resize_inode"),
    (COMPAT_DIR_INDEX, "dir_index"),
    (COMPAT_LAZY_BG, "lazy_bg"),
    (COMPAT_SNAPSHOT_BITMAP, "snapshot_bitmap"),
    (COMPAT_SPARSE_SUPER2, "sparse_super2"),
    (COMPAT_FAST_COMMIT, "fast_commit"),
    (COMPAT_STABLE_INODES, "stable_inodes"),
    (COMPAT_ORPHAN_FILE, "orphan_file"),
    (INCOMPAT_COMPRESSION, "compression"),
    (INCOMPAT_FILETYPE, "filetype"),
    (INCOMPAT_RECOVER, "needs_recovery"),
    (INCOMPAT_JOURNAL_DEV, "journal_dev"),
    (INCOMPAT_META_BG, "meta_bg"),
    (INCOMPAT_EXTENTS, "extent"),
    (INCOMPAT_64BIT, "64bit"),
    (INCOMPAT_MMP, "mmp"),
    (INCOMPAT_FLEX_BG, "flex_bg"),
    (INCOMPAT_EA_INODE, "ea_inode"),
    (INCOMPAT_DIRDATA, "dirdata"),
    (INCOMPAT_CSUM_SEED, "metadata_csum_seed"),
    (INCOMPAT_LARGEDIR, "large_dir"),
    (INCOMPAT_INLINE_DATA, "inline_data"),
    (INCOMPAT_ENCRYPT, "encrypt"),
    (INCOMPAT_CASEFOLD, "casefold"),
    (RO_COMPAT_SPARSE_SUPER, "sparse_super"),
    (RO_COMPAT_LARGE_FILE, "large_file"),
    (RO_COMPAT_BTREE_DIR, "btree_dir"),
    (RO_COMPAT_HUGE_FILE, "huge_file"),
    (RO_COMPAT_GDT_CSUM, "uninit_bg"),
    (RO_COMPAT_DIR_NLINK, "dir_nlink"),
    (RO_COMPAT_EXTRA_ISIZE, "extra_isize"),
    (RO_COMPAT_SNAPSHOT, "snapshot"),
    (RO_COMPAT_QUOTA, "quota"),
    (RO_COMPAT_BIGALLOC, "bigalloc"),
    (RO_COMPAT_METADATA_CSUM, "metadata_csum"),
    (RO_COMPAT_REPLICA, "replica"),
    (RO_COMPAT_READONLY, "read-only"),
    (RO_COMPAT_PROJECT, "project"),
    (RO_COMPAT_SHARED_BLOCKS, "shared_blocks"),
    (RO_COMPAT_VERITY, "verity"),
    (RO_COMPAT_ORPHAN_PRESENT, "orphan_present"),
];

/// The three feature words of a superblock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Features {
    /// `s_feature_compat`.
    pub compat: u32,
    /// `s_feature_incompat`.
    pub incompat: u32,
    /// `s_feature_ro_compat`.
    pub ro_compat: u32,
}

impl Features {
    /// No feature at all.
    pub const NONE: Features = Features {
        compat: 0,
        incompat: 0,
        ro_compat: 0,
    };

    /// The set of these features.
    pub const fn of(features: &[Feature]) -> Features {
        let mut set = Features::NONE;
        let mut i = 0;
        while i < features.len() {
            set = set.with(features[i]);
            i += 1;
        }
        set
    }

    /// This set and `feature`.
    pub const fn with(self, feature: Feature) -> Features {
        let Features {
            mut compat,
            mut incompat,
            mut ro_compat,
        } = self;
        match feature.set {
            FeatureSet::Compat => compat |= feature.bit,
            FeatureSet::Incompat => incompat |= feature.bit,
            FeatureSet::RoCompat => ro_compat |= feature.bit,
        }
        Features {
            compat,
            incompat,
            ro_compat,
        }
    }

    /// This set without `feature`.
    pub fn without(mut self, feature: Feature) -> Features {
        let word = match feature.set {
            FeatureSet::Compat => &mut self.compat,
            FeatureSet::Incompat => &mut self.incompat,
            FeatureSet::RoCompat => &mut self.ro_compat,
        };
        *word &= !feature.bit;
        self
    }

    /// The word of `set`.
    pub fn word(self, set: FeatureSet) -> u32 {
        match set {
            FeatureSet::Compat => self.compat,
            FeatureSet::Incompat => self.incompat,
            FeatureSet::RoCompat => self.ro_compat,
        }
    }

    /// Whether `feature` is in the set.
    pub fn has(self, feature: Feature) -> bool {
        self.word(feature.set) & feature.bit != 0
    }

    /// Whether any feature of `other` is in the set.
    pub fn has_any(self, other: Features) -> bool {
        self.compat & other.compat != 0
            || self.incompat & other.incompat != 0
            || self.ro_compat & other.ro_compat != 0
    }

    /// The features of `set` in this set, lowest bit first.
    pub fn iter(self, set: FeatureSet) -> impl Iterator<Item = Feature> {
        let word = self.word(set);
        (0..32)
            .map(|shift| 1u32 << shift)
            .filter(move |bit| word & bit != 0)
            .map(move |bit| Feature { set, bit })
    }

    /// The names of every feature in the set: the compatible ones, then the
    /// incompatible and the read-only-compatible ones, lowest bit first.
    pub fn names(self) -> impl Iterator<Item = String> {
        [
            FeatureSet::Compat,
            FeatureSet::Incompat,
            FeatureSet::RoCompat,
        ]
        .into_iter()
        .flat_map(move |set| self.iter(set))
        .map(Feature::name)
    }

    /// The feature words of the superblock `sb`.
    pub fn read(sb: &[u8]) -> Features {
        Features {
            compat: get_u32(sb, S_FEATURE_COMPAT),
            incompat: get_u32(sb, S_FEATURE_INCOMPAT),
            ro_compat: get_u32(sb, S_FEATURE_RO_COMPAT),
        }
    }

    /// Stores the feature words in the superblock `sb`.
    pub fn write(self, sb: &mut [u8]) {
        put_u32(sb, S_FEATURE_COMPAT, self.compat);
        put_u32(sb, S_FEATURE_INCOMPAT, self.incompat);
        put_u32(sb, S_FEATURE_RO_COMPAT, self.ro_compat);
    }
}

impl BitOr<Feature> for Features {
    type Output = Features;

    fn bitor(self, feature: Feature) -> Features {
        self.with(feature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_e2fsprogs() {
        let set = Features::of(&[
            INCOMPAT_FILETYPE,
            INCOMPAT_EXTENTS,
            INCOMPAT_INLINE_DATA,
            Feature::incompat(1 << 30),
        ]);
        let names: Vec<String> = set.names().collect();
        assert_eq!(names, ["filetype", "extent", "inline_data", "FEATURE_I30"]);
        assert_eq!(COMPAT_ORPHAN_FILE.name(), "orphan_file");
        assert_eq!(RO_COMPAT_VERITY.name(), "verity");
        assert_eq!(Feature::ro_compat(1 << 20).name(), "FEATURE_R20");
    }

    #[test]
    fn every_name_is_listed_once() {
        for (i, (feature, name)) in NAMES.iter().enumerate() {
            assert!(feature.bit.is_power_of_two(), "{name}");
            assert!(
                NAMES[i + 1..]
                    .iter()
                    .all(|(f, n)| f != feature && n != name),
                "{name}"
            );
        }
    }

    #[test]
    fn sets_test_the_right_word() {
        let set = Features::NONE | COMPAT_HAS_JOURNAL | RO_COMPAT_METADATA_CSUM;
        assert_eq!((set.compat, set.incompat, set.ro_compat), (0x4, 0, 0x400));
        assert!(set.has(COMPAT_HAS_JOURNAL));
        // The same bit in another word is another feature.
        assert!(!set.has(INCOMPAT_RECOVER));
        assert!(set.has_any(Features::of(&[INCOMPAT_64BIT, RO_COMPAT_METADATA_CSUM])));
        assert!(!set.has_any(Features::of(&[INCOMPAT_64BIT])));
        let mut sb = [0u8; 1024];
        set.write(&mut sb);
        assert_eq!(Features::read(&sb), set);
    }
}
