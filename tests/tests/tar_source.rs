//! Tar archives as a source, judged against GNU tar: the archive extracted
//! by `tar -x` as root and the image built from the same archive must hold
//! the same tree (owners, modes, device numbers, times, links, content).

use std::path::Path;
use std::process::Command;

use blockimg::image::DiskSize;
use blockimg::tree::Timestamp;
use blockimg::{DiskBuilder, Output, Silent, Source};
use blockimg_tests::fixture::{self, FixtureOptions};
use blockimg_tests::image::image_model;
use blockimg_tests::model::Compare;
use blockimg_tests::{e2fsck_clean, host, is_root, require_e2fsprogs, require_tool, PART_OFFSET};

/// Streams the archive `input` into a 512 MiB raw disk at `img`.
fn build_from_stream(
    input: impl std::io::Read + Send + 'static,
    name: &str,
    img: &Path,
) -> blockimg::Result<blockimg::image::ImageSummary> {
    let built = DiskBuilder::new(Source::reader(input, name))
        .size(DiskSize::Exact(512 << 20))
        .write(Output::file(img), &mut Silent)?;
    Ok(built.summary)
}

fn gnu_tar(args: &[&std::ffi::OsStr], dir: &Path) {
    let status = Command::new("tar")
        .args(args)
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success(), "tar {args:?} failed");
}

/// Builds an image from `archive` (read as a stream) and checks it against
/// the tree `tar -x` makes of the same archive.
fn check_archive(archive: &Path, tmp: &Path) {
    let img = tmp.join(format!(
        "{}.img",
        archive.file_name().unwrap().to_string_lossy()
    ));
    let input = std::fs::File::open(archive).unwrap();
    let summary = build_from_stream(input, &archive.display().to_string(), &img).unwrap();
    assert_eq!(summary.partition_offset, PART_OFFSET);
    e2fsck_clean(&img, PART_OFFSET);

    let extracted = tmp.join(format!(
        "{}.x",
        archive.file_name().unwrap().to_string_lossy()
    ));
    std::fs::create_dir(&extracted).unwrap();
    gnu_tar(
        &[
            "-xpf".as_ref(),
            archive.as_os_str(),
            "--xattrs".as_ref(),
            "--xattrs-include=*".as_ref(),
            "--numeric-owner".as_ref(),
        ],
        &extracted,
    );
    let expected = host::walk(&extracted);
    let actual = image_model(&img, PART_OFFSET);
    let cmp = Compare {
        allow_lost_found: true,
        ..Compare::default()
    };
    expected.assert_same(&actual, &cmp, "image from the archive vs tar -x");
}

#[test]
fn archives_in_every_compression_match_gnu_tar_extraction() {
    if !require_e2fsprogs() || !require_tool("tar") {
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED: extracting owners and device nodes with tar -x needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fx = fixture::build_rich_tree(&tmp.path().join("src"), &FixtureOptions::default());
    let tar_path = tmp.path().join("rootfs.tar");
    gnu_tar(
        &[
            "--xattrs".as_ref(),
            "--xattrs-include=*".as_ref(),
            "--format=posix".as_ref(),
            "-cpf".as_ref(),
            tar_path.as_os_str(),
            ".".as_ref(),
        ],
        &fx.root,
    );
    check_archive(&tar_path, tmp.path());
    for (tool, ext) in [("gzip", "gz"), ("xz", "xz"), ("zstd", "zst")] {
        if !require_tool(tool) {
            continue;
        }
        let compressed = tmp.path().join(format!("rootfs.tar.{ext}"));
        let out = std::fs::File::create(&compressed).unwrap();
        let status = Command::new(tool)
            .arg("-c")
            .arg(&tar_path)
            .stdout(out)
            .status()
            .unwrap();
        assert!(status.success());
        check_archive(&compressed, tmp.path());
    }
    let _ = Timestamp::default();
}

#[test]
fn a_truncated_archive_is_an_error_and_leaves_no_image() {
    if !require_tool("tar") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("big"), fixture::pseudo_random_bytes(1, 300_000)).unwrap();
    let tar_path = tmp.path().join("t.tar");
    gnu_tar(&["-cf".as_ref(), tar_path.as_os_str(), ".".as_ref()], &src);
    let bytes = std::fs::read(&tar_path).unwrap();
    let img = tmp.path().join("disk.img");
    let err = build_from_stream(
        std::io::Cursor::new(bytes[..100_000].to_vec()),
        "t.tar",
        &img,
    )
    .unwrap_err();
    assert!(err.to_string().contains("t.tar"), "{err}");
    assert!(!img.exists(), "a partial image was left behind");
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
}
