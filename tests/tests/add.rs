//! `blockimg add` against e2fsck and the host trees involved: after adding
//! a tree, a file and an archive, `e2fsck -fn` is clean and the image reads
//! back (ext4-view and debugfs) as the base tree plus what was added; an
//! addition that does not fit, an ext3 image and bad inputs are refused
//! with the image byte for byte as it was.

use std::path::Path;
use std::process::Command;

use blockimg_tests::fixture::{build_rich_tree, set_times, FixtureOptions};
use blockimg_tests::model::Compare;
use blockimg_tests::tools::tool;
use blockimg_tests::{
    blockimg_cmd, debugfs_stat, e2fsck_clean, host, image, mkdisk, require_e2fsprogs, require_tool,
    sha256_file, RunOutput, PART_OFFSET,
};

fn add(args: &[&std::ffi::OsStr]) -> RunOutput {
    RunOutput::run(blockimg_cmd().arg("add").args(args))
}

/// A copy of `from` at `to` as `cp -a` makes it.
fn copy_tree(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn added_trees_files_and_archives_read_back_and_fsck_clean() {
    if !require_e2fsprogs() || !require_tool("tar") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    let small = FixtureOptions {
        big_dir_entries: 200,
        large_file_bytes: 700_000,
        long_symlink: 100,
        ..FixtureOptions::default()
    };
    build_rich_tree(&base, &small);
    let extra = tmp.path().join("extra");
    build_rich_tree(
        &extra,
        &FixtureOptions {
            big_dir_entries: 1500,
            ..small.clone()
        },
    );
    let img = tmp.path().join("disk.img");
    mkdisk([
        "--size".as_ref(),
        "96M".as_ref(),
        "--root".as_ref(),
        base.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();

    // A tree at a new path, a file with --owner and --mode.
    add(&[img.as_os_str(), extra.as_os_str(), "/opt-extra".as_ref()]).assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    let file = extra.join("files/text");
    add(&[
        img.as_os_str(),
        file.as_os_str(),
        "/etc-motd".as_ref(),
        "--owner".as_ref(),
        "1234:5678".as_ref(),
        "--mode".as_ref(),
        "640".as_ref(),
    ])
    .assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    let stat = debugfs_stat(&img, PART_OFFSET, "/etc-motd");
    assert_eq!((stat.mode, stat.uid, stat.gid), (0o640, 1234, 5678));

    // The image holds the base tree plus the added one, nothing else.
    let expected = tmp.path().join("expected");
    copy_tree(&base, &expected);
    copy_tree(&extra, &expected.join("opt-extra"));
    let root = std::fs::symlink_metadata(&base).unwrap();
    use std::os::unix::fs::MetadataExt;
    // Adding an entry leaves the image's root times alone; cp moved the
    // host copy's.
    set_times(
        &expected,
        (root.atime(), root.atime_nsec() as u32),
        (root.mtime(), root.mtime_nsec() as u32),
    )
    .unwrap();
    let mut model = host::walk(&expected);
    let read_back = image::image_model(&img, PART_OFFSET);
    // /etc-motd is checked on its own (owner and mode were given).
    model
        .entries
        .insert(b"/etc-motd".to_vec(), read_back.get("/etc-motd").clone());
    model.assert_same(&read_back, &Compare::default(), "image after add");
    let motd = read_back.get("/etc-motd");
    let host_text = host::walk(extra.join("files").as_path());
    assert_eq!(motd.content, host_text.get("/text").content);

    // An archive goes below an existing directory, which keeps its own
    // metadata.
    let archive = tmp.path().join("extra.tar");
    let status = tool("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("-C")
        .arg(extra.join("files"))
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let empty = tmp.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    set_times(&empty, (1_500_000_000, 7), (1_500_000_000, 9)).unwrap();
    add(&[img.as_os_str(), empty.as_os_str(), "/tarred".as_ref()]).assert_success();
    add(&[
        "--tar".as_ref(),
        img.as_os_str(),
        archive.as_os_str(),
        "/tarred".as_ref(),
    ])
    .assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    let after = image::image_model(&img, PART_OFFSET);
    assert_eq!(after.get("/tarred").mtime, (1_500_000_000, 9));
    for (path, entry) in host::walk(&extra.join("files")).entries {
        if path == b"/" {
            continue;
        }
        let mut in_image = b"/tarred".to_vec();
        in_image.extend_from_slice(&path);
        let found = after
            .entries
            .get(&in_image)
            .unwrap_or_else(|| panic!("{} missing", String::from_utf8_lossy(&in_image)));
        assert_eq!(
            found.content,
            entry.content,
            "{}",
            String::from_utf8_lossy(&path)
        );
        // tar's default format keeps whole seconds.
        assert_eq!(
            found.mtime.0,
            entry.mtime.0,
            "{}",
            String::from_utf8_lossy(&path)
        );
    }
}

#[test]
fn what_cannot_be_added_leaves_the_image_as_it_was() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("small.img");
    mkdisk(["--size".as_ref(), "16M".as_ref(), img.as_os_str()]).assert_success();
    let before = sha256_file(&img);
    let big = tmp.path().join("big");
    std::fs::write(&big, vec![0xA5u8; 24 << 20]).unwrap();
    add(&[img.as_os_str(), big.as_os_str(), "/big".as_ref()])
        .assert_failure()
        .assert_stderr_contains("was not changed");
    assert_eq!(sha256_file(&img), before, "a refused add changed the image");
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    let cases: Vec<(Vec<std::ffi::OsString>, &str)> = vec![
        (
            vec![img.clone().into(), "/no/such/source".into(), "/x".into()],
            "No such file",
        ),
        (
            vec![img.clone().into(), big.clone().into(), "relative".into()],
            "absolute",
        ),
        (
            vec![
                tmp.path().join("nothing.img").into(),
                big.clone().into(),
                "/x".into(),
            ],
            "No such file",
        ),
        (
            vec![img.clone().into(), big.clone().into(), "/lost+found".into()],
            "a directory is there",
        ),
    ];
    for (args, message) in cases {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        add(&args).assert_failure().assert_stderr_contains(message);
    }
    let mut spec = img.as_os_str().to_owned();
    spec.push(":3");
    add(&[&spec, big.as_os_str(), "/x".as_ref()])
        .assert_failure()
        .assert_stderr_contains("no partition 3");
    assert_eq!(sha256_file(&img), before);

    // ext3 would come back as ext4: refused.
    let ext3 = tmp.path().join("ext3.img");
    let status = tool("mke2fs")
        .args(["-q", "-F", "-t", "ext3"])
        .arg(&ext3)
        .arg("8M")
        .status()
        .unwrap();
    assert!(status.success());
    let before = sha256_file(&ext3);
    add(&[ext3.as_os_str(), big.as_os_str(), "/x".as_ref()])
        .assert_failure()
        .assert_stderr_contains("ext2/ext3");
    assert_eq!(sha256_file(&ext3), before);

    // A filesystem made by mke2fs takes additions too.
    let ext4 = tmp.path().join("ext4.img");
    let status = tool("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-L", "made"])
        .arg(&ext4)
        .arg("32M")
        .status()
        .unwrap();
    assert!(status.success());
    let small = tmp.path().join("small-file");
    std::fs::write(&small, b"into mke2fs's filesystem\n").unwrap();
    add(&[ext4.as_os_str(), small.as_os_str(), "/hello".as_ref()]).assert_success();
    e2fsck_clean(&ext4, 0);
    let cat = blockimg_cmd()
        .arg("cat")
        .arg(&ext4)
        .arg("/hello")
        .output()
        .unwrap();
    assert_eq!(cat.stdout, std::fs::read(&small).unwrap());
    let dump = blockimg_tests::dumpe2fs_h(&ext4, 0);
    assert_eq!(dump.get("Filesystem volume name"), "made");
}

/// Runs debugfs `-w` with `commands` (one a line) on `img`.
fn debugfs_write(img: &Path, commands: &str) {
    let cmds = img.with_extension("debugfs");
    std::fs::write(&cmds, commands).unwrap();
    let out = tool("debugfs")
        .arg("-w")
        .arg("-f")
        .arg(&cmds)
        .arg(img)
        .output()
        .unwrap();
    assert!(out.status.success(), "debugfs: {out:?}");
}

/// What `dumpe2fs -h` prints for `key`.
fn dumpe2fs_field(img: &Path, key: &str) -> String {
    let out = tool("dumpe2fs").arg("-h").arg(img).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("dumpe2fs prints no {key}: {text}"))
}

/// A journal holding a committed transaction (written by debugfs, shown by
/// `logdump`) is replayed into the image by `add` before it adds, with
/// needs_recovery set and with it cleared (the journal superblock's s_start
/// alone), leaving e2fsck clean; a damaged journal is refused, which `ls`
/// still reads past, and the image stays byte for byte as it was.
#[test]
fn a_journal_to_replay_or_damaged_is_refused_and_the_image_left_unchanged() {
    if !require_e2fsprogs() || !require_tool("dumpe2fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("journal.img");
    let status = tool("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-b", "4096"])
        .arg(&img)
        .arg("32M")
        .status()
        .unwrap();
    assert!(status.success());
    let data = tmp.path().join("block");
    std::fs::write(&data, vec![0x5Au8; 4096]).unwrap();
    let file = tmp.path().join("file");
    std::fs::write(&file, b"added\n").unwrap();
    let pristine = tmp.path().join("pristine.img");
    std::fs::copy(&img, &pristine).unwrap();

    debugfs_write(&img, &format!("jo\njw -b 333 {}\njc\n", data.display()));
    let logdump = tool("debugfs")
        .args(["-R", "logdump"])
        .arg(&img)
        .output()
        .unwrap();
    let logdump = String::from_utf8_lossy(&logdump.stdout).into_owned();
    assert!(logdump.contains("commit block"), "{logdump}");
    assert_eq!(dumpe2fs_field(&img, "Journal start"), "1");
    assert!(dumpe2fs_field(&img, "Filesystem features").contains("needs_recovery"));
    // Replayed into the image first: block 333 holds the journal's copy,
    // the journal is empty and the filesystem clean with the addition.
    let mut second = img.clone();
    second.set_extension("second.img");
    std::fs::copy(&img, &second).unwrap();
    add(&[img.as_os_str(), file.as_os_str(), "/file".as_ref()])
        .assert_success()
        .assert_stderr_contains("journal replayed into the image: 1 transactions, 1 blocks");
    e2fsck_clean(&img, 0);
    assert_eq!(dumpe2fs_field(&img, "Journal start"), "0");

    // s_start set without needs_recovery: replayed as well.
    debugfs_write(&second, "feature -needs_recovery\n");
    assert_eq!(dumpe2fs_field(&second, "Journal start"), "1");
    add(&[second.as_os_str(), file.as_os_str(), "/file".as_ref()])
        .assert_success()
        .assert_stderr_contains("journal replayed into the image");
    e2fsck_clean(&second, 0);

    // A damaged journal superblock (its block size): read, never rewritten.
    let img = pristine;
    let block = tool("debugfs")
        .args(["-R", "bmap <8> 0"])
        .arg(&img)
        .output()
        .unwrap();
    let block: u64 = String::from_utf8_lossy(&block.stdout)
        .trim()
        .parse()
        .unwrap();
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::OpenOptions::new().write(true).open(&img).unwrap();
        f.write_all_at(&1024u32.to_be_bytes(), block * 4096 + 0x0C)
            .unwrap();
    }
    let before = sha256_file(&img);
    RunOutput::run(blockimg_cmd().arg("ls").arg(&img).arg("/")).assert_success();
    add(&[img.as_os_str(), file.as_os_str(), "/file".as_ref()])
        .assert_failure()
        .assert_stderr_contains("journal superblock s_blocksize is 1024");
    assert_eq!(sha256_file(&img), before, "a refused add changed the image");
}

/// Images whose partition table does not fit them: an MBR disk cut to half
/// its size (its partition runs past the end) and a GPT disk whose primary
/// and backup headers both fail their CRC. `ls`, `add` and `install-grub`
/// refuse each with the problem named, and the image stays byte for byte
/// as it was.
#[test]
fn images_with_a_wrong_partition_table_are_refused_and_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let cut = tmp.path().join("cut.img");
    mkdisk(["--size".as_ref(), "64M".as_ref(), cut.as_os_str()]).assert_success();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&cut)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    let gpt = tmp.path().join("gpt.img");
    mkdisk([
        "--size".as_ref(),
        "64M".as_ref(),
        "--table".as_ref(),
        "gpt".as_ref(),
        gpt.as_os_str(),
    ])
    .assert_success();
    {
        use std::os::unix::fs::FileExt;
        let file = std::fs::OpenOptions::new().write(true).open(&gpt).unwrap();
        // A byte of each header's disk GUID (offset 56 of the header).
        for header in [512u64, (64 << 20) - 512] {
            file.write_all_at(&[0xA5], header + 56).unwrap();
        }
    }
    let file = tmp.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    for (img, problem) in [
        (&cut, "truncated"),
        (&gpt, "GPT partition table is unreadable"),
    ] {
        let before = sha256_file(img);
        let listing = RunOutput::run(blockimg_cmd().arg("ls").arg(img).arg("/"));
        listing.assert_failure().assert_stderr_contains(problem);
        add(&[img.as_os_str(), file.as_os_str(), "/file".as_ref()])
            .assert_failure()
            .assert_stderr_contains(problem);
        RunOutput::run(blockimg_cmd().arg("install-grub").arg(img))
            .assert_failure()
            .assert_stderr_contains(problem);
        assert_eq!(sha256_file(img), before, "{} changed", img.display());
    }
}
