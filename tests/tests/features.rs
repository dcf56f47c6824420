//! The superblock as `dumpe2fs -h` reads it: features, geometry, checksums,
//! and the options that change them (`-b`, `--no-journal`, `-L`, `--uuid`).

use std::ffi::OsStr;
use std::fs;
use std::path::Path;

use blockimg_tests::{
    debugfs_stat, dumpe2fs_h, e2fsck_clean, host, image, mkdisk, require_e2fsprogs, PART_OFFSET,
};

/// The features every image carries (DESIGN: the ext4 written).
const FEATURES: &[&str] = &[
    "has_journal",
    "ext_attr",
    "dir_index",
    "filetype",
    "extent",
    "64bit",
    "flex_bg",
    "sparse_super",
    "large_file",
    "huge_file",
    "dir_nlink",
    "extra_isize",
    "metadata_csum",
];

/// A small tree whose files span several blocks at every block size.
fn small_tree(dir: &Path) {
    fs::create_dir_all(dir.join("d/e")).unwrap();
    fs::write(
        dir.join("d/e/data"),
        blockimg_tests::fixture::pseudo_random_bytes(9, 300_000),
    )
    .unwrap();
    fs::write(dir.join("small"), b"small").unwrap();
    std::os::unix::fs::symlink("d/e/data", dir.join("link")).unwrap();
    for i in 0..300 {
        fs::write(dir.join("d").join(format!("entry-{i:04}")), b"").unwrap();
    }
}

fn build(extra: &[&str], src: Option<&Path>, img: &Path) {
    let mut args: Vec<&OsStr> = vec!["--size".as_ref(), "256M".as_ref()];
    args.extend(extra.iter().map(OsStr::new));
    if let Some(src) = src {
        args.push("--root".as_ref());
        args.push(src.as_os_str());
    }
    args.push(img.as_os_str());
    mkdisk(args).assert_success();
}

#[test]
fn default_features_and_geometry() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    build(&[], None, &img);
    e2fsck_clean(&img, PART_OFFSET);
    let sb = dumpe2fs_h(&img, PART_OFFSET);
    let features = sb.features();
    for feature in FEATURES {
        assert!(
            features.iter().any(|f| f == feature),
            "feature {feature} missing from {features:?}"
        );
    }
    assert_eq!(sb.get("Filesystem state"), "clean");
    assert_eq!(sb.number("Inode size"), 256);
    assert_eq!(sb.number("Flex block group size"), 16);
    assert_eq!(sb.number("Block size"), 4096);
    assert_eq!(sb.get("Checksum type"), "crc32c");
    assert_eq!(sb.get("Filesystem magic number"), "0xEF53");
    assert_eq!(sb.number("Journal inode"), 8);
    assert!(sb.number("Total journal blocks") > 0);
    // The journal inode holds the journal.
    let journal = debugfs_stat(&img, PART_OFFSET, "<8>");
    assert_eq!(journal.size, sb.number("Total journal blocks") * 4096);
}

#[test]
fn every_block_size_is_clean_and_reads_back() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    small_tree(&src);
    let expected = host::walk(&src);
    for bs in ["1024", "2048", "4096"] {
        let img = tmp.path().join(format!("bs{bs}.img"));
        build(&["-b", bs], Some(&src), &img);
        e2fsck_clean(&img, PART_OFFSET);
        let sb = dumpe2fs_h(&img, PART_OFFSET);
        assert_eq!(sb.number("Block size").to_string(), bs);
        assert_eq!(sb.get("Filesystem state"), "clean");
        for feature in FEATURES {
            assert!(
                sb.has_feature(feature),
                "-b {bs}: feature {feature} missing"
            );
        }
        if bs == "1024" {
            assert_eq!(sb.number("First block"), 1, "1 KiB blocks start at block 1");
        }
        expected.assert_same(
            &image::image_model(&img, PART_OFFSET),
            &Default::default(),
            &format!("-b {bs}"),
        );
    }
}

#[test]
fn no_journal() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("nj.img");
    build(&["--no-journal"], None, &img);
    e2fsck_clean(&img, PART_OFFSET);
    let sb = dumpe2fs_h(&img, PART_OFFSET);
    assert!(!sb.has_feature("has_journal"), "{:?}", sb.features());
    assert!(sb.has_feature("metadata_csum"));
}

#[test]
fn label_and_uuid() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("l.img");
    let uuid = "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0";
    build(&["-L", "sixteen-bytes-ok", "--uuid", uuid], None, &img);
    e2fsck_clean(&img, PART_OFFSET);
    let sb = dumpe2fs_h(&img, PART_OFFSET);
    assert_eq!(sb.get("Filesystem volume name"), "sixteen-bytes-ok");
    assert_eq!(sb.get("Filesystem UUID"), uuid);
    let fs = image::open_ext4(&img, PART_OFFSET, None);
    assert_eq!(fs.label().to_str().unwrap(), "sixteen-bytes-ok");
}
