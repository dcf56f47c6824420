//! `blockimg mkdisk` without a source tree, and the disk layout around the
//! filesystem: the MBR as `sfdisk` reads it, sparseness, `--table none`,
//! `--size auto`, the summary.

use std::fs;

use blockimg_tests::image::{ext4view_model, open_ext4};
use blockimg_tests::model::Kind;
use blockimg_tests::{
    allocated_bytes, dumpe2fs_h, e2fsck, e2fsck_clean, host, image, mkdisk, require_e2fsprogs,
    require_tool, sfdisk_dump, PART_OFFSET,
};

const SIX_GIB: u64 = 6 << 30;

#[test]
fn default_disk_has_one_bootable_linux_partition_and_is_sparse() {
    if !require_e2fsprogs() || !require_tool("sfdisk") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    let run = mkdisk(["--size".as_ref(), "6G".as_ref(), img.as_os_str()]);
    run.assert_success();

    let len = fs::metadata(&img).unwrap().len();
    assert_eq!(len, SIX_GIB, "6G means 6 GiB");

    let dump = sfdisk_dump(&img).unwrap_or_else(|e| panic!("sfdisk -d: {e}"));
    assert_eq!(dump.label, "dos", "{}", dump.text);
    assert_eq!(dump.partitions.len(), 1, "{}", dump.text);
    let part = &dump.partitions[0];
    assert_eq!(part.start, 2048, "{}", dump.text);
    assert_eq!(part.kind, "83", "{}", dump.text);
    assert!(part.bootable, "{}", dump.text);
    assert_eq!(
        part.start + part.size,
        len / 512,
        "the partition fills the disk"
    );

    e2fsck_clean(&img, PART_OFFSET);
    let sb = dumpe2fs_h(&img, PART_OFFSET);
    let fs_bytes = sb.number("Block count") * sb.number("Block size");
    assert!(
        fs_bytes <= part.size * 512,
        "filesystem larger than its partition"
    );
    assert!(
        part.size * 512 - fs_bytes < sb.number("Block size"),
        "filesystem ({fs_bytes} bytes) does not fill its partition ({} bytes)",
        part.size * 512
    );

    // An empty filesystem: the root and lost+found only.
    let fs = open_ext4(&img, PART_OFFSET, Some(part.size * 512));
    let model = ext4view_model(&fs);
    let paths: Vec<&[u8]> = model.entries.keys().map(|p| p.as_slice()).collect();
    assert_eq!(paths, [&b"/"[..], &b"/lost+found"[..]]);
    assert_eq!(model.get("/lost+found").kind, Kind::Dir);

    let allocated = allocated_bytes(&img);
    eprintln!("6 GiB image: {allocated} bytes allocated");
    assert!(
        allocated < len / 100,
        "image is not sparse: {allocated} bytes allocated of {len}"
    );

    // The summary speaks of the image that was written.
    let uuid = sb.get("Filesystem UUID");
    assert!(
        run.stdout.contains(uuid),
        "summary lacks UUID {uuid}:\n{}",
        run.stdout
    );
    let signature = dump.label_id.trim_start_matches("0x");
    assert!(
        run.stdout.contains(&format!("{signature}-01")),
        "summary lacks PARTUUID {signature}-01:\n{}",
        run.stdout
    );
}

#[test]
fn table_none_writes_a_bare_filesystem() {
    if !require_e2fsprogs() || !require_tool("sfdisk") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("fs.img");
    mkdisk([
        "--table".as_ref(),
        "none".as_ref(),
        "--size".as_ref(),
        "512M".as_ref(),
        img.as_os_str(),
    ])
    .assert_success();
    assert_eq!(fs::metadata(&img).unwrap().len(), 512 << 20);
    assert!(
        sfdisk_dump(&img).is_err(),
        "a bare filesystem has no partition table"
    );
    e2fsck_clean(&img, 0);
    assert_eq!(
        dumpe2fs_h(&img, 0).number("Block count"),
        (512 << 20) / 4096
    );
    // And nothing sits at the partition offset.
    assert_ne!(e2fsck(&img, PART_OFFSET).code, 0);
}

#[test]
fn sizes_in_every_accepted_spelling() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    for (text, bytes) in [
        ("64M", 64u64 << 20),
        ("64MiB", 64 << 20),
        ("1G", 1 << 30),
        ("1GiB", 1 << 30),
        ("67108864", 64 << 20),
        ("98304K", 96 << 20),
    ] {
        let img = tmp.path().join(format!("{text}.img"));
        mkdisk([
            "--table".as_ref(),
            "none".as_ref(),
            "-s".as_ref(),
            text.as_ref(),
            img.as_os_str(),
        ])
        .assert_success();
        assert_eq!(fs::metadata(&img).unwrap().len(), bytes, "--size {text}");
        e2fsck_clean(&img, 0);
    }
}

#[test]
fn size_auto_holds_the_tree_with_headroom() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    let data = blockimg_tests::fixture::pseudo_random_bytes(7, 20 << 20);
    fs::write(src.join("sub/twenty-mib"), &data).unwrap();
    for i in 0..200 {
        fs::write(src.join(format!("f{i}")), format!("{i}")).unwrap();
    }
    let img = tmp.path().join("auto.img");
    mkdisk([
        "--size".as_ref(),
        "auto".as_ref(),
        "--root".as_ref(),
        src.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    host::walk(&src).assert_same(
        &image::image_model(&img, PART_OFFSET),
        &Default::default(),
        "--size auto image",
    );
    let sb = dumpe2fs_h(&img, PART_OFFSET);
    let free = sb.number("Free blocks") * sb.number("Block size");
    let len = fs::metadata(&img).unwrap().len();
    eprintln!("--size auto: {len} bytes, {free} free in the filesystem");
    assert!(
        free >= (20 << 20) / 5 * 9 / 10,
        "--headroom 20 leaves only {free} bytes free for 20 MiB of data"
    );
    assert!(
        len < 200 << 20,
        "--size auto made a {len}-byte disk for 20 MiB"
    );

    let more = tmp.path().join("auto-100.img");
    mkdisk([
        "--size".as_ref(),
        "auto".as_ref(),
        "--headroom".as_ref(),
        "100".as_ref(),
        "--root".as_ref(),
        src.as_os_str(),
        more.as_os_str(),
    ])
    .assert_success();
    e2fsck_clean(&more, PART_OFFSET);
    let free_more = dumpe2fs_h(&more, PART_OFFSET).number("Free blocks") * 4096;
    assert!(
        free_more > free && free_more >= (20 << 20) * 9 / 10,
        "--headroom 100 leaves {free_more} bytes free (20 leaves {free})"
    );
}

#[test]
fn quiet_prints_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("q.img");
    let run = mkdisk([
        "-q".as_ref(),
        "--size".as_ref(),
        "64M".as_ref(),
        img.as_os_str(),
    ]);
    run.assert_success();
    assert_eq!(run.stdout, "", "--quiet printed on stdout");
    assert_eq!(run.stderr, "", "--quiet printed on stderr");
    assert_eq!(fs::metadata(&img).unwrap().len(), 64 << 20);
}
