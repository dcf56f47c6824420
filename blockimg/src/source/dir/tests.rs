//! Tests of the directory scanner, on real host directories.

use super::content::data_segments;
use super::xattrs::is_kept_xattr;
use super::*;
use std::fs;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::fs::{symlink, PermissionsExt};

use crate::tree::{DataSource, FileContent, Segment};

fn lookup<'a>(tree: &'a Tree, path: &str) -> &'a Node {
    let id = tree
        .lookup(path.as_bytes())
        .unwrap_or_else(|| panic!("{path} not in tree"));
    tree.node(id)
}

fn content(node: &Node) -> &FileContent {
    match &node.kind {
        NodeKind::File(content) => content,
        other => panic!("not a file: {other:?}"),
    }
}

fn c_path(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).unwrap()
}

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Sets a `user.` attribute; false when the filesystem refuses them.
fn set_user_xattr(path: &Path, name: &str, value: &[u8]) -> bool {
    let c_name = CString::new(name).unwrap();
    // SAFETY: NUL-terminated strings and a valid buffer.
    let rc = unsafe {
        libc::lsetxattr(
            c_path(path).as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if rc == 0 {
        return true;
    }
    let err = io::Error::last_os_error();
    eprintln!("skipping user xattr checks: {}: {err}", path.display());
    assert!(
        matches!(err.raw_os_error(), Some(libc::ENOTSUP | libc::EPERM)),
        "{err}"
    );
    false
}

#[test]
fn files_directories_and_symlinks() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("hello"), b"hello world").unwrap();
    fs::set_permissions(root.join("hello"), fs::Permissions::from_mode(0o640)).unwrap();
    fs::write(root.join("empty"), b"").unwrap();
    fs::create_dir_all(root.join("a/b/c")).unwrap();
    fs::write(root.join("a/b/c/deep"), b"x").unwrap();
    symlink("../hello/../not-there", root.join("a/link")).unwrap();
    let raw_name = OsStr::from_bytes(b"raw-\xff\xfe-name");
    fs::write(root.join(raw_name), b"raw").unwrap();

    let tree = scan(root).unwrap();

    let hello = lookup(&tree, "hello");
    assert_eq!(hello.meta.permissions, 0o640);
    assert_eq!(hello.mode(), 0o100640);
    let hello_content = content(hello);
    assert_eq!(hello_content.size, 11);
    assert_eq!(hello_content.segments, vec![Segment { offset: 0, len: 11 }]);
    match &hello_content.source {
        DataSource::HostFile { path, mtime } => {
            assert_eq!(path, &root.join("hello"));
            let host = fs::metadata(root.join("hello")).unwrap();
            assert_eq!(mtime.secs, std::os::unix::fs::MetadataExt::mtime(&host));
        }
        other => panic!("unexpected source {other:?}"),
    }

    let empty = content(lookup(&tree, "empty"));
    assert_eq!(empty.size, 0);
    assert!(empty.segments.is_empty());

    assert!(lookup(&tree, "a").is_dir());
    assert!(lookup(&tree, "a/b/c").is_dir());
    assert_eq!(content(lookup(&tree, "a/b/c/deep")).size, 1);
    match &lookup(&tree, "a/link").kind {
        NodeKind::Symlink(target) => assert_eq!(target, b"../hello/../not-there"),
        other => panic!("not a symlink: {other:?}"),
    }
    let raw = tree
        .entries(Tree::ROOT)
        .unwrap()
        .get(&b"raw-\xff\xfe-name"[..])
        .copied()
        .unwrap();
    assert_eq!(content(tree.node(raw)).size, 3);

    let root_meta = fs::metadata(root).unwrap();
    assert_eq!(
        u32::from(tree.node(Tree::ROOT).meta.permissions),
        root_meta.permissions().mode() & 0o7777
    );
    // Root, hello, empty, a, a/b, a/b/c, deep, link and the raw name.
    assert_eq!(tree.len(), 9);
}

#[test]
fn nodes_are_numbered_in_name_order() {
    let tmp = tempfile::tempdir().unwrap();
    for name in ["zeta", "alpha", "mid", "beta"] {
        fs::write(tmp.path().join(name), name).unwrap();
    }
    let tree = scan(tmp.path()).unwrap();
    let ids: Vec<NodeId> = ["alpha", "beta", "mid", "zeta"]
        .iter()
        .map(|name| tree.lookup(name.as_bytes()).unwrap())
        .collect();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]), "{ids:?}");
}

#[test]
fn sparse_files() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("sparse");
    let mut file = fs::File::create(&path).unwrap();
    file.set_len(8 << 20).unwrap();
    file.seek(SeekFrom::Start(4 << 20)).unwrap();
    file.write_all(b"data in the middle").unwrap();
    file.sync_all().unwrap();
    drop(file);
    let holes_only = tmp.path().join("holes");
    fs::File::create(&holes_only)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();

    let blocks = std::os::unix::fs::MetadataExt::blocks(&fs::metadata(&path).unwrap());
    if blocks * 512 >= 8 << 20 {
        eprintln!("skipping sparse checks: the temporary filesystem does not keep holes");
        return;
    }
    let tree = scan(tmp.path()).unwrap();
    let sparse = content(lookup(&tree, "sparse"));
    assert_eq!(sparse.size, 8 << 20);
    assert!(!sparse.segments.is_empty());
    let data_start = 4u64 << 20;
    let data_end = data_start + 18;
    assert!(sparse
        .segments
        .iter()
        .any(|s| s.offset <= data_start && s.offset + s.len >= data_end));
    assert!(sparse
        .segments
        .iter()
        .all(|s| s.len > 0 && s.offset + s.len <= 8 << 20));
    assert!(sparse.segments[0].offset > 0, "{:?}", sparse.segments);
    let total: u64 = sparse.segments.iter().map(|s| s.len).sum();
    assert!(total < 1 << 20, "{:?}", sparse.segments);
    assert!(sparse
        .segments
        .windows(2)
        .all(|pair| pair[0].offset + pair[0].len <= pair[1].offset));

    let holes = content(lookup(&tree, "holes"));
    assert_eq!(holes.size, 1 << 20);
    assert!(holes.segments.is_empty(), "{:?}", holes.segments);
}

#[test]
fn hard_links_share_a_node() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("first"), b"shared").unwrap();
    fs::create_dir(root.join("sub")).unwrap();
    fs::hard_link(root.join("first"), root.join("second")).unwrap();
    fs::hard_link(root.join("first"), root.join("sub/third")).unwrap();
    fs::write(root.join("alone"), b"alone").unwrap();

    let tree = scan(root).unwrap();
    let first = tree.lookup(b"first").unwrap();
    assert_eq!(tree.lookup(b"second"), Some(first));
    assert_eq!(tree.lookup(b"sub/third"), Some(first));
    let alone = tree.lookup(b"alone").unwrap();
    assert_ne!(alone, first);
    let counts = tree.link_counts();
    assert_eq!(counts[first.index()], 3);
    assert_eq!(counts[alone.index()], 1);
    // Root, first, alone, sub: the links add no nodes.
    assert_eq!(tree.len(), 4);
}

#[test]
fn fifos_and_sockets() {
    let tmp = tempfile::tempdir().unwrap();
    let fifo = tmp.path().join("fifo");
    // SAFETY: NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c_path(&fifo).as_ptr(), 0o620) }, 0);
    let _listener = std::os::unix::net::UnixListener::bind(tmp.path().join("socket")).unwrap();

    let tree = scan(tmp.path()).unwrap();
    let fifo = lookup(&tree, "fifo");
    assert!(matches!(fifo.kind, NodeKind::Fifo));
    assert_eq!(fifo.mode() & 0o170000, 0o010000);
    assert!(matches!(lookup(&tree, "socket").kind, NodeKind::Socket));
}

#[test]
fn user_xattrs_are_kept_and_sorted() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let dir = tmp.path().join("dir");
    fs::create_dir(&dir).unwrap();
    if !set_user_xattr(&file, "user.zz", b"last") {
        return;
    }
    assert!(set_user_xattr(&file, "user.aa", b"first\0binary"));
    assert!(set_user_xattr(&dir, "user.dir", b""));
    assert!(set_user_xattr(tmp.path(), "user.root", b"top"));

    let tree = scan(tmp.path()).unwrap();
    let user = |node: &Node| -> Vec<(Vec<u8>, Vec<u8>)> {
        node.xattrs
            .iter()
            .filter(|x| x.name.starts_with(b"user."))
            .map(|x| (x.name.clone(), x.value.clone()))
            .collect()
    };
    assert_eq!(
        user(lookup(&tree, "file")),
        vec![
            (b"user.aa".to_vec(), b"first\0binary".to_vec()),
            (b"user.zz".to_vec(), b"last".to_vec()),
        ]
    );
    assert_eq!(
        user(lookup(&tree, "dir")),
        vec![(b"user.dir".to_vec(), Vec::new())]
    );
    assert_eq!(
        user(tree.node(Tree::ROOT)),
        vec![(b"user.root".to_vec(), b"top".to_vec())]
    );
    for node in tree.nodes() {
        assert!(node.xattrs.windows(2).all(|p| p[0].name < p[1].name));
    }
}

#[test]
fn posix_acls_and_trusted_xattrs() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
    // An extended ACL in the VFS format: version 2, then (tag, perm, id)
    // entries: owner rw-, user 1000 r--, group r--, mask r--, other r--.
    let mut acl = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in [
        (0x01u16, 6u16, u32::MAX),
        (0x02, 4, 1000),
        (0x04, 4, u32::MAX),
        (0x10, 4, u32::MAX),
        (0x20, 4, u32::MAX),
    ] {
        acl.extend_from_slice(&tag.to_le_bytes());
        acl.extend_from_slice(&perm.to_le_bytes());
        acl.extend_from_slice(&id.to_le_bytes());
    }
    let set = |name: &CStr, value: &[u8]| {
        // SAFETY: NUL-terminated strings and a valid buffer.
        let rc = unsafe {
            libc::lsetxattr(
                c_path(&file).as_ptr(),
                name.as_ptr(),
                value.as_ptr().cast(),
                value.len(),
                0,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    let acl_set = match set(c"system.posix_acl_access", &acl) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("skipping ACL check: {e}");
            false
        }
    };
    let trusted_set = is_root() && set(c"trusted.blockimg", b"t").is_ok();

    let tree = scan(tmp.path()).unwrap();
    let xattrs = &lookup(&tree, "file").xattrs;
    if acl_set {
        assert!(
            xattrs
                .iter()
                .any(|x| x.name == b"system.posix_acl_access" && x.value == acl),
            "{xattrs:?}"
        );
    }
    if trusted_set {
        assert!(xattrs
            .iter()
            .any(|x| x.name == b"trusted.blockimg" && x.value == b"t"));
    }
}

#[test]
fn nanosecond_timestamps() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let link = tmp.path().join("link");
    symlink("file", &link).unwrap();
    let set = |path: &Path, atime: (i64, i64), mtime: (i64, i64), flags: libc::c_int| {
        let times = [
            libc::timespec {
                tv_sec: atime.0,
                tv_nsec: atime.1,
            },
            libc::timespec {
                tv_sec: mtime.0,
                tv_nsec: mtime.1,
            },
        ];
        // SAFETY: NUL-terminated path and two timespecs.
        let rc = unsafe {
            libc::utimensat(libc::AT_FDCWD, c_path(path).as_ptr(), times.as_ptr(), flags)
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    };
    set(
        &file,
        (1_600_000_000, 123_456_789),
        (1_500_000_000, 987_654_321),
        0,
    );
    set(
        &link,
        (1_400_000_000, 1),
        (1_300_000_000, 999_999_999),
        libc::AT_SYMLINK_NOFOLLOW,
    );
    set(tmp.path(), (1_200_000_000, 5), (1_100_000_000, 42), 0);

    let tree = scan(tmp.path()).unwrap();
    let file = &lookup(&tree, "file").meta;
    assert_eq!(
        file.atime,
        Timestamp {
            secs: 1_600_000_000,
            nanos: 123_456_789
        }
    );
    assert_eq!(
        file.mtime,
        Timestamp {
            secs: 1_500_000_000,
            nanos: 987_654_321
        }
    );
    assert!(file.ctime.secs > 1_600_000_000);
    let link = &lookup(&tree, "link").meta;
    assert_eq!(
        link.mtime,
        Timestamp {
            secs: 1_300_000_000,
            nanos: 999_999_999
        }
    );
    assert_eq!(
        link.atime,
        Timestamp {
            secs: 1_400_000_000,
            nanos: 1
        }
    );
    assert_eq!(
        tree.node(Tree::ROOT).meta.mtime,
        Timestamp {
            secs: 1_100_000_000,
            nanos: 42
        }
    );
    if let Some(crtime) = file.crtime {
        assert!(crtime.secs > 1_600_000_000, "{crtime:?}");
    } else {
        eprintln!("the temporary filesystem reports no creation times");
    }
}

#[test]
fn special_permission_bits() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    for (name, mode) in [("setuid", 0o4755), ("setgid", 0o2711), ("none", 0o000)] {
        fs::write(root.join(name), b"").unwrap();
        fs::set_permissions(root.join(name), fs::Permissions::from_mode(mode)).unwrap();
    }
    fs::create_dir(root.join("sticky")).unwrap();
    fs::set_permissions(root.join("sticky"), fs::Permissions::from_mode(0o1777)).unwrap();

    let tree = scan(root).unwrap();
    assert_eq!(lookup(&tree, "setuid").meta.permissions, 0o4755);
    assert_eq!(lookup(&tree, "setgid").meta.permissions, 0o2711);
    assert_eq!(lookup(&tree, "none").meta.permissions, 0);
    assert_eq!(lookup(&tree, "sticky").meta.permissions, 0o1777);
    assert_eq!(lookup(&tree, "sticky").mode(), 0o041777);
}

#[test]
fn owners_and_set_owner_all() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("file"), b"x").unwrap();
    let mut tree = scan(tmp.path()).unwrap();
    let host = fs::metadata(tmp.path().join("file")).unwrap();
    let file = tree.lookup(b"file").unwrap();
    assert_eq!(
        tree.node(file).meta.uid,
        std::os::unix::fs::MetadataExt::uid(&host)
    );
    assert_eq!(
        tree.node(file).meta.gid,
        std::os::unix::fs::MetadataExt::gid(&host)
    );
    tree.set_owner_all(1234, 5678);
    assert!(tree
        .nodes()
        .iter()
        .all(|n| n.meta.uid == 1234 && n.meta.gid == 5678));
}

#[test]
fn device_nodes() {
    if !is_root() {
        eprintln!("skipping device node checks: creating device nodes needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let make = |name: &str, kind: libc::mode_t, major: u32, minor: u32| {
        let path = c_path(&tmp.path().join(name));
        // SAFETY: NUL-terminated path.
        let rc = unsafe { libc::mknod(path.as_ptr(), kind | 0o600, libc::makedev(major, minor)) };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
    };
    make("null", libc::S_IFCHR, 1, 3);
    make("loop", libc::S_IFBLK, 7, 300);
    make("big", libc::S_IFCHR, 4095, 1 << 19);

    let tree = scan(tmp.path()).unwrap();
    assert!(matches!(
        lookup(&tree, "null").kind,
        NodeKind::CharDevice { major: 1, minor: 3 }
    ));
    assert!(matches!(
        lookup(&tree, "loop").kind,
        NodeKind::BlockDevice {
            major: 7,
            minor: 300
        }
    ));
    assert!(matches!(
        lookup(&tree, "big").kind,
        NodeKind::CharDevice {
            major: 4095,
            minor: 524288
        }
    ));
    assert_eq!(lookup(&tree, "null").meta.permissions, 0o600);
}

#[test]
fn missing_root_is_an_error_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("does-not-exist");
    let err = scan(&missing).unwrap_err();
    assert!(
        matches!(&err, Error::Io { path, source } if path == &missing
            && source.kind() == io::ErrorKind::NotFound),
        "{err:?}"
    );
    assert!(err.to_string().contains("does-not-exist"), "{err}");
}

#[test]
fn root_must_be_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("file");
    fs::write(&file, b"x").unwrap();
    let err = scan(&file).unwrap_err();
    assert!(err.to_string().contains("file"), "{err}");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
}

#[test]
fn root_may_be_a_symlink_to_a_directory() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("real")).unwrap();
    fs::write(tmp.path().join("real/file"), b"x").unwrap();
    symlink("real", tmp.path().join("alias")).unwrap();
    let tree = scan(&tmp.path().join("alias")).unwrap();
    assert!(tree.lookup(b"file").is_some());
}

#[test]
fn relative_root_gives_absolute_host_paths() {
    let tree = scan(Path::new("src/source")).unwrap();
    let node = lookup(&tree, "mod.rs");
    match &content(node).source {
        DataSource::HostFile { path, .. } => {
            assert!(path.is_absolute(), "{}", path.display());
            assert!(path.ends_with("src/source/mod.rs"));
        }
        other => panic!("unexpected source {other:?}"),
    }
}

#[test]
fn unreadable_directory_is_an_error_naming_it() {
    if is_root() {
        eprintln!("skipping unreadable directory check: root reads every directory");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let locked = tmp.path().join("locked");
    fs::create_dir(&locked).unwrap();
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
    let result = scan(tmp.path());
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).unwrap();
    let err = result.unwrap_err();
    assert!(err.to_string().contains("locked"), "{err}");
}

#[test]
fn very_deep_tree() {
    const DEPTH: usize = 5000;
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    let top = base.join("top");
    let wrap = base.join("wrap");
    // Built from the bottom up so that every path stays short.
    fs::create_dir(&top).unwrap();
    fs::write(top.join("bottom"), b"at the bottom").unwrap();
    symlink("bottom", top.join("link")).unwrap();
    let xattrs = set_user_xattr(&top.join("bottom"), "user.deep", b"yes");
    for _ in 1..DEPTH {
        fs::create_dir(&wrap).unwrap();
        fs::rename(&top, wrap.join("d")).unwrap();
        fs::rename(&wrap, &top).unwrap();
    }

    let result = scan(&top);

    // Take the tree apart from the top, again with short paths only.
    loop {
        let child = top.join("d");
        if fs::symlink_metadata(&child).is_err() {
            fs::remove_dir_all(&top).unwrap();
            break;
        }
        fs::rename(&child, &wrap).unwrap();
        fs::remove_dir(&top).unwrap();
        fs::rename(&wrap, &top).unwrap();
    }

    let tree = result.unwrap();
    assert_eq!(tree.len(), DEPTH + 2);
    let mut dir = Tree::ROOT;
    for _ in 1..DEPTH {
        dir = *tree.entries(dir).unwrap().get(&b"d"[..]).unwrap();
    }
    let bottom = *tree.entries(dir).unwrap().get(&b"bottom"[..]).unwrap();
    let bottom = tree.node(bottom);
    let content = content(bottom);
    assert_eq!(content.size, 13);
    match &content.source {
        DataSource::HostFile { path, .. } => {
            assert!(path.as_os_str().len() > 2 * DEPTH);
            assert!(path.ends_with("d/d/bottom"));
        }
        other => panic!("unexpected source {other:?}"),
    }
    if xattrs {
        assert!(bottom
            .xattrs
            .iter()
            .any(|x| x.name == b"user.deep" && x.value == b"yes"));
    }
    let link = *tree.entries(dir).unwrap().get(&b"link"[..]).unwrap();
    assert!(matches!(&tree.node(link).kind, NodeKind::Symlink(t) if t == b"bottom"));
}

#[test]
fn data_segments_of_a_dense_file() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("dense");
    fs::write(&path, vec![7u8; 10_000]).unwrap();
    let file = fs::File::open(&path).unwrap();
    let segments = data_segments(file.as_raw_fd(), 10_000).unwrap();
    assert_eq!(
        segments,
        vec![Segment {
            offset: 0,
            len: 10_000
        }]
    );
}

#[test]
fn kept_xattr_namespaces() {
    assert!(is_kept_xattr(b"user.mime_type"));
    assert!(is_kept_xattr(b"trusted.overlay.opaque"));
    assert!(is_kept_xattr(b"security.selinux"));
    assert!(is_kept_xattr(b"security.capability"));
    assert!(is_kept_xattr(b"system.posix_acl_access"));
    assert!(is_kept_xattr(b"system.posix_acl_default"));
    assert!(!is_kept_xattr(b"system.nfs4_acl"));
    assert!(!is_kept_xattr(b"system.posix_acl_accessx"));
    assert!(!is_kept_xattr(b"btrfs.compression"));
}
