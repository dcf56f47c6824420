//! The ext4 reader against filesystems nobody here wrote: images made by
//! `mke2fs -d` (several feature sets, htree directories forced by
//! `e2fsck -fyD`) and by genext2fs are read into a tree that must equal the
//! host tree they were made from; blockimg's own images read back equal to
//! their sources; a tree read from an image and rebuilt gives an image
//! `e2fsck` passes, with the data copied from the old image.

use blockimg::error::{Ext4Error, PartitionError, SourceError};
use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;
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
    debugfs, debugfs_htree, debugfs_stat, e2fsck_clean, host, image, is_root, mkdisk,
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
        Err(Error::Ext4(Ext4Error::WrongFileType {
            expected: FileType::Directory,
            ..
        }))
    ));
    assert!(matches!(
        reader.lookup(b"/no/such"),
        Err(Error::Ext4(Ext4Error::NoSuchPath { .. }))
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

/// An ext2 filesystem without any feature (no filetype in directory
/// entries), 1 KiB blocks and 128-byte inodes, made by genext2fs: a file
/// past 64 MiB reaches the triple indirect block.
#[test]
fn genext2fs_image_with_triple_indirect_blocks() {
    if !require_e2fsprogs() || !require_tool("genext2fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("d/e")).unwrap();
    fs::write(root.join("d/e/f"), b"deep").unwrap();
    fs::write(root.join("big"), fixture::pseudo_random_bytes(7, 300_000)).unwrap();
    fixture::write_sparse(
        &root.join("huge"),
        (70 << 20) + 5,
        &[(0, b"start".to_vec()), (70 << 20, b"tail!".to_vec())],
    )
    .unwrap();
    std::os::unix::fs::symlink("d/e/f", root.join("short-link")).unwrap();
    let long_target = fixture::target_of_len(200, 1);
    std::os::unix::fs::symlink(
        blockimg_tests::tools::os(&long_target),
        root.join("long-link"),
    )
    .unwrap();
    fs::hard_link(root.join("d/e/f"), root.join("hard")).unwrap();
    fixture::mkfifo(&root.join("fifo"), 0o600).unwrap();
    if is_root() {
        fixture::mknod(&root.join("null"), false, 0o666, 1, 3).unwrap();
    }
    for i in 0..300 {
        fs::write(root.join("d").join(format!("entry-{i:04}")), i.to_string()).unwrap();
    }
    fixture::stamp_times(&root);
    let img = tmp.path().join("fs.img");
    run(tool("genext2fs")
        .arg("-d")
        .arg(&root)
        .args(["-b", "204800", "-N", "512"])
        .arg(&img));
    e2fsck_clean(&img, 0);

    let reader = open(&img, 0);
    assert!(
        reader.info().features.is_empty(),
        "{:?}",
        reader.info().features
    );
    let tree = reader.read_tree().unwrap();
    let root_mtime = debugfs_stat(&img, 0, "/").mtime.expect("root mtime").0;
    let expected = as_stored(host::walk(&root), root_mtime);
    let cmp = Compare {
        nanos: false,
        ..Compare::default()
    };
    expected.assert_same(&tree_model(&tree), &cmp, "genext2fs read back");
}

/// Every regular file of `tree` keeps its data in `img`.
fn assert_data_in_image(tree: &Tree, img: &Path) {
    let mut files = 0;
    for node in tree.nodes() {
        if let NodeKind::File(content) = &node.kind {
            match &content.source {
                DataSource::ImageExtents { path, .. } => assert_eq!(path.as_path(), img),
                other => panic!("file data from {other:?}, not the image"),
            }
            files += 1;
        }
    }
    assert!(files > 0);
}

/// blockimg's own image of the rich fixture (large xattrs in blocks,
/// nanosecond times, 2106 times with epoch bits, a 10000-entry htree)
/// reads back equal to the host tree, to the nanosecond.
#[test]
fn blockimg_image_of_a_directory_reads_back_equal() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fixture = build_rich_tree(&tmp.path().join("root"), &FixtureOptions::default());
    let img = tmp.path().join("disk.img");
    mkdisk([
        "--size".as_ref(),
        "auto".as_ref(),
        "--root".as_ref(),
        fixture.root.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    let reader = ImageSpec::parse(img.as_os_str())
        .unwrap()
        .open_ext4()
        .unwrap();
    assert_eq!(reader.offset(), PART_OFFSET);
    let tree = reader.read_tree().unwrap();
    assert_data_in_image(&tree, &img);
    host::walk(&fixture.root).assert_same(
        &tree_model(&tree),
        &Compare::default(),
        "blockimg image read back",
    );
}

/// An image built from a tar archive reads back equal to the tree the tar
/// source makes of the same archive.
#[test]
fn blockimg_image_of_a_tar_reads_back_equal_to_the_archive() {
    if !require_e2fsprogs() || !require_tool("tar") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fixture = build_rich_tree(
        &tmp.path().join("root"),
        &FixtureOptions {
            big_dir_entries: 2000,
            ..FixtureOptions::default()
        },
    );
    let archive = tmp.path().join("root.tar");
    run(tool("tar")
        .args(["--format=posix", "--xattrs", "--xattrs-include=*", "-C"])
        .arg(&fixture.root)
        .arg("-cf")
        .arg(&archive)
        .arg("."));
    let img = tmp.path().join("disk.img");
    mkdisk([
        "--size".as_ref(),
        "auto".as_ref(),
        "--table".as_ref(),
        "none".as_ref(),
        "--root".as_ref(),
        archive.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    let from_image = open(&img, 0).read_tree().unwrap();
    let from_tar = blockimg::source::tar::read_archive(
        fs::File::open(&archive).unwrap(),
        "root.tar",
        &mut blockimg::source::tar::ArchiveRanges::new(&archive),
        blockimg::source::tar::OutsideRoot::Refuse,
        blockimg::tree::Timestamp::now(),
    )
    .unwrap();
    tree_model(&from_tar).assert_same(
        &tree_model(&from_image),
        &Compare::default(),
        "tar image read back",
    );
}

/// The model with the ids of POSIX ACL entries that have none (owner,
/// group, mask, other) as debugfs prints them: 0, where the kernel (and
/// the reader) give the undefined id 0xFFFFFFFF.
fn acl_ids_as_debugfs_shows_them(mut model: Model) -> Model {
    for entry in model.entries.values_mut() {
        for (name, value) in entry.xattrs.iter_mut().flatten() {
            if name.starts_with(b"system.posix_acl_") && value.len() >= 4 {
                for acl_entry in value[4..].chunks_exact_mut(8) {
                    if acl_entry[4..] == [0xFF; 4] {
                        acl_entry[4..].fill(0);
                    }
                }
            }
        }
    }
    model
}

/// A tree read from a mke2fs image (htree directories, 1 KiB blocks, ACLs,
/// its own lost+found) and planned into a new image: `e2fsck` passes, the
/// content is the host tree's, there is one lost+found, and the data was
/// copied from the old image at build time (bytes changed in the old image
/// after reading the tree show up in the new one).
#[test]
fn a_tree_read_from_an_image_rebuilds() {
    if !require_e2fsprogs() || !require_tool("mke2fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    let (fixture, _) = host_tree(&root);
    let old = tmp.path().join("old.img");
    mke2fs(&old, Some(&root), &["-t", "ext4", "-b", "1024"], "256M");
    index_directories(&old);
    let reader = open(&old, 0);
    let tree = reader.read_tree().unwrap();
    assert_data_in_image(&tree, &old);

    // Change a file's first bytes in the old image, and on the host.
    let text = reader.lookup(b"/files/text").unwrap();
    let content = reader.file_content(text).unwrap();
    let DataSource::ImageExtents { runs, .. } = &content.source else {
        panic!("not image data");
    };
    let image_file = fs::OpenOptions::new().write(true).open(&old).unwrap();
    image_file
        .write_all_at(b"HELLO", runs[0].image_offset)
        .unwrap();
    let host_file = fs::OpenOptions::new()
        .write(true)
        .open(root.join("files/text"))
        .unwrap();
    host_file.write_all_at(b"HELLO", 0).unwrap();
    let mtime = tree.node(tree.lookup(b"files/text").unwrap()).meta.mtime;
    fixture::set_times(&root.join("files/text"), (mtime.secs, 0), (mtime.secs, 0)).unwrap();

    let new = tmp.path().join("new.img");
    let options = ImageOptions::default()
        .size(DiskSize::Auto {
            headroom_percent: 20,
        })
        .table(PartitionTable::Mbr)
        .boot_partitions(Default::default())
        .ext4(blockimg::ext4::Ext4Options::default())
        .overwrite(false);
    build_image(&tree, &options, &new).unwrap();
    e2fsck_clean(&new, PART_OFFSET);
    let root_mtime = tree.node(Tree::ROOT).meta.mtime.secs;
    let expected = as_stored(host::walk(&fixture.root), root_mtime);
    let cmp = Compare {
        nanos: false,
        ..Compare::default()
    };
    let expected = acl_ids_as_debugfs_shows_them(expected);
    expected.assert_same(
        &image::image_model(&new, PART_OFFSET),
        &cmp,
        "rebuilt image",
    );
    let rebuilt = open(&new, PART_OFFSET);
    let lost_found = rebuilt
        .read_dir(ROOT_INO)
        .unwrap()
        .iter()
        .filter(|e| e.name == b"lost+found")
        .count();
    assert_eq!(lost_found, 1);
    let ls = debugfs(&new, PART_OFFSET, "ls -l /lost+found");
    assert!(!String::from_utf8_lossy(&ls.stdout).contains("lost+found"));
}

/// A small tree for images whose details do not matter.
fn small_tree(root: &Path) {
    fs::create_dir_all(root.join("dir")).unwrap();
    fs::write(root.join("dir/file"), b"small file").unwrap();
    fs::write(root.join("big"), fixture::pseudo_random_bytes(9, 100_000)).unwrap();
    // Ten one-block pieces between holes: more extents than the inode holds,
    // so the file gets an extent tree block.
    let pieces: Vec<(u64, Vec<u8>)> = (0..10)
        .map(|i| (i * 65536, vec![b'a' + i as u8; 4096]))
        .collect();
    fixture::write_sparse(&root.join("fragmented"), 10 * 65536, &pieces).unwrap();
}

/// What `open` and `read_tree` of `img` give, as one result.
fn open_and_read(img: &Path) -> blockimg::Result<Tree> {
    let file = fs::File::open(img).map_err(|e| Error::io(img, e))?;
    Ext4Reader::open(file, 0, img)?.read_tree()
}

#[test]
fn features_the_reader_cannot_honour_are_refused_by_name() {
    if !require_e2fsprogs() || !require_tool("mke2fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    small_tree(&root);
    let img = tmp.path().join("fs.img");
    for (args, feature) in [
        (&["-t", "ext4", "-O", "inline_data"][..], "inline_data"),
        (&["-t", "ext4", "-O", "mmp"], "mmp"),
        (&["-t", "ext4", "-O", "casefold"], "casefold"),
        (&["-t", "ext4", "-O", "encrypt"], "encrypt"),
        (&["-t", "ext4", "-O", "verity"], "verity"),
        (&["-t", "ext4", "-O", "bigalloc"], "bigalloc"),
    ] {
        mke2fs(&img, Some(&root), args, "32M");
        match open_and_read(&img) {
            Err(Error::Ext4(Ext4Error::Unsupported {
                feature: named,
                reason,
                ..
            })) => {
                assert_eq!(named, feature, "{reason}");
            }
            other => panic!("{feature}: expected a refusal, got {other:?}"),
        }
    }

    // needs_recovery with an empty journal: nothing to replay, read as clean.
    mke2fs(&img, Some(&root), &["-t", "ext4"], "32M");
    run(tool("debugfs")
        .args(["-w", "-R", "feature needs_recovery"])
        .arg(&img));
    let reader = Ext4Reader::open(fs::File::open(&img).unwrap(), 0, &img).unwrap();
    assert_eq!(reader.replayed().map(|r| r.transactions), Some(0));
    assert!(!reader.info().has_feature("needs_recovery"));
    reader.read_tree().unwrap();

    // Inline data in an inode, with the superblock's feature bit cleared.
    let root = tmp.path().join("tiny");
    fs::create_dir(&root).unwrap();
    fs::write(root.join("tiny"), b"fits in the inode").unwrap();
    mke2fs(
        &img,
        Some(&root),
        &["-t", "ext4", "-O", "inline_data"],
        "32M",
    );
    run(tool("debugfs")
        .args(["-w", "-R", "feature -inline_data"])
        .arg(&img));
    match open_and_read(&img) {
        Err(Error::Source(SourceError::Entry { path, source })) => {
            assert_eq!(path, Path::new("/tiny"));
            assert!(
                matches!(*source, Error::Ext4(Ext4Error::Unsupported { ref feature, .. }) if feature == "inline_data"),
                "{source}"
            );
        }
        other => panic!("inline data inode: expected a refusal, got {other:?}"),
    }
}

#[test]
fn truncated_empty_and_foreign_images_are_errors() {
    if !require_tool("mke2fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("fs.img");
    mke2fs(&img, None, &["-t", "ext4"], "32M");
    let whole = fs::read(&img).unwrap();
    for (len, expect) in [
        (0, "past the end"),
        (1500, "past the end"),
        (16 << 20, "truncated"),
    ] {
        fs::write(&img, &whole[..len]).unwrap();
        let err = open_and_read(&img).expect_err("a short image opened");
        assert!(matches!(err, Error::Ext4(Ext4Error::Corrupt(_))), "{err}");
        assert!(err.to_string().contains(expect), "{len} bytes: {err}");
    }
    fs::write(&img, vec![0u8; 1 << 20]).unwrap();
    let err = open_and_read(&img).expect_err("zeros opened");
    assert!(err.to_string().contains("magic"), "{err}");
    assert!(matches!(
        ImageSpec::parse(img.as_os_str()).unwrap().locate(),
        Err(Error::Ext4(Ext4Error::NoExt4 { .. }))
    ));
}

/// Overwrites `bytes` at `offset` of `img`.
fn poke(img: &Path, offset: u64, bytes: &[u8]) {
    fs::OpenOptions::new()
        .write(true)
        .open(img)
        .unwrap()
        .write_all_at(bytes, offset)
        .unwrap();
}

/// The one number after `key` in debugfs output.
fn number_after(text: &str, key: &str) -> u64 {
    let at = text
        .find(key)
        .unwrap_or_else(|| panic!("no {key:?} in:\n{text}"))
        + key.len();
    let digits: String = text[at..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key:?} in:\n{text}"))
}

#[test]
fn checksum_mismatches_name_the_structure() {
    if !require_e2fsprogs() || !require_tool("mke2fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    small_tree(&root);
    let pristine = tmp.path().join("pristine.img");
    mke2fs(&pristine, Some(&root), &["-t", "ext4"], "32M");
    let reader = open(&pristine, 0);
    let bs = u64::from(reader.info().block_size);
    let file_ino = reader.lookup(b"/dir/file").unwrap();
    let dir_ino = reader.lookup(b"/dir").unwrap();
    let frag_ino = reader.lookup(b"/fragmented").unwrap();
    let imap =
        String::from_utf8_lossy(&debugfs(&pristine, 0, &format!("imap <{file_ino}>")).stdout)
            .into_owned();
    // "located at block 1234, offset 0x0b00"
    let offset_hex = imap.split("offset 0x").nth(1).expect("imap offset");
    let offset_hex: String = offset_hex
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    let inode_at = number_after(&imap, "located at block") * bs
        + u64::from_str_radix(&offset_hex, 16).unwrap();
    let dir_block = number_after(
        &String::from_utf8_lossy(&debugfs(&pristine, 0, "blocks /dir").stdout),
        "",
    );
    let stat =
        String::from_utf8_lossy(&debugfs(&pristine, 0, "stat /fragmented").stdout).into_owned();
    let extent_block = number_after(&stat, "(ETB0):");

    // The descriptor table follows the superblock's block.
    let gdt = if bs == 1024 { 2 } else { 1 };
    let img = tmp.path().join("fs.img");
    let cases: [(&str, u64, String); 5] = [
        ("superblock", 1024 + 0x30, "superblock".into()),
        (
            "group descriptor",
            gdt * bs + 0x0C,
            "group descriptor 0".into(),
        ),
        ("inode", inode_at + 0x10, format!("inode {file_ino}")),
        (
            "directory",
            dir_block * bs + 24 + 8,
            format!("directory block 0 of inode {dir_ino}"),
        ),
        (
            "extent block",
            extent_block * bs + 12 + 4,
            format!("extent tree block {extent_block} of inode {frag_ino}"),
        ),
    ];
    for (what, offset, structure) in cases {
        fs::copy(&pristine, &img).unwrap();
        let mut byte = [0u8; 1];
        fs::File::open(&img)
            .unwrap()
            .read_exact_at(&mut byte, offset)
            .unwrap();
        poke(&img, offset, &[byte[0] ^ 0x40]);
        match open_and_read(&img) {
            Err(Error::Ext4(Ext4Error::Checksum {
                structure: named, ..
            })) => assert_eq!(named, structure, "{what}"),
            Err(Error::Source(SourceError::Entry { source, .. })) => match *source {
                Error::Ext4(Ext4Error::Checksum {
                    structure: named, ..
                }) => assert_eq!(named, structure, "{what}"),
                other => panic!("{what}: expected a checksum mismatch, got {other}"),
            },
            other => panic!("{what}: expected a checksum mismatch, got {other:?}"),
        }
    }
}

/// Writes a filesystem of `size` into `disk` at byte `offset`.
fn mke2fs_at(disk: &Path, offset: u64, root: &Path, size: &str) {
    let extended = format!("offset={offset}");
    mke2fs(disk, Some(root), &["-t", "ext4", "-E", &extended], size);
}

#[test]
fn partitions_of_mbr_gpt_and_bare_images() {
    if !require_e2fsprogs() || !require_tool("mke2fs") || !require_tool("sfdisk") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    small_tree(&root);
    let spec = |img: &Path, suffix: &str| {
        let mut name = img.as_os_str().to_owned();
        name.push(suffix);
        ImageSpec::parse(&name).unwrap()
    };
    let sfdisk = |img: &Path, script: &str| {
        use std::io::Write;
        let mut child = tool("sfdisk")
            .arg("-q")
            .arg(img)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(script.as_bytes())
            .unwrap();
        assert!(child.wait().unwrap().success(), "sfdisk {script}");
    };

    // A bare filesystem.
    let bare = tmp.path().join("bare.img");
    mke2fs(&bare, Some(&root), &["-t", "ext4"], "16M");
    let (_, part) = spec(&bare, "").locate().unwrap();
    assert_eq!((part.number, part.start), (0, 0));
    assert!(matches!(
        spec(&bare, ":1").locate(),
        Err(Error::Partition(PartitionError::NoSuchPartition { .. }))
    ));

    // MBR: a FAT-typed primary partition, then an extended one whose second
    // logical partition holds the filesystem.
    let mbr = tmp.path().join("mbr.img");
    fs::File::create(&mbr).unwrap().set_len(64 << 20).unwrap();
    sfdisk(&mbr, "label: dos\nstart=2048, size=8192, type=c\nstart=16384, type=5\nstart=18432, size=8192, type=83\nstart=28672, size=20480, type=83\n");
    let parts = blockimg::disk::partitions(&fs::File::open(&mbr).unwrap(), &mbr).unwrap();
    let numbers: Vec<(u32, u64, u64)> = parts
        .iter()
        .map(|p| (p.number, p.start / 512, p.size / 512))
        .collect();
    assert_eq!(
        numbers,
        [(1, 2048, 8192), (5, 18432, 8192), (6, 28672, 20480)]
    );
    mke2fs_at(&mbr, 28672 * 512, &root, "10M");
    let reader = spec(&mbr, "").open_ext4().unwrap();
    assert_eq!(reader.offset(), 28672 * 512);
    assert!(reader.read_tree().unwrap().lookup(b"dir/file").is_some());
    assert_eq!(spec(&mbr, ":6").open_ext4().unwrap().offset(), 28672 * 512);
    assert!(matches!(
        spec(&mbr, ":1").locate(),
        Err(Error::Ext4(Ext4Error::NoExt4 { .. }))
    ));
    match spec(&mbr, ":3").locate() {
        Err(Error::Partition(PartitionError::NoSuchPartition { available, .. })) => {
            assert_eq!(available, "1 (0x0c), 5 (0x83), 6 (0x83)")
        }
        other => panic!("partition 3: {other:?}"),
    }

    // GPT: an EFI system partition, then a Linux one.
    let gpt = tmp.path().join("gpt.img");
    fs::File::create(&gpt).unwrap().set_len(64 << 20).unwrap();
    sfdisk(
        &gpt,
        "label: gpt\nstart=2048, size=8192, type=U\nstart=10240, size=40960, type=L, name=root\n",
    );
    mke2fs_at(&gpt, 10240 * 512, &root, "20M");
    let (_, part) = spec(&gpt, "").locate().unwrap();
    assert_eq!(
        (part.number, part.start, part.size),
        (2, 10240 * 512, 40960 * 512)
    );
    assert_eq!(part.type_name(), "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
    assert!(
        matches!(part.kind, blockimg::disk::PartitionKind::Gpt { ref name, .. } if name == "root")
    );
    assert!(spec(&gpt, ":2").open_ext4().unwrap().read_tree().is_ok());
    assert!(matches!(
        spec(&gpt, ":1").locate(),
        Err(Error::Ext4(Ext4Error::NoExt4 { .. }))
    ));
}
