//! `blockimg mkdisk --root ARCHIVE`: archives from files and pipes, the
//! manifest and base layout on top, a build by an unprivileged user that
//! still gives root-owned files and device nodes, and bad archives.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use blockimg_tests::model::Compare;
use blockimg_tests::{
    blockimg_bin, debugfs, debugfs_stat, e2fsck_clean, find_tool, is_root, mkdisk,
    require_e2fsprogs, require_tool, RunOutput, PART_OFFSET,
};

/// An archive made by Python's tarfile (PAX format): root-owned entries,
/// a device node, a hard link, nanosecond times and an xattr, none of which
/// need root to create.
fn python_archive(path: &Path, extra: &str) -> bool {
    if !require_tool("python3") {
        return false;
    }
    let script = format!(
        r#"
import io, tarfile
t = tarfile.open({path:?}, "w", format=tarfile.PAX_FORMAT)
def add(name, kind, data=b"", mode=0o644, uid=0, gid=0, **kw):
    i = tarfile.TarInfo(name); i.type = kind; i.mode = mode; i.uid = uid; i.gid = gid
    i.mtime = 1700000000; i.size = len(data)
    for k, v in kw.items(): setattr(i, k, v)
    t.addfile(i, io.BytesIO(data) if data else None)
add("etc", tarfile.DIRTYPE, mode=0o755)
add("etc/shadow", tarfile.REGTYPE, b"root:*:1::::::\n", mode=0o640, gid=42)
add("dev", tarfile.DIRTYPE, mode=0o755)
add("dev/sda", tarfile.BLKTYPE, mode=0o660, gid=6, devmajor=8, devminor=0)
add("bin", tarfile.DIRTYPE, mode=0o755)
i = tarfile.TarInfo("bin/ping"); i.mode = 0o755; i.mtime = 1700000000; data = b"\x7fELF ping"
i.size = len(data); i.pax_headers = {{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\n\x20\x00\x00" , "mtime": "1700000000.123456789"}}
t.addfile(i, io.BytesIO(data))
add("bin/ping6", tarfile.LNKTYPE, linkname="bin/ping")
{extra}
t.close()
"#
    );
    let status = Command::new("python3")
        .arg("-c")
        .arg(script)
        .status()
        .unwrap();
    assert!(status.success(), "python3 could not write the archive");
    true
}

fn run_as_nobody(args: &[&std::ffi::OsStr]) -> Option<RunOutput> {
    if !is_root() {
        let mut cmd = Command::new(blockimg_bin());
        cmd.args(args);
        return Some(RunOutput::run(&mut cmd));
    }
    let Some(setpriv) = find_tool("setpriv") else {
        eprintln!("SKIPPED: as root this test needs setpriv to drop privileges");
        return None;
    };
    let mut cmd = Command::new(setpriv);
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(blockimg_bin())
        .args(args);
    Some(RunOutput::run(&mut cmd))
}

#[test]
fn an_unprivileged_build_keeps_root_owners_devices_and_capabilities() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let archive = dir.join("root.tar");
    if !python_archive(&archive, "") {
        return;
    }
    fs::set_permissions(
        &archive,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    let img = dir.join("disk.img");
    let Some(run) = run_as_nobody(&[
        "mkdisk".as_ref(),
        "--size".as_ref(),
        "64M".as_ref(),
        "--root".as_ref(),
        archive.as_os_str(),
        img.as_os_str(),
    ]) else {
        return;
    };
    run.assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    let shadow = debugfs_stat(&img, PART_OFFSET, "/etc/shadow");
    assert_eq!(
        (shadow.uid, shadow.gid, shadow.mode & 0o7777),
        (0, 42, 0o640),
        "{shadow:?}"
    );
    let sda = debugfs_stat(&img, PART_OFFSET, "/dev/sda");
    assert_eq!(sda.device, Some((8, 0)), "{sda:?}");
    let ping = debugfs_stat(&img, PART_OFFSET, "/bin/ping");
    assert_eq!(ping.links, 2, "hard link: {ping:?}");
    assert_eq!(ping.mtime, Some((1_700_000_000, 123_456_789)), "{ping:?}");
    let caps = debugfs(&img, PART_OFFSET, "ea_get -x /bin/ping security.capability");
    let text = String::from_utf8_lossy(&caps.stdout);
    // The value holds a newline byte (0x0a): PAX records are read by length.
    assert!(text.contains("01 00 00 02 0a 20 00 00"), "{text}");
}

#[test]
fn a_compressed_archive_on_a_pipe_with_manifest_and_base_layout() {
    if !require_e2fsprogs() || !require_tool("gzip") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("root.tar");
    if !python_archive(&archive, "") {
        return;
    }
    let manifest = tmp.path().join("manifest.txt");
    fs::write(
        &manifest,
        "char /dev/ttyS0 4 64 0620 0:5\nmode /etc/shadow 0600\n",
    )
    .unwrap();
    let gz = Command::new("gzip")
        .arg("-c")
        .arg(&archive)
        .output()
        .unwrap()
        .stdout;
    let img = tmp.path().join("disk.img");
    let mut child = Command::new(blockimg_bin())
        .args([
            "mkdisk",
            "-q",
            "--size",
            "64M",
            "--root",
            "-",
            "--base-layout",
            "--manifest",
        ])
        .arg(&manifest)
        .arg(&img)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&gz).unwrap();
    assert!(child.wait().unwrap().success());
    e2fsck_clean(&img, PART_OFFSET);
    let tty = debugfs_stat(&img, PART_OFFSET, "/dev/ttyS0");
    assert_eq!(tty.device, Some((4, 64)), "{tty:?}");
    let console = debugfs_stat(&img, PART_OFFSET, "/dev/console");
    assert_eq!(
        (console.device, console.mode & 0o7777),
        (Some((5, 1)), 0o600)
    );
    let tmpdir = debugfs_stat(&img, PART_OFFSET, "/tmp");
    assert_eq!(tmpdir.mode & 0o7777, 0o1777);
    let shadow = debugfs_stat(&img, PART_OFFSET, "/etc/shadow");
    assert_eq!(
        shadow.mode & 0o7777,
        0o600,
        "the manifest applies after the archive"
    );
}

fn expect_refused(archive_bytes: &[u8], needle: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("bad.tar");
    fs::write(&archive, archive_bytes).unwrap();
    let img = tmp.path().join("disk.img");
    let run = mkdisk([
        "--size".as_ref(),
        "64M".as_ref(),
        "--root".as_ref(),
        archive.as_os_str(),
        img.as_os_str(),
    ]);
    run.assert_failure().assert_stderr_contains(needle);
    assert!(!img.exists(), "an image was left behind");
    assert_eq!(
        fs::read_dir(tmp.path()).unwrap().count(),
        1,
        "temporary files left behind"
    );
}

fn tar_of(setup: &str) -> Option<Vec<u8>> {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("a.tar");
    if !python_archive(&path, setup) {
        return None;
    }
    Some(fs::read(path).unwrap())
}

#[test]
fn bad_archives_are_refused_with_the_member_named() {
    if !require_tool("python3") {
        return;
    }
    let good = tar_of("").unwrap();
    // Truncated in the middle of a member's data.
    let data_at = good
        .windows(9)
        .position(|w| w == b"\x7fELF ping")
        .expect("the archive holds /bin/ping");
    expect_refused(&good[..data_at + 3], "ends in the middle");
    // No bytes at all (a forgotten pipe).
    expect_refused(b"", "empty (0 bytes)");
    // A header checksum that does not match.
    let mut bad_sum = good.clone();
    bad_sum[600] ^= 0x40; // inside the second header's name
    expect_refused(&bad_sum, "checksum");
    // A corrupt gzip stream.
    let gz = Command::new("gzip")
        .arg("-c")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    if let Ok(mut gz) = gz {
        gz.stdin.take().unwrap().write_all(&good).unwrap();
        let mut bytes = gz.wait_with_output().unwrap().stdout;
        let mid = bytes.len() / 2;
        bytes[mid..mid + 16].fill(0xAA);
        expect_refused(&bytes, "bad.tar");
    }
    // An absurd size field (64 GiB for a member of a few bytes), with the
    // header checksum made right again.
    let mut absurd = good.clone();
    let at = absurd
        .windows(10)
        .position(|w| w == b"etc/shadow")
        .expect("the archive holds etc/shadow")
        / 512
        * 512;
    absurd[at + 124..at + 136].copy_from_slice(b"77777777777\0");
    absurd[at + 148..at + 156].fill(b' ');
    let sum: u32 = absurd[at..at + 512].iter().map(|&b| u32::from(b)).sum();
    absurd[at + 148..at + 156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    expect_refused(&absurd, "ends in the middle");
    // `..` members, links to directories, parents that are files, names too long.
    let cases = [
        ("add('../escape', tarfile.REGTYPE, b'x')", "../escape"),
        (
            "add('l', tarfile.LNKTYPE, linkname='etc')",
            "hard link to directory",
        ),
        (
            "add('etc/shadow/x', tarfile.REGTYPE, b'x')",
            "not a directory",
        ),
        ("add('l2', tarfile.LNKTYPE, linkname='nowhere')", "nowhere"),
        ("add('d/' + 'n' * 256, tarfile.REGTYPE, b'x')", "255"),
    ];
    for (setup, needle) in cases {
        let bytes = tar_of(setup).unwrap();
        expect_refused(&bytes, needle);
    }
}

#[test]
fn manifest_errors_name_the_line() {
    let tmp = tempfile::tempdir().unwrap();
    let manifest = tmp.path().join("m.txt");
    fs::write(&manifest, "dir /etc 0755 0:0\nchar /dev/x 1\n").unwrap();
    let img = tmp.path().join("disk.img");
    mkdisk([
        "--size".as_ref(),
        "64M".as_ref(),
        "--manifest".as_ref(),
        manifest.as_os_str(),
        img.as_os_str(),
    ])
    .assert_failure()
    .assert_stderr_contains("line 2");
    assert!(!img.exists());
}

/// The snapshot command of the "Linux From Scratch on EC2" flow, run on this
/// machine's real root filesystem: absolute paths, `--exclude=/dev` and the
/// like, `p` for permissions, gzip. The big trees (`/usr`, `/var`, the
/// workspace) are excluded too, to keep the archive small; everything else
/// is the host's own `/`: /etc with its root-only files, the usrmerge
/// symlinks, the root directory member tar writes as `./`.
#[test]
fn the_lfs_snapshot_command_on_the_real_root_gives_the_same_tree() {
    if !is_root() {
        eprintln!("SKIPPED: reading all of / for the snapshot needs root");
        return;
    }
    if !require_e2fsprogs() || !require_tool("tar") || !require_tool("gzip") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = tmp.path().join("snapshot.tgz");
    let mut tar = Command::new("tar");
    tar.arg("czpf").arg(&snapshot);
    for excluded in [
        "/dev",
        "/proc",
        "/sys",
        "/run",
        "/tmp",
        "/boot",
        "/usr",
        "/var",
        "/home",
        "/root",
        "/opt",
        "/work",
        "/srv",
        "/mnt",
        "/media",
        "/lost+found",
    ] {
        tar.arg(format!("--exclude={excluded}"));
    }
    // Where this test's own files live, whatever TMPDIR says, and the
    // workspace with its build output, wherever the checkout is.
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate lives in the workspace");
    let target = blockimg_tests::bin::blockimg_bin()
        .ancestors()
        .nth(2)
        .expect("the binary lives in target/<profile>/");
    for own in [tmp.path(), workspace, target] {
        tar.arg(format!("--exclude={}", own.display()));
    }
    let out = tar.arg("/").output().unwrap();
    // Exit 1 means "some files changed while being read": fine for a
    // live system, as for the users who take such snapshots.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "tar failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let img = tmp.path().join("disk.img");
    mkdisk([
        // Whatever else the host's `/` holds, the disk is made to fit it.
        "--size".as_ref(),
        "auto".as_ref(),
        "--root".as_ref(),
        snapshot.as_os_str(),
        "--base-layout".as_ref(),
        img.as_os_str(),
    ])
    .assert_success();
    e2fsck_clean(&img, PART_OFFSET);

    let extracted = tmp.path().join("x");
    fs::create_dir(&extracted).unwrap();
    let status = Command::new("tar")
        .arg("-xpzf")
        .arg(&snapshot)
        .args(["--numeric-owner", "-C"])
        .arg(&extracted)
        .status()
        .unwrap();
    assert!(status.success(), "tar -x of the snapshot failed");
    let mut expected = blockimg_tests::host::walk(&extracted);
    let mut actual = blockimg_tests::image::image_model(&img, PART_OFFSET);
    assert!(
        expected.entries.len() > 100,
        "the snapshot holds only {} entries",
        expected.entries.len()
    );

    // --base-layout adds what the snapshot left out, root-owned, and
    // nothing else; what the snapshot has is untouched.
    let console = actual.get("/dev/console");
    assert_eq!(
        (console.rdev, console.perm, console.uid),
        (Some((5, 1)), 0o600, 0)
    );
    assert_eq!(actual.get("/tmp").perm, 0o1777);
    let added: Vec<Vec<u8>> = actual
        .entries
        .keys()
        .filter(|path| !expected.entries.contains_key(*path))
        .cloned()
        .collect();
    for path in &added {
        let path = String::from_utf8_lossy(path);
        let top = path.split('/').nth(1).unwrap_or_default();
        assert!(
            [
                "dev",
                "proc",
                "sys",
                "run",
                "tmp",
                "mnt",
                "media",
                "boot",
                "var",
                "lost+found"
            ]
            .contains(&top),
            "{path} is in the image but not in the snapshot"
        );
    }
    for path in &added {
        actual.entries.remove(path);
    }
    // The root gains links from the directories added to it.
    expected.entries.remove(b"/".as_slice());
    actual.entries.remove(b"/".as_slice());
    expected.assert_same(
        &actual,
        &Compare {
            allow_lost_found: false,
            ..Compare::default()
        },
        "image from the LFS snapshot vs tar -x of it",
    );
}
