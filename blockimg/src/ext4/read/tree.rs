//! Loading a whole filesystem into a [`Tree`]: directories breadth-first
//! from the root, each inode once (an inode reached again is a hard link),
//! file data left in the image.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::inode::{FileType, Inode};
use super::{Budget, Ext4Reader, ROOT_INO};
use crate::error::SourceError;
use crate::error::{Error, Result};
use crate::tree::{Node, NodeId, NodeKind, Tree};

impl Ext4Reader {
    /// Every file, directory, symlink, device, FIFO and socket reachable
    /// from the root, with owners, modes, times, xattrs and hard links.
    /// Regular files' data stays in the image
    /// ([`crate::tree::DataSource::ImageExtents`]); `lost+found` is kept,
    /// as the planner reuses an existing one.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::Ext4Reader;
    /// use blockimg::ext4::{Ext4Options, Ext4Plan};
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
    /// // Copy the filesystem into a larger one: the tree's file data is read
    /// // from root.ext4 when the new image is written.
    /// let fs = Ext4Reader::open(std::fs::File::open(&path)?, 0, &path)?;
    /// let tree = fs.read_tree()?;
    /// assert!(tree.lookup(b"/etc/hostname").is_some());
    /// let plan = Ext4Plan::new(&tree, 32 << 20, &Ext4Options::default())?;
    /// let mut bigger = blockimg::sink::SparseFile::create(&dir.path().join("bigger.ext4"), false)?;
    /// plan.write(&mut bigger, 0, &mut |_| {})?;
    /// bigger.finish(32 << 20)?;
    /// assert_eq!(plan.geometry().blocks_count, (32 << 20) / 4096);
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_tree(&self) -> Result<Tree> {
        Ok(self.read_tree_where(&|_| true)?.0)
    }

    /// [`Ext4Reader::read_tree`] with the inode number of each node (by
    /// [`NodeId`] index), for an update that writes back only what
    /// changed; only the directories whose path `expand` accepts have
    /// their entries read (the others are nodes without entries), so that
    /// a change to one corner of a large filesystem reads only that
    /// corner.
    pub(crate) fn read_tree_where(
        &self,
        expand: &dyn Fn(&[u8]) -> bool,
    ) -> Result<(Tree, Vec<u32>)> {
        let mut budget = Budget::new(self);
        let root = self.inode(ROOT_INO)?;
        if root.stat.file_type != FileType::Directory {
            return Err(self.volume.corrupt(
                "root inode 2 mode",
                format!("{:o}", root.stat.mode()),
                "the root is not a directory",
            ));
        }
        let mut tree = Tree::new(root.stat.meta.clone());
        tree.node_mut(Tree::ROOT).xattrs = self.inode_xattrs(&root)?;
        let mut ids: HashMap<u32, NodeId> = HashMap::from([(ROOT_INO, Tree::ROOT)]);
        let mut inos = vec![ROOT_INO];
        let mut queue = VecDeque::from([(root, Tree::ROOT, b"/".to_vec())]);
        while let Some((dir, dir_id, dir_path)) = queue.pop_front() {
            for entry in self.dir_entries(&dir, &mut budget)? {
                let mut path = dir_path.clone();
                if path.len() > 1 {
                    path.push(b'/');
                }
                path.extend_from_slice(&entry.name);
                let in_context = |e: Error| {
                    Error::from(SourceError::Entry {
                        path: PathBuf::from(OsStr::from_bytes(&path)),
                        source: Box::new(e),
                    })
                };
                if let Some(&existing) = ids.get(&entry.ino) {
                    if tree.node(existing).is_dir() {
                        let e = self.volume.corrupt(
                            format!("directory inode {}", entry.ino),
                            "",
                            "has a second name (a directory hard link or a loop)",
                        );
                        return Err(in_context(e));
                    }
                    tree.link(dir_id, &entry.name, existing)
                        .map_err(in_context)?;
                    continue;
                }
                let inode = self.inode(entry.ino).map_err(in_context)?;
                let node = self.node_of(&inode, &mut budget).map_err(in_context)?;
                let is_dir = node.is_dir();
                let id = tree.add(dir_id, &entry.name, node).map_err(in_context)?;
                ids.insert(entry.ino, id);
                inos.push(entry.ino);
                if is_dir && expand(&path) {
                    queue.push_back((inode, id, path));
                }
            }
        }
        Ok((tree, inos))
    }

    /// The tree node of one inode (a directory without its entries yet).
    fn node_of(&self, inode: &Inode, budget: &mut Budget) -> Result<Node> {
        let kind = match inode.stat.file_type {
            FileType::RegularFile => NodeKind::File(self.content_of(inode, budget)?),
            FileType::Directory => NodeKind::Directory(BTreeMap::new()),
            FileType::Symlink => NodeKind::Symlink(self.symlink_target(inode, budget)?),
            FileType::CharDevice | FileType::BlockDevice => {
                let (major, minor) = inode.stat.rdev.unwrap_or_default();
                if inode.stat.file_type == FileType::CharDevice {
                    NodeKind::CharDevice { major, minor }
                } else {
                    NodeKind::BlockDevice { major, minor }
                }
            }
            FileType::Fifo => NodeKind::Fifo,
            FileType::Socket => NodeKind::Socket,
        };
        Ok(Node {
            meta: inode.stat.meta.clone(),
            kind,
            xattrs: self.inode_xattrs(inode)?,
        })
    }
}
