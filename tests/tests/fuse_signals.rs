//! Stopping a `blockimg mount` by a signal: SIGTERM or SIGINT to a mount in
//! the foreground, or SIGTERM to the daemon of one in the background,
//! unmount it and commit as `blockimg umount` does; a second signal during
//! the commit leaves the image whole (the old one or the new one).

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use blockimg_tests::fixture;
use blockimg_tests::fuse::{daemon_pid, is_mounted, lazy_unmount, require_fuse, FuseMount};
use blockimg_tests::{
    blockimg_cmd, e2fsck_clean, mkdisk, require_e2fsprogs, sha256_file, PART_OFFSET,
};

fn ready() -> bool {
    require_fuse() && require_e2fsprogs()
}

/// Waits up to a minute for `done`.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A `blockimg mount -f` running; dropped, it detaches a mount left
/// behind by a failed test.
struct Foreground {
    child: Child,
    mnt: PathBuf,
}

impl Drop for Foreground {
    fn drop(&mut self) {
        if is_mounted(&self.mnt) {
            lazy_unmount(&self.mnt);
        }
    }
}

/// `blockimg mount -f IMAGE DIR`, returned once the mount is live.
fn mount_foreground(img: &Path, mnt: &Path) -> Foreground {
    let mut child = blockimg_cmd()
        .arg("mount")
        .arg("-f")
        .arg(img)
        .arg(mnt)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the mount", || {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("blockimg mount -f exited early: {status}");
        }
        is_mounted(mnt)
    });
    Foreground {
        child,
        mnt: mnt.to_path_buf(),
    }
}

fn signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill(2) of a process this test started.
    assert_eq!(unsafe { libc::kill(pid as libc::pid_t, signal) }, 0);
}

/// Remounts `img` and returns the content of `name`.
fn read_back(img: &Path, mnt: &Path, name: &str) -> Vec<u8> {
    let mount = FuseMount::new(img.as_os_str(), mnt, &["--ro"]);
    let data = std::fs::read(mount.path().join(name)).unwrap();
    mount.umount().assert_success();
    data
}

fn image(dir: &Path, size: &str) -> std::path::PathBuf {
    let img = dir.join("disk.img");
    mkdisk(["--size".as_ref(), size.as_ref(), img.as_os_str()]).assert_success();
    img
}

#[test]
fn sigterm_or_sigint_to_a_foreground_mount_commits() {
    if !ready() {
        return;
    }
    for (sig, name) in [(libc::SIGTERM, "SIGTERM"), (libc::SIGINT, "SIGINT")] {
        let tmp = tempfile::tempdir().unwrap();
        let img = image(tmp.path(), "64M");
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        let mut mount = mount_foreground(&img, &mnt);
        let child = &mut mount.child;
        std::fs::write(mnt.join("kept"), name).unwrap();
        std::fs::create_dir(mnt.join("dir")).unwrap();
        signal(child.id(), sig);
        let status = child.wait().unwrap();
        assert!(status.success(), "{name}: blockimg mount -f: {status}");
        assert!(!is_mounted(&mnt), "{name}: still mounted");
        e2fsck_clean(&img, PART_OFFSET);
        assert_eq!(read_back(&img, &mnt, "kept"), name.as_bytes());
    }
}

#[test]
fn a_second_signal_during_the_commit_leaves_the_image_whole() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path(), "512M");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mut mount = mount_foreground(&img, &mnt);
    let child = &mut mount.child;
    // Enough data that the commit takes a while.
    let data = fixture::pseudo_random_bytes(3, 96 << 20);
    std::fs::write(mnt.join("big"), &data).unwrap();
    // Signals keep coming until the daemon exits, some of them once the
    // filesystem is unmounted and the commit under way.
    let mut during_commit = 0;
    while child.try_wait().unwrap().is_none() {
        let committing = !is_mounted(&mnt);
        signal(child.id(), [libc::SIGTERM, libc::SIGINT][during_commit % 2]);
        during_commit += usize::from(committing);
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(during_commit > 0, "no signal came during the commit");
    let status = child.wait().unwrap();
    assert!(status.success(), "blockimg mount -f: {status}");
    e2fsck_clean(&img, PART_OFFSET);
    assert!(read_back(&img, &mnt, "big") == data, "the data differs");
}

#[test]
fn sigterm_to_a_background_daemon_commits() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = image(tmp.path(), "64M");
    let before = sha256_file(&img);
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = FuseMount::new(img.as_os_str(), &mnt, &[]);
    std::fs::write(mnt.join("kept"), b"background").unwrap();
    let pid = daemon_pid(&mnt).expect("the daemon's pid");
    signal(pid as u32, libc::SIGTERM);
    wait_for("the daemon to exit", || {
        !Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|s| s.split(' ').nth(2) == Some("Z"))
    });
    assert!(!is_mounted(&mnt), "still mounted");
    drop(mount);
    lazy_unmount(&mnt);
    assert_ne!(sha256_file(&img), before, "nothing was committed");
    e2fsck_clean(&img, PART_OFFSET);
    // The daemon is gone: `blockimg umount` finds nothing to unmount and
    // says how the commit went.
    let out = blockimg_cmd().arg("umount").arg(&mnt).output().unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("commit: committed"), "{said}");
    assert_eq!(read_back(&img, &mnt, "kept"), b"background");
}
