//! Sparse members as GNU tar writes them with `--sparse` (old GNU format and
//! PAX sparse 1.0) keep their holes in the image, and damaged xz and zstd
//! streams are refused like damaged gzip ones.

use std::fs;
use std::path::Path;
use std::process::Command;

use blockimg_tests::fixture::write_sparse;
use blockimg_tests::image::image_model;
use blockimg_tests::model::Compare;
use blockimg_tests::{
    debugfs_stat, e2fsck_clean, host, mkdisk, require_e2fsprogs, require_tool, PART_OFFSET,
};

fn tar(args: &[&std::ffi::OsStr], dir: &Path) {
    let status = Command::new("tar")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "tar {args:?}");
}

#[test]
fn sparse_members_keep_their_holes() {
    if !require_e2fsprogs() || !require_tool("tar") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    let chunks = vec![
        (0u64, b"head".to_vec()),
        (40 << 20, vec![7u8; 70_000]),
        ((100 << 20) - 5, b"tail!".to_vec()),
    ];
    write_sparse(&src.join("sparse"), 100 << 20, &chunks).unwrap();
    fs::write(src.join("plain"), b"plain file\n").unwrap();
    for (format, extra) in [("gnu", None), ("posix", Some("--sparse-version=1.0"))] {
        let archive = tmp.path().join(format!("{format}.tar"));
        let mut args: Vec<&std::ffi::OsStr> =
            vec!["--sparse".as_ref(), "--format".as_ref(), format.as_ref()];
        if let Some(extra) = extra {
            args.push(extra.as_ref());
        }
        args.extend(["-cf".as_ref(), archive.as_os_str(), ".".as_ref()]);
        tar(&args, &src);
        // The archive itself stores the data only, not 100 MiB of zeros.
        assert!(
            fs::metadata(&archive).unwrap().len() < 1 << 20,
            "{format}: tar stored the holes"
        );
        let img = tmp.path().join(format!("{format}.img"));
        mkdisk([
            "--size".as_ref(),
            "64M".as_ref(),
            "--root".as_ref(),
            archive.as_os_str(),
            img.as_os_str(),
        ])
        .assert_success();
        e2fsck_clean(&img, PART_OFFSET);
        let stat = debugfs_stat(&img, PART_OFFSET, "/sparse");
        assert_eq!(stat.size, 100 << 20, "{format}");
        assert!(
            stat.blockcount * 512 < 1 << 20,
            "{format}: holes were allocated: {stat:?}"
        );
        let expected = host::walk(&src);
        let actual = image_model(&img, PART_OFFSET);
        // The GNU format records whole seconds; PAX records nanoseconds.
        let cmp = Compare {
            allow_lost_found: true,
            nanos: format == "posix",
            ..Compare::default()
        };
        // The extraction directory's own time is not in the archive's
        // control; compare the files.
        let files = |m: &blockimg_tests::model::Model| {
            m.entries
                .iter()
                .filter(|(p, _)| p.as_slice() != b"/")
                .map(|(p, e)| (p.clone(), e.clone()))
                .collect::<std::collections::BTreeMap<_, _>>()
        };
        let mut e = expected.clone();
        let mut a = actual.clone();
        e.entries = files(&expected);
        a.entries = files(&actual);
        e.assert_same(&a, &cmp, format);
    }
}

#[test]
fn damaged_xz_and_zstd_streams_are_refused() {
    for tool in ["xz", "zstd"] {
        if !require_tool(tool) || !require_tool("tar") {
            continue;
        }
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir(&src).unwrap();
        fs::write(
            src.join("data"),
            blockimg_tests::fixture::pseudo_random_bytes(3, 200_000),
        )
        .unwrap();
        let archive = tmp.path().join("a.tar");
        tar(&["-cf".as_ref(), archive.as_os_str(), ".".as_ref()], &src);
        let out = Command::new(tool).arg("-c").arg(&archive).output().unwrap();
        assert!(out.status.success());
        let mut bytes = out.stdout;
        let mid = bytes.len() / 2;
        bytes[mid..mid + 32].fill(0x5A);
        let bad = tmp.path().join(format!("bad.tar.{tool}"));
        fs::write(&bad, &bytes).unwrap();
        let img = tmp.path().join("disk.img");
        mkdisk([
            "--size".as_ref(),
            "64M".as_ref(),
            "--root".as_ref(),
            bad.as_os_str(),
            img.as_os_str(),
        ])
        .assert_failure()
        .assert_stderr_contains("bad.tar");
        assert!(!img.exists(), "{tool}: an image was left behind");
        let left: Vec<_> = fs::read_dir(tmp.path()).unwrap().collect();
        assert_eq!(left.len(), 3, "{tool}: temporary files left behind");
    }
}
