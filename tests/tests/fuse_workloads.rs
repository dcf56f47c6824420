//! Real population workloads through `blockimg mount` (root only): a
//! busybox root in which `useradd -m` adds a user who then runs commands
//! in a chroot; `dpkg -i` in the chroot of a real Debian package
//! (`apt-get download sgml-base`, with its maintainer scripts) and of a
//! package built here whose scripts change owners, modes and setgid
//! directories; `rsync -aHAX` of a tree with hard links, xattrs and ACLs;
//! `tar -xpf` of a root tarball. After each, the image is e2fsck-clean
//! and the kernel's read-only mount of it shows exactly what the tools
//! left in the mount.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use blockimg_tests::fixture::{self, FixtureOptions};
use blockimg_tests::fuse::{require_fuse, FuseMount};
use blockimg_tests::host;
use blockimg_tests::model::Compare;
use blockimg_tests::mount::LoopMount;
use blockimg_tests::{e2fsck_clean, is_root, mkdisk, require_e2fsprogs, require_tool};

/// Size of the images (a bare filesystem, no partition table).
const SIZE: u64 = 512 << 20;

/// A fresh image, a mountpoint, and the directory holding them.
struct Work {
    tmp: tempfile::TempDir,
    img: PathBuf,
    mnt: PathBuf,
}

impl Work {
    /// `None` (after printing why) unless root, FUSE, e2fsprogs and
    /// `tools` are here.
    fn new(tools: &[&str]) -> Option<Work> {
        if !is_root() {
            eprintln!("SKIPPED: the workloads chroot and change owners, which needs root");
            return None;
        }
        if !(require_fuse() && require_e2fsprogs() && tools.iter().all(|t| require_tool(t))) {
            return None;
        }
        let tmp = tempfile::tempdir().unwrap();
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let img = tmp.path().join("disk.img");
        mkdisk([
            "--quiet".as_ref(),
            "--size".as_ref(),
            "512M".as_ref(),
            "--table".as_ref(),
            "none".as_ref(),
            img.as_os_str(),
        ])
        .assert_success();
        let mnt = tmp.path().join("mnt");
        std::fs::create_dir(&mnt).unwrap();
        Some(Work { tmp, img, mnt })
    }

    fn mount(&self) -> FuseMount {
        FuseMount::new(self.img.as_os_str(), &self.mnt, &[])
    }

    /// Unmounts (committing), then checks the image: e2fsck-clean, and the
    /// kernel's read-only view equal to the mount's last view.
    fn finish(&self, mount: FuseMount) {
        let live = host::walk(mount.path());
        mount.umount().assert_success();
        e2fsck_clean(&self.img, 0);
        // Without loop devices this says why and the comparison is skipped.
        let Some(kernel) = LoopMount::new(&self.img, 0, SIZE, true) else {
            return;
        };
        live.assert_same(
            &host::walk(kernel.path()),
            &Compare::default(),
            "the kernel's mount of the commit",
        );
    }
}

/// Runs `cmd`; its standard output, or a panic with its error.
fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `chroot ROOT ARGS...`.
fn chroot(root: &Path, args: &[&str]) -> String {
    run(Command::new("chroot").arg(root).args(args))
}

/// A minimal root in `root` (which is on the mount): a static busybox
/// whose applets `busybox --install` links from inside a chroot, root's
/// account, `/etc/skel`, an empty dpkg database. False (after printing
/// why) when busybox is missing or not static.
fn busybox_root(root: &Path) -> bool {
    let Some(busybox) = blockimg_tests::find_tool("busybox") else {
        eprintln!("SKIPPED: busybox is not installed (package busybox-static)");
        return false;
    };
    for dir in [
        "bin",
        "etc/skel",
        "tmp",
        "home",
        "root",
        "srv",
        "var/lib/dpkg/info",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    fixture::chmod(&root.join("tmp"), 0o1777).unwrap();
    fixture::chmod(&root.join("root"), 0o700).unwrap();
    std::fs::copy(&busybox, root.join("bin/busybox")).unwrap();
    let static_ok = Command::new("chroot")
        .arg(root)
        .args(["/bin/busybox", "true"])
        .status()
        .is_ok_and(|s| s.success());
    if !static_ok {
        eprintln!(
            "SKIPPED: {} does not run in a chroot (not static)",
            busybox.display()
        );
        return false;
    }
    chroot(root, &["/bin/busybox", "--install", "-s", "/bin"]);
    for (file, text, mode) in [
        ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0o644),
        ("etc/group", "root:x:0:\n", 0o644),
        ("etc/shadow", "root:*:19000:0:99999:7:::\n", 0o640),
        ("etc/gshadow", "root:*::\n", 0o640),
        ("etc/skel/.profile", "PATH=/bin\n", 0o644),
        ("var/lib/dpkg/status", "", 0o644),
    ] {
        std::fs::write(root.join(file), text).unwrap();
        fixture::chmod(&root.join(file), mode).unwrap();
    }
    true
}

/// Adds user `tuser` with `useradd -R ROOT -m` (shadow's, from the host,
/// working inside the root); returns its uid.
fn add_user(root: &Path) -> u32 {
    run(Command::new("useradd")
        .arg("-R")
        .arg(root)
        .args(["-m", "-U", "-s", "/bin/sh", "tuser"]));
    let passwd = std::fs::read_to_string(root.join("etc/passwd")).unwrap();
    let line = passwd
        .lines()
        .find(|l| l.starts_with("tuser:"))
        .expect("useradd wrote tuser into /etc/passwd");
    line.split(':').nth(2).unwrap().parse().unwrap()
}

#[test]
fn useradd_then_the_user_works_in_a_chroot_on_the_mount() {
    let Some(work) = Work::new(&["useradd", "chroot"]) else {
        return;
    };
    let mount = work.mount();
    let root = mount.path().to_path_buf();
    if !busybox_root(&root) {
        return;
    }
    let uid = add_user(&root);
    let home = std::fs::metadata(root.join("home/tuser")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&home), uid);
    assert!(
        root.join("home/tuser/.profile").is_file(),
        "useradd -m copied /etc/skel"
    );

    let script = "id -u; cd; echo hello > note; mkdir -p work/sub; \
                  ln note work/note-link; chmod 640 note; \
                  if touch /etc/evil 2>/tmp/err; then echo wrote-etc; else echo refused; fi; \
                  if cat /etc/shadow 2>/tmp/err; then echo read-shadow; else echo refused; fi; \
                  touch /tmp/by-tuser; ls -ln note | cut -c1-10";
    let out = chroot(&root, &["/bin/su", "-s", "/bin/sh", "tuser", "-c", script]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [uid.to_string().as_str(), "refused", "refused", "-rw-r-----"],
        "{out}"
    );
    // The user could not remove root's file from the sticky /tmp.
    std::fs::write(root.join("tmp/by-root"), "x").unwrap();
    let rm = Command::new("chroot")
        .arg(&root)
        .args([
            "/bin/su",
            "-s",
            "/bin/sh",
            "tuser",
            "-c",
            "rm -f /tmp/by-root",
        ])
        .output()
        .unwrap();
    assert!(!rm.status.success() && root.join("tmp/by-root").exists());
    work.finish(mount);
}

/// A package whose maintainer scripts write, chmod, chgrp, make a setgid
/// directory and run a command as `tuser`, built with dpkg-deb.
fn build_package(dir: &Path) -> PathBuf {
    let pkg = dir.join("pkg");
    for sub in ["DEBIAN", "usr/bin", "usr/share/probe"] {
        std::fs::create_dir_all(pkg.join(sub)).unwrap();
    }
    let files: [(&str, &str, u32); 4] = [
        (
            "DEBIAN/control",
            "Package: blockimg-probe\nVersion: 1.0\nArchitecture: all\n\
             Maintainer: blockimg tests <tests@example.invalid>\n\
             Description: maintainer scripts through a mount\n",
            0o644,
        ),
        (
            "DEBIAN/preinst",
            "#!/bin/sh\nset -e\nmkdir -p /var/lib/probe\necho preinst ran > /var/lib/probe/preinst\n",
            0o755,
        ),
        (
            "DEBIAN/postinst",
            "#!/bin/sh\nset -e\necho configured > /etc/probe.conf\nchmod 600 /etc/probe.conf\n\
             mkdir -m 2775 /srv/probe\nchgrp tuser /srv/probe\nln -s probe-tool /usr/bin/probe\n\
             su -s /bin/sh tuser -c 'probe > /srv/probe/by-user'\n",
            0o755,
        ),
        (
            "usr/bin/probe-tool",
            "#!/bin/sh\necho \"probe-tool ran as $(id -u)\"\n",
            0o755,
        ),
    ];
    for (file, text, mode) in files {
        std::fs::write(pkg.join(file), text).unwrap();
        fixture::chmod(&pkg.join(file), mode).unwrap();
    }
    std::fs::write(
        pkg.join("usr/share/probe/data"),
        fixture::pseudo_random_bytes(3, 300_000),
    )
    .unwrap();
    let deb = dir.join("probe.deb");
    run(Command::new("dpkg-deb")
        .args(["--root-owner-group", "-b"])
        .arg(&pkg)
        .arg(&deb));
    deb
}

#[test]
fn dpkg_installs_packages_with_maintainer_scripts_in_a_chroot_on_the_mount() {
    let Some(work) = Work::new(&["useradd", "chroot", "dpkg-deb"]) else {
        return;
    };
    let deb = build_package(work.tmp.path());
    // A real package from the archive, if it can be had here.
    let real = Command::new("apt-get")
        .args(["download", "sgml-base"])
        .current_dir(work.tmp.path())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|_| {
            std::fs::read_dir(work.tmp.path())
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.to_string_lossy().contains("sgml-base_"))
        });
    let mount = work.mount();
    let root = mount.path().to_path_buf();
    if !busybox_root(&root) {
        return;
    }
    let uid = add_user(&root);
    std::fs::copy(&deb, root.join("tmp/probe.deb")).unwrap();
    let out = chroot(&root, &["/bin/dpkg", "-i", "/tmp/probe.deb"]);
    assert!(out.contains("Setting up blockimg-probe (1.0)"), "{out}");
    let status = std::fs::read_to_string(root.join("var/lib/dpkg/status")).unwrap();
    assert!(status.contains("Package: blockimg-probe") && status.contains("install ok installed"));
    assert_eq!(
        std::fs::read_to_string(root.join("var/lib/probe/preinst")).unwrap(),
        "preinst ran\n"
    );
    let conf = std::fs::metadata(root.join("etc/probe.conf")).unwrap();
    assert_eq!(conf.permissions().mode() & 0o7777, 0o600);
    let shared = std::fs::metadata(root.join("srv/probe")).unwrap();
    assert_eq!(shared.permissions().mode() & 0o7777, 0o2775);
    let by_user = std::fs::metadata(root.join("srv/probe/by-user")).unwrap();
    use std::os::unix::fs::MetadataExt;
    assert_eq!((by_user.uid(), by_user.gid()), (uid, shared.gid()));
    assert_eq!(
        std::fs::read_to_string(root.join("srv/probe/by-user")).unwrap(),
        format!("probe-tool ran as {uid}\n")
    );
    match real {
        Some(real) => {
            std::fs::copy(&real, root.join("tmp/real.deb")).unwrap();
            // busybox's dpkg knows no dpkg package to satisfy the pre-dependency.
            let out = chroot(&root, &["/bin/dpkg", "-F", "depends", "-i", "/tmp/real.deb"]);
            assert!(out.contains("Setting up sgml-base"), "{out}");
            assert!(root.join("usr/share/sgml-base/transitional.cat").is_file());
        }
        None => eprintln!("SKIPPED (part): `apt-get download sgml-base` failed here: only the package built here was installed"),
    }
    work.finish(mount);
}

#[test]
fn rsync_ahax_keeps_hard_links_xattrs_and_acls() {
    let Some(work) = Work::new(&["rsync", "setfacl", "setfattr"]) else {
        return;
    };
    let src = work.tmp.path().join("src");
    fixture::build_rich_tree(
        &src,
        &FixtureOptions {
            big_dir_entries: 300,
            ..FixtureOptions::default()
        },
    );
    std::fs::create_dir(src.join("acl")).unwrap();
    std::fs::write(src.join("acl/f"), "acl\n").unwrap();
    std::fs::hard_link(src.join("acl/f"), src.join("acl/f-link")).unwrap();
    run(Command::new("setfacl")
        .args(["-m", "u:1234:rw-,g:2000:r--"])
        .arg(src.join("acl/f")));
    run(Command::new("setfacl")
        .args(["-d", "-m", "u:1234:rwx,g::r-x"])
        .arg(src.join("acl")));
    fixture::set_xattr(&src.join("acl/f"), "user.origin", b"rsync").unwrap();
    fixture::set_xattr(&src.join("acl/f"), "trusted.kept", b"by root").unwrap();
    fixture::stamp_times(&src);

    let mount = work.mount();
    let dest = mount.path().join("rs");
    let mut rsync = Command::new("rsync");
    rsync.args(["-aHAX", "--numeric-ids"]);
    run(rsync.arg(format!("{}/", src.display())).arg(&dest));
    host::walk(&src).assert_same(&host::walk(&dest), &Compare::default(), "rsync's copy");
    let acl = run(Command::new("getfacl")
        .args(["-n", "-p"])
        .arg(dest.join("acl/f")));
    assert!(
        acl.contains("user:1234:rw-") && acl.contains("group:2000:r--"),
        "{acl}"
    );
    work.finish(mount);
}

#[test]
fn tar_xpf_of_a_root_tarball() {
    let Some(work) = Work::new(&["tar", "chroot"]) else {
        return;
    };
    // The tarball: a busybox root with users, plus the rich fixture.
    let src = work.tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    if !busybox_root(&src) {
        return;
    }
    add_user(&src);
    fixture::build_rich_tree(&src.join("rich"), &FixtureOptions::default());
    fixture::stamp_times(&src);
    let tarball = work.tmp.path().join("root.tar");
    let flags = [
        "--xattrs",
        "--xattrs-include=*",
        "--acls",
        "--numeric-owner",
    ];
    run(Command::new("tar")
        .args(flags)
        .arg("-cpf")
        .arg(&tarball)
        .arg("-C")
        .arg(&src)
        .arg("."));
    let expected = work.tmp.path().join("expected");
    std::fs::create_dir(&expected).unwrap();
    let untar = |dir: &Path| {
        run(Command::new("tar")
            .args(flags)
            .arg("-xpf")
            .arg(&tarball)
            .arg("-C")
            .arg(dir));
    };
    untar(&expected);

    let mount = work.mount();
    let dest = mount.path().join("root");
    std::fs::create_dir(&dest).unwrap();
    untar(&dest);
    host::walk(&expected).assert_same(&host::walk(&dest), &Compare::default(), "tar's root");
    // The root works: its busybox runs in a chroot, as its user too.
    let out = chroot(
        &dest,
        &["/bin/su", "-s", "/bin/sh", "tuser", "-c", "id -un"],
    );
    assert_eq!(out, "tuser\n");
    work.finish(mount);
}
