//! What changed between the tree an image's filesystem was read into and
//! the tree to commit: for every node of the new tree, whether it is the
//! same inode as before, the same inode with new metadata, or an inode
//! whose blocks must be written anew; and which old inodes are gone.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::MetadataExt;

use crate::tree::{DataSource, FileContent, NodeId, NodeKind, Tree};

/// What a commit does with one node of the new tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    /// Nothing: the inode on disk already says all of it.
    Unchanged,
    /// New metadata (owner, mode, times, links, xattrs); its blocks stay.
    Metadata,
    /// New blocks: a new node, new file data, or a directory whose entries
    /// changed.
    Body,
}

/// The two trees and how the new one's nodes map to the old one's.
pub(super) struct Diff<'t> {
    pub old: &'t Tree,
    pub new: &'t Tree,
    /// Inode number of each old node.
    pub old_inos: &'t [u32],
    /// The old node each new node was, if any.
    pub origin: Vec<Option<NodeId>>,
    /// Parent of each directory (new tree), the root its own.
    pub new_parent: Vec<NodeId>,
    /// Parent of each directory (old tree).
    pub old_parent: Vec<NodeId>,
    /// Links to each node of the new tree (entries naming it, plus `.`
    /// and subdirectories' `..` for directories).
    pub new_links: Vec<u32>,
    /// The same for the old tree.
    pub old_links: Vec<u32>,
    /// Device and inode of the image file, to recognise file data that is
    /// still where it was.
    pub image_id: (u64, u64),
}

/// Parent and link count of every node of `tree`.
pub(super) fn parents_and_links(tree: &Tree) -> (Vec<NodeId>, Vec<u32>) {
    let mut parent = vec![Tree::ROOT; tree.len()];
    let mut links = vec![0u32; tree.len()];
    for (index, node) in tree.nodes().iter().enumerate() {
        if let NodeKind::Directory(entries) = &node.kind {
            if let Some(l) = links.get_mut(index) {
                *l += 1; // "."
            }
            for &child in entries.values() {
                if let Some(l) = links.get_mut(child.index()) {
                    *l += 1;
                }
                if tree.node(child).is_dir() {
                    if let Some(p) = parent.get_mut(child.index()) {
                        *p = NodeId(index as u32);
                    }
                    if let Some(l) = links.get_mut(index) {
                        *l += 1; // the child's ".."
                    }
                }
            }
        }
    }
    // The root's ".." names itself.
    if let Some(l) = links.get_mut(Tree::ROOT.index()) {
        *l += 1;
    }
    (parent, links)
}

impl Diff<'_> {
    /// Whether new node `id` is reachable from the root (a tree may keep
    /// nodes no entry names any more).
    pub fn reachable(&self, id: NodeId) -> bool {
        id == Tree::ROOT || self.new_links.get(id.index()).is_some_and(|&l| l > 0)
    }

    /// What happens to new node `id`.
    pub fn change(&self, id: NodeId) -> Change {
        let Some(old_id) = self.origin.get(id.index()).copied().flatten() else {
            return Change::Body;
        };
        let (new, old) = (self.new.node(id), self.old.node(old_id));
        let body_same = match (&new.kind, &old.kind) {
            (NodeKind::File(n), NodeKind::File(o)) => self.same_data(n, o),
            (NodeKind::Directory(n), NodeKind::Directory(o)) => {
                n.len() == o.len()
                    && n.iter().zip(o).all(|((nn, &nc), (on, &oc))| {
                        nn == on && self.origin.get(nc.index()).copied().flatten() == Some(oc)
                    })
                    && self.origin_of_parent(id) == self.old_parent.get(old_id.index()).copied()
            }
            (n, o) => same_kind(n, o),
        };
        if !body_same {
            return Change::Body;
        }
        let links_same = self.new_links.get(id.index()) == self.old_links.get(old_id.index());
        if new.meta == old.meta && new.xattrs == old.xattrs && links_same {
            Change::Unchanged
        } else {
            Change::Metadata
        }
    }

    fn origin_of_parent(&self, id: NodeId) -> Option<NodeId> {
        let parent = self.new_parent.get(id.index())?;
        self.origin.get(parent.index()).copied().flatten()
    }

    /// Whether the new content's bytes are the old inode's blocks as they
    /// are: the same runs of the image file.
    fn same_data(&self, new: &FileContent, old: &FileContent) -> bool {
        if new.size != old.size {
            return false;
        }
        let DataSource::ImageExtents { runs: old_runs, .. } = &old.source else {
            return false;
        };
        match &new.source {
            DataSource::ImageExtents { runs, .. } => runs == old_runs,
            DataSource::OpenFiles { files, runs } => {
                let mut ids: HashMap<usize, bool> = HashMap::new();
                runs.len() == old_runs.len()
                    && runs.iter().zip(old_runs.iter()).all(|(r, o)| {
                        r.run == *o
                            && *ids
                                .entry(r.file)
                                .or_insert_with(|| is_file(files.get(r.file), self.image_id))
                    })
            }
            _ => false,
        }
    }
}

/// Whether `file` is the file with device and inode `id`.
pub(super) fn is_file(file: Option<&File>, id: (u64, u64)) -> bool {
    file.and_then(|f| f.metadata().ok())
        .is_some_and(|m| (m.dev(), m.ino()) == id)
}

fn same_kind(new: &NodeKind, old: &NodeKind) -> bool {
    match (new, old) {
        (NodeKind::Symlink(a), NodeKind::Symlink(b)) => a == b,
        (
            NodeKind::CharDevice { major, minor },
            NodeKind::CharDevice {
                major: m2,
                minor: n2,
            },
        )
        | (
            NodeKind::BlockDevice { major, minor },
            NodeKind::BlockDevice {
                major: m2,
                minor: n2,
            },
        ) => major == m2 && minor == n2,
        (NodeKind::Fifo, NodeKind::Fifo) | (NodeKind::Socket, NodeKind::Socket) => true,
        _ => false,
    }
}
