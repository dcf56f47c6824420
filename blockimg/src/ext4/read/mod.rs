//! Reading an existing ext4 (or ext2/ext3) filesystem: the filesystem of an
//! image made by blockimg, mke2fs or genext2fs, at any offset of an image
//! file.
//!
//! [`Ext4Reader`] answers the questions a file browser or a FUSE layer asks
//! (`stat`, `read_dir`, `lookup`, `read_file`, `readlink`, xattrs) and loads
//! the whole filesystem into a [`Tree`](crate::tree::Tree) whose file data stays in the image
//! ([`DataSource::ImageExtents`]), ready to be planned into a new image.
//!
//! Nothing in an image is trusted: every offset, count and block number is
//! checked, walks are bounded, and metadata_csum checksums are verified.
//! Features whose data the reader would misread (inline_data, encryption,
//! a journal that needs recovery, ...) are refused by name.
//!
//! ```no_run
//! use blockimg::ext4::read::Ext4Reader;
//!
//! # fn main() -> blockimg::Result<()> {
//! let file = std::fs::File::open("rootfs.img").map_err(|e| blockimg::Error::io("rootfs.img", e))?;
//! let fs = Ext4Reader::open(file, 0, "rootfs.img")?;
//! let ino = fs.lookup(b"/etc/hostname")?;
//! let mut buf = vec![0u8; fs.stat(ino)?.size as usize];
//! let n = fs.read_file(ino, 0, &mut buf)?;
//! println!("{}", String::from_utf8_lossy(&buf[..n]));
//! let tree = fs.read_tree()?; // everything, data left in the image
//! # Ok(())
//! # }
//! ```
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

mod blockmap;
mod dir;
#[doc(hidden)]
pub mod fuzzing;
mod groups;
mod inode;
mod journal;
mod superblock;
mod tree;
mod volume;
mod xattr;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use dir::DirEntry;
pub use inode::{FileType, Stat};
pub use journal::{JournalDamage, JournalInfo};
pub use superblock::FsInfo;

use groups::GroupDesc;
use journal::JournalProblem;
use superblock::Superblock;
use volume::Volume;

use crate::disk_format::{Backing, DiskBytes};
use crate::error::Ext4Error;
use crate::error::{Error, Result};
use crate::ext4::format::jbd2::JOURNAL_SUPERBLOCK_LEN;
use crate::ext4::format::superblock::{SUPERBLOCK_LEN, SUPERBLOCK_OFFSET, SUPER_MAGIC, S_MAGIC};
use crate::tree::{read_runs, DataSource, ExtentRun, FileContent, Segment, Xattr};

pub use crate::ext4::format::inode::ROOT_INO;

/// Deepest path [`Ext4Reader::lookup`] follows.
const MAX_PATH_DEPTH: usize = 4096;

/// An open ext4 filesystem. Every method takes `&self` and reads with
/// positioned reads, so one reader can serve many threads.
///
/// # Examples
///
/// ```
/// use blockimg::ext4::read::{Ext4Reader, FileType};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("root.ext4");
/// # {
/// #     use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
/// #     let time = Timestamp::from_secs(1_700_000_000);
/// #     let (dir_meta, file_meta) = (Metadata::directory(time), Metadata { permissions: 0o644, ..Metadata::directory(time) });
/// #     let mut tree = Tree::new(dir_meta.clone());
/// #     let etc = tree.add(Tree::ROOT, b"etc", Node::new(dir_meta, NodeKind::Directory(Default::default())))?;
/// #     let hostname = FileContent::from_bytes(&b"appliance\n"[..]);
/// #     tree.add(etc, b"hostname", Node::new(file_meta.clone(), NodeKind::File(hostname)))?;
/// #     tree.add(etc, b"name", Node::new(file_meta, NodeKind::Symlink(b"hostname".to_vec())))?;
/// #     let plan = blockimg::ext4::Ext4Plan::new(&tree, 8 << 20, &Default::default())?;
/// #     let mut image = blockimg::sink::SparseFile::create(&path, false)?;
/// #     plan.write(&mut image, 0, &mut |_| {})?;
/// #     image.finish(8 << 20)?;
/// # }
/// // root.ext4: a filesystem image holding /etc/hostname and a symlink to it.
/// let fs = Ext4Reader::open(std::fs::File::open(&path)?, 0, &path)?;
/// let ino = fs.lookup(b"/etc/hostname")?;
/// let stat = fs.stat(ino)?;
/// assert_eq!((stat.file_type, stat.size, stat.meta.permissions), (FileType::RegularFile, 10, 0o644));
/// let mut buf = vec![0u8; stat.size as usize];
/// let n = fs.read_file(ino, 0, &mut buf)?;
/// assert_eq!(&buf[..n], b"appliance\n");
///
/// let etc = fs.lookup(b"/etc")?;
/// let mut names: Vec<_> = fs.read_dir(etc)?.into_iter().map(|e| e.name).collect();
/// names.sort();
/// assert_eq!(names, [&b"hostname"[..], b"name"]);
/// let link = fs.lookup_in(etc, b"name")?.ok_or("no link")?;
/// assert_eq!(fs.readlink(link)?, b"hostname");
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Ext4Reader {
    volume: Volume,
    sb: Superblock,
    groups: Vec<GroupDesc>,
    /// The internal journal's superblock, when it is sound.
    journal: Option<JournalInfo>,
    /// What is wrong with the journal, when something is.
    journal_damage: Option<JournalDamage>,
}

/// Blocks of directories and block maps one walk may read. A valid
/// filesystem never needs more than it has blocks; a walk that does follows
/// blocks shared between structures, and is stopped.
struct Budget {
    left: u64,
}

impl Budget {
    fn new(reader: &Ext4Reader) -> Self {
        Budget {
            left: reader.sb.info.blocks_count,
        }
    }

    /// Accounts for one more block read.
    fn charge(&mut self, vol: &Volume) -> Result<()> {
        self.left = self.left.checked_sub(1).ok_or_else(|| {
            vol.corrupt("block maps", "", "directories and block maps reach more blocks than the filesystem has: blocks are shared between them")
        })?;
        Ok(())
    }
}

impl Ext4Reader {
    /// Opens the filesystem starting at byte `offset` of `file` (0 for a
    /// bare filesystem image, the partition's start in a disk image). `path`
    /// names the image in errors and in the data sources of
    /// [`Ext4Reader::read_tree`], which reopen it when the data is copied.
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
    /// assert_eq!(fs.stat(fs.lookup(b"/etc/hostname")?)?.size, 10);
    /// // Anything but an ext2/3/4 filesystem at that offset is refused.
    /// assert!(Ext4Reader::open(std::fs::File::open(&image)?, 0, &image).is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(file: File, offset: u64, path: impl Into<PathBuf>) -> Result<Self> {
        Self::open_bytes(Arc::new(file), offset, path)
    }

    /// Opens the filesystem starting at byte `offset` of a disk's `bytes`
    /// (any image format, from [`crate::disk_format::open_disk_bytes`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::open_disk_bytes;
    /// use blockimg::ext4::read::Ext4Reader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.vhd\"\n\
    /// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.vhd");
    /// // disk.vhd: a dynamic VHD of an MBR disk whose ext4 filesystem, at
    /// // 1 MiB, holds /etc/hostname.
    /// let (bytes, _format) = open_disk_bytes(&image)?;
    /// let fs = Ext4Reader::open_bytes(bytes, 1 << 20, &image)?;
    /// let mut buf = [0u8; 16];
    /// let n = fs.read_file(fs.lookup(b"/etc/hostname")?, 0, &mut buf)?;
    /// assert_eq!(&buf[..n], b"appliance\n");
    /// # Ok(())
    /// # }
    /// ```
    pub fn open_bytes(bytes: DiskBytes, offset: u64, path: impl Into<PathBuf>) -> Result<Self> {
        let volume = Volume::new(bytes, offset, path.into())?;
        let mut raw = [0u8; SUPERBLOCK_LEN];
        volume.read(SUPERBLOCK_OFFSET, &mut raw)?;
        let sb = Superblock::parse(&raw, &volume)?;
        let groups = groups::read(&volume, &sb)?;
        let mut reader = Ext4Reader {
            volume,
            sb,
            groups,
            journal: None,
            journal_damage: None,
        };
        match reader.read_journal() {
            Ok(journal) => reader.journal = journal,
            Err(JournalProblem::Damaged(damage)) => reader.journal_damage = Some(damage),
            Err(JournalProblem::NeedsReplay { start }) => {
                return Err(reader.volume.corrupt(
                    "journal superblock s_start",
                    start,
                    "the journal holds changes not yet applied (though needs_recovery is not set); run `e2fsck -fy` on the image (or mount and unmount it) first",
                ))
            }
        }
        Ok(reader)
    }

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

    /// Reads and checks the superblock of the internal journal.
    fn read_journal(&self) -> std::result::Result<Option<JournalInfo>, JournalProblem> {
        let sb = &self.sb;
        if !sb.has_journal() || (sb.journal_inum == 0 && sb.external_journal) {
            return Ok(None);
        }
        let ino = sb.journal_inum;
        let field = format!("journal inode {ino}");
        let unreadable = |e: Error| JournalProblem::Damaged(JournalDamage::from_error(&field, e));
        if ino == 0 {
            return Err(JournalProblem::Damaged(JournalDamage {
                field: "superblock s_journal_inum".into(),
                value: "0".into(),
                reason: "has_journal is set without a journal inode or device".into(),
            }));
        }
        let inode = self
            .typed_inode(ino, FileType::RegularFile, || field.clone())
            .map_err(unreadable)?;
        let bs = self.sb.bs();
        let runs = self
            .block_map(&inode, &mut Budget::new(self))
            .map_err(unreadable)?;
        let first = runs.iter().find(|r| r.logical == 0).ok_or_else(|| {
            JournalProblem::Damaged(JournalDamage {
                field: field.clone(),
                value: format!("{} bytes", inode.stat.size),
                reason: "its first block, the journal superblock, is not mapped".into(),
            })
        })?;
        let mut block = vec![0u8; JOURNAL_SUPERBLOCK_LEN];
        self.volume
            .read(first.physical * bs, &mut block)
            .map_err(unreadable)?;
        journal::parse(&block, self.sb.info.block_size, inode.stat.size / bs).map(Some)
    }

    /// Whether an ext2/3/4 superblock magic is where a filesystem starting
    /// at byte `offset` of `file` would have it (a quick test, before
    /// [`Ext4Reader::open`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("root.ext4");
    /// # {
    /// #     use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    /// #     let time = Timestamp::from_secs(1_700_000_000);
    /// #     let (dir_meta, file_meta) = (Metadata::directory(time), Metadata { permissions: 0o644, ..Metadata::directory(time) });
    /// #     let mut tree = Tree::new(dir_meta.clone());
    /// #     let etc = tree.add(Tree::ROOT, b"etc", Node::new(dir_meta, NodeKind::Directory(Default::default())))?;
    /// #     let hostname = FileContent::from_bytes(&b"appliance\n"[..]);
    /// #     tree.add(etc, b"hostname", Node::new(file_meta.clone(), NodeKind::File(hostname)))?;
    /// #     tree.add(etc, b"name", Node::new(file_meta, NodeKind::Symlink(b"hostname".to_vec())))?;
    /// #     let plan = blockimg::ext4::Ext4Plan::new(&tree, 8 << 20, &Default::default())?;
    /// #     let mut image = blockimg::sink::SparseFile::create(&path, false)?;
    /// #     plan.write(&mut image, 0, &mut |_| {})?;
    /// #     image.finish(8 << 20)?;
    /// # }
    /// let file = std::fs::File::open(&path)?;
    /// assert!(blockimg::ext4::read::Ext4Reader::probe(&file, 0));
    /// assert!(!blockimg::ext4::read::Ext4Reader::probe(&file, 4096)); // no filesystem starts there
    /// # Ok(())
    /// # }
    /// ```
    pub fn probe(bytes: &dyn Backing, offset: u64) -> bool {
        let mut magic = [0u8; 2];
        let at = offset.saturating_add(SUPERBLOCK_OFFSET + S_MAGIC as u64);
        bytes.read_exact_at(&mut magic, at).is_ok() && u16::from_le_bytes(magic) == SUPER_MAGIC
    }

    /// What the superblock says: UUID, label, sizes, counts, features.
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
    /// assert_eq!((info.block_size, info.blocks_count), (4096, 7 * 256)); // 7 MiB
    /// assert!(info.has_feature("extent"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn info(&self) -> &FsInfo {
        &self.sb.info
    }

    /// The image file.
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
    /// assert_eq!(fs.image_path(), image); // for messages
    /// # Ok(())
    /// # }
    /// ```
    pub fn image_path(&self) -> &Path {
        &self.volume.path
    }

    /// Byte offset of the filesystem within the image file.
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
    /// assert_eq!(fs.offset(), 1 << 20);
    /// # Ok(())
    /// # }
    /// ```
    pub fn offset(&self) -> u64 {
        self.volume.offset
    }

    /// Type, permissions, owner, size, times and link count of inode `ino`.
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
    /// let stat = fs.stat(fs.lookup(b"/etc/hostname")?)?;
    /// assert_eq!((stat.file_type, stat.size, stat.links), (FileType::RegularFile, 10, 1));
    /// assert_eq!(stat.mode(), 0o100644);
    /// # Ok(())
    /// # }
    /// ```
    pub fn stat(&self, ino: u32) -> Result<Stat> {
        Ok(self.inode(ino)?.stat)
    }

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

    /// The inode named `name` in directory `dir`, if there is one.
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
    /// let etc = fs.lookup(b"/etc")?;
    /// assert_eq!(fs.lookup_in(etc, b"hostname")?, Some(fs.lookup(b"/etc/hostname")?));
    /// assert_eq!(fs.lookup_in(etc, b"passwd")?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn lookup_in(&self, dir: u32, name: &[u8]) -> Result<Option<u32>> {
        Ok(self
            .read_dir(dir)?
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.ino))
    }

    /// The inode at `path` (`/`-separated, from the root; `.` and `..`
    /// are followed, symlinks are not).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::{Ext4Reader, ROOT_INO};
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
    /// assert_eq!(fs.lookup(b"/")?, ROOT_INO);
    /// assert_eq!(fs.lookup(b"/etc/../etc/hostname")?, fs.lookup(b"/etc/hostname")?);
    /// assert!(fs.lookup(b"/etc/passwd").is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn lookup(&self, path: &[u8]) -> Result<u32> {
        let show = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        let mut trail = vec![ROOT_INO];
        for (i, component) in path.split(|&b| b == b'/').enumerate() {
            let here = *trail.last().unwrap_or(&ROOT_INO);
            match component {
                b"" | b"." => continue,
                b".." => {
                    if trail.len() > 1 {
                        trail.pop();
                    }
                    continue;
                }
                _ => {}
            }
            if trail.len() > MAX_PATH_DEPTH {
                return Err(self.no_such_path(&show(path)));
            }
            let walked = || {
                show(
                    &path
                        .split(|&b| b == b'/')
                        .take(i)
                        .collect::<Vec<_>>()
                        .join(&b'/'),
                )
            };
            let dir = self.typed_inode(here, FileType::Directory, walked)?;
            let entries = self.dir_entries(&dir, &mut Budget::new(self))?;
            match entries.into_iter().find(|e| e.name == component) {
                Some(entry) => trail.push(entry.ino),
                None => return Err(self.no_such_path(&show(path))),
            }
        }
        Ok(*trail.last().unwrap_or(&ROOT_INO))
    }

    fn no_such_path(&self, path: &str) -> Error {
        Error::from(Ext4Error::NoSuchPath {
            image: self.image_path().to_path_buf(),
            path: path.to_string(),
        })
    }

    /// The target of symlink `ino`.
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
    /// assert_eq!(fs.readlink(fs.lookup(b"/etc/name")?)?, b"hostname");
    /// # Ok(())
    /// # }
    /// ```
    pub fn readlink(&self, ino: u32) -> Result<Vec<u8>> {
        let inode = self.typed_inode(ino, FileType::Symlink, || format!("inode {ino}"))?;
        self.symlink_target(&inode, &mut Budget::new(self))
    }

    /// The extended attributes of inode `ino`, sorted by name, as the VFS
    /// shows them (POSIX ACLs in the `posix_acl_xattr` format).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::Ext4Reader;
    /// use blockimg::ext4::{Ext4Options, Ext4Plan};
    /// use blockimg::sink::SparseFile;
    /// use blockimg::tree::{Metadata, Timestamp, Tree, Xattr};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
    /// let label = Xattr { name: b"security.selinux".to_vec(), value: b"system_u:object_r:root_t:s0\0".to_vec() };
    /// tree.node_mut(Tree::ROOT).xattrs.push(label.clone());
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("root.ext4");
    /// let mut image = SparseFile::create(&path, false)?;
    /// Ext4Plan::new(&tree, 8 << 20, &Ext4Options::default())?.write(&mut image, 0, &mut |_| {})?;
    /// image.finish(8 << 20)?;
    ///
    /// let fs = Ext4Reader::open(std::fs::File::open(&path)?, 0, &path)?;
    /// assert_eq!(fs.xattrs(fs.lookup(b"/")?)?, [label]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn xattrs(&self, ino: u32) -> Result<Vec<Xattr>> {
        self.inode_xattrs(&self.inode(ino)?)
    }

    /// The content of regular file `ino` as a [`FileContent`] whose data
    /// stays in the image: `reader()` streams it, and an image built from
    /// it copies it from here.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// use blockimg::ext4::read::Ext4Reader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("root.ext4");
    /// # {
    /// #     use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    /// #     let time = Timestamp::from_secs(1_700_000_000);
    /// #     let (dir_meta, file_meta) = (Metadata::directory(time), Metadata { permissions: 0o644, ..Metadata::directory(time) });
    /// #     let mut tree = Tree::new(dir_meta.clone());
    /// #     let etc = tree.add(Tree::ROOT, b"etc", Node::new(dir_meta, NodeKind::Directory(Default::default())))?;
    /// #     let hostname = FileContent::from_bytes(&b"appliance\n"[..]);
    /// #     tree.add(etc, b"hostname", Node::new(file_meta.clone(), NodeKind::File(hostname)))?;
    /// #     tree.add(etc, b"name", Node::new(file_meta, NodeKind::Symlink(b"hostname".to_vec())))?;
    /// #     let plan = blockimg::ext4::Ext4Plan::new(&tree, 8 << 20, &Default::default())?;
    /// #     let mut image = blockimg::sink::SparseFile::create(&path, false)?;
    /// #     plan.write(&mut image, 0, &mut |_| {})?;
    /// #     image.finish(8 << 20)?;
    /// # }
    /// let fs = Ext4Reader::open(std::fs::File::open(&path)?, 0, &path)?;
    /// let content = fs.file_content(fs.lookup(b"/etc/hostname")?)?;
    /// let mut text = String::new();
    /// content.reader()?.read_to_string(&mut text)?;
    /// assert_eq!(text, "appliance\n");
    /// # Ok(())
    /// # }
    /// ```
    pub fn file_content(&self, ino: u32) -> Result<FileContent> {
        let inode = self.typed_inode(ino, FileType::RegularFile, || format!("inode {ino}"))?;
        self.content_of(&inode, &mut Budget::new(self))
    }

    /// Reads regular file `ino` from byte `offset` into `buf`; returns the
    /// number of bytes read, short only at the end of the file. Holes read
    /// as zeros.
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
    /// let mut buf = [0; 64];
    /// let n = fs.read_file(fs.lookup(b"/etc/hostname")?, 0, &mut buf)?;
    /// assert_eq!(&buf[..n], b"appliance\n");
    /// assert_eq!(fs.read_file(fs.lookup(b"/etc/hostname")?, 10, &mut buf)?, 0); // at the end
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_file(&self, ino: u32, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.read_content(&self.file_content(ino)?, offset, buf)
    }

    /// Like [`Ext4Reader::read_file`], for a file whose
    /// [`Ext4Reader::file_content`] the caller holds (reading a large file
    /// in pieces maps its blocks once). The bytes come through the reader,
    /// so this works on every image format the reader was opened on.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.vmdk\"\n\
    /// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.vmdk");
    /// // disk.vmdk: a stream-optimized VMDK whose root holds /etc/hostname.
    /// let fs = ImageSpec::parse(image.as_os_str())?.open_ext4()?;
    /// let content = fs.file_content(fs.lookup(b"/etc/hostname")?)?;
    /// let mut word = [0u8; 5];
    /// assert_eq!(fs.read_content(&content, 4, &mut word)?, 5);
    /// assert_eq!(&word, b"iance");
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_content(
        &self,
        content: &FileContent,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        let n = content.size.saturating_sub(offset).min(buf.len() as u64) as usize;
        let dst = buf.get_mut(..n).unwrap_or_default();
        match &content.source {
            // Through the volume, which reads any image format.
            DataSource::ImageExtents { runs, .. } => read_runs(
                runs,
                |r| r,
                offset,
                dst,
                |_, at, _, dst| self.volume.read(at.saturating_sub(self.volume.offset), dst),
            )?,
            other => other.read_at(None, offset, dst)?,
        }
        Ok(n)
    }

    /// Inode `ino`, which must be of type `expected`; `what` names it in
    /// the error when it is not.
    fn typed_inode(
        &self,
        ino: u32,
        expected: FileType,
        what: impl FnOnce() -> String,
    ) -> Result<inode::Inode> {
        let inode = self.inode(ino)?;
        if inode.stat.file_type != expected {
            return Err(Error::from(Ext4Error::WrongFileType {
                image: self.image_path().to_path_buf(),
                what: what(),
                expected,
            }));
        }
        Ok(inode)
    }

    /// The data of a regular file: its runs in the image, as a
    /// [`DataSource::ImageExtents`] with the matching segments.
    fn content_of(&self, inode: &inode::Inode, budget: &mut Budget) -> Result<FileContent> {
        let bs = self.sb.bs();
        let size = inode.stat.size;
        let mut runs = Vec::new();
        let mut segments: Vec<Segment> = Vec::new();
        for run in self.block_map(inode, budget)? {
            let file_offset = run.logical * bs;
            let len = run.len.saturating_mul(bs).min(size - file_offset);
            runs.push(ExtentRun {
                file_offset,
                image_offset: self.volume.offset + run.physical * bs,
                len,
            });
            match segments.last_mut() {
                Some(last) if last.offset + last.len == file_offset => last.len += len,
                _ => segments.push(Segment {
                    offset: file_offset,
                    len,
                }),
            }
        }
        Ok(FileContent {
            size,
            segments,
            source: DataSource::ImageExtents {
                path: Arc::clone(&self.volume.path),
                runs: runs.into(),
            },
        })
    }

    /// The target of a symlink: in `i_block` when short and without data
    /// blocks ("fast"), else in its first data block.
    fn symlink_target(&self, inode: &inode::Inode, budget: &mut Budget) -> Result<Vec<u8>> {
        let bs = self.sb.bs();
        let size = inode.stat.size;
        let ino = inode.stat.ino;
        if inode.data_sectors(bs) == 0 {
            let fast = usize::try_from(size)
                .ok()
                .filter(|&s| s < inode.i_block.len())
                .and_then(|s| inode.i_block.get(..s));
            if let Some(target) = fast {
                return Ok(target.to_vec());
            }
        }
        if size > bs {
            return Err(self.volume.corrupt(
                format!("symlink inode {ino} size"),
                size,
                format!("a target fits one {bs}-byte block"),
            ));
        }
        let run = self
            .block_map(inode, budget)?
            .into_iter()
            .find(|r| r.logical == 0);
        let run = run.ok_or_else(|| {
            self.volume.corrupt(
                format!("symlink inode {ino}"),
                size,
                "its target has no data block",
            )
        })?;
        let mut target = vec![0u8; size as usize];
        self.volume.read(run.physical * bs, &mut target)?;
        Ok(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{build_image, DiskSize, ImageOptions, PartitionTable};
    use crate::tree::{Metadata, Node, NodeKind, Timestamp, Tree};

    fn meta(permissions: u16, secs: i64) -> Metadata {
        let t = Timestamp {
            secs,
            nanos: 123_456_789,
        };
        Metadata {
            permissions,
            uid: 70_000,
            gid: 5,
            atime: t,
            mtime: t,
            ctime: t,
            crtime: Some(t),
        }
    }

    /// A tree planned into an image by the writer reads back node for node.
    #[test]
    fn a_planned_image_reads_back() {
        let mut tree = Tree::new(meta(0o755, 1_600_000_000));
        let dir = Node::new(meta(0o2750, 1), NodeKind::Directory(Default::default()));
        let dir = tree.add(Tree::ROOT, b"dir", dir).unwrap();
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7) as u8).collect();
        let file = Node::new(
            meta(0o4755, 4_300_000_000),
            NodeKind::File(FileContent::from_bytes(data.clone())),
        );
        let file = tree.add(dir, b"file", file).unwrap();
        tree.link(Tree::ROOT, b"hard", file).unwrap();
        tree.add(
            dir,
            b"link",
            Node::new(meta(0o777, -5), NodeKind::Symlink(vec![b'x'; 300])),
        )
        .unwrap();
        let device = NodeKind::CharDevice {
            major: 4000,
            minor: 1_000_000,
        };
        tree.add(Tree::ROOT, b"dev", Node::new(meta(0o600, 0), device))
            .unwrap();
        tree.node_mut(file).xattrs = vec![Xattr {
            name: b"user.big".to_vec(),
            value: vec![7; 3000],
        }];
        let tmp = tempfile::tempdir().unwrap();
        let img = tmp.path().join("fs.img");
        let options = ImageOptions {
            size: DiskSize::Exact(16 << 20),
            table: PartitionTable::None,
            boot_partitions: Default::default(),
            ext4: Default::default(),
            overwrite: false,
        };
        build_image(&tree, &options, &img).unwrap();

        let reader = Ext4Reader::open(File::open(&img).unwrap(), 0, &img).unwrap();
        assert_eq!(reader.info().block_size, 4096);
        assert!(reader.info().features.iter().any(|f| f == "metadata_csum"));
        // Our own journal passes the checks mke2fs's does.
        assert!(reader.info().has_feature("has_journal"));
        assert_eq!(reader.journal_damage(), None);
        let journal = reader.journal().unwrap();
        assert_eq!(
            (journal.version, journal.block_size, journal.first),
            (2, 4096, 1)
        );
        let read = reader.read_tree().unwrap();
        let lookup = |path: &[u8]| read.node(read.lookup(path).unwrap());
        assert_eq!(read.lookup(b"hard"), read.lookup(b"dir/file"));
        let file = lookup(b"dir/file");
        assert_eq!(file.meta, tree.node(tree.lookup(b"dir/file").unwrap()).meta);
        assert_eq!(file.xattrs.len(), 1);
        let NodeKind::File(content) = &file.kind else {
            panic!("not a file")
        };
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut content.reader().unwrap(), &mut back).unwrap();
        assert_eq!(back, data);
        assert!(matches!(&lookup(b"dir/link").kind, NodeKind::Symlink(t) if t.len() == 300));
        assert!(matches!(
            lookup(b"dev").kind,
            NodeKind::CharDevice {
                major: 4000,
                minor: 1_000_000
            }
        ));
        assert_eq!(lookup(b"dir").meta, meta(0o2750, 1));
        assert!(read.lookup(b"lost+found").is_some());

        let ino = reader.lookup(b"/dir/file").unwrap();
        let mut buf = [0u8; 10];
        assert_eq!(reader.read_file(ino, 99_995, &mut buf).unwrap(), 5);
        assert_eq!(buf[..5], data[99_995..]);
        assert_eq!(reader.stat(ino).unwrap().links, 2);
    }
}
