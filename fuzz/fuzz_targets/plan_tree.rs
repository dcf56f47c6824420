//! Any tree a source can produce must either plan and write, or fail with an
//! error: never panic. Trees are built from arbitrary operations.
#![no_main]

use arbitrary::Arbitrary;
use blockimg::ext4::{Ext4Options, Ext4Plan};
use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Segment, Timestamp, Tree, Xattr};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Op {
    File { parent: u16, name: Vec<u8>, data: Vec<u8>, hole: u16 },
    Dir { parent: u16, name: Vec<u8> },
    Symlink { parent: u16, name: Vec<u8>, target: Vec<u8> },
    Link { parent: u16, name: Vec<u8>, target: u16 },
    Device { parent: u16, name: Vec<u8>, major: u32, minor: u32 },
    Xattr { node: u16, name: Vec<u8>, value: Vec<u8> },
}

#[derive(Arbitrary, Debug)]
struct Input {
    size_mib: u8,
    block_size: u8,
    journal: bool,
    ops: Vec<Op>,
}

fn meta(perm: u16) -> Metadata {
    let t = Timestamp::from_secs(1_600_000_000);
    Metadata { permissions: perm, uid: 0, gid: 0, atime: t, mtime: t, ctime: t, crtime: None }
}

fuzz_target!(|input: Input| {
    let mut tree = Tree::new(meta(0o755));
    let mut dirs = vec![Tree::ROOT];
    let pick = |dirs: &Vec<_>, i: u16| dirs[i as usize % dirs.len()];
    for op in input.ops.into_iter().take(256) {
        let _ = match op {
            Op::File { parent, name, data, hole } => {
                let mut content = FileContent::from_bytes(data.clone());
                if hole > 0 && !data.is_empty() {
                    content.size = data.len() as u64 + u64::from(hole) * 1024;
                    content.segments = vec![Segment { offset: 0, len: data.len() as u64 }];
                }
                tree.add(pick(&dirs, parent), &name, Node::new(meta(0o644), NodeKind::File(content)))
            }
            Op::Dir { parent, name } => {
                let r = tree.add(pick(&dirs, parent), &name, Node::new(meta(0o755), NodeKind::Directory(Default::default())));
                if let Ok(id) = r {
                    dirs.push(id);
                }
                r
            }
            Op::Symlink { parent, name, target } => {
                tree.add(pick(&dirs, parent), &name, Node::new(meta(0o777), NodeKind::Symlink(target)))
            }
            Op::Link { parent, name, target } => {
                let target = blockimg::tree::NodeId(u32::from(target) % tree.len() as u32);
                tree.link(pick(&dirs, parent), &name, target).map(|_| target)
            }
            Op::Device { parent, name, major, minor } => tree.add(
                pick(&dirs, parent),
                &name,
                Node::new(meta(0o600), NodeKind::CharDevice { major: major & 0xFFF, minor: minor & 0xFFFFF }),
            ),
            Op::Xattr { node, name, value } => {
                let id = blockimg::tree::NodeId(u32::from(node) % tree.len() as u32);
                tree.node_mut(id).xattrs.push(Xattr { name, value });
                Ok(id)
            }
        };
    }
    let options = Ext4Options::default().block_size(1024 << (input.block_size % 3)).journal(input.journal).timestamp(Some(Timestamp::from_secs(1_600_000_000)));
    let size = (u64::from(input.size_mib % 16) + 1) << 20;
    if let Ok(plan) = Ext4Plan::new(&tree, size, &options) {
        let mut image = Vec::new();
        let _ = plan.write(&mut image, 0, &mut |_| {});
    }
});
