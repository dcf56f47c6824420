//! The jbd2 superblock of an internal journal (the first block of the
//! journal inode): checked so that a journal with transactions to replay is
//! replayed (`super::replay`) before the filesystem is read, and a damaged
//! journal is never silently replaced by a rewrite.
//!
//! Reading the files of a filesystem does not need its journal once the
//! journal is empty, so a damaged journal superblock only stops writes (see
//! [`JournalDamage`]), unless the journal holds transactions to replay. The
//! fields are laid out in [`crate::ext4::format::jbd2`].
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::fmt;

use super::blockmap::BlockRun;
use super::inode::FileType;
use super::{Budget, Ext4Reader};
use crate::error::Error;
use crate::error::{Corrupt, Ext4Error};
use crate::ext4::bytes::get_be32;
use crate::ext4::format::jbd2::*;
pub(crate) use crate::ext4::journal::superblock_checksum;

/// What the journal superblock of a filesystem says
/// ([`Ext4Reader::journal`](super::Ext4Reader::journal)).
///
/// # Examples
///
/// ```
/// use blockimg::ext4::read::{Ext4Reader, JournalInfo};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"64M\"\n[[output]]\npath = \"disk.img\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// let fs = Ext4Reader::open(std::fs::File::open(&image)?, 1 << 20, &image)?;
/// let journal: &JournalInfo = fs.journal().expect("an internal journal");
/// assert_eq!((journal.version, journal.incompat), (2, 0));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalInfo {
    /// Superblock version: 1 or 2.
    pub version: u8,
    /// `s_blocksize`: the journal's block size (the filesystem's).
    pub block_size: u32,
    /// `s_maxlen`: blocks in the journal.
    pub blocks: u32,
    /// `s_first`: first block of log information.
    pub first: u32,
    /// `s_sequence`: first transaction ID expected in the log.
    pub sequence: u32,
    /// `s_feature_incompat` (0 for a version 1 superblock).
    pub incompat: u32,
    /// Whether the superblock carries a crc32c checksum (csum v2 or v3),
    /// which was verified.
    pub checksummed: bool,
}

/// A field of the journal superblock that breaks jbd2's rules
/// ([`Ext4Reader::journal_damage`](super::Ext4Reader::journal_damage)).
///
/// # Examples
///
/// ```
/// use blockimg::ext4::read::JournalDamage;
///
/// let damage = JournalDamage {
///     field: "journal superblock s_magic".into(),
///     value: "0x0".into(),
///     reason: "not a jbd2 superblock".into(),
/// };
/// assert!(damage.to_string().contains("s_magic"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JournalDamage {
    /// The field (`journal superblock s_magic`, `journal inode 8`).
    pub field: String,
    /// The value found.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl JournalDamage {
    /// The damage an error reading `field` (the journal inode, its map,
    /// its first block) shows.
    pub(super) fn from_error(field: &str, error: Error) -> Self {
        match error {
            Error::Ext4(Ext4Error::Corrupt(corrupt)) => {
                let Corrupt {
                    field: inner,
                    value,
                    reason,
                    ..
                } = *corrupt;
                JournalDamage {
                    field: format!("{field}: {inner}"),
                    value,
                    reason,
                }
            }
            Error::Ext4(Ext4Error::Checksum {
                structure,
                stored,
                computed,
                ..
            }) => JournalDamage {
                field: format!("{field}: {structure} checksum"),
                value: format!("{stored:#010x}"),
                reason: format!("its contents give {computed:#010x}"),
            },
            other => JournalDamage {
                field: field.into(),
                value: String::new(),
                reason: other.to_string(),
            },
        }
    }
}

impl fmt::Display for JournalDamage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{}: {}", self.field, self.reason)
        } else {
            write!(f, "{} is {}: {}", self.field, self.value, self.reason)
        }
    }
}

/// A sound journal superblock: what it says, where its log starts and
/// the UUID its checksums are seeded with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct JournalSuper {
    pub info: JournalInfo,
    /// `s_start`: the block the log starts at, 0 for an empty journal.
    pub start: u32,
    /// `s_uuid`.
    pub uuid: [u8; 16],
}

/// The internal journal: its superblock and where its blocks are.
#[derive(Clone, Debug)]
pub(crate) struct Journal {
    pub sb: JournalSuper,
    /// The journal inode's blocks, ascending by logical block.
    pub(super) runs: Vec<BlockRun>,
}

impl Journal {
    /// The filesystem block holding block `n` of the journal, if mapped.
    pub fn physical(&self, n: u32) -> Option<u64> {
        let n = u64::from(n);
        let i = self.runs.partition_point(|r| r.logical + r.len <= n);
        self.runs
            .get(i)
            .filter(|r| r.logical <= n)
            .map(|r| r.physical + (n - r.logical))
    }
}

impl Ext4Reader {
    /// The superblock of the internal journal: `None` without a journal,
    /// with an external one, or when [`Ext4Reader::journal_damage`] says
    /// why it cannot be used.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::Ext4Reader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"64M\"\n[[output]]\npath = \"disk.img\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.img");
    /// // disk.img: a 64 MiB MBR disk whose ext4 filesystem, at 1 MiB, has a journal.
    /// let fs = Ext4Reader::open(std::fs::File::open(&image)?, 1 << 20, &image)?;
    /// let journal = fs.journal().expect("an internal journal");
    /// assert_eq!(journal.block_size, 4096);
    /// assert!(journal.first >= 1 && journal.first < journal.blocks);
    /// # Ok(())
    /// # }
    /// ```
    pub fn journal(&self) -> Option<&JournalInfo> {
        self.journal.as_ref()
    }

    /// What is wrong with the internal journal (its inode, its superblock),
    /// if anything. Reading the filesystem is unaffected, as the journal is
    /// empty or unreadable; writing into it must be refused, since a
    /// rewrite would replace the journal without a word.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::Ext4Reader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"64M\"\n[[output]]\npath = \"disk.img\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.img");
    /// // disk.img: a 64 MiB MBR disk whose ext4 filesystem, at 1 MiB, has a journal.
    /// let fs = Ext4Reader::open(std::fs::File::open(&image)?, 1 << 20, &image)?;
    /// // A sound journal: the filesystem may be rewritten.
    /// assert_eq!(fs.journal_damage(), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn journal_damage(&self) -> Option<&JournalDamage> {
        self.journal_damage.as_ref()
    }

    /// The internal journal, for an update that writes a transaction into
    /// it: `None` without one or when it is damaged.
    pub(crate) fn internal_journal(&self) -> Option<Journal> {
        self.read_journal().ok().flatten()
    }

    /// Reads and checks the superblock of the internal journal.
    pub(super) fn read_journal(&self) -> std::result::Result<Option<Journal>, JournalDamage> {
        let sb = &self.sb;
        if !sb.has_journal() || (sb.journal_inum == 0 && sb.external_journal) {
            return Ok(None);
        }
        let ino = sb.journal_inum;
        let field = format!("journal inode {ino}");
        let unreadable = |e: Error| JournalDamage::from_error(&field, e);
        if ino == 0 {
            return Err(JournalDamage {
                field: "superblock s_journal_inum".into(),
                value: "0".into(),
                reason: "has_journal is set without a journal inode or device".into(),
            });
        }
        let inode = self
            .typed_inode(ino, FileType::RegularFile, || field.clone())
            .map_err(unreadable)?;
        let bs = self.sb.bs();
        let runs = self
            .block_map(&inode, &mut Budget::new(self))
            .map_err(unreadable)?;
        let first = runs
            .iter()
            .find(|r| r.logical == 0)
            .ok_or_else(|| JournalDamage {
                field: field.clone(),
                value: format!("{} bytes", inode.stat.size),
                reason: "its first block, the journal superblock, is not mapped".into(),
            })?;
        let mut block = vec![0u8; JOURNAL_SUPERBLOCK_LEN];
        self.volume
            .read(first.physical * bs, &mut block)
            .map_err(unreadable)?;
        let sb = parse(&block, self.sb.info.block_size, inode.stat.size / bs)?;
        Ok(Some(Journal { sb, runs }))
    }
}

fn damaged(field: &str, value: impl fmt::Display, reason: impl Into<String>) -> JournalDamage {
    JournalDamage {
        field: format!("journal superblock {field}"),
        value: value.to_string(),
        reason: reason.into(),
    }
}

/// Parses and checks the journal superblock `raw` (the journal's first
/// block) of a filesystem with blocks of `block_size` bytes whose journal
/// inode holds `inode_blocks` blocks.
pub(super) fn parse(
    raw: &[u8],
    block_size: u32,
    inode_blocks: u64,
) -> Result<JournalSuper, JournalDamage> {
    let be = |offset| get_be32(raw, offset);
    if raw.len() < JOURNAL_SUPERBLOCK_LEN {
        return Err(damaged(
            "length",
            raw.len(),
            format!("a journal superblock has {JOURNAL_SUPERBLOCK_LEN} bytes"),
        ));
    }
    let magic = be(H_MAGIC);
    if magic != JBD2_MAGIC {
        return Err(damaged(
            "h_magic",
            format!("{magic:#010x}"),
            format!("not a jbd2 journal (expected {JBD2_MAGIC:#010x})"),
        ));
    }
    let version = match be(H_BLOCKTYPE) {
        SUPERBLOCK_V1 => 1,
        SUPERBLOCK_V2 => 2,
        other => {
            return Err(damaged(
                "h_blocktype",
                other,
                "a journal superblock is of type 3 (version 1) or 4 (version 2)",
            ))
        }
    };
    let incompat = if version == 2 {
        be(S_FEATURE_INCOMPAT)
    } else {
        0
    };
    let unknown = incompat & !KNOWN_INCOMPAT;
    if unknown != 0 {
        return Err(damaged(
            "s_feature_incompat",
            format!("{incompat:#x}"),
            format!("unknown incompatible journal features {unknown:#x}"),
        ));
    }
    let checksummed = incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0;
    if checksummed {
        let kind = raw.get(S_CHECKSUM_TYPE).copied().unwrap_or_default();
        if kind != CRC32C_CHKSUM {
            return Err(damaged(
                "s_checksum_type",
                kind,
                format!("checksum v2 and v3 use crc32c ({CRC32C_CHKSUM})"),
            ));
        }
        let (stored, computed) = (be(S_CHECKSUM), superblock_checksum(raw));
        if stored != computed {
            return Err(damaged(
                "s_checksum",
                format!("{stored:#010x}"),
                format!("the superblock's crc32c is {computed:#010x}"),
            ));
        }
    }
    let journal_block_size = be(S_BLOCKSIZE);
    if journal_block_size != block_size {
        return Err(damaged(
            "s_blocksize",
            journal_block_size,
            format!("the filesystem's blocks are {block_size} bytes"),
        ));
    }
    let blocks = be(S_MAXLEN);
    if u64::from(blocks) > inode_blocks {
        return Err(damaged(
            "s_maxlen",
            blocks,
            format!("the journal inode holds {inode_blocks} blocks"),
        ));
    }
    let first = be(S_FIRST);
    if first == 0 || first >= blocks {
        return Err(damaged(
            "s_first",
            first,
            format!("the log starts after the superblock and within the journal's {blocks} blocks"),
        ));
    }
    let start = be(S_START);
    if start != 0 && (start < first || start >= blocks) {
        return Err(damaged(
            "s_start",
            start,
            format!(
                "the log lies in blocks {first} to {} of the journal",
                blocks - 1
            ),
        ));
    }
    let mut uuid = [0u8; 16];
    for (o, b) in uuid.iter_mut().zip(raw.iter().skip(S_UUID)) {
        *o = *b;
    }
    Ok(JournalSuper {
        info: JournalInfo {
            version,
            block_size,
            blocks,
            first,
            sequence: be(S_SEQUENCE),
            incompat,
            checksummed,
        },
        start,
        uuid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::disk::ImageSpec;
    use crate::ext4::read::Ext4Reader;
    use crate::ext4::test_tools::tool;
    use crate::image::ExistingFilesystem;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    /// Runs `program` with `args` and returns its standard output.
    fn run(program: &Path, args: &[&str], img: &Path) -> String {
        let out = Command::new(program).args(args).arg(img).output().unwrap();
        assert!(out.status.success(), "{program:?} {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A 32 MiB ext4 of 4 KiB blocks made by mke2fs, and debugfs.
    fn mke2fs_image(dir: &Path) -> Option<(PathBuf, PathBuf)> {
        let (Some(mke2fs), Some(debugfs)) = (tool("mke2fs"), tool("debugfs")) else {
            eprintln!("skipping: mke2fs or debugfs not installed");
            return None;
        };
        let img = dir.join("fs.img");
        let out = Command::new(&mke2fs)
            .args(["-q", "-F", "-t", "ext4", "-b", "4096"])
            .arg(&img)
            .arg("32M")
            .output()
            .unwrap();
        assert!(out.status.success(), "mke2fs: {out:?}");
        Some((img, debugfs))
    }

    fn open(img: &Path) -> crate::Result<Ext4Reader> {
        Ext4Reader::open(std::fs::File::open(img).unwrap(), 0, img)
    }

    /// Byte offset of the journal superblock: block 0 of inode 8, as
    /// debugfs maps it.
    fn journal_offset(debugfs: &Path, img: &Path) -> u64 {
        let block: u64 = run(debugfs, &["-R", "bmap <8> 0"], img)
            .trim()
            .parse()
            .unwrap();
        block * 4096
    }

    fn patch(img: &Path, offset: u64, bytes: &[u8]) {
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new().write(true).open(img).unwrap();
        file.write_all_at(bytes, offset).unwrap();
    }

    /// The value dumpe2fs prints for `key` among the superblock's fields.
    fn dumpe2fs(img: &Path, key: &str) -> Option<String> {
        let out = run(&tool("dumpe2fs")?, &["-h"], img);
        out.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    }

    #[test]
    fn what_the_writer_makes_parses() {
        let uuid = [7u8; 16];
        let block = crate::ext4::journal::superblock(4096, 1024, &uuid);
        let info = parse(&block, 4096, 1024).unwrap().info;
        assert_eq!((info.version, info.blocks, info.first), (2, 1024, 1));
        assert!(!info.checksummed);
        // The inode holding fewer blocks than s_maxlen says.
        assert!(matches!(
            parse(&block, 4096, 1023),
            Err(d) if d.field == "journal superblock s_maxlen" && d.value == "1024"
        ));
    }

    #[test]
    fn short_and_empty_input_is_an_error() {
        for len in [0, 1, 12, 1023] {
            assert!(matches!(
                parse(&vec![0xFF; len], 4096, 1 << 20),
                Err(d) if d.field == "journal superblock length"
            ));
        }
    }

    #[test]
    fn a_mke2fs_journal_reads_as_dumpe2fs_shows_it() {
        let dir = tempfile::tempdir().unwrap();
        let Some((img, debugfs)) = mke2fs_image(dir.path()) else {
            return;
        };
        let reader = open(&img).unwrap();
        assert_eq!(reader.journal_damage(), None);
        let journal = reader.journal().unwrap();
        assert_eq!(
            dumpe2fs(&img, "Total journal blocks").unwrap(),
            journal.blocks.to_string()
        );
        assert_eq!(
            dumpe2fs(&img, "Journal sequence").unwrap(),
            format!("{:#010x}", journal.sequence)
        );
        assert!(!journal.checksummed);

        // debugfs opening the journal with checksums writes a csum v3
        // superblock, whose checksum dumpe2fs prints and we verify.
        let cmds = dir.path().join("cmds");
        std::fs::write(&cmds, "jo -c\njc\n").unwrap();
        run(&debugfs, &["-w", "-f", cmds.to_str().unwrap()], &img);
        assert_eq!(
            dumpe2fs(&img, "Journal features").unwrap(),
            "journal_64bit journal_checksum_v3"
        );
        let reader = open(&img).unwrap();
        assert_eq!(reader.journal_damage(), None);
        let journal = reader.journal().unwrap();
        assert!(journal.checksummed);
        assert_eq!(journal.incompat, INCOMPAT_64BIT | INCOMPAT_CSUM_V3);
        let at = journal_offset(&debugfs, &img);
        let mut raw = vec![0u8; JOURNAL_SUPERBLOCK_LEN];
        use std::os::unix::fs::FileExt;
        std::fs::File::open(&img)
            .unwrap()
            .read_exact_at(&mut raw, at)
            .unwrap();
        assert_eq!(
            dumpe2fs(&img, "Journal checksum").unwrap(),
            format!("{:#010x}", superblock_checksum(&raw))
        );

        // A flipped byte the checksum covers.
        patch(&img, at + 0x200, &[0x5A]);
        let reader = open(&img).unwrap();
        let damage = reader.journal_damage().unwrap();
        assert_eq!(damage.field, "journal superblock s_checksum");
        assert!(reader.read_tree().is_ok(), "reading goes on");
    }

    /// Each field flipped in a mke2fs journal: damage named by field (reads
    /// go on, rewrites are refused), or a refusal for a log to replay.
    #[test]
    fn damaged_journal_superblocks_name_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let Some((pristine, debugfs)) = mke2fs_image(dir.path()) else {
            return;
        };
        let at = journal_offset(&debugfs, &pristine);
        let img = dir.path().join("damaged.img");
        let cases: [(usize, &[u8], &str, &str); 6] = [
            (H_MAGIC, &[0xC0, 0x3B, 0x39, 0x99], "h_magic", "0xc03b3999"),
            (H_BLOCKTYPE, &[0, 0, 0, 5], "h_blocktype", "5"),
            (S_BLOCKSIZE, &[0, 0, 0x04, 0], "s_blocksize", "1024"),
            (S_FIRST, &[0, 0, 0, 0], "s_first", "0"),
            (
                S_FEATURE_INCOMPAT,
                &[0, 0, 0, 0x40],
                "s_feature_incompat",
                "0x40",
            ),
            (S_MAXLEN, &[0, 0, 0x20, 0], "s_maxlen", "8192"),
        ];
        for (offset, bytes, field, value) in cases {
            std::fs::copy(&pristine, &img).unwrap();
            patch(&img, at + offset as u64, bytes);
            let reader = open(&img).unwrap_or_else(|e| panic!("{field}: {e}"));
            let damage = reader.journal_damage().unwrap();
            assert_eq!(damage.field, format!("journal superblock {field}"));
            assert_eq!(damage.value, value, "{damage}");
            assert!(reader.journal().is_none());
            assert!(reader.read_tree().is_ok(), "{field}: reading goes on");
            let spec = ImageSpec {
                path: img.clone(),
                partition: None,
            };
            let lock = crate::lock::ImageLock::read(&img).unwrap();
            let (existing, _) = ExistingFilesystem::open(&spec, lock).unwrap();
            match existing.check_rewritable() {
                Err(crate::Error::Ext4(Ext4Error::NotRewritable { reason, .. })) => {
                    assert!(reason.contains(&damage.to_string()), "{reason}")
                }
                other => panic!("{field}: a rewrite was not refused: {other:?}"),
            }
        }

        // A log to replay (s_start 1) without needs_recovery: replayed,
        // though block 1 holds no transaction.
        std::fs::copy(&pristine, &img).unwrap();
        patch(&img, at + S_START as u64, &[0, 0, 0, 1]);
        let reader = open(&img).unwrap();
        let replayed = reader.replayed().unwrap();
        assert_eq!((replayed.transactions, replayed.blocks), (0, 0));
        // s_start outside the log: damage, and reads go on.
        patch(&img, at + S_START as u64, &[0, 1, 0, 0]);
        let reader = open(&img).unwrap();
        assert_eq!(
            reader.journal_damage().unwrap().field,
            "journal superblock s_start"
        );

        // The journal inode's extent tree broken: damage naming the inode.
        std::fs::copy(&pristine, &img).unwrap();
        let cmds = dir.path().join("cmds");
        std::fs::write(&cmds, "sif <8> block[0] 0\n").unwrap();
        run(&debugfs, &["-w", "-f", cmds.to_str().unwrap()], &img);
        let reader = open(&img).unwrap();
        let damage = reader.journal_damage().unwrap();
        assert!(damage.field.starts_with("journal inode 8"), "{damage}");
    }
}
