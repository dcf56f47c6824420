//! `blockimg initramfs` against GNU cpio, ldd, kmod's modprobe, a chroot
//! and the Linux kernel booting the archive under QEMU.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use blockimg::initramfs::cpio::{write_newc, NewcOptions};
use blockimg::tree::{FileContent, Metadata, Node, NodeId, NodeKind, Timestamp, Tree};
use blockimg_tests::fixture::{self, FixtureOptions};
use blockimg_tests::model::{assign_link_groups, Compare, ContentDigest, Entry, Kind, Model};
use blockimg_tests::tools::tool;
use blockimg_tests::vm::{boot_kit, marker_root, run_qemu, BootKit};
use blockimg_tests::{
    blockimg_cmd, find_tool, host, is_root, mkdisk, require_tool, sha256_file, RunOutput,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

const EPOCH: i64 = 1_700_000_000;

/// Runs `blockimg initramfs ARGS...`.
fn initramfs<I, S>(args: I) -> RunOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = blockimg_cmd();
    cmd.arg("initramfs").args(args);
    RunOutput::run(&mut cmd)
}

/// The names in an uncompressed archive, as `cpio -t` lists them.
fn cpio_list(archive: &Path) -> Vec<String> {
    let out = tool("cpio")
        .args(["-t", "--quiet"])
        .stdin(fs::File::open(archive).unwrap())
        .output()
        .unwrap();
    assert!(out.status.success(), "cpio -t: {out:?}");
    // Names are bytes; the fixture has a non-UTF-8 one.
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Extracts an uncompressed archive into `dir` with `cpio -idm` (as root it
/// restores owners and device nodes; otherwise device nodes are left out).
fn cpio_extract(archive: &Path, dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    let mut cmd = tool("cpio");
    cmd.args(["-idm", "--quiet", "--no-absolute-filenames"])
        .current_dir(dir)
        .stdin(fs::File::open(archive).unwrap());
    if !is_root() {
        cmd.args(["-f", "dev/console"]);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "cpio -idm: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// GNU cpio sets a directory's time before creating what it holds, which
/// then changes it, and leaves symlink times alone: those times of `actual`
/// (a GNU cpio extraction of `archive`) are taken from an extraction by
/// bsdtar (libarchive), which sets them last. Without bsdtar they are taken
/// from `expected`, and the caller is told.
fn times_from_bsdtar(archive: &Path, expected: &Model, actual: &mut Model) -> bool {
    let Some(bsdtar) = find_tool("bsdtar") else {
        for (path, entry) in actual.entries.iter_mut() {
            if let (Kind::Dir | Kind::Symlink, Some(want)) =
                (entry.kind, expected.entries.get(path))
            {
                entry.mtime = want.mtime;
            }
        }
        return false;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(bsdtar)
        .arg("-xpf")
        .arg(archive)
        .arg("-C")
        .arg(dir.path())
        .args(["--exclude", "dev/console"])
        .output()
        .unwrap();
    assert!(out.status.success(), "bsdtar -x: {out:?}");
    let other = host::walk(dir.path());
    for (path, entry) in actual.entries.iter_mut() {
        if matches!(entry.kind, Kind::Dir | Kind::Symlink) {
            entry.mtime = other.entries[path].mtime;
        }
    }
    true
}

/// A tiny `/init` given with `--init`, so tests need no busybox.
fn init_script(dir: &Path) -> PathBuf {
    let path = dir.join("init.sh");
    fs::write(&path, "#!/bin/sh\necho custom init\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// Every directory above each path (relative, `/`-separated), `.` included.
fn with_parents(paths: &BTreeSet<String>) -> BTreeSet<String> {
    let mut all = paths.clone();
    all.insert(".".into());
    for path in paths {
        let mut parent = Path::new(path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            all.insert(p.to_string_lossy().into_owned());
            parent = p.parent();
        }
    }
    all
}

/// The paths resolving `path` on the host visits: each symlink followed
/// (under its directory's resolved path) and the file it ends at.
fn host_chain(path: &str) -> Vec<String> {
    let mut visited = Vec::new();
    let mut pending: Vec<String> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .rev()
        .map(str::to_owned)
        .collect();
    let mut current = PathBuf::from("/");
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            current.pop();
            continue;
        }
        let candidate = current.join(&c);
        let meta = fs::symlink_metadata(&candidate).unwrap();
        if meta.file_type().is_symlink() {
            links += 1;
            assert!(links < 40, "symlink loop at {path}");
            visited.push(candidate.to_string_lossy().into_owned());
            let target = fs::read_link(&candidate).unwrap();
            if target.is_absolute() {
                current = PathBuf::from("/");
            }
            let target = target.to_string_lossy().into_owned();
            pending.extend(
                target
                    .split('/')
                    .filter(|c| !c.is_empty() && *c != ".")
                    .rev()
                    .map(str::to_owned),
            );
        } else {
            current = candidate;
        }
    }
    visited.push(current.to_string_lossy().into_owned());
    visited
}

/// `path` resolved inside `root` (absolute symlinks stay inside it), as a
/// chroot would see it.
fn resolve_inside(root: &Path, path: &str) -> Option<PathBuf> {
    let mut pending: Vec<String> = path.split('/').rev().map(str::to_owned).collect();
    let mut current = PathBuf::new();
    let mut links = 0;
    while let Some(c) = pending.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                current.pop();
                continue;
            }
            _ => {}
        }
        let candidate = current.join(&c);
        let meta = fs::symlink_metadata(root.join(&candidate)).ok()?;
        if meta.file_type().is_symlink() {
            links += 1;
            if links > 40 {
                return None;
            }
            let target = fs::read_link(root.join(&candidate)).ok()?;
            if target.is_absolute() {
                current = PathBuf::new();
            }
            let target = target.to_string_lossy().into_owned();
            pending.extend(target.split('/').rev().map(str::to_owned));
        } else {
            current = candidate;
        }
    }
    Some(root.join(current))
}

/// The libraries `ldd` says `binary` loads, the interpreter included.
fn ldd(binary: &str) -> Vec<String> {
    let out = tool("ldd").arg(binary).output().unwrap();
    assert!(out.status.success(), "ldd {binary}: {out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .filter(|w| w.starts_with('/'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn archive_holds_the_tree_with_modes_owners_times_links_and_devices() {
    if !require_tool("cpio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let fx = fixture::build_rich_tree(
        &src,
        &FixtureOptions {
            big_dir_entries: 300,
            large_file_bytes: 1 << 20,
            xattrs: false,
            ..FixtureOptions::default()
        },
    );
    let init = init_script(dir.path());
    let img = dir.path().join("initrd.cpio");
    initramfs([
        "-o".as_ref(),
        img.as_os_str(),
        "--root".as_ref(),
        src.as_os_str(),
        "--init".as_ref(),
        init.as_os_str(),
        "--keep-owners".as_ref(),
        "--compress".as_ref(),
        "none".as_ref(),
        "--timestamp".as_ref(),
        EPOCH.to_string().as_ref(),
    ])
    .assert_success();

    // The listing is the tree plus /init and /dev/console, parents first.
    let listing = cpio_list(&img);
    let expected_model = host::walk(&src);
    let mut expected: Vec<String> = expected_model
        .entries
        .keys()
        .map(
            |p| match String::from_utf8_lossy(p).trim_start_matches('/') {
                "" => ".".to_owned(),
                rel => rel.to_owned(),
            },
        )
        .collect();
    expected.extend(["dev", "dev/console", "init"].map(String::from));
    let got: BTreeSet<&String> = listing.iter().collect();
    let want: BTreeSet<&String> = expected.iter().collect();
    assert_eq!(
        got.symmetric_difference(&want).collect::<Vec<_>>(),
        Vec::<&&String>::new()
    );
    assert_eq!(listing.len(), got.len(), "no name is listed twice");
    for (index, name) in listing.iter().enumerate() {
        if let Some(parent) = Path::new(name)
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
        {
            let parent = parent.to_string_lossy();
            let at = listing.iter().position(|n| *n == parent).unwrap();
            assert!(at < index, "{name} comes before its directory");
        }
    }

    // GNU cpio extracts exactly the tree: kinds, modes, owners, sizes,
    // content, symlink targets, hard links, devices, clamped mtimes.
    let out = dir.path().join("out");
    cpio_extract(&img, &out);
    let console = fs::symlink_metadata(out.join("dev/console"));
    if is_root() {
        let console = console.unwrap();
        assert_eq!(
            (libc::major(console.rdev()), libc::minor(console.rdev())),
            (5, 1)
        );
        assert_eq!(console.mode(), libc::S_IFCHR | 0o600);
    }
    assert_eq!(
        fs::read(out.join("init")).unwrap(),
        fs::read(&init).unwrap()
    );
    fs::remove_file(out.join("init")).unwrap();
    let _ = fs::remove_file(out.join("dev/console"));
    fs::remove_dir(out.join("dev")).unwrap();
    let mut actual = host::walk(&out);
    let expected = expected_model.with_mtime_clamped((EPOCH, 0));
    if !times_from_bsdtar(&img, &expected, &mut actual) {
        eprintln!("SKIPPED part: directory and symlink times need bsdtar (libarchive-tools)");
    }
    // The extraction directory stands for the archive's `.`: the extractor
    // sets its mode, not its owner or time.
    let root = actual.entries.get_mut(&b"/"[..]).unwrap();
    let want_root = expected.get("/");
    (root.uid, root.gid, root.mtime) = (want_root.uid, want_root.gid, want_root.mtime);
    let cmp = Compare {
        nanos: false,
        xattrs: false,
        ..Compare::strict()
    };
    expected.assert_same(&actual, &cmp, "tree extracted by GNU cpio");
    assert!(fx.has_devices == is_root());
}

#[test]
fn owners_are_squashed_to_root_by_default() {
    if !require_tool("cpio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/hostname"), "appliance\n").unwrap();
    if is_root() {
        std::os::unix::fs::lchown(src.join("etc/hostname"), Some(1234), Some(5678)).unwrap();
    }
    let init = init_script(dir.path());
    let mut owners = BTreeSet::new();
    for (args, want) in [(vec![], (0, 0)), (vec!["--owner", "7:8"], (7, 8))] {
        let img = dir.path().join(format!("{}.cpio", want.0));
        let mut all = vec![
            "-o".into(),
            img.clone().into_os_string(),
            "--root".into(),
            src.clone().into_os_string(),
            "--init".into(),
            init.clone().into_os_string(),
            "--compress".into(),
            "none".into(),
        ];
        all.extend(args.iter().map(|a| a.into()));
        initramfs(all).assert_success();
        let out = tool("cpio")
            .args(["-tv", "--quiet", "--numeric-uid-gid"])
            .stdin(fs::File::open(&img).unwrap())
            .output()
            .unwrap();
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            owners.insert((fields[2].to_owned(), fields[3].to_owned()));
            assert_eq!(
                (fields[2], fields[3]),
                (want.0.to_string().as_str(), want.1.to_string().as_str()),
                "{line}"
            );
        }
    }
    assert_eq!(owners.len(), 2);
}

#[test]
fn byte_reproducible_under_source_date_epoch() {
    if !require_tool("cpio") || !require_tool("cp") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    fixture::build_rich_tree(
        &src,
        &FixtureOptions {
            big_dir_entries: 100,
            large_file_bytes: 100_000,
            xattrs: false,
            ..FixtureOptions::default()
        },
    );
    // Drop the big sparse files: they are data in a cpio archive.
    fs::remove_file(src.join(fixture::SPARSE.trim_start_matches('/'))).unwrap();
    fs::remove_file(src.join(fixture::ALL_HOLE.trim_start_matches('/'))).unwrap();
    let copy = dir.path().join("copy");
    let out = Command::new(find_tool("cp").unwrap())
        .arg("-a")
        .arg(&src)
        .arg(&copy)
        .output()
        .unwrap();
    assert!(out.status.success(), "cp -a: {out:?}");
    let init = init_script(dir.path());
    let build = |root: &Path, name: &str, epoch: Option<i64>| {
        let img = dir.path().join(name);
        let mut cmd = blockimg_cmd();
        if let Some(epoch) = epoch {
            cmd.env("SOURCE_DATE_EPOCH", epoch.to_string());
        }
        cmd.arg("initramfs")
            .arg("-o")
            .arg(&img)
            .arg("--root")
            .arg(root)
            .arg("--init")
            .arg(&init);
        RunOutput::run(&mut cmd).assert_success();
        sha256_file(&img)
    };
    let a = build(&src, "a.img", Some(EPOCH));
    let b = build(&copy, "b.img", Some(EPOCH));
    assert_eq!(a, b, "same tree, same SOURCE_DATE_EPOCH, different bytes");
    let c = build(&src, "c.img", Some(EPOCH + 1));
    assert_ne!(a, c, "the epoch is recorded");

    // The same tree as a tar archive, plain and compressed, gives the same
    // bytes (tar cannot hold sockets, so the tree loses its socket first).
    if require_tool("tar") && require_tool("gzip") {
        for entry in walkdir_sockets(&src) {
            fs::remove_file(entry).unwrap();
        }
        let a = build(&src, "a2.img", Some(EPOCH));
        let tar = dir.path().join("root.tar");
        let status = Command::new("tar")
            .args(["--format=posix", "-C"])
            .arg(&src)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            build(&tar, "t.img", Some(EPOCH)),
            a,
            "tar source differs from the directory"
        );
        let status = Command::new("gzip").arg("-k").arg(&tar).status().unwrap();
        assert!(status.success());
        let gz = dir.path().join("root.tar.gz");
        assert_eq!(
            build(&gz, "g.img", Some(EPOCH)),
            a,
            "gzip'd tar source differs"
        );
    }
}

/// Paths of the sockets below `dir`.
fn walkdir_sockets(dir: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::FileTypeExt;
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let kind = entry.file_type().unwrap();
            if kind.is_socket() {
                found.push(entry.path());
            } else if kind.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    found
}

#[test]
fn bash_comes_with_what_ldd_lists_and_runs_in_a_chroot() {
    if !require_tool("cpio") || !require_tool("ldd") {
        return;
    }
    let bash = "/bin/bash";
    if !Path::new(bash).exists() {
        eprintln!("SKIPPED: no {bash}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let init = init_script(dir.path());
    let img = dir.path().join("initrd.cpio");
    initramfs([
        "-o".as_ref(),
        img.as_os_str(),
        "--bin".as_ref(),
        bash.as_ref(),
        "--init".as_ref(),
        init.as_os_str(),
        "--compress".as_ref(),
        "none".as_ref(),
    ])
    .assert_success();

    // lsinitramfs-style: exactly bash, what ldd lists, the symlinks on the
    // way to them, their directories, /init and /dev/console.
    let libraries = ldd(bash);
    assert!(!libraries.is_empty(), "{bash} is dynamically linked");
    let mut wanted = BTreeSet::new();
    for path in std::iter::once(bash.to_owned()).chain(libraries.iter().cloned()) {
        for step in host_chain(&path) {
            wanted.insert(step.trim_start_matches('/').to_owned());
        }
    }
    wanted.insert("init".into());
    wanted.insert("dev/console".into());
    let wanted = with_parents(&wanted);
    let listed: BTreeSet<String> = cpio_list(&img).into_iter().collect();
    assert_eq!(listed, wanted);

    // Each path ldd names resolves, inside the archive, to the host's file.
    let out = dir.path().join("out");
    cpio_extract(&img, &out);
    for path in std::iter::once(bash.to_owned()).chain(libraries) {
        let inside = resolve_inside(&out, &path).unwrap_or_else(|| panic!("{path} missing"));
        assert_eq!(
            fs::read(&inside).unwrap(),
            fs::read(&path).unwrap(),
            "{path}"
        );
    }
    if !is_root() {
        eprintln!("SKIPPED part: chroot needs root");
        return;
    }
    let run = RunOutput::run(
        Command::new(find_tool("chroot").unwrap())
            .arg(&out)
            .args([bash, "-c", "echo ok"]),
    );
    run.assert_success();
    assert_eq!(run.stdout, "ok\n");
}

#[test]
fn rpath_runpath_origin_and_library_path_find_private_libraries() {
    if !require_tool("gcc") || !require_tool("cpio") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().canonicalize().unwrap();
    let app = d.join("opt/app");
    let other = d.join("opt/other");
    fs::create_dir_all(app.join("bin")).unwrap();
    fs::create_dir_all(app.join("lib")).unwrap();
    fs::create_dir_all(&other).unwrap();
    fs::write(d.join("priv.c"), "int priv(void) { return 7; }\n").unwrap();
    fs::write(d.join("hidden.c"), "int hidden(void) { return 7; }\n").unwrap();
    fs::write(
        d.join("main.c"),
        "#include <stdio.h>\nint priv(void);\nint hidden(void);\n\
         int main(void) { printf(\"%d\\n\", priv() + hidden()); return 0; }\n",
    )
    .unwrap();
    let gcc = |args: &[&str]| {
        let out = Command::new(find_tool("gcc").unwrap())
            .args(args)
            .current_dir(&d)
            .output()
            .unwrap();
        assert!(out.status.success(), "gcc {args:?}: {out:?}");
    };
    gcc(&[
        "-shared",
        "-fPIC",
        "-Wl,-soname,libpriv.so",
        "-o",
        "opt/app/lib/libpriv.so",
        "priv.c",
    ]);
    gcc(&[
        "-shared",
        "-fPIC",
        "-Wl,-soname,libhidden.so",
        "-o",
        "opt/other/libhidden.so",
        "hidden.c",
    ]);
    // One program finds libpriv through DT_RUNPATH, one through DT_RPATH,
    // both as $ORIGIN/../lib; libhidden only through --library-path.
    for (name, tags) in [
        ("runpath", "--enable-new-dtags"),
        ("rpath", "--disable-new-dtags"),
    ] {
        gcc(&[
            "-o",
            &format!("opt/app/bin/{name}"),
            "main.c",
            &format!("-Wl,{tags},-rpath,$ORIGIN/../lib"),
            "-Lopt/app/lib",
            "-Lopt/other",
            "-lpriv",
            "-lhidden",
        ]);
    }
    for name in ["runpath", "rpath"] {
        let bin = app.join("bin").join(name);
        let (run, out) = build_with(
            &d.join(name),
            &[
                "--bin".as_ref(),
                bin.as_os_str(),
                "--compress".as_ref(),
                "none".as_ref(),
            ],
        );
        assert_refused(&run, &out, &["libhidden.so", &bin.to_string_lossy()]);
        let (run, out) = build_with(
            &d.join(name),
            &[
                "--bin".as_ref(),
                bin.as_os_str(),
                "--library-path".as_ref(),
                other.as_os_str(),
                "--compress".as_ref(),
                "none".as_ref(),
            ],
        );
        run.assert_success();
        let listed: BTreeSet<String> = cpio_list(&out).into_iter().collect();
        for lib in [app.join("lib/libpriv.so"), other.join("libhidden.so")] {
            let rel = lib.to_string_lossy().trim_start_matches('/').to_owned();
            assert!(listed.contains(&rel), "{rel} not in {listed:?}");
        }
        if is_root() {
            let x = d.join(name).join("x");
            cpio_extract(&out, &x);
            let ran = RunOutput::run(
                Command::new(find_tool("chroot").unwrap())
                    .arg(&x)
                    .arg(&bin)
                    .env("LD_LIBRARY_PATH", &other)
                    // No /proc in the chroot: tell the loader what $ORIGIN is.
                    .env("LD_ORIGIN_PATH", app.join("bin")),
            );
            ran.assert_success();
            assert_eq!(ran.stdout, "14\n");
        }
    }
}

/// The kernel modules directory of the Debian kernel in /boot, if any.
fn debian_modules() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir("/lib/modules")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("modules.dep").is_file() && p.join("kernel").is_dir())
        .collect();
    dirs.sort();
    dirs.pop()
}

#[test]
fn modules_come_with_their_dependencies_in_kmod_order() {
    if !require_tool("cpio") || !require_tool("modprobe") {
        return;
    }
    let Some(modules) = debian_modules() else {
        eprintln!("SKIPPED: no kernel modules under /lib/modules (package linux-image-amd64)");
        return;
    };
    let version = modules.file_name().unwrap().to_string_lossy().into_owned();
    let wanted = ["virtio_pci", "virtio_blk", "ext4"];
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("initrd.cpio");
    let mut args: Vec<String> = vec![
        "-o".into(),
        img.to_string_lossy().into_owned(),
        "--kernel-modules".into(),
        modules.to_string_lossy().into_owned(),
        "--run".into(),
        "true".into(),
        "--compress".into(),
        "none".into(),
    ];
    if !Path::new("/bin/busybox").exists() {
        eprintln!("SKIPPED: no /bin/busybox (package busybox-static)");
        return;
    }
    for m in wanted {
        args.extend(["--module".into(), m.into()]);
    }
    initramfs(&args).assert_success();

    // kmod's modprobe decides what loads, and in which order.
    let mut order: Vec<String> = Vec::new();
    for m in wanted {
        let out = tool("modprobe")
            .args([
                "--dirname=/",
                &format!("--set-version={version}"),
                "--show-depends",
                m,
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "modprobe --show-depends {m}: {out:?}");
        for line in String::from_utf8(out.stdout).unwrap().lines() {
            let Some(path) = line.split_whitespace().nth(1) else {
                continue;
            };
            let path = path.replacen("//", "/", 1);
            if line.starts_with("insmod") && !order.contains(&path) {
                order.push(path);
            }
        }
    }
    let out = dir.path().join("out");
    cpio_extract(&img, &out);
    let script = fs::read_to_string(out.join("init")).unwrap();
    let loaded: Vec<String> = script
        .lines()
        .filter(|l| l.starts_with("load '"))
        .map(|l| l.split('\'').nth(3).unwrap().to_owned())
        .collect();
    assert_eq!(loaded, order, "load order differs from kmod's");

    let base = format!("lib/modules/{version}");
    let mut expected: BTreeSet<String> = order
        .iter()
        .map(|p| p.trim_start_matches('/').to_owned())
        .collect();
    for index in [
        "modules.dep",
        "modules.alias",
        "modules.softdep",
        "modules.symbols",
        "modules.order",
        "modules.devname",
        "modules.builtin",
        "modules.builtin.modinfo",
        "modules.builtin.bin",
        "modules.builtin.alias.bin",
    ] {
        if modules.join(index).exists() {
            expected.insert(format!("{base}/{index}"));
        }
    }
    let listed: BTreeSet<String> = cpio_list(&img)
        .into_iter()
        .filter(|p| p.starts_with(&format!("{base}/")))
        .filter(|p| !out.join(p).is_dir())
        .collect();
    assert_eq!(listed, expected);
    for path in &order {
        assert_eq!(
            fs::read(out.join(path.trim_start_matches('/'))).unwrap(),
            fs::read(path).unwrap()
        );
    }
    // The regenerated modules.dep has a line for each module and only them.
    let dep = fs::read_to_string(out.join(&base).join("modules.dep")).unwrap();
    let lines: BTreeSet<String> = dep
        .lines()
        .map(|l| format!("/{base}/{}", l.split(':').next().unwrap()))
        .collect();
    assert_eq!(lines, order.iter().cloned().collect());
}

// ---------------------------------------------------------------- bad input

/// Asserts a failed run that names `needles` and left no output behind.
fn assert_refused(run: &RunOutput, output: &Path, needles: &[&str]) {
    run.assert_failure();
    assert!(
        run.stderr.starts_with("blockimg: error: "),
        "{}",
        run.stderr
    );
    for needle in needles {
        run.assert_stderr_contains(needle);
    }
    assert!(!output.exists(), "{} was left behind", output.display());
    let dir = output.parent().unwrap();
    for entry in fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        assert!(!name.ends_with(".partial"), "temporary {name} left behind");
    }
}

/// Runs `blockimg initramfs` with `args`, a custom `/init` and an output in
/// a directory of its own; returns the run and the output path.
fn build_with(dir: &Path, args: &[&std::ffi::OsStr]) -> (RunOutput, PathBuf) {
    let out = dir.join("out").join("initrd.img");
    fs::create_dir_all(out.parent().unwrap()).unwrap();
    let init = init_script(dir);
    let mut all: Vec<&std::ffi::OsStr> = vec!["-o".as_ref(), out.as_os_str()];
    all.extend_from_slice(args);
    all.extend(["--init".as_ref(), init.as_os_str()]);
    let run = initramfs(all);
    (run, out)
}

fn bad_bin(dir: &Path, binary: &Path) -> (RunOutput, PathBuf) {
    build_with(dir, &["--bin".as_ref(), binary.as_os_str()])
}

#[test]
fn a_binary_that_is_not_elf_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("script.sh");
    fs::write(&script, "#!/bin/sh\necho hi\n").unwrap();
    let (run, out) = bad_bin(dir.path(), &script);
    assert_refused(&run, &out, &[&script.to_string_lossy(), "not an ELF"]);
}

#[test]
fn a_binary_for_another_architecture_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (name, class, machine, word) in [
        ("arm64-app", 2u8, 183u16, "aarch64"),
        ("i386-app", 1u8, 3u16, "32-bit"),
    ] {
        // A minimal ELF header: magic, class, little-endian, version,
        // ET_EXEC, the machine, version 1.
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = class;
        header[5] = 1;
        header[6] = 1;
        header[16..18].copy_from_slice(&2u16.to_le_bytes());
        header[18..20].copy_from_slice(&machine.to_le_bytes());
        header[20..24].copy_from_slice(&1u32.to_le_bytes());
        let bin = dir.path().join(name);
        fs::write(&bin, &header).unwrap();
        let (run, out) = bad_bin(dir.path(), &bin);
        assert_refused(&run, &out, &[&bin.to_string_lossy(), word]);
    }
}

#[test]
fn a_missing_library_is_refused_naming_binary_and_library() {
    if !require_tool("gcc") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::write(d.join("gone.c"), "int gone(void) { return 42; }\n").unwrap();
    fs::write(
        d.join("app.c"),
        "int gone(void);\nint main(void) { return gone() == 42 ? 0 : 1; }\n",
    )
    .unwrap();
    let gcc = |args: &[&str]| {
        let out = Command::new(find_tool("gcc").unwrap())
            .args(args)
            .current_dir(d)
            .output()
            .unwrap();
        assert!(out.status.success(), "gcc {args:?}: {out:?}");
    };
    gcc(&["-shared", "-fPIC", "-o", "libgone.so", "gone.c"]);
    gcc(&["-o", "app", "app.c", "-Wl,--no-as-needed", "-L.", "-lgone"]);
    fs::remove_file(d.join("libgone.so")).unwrap();
    let app = d.join("app");
    let (run, out) = bad_bin(d, &app);
    assert_refused(
        &run,
        &out,
        &[&app.to_string_lossy(), "libgone.so", "not found"],
    );
}

/// A hand-made modules directory.
fn modules_dir(dir: &Path, dep: &str) -> PathBuf {
    let modules = dir.join("modules/6.0.0-test");
    fs::create_dir_all(modules.join("kernel")).unwrap();
    fs::write(modules.join("modules.dep"), dep).unwrap();
    for line in dep.lines() {
        let path = line.split(':').next().unwrap();
        fs::write(modules.join(path), b"\x7fELF module").unwrap();
    }
    modules
}

fn bad_modules(dir: &Path, modules: &Path, name: &str) -> (RunOutput, PathBuf) {
    build_with(
        dir,
        &[
            "--kernel-modules".as_ref(),
            modules.as_os_str(),
            "--module".as_ref(),
            name.as_ref(),
        ],
    )
}

#[test]
fn a_module_not_in_the_tree_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let modules = modules_dir(dir.path(), "kernel/a.ko:\n");
    let (run, out) = bad_modules(dir.path(), &modules, "nosuch_module");
    assert_refused(&run, &out, &["nosuch_module", &modules.to_string_lossy()]);
}

#[test]
fn a_cycle_in_modules_dep_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let modules = modules_dir(
        dir.path(),
        "kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/c.ko\nkernel/c.ko: kernel/a.ko\n",
    );
    let (run, out) = bad_modules(dir.path(), &modules, "b");
    assert_refused(&run, &out, &["cycle", "b -> c -> a -> b"]);
}

#[test]
fn an_existing_output_is_kept_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("initrd.img");
    fs::write(&out, b"keep me").unwrap();
    let init = init_script(dir.path());
    let run = initramfs([
        "-o".as_ref(),
        out.as_os_str(),
        "--init".as_ref(),
        init.as_os_str(),
    ]);
    run.assert_failure().assert_stderr_contains("--force");
    assert_eq!(fs::read(&out).unwrap(), b"keep me");
    initramfs([
        "-o".as_ref(),
        out.as_os_str(),
        "--init".as_ref(),
        init.as_os_str(),
        "--force".as_ref(),
    ])
    .assert_success();
    assert_ne!(fs::read(&out).unwrap(), b"keep me");
}

// ------------------------------------------------------------------ boot

/// Boots `kernel` with `initrd` and `disk` under QEMU (TCG) and returns what
/// the serial console printed.
fn boot(kernel: &Path, initrd: &Path, disk: &Path, append: &str, log: &Path) -> String {
    let args: Vec<std::ffi::OsString> = vec![
        "-kernel".into(),
        kernel.into(),
        "-initrd".into(),
        initrd.into(),
        "-append".into(),
        format!("console=ttyS0 panic=-1 {append}").into(),
        "-drive".into(),
        format!("file={},format=raw,if=virtio", disk.display()).into(),
    ];
    run_qemu(&args, log)
}

#[test]
fn boots_a_debian_kernel_loads_modules_and_switches_to_the_disk() {
    let Some(BootKit {
        kernel,
        modules,
        busybox,
    }) = boot_kit()
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    // The disk: a marker file and an init that prints it and powers off.
    let marker = format!("disk-marker-{}", std::process::id());
    let root = marker_root(d, &busybox, &marker);
    let disk = d.join("disk.img");
    let made = mkdisk([
        "--size".as_ref(),
        "64M".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        disk.as_os_str(),
    ]);
    made.assert_success();
    let partuuid = made
        .stdout
        .split_whitespace()
        .skip_while(|w| *w != "PARTUUID")
        .nth(1)
        .expect("mkdisk prints the PARTUUID")
        .to_uppercase();

    let modules_arg = |args: &mut Vec<String>| {
        args.extend([
            "--kernel-modules".into(),
            modules.to_string_lossy().into_owned(),
        ]);
        for m in ["virtio_pci", "virtio_blk", "ext4"] {
            args.extend(["--module".into(), m.into()]);
        }
    };

    // Boot 1: the generated /init finds root=PARTUUID=, mounts it and
    // switches to the disk's init.
    let initrd = d.join("initrd.img");
    let mut args = vec!["-o".to_string(), initrd.to_string_lossy().into_owned()];
    modules_arg(&mut args);
    initramfs(&args).assert_success();
    let console = boot(
        &kernel,
        &initrd,
        &disk,
        &format!("root=PARTUUID={partuuid}"),
        &d.join("boot1.log"),
    );
    for want in [
        "blockimg-init: started".to_string(),
        "blockimg-init: switching to /sbin/init on /dev/vda1".to_string(),
        format!("ROOT: {marker}"),
    ] {
        assert!(
            console.contains(&want),
            "no {want:?} on the console:\n{console}"
        );
    }

    // Boot 2: --run mounts the disk found by filesystem UUID and prints the
    // marker, then the machine powers off. The archive also carries a file
    // under two names (data on the last one): the kernel's unpacker must
    // make them one file holding the data.
    let extra = d.join("extra");
    fs::create_dir_all(extra.join("data")).unwrap();
    fs::write(extra.join("data/a"), format!("linked-{marker}\n")).unwrap();
    fs::hard_link(extra.join("data/a"), extra.join("data/b")).unwrap();
    let uuid = made
        .stdout
        .split_whitespace()
        .skip_while(|w| *w != "UUID")
        .nth(1)
        .expect("mkdisk prints the UUID")
        .trim_end_matches(',')
        .to_owned();
    let initrd = d.join("initrd-run.img");
    let mut args = vec![
        "-o".to_string(),
        initrd.to_string_lossy().into_owned(),
        "--compress".into(),
        "zstd".into(),
        "--root".into(),
        extra.to_string_lossy().into_owned(),
        "--run".into(),
        format!(
            "mkdir -p /mnt && mount -t ext4 -o ro \"$(findfs UUID={uuid})\" /mnt && \
             echo \"RUN: $(cat /mnt/marker)\" && [ /data/a -ef /data/b ] && \
             echo \"LINKED: $(cat /data/a)\""
        ),
    ];
    modules_arg(&mut args);
    initramfs(&args).assert_success();
    let console = boot(&kernel, &initrd, &disk, "", &d.join("boot2.log"));
    for want in [
        "blockimg-init: started".to_string(),
        format!("RUN: {marker}"),
        format!("LINKED: linked-{marker}"),
        "blockimg-init: command exited with status 0".to_string(),
    ] {
        assert!(
            console.contains(&want),
            "no {want:?} on the console:\n{console}"
        );
    }
}

// -------------------------------------------------------------- proptest

#[derive(Clone, Debug)]
enum Spec {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    HardLink(usize),
    Fifo,
    Device(bool, u32, u32),
}

#[derive(Clone, Debug)]
struct NodeSpec {
    parent: usize,
    name: String,
    spec: Spec,
    perm: u16,
    owner: (u32, u32),
    mtime: i64,
}

fn node_spec() -> impl Strategy<Value = NodeSpec> {
    let spec = prop_oneof![
        2 => Just(Spec::Dir),
        4 => proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Spec::File),
        1 => "[a-z./]{1,40}".prop_map(Spec::Symlink),
        2 => any::<usize>().prop_map(Spec::HardLink),
        1 => Just(Spec::Fifo),
        1 => (any::<bool>(), 0u32..4096, 0u32..1_000_000).prop_map(|(b, ma, mi)| Spec::Device(b, ma, mi)),
    ];
    (
        any::<usize>(),
        "[a-zA-Z0-9_.-]{1,20}",
        spec,
        0u16..0o7777,
        (0u32..70_000, 0u32..70_000),
        0i64..=u32::MAX as i64 + 1000,
    )
        .prop_map(|(parent, name, spec, perm, owner, mtime)| NodeSpec {
            parent,
            name,
            spec,
            perm,
            owner,
            mtime,
        })
        .prop_filter("not . or ..", |n| n.name != "." && n.name != "..")
}

/// Builds the tree and, independently of the archive writer, the model a
/// reader of its extraction should see (times clamped to `clamp`).
fn build_tree(specs: &[NodeSpec], root_user: bool, clamp: i64) -> (Tree, Model) {
    let meta = |perm: u16, owner: (u32, u32), mtime: i64| Metadata {
        permissions: perm,
        uid: if root_user { owner.0 } else { 0 },
        gid: if root_user { owner.1 } else { 0 },
        mtime: Timestamp::from_secs(mtime),
        ..Default::default()
    };
    let mut tree = Tree::new(meta(0o755, (0, 0), 1000));
    let mut dirs: Vec<(NodeId, String)> = vec![(Tree::ROOT, String::new())];
    let mut files: Vec<NodeId> = Vec::new();
    let mut paths: std::collections::BTreeMap<String, NodeId> = Default::default();
    for s in specs {
        let (parent, parent_path) = dirs[s.parent % dirs.len()].clone();
        if tree
            .entries(parent)
            .unwrap()
            .contains_key(s.name.as_bytes())
        {
            continue;
        }
        let path = format!("{parent_path}/{}", s.name);
        // Keep the owner able to write and enter, so extraction as a user
        // works; no setuid/setgid without root.
        let mut perm = s.perm;
        if !root_user {
            perm &= 0o1777;
        }
        let kind = match &s.spec {
            Spec::Dir => NodeKind::Directory(Default::default()),
            Spec::File(bytes) => NodeKind::File(FileContent::from_bytes(bytes.clone())),
            Spec::Symlink(t) => NodeKind::Symlink(t.clone().into_bytes()),
            Spec::Fifo => NodeKind::Fifo,
            Spec::Device(_, _, _) if !root_user => NodeKind::Fifo,
            Spec::Device(block, major, minor) => {
                if *block {
                    NodeKind::BlockDevice {
                        major: *major,
                        minor: *minor,
                    }
                } else {
                    NodeKind::CharDevice {
                        major: *major,
                        minor: *minor,
                    }
                }
            }
            Spec::HardLink(i) => {
                if files.is_empty() {
                    continue;
                }
                let target = files[i % files.len()];
                tree.link(parent, s.name.as_bytes(), target).unwrap();
                paths.insert(path, target);
                continue;
            }
        };
        let is_dir = matches!(kind, NodeKind::Directory(_));
        let perm = match kind {
            NodeKind::Directory(_) => perm | 0o700,
            NodeKind::Symlink(_) => 0o777,
            _ => perm | 0o600,
        };
        let id = tree
            .add(
                parent,
                s.name.as_bytes(),
                Node::new(meta(perm, s.owner, s.mtime), kind),
            )
            .unwrap();
        paths.insert(path.clone(), id);
        if is_dir {
            dirs.push((id, path));
        } else if matches!(s.spec, Spec::File(_)) {
            files.push(id);
        }
    }
    let mut model = Model::default();
    let mut identity = std::collections::BTreeMap::new();
    for (path, &id) in std::iter::once((&String::from("/"), &Tree::ROOT)).chain(paths.iter()) {
        let node = tree.node(id);
        let kind = match &node.kind {
            NodeKind::File(_) => Kind::File,
            NodeKind::Directory(_) => Kind::Dir,
            NodeKind::Symlink(_) => Kind::Symlink,
            NodeKind::CharDevice { .. } => Kind::CharDev,
            NodeKind::BlockDevice { .. } => Kind::BlockDev,
            NodeKind::Fifo => Kind::Fifo,
            NodeKind::Socket => Kind::Socket,
        };
        let (size, content, target, rdev) = match &node.kind {
            NodeKind::File(c) => {
                let bytes = match &c.source {
                    blockimg::tree::DataSource::Memory(b) => b.to_vec(),
                    _ => unreachable!(),
                };
                let mut digest = ContentDigest::new();
                digest.update(&bytes);
                (Some(c.size), Some(digest.finish()), None, None)
            }
            NodeKind::Symlink(t) => (Some(t.len() as u64), None, Some(t.clone()), None),
            NodeKind::CharDevice { major, minor } | NodeKind::BlockDevice { major, minor } => {
                (Some(0), None, None, Some((*major, *minor)))
            }
            NodeKind::Directory(_) => (None, None, None, None),
            _ => (Some(0), None, None, None),
        };
        let mtime = (node.meta.mtime.secs.min(clamp).min(u32::MAX as i64), 0);
        identity.insert(path.as_bytes().to_vec(), id);
        model.entries.insert(
            path.as_bytes().to_vec(),
            Entry {
                kind,
                perm: node.meta.permissions,
                uid: node.meta.uid,
                gid: node.meta.gid,
                size,
                content,
                target,
                mtime,
                nlink: None,
                rdev,
                link_group: None,
                xattrs: None,
            },
        );
    }
    assign_link_groups(&mut model, &identity);
    (tree, model)
}

#[test]
fn proptest_random_trees_extract_equal_with_gnu_cpio() {
    if !require_tool("cpio") {
        return;
    }
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: Some(Box::new(FileFailurePersistence::Off)),
        ..Config::default()
    });
    let root_user = is_root();
    let result = runner.run(
        &(
            proptest::collection::vec(node_spec(), 0..60),
            0i64..5_000_000_000,
        ),
        |(specs, clamp)| {
            let (tree, expected) = build_tree(&specs, root_user, clamp);
            let options = NewcOptions {
                clamp_mtime: Some(clamp),
            };
            let (bytes, len) = write_newc(&tree, &options, Vec::new())
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(len as usize, bytes.len());
            let dir = tempfile::tempdir().unwrap();
            let archive = dir.path().join("a.cpio");
            fs::write(&archive, &bytes).unwrap();
            let out = dir.path().join("x");
            fs::create_dir(&out).unwrap();
            let run = tool("cpio")
                .args(["-idm", "--quiet", "--no-absolute-filenames"])
                .current_dir(&out)
                .stdin(fs::File::open(&archive).unwrap())
                .output()
                .unwrap();
            prop_assert!(run.status.success(), "cpio -idm: {:?}", run);
            let mut actual = host::walk(&out);
            times_from_bsdtar(&archive, &expected, &mut actual);
            for (path, entry) in actual.entries.iter_mut() {
                entry.nlink = None;
                entry.xattrs = None;
                if !root_user {
                    // Only root restores owners; a user owns what it extracts.
                    (entry.uid, entry.gid) = (0, 0);
                }
                if path.as_slice() == b"/" {
                    // GNU cpio sets the mode of `.`, not its owner or time.
                    let root = expected.get("/");
                    (entry.uid, entry.gid, entry.mtime) = (root.uid, root.gid, root.mtime);
                }
            }
            let cmp = Compare {
                nanos: false,
                xattrs: false,
                ..Compare::strict()
            };
            let diff = expected.diff(&actual, &cmp);
            prop_assert!(diff.is_empty(), "{}", diff.join("\n"));
            Ok(())
        },
    );
    if let Err(e) = result {
        panic!("{e}");
    }
}
