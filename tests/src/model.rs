//! A comparable description of a directory tree: path -> what a reader sees
//! there. The host walker and the image readers produce the same model, so
//! "the image holds the tree" is one equality check with a readable diff.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use crate::tools::show;

/// The type of a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// Regular file.
    File,
    /// Directory.
    Dir,
    /// Symbolic link.
    Symlink,
    /// Character device.
    CharDev,
    /// Block device.
    BlockDev,
    /// Named pipe.
    Fifo,
    /// Unix domain socket.
    Socket,
}

/// What a reader sees at one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Node type.
    pub kind: Kind,
    /// Permission bits including setuid, setgid and sticky.
    pub perm: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes; `None` for directories (their size is
    /// filesystem-specific).
    pub size: Option<u64>,
    /// Digest of a regular file's content ([`ContentDigest`]).
    pub content: Option<String>,
    /// Target of a symbolic link.
    pub target: Option<Vec<u8>>,
    /// Modification time: seconds and nanoseconds.
    pub mtime: (i64, u32),
    /// Hard-link count, when the reader knows it.
    pub nlink: Option<u32>,
    /// Major and minor number of a device node, when the reader knows it.
    pub rdev: Option<(u32, u32)>,
    /// For a non-directory with more than one name in the tree: the first of
    /// its paths in byte order (every name of one inode carries the same
    /// value). `None` for singly linked nodes.
    pub link_group: Option<Vec<u8>>,
    /// Extended attributes, when the reader knows them.
    pub xattrs: Option<BTreeMap<Vec<u8>, Vec<u8>>>,
}

/// A whole tree: absolute path (`/`, `/a`, `/a/b`, as bytes) -> entry.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Model {
    /// Every node by path, the root included.
    pub entries: BTreeMap<Vec<u8>, Entry>,
}

/// What a comparison ignores.
#[derive(Clone, Debug)]
pub struct Compare {
    /// Compare nanoseconds of modification times.
    pub nanos: bool,
    /// Compare extended attributes (when both sides know them).
    pub xattrs: bool,
    /// Compare link counts (when both sides know them).
    pub nlink: bool,
    /// Compare device numbers (when both sides know them).
    pub rdev: bool,
    /// Accept a `/lost+found` directory in the image that the host tree does
    /// not have (mkfs tools create it; it adds one link to the root).
    pub allow_lost_found: bool,
}

impl Default for Compare {
    fn default() -> Self {
        Compare {
            nanos: true,
            xattrs: true,
            nlink: true,
            rdev: true,
            allow_lost_found: true,
        }
    }
}

impl Compare {
    /// Everything compared exactly, no extra `lost+found` allowed.
    pub fn strict() -> Self {
        Compare {
            allow_lost_found: false,
            ..Compare::default()
        }
    }
}

/// Builds the `link_group` of every non-directory entry from an identity
/// (inode number) per path.
pub fn assign_link_groups<K: Ord + Copy>(model: &mut Model, identity: &BTreeMap<Vec<u8>, K>) {
    let mut names: BTreeMap<K, Vec<Vec<u8>>> = BTreeMap::new();
    for (path, entry) in &model.entries {
        if entry.kind != Kind::Dir {
            if let Some(id) = identity.get(path) {
                names.entry(*id).or_default().push(path.clone());
            }
        }
    }
    for paths in names.values() {
        if paths.len() > 1 {
            let first = paths.iter().min().expect("non-empty").clone();
            for path in paths {
                model.entries.get_mut(path).expect("path").link_group = Some(first.clone());
            }
        }
    }
}

impl Model {
    /// Every owner replaced by `uid`:`gid` (what `--owner` does).
    pub fn with_owner(mut self, uid: u32, gid: u32) -> Self {
        for entry in self.entries.values_mut() {
            entry.uid = uid;
            entry.gid = gid;
        }
        self
    }

    /// Every modification time later than `limit` replaced by `limit` (what a
    /// reproducible build does with `SOURCE_DATE_EPOCH`).
    pub fn with_mtime_clamped(mut self, limit: (i64, u32)) -> Self {
        for entry in self.entries.values_mut() {
            if entry.mtime > limit {
                entry.mtime = limit;
            }
        }
        self
    }

    /// The entry at `path`; panics naming the path when absent.
    pub fn get(&self, path: &str) -> &Entry {
        self.entries
            .get(path.as_bytes())
            .unwrap_or_else(|| panic!("no {path:?} in the model"))
    }

    /// Differences between `self` (expected, usually the host tree) and
    /// `actual` (usually the image), one line each.
    pub fn diff(&self, actual: &Model, cmp: &Compare) -> Vec<String> {
        let mut expected = self.clone();
        let mut actual = actual.clone();
        if cmp.allow_lost_found
            && !expected.entries.contains_key(&b"/lost+found"[..])
            && actual.entries.get(&b"/lost+found"[..]).map(|e| e.kind) == Some(Kind::Dir)
        {
            actual.entries.retain(|p, _| !p.starts_with(b"/lost+found"));
            if let Some(nlink) = actual
                .entries
                .get_mut(&b"/"[..])
                .and_then(|r| r.nlink.as_mut())
            {
                *nlink -= 1;
            }
        }
        for model in [&mut expected, &mut actual] {
            for entry in model.entries.values_mut() {
                if !cmp.nanos {
                    entry.mtime.1 = 0;
                }
            }
        }
        let mut out = Vec::new();
        for (path, want) in &expected.entries {
            let Some(got) = actual.entries.get(path) else {
                out.push(format!(
                    "{}: missing from the image ({:?})",
                    show(path),
                    want.kind
                ));
                continue;
            };
            let mut field = |name: &str, w: String, g: String| {
                if w != g {
                    out.push(format!("{}: {name}: expected {w}, found {g}", show(path)));
                }
            };
            field(
                "kind",
                format!("{:?}", want.kind),
                format!("{:?}", got.kind),
            );
            field(
                "mode",
                format!("{:o}", want.perm),
                format!("{:o}", got.perm),
            );
            field("uid", want.uid.to_string(), got.uid.to_string());
            field("gid", want.gid.to_string(), got.gid.to_string());
            field(
                "size",
                format!("{:?}", want.size),
                format!("{:?}", got.size),
            );
            field(
                "content",
                format!("{:?}", want.content),
                format!("{:?}", got.content),
            );
            field(
                "symlink target",
                format!("{:?}", want.target.as_deref().map(show)),
                format!("{:?}", got.target.as_deref().map(show)),
            );
            field(
                "mtime",
                format!("{:?}", want.mtime),
                format!("{:?}", got.mtime),
            );
            field(
                "hard-link group",
                format!("{:?}", want.link_group.as_deref().map(show)),
                format!("{:?}", got.link_group.as_deref().map(show)),
            );
            if cmp.nlink {
                if let (Some(w), Some(g)) = (want.nlink, got.nlink) {
                    field("link count", w.to_string(), g.to_string());
                }
            }
            if cmp.rdev {
                if let (Some(w), Some(g)) = (want.rdev, got.rdev) {
                    field("device", format!("{w:?}"), format!("{g:?}"));
                }
            }
            if cmp.xattrs {
                if let (Some(w), Some(g)) = (&want.xattrs, &got.xattrs) {
                    if w != g {
                        field("xattrs", describe_xattrs(w), describe_xattrs(g));
                    }
                }
            }
        }
        for (path, got) in &actual.entries {
            if !expected.entries.contains_key(path) {
                out.push(format!(
                    "{}: unexpected in the image ({:?})",
                    show(path),
                    got.kind
                ));
            }
        }
        out
    }

    /// Panics with the first differences when `actual` differs from `self`.
    pub fn assert_same(&self, actual: &Model, cmp: &Compare, what: &str) {
        let diff = self.diff(actual, cmp);
        if !diff.is_empty() {
            let shown: Vec<&String> = diff.iter().take(40).collect();
            panic!(
                "{what}: {} difference(s) over {} expected entries:\n  {}{}",
                diff.len(),
                self.entries.len(),
                shown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("\n  "),
                if diff.len() > shown.len() {
                    "\n  ..."
                } else {
                    ""
                }
            );
        }
    }
}

fn describe_xattrs(map: &BTreeMap<Vec<u8>, Vec<u8>>) -> String {
    let items: Vec<String> = map
        .iter()
        .map(|(k, v)| {
            let preview: String = String::from_utf8_lossy(&v[..v.len().min(16)]).into_owned();
            let digest = crate::tools::hex(&Sha256::digest(v)[..4]);
            format!(
                "{}={} bytes {:?} sha256:{digest}",
                show(k),
                v.len(),
                preview
            )
        })
        .collect();
    format!("{{{}}}", items.join(", "))
}

/// Size of the blocks [`ContentDigest`] hashes or skips.
const DIGEST_BLOCK: usize = 64 * 1024;

static ZEROS: [u8; DIGEST_BLOCK] = [0; DIGEST_BLOCK];

/// A SHA-256 based identity of file content that skips all-zero 64 KiB
/// blocks: it hashes each non-zero block with its offset, then the total
/// size. Equal content gives equal digests; holes (and zeros) cost no
/// hashing, which keeps sparse files of many MiB cheap in debug builds.
pub struct ContentDigest {
    hasher: Sha256,
    block: Vec<u8>,
    offset: u64,
}

impl Default for ContentDigest {
    fn default() -> Self {
        ContentDigest {
            hasher: Sha256::new(),
            block: Vec::with_capacity(DIGEST_BLOCK),
            offset: 0,
        }
    }
}

impl ContentDigest {
    /// A digest of no bytes yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn flush_block(&mut self) {
        if self.block.as_slice() != &ZEROS[..self.block.len()] {
            self.hasher.update(self.offset.to_le_bytes());
            self.hasher.update(&self.block);
        }
        self.offset += self.block.len() as u64;
        self.block.clear();
    }

    /// Appends bytes.
    pub fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            let take = (DIGEST_BLOCK - self.block.len()).min(bytes.len());
            self.block.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.block.len() == DIGEST_BLOCK {
                self.flush_block();
            }
        }
    }

    /// Appends `count` zero bytes (a hole) without hashing whole zero blocks.
    pub fn zeros(&mut self, mut count: u64) {
        if !self.block.is_empty() {
            let take = ((DIGEST_BLOCK - self.block.len()) as u64).min(count) as usize;
            self.update(&ZEROS[..take]);
            count -= take as u64;
        }
        let whole = count / DIGEST_BLOCK as u64 * DIGEST_BLOCK as u64;
        self.offset += whole;
        self.update(&ZEROS[..(count - whole) as usize]);
    }

    /// The digest (hex) of everything appended.
    pub fn finish(mut self) -> String {
        self.flush_block();
        self.hasher.update(b"size");
        self.hasher.update(self.offset.to_le_bytes());
        crate::tools::hex(&self.hasher.finalize())
    }
}
