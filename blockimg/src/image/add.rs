//! `blockimg add`: files from the host (or an archive) into the ext4
//! filesystem of an existing image, without mounting it. The image's
//! filesystem is read into a tree (data left in the image), the source is
//! grafted at the destination path, and the filesystem is rewritten as
//! [`ExistingFilesystem::rewrite_filesystem`] does: the image is either
//! untouched or completely updated.

use std::collections::HashMap;

use super::rewrite::{Commit, ExistingFilesystem};
use crate::disk::ImageSpec;
use crate::error::{Error, Result};
use crate::ext4::read::Replayed;
use crate::ext4::update::{CommitStep, UpdateOutcome};
use crate::lock::ImageLock;
use crate::tree::{Metadata, Node, NodeId, NodeKind, Timestamp, Tree};

/// How the added entries are stamped.
///
/// # Examples
///
/// ```
/// use blockimg::disk::found::ImageSpec;
/// use blockimg::image::add::{add, AddOptions, AddSummary};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// let spec = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?;
/// std::fs::write(dir.path().join("motd"), "hello\n")?;
/// let (tree, file) = blockimg::source::dir::scan_path(&dir.path().join("motd"))?;
/// // Root-owned, mode 0644, whatever the host file says.
/// let options = AddOptions { owner: Some((0, 0)), mode: Some(0o644), ..Default::default() };
/// add(&spec, &tree, file, b"/etc/motd", options, &mut |_| {})?;
/// let fs = spec.open_ext4()?;
/// assert_eq!(fs.stat(fs.lookup(b"/etc/motd")?)?.meta.permissions, 0o644);
/// # let _: Option<AddSummary> = None;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddOptions {
    /// Owner and group of every added entry and of directories created on
    /// the way; `None` keeps the source's owners (directories created on
    /// the way belong to root).
    pub owner: Option<(u32, u32)>,
    /// Permission bits of the added entry itself (the file, or the top
    /// directory); `None` keeps the source's.
    pub mode: Option<u16>,
    /// An existing directory at the destination keeps its own metadata
    /// instead of taking the source root's (for archives, whose root entry
    /// is usually implied rather than recorded).
    pub keep_destination_metadata: bool,
}

/// What an addition changed.
///
/// # Examples
///
/// ```
/// use blockimg::disk::found::ImageSpec;
/// use blockimg::image::add::{add, AddOptions, AddSummary};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// let spec = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?;
/// std::fs::write(dir.path().join("motd"), "hello\n")?;
/// let (tree, file) = blockimg::source::dir::scan_path(&dir.path().join("motd"))?;
/// let summary: AddSummary = add(&spec, &tree, file, b"/etc/motd", AddOptions::default(), &mut |_| {})?;
/// assert_eq!(summary.entries, 2); // /etc, made on the way, and the file
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddSummary {
    /// Entries added or replaced (directories created on the way
    /// included).
    pub entries: u64,
    /// What was replayed from the filesystem's journal into the image
    /// before the addition, when it held changes not yet applied.
    pub replayed: Option<Replayed>,
    /// How the image was changed: in place, or rewritten (and why).
    pub commit: Commit,
}

/// Adds node `node` of `source` (with everything below it) to the
/// filesystem `spec` names, at `dest` (an absolute path in the image), and
/// rewrites the image. A directory added where a directory exists is
/// merged into it (entries of the source replace those of the same name);
/// a non-directory replaces a non-directory; missing parent directories
/// are created (mode 0755). Refuses ext2/ext3 filesystems (a rewrite would
/// make them ext4) and what does not fit, leaving the image untouched.
///
/// The image is locked for writing throughout ([`crate::lock`]): refused
/// with [`crate::error::LockError`] while another program changes or
/// reads it.
///
/// # Examples
///
/// ```
/// use blockimg::disk::found::ImageSpec;
/// use blockimg::image::add::{add, AddOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n\
/// #             [[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // Add a host directory to the image's filesystem at /srv/www.
/// let site = dir.path().join("site");
/// std::fs::create_dir(&site)?;
/// std::fs::write(site.join("index.html"), "<h1>hello</h1>\n")?;
/// let tree = blockimg::source::dir::scan(&site)?;
///
/// let spec = ImageSpec::parse(image.as_os_str())?;
/// let options = AddOptions { owner: Some((33, 33)), ..Default::default() };
/// let summary = add(&spec, &tree, blockimg::tree::Tree::ROOT, b"/srv/www", options, &mut |_| {})?;
/// assert_eq!(summary.entries, 3); // /srv (made on the way), /srv/www, index.html
///
/// let fs = spec.open_ext4()?;
/// assert_eq!(fs.stat(fs.lookup(b"/srv/www/index.html")?)?.meta.uid, 33);
/// assert!(fs.lookup(b"/etc/hostname").is_ok()); // what was there stays
/// # Ok(())
/// # }
/// ```
pub fn add(
    spec: &ImageSpec,
    source: &Tree,
    node: NodeId,
    dest: &[u8],
    options: AddOptions,
    step: &mut dyn FnMut(CommitStep),
) -> Result<AddSummary> {
    let lock = ImageLock::write(&spec.path, "add")?;
    let replayed = ExistingFilesystem::replay_journal(spec)?;
    let (existing, reader) = ExistingFilesystem::open(spec, lock)?;
    existing.check_rewritable()?;
    // Only the directories the addition may touch are read: those on the
    // way to `dest`, and, when a directory is added, those below it.
    let dest_path = normalised(dest);
    let recursive = source.node(node).is_dir();
    let loaded = existing.load_where(&reader, &|dir: &[u8]| touches(dir, &dest_path, recursive))?;
    let graft = |mut tree: Tree| -> Result<(Tree, u64)> {
        let mut graft = Graft {
            tree: &mut tree,
            source,
            options,
            copied: HashMap::new(),
            entries: 0,
            now: Timestamp::now(),
        };
        graft.at_path(node, dest)?;
        let entries = graft.entries;
        Ok((tree, entries))
    };
    let (tree, entries) = graft(loaded.tree.clone())?;
    // Nodes of the tree as read keep their numbers; grafted ones follow.
    let old_len = loaded.tree.len();
    let origin = |id: NodeId| (id.index() < old_len).then_some(id);
    let unchanged = |e| Error::Unchanged {
        image: existing.path.clone(),
        source: Box::new(e),
    };
    let commit = match existing
        .update_in_place(&reader, &loaded, &tree, &origin, &[], step)
        .map_err(unchanged)?
    {
        UpdateOutcome::Updated(summary) => Commit::InPlace(summary),
        // A rewrite needs the whole tree.
        UpdateOutcome::NotInPlace(reason) => {
            let (whole, _) = graft(reader.read_tree()?)?;
            existing.rewrite_filesystem(&whole).map_err(unchanged)?;
            Commit::Rewritten { reason }
        }
    };
    Ok(AddSummary {
        entries,
        replayed,
        commit,
    })
}

/// `dest` as the reader names directories: `/` then the components
/// joined by `/`, without empty or `.` components.
fn normalised(dest: &[u8]) -> Vec<u8> {
    let mut path = Vec::new();
    for name in dest
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
    {
        path.push(b'/');
        path.extend_from_slice(name);
    }
    if path.is_empty() {
        path.push(b'/');
    }
    path
}

/// Whether an addition at `dest` (below it too when `recursive`) may
/// change directory `dir`: `dir` is `dest`, one of its ancestors, or, when
/// `recursive`, below it.
fn touches(dir: &[u8], dest: &[u8], recursive: bool) -> bool {
    let under = |parent: &[u8], child: &[u8]| {
        parent == b"/"
            || child == parent
            || child
                .strip_prefix(parent)
                .is_some_and(|r| r.starts_with(b"/"))
    };
    under(dir, dest) || (recursive && under(dest, dir))
}

/// Copies nodes of a source tree into the image's tree.
struct Graft<'a> {
    tree: &'a mut Tree,
    source: &'a Tree,
    options: AddOptions,
    /// Source nodes already copied, for hard links within the source.
    copied: HashMap<NodeId, NodeId>,
    entries: u64,
    now: Timestamp,
}

impl Graft<'_> {
    /// Places source node `node` at `dest`, creating missing parents.
    fn at_path(&mut self, node: NodeId, dest: &[u8]) -> Result<()> {
        let names: Vec<&[u8]> = dest
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .collect();
        let conflict = |reason: &str| Error::PlacementConflict {
            path: String::from_utf8_lossy(dest).into_owned(),
            reason: reason.into(),
        };
        if names.contains(&&b".."[..]) {
            return Err(conflict("the destination may not contain `..`"));
        }
        let Some((last, parents)) = names.split_last() else {
            if !self.source.node(node).is_dir() {
                return Err(conflict("only a directory can be added as the root"));
            }
            let top = self.top_node(node);
            return self.merge_top(Tree::ROOT, node, top);
        };
        let mut dir = Tree::ROOT;
        for name in parents {
            dir = match self.tree.entries(dir).and_then(|e| e.get(*name)).copied() {
                Some(id) if self.tree.node(id).is_dir() => id,
                Some(_) => return Err(conflict("a component of its parent is not a directory")),
                None => {
                    let mut meta = Metadata::directory(self.now);
                    if let Some((uid, gid)) = self.options.owner {
                        (meta.uid, meta.gid) = (uid, gid);
                    }
                    self.entries += 1;
                    let kind = NodeKind::Directory(Default::default());
                    self.tree.add(dir, name, Node::new(meta, kind))?
                }
            };
        }
        let top = self.top_node(node);
        let existing = self.tree.entries(dir).and_then(|e| e.get(*last)).copied();
        match existing {
            Some(id) if self.tree.node(id).is_dir() => {
                if !top.is_dir() {
                    return Err(conflict("a directory is there; a file cannot replace it"));
                }
                self.merge_top(id, node, top)
            }
            _ => self.copy(dir, last, node, top),
        }
    }

    /// The source's node `node` with the options applied to it.
    fn top_node(&self, node: NodeId) -> Node {
        let mut top = self.stamped(node);
        if let Some(mode) = self.options.mode {
            top.meta.permissions = mode & 0o7777;
        }
        top
    }

    /// A copy of source node `node` (a directory without its entries),
    /// owned as the options say.
    fn stamped(&self, node: NodeId) -> Node {
        let source = self.source.node(node);
        let kind = match &source.kind {
            NodeKind::Directory(_) => NodeKind::Directory(Default::default()),
            other => other.clone(),
        };
        let mut copy = Node {
            meta: source.meta.clone(),
            kind,
            xattrs: source.xattrs.clone(),
        };
        if let Some((uid, gid)) = self.options.owner {
            (copy.meta.uid, copy.meta.gid) = (uid, gid);
        }
        copy
    }

    /// Merges the source's top directory into the existing `dir`, whose
    /// metadata is kept when the options say so.
    fn merge_top(&mut self, dir: NodeId, node: NodeId, top: Node) -> Result<()> {
        if self.options.keep_destination_metadata {
            self.children(dir, node)
        } else {
            self.merge_into(dir, node, top)
        }
    }

    /// Gives the existing directory `dir` the metadata of `top` (source
    /// directory `node`) and merges the source's entries into it.
    fn merge_into(&mut self, dir: NodeId, node: NodeId, top: Node) -> Result<()> {
        let target = self.tree.node_mut(dir);
        target.meta = top.meta;
        target.xattrs = top.xattrs;
        self.entries += 1;
        self.children(dir, node)
    }

    /// Adds `top` (source node `node`) as `name` in `dir`, replacing what
    /// was there, then its entries.
    fn copy(&mut self, dir: NodeId, name: &[u8], node: NodeId, top: Node) -> Result<()> {
        if let Some(&done) = self.copied.get(&node) {
            self.entries += 1;
            return self.tree.link(dir, name, done);
        }
        self.tree.unlink(dir, name);
        let id = self.tree.add(dir, name, top)?;
        self.entries += 1;
        if self.tree.node(id).is_dir() {
            self.children(id, node)
        } else {
            self.copied.insert(node, id);
            Ok(())
        }
    }

    /// Copies the entries of source directory `node` into `dir`: existing
    /// directories are merged with source directories (and not replaced by
    /// anything else), other entries are replaced.
    fn children(&mut self, dir: NodeId, node: NodeId) -> Result<()> {
        let Some(entries) = self.source.entries(node) else {
            return Ok(());
        };
        for (name, &child) in entries {
            let existing = self.tree.entries(dir).and_then(|e| e.get(name)).copied();
            let child_node = self.stamped(child);
            match existing {
                Some(id) if self.tree.node(id).is_dir() => {
                    if !child_node.is_dir() {
                        return Err(Error::PlacementConflict {
                            path: String::from_utf8_lossy(name).into_owned(),
                            reason: "a directory is there; a file cannot replace it".into(),
                        });
                    }
                    self.merge_into(id, child, child_node)?;
                }
                _ => self.copy(dir, name, child, child_node)?,
            }
        }
        Ok(())
    }
}
