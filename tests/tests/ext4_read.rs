//! The ext4 reader against filesystems nobody here wrote: images made by
//! `mke2fs -d` (several feature sets, htree directories forced by
//! `e2fsck -fyD`) and by genext2fs are read into a tree that must equal the
//! host tree they were made from; blockimg's own images read back equal to
//! their sources; a tree read from an image and rebuilt gives an image
//! `e2fsck` passes, with the data copied from the old image.

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use blockimg::disk::ImageSpec;
use blockimg::ext4::read::{Ext4Reader, FileType, ROOT_INO};
use blockimg::image::{build_image, DiskSize, ImageOptions, PartitionTable};
use blockimg::tree::{DataSource, NodeKind, Tree};
use blockimg::Error;
use blockimg_tests::fixture::{self, build_rich_tree, Fixture, FixtureOptions};
use blockimg_tests::model::{Compare, Model};
use blockimg_tests::tools::tool;
use blockimg_tests::tree::tree_model;
use blockimg_tests::{
    debugfs, debugfs_htree, debugfs_stat, e2fsck, e2fsck_clean, host, image, is_root, mkdisk,
    require_e2fsprogs, require_tool, PART_OFFSET,
};

/// Entries of the big directory: thousands, so it spans many blocks and
/// `e2fsck -D` indexes it.
const BIG_DIR_ENTRIES: usize = 3000;

/// A rich host tree, plus POSIX ACLs (access and default) where `setfacl`
/// works.
fn host_tree(root: &Path) -> (Fixture, bool) {
    let fixture = build_rich_tree(
        root,
        &FixtureOptions {
            big_dir_entries: BIG_DIR_ENTRIES,
            large_file_bytes: 3 * 1024 * 1024 + 17,
            // Fits a 1 KiB block.
            long_symlink: 1000,
            ..FixtureOptions::default()
        },
    );
    // mke2fs -d 1.47 fails on attribute values that do not fit the inode
    // ("Insufficient space to store extended attribute data"): keep the
    // small ones only. blockimg's own images carry the large ones.
    if fixture.has_xattrs {
        fs::remove_file(root.join(fixture::XATTR_LARGE.trim_start_matches('/'))).unwrap();
        remove_xattr(&root.join("xattr/mixed"), "user.b");
    }
    let acl_file = root.join("files/text");
    let acl_dir = root.join("dirs/setgid");
    let acls = require_tool("setfacl")
        && tool("setfacl")
            .args(["-m", "u:1234:rw-,g:99:r--,m::rw-"])
            .arg(&acl_file)
            .status()
            .is_ok_and(|s| s.success())
        && tool("setfacl")
            .args(["-d", "-m", "u:4321:r-x"])
            .arg(&acl_dir)
            .status()
            .is_ok_and(|s| s.success());
    if !acls {
        eprintln!("NOTE: no POSIX ACLs in the fixture (setfacl failed or is missing)");
    }
    // Setting ACLs moved the ctime only; the times the fixture gave stay.
    (fixture, acls)
}

/// Removes one extended attribute of `path`.
fn remove_xattr(path: &Path, name: &str) {
    let cpath = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let cname = std::ffi::CString::new(name).unwrap();
    // SAFETY: both strings are NUL-terminated.
    let ret = unsafe { libc::lremovexattr(cpath.as_ptr(), cname.as_ptr()) };
    assert_eq!(
        ret,
        0,
        "removexattr {name} {}: {}",
        path.display(),
        std::io::Error::last_os_error()
    );
}

/// Runs a tool and asserts it succeeded.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `mke2fs -q -F [args] -d root img size`.
fn mke2fs(img: &Path, root: Option<&Path>, args: &[&str], size: &str) {
    let mut cmd = tool("mke2fs");
    cmd.arg("-q").arg("-F").args(args);
    if let Some(root) = root {
        cmd.arg("-d").arg(root);
    }
    cmd.arg(img).arg(size);
    run(&mut cmd);
}

/// `e2fsck -fyD`: indexes every directory larger than a block. Exit code 1
/// ("errors corrected") is what optimising directories reports.
fn index_directories(img: &Path) {
    let out = tool("e2fsck")
        .arg("-fyD")
        .arg(img)
        .output()
        .expect("run e2fsck");
    let code = out.status.code().unwrap_or(-1);
    assert!(
        code == 0 || code == 1,
        "e2fsck -fyD exited {code}:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    e2fsck_clean(img, 0);
}

fn open(img: &Path, offset: u64) -> Ext4Reader {
    let file = fs::File::open(img).unwrap();
    Ext4Reader::open(file, offset, img).unwrap_or_else(|e| panic!("open {}: {e}", img.display()))
}

/// The host model with times as `mke2fs -d` stores them: whole seconds,
/// their low 32 bits only (no epoch bits: debugfs shows 2106 as 1970), and
/// the root directory's times its own (`root_mtime`, from debugfs).
fn as_stored(mut model: Model, root_mtime: i64) -> Model {
    for entry in model.entries.values_mut() {
        entry.mtime = (i64::from(entry.mtime.0 as i32), 0);
    }
    if let Some(root) = model.entries.get_mut(&b"/"[..]) {
        root.mtime = (root_mtime, 0);
    }
    model
}

/// Builds an image with `mke2fs -d` and the given options, indexes its
/// directories, and checks that the reader sees the host tree.
fn check_mke2fs(args: &[&str], size: &str) {
    if !require_e2fsprogs() || !require_tool("mke2fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let (fixture, acls) = host_tree(&root);
    let img = tmp.path().join("fs.img");
    mke2fs(&img, Some(&root), args, size);
    index_directories(&img);
    let reader = open(&img, 0);
    let info = reader.info().clone();
    if info.features.iter().any(|f| f == "dir_index") {
        let htree = debugfs_htree(&img, 0, fixture::BIG_DIR);
        assert!(
            htree.is_some(),
            "e2fsck -D left {} unindexed",
            fixture::BIG_DIR
        );
    }

    let tree = reader
        .read_tree()
        .unwrap_or_else(|e| panic!("read_tree ({args:?}): {e}"));
    let root_mtime = debugfs_stat(&img, 0, "/").mtime.expect("root mtime").0;
    let expected = as_stored(host::walk(&fixture.root), root_mtime);
    let cmp = Compare {
        nanos: false,
        ..Compare::default()
    };
    expected.assert_same(
        &tree_model(&tree),
        &cmp,
        &format!("mke2fs {args:?} read back"),
    );
    if acls {
        let node = tree.node(tree.lookup(b"files/text").unwrap());
        assert!(node
            .xattrs
            .iter()
            .any(|x| x.name == b"system.posix_acl_access"));
    }
    check_api_against_debugfs(&reader, &img, &fixture);
}

/// `lookup`, `stat`, `readlink`, `read_file` and `read_dir` agree with
/// `debugfs` and the host.
fn check_api_against_debugfs(reader: &Ext4Reader, img: &Path, fixture: &Fixture) {
    for path in [
        fixture::LARGE,
        fixture::SPARSE,
        "/links/a/orig",
        "/links/sym-long",
        "/dirs/sticky",
    ] {
        let ino = reader.lookup(path.as_bytes()).unwrap();
        let stat = reader.stat(ino).unwrap();
        let oracle = debugfs_stat(img, 0, path);
        assert_eq!(u64::from(ino), oracle.inode, "{path}: inode number");
        assert_eq!(stat.meta.permissions, oracle.mode, "{path}: mode");
        assert_eq!(u32::from(stat.links), oracle.links, "{path}: links");
        if stat.file_type != FileType::Directory {
            assert_eq!(stat.size, oracle.size, "{path}: size");
        }
    }
    let host = |p: &str| fixture.root.join(p.trim_start_matches('/'));
    let sym = reader.lookup(b"/links/sym-long").unwrap();
    let target = fs::read_link(host("/links/sym-long")).unwrap();
    assert_eq!(
        reader.readlink(sym).unwrap(),
        target.as_os_str().as_encoded_bytes()
    );

    // Reads at odd offsets, across holes and past the end.
    let sparse = reader.lookup(fixture::SPARSE.as_bytes()).unwrap();
    let data = fs::File::open(host(fixture::SPARSE)).unwrap();
    for (offset, len) in [
        (0u64, 10_000usize),
        (4090, 20),
        ((32 << 20) - 5, 9000),
        ((64 << 20) - 3, 100),
    ] {
        let mut got = vec![0xAAu8; len];
        let n = reader.read_file(sparse, offset, &mut got).unwrap();
        let mut want = vec![0u8; len];
        let m = data.read_at(&mut want, offset).unwrap();
        assert_eq!((n, &got[..n]), (m, &want[..m]), "read at {offset}");
    }
    let many = reader.lookup(fixture::BIG_DIR.as_bytes()).unwrap();
    assert_eq!(reader.read_dir(many).unwrap().len(), BIG_DIR_ENTRIES);
    assert!(matches!(
        reader.lookup(b"/files/text/below"),
        Err(Error::WrongFileType {
            expected: FileType::Directory,
            ..
        })
    ));
    assert!(matches!(
        reader.lookup(b"/no/such"),
        Err(Error::NoSuchPath { .. })
    ));
    assert_eq!(
        reader.lookup(b"/links/a/../b/./second").unwrap(),
        reader.lookup(b"/links/a/orig").unwrap()
    );
}

#[test]
fn mke2fs_defaults() {
    check_mke2fs(&["-t", "ext4"], "256M");
}

#[test]
fn mke2fs_ext4_without_metadata_csum() {
    check_mke2fs(&["-t", "ext4", "-O", "^metadata_csum"], "256M");
}

#[test]
fn mke2fs_ext2() {
    check_mke2fs(&["-t", "ext2"], "256M");
}

#[test]
fn mke2fs_ext3() {
    check_mke2fs(&["-t", "ext3"], "256M");
}

#[test]
fn mke2fs_1k_blocks() {
    check_mke2fs(&["-t", "ext4", "-b", "1024"], "256M");
}

#[test]
fn mke2fs_2k_blocks_ext2() {
    check_mke2fs(&["-t", "ext2", "-b", "2048"], "256M");
}

#[test]
fn mke2fs_128_byte_inodes() {
    check_mke2fs(&["-t", "ext4", "-I", "128"], "256M");
}

#[test]
fn mke2fs_without_64bit() {
    check_mke2fs(&["-t", "ext4", "-O", "^64bit"], "256M");
}

#[test]
fn mke2fs_meta_bg() {
    check_mke2fs(
        &["-t", "ext4", "-O", "^resize_inode,meta_bg", "-b", "1024"],
        "256M",
    );
}
