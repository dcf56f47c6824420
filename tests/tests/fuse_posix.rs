//! POSIX permission semantics through `blockimg mount` for every caller,
//! against the kernel's ext4 on a loop device: the same scenario (search
//! permission, set-id bits cleared by others' writes and by chown, sticky
//! and setgid directories, supplementary groups, EPERM and EACCES of
//! chmod, chown and utimensat, renames over directories, ctime) runs as
//! root switching to other users in forked children on both, and every
//! errno, mode and owner must agree. Root only (the scenario changes
//! users); needs python3, which runs it (tests/src/posix_probe.py).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use blockimg_tests::fuse::{require_fuse, FuseMount};
use blockimg_tests::mount::LoopMount;
use blockimg_tests::{e2fsck_clean, is_root, mkdisk, require_e2fsprogs, require_tool};

/// The scenario: `python3 -c PROBE DIR` prints one line per step.
const PROBE: &str = include_str!("../src/posix_probe.py");

/// Size of the images (a bare filesystem, no partition table).
const SIZE: u64 = 64 << 20;

fn ready() -> bool {
    if !is_root() {
        eprintln!("SKIPPED: the scenario switches users, which needs root");
        return false;
    }
    require_fuse() && require_e2fsprogs() && require_tool("python3")
}

/// Runs the scenario on the filesystem mounted at `dir`.
fn probe(dir: &Path, only_tree: bool) -> Vec<String> {
    let mut cmd = Command::new("python3");
    cmd.arg("-c").arg(PROBE).arg(dir);
    if only_tree {
        cmd.arg("tree");
    }
    let out = cmd.output().expect("python3 runs");
    assert!(
        out.status.success(),
        "the scenario failed on {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// A fresh bare filesystem image at `dir/name`.
fn image(dir: &Path, name: &str) -> std::path::PathBuf {
    let img = dir.join(name);
    mkdisk([
        "--quiet".as_ref(),
        "--size".as_ref(),
        "64M".as_ref(),
        "--table".as_ref(),
        "none".as_ref(),
        img.as_os_str(),
    ])
    .assert_success();
    img
}

/// A directory others may pass through, holding the images and mountpoint.
fn workdir() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    tmp
}

#[test]
fn every_caller_gets_the_errnos_of_the_kernels_ext4() {
    if !ready() {
        return;
    }
    let tmp = workdir();
    let Some(kernel) = LoopMount::new(&image(tmp.path(), "kernel.img"), 0, SIZE, false) else {
        return;
    };
    let expected = probe(kernel.path(), false);
    kernel.unmount();

    let img = image(tmp.path(), "fuse.img");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = FuseMount::new(img.as_os_str(), &mnt, &["-o", "allow_other"]);
    let got = probe(mount.path(), false);
    mount.umount().assert_success();

    // The rules themselves, so that agreeing with the kernel means something.
    for line in [
        "bob reads private/f: EACCES",
        "bob stats listonly/f: EACCES",
        "carol reads group-file: ok",
        "bob reads group-file: EACCES",
        "bob runs true: ok",
        "bob appends to suid: ok -> 777 1000:1000",
        "bob truncates suidsgid: ok -> 777 1000:1000",
        "bob appends to sgid-noexec: ok -> 766 1000:2000",
        "root appends to root-setid: ok -> 6755 0:0",
        "alice chgrps own to 2000: ok -> 644 1000:2000",
        "alice chgrps own to 1001: EPERM -> 644 1000:2000",
        "alice chgrps setid to 2000: ok -> 755 1000:2000",
        "root chowns root-setid: ok -> 755 5:5",
        "bob chmods alice's file: EPERM -> 644 1000:2000",
        "alice sets setgid outside her groups: ok -> 755 1000:1001",
        "bob touches everyone-writes now: ok",
        "bob sets times of everyone-writes: EPERM",
        "bob touches own now: EACCES",
        "bob unlinks sticky/a: EPERM",
        "bob renames sticky/a: EPERM",
        "bob rmdirs sticky/ad: EPERM",
        "root unlinks sticky/b: ok",
        "bob creates in sgid: ok -> 755 1001:2000",
        "bob mkdirs in sgid: ok -> 2755 1001:2000",
        "alice renames b over a: ENOTEMPTY",
        "alice renames f over b: EISDIR",
        "alice renames b over f: ENOTDIR",
        "alice mkdirs a: EEXIST",
        "alice links f to a: EEXIST",
    ] {
        assert!(
            expected.iter().any(|l| l == line),
            "the kernel's ext4 does not say {line:?}"
        );
    }
    assert!(expected
        .iter()
        .filter(|l| l.starts_with("ctime "))
        .all(|l| l.ends_with(", moved")));
    for (i, (want, have)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(have, want, "step {i} through the mount");
    }
    assert_eq!(got.len(), expected.len(), "{got:#?}");

    // The commit kept what the callers left, as the kernel reads it.
    e2fsck_clean(&img, 0);
    let committed = LoopMount::new(&img, 0, SIZE, true).expect("loop devices worked above");
    let tree: Vec<&String> = expected.iter().filter(|l| l.starts_with("tree ")).collect();
    let read_back = probe(committed.path(), true);
    assert_eq!(read_back.iter().collect::<Vec<_>>(), tree);
}

#[test]
fn root_mounts_serve_every_user_unless_allow_root() {
    if !ready() {
        return;
    }
    let tmp = workdir();
    let img = image(tmp.path(), "disk.img");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let as_nobody = |args: &[&str]| {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .args(args)
            .output()
            .unwrap()
    };
    let mount = FuseMount::new(img.as_os_str(), &mnt, &[]);
    std::fs::write(mnt.join("motd"), "hello\n").unwrap();
    let cat = as_nobody(&["cat", mnt.join("motd").to_str().unwrap()]);
    assert_eq!(cat.stdout, b"hello\n", "{cat:?}");
    let touch = as_nobody(&["touch", mnt.join("new").to_str().unwrap()]);
    assert!(!touch.status.success(), "nobody wrote into a 0755 root");
    assert!(String::from_utf8_lossy(&touch.stderr).contains("Permission denied"));
    mount.umount().assert_success();

    let mount = FuseMount::new(img.as_os_str(), &mnt, &["-o", "allow_root"]);
    let cat = as_nobody(&["cat", mnt.join("motd").to_str().unwrap()]);
    assert!(!cat.status.success(), "allow_root let another user in");
    assert!(std::fs::read(mnt.join("motd")).is_ok());
    mount.umount().assert_success();
    e2fsck_clean(&img, 0);
}

#[test]
fn a_user_is_told_what_allow_other_needs() {
    if !ready() {
        return;
    }
    let conf = std::fs::read_to_string("/etc/fuse.conf").unwrap_or_default();
    if conf.lines().any(|l| l.trim() == "user_allow_other") {
        eprintln!("SKIPPED: /etc/fuse.conf has user_allow_other: fusermount3 allows it");
        return;
    }
    if !require_tool("fusermount3") {
        return;
    }
    let tmp = workdir();
    let img = image(tmp.path(), "disk.img");
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    for path in [&img, &mnt, &tmp.path().to_path_buf()] {
        std::os::unix::fs::chown(path, Some(65534), Some(65534)).unwrap();
    }
    let bin = blockimg_tests::bin::blockimg_bin();
    for option in ["allow_other", "allow_root"] {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(bin)
            .arg("mount")
            .arg(&img)
            .arg(&mnt)
            .args(["-o", option])
            .env("XDG_RUNTIME_DIR", tmp.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{option} mounted: {stderr}");
        assert!(
            stderr.contains(&format!("with {option}:"))
                && stderr.contains("`user_allow_other`")
                && stderr.contains("/etc/fuse.conf"),
            "{stderr}"
        );
    }
}
