//! Members into a tree with tar's semantics: member paths split into
//! components, missing parents created, later members replacing earlier
//! ones, hard links to earlier members.

use std::collections::BTreeMap;

use crate::tree::{Metadata, Node, NodeId, NodeKind, Timestamp, Tree};

/// Splits a member path into components: `./` prefixes, leading `/` and
/// empty or `.` components dropped. `None` when a `..` component appears.
pub(super) fn normalise(path: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for part in path.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." => return None,
            other => out.push(other.to_vec()),
        }
    }
    Some(out)
}

/// Builds a tree with tar's semantics: missing parents are created, a later
/// member replaces an earlier one of the same path, a directory member
/// listed after its contents only updates the directory's metadata.
pub(super) struct TreeBuilder {
    /// The tree built so far.
    pub(super) tree: Tree,
    /// Metadata of directories created because members need them.
    implied: Metadata,
}

impl TreeBuilder {
    pub(super) fn new(time: Timestamp) -> Self {
        let implied = Metadata::directory(time);
        TreeBuilder {
            tree: Tree::new(implied.clone()),
            implied,
        }
    }

    /// The directory holding `components`' last part, created as needed.
    fn parent_of(&mut self, components: &[Vec<u8>]) -> std::result::Result<NodeId, String> {
        let mut dir = Tree::ROOT;
        let Some((_, parents)) = components.split_last() else {
            return Ok(dir);
        };
        for (depth, part) in parents.iter().enumerate() {
            let existing = self.tree.entries(dir).and_then(|e| e.get(part)).copied();
            dir = match existing {
                Some(id) if self.tree.node(id).is_dir() => id,
                Some(_) => {
                    let shown: Vec<String> = components[..=depth]
                        .iter()
                        .map(|c| String::from_utf8_lossy(c).into_owned())
                        .collect();
                    return Err(format!("its parent {} is not a directory", shown.join("/")));
                }
                None => self
                    .tree
                    .add(
                        dir,
                        part,
                        Node::new(self.implied.clone(), NodeKind::Directory(BTreeMap::new())),
                    )
                    .map_err(|e| e.to_string())?,
            };
        }
        Ok(dir)
    }

    /// Adds or replaces the node at `components`; returns its id (none for
    /// the root, whose metadata a `./` member sets).
    pub(super) fn put(
        &mut self,
        components: &[Vec<u8>],
        node: Node,
    ) -> std::result::Result<Option<NodeId>, String> {
        let Some(last) = components.last() else {
            if !node.is_dir() {
                return Err("the archive's root can only be a directory".into());
            }
            let root = self.tree.node_mut(Tree::ROOT);
            root.meta = node.meta;
            root.xattrs = node.xattrs;
            return Ok(None);
        };
        let parent = self.parent_of(components)?;
        let existing = self.tree.entries(parent).and_then(|e| e.get(last)).copied();
        if let Some(id) = existing {
            if node.is_dir() && self.tree.node(id).is_dir() {
                let current = self.tree.node_mut(id);
                current.meta = node.meta;
                current.xattrs = node.xattrs;
                return Ok(Some(id));
            }
        }
        self.tree
            .add(parent, last, node)
            .map(Some)
            .map_err(|e| e.to_string())
    }

    pub(super) fn hard_link(
        &mut self,
        components: &[Vec<u8>],
        target: &[Vec<u8>],
    ) -> std::result::Result<(), String> {
        let joined = target
            .iter()
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("/");
        let target_id = self
            .tree
            .lookup(target.join(&b'/').as_slice())
            .filter(|_| !target.is_empty())
            .ok_or_else(|| {
                format!("hard link to {joined}, which is not in the archive before it")
            })?;
        if self.tree.node(target_id).is_dir() {
            return Err(format!("hard link to directory {joined}"));
        }
        let Some(last) = components.last() else {
            return Err("hard link named like the root".into());
        };
        let parent = self.parent_of(components)?;
        self.tree
            .link(parent, last, target_id)
            .map_err(|e| e.to_string())
    }
}
