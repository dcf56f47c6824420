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

/// Makes a sparse file of `bytes`, or says why the host's filesystem
/// cannot hold one (ext4 hosts stop at 16 TiB).
fn sparse_file_fits(path: &std::path::Path, bytes: u64) -> bool {
    match fs::File::create(path).and_then(|f| f.set_len(bytes)) {
        Ok(()) => true,
        Err(e) => {
            eprintln!("SKIPPED: a {bytes}-byte sparse file does not fit here: {e}");
            false
        }
    }
}

/// Builds an empty `size` filesystem in `dir` with blockimg and with
/// mke2fs, and checks that e2fsck passes ours and that the two agree on
/// their geometry and features. Returns our image, or `None` when `dir`
/// cannot hold a file that large.
fn matches_mke2fs(dir: &std::path::Path, size: &str, bytes: u64) -> Option<std::path::PathBuf> {
    let theirs = dir.join("mke2fs.img");
    if !sparse_file_fits(&theirs, bytes) {
        return None;
    }
    let out = std::process::Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4"])
        .arg(&theirs)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mke2fs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = dumpe2fs_h(&theirs, 0);
    fs::remove_file(&theirs).unwrap();

    let ours = dir.join("ours.img");
    mkdisk([
        "-q".as_ref(),
        "--size".as_ref(),
        size.as_ref(),
        "--table".as_ref(),
        "none".as_ref(),
        ours.as_os_str(),
    ])
    .assert_success();
    e2fsck_clean(&ours, 0);
    let sb = dumpe2fs_h(&ours, 0);
    for field in [
        "Block count",
        "Inode count",
        "Inodes per group",
        "Blocks per group",
    ] {
        assert_eq!(sb.number(field), expected.number(field), "{size}: {field}");
    }
    for field in ["Filesystem features", "Flex block group size"] {
        assert_eq!(sb.get(field), expected.get(field), "{size}: {field}");
    }
    Some(ours)
}

#[test]
fn a_15_tib_filesystem_has_the_inodes_mke2fs_gives_it() {
    if !require_e2fsprogs() {
        return;
    }
    // mke2fs's "big" type (4 to 16 TiB): one inode per 32 KiB, not 16 KiB,
    // which would spend 240 GiB on inode tables here.
    let tmp = tempfile::tempdir().unwrap();
    if let Some(ours) = matches_mke2fs(tmp.path(), "15T", 15 << 40) {
        let sb = dumpe2fs_h(&ours, 0);
        assert!(
            sb.number("Reserved GDT blocks") > 0,
            "below 2^32 blocks: room to grow"
        );
    }
}

/// A tmpfs mounted on a temporary directory (it holds sparse files of any
/// size), unmounted when dropped.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount() -> Option<Tmpfs> {
        if !blockimg_tests::is_root() {
            eprintln!("SKIPPED: files over 16 TiB need a tmpfs, and mounting one needs root");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=3g", "tmpfs"])
            .arg(dir.path())
            .status();
        if !matches!(status, Ok(s) if s.success()) {
            eprintln!("SKIPPED: cannot mount a tmpfs here ({status:?})");
            return None;
        }
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.0.path())
            .status();
    }
}

#[test]
fn a_20_tib_filesystem_past_2_pow_32_blocks_matches_mke2fs_and_mounts() {
    if !require_e2fsprogs() {
        return;
    }
    // mke2fs's "huge" type: one inode per 64 KiB; block numbers past 32
    // bits, so no resize inode.
    let Some(tmpfs) = Tmpfs::mount() else { return };
    let Some(ours) = matches_mke2fs(tmpfs.0.path(), "20T", 20 << 40) else {
        return;
    };
    let sb = dumpe2fs_h(&ours, 0);
    assert!(sb.number("Block count") > u64::from(u32::MAX));
    assert!(!sb.get("Filesystem features").contains("resize_inode"));
    if let Some(mount) = blockimg_tests::mount::LoopMount::new(&ours, 0, 20 << 40, true) {
        let names: Vec<_> = fs::read_dir(mount.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["lost+found"]);
    }
}

#[test]
fn small_blocks_are_refused_where_the_descriptors_outgrow_a_group() {
    if !require_e2fsprogs() {
        return;
    }
    // With 1 KiB blocks a group holds 8192 blocks, and the descriptor
    // table (16 per block) must fit in one: about 1 TB at most without
    // meta_bg.
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("fs.img");
    let run = mkdisk([
        "--size".as_ref(),
        "1T".as_ref(),
        "-b".as_ref(),
        "1024".as_ref(),
        "--table".as_ref(),
        "none".as_ref(),
        img.as_os_str(),
    ]);
    run.assert_failure();
    run.assert_stderr_contains(
        "with 1024-byte blocks a filesystem holds at most 1065017671680 bytes",
    );
    run.assert_stderr_contains("use a larger block size");
    assert!(!img.exists(), "a refused build left {}", img.display());

    // Just below the limit: accepted, and e2fsck agrees.
    mkdisk([
        "-q".as_ref(),
        "--size".as_ref(),
        "990G".as_ref(),
        "-b".as_ref(),
        "1024".as_ref(),
        "--table".as_ref(),
        "none".as_ref(),
        img.as_os_str(),
    ])
    .assert_success();
    e2fsck_clean(&img, 0);
    assert_eq!(dumpe2fs_h(&img, 0).number("Block size"), 1024);
}
