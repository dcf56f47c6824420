//! Manifests: a line format that adds or overrides entries on top of any
//! source. One directive a line; `#` starts a comment; fields are separated
//! by spaces; a field may be quoted with `"` (with `\"` and `\\` escapes).
//!
//! ```text
//! dir      PATH MODE UID:GID
//! file     PATH MODE UID:GID HOST-PATH
//! symlink  PATH TARGET [UID:GID]
//! char     PATH MAJOR MINOR MODE UID:GID
//! block    PATH MAJOR MINOR MODE UID:GID
//! fifo     PATH MODE UID:GID
//! owner    GLOB UID:GID
//! mode     GLOB MODE
//! mtime    GLOB SECONDS[.FRACTION]
//! remove   GLOB
//! ```
//!
//! `PATH` is absolute within the image; missing parent directories are
//! created (0755, root). `GLOB` matches paths: `*` and `?` within one
//! component, `**` across components, `[abc]` and `[a-z]` classes. The
//! directives apply in order, so a later line overrides an earlier one.
// Manifests are user input: no indexing that can panic.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::SourceError;
use crate::error::{Error, Result};
use crate::glob::Glob;
use crate::tree::{Metadata, Node, NodeId, NodeKind, Timestamp, Tree};

/// One parsed manifest line.
///
/// # Examples
///
/// ```
/// use blockimg::source::manifest::{parse, Directive};
///
/// # fn main() -> blockimg::Result<()> {
/// let manifest = parse(b"dir /srv 0750 33:33\nremove /tmp/**\n", "extra", "/".into())?;
/// assert!(matches!(&manifest.directives[0], (1, Directive::Dir { mode: 0o750, owner: (33, 33), .. })));
/// assert!(matches!(&manifest.directives[1], (2, Directive::Remove { glob }) if glob == b"/tmp/**"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub enum Directive {
    /// Create (or update) a directory.
    Dir {
        /// Path in the image.
        path: Vec<u8>,
        /// Permissions.
        mode: u16,
        /// Owner.
        owner: (u32, u32),
    },
    /// Create a file from a host file.
    File {
        /// Path in the image.
        path: Vec<u8>,
        /// Permissions.
        mode: u16,
        /// Owner.
        owner: (u32, u32),
        /// The host file, relative to the manifest's directory.
        host: PathBuf,
    },
    /// Create a file holding `data` (recipes' `[[text]]`; the line format
    /// has no syntax for it).
    Data {
        /// Path in the image.
        path: Vec<u8>,
        /// Permissions.
        mode: u16,
        /// Owner.
        owner: (u32, u32),
        /// The file's contents.
        data: std::sync::Arc<[u8]>,
    },
    /// Create a symlink.
    Symlink {
        /// Path in the image.
        path: Vec<u8>,
        /// Target.
        target: Vec<u8>,
        /// Owner.
        owner: (u32, u32),
    },
    /// Create a device node or FIFO.
    Special {
        /// Path in the image.
        path: Vec<u8>,
        /// The node's kind.
        kind: NodeKind,
        /// Permissions.
        mode: u16,
        /// Owner.
        owner: (u32, u32),
    },
    /// Set the owner of matching paths.
    Owner {
        /// Which paths.
        glob: Vec<u8>,
        /// New owner.
        owner: (u32, u32),
    },
    /// Set the permissions of matching paths.
    Mode {
        /// Which paths.
        glob: Vec<u8>,
        /// New permissions.
        mode: u16,
    },
    /// Set the modification time of matching paths.
    Mtime {
        /// Which paths.
        glob: Vec<u8>,
        /// New time.
        time: Timestamp,
    },
    /// Remove matching paths (and what is below them).
    Remove {
        /// Which paths.
        glob: Vec<u8>,
    },
}

/// A parsed manifest and where its relative host paths start.
///
/// # Examples
///
/// ```
/// use blockimg::source::manifest::parse;
///
/// # fn main() -> blockimg::Result<()> {
/// let manifest = parse(b"# comments and blank lines are skipped\n\nfile /etc/issue 0644 0:0 issue\n", "extra", "/srv/files".into())?;
/// assert_eq!(manifest.directives.len(), 1);
/// assert_eq!(manifest.base, std::path::Path::new("/srv/files")); // where `issue` is looked for
/// assert!(parse(b"frobnicate /x\n", "bad", "/".into()).is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Manifest {
    /// Directives in file order, with their line numbers.
    pub directives: Vec<(usize, Directive)>,
    /// Directory that relative host paths are resolved against.
    pub base: PathBuf,
    /// Name of the manifest in errors.
    pub name: String,
}

/// Reads and parses the manifest file at `path`.
///
/// # Examples
///
/// ```
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// std::fs::write(dir.path().join("motd"), "welcome\n")?;
/// // Host paths are relative to the manifest's directory.
/// std::fs::write(dir.path().join("extra.manifest"), "file /etc/motd 0644 0:0 motd\n")?;
///
/// let manifest = blockimg::source::manifest::load(&dir.path().join("extra.manifest"))?;
/// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
/// manifest.apply(&mut tree, Timestamp::from_secs(0))?;
/// assert!(tree.lookup(b"/etc/motd").is_some());
/// # Ok(())
/// # }
/// ```
pub fn load(path: &Path) -> Result<Manifest> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
    parse(&text, &path.display().to_string(), base)
}

/// Parses manifest text; `name` names it in errors.
///
/// # Examples
///
/// ```
/// use blockimg::source::manifest;
/// use blockimg::tree::{Metadata, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let text = b"\
/// ## the web server's files
/// dir     /srv/www        0750 33:33
/// symlink /var/www        /srv/www
/// mode    /srv/**         0640
/// ";
/// let manifest = manifest::parse(text, "site.manifest", ".".into())?;
/// let time = Timestamp::from_secs(1_700_000_000);
/// let mut tree = Tree::new(Metadata::directory(time));
/// manifest.apply(&mut tree, time)?;
///
/// let www = tree.node(tree.lookup(b"/srv/www").ok_or("missing")?);
/// assert_eq!((www.meta.uid, www.meta.permissions), (33, 0o640));
/// assert!(matches!(&tree.node(tree.lookup(b"/var/www").unwrap()).kind, NodeKind::Symlink(_)));
/// # Ok(())
/// # }
/// ```
pub fn parse(text: &[u8], name: &str, base: PathBuf) -> Result<Manifest> {
    let mut directives = Vec::new();
    for (index, line) in text.split(|&b| b == b'\n').enumerate() {
        let number = index + 1;
        let fail = |reason: String| {
            Error::from(SourceError::BadManifest {
                manifest: name.to_string(),
                line: number,
                reason,
            })
        };
        let fields = split_fields(line).map_err(fail)?;
        let Some((keyword, args)) = fields.split_first() else {
            continue;
        };
        let directive = directive(keyword, args).map_err(fail)?;
        directives.push((number, directive));
    }
    Ok(Manifest {
        directives,
        base,
        name: name.to_string(),
    })
}

fn split_fields(line: &[u8]) -> std::result::Result<Vec<Vec<u8>>, String> {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r');
    let mut fields = Vec::new();
    let mut rest = line;
    loop {
        let start = rest.iter().position(|b| !blank(b)).unwrap_or(rest.len());
        rest = rest.get(start..).unwrap_or_default();
        match rest.split_first() {
            None | Some((b'#', _)) => break,
            Some((b'"', quoted)) => {
                let mut field = Vec::new();
                let mut bytes = quoted.iter();
                loop {
                    match bytes.next() {
                        None => return Err("unterminated quote".into()),
                        Some(b'"') => break,
                        Some(b'\\') => {
                            field.push(*bytes.next().ok_or("a backslash ends the line")?);
                        }
                        Some(&b) => field.push(b),
                    }
                }
                rest = bytes.as_slice();
                fields.push(field);
            }
            Some(_) => {
                let end = rest.iter().position(blank).unwrap_or(rest.len());
                let (field, after) = rest.split_at_checked(end).unwrap_or((rest, &[]));
                fields.push(field.to_vec());
                rest = after;
            }
        }
    }
    Ok(fields)
}

fn text(field: &[u8]) -> String {
    String::from_utf8_lossy(field).into_owned()
}

fn parse_mode(field: &[u8]) -> std::result::Result<u16, String> {
    u16::from_str_radix(&text(field), 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("mode {:?} is not octal 0..7777", text(field)))
}

fn parse_owner(field: &[u8]) -> std::result::Result<(u32, u32), String> {
    let t = text(field);
    let (u, g) = t
        .split_once(':')
        .ok_or_else(|| format!("owner {t:?} is not UID:GID"))?;
    let num = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{s:?} in owner {t:?} is not a number"))
    };
    Ok((num(u)?, num(g)?))
}

fn parse_u32(field: &[u8], what: &str) -> std::result::Result<u32, String> {
    text(field)
        .parse()
        .map_err(|_| format!("{what} {:?} is not a number", text(field)))
}

fn parse_time(field: &[u8]) -> std::result::Result<Timestamp, String> {
    let t = text(field);
    let (int, frac) = t.split_once('.').unwrap_or((&t, ""));
    let secs: i64 = int
        .parse()
        .map_err(|_| format!("time {t:?} is not seconds"))?;
    if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("time {t:?} has a bad fraction"));
    }
    let nanos = format!("{frac:0<9}").parse().unwrap_or(0);
    Ok(Timestamp { secs, nanos })
}

fn image_path(field: &[u8]) -> std::result::Result<Vec<u8>, String> {
    if !field.starts_with(b"/") {
        return Err(format!("path {:?} is not absolute", text(field)));
    }
    if field.split(|&b| b == b'/').any(|c| c == b"..") {
        return Err(format!("path {:?} contains `..`", text(field)));
    }
    Ok(field.to_vec())
}

fn directive(keyword: &[u8], args: &[Vec<u8>]) -> std::result::Result<Directive, String> {
    let usage = |usage: &str| format!("expected `{usage}`");
    Ok(match (keyword, args) {
        (b"dir", [path, mode, owner]) => Directive::Dir {
            path: image_path(path)?,
            mode: parse_mode(mode)?,
            owner: parse_owner(owner)?,
        },
        (b"dir", _) => return Err(usage("dir PATH MODE UID:GID")),
        (b"file", [path, mode, owner, host]) => Directive::File {
            path: image_path(path)?,
            mode: parse_mode(mode)?,
            owner: parse_owner(owner)?,
            host: PathBuf::from(std::ffi::OsStr::new(&text(host))),
        },
        (b"file", _) => return Err(usage("file PATH MODE UID:GID HOST-PATH")),
        (b"symlink", [path, target, owner @ ..]) if owner.len() <= 1 => Directive::Symlink {
            path: image_path(path)?,
            target: target.clone(),
            owner: match owner.first() {
                Some(o) => parse_owner(o)?,
                None => (0, 0),
            },
        },
        (b"symlink", _) => return Err(usage("symlink PATH TARGET [UID:GID]")),
        (b"char" | b"block", [path, major, minor, mode, owner]) => {
            let (major, minor) = (parse_u32(major, "major")?, parse_u32(minor, "minor")?);
            let kind = if keyword == b"char" {
                NodeKind::CharDevice { major, minor }
            } else {
                NodeKind::BlockDevice { major, minor }
            };
            Directive::Special {
                path: image_path(path)?,
                kind,
                mode: parse_mode(mode)?,
                owner: parse_owner(owner)?,
            }
        }
        (b"char" | b"block", _) => return Err(usage("char|block PATH MAJOR MINOR MODE UID:GID")),
        (b"fifo", [path, mode, owner]) => Directive::Special {
            path: image_path(path)?,
            kind: NodeKind::Fifo,
            mode: parse_mode(mode)?,
            owner: parse_owner(owner)?,
        },
        (b"fifo", _) => return Err(usage("fifo PATH MODE UID:GID")),
        (b"owner", [glob, owner]) => Directive::Owner {
            glob: glob.clone(),
            owner: parse_owner(owner)?,
        },
        (b"owner", _) => return Err(usage("owner GLOB UID:GID")),
        (b"mode", [glob, mode]) => Directive::Mode {
            glob: glob.clone(),
            mode: parse_mode(mode)?,
        },
        (b"mode", _) => return Err(usage("mode GLOB MODE")),
        (b"mtime", [glob, time]) => Directive::Mtime {
            glob: glob.clone(),
            time: parse_time(time)?,
        },
        (b"mtime", _) => return Err(usage("mtime GLOB SECONDS")),
        (b"remove", [glob]) => Directive::Remove { glob: glob.clone() },
        (b"remove", _) => return Err(usage("remove GLOB")),
        (other, _) => return Err(format!("unknown directive {:?}", text(other))),
    })
}

impl Manifest {
    /// Applies every directive to `tree`, in order. New nodes get `time` as
    /// their times.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::source::manifest::parse;
    /// use blockimg::tree::{Metadata, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let time = Timestamp::from_secs(1_700_000_000);
    /// let mut tree = Tree::new(Metadata::directory(time));
    /// let manifest = parse(b"symlink /sbin/init /bin/busybox\nchar /dev/null 1 3 0666 0:0\nowner /** 0:0\n", "m", "/".into())?;
    /// manifest.apply(&mut tree, time)?;
    /// assert!(tree.lookup(b"/sbin").is_some()); // parents made on the way
    /// assert_eq!(tree.node(tree.lookup(b"/dev/null").expect("made")).mode(), 0o020666);
    /// # Ok(())
    /// # }
    /// ```
    pub fn apply(&self, tree: &mut Tree, time: Timestamp) -> Result<()> {
        for (line, directive) in &self.directives {
            let fail = |reason: String| {
                Error::from(SourceError::BadManifest {
                    manifest: self.name.clone(),
                    line: *line,
                    reason,
                })
            };
            let meta = |mode: u16, owner: (u32, u32)| Metadata {
                permissions: mode,
                uid: owner.0,
                gid: owner.1,
                atime: time,
                mtime: time,
                ctime: time,
                crtime: None,
            };
            match directive {
                Directive::Dir { path, mode, owner } => {
                    let (parent, name) = parent_dir(tree, path, time).map_err(fail)?;
                    let existing = tree.entries(parent).and_then(|e| e.get(&name)).copied();
                    match existing {
                        Some(id) if tree.node(id).is_dir() => {
                            let node = tree.node_mut(id);
                            node.meta.permissions = *mode;
                            (node.meta.uid, node.meta.gid) = *owner;
                        }
                        _ => {
                            tree.add(
                                parent,
                                &name,
                                Node::new(
                                    meta(*mode, *owner),
                                    NodeKind::Directory(BTreeMap::new()),
                                ),
                            )?;
                        }
                    }
                }
                Directive::File {
                    path,
                    mode,
                    owner,
                    host,
                } => {
                    let host = self.base.join(host);
                    let (parent, name) = parent_dir(tree, path, time).map_err(fail)?;
                    let content = super::dir::host_file_content(&host)?;
                    tree.add(
                        parent,
                        &name,
                        Node::new(meta(*mode, *owner), NodeKind::File(content)),
                    )?;
                }
                Directive::Data {
                    path,
                    mode,
                    owner,
                    data,
                } => {
                    let (parent, name) = parent_dir(tree, path, time).map_err(fail)?;
                    let content = crate::tree::FileContent::from_bytes(data.clone());
                    tree.add(
                        parent,
                        &name,
                        Node::new(meta(*mode, *owner), NodeKind::File(content)),
                    )?;
                }
                Directive::Symlink {
                    path,
                    target,
                    owner,
                } => {
                    let (parent, name) = parent_dir(tree, path, time).map_err(fail)?;
                    tree.add(
                        parent,
                        &name,
                        Node::new(meta(0o777, *owner), NodeKind::Symlink(target.clone())),
                    )?;
                }
                Directive::Special {
                    path,
                    kind,
                    mode,
                    owner,
                } => {
                    let (parent, name) = parent_dir(tree, path, time).map_err(fail)?;
                    tree.add(parent, &name, Node::new(meta(*mode, *owner), kind.clone()))?;
                }
                Directive::Owner { glob, owner } => {
                    for id in matching(tree, glob) {
                        let node = tree.node_mut(id);
                        (node.meta.uid, node.meta.gid) = *owner;
                    }
                }
                Directive::Mode { glob, mode } => {
                    for id in matching(tree, glob) {
                        tree.node_mut(id).meta.permissions = *mode;
                    }
                }
                Directive::Mtime { glob, time } => {
                    for id in matching(tree, glob) {
                        tree.node_mut(id).meta.mtime = *time;
                    }
                }
                Directive::Remove { glob } => {
                    for (parent, name) in matching_entries(tree, glob) {
                        tree.unlink(parent, &name);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The directory that will hold `path` (created as needed) and the last
/// component's name.
fn parent_dir(
    tree: &mut Tree,
    path: &[u8],
    time: Timestamp,
) -> std::result::Result<(NodeId, Vec<u8>), String> {
    let parts: Vec<&[u8]> = path
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .collect();
    let Some((last, parents)) = parts.split_last() else {
        return Err("the root cannot be replaced".into());
    };
    let mut dir = Tree::ROOT;
    for part in parents {
        let existing = tree.entries(dir).and_then(|e| e.get(*part)).copied();
        dir = match existing {
            Some(id) if tree.node(id).is_dir() => id,
            Some(_) => return Err(format!("{} is not a directory", text(part))),
            None => {
                let meta = Metadata::directory(time);
                tree.add(
                    dir,
                    part,
                    Node::new(meta, NodeKind::Directory(BTreeMap::new())),
                )
                .map_err(|e| e.to_string())?
            }
        };
    }
    Ok((dir, last.to_vec()))
}

/// Every `(parent, name)` entry whose path matches `glob`.
fn matching_entries(tree: &Tree, glob: &[u8]) -> Vec<(NodeId, Vec<u8>)> {
    let glob = Glob::new(glob);
    let mut found = Vec::new();
    let mut stack = vec![(Tree::ROOT, Vec::new())];
    while let Some((dir, prefix)) = stack.pop() {
        let Some(entries) = tree.entries(dir) else {
            continue;
        };
        for (name, &child) in entries {
            let mut path = prefix.clone();
            path.push(b'/');
            path.extend_from_slice(name);
            if glob.matches(&path) {
                found.push((dir, name.clone()));
            }
            if tree.node(child).is_dir() {
                stack.push((child, path));
            }
        }
    }
    found
}

fn matching(tree: &Tree, glob: &[u8]) -> Vec<NodeId> {
    let mut ids: Vec<NodeId> = matching_entries(tree, glob)
        .into_iter()
        .filter_map(|(parent, name)| tree.entries(parent).and_then(|e| e.get(&name)).copied())
        .collect();
    if glob == b"/" {
        ids.push(Tree::ROOT);
    }
    ids.sort();
    ids.dedup();
    ids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_glob_of_many_stars_applies_in_one_pass() {
        // The manifest fuzz target's timeout (fuzz/artifacts/manifest/
        // timeout-08340199...): a path with many components, then a mode
        // glob of 124 stars and a `**`. Backtracking took exponential time.
        let text = [
            &b"dir /d/,/////////////\xff8///?///)///////[//////////@//////)///////[//////////"[..],
            b"\xf6////////////\x0f\xf9\xf9\xf9/O///#//////////@////////)///////[//////////",
            b"\xf6////////////\xf9\xf9\xf9\xf9/O////////ev 00 0:0\nmode /",
            &[b'*'; 124],
            b"?tcd\xff/** 0643\n",
        ]
        .concat();
        let manifest = parse(&text, "m", PathBuf::from("/")).unwrap();
        let time = Timestamp::from_secs(0);
        let mut tree = Tree::new(Metadata::directory(time));
        manifest.apply(&mut tree, time).unwrap();
        assert!(tree.lookup(b"/d/,/\xff8/?/)/[/@/)/[/\xf6/\x0f\xf9\xf9\xf9/O/#/@/)/[/\xf6/\xf9\xf9\xf9\xf9/O/ev").is_some());
    }

    #[test]
    fn fields_split_on_blanks_with_quotes_escapes_and_comments() {
        let fields = split_fields(b" dir\t\"/a b\" \"q\\\"x\\\\\" 0:0 # comment \"x\r").unwrap();
        assert_eq!(
            fields,
            [
                b"dir".to_vec(),
                b"/a b".to_vec(),
                b"q\"x\\".to_vec(),
                b"0:0".to_vec()
            ]
        );
        assert_eq!(
            split_fields(b"a\"b c").unwrap(),
            [b"a\"b".to_vec(), b"c".to_vec()]
        );
        assert!(split_fields(b"").unwrap().is_empty());
        assert!(split_fields(b"   # only a comment").unwrap().is_empty());
        assert_eq!(
            split_fields(b"\"unterminated").unwrap_err(),
            "unterminated quote"
        );
        assert_eq!(
            split_fields(b"\"ends in \\").unwrap_err(),
            "a backslash ends the line"
        );
        assert_eq!(split_fields(b"\"\"").unwrap(), [Vec::<u8>::new()]);
    }

    #[test]
    fn each_directive_wants_its_fields() {
        for (line, usage) in [
            ("dir /a 0755", "dir PATH MODE UID:GID"),
            ("file /a 0644 0:0", "file PATH MODE UID:GID HOST-PATH"),
            ("symlink /a", "symlink PATH TARGET [UID:GID]"),
            ("symlink /a b 0:0 x", "symlink PATH TARGET [UID:GID]"),
            (
                "block /dev/b 8 0 0660",
                "char|block PATH MAJOR MINOR MODE UID:GID",
            ),
            ("fifo /p", "fifo PATH MODE UID:GID"),
            ("owner /a", "owner GLOB UID:GID"),
            ("mode /a", "mode GLOB MODE"),
            ("mtime /a 1 2", "mtime GLOB SECONDS"),
            ("remove", "remove GLOB"),
        ] {
            let err = parse(line.as_bytes(), "m", PathBuf::new()).unwrap_err();
            assert!(err.to_string().contains(usage), "{line}: {err}");
        }
        assert!(parse(b"symlink /a b 1:1\nsymlink /c d", "m", PathBuf::new()).is_ok());
    }

    #[test]
    fn errors_name_the_line() {
        let err = parse(b"dir /etc 0755 0:0\nbogus /x\n", "m.txt", PathBuf::new()).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("m.txt") && text.contains("line 2"), "{text}");
        assert!(parse(b"dir etc 0755 0:0", "m", PathBuf::new()).is_err());
        assert!(parse(b"char /dev/x 1 3 0999 0:0", "m", PathBuf::new()).is_err());
    }

    #[test]
    fn directives_apply_in_order() {
        let t = Timestamp::from_secs(5);
        let mut tree = Tree::new(Metadata {
            permissions: 0o755,
            ..Metadata::default()
        });
        let m = parse(
            b"# devices\nchar /dev/console 5 1 0600 0:0\n\"dir\" \"/a b\" 0700 1:2\nowner /dev/* 9:9\nmode /a* 0711\nsymlink /var/run /run\nremove /var\n",
            "m",
            PathBuf::new(),
        )
        .unwrap();
        m.apply(&mut tree, t).unwrap();
        let console = tree.lookup(b"dev/console").unwrap();
        assert!(matches!(
            tree.node(console).kind,
            NodeKind::CharDevice { major: 5, minor: 1 }
        ));
        assert_eq!(
            (tree.node(console).meta.uid, tree.node(console).meta.gid),
            (9, 9)
        );
        let ab = tree.lookup(b"a b").unwrap();
        assert_eq!(tree.node(ab).meta.permissions, 0o711);
        assert!(tree.lookup(b"var").is_none());
    }
}
