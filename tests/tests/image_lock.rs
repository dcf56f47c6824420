//! One writer per image: while a read-write mount, or any command that
//! changes an image, holds it, every other writer (a second mount, `add`,
//! `install-grub`, `write` onto it, `mkdisk`/`convert --force` over it) and
//! every reader is refused at once, told who holds it; readers share an
//! image and keep writers out; a holder killed with SIGKILL lets the next
//! one in; and a commit never replaces an image another program renamed
//! into place after the mount read it. Every image stays e2fsck-clean.

use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use blockimg::lock::ImageLock;
use blockimg_tests::fuse::{daemon_pid, lazy_unmount, mount_cmd, require_fuse, FuseMount};
use blockimg_tests::{
    blockimg_cmd, e2fsck_clean, mkdisk, require_e2fsprogs, sha256_file, RunOutput, PART_OFFSET,
};

/// The environment variable that turns [`lock_holder_helper`] into a lock
/// holder: the image to lock for writing.
const HOLD_VAR: &str = "BLOCKIMG_TEST_HOLD_IMAGE";

/// What the helper's holder record says it does.
const HELPER_PURPOSE: &str = "test helper";

fn blockimg(args: &[&OsStr]) -> RunOutput {
    RunOutput::run(blockimg_cmd().args(args))
}

/// A 32 MiB image with one file, e2fsck-clean.
fn image(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("boot")).unwrap();
    std::fs::write(root.join("base.txt"), b"base\n").unwrap();
    let img = dir.join("k9.img");
    mkdisk([
        "--size".as_ref(),
        "32M".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    img
}

/// Every command that changes `img` (other than a mount), each expected
/// to be refused while another program holds it.
fn writers(dir: &Path, img: &Path) -> Vec<Vec<std::ffi::OsString>> {
    let x = dir.join("x.txt");
    std::fs::write(&x, b"x\n").unwrap();
    let source = dir.join("source.img");
    if !source.exists() {
        std::fs::copy(img, &source).unwrap();
    }
    let os = |parts: &[&OsStr]| parts.iter().map(|p| p.to_os_string()).collect();
    vec![
        os(&[
            "add".as_ref(),
            img.as_os_str(),
            x.as_os_str(),
            "/c.txt".as_ref(),
        ]),
        os(&["install-grub".as_ref(), img.as_os_str()]),
        os(&[
            "write".as_ref(),
            source.as_os_str(),
            img.as_os_str(),
            "--force".as_ref(),
        ]),
        os(&[
            "mkdisk".as_ref(),
            "--size".as_ref(),
            "16M".as_ref(),
            "--force".as_ref(),
            img.as_os_str(),
        ]),
        os(&[
            "convert".as_ref(),
            source.as_os_str(),
            img.as_os_str(),
            "--format".as_ref(),
            "raw".as_ref(),
            "--force".as_ref(),
        ]),
    ]
}

/// Every command that reads `img` (`convert` and `write` read it as their
/// input).
fn readers(dir: &Path, img: &Path) -> Vec<Vec<std::ffi::OsString>> {
    let out = dir.join("got.txt");
    let converted = dir.join("copy.vhd");
    // A file as large as the image, for `write` to write the image onto.
    let target = dir.join("target.img");
    let size = std::fs::metadata(img).unwrap().len();
    std::fs::File::create(&target)
        .unwrap()
        .set_len(size)
        .unwrap();
    let os = |parts: &[&OsStr]| parts.iter().map(|p| p.to_os_string()).collect();
    vec![
        os(&["ls".as_ref(), img.as_os_str(), "/".as_ref()]),
        os(&["cat".as_ref(), img.as_os_str(), "/base.txt".as_ref()]),
        os(&[
            "get".as_ref(),
            img.as_os_str(),
            "/base.txt".as_ref(),
            out.as_os_str(),
            "--force".as_ref(),
        ]),
        os(&["inspect".as_ref(), img.as_os_str()]),
        os(&[
            "convert".as_ref(),
            img.as_os_str(),
            converted.as_os_str(),
            "--format".as_ref(),
            "vhd".as_ref(),
            "--force".as_ref(),
        ]),
        os(&[
            "write".as_ref(),
            img.as_os_str(),
            target.as_os_str(),
            "--force".as_ref(),
        ]),
    ]
}

fn run_args(args: &[std::ffi::OsString]) -> RunOutput {
    RunOutput::run(blockimg_cmd().args(args))
}

/// Not a test of its own: with [`HOLD_VAR`] set, locks that image for
/// writing, says `locked` on standard output and sleeps until killed.
#[test]
fn lock_holder_helper() {
    let Some(image) = std::env::var_os(HOLD_VAR) else {
        return;
    };
    let lock = ImageLock::write(Path::new(&image), HELPER_PURPOSE).unwrap();
    println!("locked");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(60));
        lock.check_path().unwrap();
    }
}

/// Starts [`lock_holder_helper`] holding `img` in another process; returns
/// once it holds the lock.
fn spawn_holder(img: &Path) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "lock_holder_helper",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(HOLD_VAR, img)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let locked = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .any(|line| line.contains("locked"));
    assert!(locked, "the lock holder helper did not take the lock");
    child
}

fn sigkill(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn writers_and_readers_are_refused_while_a_command_holds_the_image() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path());
    let mut holder = spawn_holder(&img);
    let before = sha256_file(&img);
    let named = format!("({HELPER_PURPOSE}), process {}", holder.id());
    for args in writers(tmp.path(), &img)
        .iter()
        .chain(&readers(tmp.path(), &img))
    {
        run_args(args)
            .assert_failure()
            .assert_stderr_contains("is held for writing by")
            .assert_stderr_contains(&named);
    }
    // A mount is refused before it needs FUSE.
    let m2 = tmp.path().join("m2");
    std::fs::create_dir(&m2).unwrap();
    for extra in [&[][..], &["--ro"][..]] {
        mount_cmd(img.as_os_str(), &m2, extra)
            .assert_failure()
            .assert_stderr_contains(&named);
    }
    assert_eq!(
        sha256_file(&img),
        before,
        "a refused command changed the image"
    );

    // Killed outright, the holder releases the image.
    sigkill(&mut holder);
    let x = tmp.path().join("x.txt");
    blockimg(&[
        "add".as_ref(),
        img.as_os_str(),
        x.as_os_str(),
        "/c.txt".as_ref(),
    ])
    .assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    let cat = blockimg(&["cat".as_ref(), img.as_os_str(), "/c.txt".as_ref()]);
    assert_eq!(cat.assert_success().stdout, "x\n");
}

#[test]
fn readers_share_an_image_and_keep_writers_out() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path());
    let reading = ImageLock::read(&img).unwrap();
    for args in readers(tmp.path(), &img) {
        run_args(&args).assert_success();
    }
    let before = sha256_file(&img);
    for args in writers(tmp.path(), &img) {
        run_args(&args)
            .assert_failure()
            .assert_stderr_contains("is open for reading by another process");
    }
    assert_eq!(sha256_file(&img), before);
    drop(reading);
    e2fsck_clean(&img, PART_OFFSET);
}

#[test]
fn a_second_writer_is_refused_while_a_mount_holds_the_image_and_nothing_is_lost() {
    if !require_fuse() || !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path());
    let (m1, m2) = (tmp.path().join("m1"), tmp.path().join("m2"));
    std::fs::create_dir(&m1).unwrap();
    std::fs::create_dir(&m2).unwrap();
    let mount = FuseMount::new(img.as_os_str(), &m1, &[]);
    let pid = daemon_pid(&m1).expect("the daemon of m1");
    let named = format!(
        "(mount on {}), process {pid}",
        m1.canonicalize().unwrap().display()
    );
    // The lost-update sequence: every later writer is refused.
    mount_cmd(img.as_os_str(), &m2, &[])
        .assert_failure()
        .assert_stderr_contains(&named);
    // The mount writes a.txt's data into free blocks of the image at once:
    // the image is compared from here on.
    std::fs::write(m1.join("a.txt"), b"A\n").unwrap();
    let before = sha256_file(&img);
    for args in writers(tmp.path(), &img)
        .iter()
        .chain(&readers(tmp.path(), &img))
    {
        run_args(args)
            .assert_failure()
            .assert_stderr_contains(&named);
    }
    mount_cmd(img.as_os_str(), &m2, &["--ro"])
        .assert_failure()
        .assert_stderr_contains(&named);
    assert_eq!(
        sha256_file(&img),
        before,
        "a refused writer changed the image"
    );
    assert!(!tmp.path().join("m2/b.txt").exists());

    mount.umount().assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    let ls = blockimg(&["ls".as_ref(), img.as_os_str(), "/".as_ref()]);
    let names: Vec<&str> = ls.assert_success().stdout.lines().collect();
    assert!(names.contains(&"a.txt"), "{names:?}");
    assert!(!names.contains(&"c.txt"), "{names:?}");
    assert!(!tmp.path().join(".k9.img.blockimg-lock").exists());
    // Free again: the next writer gets in.
    let x = tmp.path().join("x.txt");
    blockimg(&[
        "add".as_ref(),
        img.as_os_str(),
        x.as_os_str(),
        "/c.txt".as_ref(),
    ])
    .assert_success();
    e2fsck_clean(&img, PART_OFFSET);
}

#[test]
fn a_read_only_mount_shares_with_readers_and_keeps_writers_out() {
    if !require_fuse() || !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path());
    let (m1, m2) = (tmp.path().join("m1"), tmp.path().join("m2"));
    std::fs::create_dir(&m1).unwrap();
    std::fs::create_dir(&m2).unwrap();
    let first = FuseMount::new(img.as_os_str(), &m1, &["--ro"]);
    let second = FuseMount::new(img.as_os_str(), &m2, &["--ro"]);
    for args in readers(tmp.path(), &img) {
        run_args(&args).assert_success();
    }
    let before = sha256_file(&img);
    for args in writers(tmp.path(), &img) {
        run_args(&args)
            .assert_failure()
            .assert_stderr_contains("is open for reading by another process");
    }
    let m3 = tmp.path().join("m3");
    std::fs::create_dir(&m3).unwrap();
    mount_cmd(img.as_os_str(), &m3, &[])
        .assert_failure()
        .assert_stderr_contains("is open for reading by another process");
    assert_eq!(sha256_file(&img), before);
    first.umount().assert_success();
    second.umount().assert_success();
    e2fsck_clean(&img, PART_OFFSET);
}

#[test]
fn a_killed_mount_daemon_releases_the_image() {
    if !require_fuse() || !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path());
    let m1 = tmp.path().join("m1");
    std::fs::create_dir(&m1).unwrap();
    let mount = FuseMount::new(img.as_os_str(), &m1, &[]);
    let pid = daemon_pid(&m1).expect("the daemon of m1");
    std::fs::write(m1.join("lost.txt"), b"never committed\n").unwrap();
    // SAFETY: kill(2) on the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    while Path::new(&format!("/proc/{pid}")).exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    lazy_unmount(&m1);
    drop(mount);
    // The dead daemon's holder record stays behind, and blocks nobody.
    let x = tmp.path().join("x.txt");
    std::fs::write(&x, b"x\n").unwrap();
    blockimg(&[
        "add".as_ref(),
        img.as_os_str(),
        x.as_os_str(),
        "/c.txt".as_ref(),
    ])
    .assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    let cat = blockimg(&["cat".as_ref(), img.as_os_str(), "/c.txt".as_ref()]);
    assert_eq!(cat.assert_success().stdout, "x\n");
    assert!(!tmp.path().join(".k9.img.blockimg-lock").exists());
}

#[test]
fn a_commit_never_replaces_an_image_renamed_in_after_the_mount() {
    if !require_fuse() || !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path());
    let m1 = tmp.path().join("m1");
    std::fs::create_dir(&m1).unwrap();
    let mount = FuseMount::new(img.as_os_str(), &m1, &[]);
    std::fs::write(m1.join("a.txt"), b"A\n").unwrap();
    // A program that takes no lock renames a newer image into place.
    let newer = tmp.path().join("newer.img");
    std::fs::copy(&img, &newer).unwrap();
    std::fs::rename(&newer, &img).unwrap();
    let newer_sum = sha256_file(&img);
    mount
        .umount()
        .assert_failure()
        .assert_stderr_contains("was replaced by another program");
    assert_eq!(
        sha256_file(&img),
        newer_sum,
        "the commit replaced the newer image"
    );
    e2fsck_clean(&img, PART_OFFSET);
}
