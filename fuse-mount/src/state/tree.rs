//! The inode table to and from a tree: loaded from the image's tree when
//! mounting, and the tree a commit writes.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::sync::Arc;

use blockimg::tree::{Node, NodeId, NodeKind, Tree, Xattr};

use super::{Config, Fs, Space, ROOT};
use crate::data::FileData;
use crate::inode::{Dir, Inode, Kind};
use crate::place::Placer;
use crate::spill::Spill;

impl Fs {
    /// The state of a filesystem loaded into `tree`, whose file data lies
    /// in `image` (the first of `files`; the spill file is the second).
    /// New data goes to free blocks of the image through `placer` while
    /// it has some, else to `spill`. `None` when a file's data is not in
    /// the image.
    pub fn new(
        tree: &Tree,
        files: Arc<[File]>,
        spill: Spill,
        placer: Option<Placer>,
        space: Space,
        config: Config,
    ) -> Option<Fs> {
        let ino_of = |id: NodeId| id.index() as u64 + 1;
        let mut inodes: Vec<Option<Inode>> = vec![None];
        for node in tree.nodes() {
            let kind = match &node.kind {
                NodeKind::File(content) => Kind::File(FileData::from_content(content)?),
                NodeKind::Directory(entries) => Kind::Dir(Dir {
                    entries: entries
                        .iter()
                        .map(|(name, &id)| (name.clone(), ino_of(id)))
                        .collect(),
                    parent: ROOT,
                    subdirs: 0,
                    record_bytes: entries.keys().map(|n| Dir::record_len(n)).sum(),
                }),
                NodeKind::Symlink(target) => Kind::Symlink(target.clone()),
                NodeKind::CharDevice { major, minor } => Kind::CharDevice(*major, *minor),
                NodeKind::BlockDevice { major, minor } => Kind::BlockDevice(*major, *minor),
                NodeKind::Fifo => Kind::Fifo,
                NodeKind::Socket => Kind::Socket,
            };
            let mut inode = Inode::new(node.meta.clone(), kind);
            inode.xattrs = node
                .xattrs
                .iter()
                .map(|x| (x.name.clone(), x.value.clone()))
                .collect();
            inodes.push(Some(inode));
        }
        // Links, parents and subdirectory counts from the entries.
        let mut children = Vec::new();
        for (index, node) in tree.nodes().iter().enumerate() {
            if let NodeKind::Directory(entries) = &node.kind {
                children.extend(entries.values().map(|&id| (index as u64 + 1, ino_of(id))));
            }
        }
        for (parent, child) in children {
            let is_dir = {
                let inode = inodes[child as usize].as_mut()?;
                inode.links += 1;
                matches!(inode.kind, Kind::Dir(_))
            };
            if is_dir {
                if let Some(Kind::Dir(dir)) = inodes[child as usize].as_mut().map(|i| &mut i.kind) {
                    dir.parent = parent;
                }
                if let Some(Kind::Dir(dir)) = inodes[parent as usize].as_mut().map(|i| &mut i.kind)
                {
                    dir.subdirs += 1;
                }
            }
        }
        let root = inodes[ROOT as usize].as_mut()?;
        root.links = 1;
        root.lookups = 1;
        let mut fs = Fs {
            inodes,
            files,
            spill,
            placer,
            space,
            used_blocks: 0,
            used_inodes: 0,
            block_limit: 0,
            inode_limit: 0,
            config,
            changed: false,
            dirty: Default::default(),
            dir_handles: HashMap::new(),
            next_handle: 1,
        };
        for ino in 1..fs.inodes.len() as u64 {
            fs.recount(ino);
        }
        fs.used_inodes = tree.len() as u64;
        fs.block_limit = fs.used_blocks + space.free_blocks;
        fs.inode_limit = fs.used_inodes + space.free_inodes;
        Some(fs)
    }

    /// The tree a commit writes: every inode reachable from the root, hard
    /// links as shared nodes, file data read from the image and the spill
    /// file; with the inode number (this state's) of each node.
    pub fn to_tree(&self) -> blockimg::Result<(Tree, Vec<u64>)> {
        self.to_tree_where(&|_| true)
    }

    /// The directories a commit of the changes made so far must read: those
    /// changed, those naming a changed inode, and every directory above
    /// them.
    pub fn changed_dirs(&self) -> HashSet<u64> {
        let mut dirs: HashSet<u64> = HashSet::from([ROOT]);
        for (ino, inode) in self.inodes.iter().enumerate() {
            let Some(Kind::Dir(dir)) = inode.as_ref().map(|i| &i.kind) else {
                continue;
            };
            let ino = ino as u64;
            if self.dirty.contains(&ino) || dir.entries.values().any(|c| self.dirty.contains(c)) {
                dirs.insert(ino);
            }
        }
        let mut ancestors = Vec::new();
        for &dir in &dirs {
            let mut at = dir;
            while let Ok(d) = self.dir(at) {
                if d.parent == at || dirs.contains(&d.parent) {
                    break;
                }
                ancestors.push(d.parent);
                at = d.parent;
            }
        }
        dirs.extend(ancestors);
        dirs
    }

    /// [`Fs::to_tree`] with the entries of only the directories `expand`
    /// accepts (the others are directories without entries).
    pub fn to_tree_where(
        &self,
        expand: &dyn Fn(u64) -> bool,
    ) -> blockimg::Result<(Tree, Vec<u64>)> {
        let files: Arc<[File]> = self.files.clone();
        let root = self.get(ROOT).map_err(|_| missing_root())?;
        let mut tree = Tree::new(root.meta.clone());
        tree.node_mut(Tree::ROOT).xattrs = xattrs_of(root);
        let mut ids: HashMap<u64, NodeId> = HashMap::from([(ROOT, Tree::ROOT)]);
        let mut inos = vec![ROOT];
        let mut queue = std::collections::VecDeque::from([ROOT]);
        while let Some(dir_ino) = queue.pop_front() {
            let Ok(dir) = self.dir(dir_ino) else {
                continue;
            };
            let dir_id = ids[&dir_ino];
            for (name, &ino) in &dir.entries {
                if let Some(&id) = ids.get(&ino) {
                    tree.link(dir_id, name, id)?;
                    continue;
                }
                let Ok(inode) = self.get(ino) else {
                    continue;
                };
                let kind = match &inode.kind {
                    Kind::File(data) => NodeKind::File(data.content(&files)),
                    Kind::Dir(_) => {
                        if expand(ino) {
                            queue.push_back(ino);
                        }
                        NodeKind::Directory(BTreeMap::new())
                    }
                    Kind::Symlink(target) => NodeKind::Symlink(target.clone()),
                    Kind::CharDevice(major, minor) => NodeKind::CharDevice {
                        major: *major,
                        minor: *minor,
                    },
                    Kind::BlockDevice(major, minor) => NodeKind::BlockDevice {
                        major: *major,
                        minor: *minor,
                    },
                    Kind::Fifo => NodeKind::Fifo,
                    Kind::Socket => NodeKind::Socket,
                };
                let node = Node {
                    meta: inode.meta.clone(),
                    kind,
                    xattrs: xattrs_of(inode),
                };
                ids.insert(ino, tree.add(dir_id, name, node)?);
                inos.push(ino);
            }
        }
        Ok((tree, inos))
    }
}

fn missing_root() -> blockimg::Error {
    blockimg::Error::InvalidOption {
        option: "mount".into(),
        reason: "the root directory is gone".into(),
    }
}

fn xattrs_of(inode: &Inode) -> Vec<Xattr> {
    inode
        .xattrs
        .iter()
        .map(|(name, value)| Xattr {
            name: name.clone(),
            value: value.clone(),
        })
        .collect()
}
