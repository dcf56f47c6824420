//! `--base-layout`: what a bootable Linux root needs and a snapshot of a
//! running system leaves out (its mount points, the two device nodes the
//! kernel wants before devtmpfs, and the /var compatibility links), added
//! root-owned wherever the source has nothing at that path.

use std::collections::BTreeMap;

use crate::error::Result;
use crate::tree::{Metadata, Node, NodeKind, Timestamp, Tree};

/// One entry of the base layout.
struct Entry {
    path: &'static [u8],
    permissions: u16,
    kind: fn() -> NodeKind,
}

fn dir() -> NodeKind {
    NodeKind::Directory(BTreeMap::new())
}

const ENTRIES: &[Entry] = &[
    Entry {
        path: b"dev",
        permissions: 0o755,
        kind: dir,
    },
    Entry {
        path: b"dev/console",
        permissions: 0o600,
        kind: || NodeKind::CharDevice { major: 5, minor: 1 },
    },
    Entry {
        path: b"dev/null",
        permissions: 0o666,
        kind: || NodeKind::CharDevice { major: 1, minor: 3 },
    },
    Entry {
        path: b"proc",
        permissions: 0o555,
        kind: dir,
    },
    Entry {
        path: b"sys",
        permissions: 0o555,
        kind: dir,
    },
    Entry {
        path: b"run",
        permissions: 0o755,
        kind: dir,
    },
    Entry {
        path: b"run/lock",
        permissions: 0o1777,
        kind: dir,
    },
    Entry {
        path: b"tmp",
        permissions: 0o1777,
        kind: dir,
    },
    Entry {
        path: b"mnt",
        permissions: 0o755,
        kind: dir,
    },
    Entry {
        path: b"media",
        permissions: 0o755,
        kind: dir,
    },
    Entry {
        path: b"boot",
        permissions: 0o755,
        kind: dir,
    },
    Entry {
        path: b"var",
        permissions: 0o755,
        kind: dir,
    },
    Entry {
        path: b"var/run",
        permissions: 0o777,
        kind: || NodeKind::Symlink(b"../run".to_vec()),
    },
    Entry {
        path: b"var/lock",
        permissions: 0o777,
        kind: || NodeKind::Symlink(b"../run/lock".to_vec()),
    },
];

/// Adds the base layout to `tree`, keeping whatever the tree already has
/// (an existing path is never replaced, whatever its type). New entries
/// are owned by root and stamped with `time`.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> blockimg::Result<()> {
/// let time = Timestamp::from_secs(1_700_000_000);
/// let mut tree = Tree::new(Metadata::directory(time));
/// blockimg::source::base_layout::add(&mut tree, time)?;
/// for path in [&b"/proc"[..], b"/sys", b"/dev/console", b"/tmp"] {
///     assert!(tree.lookup(path).is_some());
/// }
/// # Ok(())
/// # }
/// ```
pub fn add(tree: &mut Tree, time: Timestamp) -> Result<()> {
    for entry in ENTRIES {
        if tree.lookup(entry.path).is_some() {
            continue;
        }
        let (parent_path, name) = match entry.path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&entry.path[..i], &entry.path[i + 1..]),
            None => (&b""[..], entry.path),
        };
        // A parent the source made a non-directory (a /var symlink, say)
        // is left alone.
        let Some(parent) = tree.lookup(parent_path).filter(|&p| tree.node(p).is_dir()) else {
            continue;
        };
        let meta = Metadata {
            permissions: entry.permissions,
            uid: 0,
            gid: 0,
            atime: time,
            mtime: time,
            ctime: time,
            crtime: None,
        };
        tree.add(parent, name, Node::new(meta, (entry.kind)()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_what_is_missing_and_keeps_what_is_there() {
        let mut tree = Tree::new(Metadata {
            permissions: 0o755,
            ..Metadata::default()
        });
        let mine = Metadata {
            permissions: 0o700,
            uid: 5,
            ..Metadata::default()
        };
        tree.add(Tree::ROOT, b"tmp", Node::new(mine, dir()))
            .unwrap();
        add(&mut tree, Timestamp::from_secs(1)).unwrap();
        let tmp = tree.lookup(b"tmp").unwrap();
        assert_eq!(tree.node(tmp).meta.permissions, 0o700, "kept");
        let console = tree.lookup(b"dev/console").unwrap();
        assert!(matches!(
            tree.node(console).kind,
            NodeKind::CharDevice { major: 5, minor: 1 }
        ));
        assert_eq!(tree.node(console).meta.permissions, 0o600);
        let run = tree.lookup(b"var/run").unwrap();
        assert!(matches!(&tree.node(run).kind, NodeKind::Symlink(t) if t == b"../run"));
    }
}
