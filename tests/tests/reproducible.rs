//! Reproducible builds: with SOURCE_DATE_EPOCH (or --timestamp) the same
//! tree gives the same bytes; without, every image gets a fresh identity.

use std::fs;
use std::path::Path;
use std::process::Command;

use blockimg_tests::fixture::{self, FixtureOptions};
use blockimg_tests::model::Compare;
use blockimg_tests::{
    blockimg_cmd, dumpe2fs_h, e2fsck_clean, host, image, mkdisk, require_e2fsprogs, sfdisk_dump,
    sha256_file, RunOutput, PART_OFFSET,
};

const EPOCH: i64 = 1_700_000_000;

fn build_with_epoch(src: &Path, img: &Path, epoch: Option<i64>) {
    let mut cmd: Command = blockimg_cmd();
    if let Some(epoch) = epoch {
        cmd.env("SOURCE_DATE_EPOCH", epoch.to_string());
    }
    cmd.arg("mkdisk")
        .args(["--size", "256M", "--root"])
        .arg(src)
        .arg(img);
    RunOutput::run(&mut cmd).assert_success();
}

fn small_fixture(dir: &Path) {
    fixture::build_rich_tree(
        dir,
        &FixtureOptions {
            big_dir_entries: 2000,
            large_file_bytes: 1 << 20,
            ..FixtureOptions::default()
        },
    );
}

/// Copies a tree with `cp -a` (same content and times, new inodes, a new
/// directory order on disk, new ctimes).
fn copy_tree(from: &Path, to: &Path) -> bool {
    let Some(cp) = blockimg_tests::find_tool("cp") else {
        eprintln!("SKIPPED part: no cp");
        return false;
    };
    let out = Command::new(cp)
        .arg("-a")
        .arg(from)
        .arg(to)
        .output()
        .unwrap();
    assert!(out.status.success(), "cp -a: {out:?}");
    true
}

#[test]
fn same_tree_same_epoch_same_bytes() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    small_fixture(&src);
    let a = tmp.path().join("a.img");
    let b = tmp.path().join("b.img");
    build_with_epoch(&src, &a, Some(EPOCH));
    build_with_epoch(&src, &b, Some(EPOCH));
    assert_eq!(
        sha256_file(&a),
        sha256_file(&b),
        "two builds in a row with SOURCE_DATE_EPOCH differ"
    );
    e2fsck_clean(&a, PART_OFFSET);

    // Touch what SOURCE_DATE_EPOCH must make irrelevant: access times (read
    // every file) and change times (change and restore a mode).
    let _ = host::walk(&src);
    let text = src.join("files/text");
    fixture::chmod(&text, 0o600).unwrap();
    fixture::chmod(&text, 0o644).unwrap();
    let b2 = tmp.path().join("b2.img");
    build_with_epoch(&src, &b2, Some(EPOCH));
    assert_eq!(
        sha256_file(&a),
        sha256_file(&b2),
        "reading the tree and changing a mode back and forth changed the image"
    );

    // --timestamp means the same as SOURCE_DATE_EPOCH.
    let c = tmp.path().join("c.img");
    mkdisk([
        "--timestamp".as_ref(),
        EPOCH.to_string().as_ref(),
        "--size".as_ref(),
        "256M".as_ref(),
        "--root".as_ref(),
        src.as_os_str(),
        c.as_os_str(),
    ])
    .assert_success();
    assert_eq!(
        sha256_file(&a),
        sha256_file(&c),
        "--timestamp differs from SOURCE_DATE_EPOCH"
    );

    // A copy of the tree (new inode numbers, new readdir order) too.
    let copy = tmp.path().join("copy");
    if copy_tree(&src, &copy) {
        let d = tmp.path().join("d.img");
        build_with_epoch(&copy, &d, Some(EPOCH));
        assert_eq!(
            sha256_file(&a),
            sha256_file(&d),
            "a copy of the tree built differently"
        );
    }

    // The epoch is what the image records: creation time, and file times
    // later than it clamped to it (earlier ones kept).
    let sb = dumpe2fs_h(&a, PART_OFFSET);
    assert_eq!(sb.get("Filesystem created"), "Tue Nov 14 22:13:20 2023");
    let expected = host::walk(&src).with_mtime_clamped((EPOCH, 0));
    expected.assert_same(
        &image::image_model(&a, PART_OFFSET),
        &Compare::default(),
        "reproducible image vs host tree with clamped times",
    );
}

#[test]
fn different_epochs_differ() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("f"), b"x").unwrap();
    let a = tmp.path().join("a.img");
    let b = tmp.path().join("b.img");
    build_with_epoch(&src, &a, Some(EPOCH));
    build_with_epoch(&src, &b, Some(EPOCH + 1));
    assert_ne!(sha256_file(&a), sha256_file(&b));
}

#[test]
fn without_an_epoch_identities_are_fresh() {
    if !require_e2fsprogs() || !blockimg_tests::require_tool("sfdisk") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("f"), b"x").unwrap();
    let a = tmp.path().join("a.img");
    let b = tmp.path().join("b.img");
    build_with_epoch(&src, &a, None);
    build_with_epoch(&src, &b, None);
    let (sa, sb) = (dumpe2fs_h(&a, PART_OFFSET), dumpe2fs_h(&b, PART_OFFSET));
    assert_ne!(sa.get("Filesystem UUID"), sb.get("Filesystem UUID"));
    assert_ne!(sa.get("Directory Hash Seed"), sb.get("Directory Hash Seed"));
    assert_ne!(
        sfdisk_dump(&a).unwrap().label_id,
        sfdisk_dump(&b).unwrap().label_id,
        "two images share an MBR disk signature"
    );
    e2fsck_clean(&a, PART_OFFSET);
    e2fsck_clean(&b, PART_OFFSET);
}
