//! Reads the ext4 filesystem inside an image into a [`Model`] with two
//! independent readers: the `ext4-view` crate (content, modes, owners, times,
//! symlink targets; it verifies metadata checksums as it reads) and `debugfs`
//! (inode numbers, link counts, device numbers, extended attributes, which
//! `ext4-view` does not expose). Where both report a field they must agree.

use std::collections::BTreeMap;
use std::error::Error;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use ext4_view::{Ext4, Ext4Read, FileType};

use crate::model::{assign_link_groups, ContentDigest, Entry, Kind, Model};
use crate::tools::{debugfs_batch, parse_stat, read_xattr_values, show};

/// An [`Ext4Read`] over a byte range of an image file: the filesystem that
/// starts at `offset` and is at most `len` bytes long.
pub struct OffsetReader {
    file: File,
    offset: u64,
    len: u64,
}

impl OffsetReader {
    /// A reader of `len` bytes (`None`: to the end of the file) starting at
    /// `offset` of `img`.
    pub fn new(img: &Path, offset: u64, len: Option<u64>) -> std::io::Result<Self> {
        let file = File::open(img)?;
        let total = file.metadata()?.len();
        let len = len.unwrap_or(total.saturating_sub(offset));
        Ok(OffsetReader { file, offset, len })
    }
}

impl Ext4Read for OffsetReader {
    fn read(&mut self, start: u64, dst: &mut [u8]) -> Result<(), Box<dyn Error + Send + Sync>> {
        let fits = start
            .checked_add(dst.len() as u64)
            .is_some_and(|end| end <= self.len);
        if !fits {
            return Err(format!(
                "read of {} bytes at {start} beyond the {}-byte filesystem",
                dst.len(),
                self.len
            )
            .into());
        }
        self.file.read_exact_at(dst, self.offset + start)?;
        Ok(())
    }
}

/// Loads the filesystem at `offset` of `img` with `ext4-view`.
pub fn open_ext4(img: &Path, offset: u64, len: Option<u64>) -> Ext4 {
    let reader = OffsetReader::new(img, offset, len)
        .unwrap_or_else(|e| panic!("open {}: {e}", img.display()));
    Ext4::load(Box::new(reader)).unwrap_or_else(|e| {
        panic!(
            "ext4-view cannot load {} at offset {offset}: {e}",
            img.display()
        )
    })
}

fn kind_of(ft: FileType) -> Kind {
    if ft.is_dir() {
        Kind::Dir
    } else if ft.is_regular_file() {
        Kind::File
    } else if ft.is_symlink() {
        Kind::Symlink
    } else if ft.is_char_dev() {
        Kind::CharDev
    } else if ft.is_block_dev() {
        Kind::BlockDev
    } else if ft.is_fifo() {
        Kind::Fifo
    } else {
        assert!(ft.is_socket(), "unknown file type {ft:?}");
        Kind::Socket
    }
}

/// The model `ext4-view` sees: no link counts, device numbers or xattrs
/// (`ext4-view` does not expose them), and no hard-link groups.
pub fn ext4view_model(fs: &Ext4) -> Model {
    let mut model = Model::default();
    let root = fs.symlink_metadata("/").expect("metadata of /");
    model
        .entries
        .insert(b"/".to_vec(), entry_of(fs, b"/", &root));
    let mut dirs = vec![b"/".to_vec()];
    while let Some(dir) = dirs.pop() {
        let entries = fs
            .read_dir(dir.as_slice())
            .unwrap_or_else(|e| panic!("ext4-view read_dir {}: {e}", show(&dir)));
        for entry in entries {
            let entry = entry.unwrap_or_else(|e| panic!("ext4-view entry in {}: {e}", show(&dir)));
            let name = entry.file_name();
            let name = name.as_ref();
            if name == b"." || name == b".." {
                continue;
            }
            let mut path = dir.clone();
            if path.len() > 1 {
                path.push(b'/');
            }
            path.extend_from_slice(name);
            let meta = entry
                .metadata()
                .unwrap_or_else(|e| panic!("ext4-view metadata {}: {e}", show(&path)));
            assert_eq!(
                kind_of(entry.file_type().expect("entry type")),
                kind_of(meta.file_type()),
                "{}: directory entry type differs from the inode's",
                show(&path)
            );
            let e = entry_of(fs, &path, &meta);
            if e.kind == Kind::Dir {
                dirs.push(path.clone());
            }
            assert!(
                model.entries.insert(path.clone(), e).is_none(),
                "{} listed twice",
                show(&path)
            );
        }
    }
    model
}

fn entry_of(fs: &Ext4, path: &[u8], meta: &ext4_view::Metadata) -> Entry {
    let kind = kind_of(meta.file_type());
    let mtime = meta.modified();
    let content = (kind == Kind::File).then(|| {
        let mut file = fs
            .open(path)
            .unwrap_or_else(|e| panic!("ext4-view open {}: {e}", show(path)));
        let mut digest = ContentDigest::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = file
                .read_bytes(&mut buf)
                .unwrap_or_else(|e| panic!("ext4-view read {}: {e}", show(path)));
            if n == 0 {
                break;
            }
            total += n as u64;
            digest.update(&buf[..n]);
        }
        assert_eq!(
            total,
            meta.len(),
            "{}: read fewer bytes than its size",
            show(path)
        );
        digest.finish()
    });
    let target = (kind == Kind::Symlink).then(|| {
        fs.read_link(path)
            .unwrap_or_else(|e| panic!("ext4-view read_link {}: {e}", show(path)))
            .as_ref()
            .to_vec()
    });
    Entry {
        kind,
        perm: meta.mode() & 0o7777,
        uid: meta.uid(),
        gid: meta.gid(),
        size: (kind != Kind::Dir).then_some(meta.len()),
        content,
        target,
        mtime: (mtime.seconds(), mtime.nanoseconds()),
        nlink: None,
        rdev: None,
        link_group: None,
        xattrs: None,
    }
}

/// One directory entry as `debugfs ls -p` prints it.
#[derive(Debug, Clone)]
struct LsEntry {
    inode: u64,
    mode: u32,
    uid: u32,
    gid: u32,
}

/// Parses `/INODE/MODE/UID/GID/NAME/SIZE/` lines.
fn parse_ls_p(out: &[u8]) -> Vec<(Vec<u8>, LsEntry)> {
    let mut entries = Vec::new();
    for line in out.split(|&b| b == b'\n') {
        if line.is_empty() {
            continue;
        }
        let line = line
            .strip_prefix(b"/")
            .and_then(|l| l.strip_suffix(b"/"))
            .unwrap_or_else(|| panic!("unexpected debugfs ls -p line {:?}", show(line)));
        // Split the four leading numeric fields, then the size from the end;
        // the name is what lies between.
        let mut fields = line.splitn(5, |&b| b == b'/');
        let num = |f: Option<&[u8]>, radix: u32| -> u64 {
            let f = f.expect("ls -p field");
            u64::from_str_radix(std::str::from_utf8(f).expect("ascii"), radix)
                .unwrap_or_else(|_| panic!("bad ls -p field {:?}", show(f)))
        };
        let inode = num(fields.next(), 10);
        let mode = num(fields.next(), 8) as u32;
        let uid = num(fields.next(), 10) as u32;
        let gid = num(fields.next(), 10) as u32;
        let rest = fields.next().expect("name and size");
        let slash = rest.iter().rposition(|&b| b == b'/').expect("size field");
        let name = rest[..slash].to_vec();
        // Inode 0 marks unused space (empty blocks of lost+found, say).
        if inode == 0 || name == b"." || name == b".." {
            continue;
        }
        entries.push((
            name,
            LsEntry {
                inode,
                mode,
                uid,
                gid,
            },
        ));
    }
    entries
}

/// Inode numbers of every path and the `stat` of every inode, through
/// `debugfs` alone (directories listed by inode number, so no path quoting).
fn debugfs_walk(img: &Path, offset: u64) -> BTreeMap<Vec<u8>, LsEntry> {
    let mut paths = BTreeMap::new();
    paths.insert(
        b"/".to_vec(),
        LsEntry {
            inode: 2,
            mode: 0o040000,
            uid: 0,
            gid: 0,
        },
    );
    let mut level = vec![(b"/".to_vec(), 2u64)];
    while !level.is_empty() {
        let cmds: Vec<String> = level
            .iter()
            .map(|(_, ino)| format!("ls -p <{ino}>"))
            .collect();
        let outputs = debugfs_batch(img, offset, &cmds);
        let mut next = Vec::new();
        for ((dir, _), out) in level.iter().zip(outputs) {
            for (name, entry) in parse_ls_p(&out) {
                let mut path = dir.clone();
                if path.len() > 1 {
                    path.push(b'/');
                }
                path.extend_from_slice(&name);
                if entry.mode & 0o170000 == 0o040000 {
                    next.push((path.clone(), entry.inode));
                }
                paths.insert(path, entry);
            }
        }
        level = next;
    }
    paths
}

/// The full model of the filesystem at `offset` of `img`: `ext4-view` for
/// content and metadata, `debugfs` for link counts, hard-link groups, device
/// numbers and extended attributes. Panics when the two readers disagree on
/// the set of paths, a node's type and mode, or its owner.
pub fn image_model(img: &Path, offset: u64) -> Model {
    let fs = open_ext4(img, offset, None);
    let mut model = ext4view_model(&fs);
    let listed = debugfs_walk(img, offset);

    let view_paths: Vec<&Vec<u8>> = model.entries.keys().collect();
    let dbg_paths: Vec<&Vec<u8>> = listed.keys().collect();
    if view_paths != dbg_paths {
        let only_view: Vec<String> = model
            .entries
            .keys()
            .filter(|p| !listed.contains_key(*p))
            .take(10)
            .map(|p| show(p))
            .collect();
        let only_dbg: Vec<String> = listed
            .keys()
            .filter(|p| !model.entries.contains_key(*p))
            .take(10)
            .map(|p| show(p))
            .collect();
        panic!("ext4-view and debugfs list different paths: only ext4-view: {only_view:?}; only debugfs: {only_dbg:?}");
    }

    let mut inodes: Vec<u64> = listed.values().map(|e| e.inode).collect();
    inodes.sort_unstable();
    inodes.dedup();
    let stats = debugfs_batch(
        img,
        offset,
        &inodes
            .iter()
            .map(|i| format!("stat <{i}>"))
            .collect::<Vec<_>>(),
    );
    let stats: BTreeMap<u64, crate::tools::InodeStat> = inodes
        .iter()
        .zip(stats)
        .map(|(&ino, out)| (ino, parse_stat(&String::from_utf8_lossy(&out))))
        .collect();

    let wanted: Vec<(String, Vec<String>)> = inodes
        .iter()
        .filter(|i| !stats[i].xattrs.is_empty())
        .map(|i| {
            (
                format!("<{i}>"),
                stats[i].xattrs.iter().map(|(n, _)| n.clone()).collect(),
            )
        })
        .collect();
    let values = read_xattr_values(img, offset, &wanted);
    let mut xattrs: BTreeMap<u64, BTreeMap<Vec<u8>, Vec<u8>>> = BTreeMap::new();
    for ((spec, _), map) in wanted.iter().zip(values) {
        let ino: u64 = spec
            .trim_matches(|c| c == '<' || c == '>')
            .parse()
            .expect("inode");
        xattrs.insert(ino, map);
    }

    let mut identity = BTreeMap::new();
    for (path, entry) in model.entries.iter_mut() {
        let ls = &listed[path];
        let stat = &stats[&ls.inode];
        let type_bits = match entry.kind {
            Kind::File => 0o100000,
            Kind::Dir => 0o040000,
            Kind::Symlink => 0o120000,
            Kind::CharDev => 0o020000,
            Kind::BlockDev => 0o060000,
            Kind::Fifo => 0o010000,
            Kind::Socket => 0o140000,
        };
        // The root's directory entry is its own "."; the walk starts from
        // inode 2 without one, so only the inode's stat speaks for it.
        let (ls_mode, ls_uid, ls_gid) = if path.as_slice() == b"/" {
            (type_bits | u32::from(stat.mode), stat.uid, stat.gid)
        } else {
            (ls.mode, ls.uid, ls.gid)
        };
        assert_eq!(
            (ls_mode, u32::from(stat.mode)),
            (type_bits | u32::from(entry.perm), u32::from(entry.perm)),
            "{}: debugfs and ext4-view disagree on the mode",
            show(path)
        );
        assert_eq!(
            (ls_uid, ls_gid, stat.uid, stat.gid),
            (entry.uid, entry.gid, entry.uid, entry.gid),
            "{}: debugfs and ext4-view disagree on the owner",
            show(path)
        );
        if entry.kind != Kind::Dir {
            assert_eq!(
                Some(stat.size),
                entry.size,
                "{}: debugfs and ext4-view disagree on the size",
                show(path)
            );
        }
        assert_eq!(
            stat.mtime.map(|t| t.0),
            Some(entry.mtime.0),
            "{}: debugfs and ext4-view disagree on the mtime",
            show(path)
        );
        entry.nlink = Some(stat.links);
        entry.rdev = if matches!(entry.kind, Kind::CharDev | Kind::BlockDev) {
            Some(
                stat.device
                    .unwrap_or_else(|| panic!("{}: no device number", show(path))),
            )
        } else {
            None
        };
        entry.xattrs = Some(xattrs.get(&ls.inode).cloned().unwrap_or_default());
        identity.insert(path.clone(), ls.inode);
    }
    assign_link_groups(&mut model, &identity);
    model
}
