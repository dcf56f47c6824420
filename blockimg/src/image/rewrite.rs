//! Rewriting the ext4 filesystem of an existing image: the filesystem is
//! read into a [`Tree`], the caller changes the tree, and
//! [`ExistingFilesystem::rewrite_filesystem`] plans a complete new
//! filesystem and writes it into a temporary file beside the image (every
//! byte outside the filesystem copied unchanged), syncs it and renames it
//! over the image. The image is therefore either untouched or completely
//! updated. `blockimg add` and the FUSE mount's commit both take this path.
//!
//! A filesystem whose journal holds changes not yet applied is first
//! replayed into the image ([`ExistingFilesystem::replay_journal`]), so
//! that the tree read and the data copied are the filesystem's current
//! state.
//!
//! The image is opened under an [`ImageLock`] its caller took: a writer's
//! for a rewrite, which refuses every other writer and reader until it is
//! dropped, makes sure the path still names the image that was read before
//! renaming over it, and moves to the new image with the rename
//! ([`crate::lock`]).
//!
//! The new filesystem keeps the old one's size, block size, inode count,
//! UUID, label, directory hash seed, reserved-blocks percentage and whether
//! it has a journal; everything else is blockimg's own layout (ext4 with
//! extents, 64bit, flex_bg, metadata_csum).

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use crate::disk::{ImageSpec, Partition};
use crate::error::Ext4Error;
use crate::error::{Error, LockError, Result};
use crate::ext4::read::{replay_in_place, Ext4Reader, FsInfo, JournalDamage, Replayed};
use crate::ext4::update::{update, CommitStep, Existing, UpdateOutcome, UpdateSummary};
use crate::ext4::{Ext4Options, Ext4Plan};
use crate::lock::{Access, ImageLock};
use crate::sink::{Sink, SparseFile};
use crate::tree::{Node, NodeId, NodeKind, Timestamp, Tree};

/// Offset of `s_hash_seed` from the filesystem's start (superblock at
/// 1024, field at 0xEC).
const HASH_SEED_OFFSET: u64 = 1024 + 0xEC;

/// Bytes copied at a time from outside the filesystem.
const COPY_CHUNK: usize = 1 << 20;

/// An image's filesystem as read: its tree and the inode number of each
/// node ([`ExistingFilesystem::load`]).
#[derive(Clone, Debug)]
pub struct Loaded {
    /// The tree.
    pub tree: Tree,
    /// The inode number of each node, by [`NodeId`] index.
    pub inos: Vec<u32>,
    /// Whether every directory's entries were read: only then may a
    /// commit rewrite the filesystem from the tree.
    pub complete: bool,
}

impl Loaded {
    /// The part of this tree a change touches: the directories `expand`
    /// accepts have their entries (the root always), the others are
    /// directories without entries; with, for each node of this tree, its
    /// node in the part (`None` when it is not there). A commit of a
    /// change confined to that part compares it alone.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::image::Loaded;
    /// use blockimg::tree::{Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let meta = Metadata::directory(Timestamp::from_secs(0));
    /// let mut tree = Tree::new(meta.clone());
    /// let etc = tree.add(Tree::ROOT, b"etc", Node::new(meta.clone(), NodeKind::Directory(Default::default())))?;
    /// tree.add(etc, b"ssh", Node::new(meta, NodeKind::Directory(Default::default())))?;
    /// let loaded = Loaded { tree, inos: vec![2, 12, 13], complete: true };
    /// let (part, map) = loaded.restricted(&|_| false);
    /// assert_eq!(part.tree.len(), 2); // the root and /etc, without its entries
    /// assert_eq!(part.inos, [2, 12]);
    /// assert!(map[2].is_none() && !part.complete);
    /// # Ok(())
    /// # }
    /// ```
    pub fn restricted(&self, expand: &dyn Fn(NodeId) -> bool) -> (Loaded, Vec<Option<NodeId>>) {
        let old = &self.tree;
        let mut tree = Tree::new(old.node(Tree::ROOT).meta.clone());
        tree.node_mut(Tree::ROOT).xattrs = old.node(Tree::ROOT).xattrs.clone();
        let mut map = vec![None; old.len()];
        let mut inos = vec![self.inos.first().copied().unwrap_or(2)];
        if let Some(root) = map.first_mut() {
            *root = Some(Tree::ROOT);
        }
        let mut queue = std::collections::VecDeque::from([Tree::ROOT]);
        while let Some(dir) = queue.pop_front() {
            let Some(part_dir) = map.get(dir.index()).copied().flatten() else {
                continue;
            };
            let Some(entries) = old.entries(dir) else {
                continue;
            };
            for (name, &child) in entries {
                let known = map.get(child.index()).copied().flatten();
                let id = match known {
                    Some(id) => {
                        // A second name of a file already placed (names
                        // are unique in a directory, so this cannot fail).
                        let _ = tree.link(part_dir, name, id);
                        continue;
                    }
                    None => {
                        let node = old.node(child);
                        let kind = match &node.kind {
                            NodeKind::Directory(_) => NodeKind::Directory(Default::default()),
                            other => other.clone(),
                        };
                        let copy = Node {
                            meta: node.meta.clone(),
                            kind,
                            xattrs: node.xattrs.clone(),
                        };
                        let Ok(id) = tree.add(part_dir, name, copy) else {
                            continue;
                        };
                        id
                    }
                };
                if let Some(slot) = map.get_mut(child.index()) {
                    *slot = Some(id);
                }
                inos.push(self.inos.get(child.index()).copied().unwrap_or(0));
                if old.node(child).is_dir() && expand(child) {
                    queue.push_back(child);
                }
            }
        }
        (
            Loaded {
                tree,
                inos,
                complete: false,
            },
            map,
        )
    }
}

/// How [`ExistingFilesystem::commit`] changed the image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Commit {
    /// In place, writing only what changed.
    InPlace(UpdateSummary),
    /// By a full rewrite, for this reason.
    Rewritten {
        /// Why the change could not be made in place.
        reason: String,
    },
}

impl std::fmt::Display for Commit {
    /// The commit in words: `changed in place: 2 inodes, 2 new blocks, 6
    /// metadata blocks through the journal`, or `rewritten whole: REASON`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Commit::InPlace(s) if s.adopted_blocks > 0 => write!(
                f,
                "changed in place: {} inodes, {} new blocks, {} blocks of data adopted where they were written, {} metadata blocks through the journal",
                s.inodes, s.new_blocks, s.adopted_blocks, s.metadata_blocks
            ),
            Commit::InPlace(s) => write!(
                f,
                "changed in place: {} inodes, {} new blocks, {} metadata blocks through the journal",
                s.inodes, s.new_blocks, s.metadata_blocks
            ),
            Commit::Rewritten { reason } => write!(f, "rewritten whole: {reason}"),
        }
    }
}

/// The filesystem of an image, opened to be read and rewritten.
///
/// # Examples
///
/// ```
/// use blockimg::disk::found::ImageSpec;
/// use blockimg::image::ExistingFilesystem;
/// use blockimg::lock::ImageLock;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n\
/// #             [[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// let lock = ImageLock::write(&image, "rename /etc/name")?; // no other program meanwhile
/// let (existing, reader) = ExistingFilesystem::open(&ImageSpec::parse(image.as_os_str())?, lock)?;
/// existing.check_rewritable()?; // ext4, not ext2 or ext3
/// let mut tree = reader.read_tree()?;
/// let etc = tree.lookup(b"/etc").ok_or("no /etc")?;
/// tree.unlink(etc, b"name");
/// existing.rewrite_filesystem(&tree)?; // same size, UUID and label
///
/// let fs = ImageSpec::parse(image.as_os_str())?.open_ext4()?;
/// assert!(fs.lookup(b"/etc/name").is_err());
/// assert_eq!(fs.info().uuid, existing.info.uuid);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ExistingFilesystem {
    /// The image file (symlinks resolved: a rewrite replaces this file).
    pub path: PathBuf,
    /// The image, open for reading.
    pub file: File,
    /// The lock on the image the caller took: a writer's for a rewrite.
    pub lock: Arc<ImageLock>,
    /// Size of the image file.
    pub file_len: u64,
    /// The partition holding the filesystem.
    pub partition: Partition,
    /// Size of the filesystem in bytes (it may be smaller than its
    /// partition).
    pub fs_size: u64,
    /// What the superblock says.
    pub info: FsInfo,
    /// How a rewrite formats the new filesystem so that it keeps its size,
    /// block size, inode count, UUID, label, hash seed and journal.
    pub options: Ext4Options,
    /// What is wrong with the filesystem's journal, if anything: a rewrite
    /// would replace it with an empty one, so it is refused.
    pub journal_damage: Option<JournalDamage>,
}

impl ExistingFilesystem {
    /// Replays the journal of the filesystem `spec` names into the image
    /// when it holds changes not yet applied (`needs_recovery`), as e2fsck
    /// does ([`replay_in_place`]); returns what was replayed, `None` when
    /// nothing needed to be. The image must be a raw file open to writing.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    /// use blockimg::image::ExistingFilesystem;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// let spec = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?;
    /// assert_eq!(ExistingFilesystem::replay_journal(&spec)?, None); // a clean filesystem
    /// # Ok(())
    /// # }
    /// ```
    pub fn replay_journal(spec: &ImageSpec) -> Result<Option<Replayed>> {
        let (_, partition) = spec.locate()?;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&spec.path)
            .map_err(|e| Error::io(&spec.path, e))?;
        replay_in_place(&file, partition.start, &spec.path)
    }

    /// Opens the filesystem `spec` names, which `lock` holds (for writing,
    /// to rewrite it); returns it with a reader over it (for
    /// [`Ext4Reader::read_tree`]). [`LockError::Replaced`] if the image was
    /// replaced since it was locked.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    /// use blockimg::image::ExistingFilesystem;
    /// use blockimg::lock::ImageLock;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// let spec = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?;
    /// let lock = ImageLock::write(&spec.path, "example")?;
    /// let (existing, reader) = ExistingFilesystem::open(&spec, lock)?;
    /// assert_eq!(existing.partition.start, 1 << 20);
    /// assert_eq!(existing.options.uuid, Some(reader.info().uuid)); // a rewrite keeps it
    /// # Ok(())
    /// # }
    /// ```
    pub fn open(spec: &ImageSpec, lock: ImageLock) -> Result<(ExistingFilesystem, Ext4Reader)> {
        let path = lock.path().to_path_buf();
        let spec = ImageSpec {
            path: path.clone(),
            partition: spec.partition,
        };
        let (file, partition) = spec.locate()?;
        lock.check_file(&file)?;
        let file_len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        let reader_file = file.try_clone().map_err(|e| Error::io(&path, e))?;
        let reader = Ext4Reader::open(reader_file, partition.start, &path)?;
        let info = reader.info().clone();
        let mut hash_seed = [0u8; 16];
        file.read_exact_at(&mut hash_seed, partition.start + HASH_SEED_OFFSET)
            .map_err(|e| Error::io(&path, e))?;
        let fs_size = info.blocks_count * u64::from(info.block_size);
        let reserved_percent = (info.reserved_blocks * 100 + info.blocks_count / 2)
            .checked_div(info.blocks_count)
            .unwrap_or(0)
            .min(50) as u8;
        let options = Ext4Options {
            block_size: info.block_size,
            label: String::from_utf8_lossy(&info.label).into_owned(),
            uuid: Some(info.uuid),
            hash_seed: Some(hash_seed),
            timestamp: None,
            journal: info.has_feature("has_journal"),
            // The inode count comes from min_inodes alone.
            inode_ratio: Some(u64::MAX),
            reserved_percent,
            min_inodes: u64::from(info.inodes_count),
        };
        let existing = ExistingFilesystem {
            path,
            file,
            lock: Arc::new(lock),
            file_len,
            partition,
            fs_size,
            info,
            options,
            journal_damage: reader.journal_damage().cloned(),
        };
        Ok((existing, reader))
    }

    /// Why a rewrite would change what the filesystem is, if it would:
    /// ext2 and ext3 filesystems (no `extent` feature) would come back as
    /// ext4, and a damaged journal would come back empty.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    /// use blockimg::image::ExistingFilesystem;
    /// use blockimg::lock::ImageLock;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// let spec = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?;
    /// let (existing, _) = ExistingFilesystem::open(&spec, ImageLock::read(&spec.path)?)?;
    /// assert_eq!(existing.rewrite_refusal(), None); // ext4: a rewrite keeps it ext4
    /// # Ok(())
    /// # }
    /// ```
    pub fn rewrite_refusal(&self) -> Option<String> {
        if !self.info.has_feature("extent") {
            return Some("an ext2/ext3 filesystem (no extents) would be rewritten as ext4".into());
        }
        self.journal_damage.as_ref().map(|damage| {
            format!(
                "the damaged journal ({damage}; `e2fsck -fy` repairs it) would be replaced by an empty one"
            )
        })
    }

    /// Fails with [`Ext4Error::NotRewritable`] when [`Self::rewrite_refusal`]
    /// gives a reason.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    /// use blockimg::image::ExistingFilesystem;
    /// use blockimg::lock::ImageLock;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// let spec = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?;
    /// let (existing, _) = ExistingFilesystem::open(&spec, ImageLock::read(&spec.path)?)?;
    /// existing.check_rewritable()?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn check_rewritable(&self) -> Result<()> {
        match self.rewrite_refusal() {
            Some(reason) => Err(Error::from(Ext4Error::NotRewritable {
                image: self.path.clone(),
                reason,
            })),
            None => Ok(()),
        }
    }

    /// Plans `tree` into a new filesystem with this one's options and
    /// replaces the image with a copy holding it: a temporary file beside
    /// the image receives every byte outside the filesystem unchanged and
    /// the new filesystem in its range, is synced and renamed over the
    /// image, and takes the old file's permissions (and owner, as root).
    /// On any error (the tree does not fit, a read fails) the temporary
    /// file is removed and the image is untouched.
    ///
    /// The image's lock must be a writer's ([`LockError::NotWriter`]
    /// otherwise). Before the rename the image's path must still name the
    /// file that was opened ([`LockError::Replaced`] otherwise: another
    /// program replaced it, and its image is kept); the new file is locked
    /// before it appears at the path, and the lock stays on it.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    /// use blockimg::image::ExistingFilesystem;
    /// use blockimg::lock::ImageLock;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// let spec = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?;
    /// let lock = ImageLock::write(&spec.path, "example")?;
    /// let (existing, reader) = ExistingFilesystem::open(&spec, lock)?;
    /// let mut tree = reader.read_tree()?;
    /// tree.set_owner_all(1000, 1000);
    /// existing.rewrite_filesystem(&tree)?;
    /// let fs = spec.open_ext4()?;
    /// assert_eq!(fs.stat(fs.lookup(b"/")?)?.meta.uid, 1000);
    /// # Ok(())
    /// # }
    /// ```
    pub fn rewrite_filesystem(&self, tree: &Tree) -> Result<()> {
        if self.lock.access() != Access::Write {
            return Err(LockError::NotWriter {
                image: self.path.clone(),
            }
            .into());
        }
        let plan = Ext4Plan::new(tree, self.fs_size, &self.options)?;
        let original = self.file.metadata().map_err(|e| Error::io(&self.path, e))?;
        let mut sink = SparseFile::replacing(Arc::clone(&self.lock))?;
        let start = self.partition.start;
        self.copy_range(&mut sink, 0, start)?;
        self.copy_range(&mut sink, start + self.fs_size, self.file_len)?;
        plan.write(&mut sink, start, &mut |_| {})?;
        sink.finish(self.file_len)?;
        // The new file takes the old one's permissions and, when we may,
        // owner.
        std::fs::set_permissions(
            &self.path,
            std::fs::Permissions::from_mode(original.mode() & 0o7777),
        )
        .map_err(|e| Error::io(&self.path, e))?;
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(&self.path, Some(original.uid()), Some(original.gid()))
                .map_err(|e| Error::io(&self.path, e))?;
        }
        Ok(())
    }

    /// Changes the filesystem into one holding `new`, at the cost of what
    /// changed when it can ([`crate::ext4::update`]: data into free space,
    /// the metadata through the journal, then in place), else by
    /// [`ExistingFilesystem::rewrite_filesystem`]; says which ran.
    /// `loaded` is the tree `reader` read (with the inode number of each
    /// node) and `origin` maps a node of `new` to the node of `loaded` it
    /// was. `step` is told each step of an in-place commit.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    /// use blockimg::image::{Commit, ExistingFilesystem};
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"32M\"\n[[output]]\npath = \"disk.img\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// let spec = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?;
    /// let lock = blockimg::lock::ImageLock::write(&spec.path, "an example")?;
    /// let (existing, reader) = ExistingFilesystem::open(&spec, lock)?;
    /// let loaded = existing.load(&reader)?;
    /// let mut tree = loaded.tree.clone();
    /// let meta = Metadata { permissions: 0o644, ..Metadata::directory(Timestamp::from_secs(0)) };
    /// let hello = FileContent::from_bytes(b"hello\n".to_vec());
    /// tree.add(Tree::ROOT, b"hello", Node::new(meta, NodeKind::File(hello)))?;
    /// let old_len = loaded.tree.len();
    /// let commit = existing.commit(&reader, &loaded, &tree, &|id| (id.index() < old_len).then_some(id), &mut |_| {})?;
    /// assert!(matches!(commit, Commit::InPlace(_))); // only what changed was written
    /// let fs = spec.open_ext4()?;
    /// assert_eq!(fs.stat(fs.lookup(b"/hello")?)?.size, 6);
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit(
        &self,
        reader: &Ext4Reader,
        loaded: &Loaded,
        new: &Tree,
        origin: &dyn Fn(NodeId) -> Option<NodeId>,
        step: &mut dyn FnMut(CommitStep),
    ) -> Result<Commit> {
        match self.update_in_place(reader, loaded, new, origin, &[], step)? {
            UpdateOutcome::Updated(summary) => Ok(Commit::InPlace(summary)),
            UpdateOutcome::NotInPlace(reason) if loaded.complete => {
                self.rewrite_filesystem(new)?;
                Ok(Commit::Rewritten { reason })
            }
            UpdateOutcome::NotInPlace(reason) => Err(Error::InvalidOption {
                option: "tree".into(),
                reason: format!(
                    "{reason}, and a rewrite needs the whole tree, which was read only in part; nothing was written"
                ),
            }),
        }
    }

    /// The in-place half of [`ExistingFilesystem::commit`]: writes what
    /// changed, through the journal, or writes nothing and says why it
    /// cannot ([`crate::ext4::update::update`]). `loaded` may be a part of
    /// the tree ([`ExistingFilesystem::load_where`]). `placed` are free
    /// blocks into which file data of `new` was written beforehand, which
    /// files adopt instead of copying ([`Existing::placed`]; empty for
    /// none).
    pub fn update_in_place(
        &self,
        reader: &Ext4Reader,
        loaded: &Loaded,
        new: &Tree,
        origin: &dyn Fn(NodeId) -> Option<NodeId>,
        placed: &[(u64, u64)],
        step: &mut dyn FnMut(CommitStep),
    ) -> Result<UpdateOutcome> {
        self.check_rewritable()?;
        if self.lock.access() != Access::Write {
            return Err(LockError::NotWriter {
                image: self.path.clone(),
            }
            .into());
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&self.path)
            .map_err(|e| Error::io(&self.path, e))?;
        // The file written in place is the one locked and read.
        self.lock.check_file(&file)?;
        let existing = Existing {
            file: &file,
            path: &self.path,
            offset: self.partition.start,
            reader,
            tree: &loaded.tree,
            inos: &loaded.inos,
            placed,
        };
        update(&existing, new, origin, Timestamp::now(), step)
    }

    /// The blocks the filesystem does not use, in runs `(first block,
    /// count)`: where data can be written before a commit adopts it
    /// ([`ExistingFilesystem::update_in_place`]'s `placed`), invisible to
    /// the filesystem until then. `None` when the filesystem cannot be
    /// updated in place ([`crate::ext4::update::free_block_runs`]).
    pub fn free_block_runs(&self) -> Result<Option<Vec<(u64, u64)>>> {
        crate::ext4::update::free_block_runs(&self.file, &self.path, self.partition.start)
    }

    /// Reads the filesystem's tree with the inode number of each node,
    /// for [`ExistingFilesystem::commit`].
    pub fn load(&self, reader: &Ext4Reader) -> Result<Loaded> {
        let (tree, inos) = reader.read_tree_where(&|_| true)?;
        Ok(Loaded {
            tree,
            inos,
            complete: true,
        })
    }

    /// [`ExistingFilesystem::load`], reading the entries of only the
    /// directories whose path (`/`, `/etc`, ...) `expand` accepts: the
    /// others are loaded as directories without entries, which a commit
    /// leaves as they are. A change that touches one corner of a large
    /// filesystem reads only that corner.
    pub fn load_where(
        &self,
        reader: &Ext4Reader,
        expand: &dyn Fn(&[u8]) -> bool,
    ) -> Result<Loaded> {
        let (tree, inos) = reader.read_tree_where(expand)?;
        Ok(Loaded {
            tree,
            inos,
            complete: false,
        })
    }

    /// Copies bytes `from..to` of the image unchanged (all-zero chunks stay
    /// holes).
    fn copy_range(&self, sink: &mut SparseFile, from: u64, to: u64) -> Result<()> {
        let mut buf = vec![0u8; COPY_CHUNK];
        let mut pos = from;
        while pos < to {
            let n = (to - pos).min(COPY_CHUNK as u64) as usize;
            self.file
                .read_exact_at(&mut buf[..n], pos)
                .map_err(|e| Error::io(&self.path, e))?;
            sink.write_at(pos, &buf[..n])?;
            pos += n as u64;
        }
        Ok(())
    }
}
