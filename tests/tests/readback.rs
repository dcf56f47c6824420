//! A rich host tree through `blockimg mkdisk --root`, read back by e2fsck,
//! ext4-view and debugfs and compared with the host.

use std::ffi::OsStr;
use std::path::Path;

use blockimg_tests::fixture::{self, Fixture, FixtureOptions};
use blockimg_tests::image::image_model;
use blockimg_tests::model::{Compare, Model};
use blockimg_tests::{
    debugfs_htree, debugfs_stat, debugfs_xattrs, e2fsck_clean, host, mkdisk, require_e2fsprogs,
    PART_OFFSET,
};

fn build_fixture(tmp: &Path) -> Fixture {
    fixture::build_rich_tree(&tmp.join("src"), &FixtureOptions::default())
}

fn make_image(src: &Path, img: &Path, extra: &[&str]) {
    let mut args: Vec<&OsStr> = vec![
        "--size".as_ref(),
        "512M".as_ref(),
        "--root".as_ref(),
        src.as_os_str(),
    ];
    args.extend(extra.iter().map(OsStr::new));
    args.push(img.as_os_str());
    mkdisk(args).assert_success();
}

#[test]
fn rich_tree_reads_back_equal() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let fx = build_fixture(tmp.path());
    let img = tmp.path().join("disk.img");
    // Build before walking the host tree: the walk reads every file, which
    // moves access times the image is to record.
    make_image(&fx.root, &img, &[]);
    let expected = host::walk(&fx.root);
    e2fsck_clean(&img, PART_OFFSET);

    let actual = image_model(&img, PART_OFFSET);
    expected.assert_same(&actual, &Compare::default(), "image vs host tree");

    // Nanosecond times, as debugfs decodes them from the inode.
    let ns = debugfs_stat(&img, PART_OFFSET, fixture::TIMES_NS);
    assert_eq!(ns.mtime, Some(fx.ns_mtime), "{ns:?}");
    assert_eq!(ns.atime, Some(fx.ns_atime), "{ns:?}");
    assert!(ns.crtime.is_some(), "no crtime: {ns:?}");
    let future = debugfs_stat(&img, PART_OFFSET, fixture::TIMES_FUTURE);
    assert_eq!(future.mtime, Some(fixture::FUTURE_MTIME));

    // Holes stay holes.
    let sparse = debugfs_stat(&img, PART_OFFSET, fixture::SPARSE);
    assert_eq!(sparse.size, 64 << 20);
    assert!(
        sparse.blockcount * 512 <= 1 << 20,
        "the 64 MiB sparse file (12 KiB + 1 byte of data) occupies {} bytes",
        sparse.blockcount * 512
    );
    let hole = debugfs_stat(&img, PART_OFFSET, fixture::ALL_HOLE);
    assert_eq!((hole.size, hole.blockcount), (16 << 20, 0), "{hole:?}");

    if fx.has_devices {
        let stat = debugfs_stat(&img, PART_OFFSET, fixture::DEV_NULL);
        assert_eq!(stat.device, Some((1, 3)), "{stat:?}");
        let stat = debugfs_stat(&img, PART_OFFSET, fixture::DEV_HUGE);
        assert_eq!(stat.device, Some(fixture::DEV_HUGE_NUMBERS), "{stat:?}");
        assert_eq!(actual.get(fixture::DEV_BLOCK).rdev, Some((7, 0)));
    } else {
        eprintln!("NOTE: device numbers not checked (not root, no device nodes)");
    }

    if fx.has_xattrs {
        let large = debugfs_xattrs(&img, PART_OFFSET, fixture::XATTR_LARGE);
        let host_large = host::xattrs(&fx.root.join(&fixture::XATTR_LARGE[1..]));
        assert_eq!(large, host_large);
        assert_eq!(large[&b"user.large"[..]].len(), 2000);
        let stat = debugfs_stat(&img, PART_OFFSET, fixture::XATTR_LARGE);
        assert_eq!(
            stat.xattrs,
            vec![("user.large".to_string(), 2000)],
            "{stat:?}"
        );
        let small = debugfs_xattrs(&img, PART_OFFSET, fixture::XATTR_SMALL);
        assert_eq!(small[&b"user.small"[..]], b"v");
        assert_eq!(small[&b"user.empty"[..]], b"");
    } else {
        eprintln!("NOTE: xattrs not checked (the host filesystem has none)");
    }

    // The 10,000-entry directory is hash-indexed, and e2fsck (clean above)
    // has checked the index against every name's hash.
    let htree = debugfs_htree(&img, PART_OFFSET, fixture::BIG_DIR)
        .expect("the big directory has no htree index");
    assert_eq!(htree.leaf_names, fx.big_dir_entries, "{htree:?}");
    assert!(htree.root_entries > 1, "{htree:?}");
}

#[test]
fn owner_squashes_every_uid_and_gid() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let fx = fixture::build_rich_tree(
        &src,
        &FixtureOptions {
            big_dir_entries: 100,
            large_file_bytes: 10_000,
            ..FixtureOptions::default()
        },
    );
    for (owner, uid, gid) in [
        ("0:0", 0, 0),
        ("1000:2000", 1000, 2000),
        ("70000:80000", 70_000, 80_000),
    ] {
        let img = tmp.path().join(format!("owner-{uid}.img"));
        make_image(&fx.root, &img, &["--owner", owner]);
        e2fsck_clean(&img, PART_OFFSET);
        let actual = image_model(&img, PART_OFFSET);
        // lost+found, made by blockimg and not from the tree, may keep root.
        for (path, entry) in &actual.entries {
            if !path.starts_with(b"/lost+found") {
                assert_eq!(
                    (entry.uid, entry.gid),
                    (uid, gid),
                    "{} after --owner {owner}",
                    String::from_utf8_lossy(path)
                );
            }
        }
        let expected: Model = host::walk(&fx.root).with_owner(uid, gid);
        expected.assert_same(&actual, &Compare::default(), &format!("--owner {owner}"));
    }
}
