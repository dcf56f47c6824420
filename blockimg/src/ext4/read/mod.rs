//! Reading an existing ext4 (or ext2/ext3) filesystem: the filesystem of an
//! image made by blockimg, mke2fs or genext2fs, at any offset of an image
//! file.
//!
//! [`Ext4Reader`] answers the questions a file browser or a FUSE layer asks
//! (`stat`, `read_dir`, `lookup`, `read_file`, `readlink`, xattrs) and loads
//! the whole filesystem into a [`Tree`](crate::tree::Tree) whose file data stays in the image
//! ([`DataSource::ImageExtents`](crate::tree::DataSource::ImageExtents)),
//! ready to be planned into a new image.
//!
//! Nothing in an image is trusted: every offset, count and block number is
//! checked, walks are bounded, and metadata_csum checksums are verified.
//! Features whose data the reader would misread (inline_data, encryption,
//! ...) are refused by name. A journal that holds changes not yet applied
//! is replayed in memory ([`Ext4Reader::replayed`] says what it held);
//! [`replay_in_place`] applies them to the image.
//!
//! One module per on-disk structure parses and checks it at the offsets
//! the writer uses (`crate::ext4::format`): `superblock`, `groups`,
//! `inode`, `blockmap` (extent trees and ext2/3 block maps), `dir`,
//! `xattr`, `journal`, `replay` (the journal's log). `file` (data and symlink targets), `lookup` (paths)
//! and `tree` (the whole filesystem) answer the questions above with them.
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
mod file;
#[doc(hidden)]
pub mod fuzzing;
mod groups;
mod inode;
mod journal;
mod lookup;
mod replay;
mod superblock;
mod tree;
mod volume;
mod xattr;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use dir::DirEntry;
pub use inode::{FileType, Stat};
pub(crate) use journal::Journal;
pub use journal::{JournalDamage, JournalInfo};
pub use replay::{replay_in_place, Replayed};
pub use superblock::FsInfo;

use groups::GroupDesc;
use superblock::Superblock;
use volume::Volume;

use crate::disk_format::{Backing, DiskBytes};
use crate::error::Ext4Error;
use crate::error::{Error, Result};
use crate::ext4::format::jbd2::INCOMPAT_FAST_COMMIT;
use crate::ext4::format::superblock::{SUPERBLOCK_LEN, SUPERBLOCK_OFFSET, SUPER_MAGIC, S_MAGIC};

pub use crate::ext4::format::inode::ROOT_INO;

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
    /// What the journal replay made at opening held, when the journal
    /// needed one.
    replayed: Option<Replayed>,
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
        let mut reader = Self::load(Volume::new(bytes, offset, path.into())?)?;
        let journal = match reader.read_journal() {
            Ok(journal) => journal,
            Err(damage) if reader.sb.needs_recovery() => {
                return Err(reader.volume.corrupt(
                    damage.field,
                    damage.value,
                    format!("{}; needs_recovery is set and the journal cannot be replayed: `e2fsck -fy` repairs it", damage.reason),
                ))
            }
            Err(damage) => {
                reader.journal_damage = Some(damage);
                return Ok(reader);
            }
        };
        let Some(journal) = journal else {
            if reader.sb.needs_recovery() {
                return Err(reader.volume.unsupported(
                    "needs_recovery",
                    "the journal to replay is on another device",
                ));
            }
            return Ok(reader);
        };
        if journal.sb.start == 0 && !reader.sb.needs_recovery() {
            reader.journal = Some(journal.sb.info);
            return Ok(reader);
        }
        if journal.sb.info.incompat & INCOMPAT_FAST_COMMIT != 0 {
            return Err(reader.volume.unsupported(
                "journal fast_commit",
                "replaying a journal with fast commits is not supported; run `e2fsck -fy` on the image first",
            ));
        }
        let (overlay, replayed) =
            replay::replay(&reader.volume, &journal, reader.sb.info.blocks_count)?;
        let mut volume = reader.volume;
        volume.overlay = Some(overlay);
        let mut reader = Self::load(volume)?;
        reader.sb.clear_recovery();
        reader.journal = Some(JournalInfo {
            sequence: replayed.next_sequence,
            ..journal.sb.info
        });
        reader.replayed = Some(replayed);
        Ok(reader)
    }

    /// The superblock and group descriptors of `volume`, without the
    /// journal.
    fn load(volume: Volume) -> Result<Self> {
        let mut raw = [0u8; SUPERBLOCK_LEN];
        volume.read(SUPERBLOCK_OFFSET, &mut raw)?;
        let sb = Superblock::parse(&raw, &volume)?;
        let groups = groups::read(&volume, &sb)?;
        Ok(Ext4Reader {
            volume,
            sb,
            groups,
            journal: None,
            journal_damage: None,
            replayed: None,
        })
    }

    /// What the journal replay made when the filesystem was opened held:
    /// `None` when the journal held nothing to replay (`needs_recovery`
    /// clear and the log empty). Reads see the filesystem as replayed; the
    /// image is unchanged ([`replay_in_place`] changes it).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::Ext4Reader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.img");
    /// // disk.img: an MBR disk whose ext4 filesystem, at 1 MiB, was cleanly unmounted.
    /// let fs = Ext4Reader::open(std::fs::File::open(&image)?, 1 << 20, &image)?;
    /// assert_eq!(fs.replayed(), None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn replayed(&self) -> Option<&Replayed> {
        self.replayed.as_ref()
    }

    /// Whether bytes `at..at + len` of the image file hold a block the
    /// journal replay made at opening replaced: then the file data a
    /// [`crate::tree::DataSource::ImageExtents`] run names there is not what
    /// the filesystem as replayed holds (only a journal of file data, as
    /// `data=journal` writes, puts such blocks in the log). False when
    /// nothing was replayed.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::Ext4Reader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.img");
    /// let fs = Ext4Reader::open(std::fs::File::open(&image)?, 1 << 20, &image)?;
    /// assert!(!fs.replay_changes(1 << 20, 8 << 20)); // a clean journal replaced nothing
    /// # Ok(())
    /// # }
    /// ```
    pub fn replay_changes(&self, at: u64, len: u64) -> bool {
        let Some(overlay) = &self.volume.overlay else {
            return false;
        };
        let bs = self.sb.bs();
        let Some(start) = at.checked_sub(self.volume.offset) else {
            return false;
        };
        let (first, end) = (start / bs, start.saturating_add(len).div_ceil(bs));
        overlay.blocks.range(first..end).next().is_some()
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::{build_image, DiskSize, ImageOptions, PartitionTable};
    use crate::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree, Xattr};

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
