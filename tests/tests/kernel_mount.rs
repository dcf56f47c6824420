//! The Linux kernel's ext4 driver as the oracle (root only): a blockimg image
//! mounted read-only shows the host tree; mounted read-write it takes new
//! files, deletions and a 3000-entry directory and stays clean for e2fsck.

use std::fs;

use blockimg_tests::fixture::{self, FixtureOptions};
use blockimg_tests::model::Compare;
use blockimg_tests::mount::LoopMount;
use blockimg_tests::{
    e2fsck_clean, host, image, is_root, mkdisk, require_e2fsprogs, sfdisk_dump, sha256_file,
    PART_OFFSET,
};

#[test]
fn kernel_reads_and_writes_a_blockimg_image() {
    if !is_root() {
        eprintln!("SKIPPED: mounting with the kernel needs root");
        return;
    }
    if !require_e2fsprogs() || !blockimg_tests::require_tool("sfdisk") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixture::build_rich_tree(&tmp.path().join("src"), &FixtureOptions::default());
    let expected = host::walk(&fx.root);
    let img = tmp.path().join("disk.img");
    mkdisk([
        "--size".as_ref(),
        "512M".as_ref(),
        "--root".as_ref(),
        fx.root.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    let part = sfdisk_dump(&img).expect("partition table").partitions[0].clone();
    let part_bytes = part.size * 512;
    assert_eq!(part.start * 512, PART_OFFSET);

    // Read-only: the kernel sees the host tree, xattrs and device numbers
    // included (the walker reads them through the VFS).
    let before = sha256_file(&img);
    let Some(ro) = LoopMount::new(&img, PART_OFFSET, part_bytes, true) else {
        return;
    };
    let seen = host::walk(ro.path());
    expected.assert_same(
        &seen,
        &Compare::default(),
        "kernel read-only view vs host tree",
    );
    let entries = fs::read_dir(ro.path().join(&fixture::BIG_DIR[1..]))
        .unwrap()
        .count();
    assert_eq!(entries, fx.big_dir_entries);
    ro.unmount();
    assert_eq!(
        sha256_file(&img),
        before,
        "a read-only mount changed the image"
    );

    // Read-write: change the filesystem through the kernel.
    let Some(rw) = LoopMount::new(&img, PART_OFFSET, part_bytes, false) else {
        return;
    };
    let root = rw.path().to_path_buf();
    fs::write(root.join("new-file"), b"written by the kernel").unwrap();
    fs::write(
        root.join("files/new-large"),
        fixture::pseudo_random_bytes(11, 3 << 20),
    )
    .unwrap();
    fs::remove_file(root.join("files/text")).unwrap();
    fs::remove_file(root.join("links/b/second")).unwrap();
    fs::remove_dir_all(root.join("deep/level-00/level-01")).unwrap();
    let victims: Vec<_> = fs::read_dir(root.join(&fixture::BIG_DIR[1..]))
        .unwrap()
        .take(2500)
        .map(|e| e.unwrap().path())
        .collect();
    for victim in &victims {
        fs::remove_file(victim).unwrap();
    }
    fs::create_dir(root.join("three-thousand")).unwrap();
    for i in 0..3000 {
        fs::write(
            root.join("three-thousand")
                .join(format!("kernel-entry-{i:04}")),
            i.to_string(),
        )
        .unwrap();
    }
    fs::write(root.join(&fixture::BIG_DIR[1..]).join("added-later"), b"").unwrap();
    let after_writes = host::walk(&root);
    rw.unmount();

    e2fsck_clean(&img, PART_OFFSET);
    // What the kernel wrote, ext4-view and debugfs read back.
    let read_back = image::image_model(&img, PART_OFFSET);
    after_writes.assert_same(
        &read_back,
        &Compare::strict(),
        "image after kernel writes vs what the kernel showed",
    );
    assert_eq!(
        read_back.get("/links/a/orig").nlink,
        Some(2),
        "unlinking one of three names"
    );
}
