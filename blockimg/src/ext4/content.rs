//! What a tree needs before any block is placed, whatever the filesystem's
//! size: the inode numbers (breadth-first from the root, lost+found at
//! [`LOST_FOUND_INO`]), link counts and parents, and an estimate of the
//! blocks its content takes. The planner sizes and places from it.

use std::collections::VecDeque;

use super::format::dir::{rec_len, DOT_REC_LEN, LEAF_TAIL_LEN};
use super::format::extent::MAX_EXTENT_LEN;
use super::format::inode::{I_BLOCK_LEN, ROOT_INO};
use super::geometry::FIRST_INO;
use super::pieces::{logical_runs, Slot};
use super::MAX_LINKS;
use crate::error::Ext4Error;
use crate::error::{Error, Result};
use crate::tree::{Node, NodeId, NodeKind, Tree};

/// Inode number of lost+found.
pub const LOST_FOUND_INO: u32 = FIRST_INO;
/// Size mke2fs gives lost+found.
pub const LOST_FOUND_BYTES: usize = 16 * 1024;

/// The parts of a plan that do not depend on the filesystem size.
pub struct Content {
    /// Inode number of each node (0 for nodes not reachable from the root).
    pub inos: Vec<u32>,
    /// What each inode number (index `ino - 1`) holds, up to the last used.
    pub slots: Vec<Slot>,
    /// Link count of each node.
    pub links: Vec<u32>,
    /// Inode number of each node's (first) parent directory.
    pub parents: Vec<u32>,
    /// First parent of each node, for error messages.
    pub parent_nodes: Vec<NodeId>,
    /// Node of an existing /lost+found directory.
    pub lost_found_node: Option<NodeId>,
    /// Blocks the content needs, metadata of the filesystem aside.
    pub blocks: u64,
}

impl Content {
    /// Numbers the inodes of `tree` breadth-first from the root and counts
    /// links and the blocks the content needs with blocks of `block_size`
    /// bytes.
    pub fn new(tree: &Tree, block_size: u32) -> Result<Content> {
        let mut content = number_inodes(tree)?;
        content.count_blocks(tree, block_size)?;
        Ok(content)
    }

    /// Path of node `id` for error messages.
    pub fn path(&self, tree: &Tree, id: NodeId) -> String {
        node_path(tree, &self.parent_nodes, id)
    }

    /// Checks the link count of every node numbered and adds up the blocks
    /// their content needs (lost+found's too, when the planner makes it).
    fn count_blocks(&mut self, tree: &Tree, block_size: u32) -> Result<()> {
        let bs = u64::from(block_size);
        let mut blocks = if self.lost_found_node.is_none() {
            (LOST_FOUND_BYTES as u64).div_ceil(bs)
        } else {
            0
        };
        for &slot in &self.slots {
            let Slot::Node(id) = slot else { continue };
            let node = tree.node(id);
            let path = || node_path(tree, &self.parent_nodes, id);
            let links = self.links[id.index()];
            if !node.is_dir() && links > MAX_LINKS {
                return Err(Error::from(Ext4Error::TooManyLinks {
                    path: path(),
                    links,
                    limit: MAX_LINKS,
                }));
            }
            blocks += node_blocks(node, block_size, path)?;
        }
        self.blocks = blocks;
        Ok(())
    }
}

/// Blocks the content of `node` needs: data and extent tree blocks,
/// directory blocks, a slow symlink's block, the xattr block. `path` names
/// the node in errors.
fn node_blocks(node: &Node, block_size: u32, path: impl Fn() -> String) -> Result<u64> {
    let bs = u64::from(block_size);
    let blocks = match &node.kind {
        NodeKind::File(content) => {
            let data: u64 = logical_runs(&content.segments, content.size, bs)
                .iter()
                .map(|r| r.len)
                .sum();
            data + data.div_ceil(MAX_EXTENT_LEN * 4)
        }
        NodeKind::Directory(entries) => {
            let bytes: usize =
                entries.keys().map(|k| rec_len(k.len())).sum::<usize>() + 2 * DOT_REC_LEN;
            (bytes as u64).div_ceil(bs - LEAF_TAIL_LEN as u64) + 1
        }
        NodeKind::Symlink(target) => {
            if target.is_empty() || target.len() >= block_size as usize {
                return Err(Error::from(Ext4Error::SymlinkTooLong {
                    path: path(),
                    len: target.len(),
                    limit: block_size as usize - 1,
                }));
            }
            u64::from(target.len() >= I_BLOCK_LEN)
        }
        _ => 0,
    };
    Ok(blocks + u64::from(!node.xattrs.is_empty()))
}

/// Path of a node for error messages, found by walking up its first
/// parents (only on error paths, so the lookup of names is fine).
fn node_path(tree: &Tree, parent_nodes: &[NodeId], id: NodeId) -> String {
    let mut parts = Vec::new();
    let mut current = id;
    while current != Tree::ROOT && parts.len() < 4096 {
        let parent = parent_nodes[current.index()];
        let name = tree
            .entries(parent)
            .and_then(|entries| entries.iter().find(|&(_, &child)| child == current))
            .map(|(name, _)| String::from_utf8_lossy(name).into_owned())
            .unwrap_or_default();
        parts.push(name);
        current = parent;
    }
    parts.reverse();
    format!("/{}", parts.join("/"))
}

/// Numbers the inodes breadth-first from the root and counts links; the
/// blocks are counted afterwards.
fn number_inodes(tree: &Tree) -> Result<Content> {
    let n = tree.len();
    let mut inos = vec![0u32; n];
    let mut links = vec![0u32; n];
    let mut parents = vec![0u32; n];
    let mut parent_nodes = vec![Tree::ROOT; n];
    let mut slots = vec![Slot::Reserved; (FIRST_INO - 1) as usize];
    slots[(ROOT_INO - 1) as usize] = Slot::Node(Tree::ROOT);
    inos[Tree::ROOT.index()] = ROOT_INO;
    parents[Tree::ROOT.index()] = ROOT_INO;
    let lost_found_node = tree
        .entries(Tree::ROOT)
        .and_then(|e| e.get(b"lost+found".as_slice()).copied())
        .filter(|&id| tree.node(id).is_dir());
    match lost_found_node {
        Some(id) => {
            slots.push(Slot::Node(id));
            inos[id.index()] = LOST_FOUND_INO;
        }
        None => slots.push(Slot::LostFound),
    }
    let mut seen = vec![false; n];
    seen[Tree::ROOT.index()] = true;
    let mut queue = VecDeque::from([Tree::ROOT]);
    while let Some(dir_id) = queue.pop_front() {
        let dir_ino = inos[dir_id.index()];
        let Some(entries) = tree.entries(dir_id) else {
            continue;
        };
        for (name, &child) in entries {
            let child_is_dir = tree.node(child).is_dir();
            if child_is_dir {
                links[dir_id.index()] += 1;
            }
            if seen[child.index()] {
                if child_is_dir {
                    return Err(Error::from(Ext4Error::DirectoryHardLink {
                        path: format!(
                            "{}/{}",
                            node_path(tree, &parent_nodes, dir_id),
                            String::from_utf8_lossy(name)
                        ),
                    }));
                }
                links[child.index()] += 1;
                continue;
            }
            seen[child.index()] = true;
            parent_nodes[child.index()] = dir_id;
            if inos[child.index()] == 0 {
                slots.push(Slot::Node(child));
                inos[child.index()] = slots.len() as u32;
            }
            links[child.index()] = if child_is_dir { 2 } else { 1 };
            parents[child.index()] = dir_ino;
            if child_is_dir {
                queue.push_back(child);
            }
        }
    }
    links[Tree::ROOT.index()] += 2 + u32::from(lost_found_node.is_none());
    Ok(Content {
        inos,
        slots,
        links,
        parent_nodes,
        parents,
        lost_found_node,
        blocks: 0,
    })
}
