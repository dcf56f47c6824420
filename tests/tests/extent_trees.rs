//! Files that need more than the inode's four extents get a real extent
//! tree; files past 4 GiB keep their size and holes.

use std::fs;

use blockimg_tests::fixture::write_sparse;
use blockimg_tests::image::image_model;
use blockimg_tests::model::Compare;
use blockimg_tests::{debugfs, e2fsck_clean, host, mkdisk, require_e2fsprogs, PART_OFFSET};

#[test]
fn fragmented_and_huge_sparse_files_get_deep_extent_trees() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    // 600 data runs separated by holes: 600 extents, more than one extent
    // block (340 per 4 KiB block) below the inode.
    let chunks: Vec<(u64, Vec<u8>)> = (0..600u64)
        .map(|i| (i * 64 * 1024, vec![(i % 251) as u8 + 1; 4096]))
        .collect();
    write_sparse(&src.join("fragmented"), 600 * 64 * 1024, &chunks).unwrap();
    // Data on both sides of 4 GiB.
    let huge: Vec<(u64, Vec<u8>)> = vec![
        (0, b"start".to_vec()),
        ((4 << 30) + 12345, b"past 4 GiB".to_vec()),
    ];
    write_sparse(&src.join("huge"), 5 << 30, &huge).unwrap();
    let img = tmp.path().join("disk.img");
    mkdisk([
        "--size".as_ref(),
        "256M".as_ref(),
        "--root".as_ref(),
        src.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    let out = debugfs(&img, PART_OFFSET, "ex /fragmented");
    let text = String::from_utf8_lossy(&out.stdout);
    // `ex` prints one line per tree node and extent; level 0 lines are the
    // index entries in the inode, level 1 the extents in the blocks below.
    let level1 = text
        .lines()
        .filter(|l| l.trim_start().starts_with("1/ 1"))
        .count();
    assert!(
        text.contains("0/ 1"),
        "no index level in the inode:\n{text}"
    );
    assert!(
        level1 >= 600,
        "expected 600 leaf extents below the inode:\n{text}"
    );
    let expected = host::walk(&src);
    let actual = image_model(&img, PART_OFFSET);
    expected.assert_same(
        &actual,
        &Compare {
            allow_lost_found: true,
            ..Compare::default()
        },
        "image vs host",
    );
}
