//! `blockimg ls`, `cat` and `get` against `debugfs` (inode fields of each
//! listed entry) and the host tree an image was built from (bytes of every
//! file, and the whole tree copied back out), on blockimg's images and on
//! one made by `mke2fs -d` inside an sfdisk table.

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use blockimg_tests::fixture::{build_rich_tree, FixtureOptions};
use blockimg_tests::model::Compare;
use blockimg_tests::tools::{sfdisk_create, show};
use blockimg_tests::{
    blockimg_cmd, debugfs_stat, host, mkdisk, require_e2fsprogs, require_tool, RunOutput,
    PART_OFFSET,
};

/// A host tree small enough to list and copy quickly.
fn source(root: &Path) {
    build_rich_tree(
        root,
        &FixtureOptions {
            big_dir_entries: 300,
            large_file_bytes: 1024 * 1024 + 5,
            long_symlink: 200,
            ..FixtureOptions::default()
        },
    );
}

/// Runs blockimg with raw output.
fn run_raw(args: &[&std::ffi::OsStr]) -> std::process::Output {
    blockimg_cmd().args(args).output().unwrap()
}

/// Every line of `blockimg ls -l IMG DIR` agrees with `debugfs stat` of
/// the entry it names: mode, links, owner, size or device, mtime with ns.
fn check_listing(img: &Path, offset: u64, dir: &str) {
    let out = run_raw(&["ls".as_ref(), img.as_os_str(), dir.as_ref(), "-l".as_ref()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let mut seen = 0;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let device = fields[4].ends_with(',');
        let (size_end, name_at) = if device { (6, 9) } else { (5, 8) };
        let name = fields[name_at];
        if name == "." || name == ".." {
            continue;
        }
        let path = format!("{}/{name}", dir.trim_end_matches('/'));
        let stat = debugfs_stat(img, offset, &path);
        let mode = blockimg::browse::ls::mode_string(mode_bits(&stat.kind) | stat.mode);
        assert_eq!(fields[0], mode, "{line}");
        assert_eq!(fields[1], stat.links.to_string(), "{line}");
        assert_eq!(fields[2], stat.uid.to_string(), "{line}");
        assert_eq!(fields[3], stat.gid.to_string(), "{line}");
        match stat.device {
            Some((major, minor)) => {
                assert_eq!(fields[4..size_end].join(" "), format!("{major}, {minor}"))
            }
            None => assert_eq!(fields[4], stat.size.to_string(), "{line}"),
        }
        let (secs, nanos) = stat.mtime.unwrap();
        let expected = blockimg::browse::ls::full_iso(blockimg::tree::Timestamp { secs, nanos });
        assert_eq!(fields[size_end..size_end + 3].join(" "), expected, "{line}");
        seen += 1;
    }
    assert!(seen > 0, "nothing listed in {dir}:\n{text}");
}

fn mode_bits(kind: &str) -> u16 {
    match kind {
        "regular" => 0o100000,
        "directory" => 0o040000,
        "symlink" => 0o120000,
        "character special" => 0o020000,
        "block special" => 0o060000,
        "FIFO" => 0o010000,
        "socket" => 0o140000,
        other => panic!("debugfs type {other}"),
    }
}

/// `cat` of every regular file under `host_root` gives its bytes.
fn check_cat(img_spec: &std::ffi::OsStr, host_root: &Path) {
    let model = host::walk(host_root);
    let mut checked = 0;
    for (path, entry) in &model.entries {
        if entry.kind != blockimg_tests::model::Kind::File {
            continue;
        }
        let out = run_raw(&["cat".as_ref(), img_spec, std::ffi::OsStr::from_bytes(path)]);
        assert!(
            out.status.success(),
            "cat {}: {}",
            show(path),
            String::from_utf8_lossy(&out.stderr)
        );
        let host_path = host_root.join(std::ffi::OsStr::from_bytes(&path[1..]));
        assert_eq!(
            out.stdout,
            std::fs::read(&host_path).unwrap(),
            "cat {}",
            show(path)
        );
        checked += 1;
    }
    assert!(checked > 0);
}

#[test]
fn ls_cat_and_get_agree_with_debugfs_and_the_source() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    source(&src);
    // get skips sockets (nothing can recreate a listening socket).
    let _ = std::fs::remove_file(src.join("special/socket"));
    let img = tmp.path().join("disk.img");
    mkdisk([
        "--size".as_ref(),
        "64M".as_ref(),
        "--root".as_ref(),
        src.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    for dir in ["/", "/special", "/links", "/files", "/dirs"] {
        if src.join(dir.trim_start_matches('/')).is_dir() {
            check_listing(&img, PART_OFFSET, dir);
        }
    }
    check_cat(img.as_os_str(), &src);

    // A symlink is followed by cat, listed as itself by ls.
    let out = run_raw(&[
        "ls".as_ref(),
        img.as_os_str(),
        "/links/sym-long".as_ref(),
        "-l".as_ref(),
    ]);
    assert!(String::from_utf8_lossy(&out.stdout).contains(" -> "));

    // get copies the whole tree back: same model as the source.
    let dest = tmp.path().join("out");
    let out = RunOutput::run(blockimg_cmd().arg("get").arg(&img).arg("/").arg(&dest));
    out.assert_success();
    // Only the image's lost+found is extra.
    host::walk(&src).assert_same(
        &host::walk(&dest),
        &Compare::default(),
        "get / of the image",
    );

    // An existing destination is refused, then replaced with --force.
    let file = tmp.path().join("one");
    std::fs::write(&file, b"old").unwrap();
    RunOutput::run(
        blockimg_cmd()
            .arg("get")
            .arg(&img)
            .arg("/files/large")
            .arg(&file),
    )
    .assert_failure()
    .assert_stderr_contains("already exists");
    RunOutput::run(
        blockimg_cmd()
            .args(["get", "--force"])
            .arg(&img)
            .arg("/files/large")
            .arg(&file),
    )
    .assert_success();
    assert_eq!(
        std::fs::read(&file).unwrap(),
        std::fs::read(src.join("files/large")).unwrap()
    );

    // cat refuses a directory; ls and cat name a missing path.
    RunOutput::run(blockimg_cmd().arg("cat").arg(&img).arg("/dirs"))
        .assert_failure()
        .assert_stderr_contains("is not a regular file");
    for cmd in ["ls", "cat"] {
        RunOutput::run(blockimg_cmd().arg(cmd).arg(&img).arg("/no/such"))
            .assert_failure()
            .assert_stderr_contains("no /no/such");
    }
}

#[test]
fn an_image_made_by_sfdisk_and_mke2fs_is_browsed() {
    if !require_e2fsprogs() || !require_tool("sfdisk") || !require_tool("mke2fs") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/hostname"), b"made-by-mke2fs\n").unwrap();
    std::fs::write(src.join("data"), vec![7u8; 300_000]).unwrap();
    let img = tmp.path().join("disk.img");
    sfdisk_create(
        &img,
        48 << 20,
        "label: dos\nstart=2048, size=16384, type=b\nstart=18432, type=83\n",
    );
    let offset = 18432 * 512;
    let status = Command::new("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-E"])
        .arg(format!("offset={offset}"))
        .arg("-d")
        .arg(&src)
        .arg(&img)
        .arg("30M")
        .status()
        .unwrap();
    assert!(status.success());
    // Partition 1 holds no filesystem: asking for it is refused.
    let mut spec = img.as_os_str().to_owned();
    spec.push(":1");
    RunOutput::run(blockimg_cmd().arg("ls").arg(&spec).arg("/"))
        .assert_failure()
        .assert_stderr_contains("holds no ext4");
    let mut spec = img.as_os_str().to_owned();
    spec.push(":9");
    RunOutput::run(blockimg_cmd().arg("ls").arg(&spec).arg("/"))
        .assert_failure()
        .assert_stderr_contains("no partition 9");
    // The default is the Linux partition.
    check_listing(&img, offset, "/");
    check_listing(&img, offset, "/etc");
    let mut spec = img.as_os_str().to_owned();
    spec.push(":2");
    check_cat(&spec, &src);
    let names = RunOutput::run(blockimg_cmd().arg("ls").arg(&img).arg("/"));
    names.assert_success();
    let listed: BTreeMap<&str, ()> = names.stdout.lines().map(|l| (l, ())).collect();
    assert!(
        listed.contains_key("etc") && listed.contains_key("lost+found"),
        "{}",
        names.stdout
    );
}

#[test]
fn vhd_vmdk_and_qcow2_images_are_read_in_place_and_never_changed() {
    if !require_e2fsprogs() || !blockimg_tests::qemu::require_qemu_img() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    source(&src);
    let raw = tmp.path().join("disk.img");
    mkdisk([
        "-q".as_ref(),
        "--size".as_ref(),
        "64M".as_ref(),
        "--table".as_ref(),
        "gpt".as_ref(),
        "--root".as_ref(),
        src.as_os_str(),
        raw.as_os_str(),
    ])
    .assert_success();
    let listing = |image: &Path| {
        let run = RunOutput::run(blockimg_cmd().arg("ls").arg("-l").arg(image).arg("/dirs"));
        run.assert_success();
        run.stdout
    };
    let inspected = |image: &Path| {
        let run = RunOutput::run(blockimg_cmd().arg("inspect").arg("--json").arg(image));
        run.assert_success();
        let mut json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let format = json["format"].as_str().unwrap().to_string();
        json["image"] = serde_json::Value::Null;
        json["format"] = serde_json::Value::Null;
        (format, json)
    };
    let got = |image: &Path, name: &str| {
        let out = tmp.path().join(format!("out-{name}"));
        RunOutput::run(blockimg_cmd().arg("get").arg(image).arg("/").arg(&out)).assert_success();
        host::walk(&out)
    };
    let (raw_format, raw_report) = inspected(&raw);
    assert_eq!(raw_format, "raw");
    let raw_tree = got(&raw, "raw");
    let mountpoint = tmp.path().join("mnt");
    std::fs::create_dir(&mountpoint).unwrap();
    for (name, qemu_format, format) in [
        ("disk.vhd", "vpc -o force_size=on", "vhd"),
        ("disk.vmdk", "vmdk", "vmdk (monolithicSparse)"),
        ("stream.vmdk", "vmdk -o subformat=streamOptimized", "vmdk"),
        ("disk.qcow2", "qcow2", "qcow2"),
    ] {
        let image = tmp.path().join(name);
        let mut args: Vec<&str> = vec!["convert", "-O"];
        args.extend(qemu_format.split(' '));
        let status = Command::new("qemu-img")
            .args(&args)
            .arg(&raw)
            .arg(&image)
            .status()
            .unwrap();
        assert!(status.success(), "qemu-img convert -O {qemu_format}");
        let before = std::fs::read(&image).unwrap();

        // Read in place: the same report, listing, bytes and tree as the
        // raw disk (itself checked against debugfs and the source above).
        let (found, report) = inspected(&image);
        assert_eq!(found, format, "{name}");
        assert_eq!(
            report, raw_report,
            "{name}: inspect differs from the raw disk's"
        );
        assert_eq!(listing(&image), listing(&raw), "{name}: ls -l differs");
        check_cat(image.as_os_str(), &src);
        raw_tree.assert_same(&got(&image, name), &Compare::default(), name);

        // Changing needs a raw image: refused, naming the format and the way out.
        let hostname = Path::new("/etc/hostname");
        let commands: [&[&std::ffi::OsStr]; 2] = [
            &[
                "add".as_ref(),
                image.as_os_str(),
                hostname.as_os_str(),
                "/h".as_ref(),
            ],
            &["mount".as_ref(), image.as_os_str(), mountpoint.as_os_str()],
        ];
        for args in commands {
            RunOutput::run(blockimg_cmd().args(args))
                .assert_failure()
                .assert_stderr_contains(name)
                .assert_stderr_contains(&format!("a {format} image"))
                .assert_stderr_contains("`blockimg convert` it to raw first");
        }
        assert_eq!(std::fs::read(&image).unwrap(), before, "{name} was changed");
    }
}

#[test]
fn ls_and_cat_into_a_reader_that_stops_early_succeed() {
    use std::io::Read;
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    std::fs::create_dir_all(root.join("many")).unwrap();
    // More than a pipe buffer of listing, and of file data.
    for i in 0..3000 {
        std::fs::write(
            root.join(format!("many/a-rather-long-file-name-{i:05}")),
            "",
        )
        .unwrap();
    }
    std::fs::write(root.join("big"), vec![b'x'; 1 << 20]).unwrap();
    let img = tmp.path().join("disk.img");
    mkdisk([
        "--size".as_ref(),
        "64M".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    for args in [["ls", "-l", "/many"], ["cat", "/big", ""]] {
        let mut cmd = blockimg_cmd();
        cmd.arg(args[0])
            .arg(&img)
            .args(args[1..].iter().filter(|a| !a.is_empty()));
        let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut first = [0u8; 100];
        child.stdout.take().unwrap().read_exact(&mut first).unwrap();
        // The pipe's reader is gone (as with `| head -c 100`).
        let status = child.wait().unwrap();
        assert!(status.success(), "blockimg {args:?} | head: {status}");
    }
}
