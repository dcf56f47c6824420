//! In-place commits (`blockimg add` and read-write mounts write what
//! changed, the metadata through the filesystem's journal) against the
//! kernel, e2fsck and blockimg's own reader:
//!
//! - an `add` killed with SIGKILL after every step of its commit
//!   (`BLOCKIMG_CRASH_AT`) leaves an image that e2fsck recovers with
//!   nothing to fix beyond replaying the journal, that the kernel mounts,
//!   and that every reader (the kernel, e2fsck's result, blockimg after its
//!   own replay) sees as the old tree before the commit point and the new
//!   one from it on;
//! - a mount's daemon killed at every step of its commit does the same,
//!   its new file data written during the mount into blocks the old
//!   filesystem does not use and adopted there by the commit (which says
//!   so when it is not killed);
//! - a daemon killed before its commit leaves the old filesystem, clean
//!   for e2fsck, whatever it wrote into free blocks;
//! - a commit writes no block of the image other than those it reports.

use std::path::Path;
use std::process::Command;

use blockimg::disk::ImageSpec;
use blockimg::image::add::{add, AddOptions};
use blockimg::image::Commit;
use blockimg_tests::fuse::{daemon_pid, is_mounted, lazy_unmount, require_fuse};
use blockimg_tests::mount::LoopMount;
use blockimg_tests::tools::tool;
use blockimg_tests::{blockimg_cmd, e2fsck_clean, mkdisk, require_e2fsprogs, PART_OFFSET};

/// Size of the disks built here, and of their filesystem.
const DISK: u64 = 64 << 20;
const FS: u64 = DISK - PART_OFFSET;

/// Every step of a commit, and whether a crash after it leaves the new
/// tree.
const STEPS: [(&str, bool); 10] = [
    ("new-blocks-written", false),
    ("log-written", false),
    ("recovery-flagged", false),
    ("committed", true),
    ("in-place-1", true),
    ("in-place-2", true),
    ("in-place-3", true),
    ("in-place-4", true),
    ("journal-cleared", true),
    ("clean", true),
];

/// A base image whose root holds /etc/hostname and a directory big enough
/// to be indexed.
fn base_image(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::create_dir_all(root.join("usr/bin")).unwrap();
    std::fs::write(root.join("etc/hostname"), "old\n").unwrap();
    for i in 0..300 {
        std::fs::write(root.join(format!("usr/bin/tool-{i}")), format!("{i}\n")).unwrap();
    }
    let img = dir.join("base.img");
    mkdisk([
        "--size".as_ref(),
        "64M".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    img
}

/// What `blockimg cat` reads at `path` of `img` (after replaying its
/// journal in memory), `None` when it is not there.
fn blockimg_cat(img: &Path, path: &str) -> Option<String> {
    let out = blockimg_cmd()
        .args(["cat".as_ref(), img.as_os_str(), path.as_ref()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    // Absent, or there: anything else (a lock, a damaged image) fails.
    assert!(
        out.status.success() || said.contains("no ") || said.contains("not found"),
        "blockimg cat {path}: {said}"
    );
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The filesystem of `img` as a file of its own.
fn partition(img: &Path, to: &Path) {
    let status = Command::new("dd")
        .arg(format!("if={}", img.display()))
        .arg(format!("of={}", to.display()))
        .args(["bs=1M", "skip=1", "status=none"])
        .status()
        .unwrap();
    assert!(status.success());
}

/// Checks that `img`, left by a commit stopped after `step`, reads as the
/// new tree (`file`, in the image, holds "new\n"; /usr/bin has
/// `tools + 1` entries) when `new`, else as the old one, in blockimg's
/// reader, after e2fsck's replay (which must repair nothing else) and, as
/// root, in the kernel. Returns whether the kernel was asked.
fn check_state(img: &Path, step: &str, new: bool, file: &str, tools: usize) -> bool {
    let expect = |found: Option<String>, reader: &str| {
        let want = new.then(|| "new\n".to_string());
        assert_eq!(found, want, "{step}: what {reader} reads at {file}");
    };
    // blockimg's reader, replaying in memory.
    expect(blockimg_cat(img, file), "blockimg");
    assert_eq!(
        blockimg_cat(img, "/etc/hostname").as_deref(),
        Some("old\n"),
        "{step}"
    );
    // e2fsck: nothing to fix beyond the journal, then clean.
    let fs = img.with_extension("fs");
    partition(img, &fs);
    let fy = tool("e2fsck").arg("-fy").arg(&fs).output().unwrap();
    let report = String::from_utf8_lossy(&fy.stdout).into_owned();
    assert!(
        matches!(fy.status.code(), Some(0 | 1)),
        "{step}: e2fsck -fy exited {:?}:\n{report}",
        fy.status.code()
    );
    for line in report.lines() {
        assert!(
            !line.contains("Fix?") && !line.contains("Clear?") && !line.contains("FIXED"),
            "{step}: e2fsck had to repair more than the journal:\n{report}"
        );
    }
    e2fsck_clean(&fs, 0);
    let replayed = tool("debugfs")
        .args(["-R", &format!("cat {file}")])
        .arg(&fs)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&replayed.stdout).into_owned();
    expect((!text.is_empty()).then_some(text), "e2fsck's replay");
    std::fs::remove_file(&fs).unwrap();
    // The kernel replays the journal when it mounts.
    let Some(mount) = LoopMount::new(img, PART_OFFSET, FS, false) else {
        return false;
    };
    let found = std::fs::read_to_string(mount.path().join(file.trim_start_matches('/'))).ok();
    expect(found, "the kernel");
    let listed = std::fs::read_dir(mount.path().join("usr/bin"))
        .unwrap()
        .count();
    assert_eq!(listed, tools + usize::from(new), "{step}");
    mount.unmount();
    e2fsck_clean(img, PART_OFFSET);
    true
}

#[test]
fn an_add_killed_at_every_step_of_its_commit_leaves_the_old_tree_or_the_new() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = base_image(tmp.path());
    let added = tmp.path().join("added");
    std::fs::create_dir_all(added.join("sub")).unwrap();
    std::fs::write(added.join("sub/file"), "new\n").unwrap();
    std::fs::write(added.join("big"), vec![7u8; 300_000]).unwrap();
    let mut kernel_checked = 0;
    for (step, new) in STEPS {
        let img = tmp.path().join(format!("{step}.img"));
        std::fs::copy(&base, &img).unwrap();
        let out = blockimg_cmd()
            .env("BLOCKIMG_CRASH_AT", step)
            .args([
                "add".as_ref(),
                img.as_os_str(),
                added.as_os_str(),
                "/usr/bin/added".as_ref(),
            ])
            .output()
            .unwrap();
        // Killed at the step, or finished when the commit has no such step
        // (fewer metadata blocks than the step's number).
        let killed = out.status.code().is_none();
        assert!(
            killed || out.status.success(),
            "{step}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        kernel_checked += usize::from(check_state(&img, step, new, "/usr/bin/added/sub/file", 300));
    }
    if kernel_checked == 0 {
        eprintln!("SKIPPED part: the kernel's replay (no loop mounts here)");
    }
}

#[test]
fn a_mount_daemon_killed_at_every_step_of_its_commit_leaves_the_old_tree_or_the_new() {
    if !require_e2fsprogs() || !require_fuse() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let base = base_image(tmp.path());
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mut kernel_checked = 0;
    for (step, new) in STEPS {
        let img = tmp.path().join(format!("{step}.img"));
        std::fs::copy(&base, &img).unwrap();
        let mounted = blockimg_cmd()
            .env("BLOCKIMG_CRASH_AT", step)
            .args(["mount".as_ref(), img.as_os_str(), mnt.as_os_str()])
            .output()
            .unwrap();
        assert!(
            mounted.status.success(),
            "{step}: {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        fill_mount(&mnt);
        let umount = blockimg_cmd()
            .args(["umount".as_ref(), mnt.as_os_str()])
            .output()
            .unwrap();
        if is_mounted(&mnt) {
            lazy_unmount(&mnt);
        }
        // The daemon died in its commit (umount says it ended without
        // committing), or committed when the step does not occur.
        let said = String::from_utf8_lossy(&umount.stderr).into_owned();
        assert!(
            umount.status.success() || said.contains("without committing"),
            "{step}: {said}"
        );
        kernel_checked += usize::from(check_state(&img, step, new, "/usr/bin/added/sub/file", 300));
    }
    if kernel_checked == 0 {
        eprintln!("SKIPPED part: the kernel's replay (no loop mounts here)");
    }
}

/// Fills a mount of the base image as the crash tests expect: a new
/// directory with a small file and a 300 kB one, overwritten, truncated
/// and punched before the commit.
fn fill_mount(mnt: &Path) {
    use std::os::unix::fs::FileExt;
    std::fs::create_dir(mnt.join("usr/bin/added")).unwrap();
    std::fs::create_dir(mnt.join("usr/bin/added/sub")).unwrap();
    std::fs::write(mnt.join("usr/bin/added/sub/file"), "new\n").unwrap();
    std::fs::write(mnt.join("usr/bin/added/big"), vec![7u8; 300_000]).unwrap();
    let big = std::fs::OpenOptions::new()
        .write(true)
        .open(mnt.join("usr/bin/added/big"))
        .unwrap();
    big.write_all_at(&[8u8; 5000], 10_000).unwrap();
    big.set_len(290_000).unwrap();
    std::fs::write(mnt.join("usr/bin/added/gone"), vec![1u8; 50_000]).unwrap();
    std::fs::remove_file(mnt.join("usr/bin/added/gone")).unwrap();
}

/// Mounts `img` on `dir/mnt` and fills it ([`fill_mount`]); returns the
/// mountpoint.
fn mount_and_fill(img: &Path, dir: &Path) -> std::path::PathBuf {
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = blockimg_cmd()
        .args(["mount".as_ref(), img.as_os_str(), mnt.as_os_str()])
        .output()
        .unwrap();
    assert!(mounted.status.success());
    fill_mount(&mnt);
    mnt
}

/// What the 300 kB file of [`fill_mount`] holds.
fn big_after_fill() -> Vec<u8> {
    let mut want = vec![7u8; 290_000];
    want[10_000..15_000].fill(8);
    want
}

#[test]
fn a_mount_commit_adopts_the_data_written_into_free_blocks() {
    if !require_e2fsprogs() || !require_fuse() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = base_image(tmp.path());
    let mnt = mount_and_fill(&img, tmp.path());
    let umount = blockimg_cmd()
        .args(["umount".as_ref(), mnt.as_os_str()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&umount.stderr).into_owned();
    assert!(umount.status.success(), "{said}");
    // 290 kB and a small file: 72 blocks, adopted; nothing copied.
    assert!(
        said.contains("changed in place") && said.contains(" 72 blocks of data adopted"),
        "{said}"
    );
    check_state(&img, "no crash", true, "/usr/bin/added/sub/file", 300);
    let big = blockimg_cmd()
        .args([
            "cat".as_ref(),
            img.as_os_str(),
            "/usr/bin/added/big".as_ref(),
        ])
        .output()
        .unwrap();
    assert!(big.stdout == big_after_fill(), "the big file differs");
}

#[test]
fn a_daemon_killed_before_its_commit_leaves_the_old_filesystem_clean() {
    if !require_e2fsprogs() || !require_fuse() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = base_image(tmp.path());
    let before = std::fs::read(&img).unwrap();
    let mnt = mount_and_fill(&img, tmp.path());
    std::fs::write(mnt.join("etc/hostname"), "changed\n").unwrap();
    let pid = daemon_pid(&mnt).expect("the daemon's pid");
    // SAFETY: kill(2) of the daemon this test started.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    while std::fs::metadata(format!("/proc/{pid}")).is_ok() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    lazy_unmount(&mnt);
    // The data went into the image, into blocks its filesystem does not
    // use: nothing it holds changed.
    let after = std::fs::read(&img).unwrap();
    assert!(before != after, "no data was placed in the image");
    e2fsck_clean(&img, PART_OFFSET);
    check_state(
        &img,
        "killed before the commit",
        false,
        "/usr/bin/added/sub/file",
        300,
    );
}

#[test]
fn an_in_place_commit_writes_only_the_blocks_it_reports() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = base_image(tmp.path());
    let before = std::fs::read(&img).unwrap();
    let file = tmp.path().join("motd");
    std::fs::write(&file, "hello\n").unwrap();
    let (tree, node) = blockimg::source::dir::scan_path(&file).unwrap();
    let spec = ImageSpec::parse(img.as_os_str()).unwrap();
    let summary = add(
        &spec,
        &tree,
        node,
        b"/usr/bin/motd",
        AddOptions::default(),
        &mut |_| {},
    )
    .unwrap();
    let Commit::InPlace(update) = summary.commit else {
        panic!("not committed in place: {:?}", summary.commit);
    };
    e2fsck_clean(&img, PART_OFFSET);
    let after = std::fs::read(&img).unwrap();
    assert_eq!(before.len(), after.len());
    let bs = 4096usize;
    let written = |block: u64| {
        update
            .written
            .iter()
            .any(|&(start, len)| block >= start && block < start + len)
    };
    let mut changed = 0;
    for (i, (a, b)) in before.chunks(bs).zip(after.chunks(bs)).enumerate() {
        if a == b {
            continue;
        }
        let offset = (i * bs) as u64;
        assert!(
            offset >= PART_OFFSET,
            "a byte before the filesystem changed"
        );
        let block = (offset - PART_OFFSET) / bs as u64;
        assert!(written(block), "block {block} changed but was not reported");
        changed += 1;
    }
    let reported: u64 = update.written.iter().map(|r| r.1).sum();
    assert!(changed > 0 && changed as u64 <= reported);
    // A few blocks, not the image: the file, two directories' inodes,
    // bitmaps, descriptors, superblock, and the journal's transaction.
    assert!(
        reported < 40,
        "{reported} blocks written for one small file"
    );
    eprintln!(
        "one small file: {changed} blocks changed of {} ({reported} reported)",
        after.len() / bs
    );
}

#[test]
fn what_cannot_change_in_place_is_rewritten_whole_and_says_why() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("big"), vec![1u8; 30 << 20]).unwrap();
    std::fs::write(root.join("kept"), vec![3u8; 50 << 20]).unwrap();
    let img = tmp.path().join("disk.img");
    mkdisk([
        "--size".as_ref(),
        "112M".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    // A bigger file in place of the big one: its new blocks cannot share
    // the old ones' space before the commit, but a rewrite fits.
    let bigger = tmp.path().join("bigger");
    std::fs::write(&bigger, vec![2u8; 34 << 20]).unwrap();
    let out = blockimg_cmd()
        .args([
            "add".as_ref(),
            img.as_os_str(),
            bigger.as_os_str(),
            "/big".as_ref(),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(said.contains("rewritten whole: the change needs"), "{said}");
    e2fsck_clean(&img, PART_OFFSET);
    let fs = tmp.path().join("disk.fs");
    partition(&img, &fs);
    let size = tool("debugfs")
        .args(["-R", "stat /big"])
        .arg(&fs)
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&size.stdout).contains(&format!("Size: {}", 34 << 20)));

    // Without a journal, every commit is a rewrite: of the whole tree,
    // though add reads only the part it changes to try in place first.
    let nested = tmp.path().join("nested");
    std::fs::create_dir_all(nested.join("keep/deep")).unwrap();
    std::fs::write(nested.join("keep/deep/file"), "kept\n").unwrap();
    let plain = tmp.path().join("plain.img");
    mkdisk([
        "--size".as_ref(),
        "16M".as_ref(),
        "--no-journal".as_ref(),
        "--root".as_ref(),
        nested.as_os_str(),
        plain.as_os_str(),
    ])
    .assert_success();
    let out = blockimg_cmd()
        .args([
            "add".as_ref(),
            plain.as_os_str(),
            bigger.as_os_str(),
            "/x".as_ref(),
        ])
        .output()
        .unwrap();
    assert!(!out.status.success(), "34 MiB fit in a 16 MiB image");
    let small = tmp.path().join("small");
    std::fs::write(&small, "x\n").unwrap();
    let out = blockimg_cmd()
        .args([
            "add".as_ref(),
            plain.as_os_str(),
            small.as_os_str(),
            "/x".as_ref(),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("rewritten whole: the filesystem has no internal journal"),
        "{said}"
    );
    e2fsck_clean(&plain, PART_OFFSET);
}

#[test]
fn an_add_keeps_the_links_of_a_replaced_file_that_it_did_not_read() {
    if !require_e2fsprogs() {
        return;
    }
    // /a/f and /b/g are one file; add reads only / and /a.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("a")).unwrap();
    std::fs::create_dir_all(root.join("b")).unwrap();
    std::fs::write(root.join("a/f"), "shared\n").unwrap();
    std::fs::hard_link(root.join("a/f"), root.join("b/g")).unwrap();
    let img = tmp.path().join("disk.img");
    mkdisk([
        "--size".as_ref(),
        "32M".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    let replacement = tmp.path().join("replacement");
    std::fs::write(&replacement, "replaced\n").unwrap();
    let out = blockimg_cmd()
        .args([
            "add".as_ref(),
            img.as_os_str(),
            replacement.as_os_str(),
            "/a/f".as_ref(),
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success() && said.contains("changed in place"),
        "{said}"
    );
    e2fsck_clean(&img, PART_OFFSET);
    assert_eq!(blockimg_cat(&img, "/a/f").as_deref(), Some("replaced\n"));
    assert_eq!(blockimg_cat(&img, "/b/g").as_deref(), Some("shared\n"));
    let fs = tmp.path().join("disk.fs");
    partition(&img, &fs);
    let stat = tool("debugfs")
        .args(["-R", "stat /b/g"])
        .arg(&fs)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&stat.stdout).contains("Links: 1 "),
        "{}",
        String::from_utf8_lossy(&stat.stdout)
    );
}
