//! Directories: every block read as a linear block of entries. An htree
//! directory reads the same way: its root block holds `.` and a `..` whose
//! record spans the index, and its index nodes hold one empty record
//! spanning the block, so walking every block finds each entry once.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::inode::{FileType, Inode};
use super::{Budget, Ext4Reader};
use crate::error::Result;
use crate::ext4::bytes::{get_u16, get_u32, get_u8};
use crate::ext4::csum::Checksummer;
use crate::ext4::format::dir::*;
use crate::ext4::format::inode::INDEX_FL;

/// One entry of a directory (`.` and `..` aside).
///
/// # Examples
///
/// ```
/// use blockimg::ext4::read::{Ext4Reader, FileType};
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
/// let entries = fs.read_dir(fs.lookup(b"/etc")?)?;
/// let name = entries.iter().find(|e| e.name == b"name").ok_or("no entry")?;
/// assert_eq!(name.file_type, Some(FileType::Symlink));
/// assert_eq!(fs.stat(name.ino)?.file_type, FileType::Symlink);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name.
    pub name: Vec<u8>,
    /// Inode it names.
    pub ino: u32,
    /// The type the entry records (`None` without the filetype feature or
    /// for an unknown value); the inode's own mode is authoritative.
    pub file_type: Option<FileType>,
}

/// What a block of a directory is.
enum BlockKind {
    /// Entries, possibly followed by a checksum tail.
    Leaf,
    /// An htree root or index node: count/limit header at this offset.
    Index(usize),
}

impl Ext4Reader {
    /// The entries of directory `ino` (without `.` and `..`), in on-disk
    /// order.
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
    /// let mut names: Vec<_> = fs.read_dir(fs.lookup(b"/etc")?)?.into_iter().map(|e| e.name).collect();
    /// names.sort();
    /// assert_eq!(names, [b"hostname".to_vec(), b"name".to_vec()]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_dir(&self, ino: u32) -> Result<Vec<DirEntry>> {
        let dir = self.typed_inode(ino, FileType::Directory, || format!("inode {ino}"))?;
        self.dir_entries(&dir, &mut Budget::new(self))
    }

    /// The entries of directory `dir`, in on-disk order.
    pub(super) fn dir_entries(&self, dir: &Inode, budget: &mut Budget) -> Result<Vec<DirEntry>> {
        let bs = self.sb.bs();
        let mut entries = Vec::new();
        let mut block = vec![0u8; bs as usize];
        for run in self.block_map(dir, budget)? {
            for i in 0..run.len {
                budget.charge(&self.volume)?;
                let (logical, physical) = (run.logical + i, run.physical + i);
                self.volume.read(physical * bs, &mut block)?;
                self.dir_block(dir, logical, &block, &mut entries)?;
            }
        }
        Ok(entries)
    }

    /// Checks block `logical` of directory `dir` (a leaf, or an htree root
    /// or index node) and appends its entries to `out`.
    pub(super) fn dir_block(
        &self,
        dir: &Inode,
        logical: u64,
        block: &[u8],
        out: &mut Vec<DirEntry>,
    ) -> Result<()> {
        let kind = self.block_kind(dir, logical, block);
        if let Some(csum) = &self.sb.csum {
            let seed = csum.inode_seed(dir.stat.ino, dir.generation);
            self.verify_dir_block(dir, logical, block, &kind, seed)?;
        }
        let entries = match (kind, leaf_tail(block)) {
            (BlockKind::Leaf, Some((entries, _))) => entries,
            _ => block,
        };
        self.parse_entries(dir, logical, entries, out)
    }

    /// Tells index blocks of an htree directory from its leaves: the root is
    /// block 0, and an index node starts with an empty record spanning the
    /// whole block.
    fn block_kind(&self, dir: &Inode, logical: u64, block: &[u8]) -> BlockKind {
        if dir.stat.flags & INDEX_FL == 0 {
            BlockKind::Leaf
        } else if logical == 0 {
            // The entries follow the root info, whatever its length.
            BlockKind::Index(DX_ROOT_INFO + usize::from(get_u8(block, DX_ROOT_INFO_LENGTH)))
        } else if get_u32(block, DE_INODE) == 0
            && self.rec_len(get_u16(block, DE_REC_LEN)) == block.len()
        {
            BlockKind::Index(DX_NODE_ENTRIES)
        } else {
            BlockKind::Leaf
        }
    }

    /// Checks the checksum of a leaf's tail or an index block's dx tail. A
    /// block without room for its tail is accepted, as the kernel does.
    fn verify_dir_block(
        &self,
        dir: &Inode,
        logical: u64,
        block: &[u8],
        kind: &BlockKind,
        seed: u32,
    ) -> Result<()> {
        let ino = dir.stat.ino;
        let structure = || format!("directory block {logical} of inode {ino}");
        match *kind {
            BlockKind::Leaf => {
                if let Some((entries, tail)) = leaf_tail(block) {
                    self.volume.check_csum(
                        structure,
                        get_u32(tail, DET_CHECKSUM),
                        Checksummer::owned(seed, entries),
                    )?;
                }
            }
            BlockKind::Index(at) => {
                let (limit, count) = (
                    usize::from(get_u16(block, at + DX_LIMIT)),
                    usize::from(get_u16(block, at + DX_COUNT)),
                );
                let tail = dx_tail_offset(at, limit);
                let counted = block
                    .get(..dx_tail_offset(at, count))
                    .filter(|_| count <= limit);
                if let (Some(counted), Some(tail)) = (counted, block.get(tail..tail + DX_TAIL_LEN))
                {
                    let mut sum = Checksummer::owned(seed, counted);
                    sum = Checksummer::owned(sum, tail.get(..DT_CHECKSUM).unwrap_or_default());
                    sum = Checksummer::owned(sum, &[0; 4]);
                    self.volume
                        .check_csum(structure, get_u32(tail, DT_CHECKSUM), sum)?;
                }
            }
        }
        Ok(())
    }

    /// A record length as stored: 64 KiB blocks store a whole-block record
    /// as 65535 or 0.
    fn rec_len(&self, stored: u16) -> usize {
        let bs = self.sb.bs() as usize;
        if bs >= 65536 && (stored == u16::MAX || stored == 0) {
            bs
        } else {
            usize::from(stored)
        }
    }

    /// Appends the entries of one block (its tail cut off) to `out`.
    fn parse_entries(
        &self,
        dir: &Inode,
        logical: u64,
        block: &[u8],
        out: &mut Vec<DirEntry>,
    ) -> Result<()> {
        let ino = dir.stat.ino;
        let mut at = 0;
        while let Some(rest) = block.get(at..).filter(|rest| !rest.is_empty()) {
            let field = || format!("directory block {logical} of inode {ino}, entry at byte {at}");
            let Some(header) = rest.get(..DE_NAME) else {
                return Err(self.volume.corrupt(
                    field(),
                    "",
                    "the entry's header runs past the block",
                ));
            };
            let rec_len = self.rec_len(get_u16(header, DE_REC_LEN));
            let name_len = usize::from(get_u8(header, DE_NAME_LEN));
            let name = rest
                .get(..rec_len)
                .filter(|_| rec_len >= DE_NAME && rec_len % 4 == 0)
                .and_then(|record| record.get(DE_NAME..DE_NAME + name_len));
            let Some(name) = name else {
                return Err(self.volume.corrupt(
                    field(),
                    format!("rec_len {rec_len}, name_len {name_len}"),
                    "the record does not fit its block or its name",
                ));
            };
            let target = get_u32(header, DE_INODE);
            if target != 0 && name != b"." && name != b".." {
                out.push(DirEntry {
                    name: name.to_vec(),
                    ino: target,
                    file_type: if self.sb.has_filetype() {
                        FileType::from_dirent(get_u8(header, DE_FILE_TYPE))
                    } else {
                        None
                    },
                });
            }
            at += rec_len;
        }
        Ok(())
    }
}

/// A leaf block's entries and its metadata_csum tail (an empty record of
/// 12 bytes with file type 0xDE), when it ends in one.
fn leaf_tail(block: &[u8]) -> Option<(&[u8], &[u8])> {
    let (entries, tail) = block.split_at_checked(block.len().checked_sub(LEAF_TAIL_LEN)?)?;
    let is_tail = get_u32(tail, DE_INODE) == 0
        && usize::from(get_u16(tail, DE_REC_LEN)) == LEAF_TAIL_LEN
        && get_u8(tail, DE_NAME_LEN) == 0
        && get_u8(tail, DE_FILE_TYPE) == FT_DIR_CSUM;
    is_tail.then_some((entries, tail))
}
