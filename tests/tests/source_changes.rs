//! The source changes between the scan and the copy: the build stops with an
//! error naming the file, and nothing is left behind.

use blockimg::error::SourceError;
use std::fs;

use blockimg::image::{build_image, DiskSize, ImageOptions, PartitionTable};
use blockimg::Error;

#[test]
fn a_file_that_grows_after_the_scan_stops_the_build() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("log"), b"first line\n").unwrap();
    fs::write(src.join("other"), b"unchanged\n").unwrap();
    let tree = blockimg::source::dir::scan(&src).unwrap();
    // Another process appends to the file before it is copied.
    fs::write(src.join("log"), b"first line\nsecond line\n").unwrap();
    let out = tmp.path().join("out");
    fs::create_dir(&out).unwrap();
    let img = out.join("disk.img");
    let options = ImageOptions::default()
        .size(DiskSize::Exact(64 << 20))
        .table(PartitionTable::Mbr)
        .boot_partitions(Default::default())
        .ext4(Default::default())
        .overwrite(false);
    let err = build_image(&tree, &options, &img).unwrap_err();
    assert!(
        matches!(err, Error::Source(SourceError::Changed { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("log"), "{err}");
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        0,
        "something was left behind"
    );
}
