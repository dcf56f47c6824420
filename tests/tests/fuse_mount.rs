//! `blockimg mount` / `blockimg umount`: an image populated through the FUSE
//! mount with real tools (cp -a, tar -x, chmod, ln, setfattr, mknod, ...)
//! reads back equal to a host directory that got the same operations; the
//! image is e2fsck-clean after every commit, untouched after a refused
//! mount, and after a crash changed only where its filesystem does not
//! look (blocks free in its bitmaps, which new data goes to).

use std::ffi::OsStr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};

use blockimg_tests::fixture::{self, FixtureOptions};
use blockimg_tests::fuse::{
    daemon_pid, is_mounted, lazy_unmount, mount_cmd, require_fuse, FuseMount,
};
use blockimg_tests::image::image_model;
use blockimg_tests::model::Compare;
use blockimg_tests::{
    e2fsck_clean, host, is_root, mkdisk, require_e2fsprogs, require_tool, sha256_file, PART_OFFSET,
};

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ready() -> bool {
    require_fuse() && require_e2fsprogs()
}

/// Fills `root` the same way on the host and through the mount: a rich
/// fixture (built through the filesystem's own calls), `cp -a` of a real
/// tree, `tar -x` of an archive, then renames, unlinks, links, xattrs,
/// truncations, modes, owners, device nodes and nanosecond times.
fn populate(root: &Path, archive: &Path) {
    let opts = FixtureOptions {
        big_dir_entries: 1500,
        large_file_bytes: 3 * 1024 * 1024 + 7,
        devices: is_root(),
        owners: is_root(),
        ..FixtureOptions::default()
    };
    fixture::build_rich_tree(&root.join("rich"), &opts);
    run(Command::new("cp")
        .arg("-a")
        .arg("/usr/share/doc")
        .arg(root.join("doc")));
    std::fs::create_dir(root.join("untar")).unwrap();
    run(Command::new("tar")
        .arg("-xf")
        .arg(archive)
        .arg("-C")
        .arg(root.join("untar")));
    let p = |rel: &str| root.join(rel);
    std::fs::write(p("a"), b"first version").unwrap();
    std::fs::write(p("b"), b"second").unwrap();
    std::fs::rename(p("b"), p("a")).unwrap(); // replaces a file
    std::fs::create_dir_all(p("d1/sub")).unwrap();
    std::fs::create_dir(p("d2")).unwrap();
    std::fs::rename(p("d1"), p("d2")).unwrap(); // replaces an empty directory
    std::fs::hard_link(p("a"), p("d2/a-link")).unwrap();
    std::fs::remove_file(p("a")).unwrap();
    std::os::unix::fs::symlink("../doc", p("d2/sub/doc-link")).unwrap();
    fixture::set_xattr(&p("d2/a-link"), "user.note", b"kept").unwrap();
    fixture::set_xattr(&p("d2/a-link"), "user.gone", b"x").unwrap();
    run(Command::new("setfattr")
        .args(["-x", "user.gone"])
        .arg(p("d2/a-link")));
    let big = p("d2/big");
    std::fs::write(&big, fixture::pseudo_random_bytes(9, 300_000)).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(100_001)
        .unwrap();
    let sparse = std::fs::File::create(p("d2/sparse")).unwrap();
    sparse.set_len(5 << 30).unwrap(); // a 5 GiB hole...
    std::os::unix::fs::FileExt::write_all_at(&sparse, b"tail", (5 << 30) - 4).unwrap();
    fixture::chmod(&p("d2/sub"), 0o2751).unwrap();
    if is_root() {
        std::os::unix::fs::chown(p("d2/big"), Some(1234), Some(5678)).unwrap();
        fixture::mknod(&p("d2/null"), false, 0o666, 1, 3).unwrap();
    }
    fixture::mkfifo(&p("d2/fifo"), 0o600).unwrap();
    std::fs::remove_dir_all(p("rich/many")).unwrap();
    fixture::stamp_times(root);
}

fn make_archive(dir: &Path) -> std::path::PathBuf {
    let src = dir.join("archive-src");
    fixture::build_rich_tree(
        &src,
        &FixtureOptions {
            big_dir_entries: 300,
            devices: false,
            owners: false,
            special_files: false,
            ..FixtureOptions::default()
        },
    );
    let archive = dir.join("a.tar");
    run(Command::new("tar")
        .arg("-cf")
        .arg(&archive)
        .arg("--xattrs")
        .arg("-C")
        .arg(&src)
        .arg("."));
    archive
}

#[test]
fn populate_a_mkdisk_image_through_the_mount() {
    if !ready() || !require_tool("setfattr") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    mkdisk(["--size".as_ref(), "1G".as_ref(), img.as_os_str()]).assert_success();
    let archive = make_archive(tmp.path());

    // The host side gets the lost+found every image has, so that both
    // sides stamp the same paths with the same times.
    let expected_root = tmp.path().join("host");
    std::fs::create_dir(&expected_root).unwrap();
    std::fs::create_dir(expected_root.join("lost+found")).unwrap();
    fixture::chmod(&expected_root.join("lost+found"), 0o700).unwrap();
    populate(&expected_root, &archive);

    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = FuseMount::new(img.as_os_str(), &mnt, &[]);
    populate(mount.path(), &archive);
    let expected = host::walk(&expected_root);
    // The live view already matches.
    expected.assert_same(&host::walk(mount.path()), &Compare::default(), "the mount");
    let stat = nix_statvfs(mount.path());
    assert_eq!(stat.0, 4096, "statfs block size");
    mount.umount().assert_success();

    e2fsck_clean(&img, PART_OFFSET);
    expected.assert_same(
        &image_model(&img, PART_OFFSET),
        &Compare::default(),
        "the image",
    );

    // A mount that changes nothing leaves the image alone.
    let before = sha256_file(&img);
    let mtime = std::fs::metadata(&img).unwrap().mtime_nsec();
    let mount = FuseMount::new(img.as_os_str(), &mnt, &[]);
    assert!(mount.path().join("d2/a-link").exists());
    mount.umount().assert_success();
    assert_eq!(sha256_file(&img), before);
    assert_eq!(std::fs::metadata(&img).unwrap().mtime_nsec(), mtime);
}

/// Block size and free blocks from statvfs.
fn nix_statvfs(path: &Path) -> (u64, u64) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: valid path and an out-pointer to a zeroed struct.
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    (st.f_bsize, st.f_bfree)
}

#[test]
fn a_mke2fs_image_mounts_changes_and_stays_clean() {
    if !ready() || !require_tool("mke2fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fixture::build_rich_tree(
        &src,
        &FixtureOptions {
            big_dir_entries: 500,
            long_symlink: 500,
            // mke2fs -d cannot store the fixture's largest xattr.
            xattrs: false,
            devices: false,
            owners: false,
            ..FixtureOptions::default()
        },
    );
    std::fs::create_dir(src.join("lost+found")).unwrap();
    fixture::chmod(&src.join("lost+found"), 0o700).unwrap();
    let img = tmp.path().join("fs.img");
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-d"])
        .arg(&src)
        .arg(&img)
        .arg("256M"));
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = FuseMount::new(img.as_os_str(), &mnt, &[]);
    for root in [src.as_path(), mount.path()] {
        std::fs::remove_dir_all(root.join("many")).unwrap();
        std::fs::write(root.join("new-file"), b"added through the mount").unwrap();
        std::fs::rename(root.join("files"), root.join("renamed")).unwrap();
        fixture::stamp_times(root);
    }
    mount.umount().assert_success();
    e2fsck_clean(&img, 0);
    host::walk(&src).assert_same(&image_model(&img, 0), &Compare::default(), "mke2fs image");
}

#[test]
fn a_commit_that_cannot_be_made_in_place_rewrites_the_placed_data() {
    if !ready() {
        return;
    }
    // A journal of 1024 blocks takes at most 256 metadata blocks in one
    // commit; 4400 new inodes fill 275 inode table blocks.
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("lost+found")).unwrap();
    fixture::chmod(&src.join("lost+found"), 0o700).unwrap();
    let img = tmp.path().join("fs.img");
    run(Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-J", "size=4", "-N", "8192"])
        .arg(&img)
        .arg("96M"));
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = FuseMount::new(img.as_os_str(), &mnt, &[]);
    for root in [src.as_path(), mount.path()] {
        for d in 0..4 {
            let dir = root.join(format!("d{d}"));
            std::fs::create_dir(&dir).unwrap();
            for f in 0..1100 {
                let bytes = vec![(d * 7 + f % 251) as u8; 5000 + f];
                std::fs::write(dir.join(f.to_string()), bytes).unwrap();
            }
        }
        fixture::stamp_times(root);
    }
    let out = mount.umount();
    out.assert_success();
    assert!(
        out.stderr.contains("rewritten whole") && out.stderr.contains("quarter of the journal"),
        "{}",
        out.stderr
    );
    e2fsck_clean(&img, 0);
    host::walk(&src).assert_same(
        &image_model(&img, 0),
        &Compare::default(),
        "rewritten image",
    );
}

#[test]
fn killing_the_daemon_leaves_the_filesystem_untouched() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    mkdisk(["--size".as_ref(), "512M".as_ref(), img.as_os_str()]).assert_success();
    let before = std::fs::read(&img).unwrap();
    let spec = blockimg::disk::ImageSpec::parse(img.as_os_str()).unwrap();
    let lock = blockimg::lock::ImageLock::read(&spec.path).unwrap();
    let (existing, _) = blockimg::image::ExistingFilesystem::open(&spec, lock).unwrap();
    let free = existing.free_block_runs().unwrap().unwrap();
    drop(existing);
    let model = image_model(&img, PART_OFFSET);
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = FuseMount::new(img.as_os_str(), &mnt, &[]);
    let mut cp = Command::new("cp")
        .arg("-a")
        .arg("/usr/share/doc")
        .arg(mnt.join("doc"))
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let pid = daemon_pid(&mnt).expect("the daemon's pid");
    // SAFETY: kill(2) of the daemon this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    let _ = cp.wait();
    let out = mount.umount();
    out.assert_failure();
    lazy_unmount(&mnt);
    assert!(!is_mounted(&mnt));
    // New data went into blocks the filesystem does not use, and nowhere
    // else.
    let after = std::fs::read(&img).unwrap();
    assert_eq!(before.len(), after.len());
    let bs = 4096;
    let is_free = |block: u64| free.iter().any(|&(s, n)| block >= s && block < s + n);
    let mut placed = 0;
    for (i, (a, b)) in before.chunks(bs).zip(after.chunks(bs)).enumerate() {
        if a != b {
            let offset = (i * bs) as u64;
            assert!(
                offset >= PART_OFFSET,
                "a byte before the filesystem changed"
            );
            let block = (offset - PART_OFFSET) / bs as u64;
            assert!(
                is_free(block),
                "block {block}, used by the filesystem, changed"
            );
            placed += 1;
        }
    }
    assert!(placed > 0, "nothing was written into free blocks");
    e2fsck_clean(&img, PART_OFFSET);
    model.assert_same(
        &image_model(&img, PART_OFFSET),
        &Compare::default(),
        "after the crash",
    );
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| n.to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn an_unprivileged_user_mounts_with_owner_root() {
    if !ready() || !require_tool("setpriv") {
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED: needs root to switch to an unprivileged user");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("user");
    std::fs::create_dir(&dir).unwrap();
    // A root-owned image: the mount shows root's files as the user's.
    let img = dir.join("disk.img");
    mkdisk(["--size".as_ref(), "128M".as_ref(), img.as_os_str()]).assert_success();
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/hostname"), b"box\n").unwrap();
    std::os::unix::fs::symlink("hostname", src.join("etc/name")).unwrap();
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    run(Command::new("chown").arg("-R").arg("65534:65534").arg(&dir));
    let as_nobody = |args: &[&OsStr]| {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg("env")
            .arg(format!("TMPDIR={}", dir.display()))
            .arg("XDG_RUNTIME_DIR=")
            .args(args);
        cmd
    };
    let bin = blockimg_tests::blockimg_bin().as_os_str();
    run(&mut as_nobody(&[
        bin,
        "mount".as_ref(),
        "--owner".as_ref(),
        "0:0".as_ref(),
        img.as_os_str(),
        mnt.as_os_str(),
    ]));
    let copied = as_nobody(&[
        "cp".as_ref(),
        "-a".as_ref(),
        src.join("etc").as_os_str(),
        mnt.as_os_str(),
    ])
    .output()
    .unwrap();
    let umount = as_nobody(&[bin, "umount".as_ref(), mnt.as_os_str()])
        .output()
        .unwrap();
    if !umount.status.success() {
        lazy_unmount(&mnt);
    }
    assert!(
        copied.status.success(),
        "{}",
        String::from_utf8_lossy(&copied.stderr)
    );
    assert!(
        umount.status.success(),
        "{}",
        String::from_utf8_lossy(&umount.stderr)
    );
    e2fsck_clean(&img, PART_OFFSET);
    let model = image_model(&img, PART_OFFSET);
    for path in ["/", "/etc", "/etc/hostname", "/etc/name"] {
        let entry = model.get(path);
        assert_eq!((entry.uid, entry.gid), (0, 0), "{path}");
    }
    assert_eq!(
        std::fs::metadata(&img).unwrap().uid(),
        65534,
        "image owner kept"
    );
}

#[test]
fn bad_images_are_refused_and_left_alone() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();

    let junk = tmp.path().join("junk.img");
    std::fs::write(&junk, fixture::pseudo_random_bytes(1, 4 << 20)).unwrap();
    let truncated = tmp.path().join("truncated.img");
    mkdisk(["--size".as_ref(), "64M".as_ref(), truncated.as_os_str()]).assert_success();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&truncated)
        .unwrap()
        .set_len(20 << 20)
        .unwrap();
    let mut cases = vec![
        (junk, "no partition table and no ext4 superblock"),
        (truncated, "truncated"),
    ];
    if require_tool("mke2fs") {
        let inline = tmp.path().join("inline.img");
        run(Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-O", "inline_data"])
            .arg(&inline)
            .arg("32M"));
        cases.push((inline, "inline_data"));
        let ext2 = tmp.path().join("ext2.img");
        run(Command::new("mke2fs")
            .args(["-q", "-F", "-t", "ext2"])
            .arg(&ext2)
            .arg("32M"));
        cases.push((ext2, "--ro"));
    }
    for (img, message) in &cases {
        let before = sha256_file(img);
        mount_cmd(img.as_os_str(), &mnt, &[])
            .assert_failure()
            .assert_stderr_contains(message);
        assert!(!is_mounted(&mnt), "{} left a mount", img.display());
        assert_eq!(sha256_file(img), before, "{} changed", img.display());
    }
    // The ext2 image mounts read-only, and refuses writes.
    if let Some((ext2, _)) = cases.iter().find(|(_, m)| *m == "--ro") {
        let mount = FuseMount::new(ext2.as_os_str(), &mnt, &["--ro"]);
        let err = std::fs::write(mount.path().join("x"), b"x").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EROFS));
        mount.umount().assert_success();
    }
}
