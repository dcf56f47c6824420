//! The [`Model`] of a blockimg [`Tree`]: what a source (or the ext4 reader)
//! put in it, in the form the host walker and the image readers produce, so
//! a tree can be compared with the host directory or image it came from.

use std::collections::BTreeMap;
use std::io::Read;

use blockimg::tree::{NodeId, NodeKind, Tree};

use crate::model::{assign_link_groups, ContentDigest, Entry, Kind, Model};
use crate::tools::show;

/// The model of `tree`: every path, file contents read through
/// `FileContent::reader` (holes read as zeros), link counts as ext4 stores
/// them, hard-link groups by node identity.
pub fn tree_model(tree: &Tree) -> Model {
    let links = tree.link_counts();
    let mut model = Model::default();
    let mut identity: BTreeMap<Vec<u8>, NodeId> = BTreeMap::new();
    let mut stack = vec![(b"/".to_vec(), Tree::ROOT)];
    while let Some((path, id)) = stack.pop() {
        let node = tree.node(id);
        let (kind, content, target, rdev) = match &node.kind {
            NodeKind::File(content) => {
                let mut reader = content
                    .reader()
                    .unwrap_or_else(|e| panic!("{}: open content: {e}", show(&path)));
                let mut digest = ContentDigest::new();
                let mut buf = vec![0u8; 1 << 20];
                let mut total = 0u64;
                loop {
                    let n = reader
                        .read(&mut buf)
                        .unwrap_or_else(|e| panic!("{}: read content: {e}", show(&path)));
                    if n == 0 {
                        break;
                    }
                    digest.update(&buf[..n]);
                    total += n as u64;
                }
                assert_eq!(
                    total,
                    content.size,
                    "{}: content shorter than its size",
                    show(&path)
                );
                (Kind::File, Some(digest.finish()), None, None)
            }
            NodeKind::Directory(entries) => {
                for (name, &child) in entries {
                    let mut child_path = path.clone();
                    if child_path.len() > 1 {
                        child_path.push(b'/');
                    }
                    child_path.extend_from_slice(name);
                    stack.push((child_path, child));
                }
                (Kind::Dir, None, None, None)
            }
            NodeKind::Symlink(target) => (Kind::Symlink, None, Some(target.clone()), None),
            NodeKind::CharDevice { major, minor } => {
                (Kind::CharDev, None, None, Some((*major, *minor)))
            }
            NodeKind::BlockDevice { major, minor } => {
                (Kind::BlockDev, None, None, Some((*major, *minor)))
            }
            NodeKind::Fifo => (Kind::Fifo, None, None, None),
            NodeKind::Socket => (Kind::Socket, None, None, None),
        };
        let size = match &node.kind {
            NodeKind::File(content) => Some(content.size),
            NodeKind::Symlink(target) => Some(target.len() as u64),
            NodeKind::Directory(_) => None,
            _ => Some(0),
        };
        let entry = Entry {
            kind,
            perm: node.meta.permissions,
            uid: node.meta.uid,
            gid: node.meta.gid,
            size,
            content,
            target,
            mtime: (node.meta.mtime.secs, node.meta.mtime.nanos),
            nlink: Some(links[id.index()]),
            rdev,
            link_group: None,
            xattrs: Some(
                node.xattrs
                    .iter()
                    .map(|x| (x.name.clone(), x.value.clone()))
                    .collect(),
            ),
        };
        identity.insert(path.clone(), id);
        model.entries.insert(path, entry);
    }
    assign_link_groups(&mut model, &identity);
    model
}
