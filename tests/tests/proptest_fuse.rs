//! Random operation sequences applied through a `blockimg mount` and to a
//! plain host directory: every operation fails or succeeds alike, and the
//! two trees are equal after each sequence, after the commit (e2fsck clean)
//! and after a remount. Written data goes into free blocks of the image
//! (placed) and is overwritten, truncated, punched out and unlinked there
//! before the commit adopts it. 16 cases by default; `PROPTEST_CASES`
//! overrides.

use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use blockimg_tests::fixture;
use blockimg_tests::fuse::{require_fuse, FuseMount};
use blockimg_tests::image::image_model;
use blockimg_tests::model::Compare;
use blockimg_tests::{e2fsck_clean, host, mkdisk, require_e2fsprogs, PART_OFFSET};
use proptest::prelude::*;

/// Names operations pick from: few, so that they collide.
const NAMES: [&str; 6] = ["a", "b", "c", "d/a", "d/b", "d/e/c"];

#[derive(Clone, Debug)]
enum Op {
    Write(usize, u64, Vec<u8>),
    /// `len` bytes of one value: writes of many blocks.
    Fill(usize, u64, u32, u8),
    Truncate(usize, u64),
    /// `fallocate(PUNCH_HOLE | KEEP_SIZE)`.
    Punch(usize, u64, u64),
    /// `fallocate` of storage, with `KEEP_SIZE` or not.
    Allocate(usize, u64, u64, bool),
    Mkdir(usize),
    Rename(usize, usize),
    Unlink(usize),
    Rmdir(usize),
    Link(usize, usize),
    Symlink(usize, usize),
    Chmod(usize, u32),
    SetXattr(usize, u8, Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let name = 0..NAMES.len();
    prop_oneof![
        3 => (name.clone(), prop_oneof![0..10_000u64, (1u64 << 32)..(1u64 << 32) + 10], prop::collection::vec(any::<u8>(), 0..6000))
            .prop_map(|(n, o, d)| Op::Write(n, o, d)),
        1 => (name.clone(), 0..300_000u64, 1..200_000u32, any::<u8>())
            .prop_map(|(n, o, l, b)| Op::Fill(n, o, l, b)),
        1 => (name.clone(), prop_oneof![0..20_000u64, 0..500_000u64]).prop_map(|(n, s)| Op::Truncate(n, s)),
        1 => (name.clone(), 0..300_000u64, 1..100_000u64).prop_map(|(n, o, l)| Op::Punch(n, o, l)),
        1 => (name.clone(), 0..300_000u64, 1..50_000u64, any::<bool>())
            .prop_map(|(n, o, l, k)| Op::Allocate(n, o, l, k)),
        2 => name.clone().prop_map(Op::Mkdir),
        2 => (name.clone(), name.clone()).prop_map(|(a, b)| Op::Rename(a, b)),
        1 => name.clone().prop_map(Op::Unlink),
        1 => name.clone().prop_map(Op::Rmdir),
        1 => (name.clone(), name.clone()).prop_map(|(a, b)| Op::Link(a, b)),
        1 => (name.clone(), name.clone()).prop_map(|(a, b)| Op::Symlink(a, b)),
        1 => (name.clone(), 0..0o7777u32).prop_map(|(n, m)| Op::Chmod(n, m)),
        1 => (name, 0..3u8, prop::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(n, k, v)| Op::SetXattr(n, k, v)),
    ]
}

/// Applies `op` under `root`; the error kind, if any, for comparison.
fn apply(root: &Path, op: &Op) -> Option<ErrorKind> {
    let p = |i: usize| root.join(NAMES[i]);
    let result = match op {
        Op::Write(n, offset, data) => std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(p(*n))
            .and_then(|f| f.write_all_at(data, *offset)),
        Op::Fill(n, offset, len, byte) => std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(p(*n))
            .and_then(|f| f.write_all_at(&vec![*byte; *len as usize], *offset)),
        Op::Truncate(n, size) => std::fs::OpenOptions::new()
            .write(true)
            .open(p(*n))
            .and_then(|f| f.set_len(*size)),
        Op::Punch(n, offset, len) => fallocate(
            &p(*n),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            *offset,
            *len,
        ),
        Op::Allocate(n, offset, len, keep) => fallocate(
            &p(*n),
            if *keep { libc::FALLOC_FL_KEEP_SIZE } else { 0 },
            *offset,
            *len,
        ),
        Op::Mkdir(n) => std::fs::create_dir(p(*n)),
        Op::Rename(a, b) => std::fs::rename(p(*a), p(*b)),
        Op::Unlink(n) => std::fs::remove_file(p(*n)),
        Op::Rmdir(n) => std::fs::remove_dir(p(*n)),
        Op::Link(a, b) => std::fs::hard_link(p(*a), p(*b)),
        Op::Symlink(a, b) => std::os::unix::fs::symlink(NAMES[*a], p(*b)),
        Op::Chmod(n, mode) => fixture::chmod(&p(*n), *mode | 0o700),
        Op::SetXattr(n, k, v) => fixture::set_xattr(&p(*n), &format!("user.k{k}"), v),
    };
    result.err().map(|e| e.kind())
}

/// `fallocate(2)` on the file at `path`.
fn fallocate(path: &Path, mode: i32, offset: u64, len: u64) -> std::io::Result<()> {
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    // SAFETY: fallocate(2) on a descriptor we own.
    let rc = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            mode,
            offset as libc::off_t,
            len as libc::off_t,
        )
    };
    match rc {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

fn check_sequence(ops: &[Op]) {
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    mkdisk(["--size".as_ref(), "64M".as_ref(), img.as_os_str()]).assert_success();
    let host_root = tmp.path().join("host");
    std::fs::create_dir_all(host_root.join("lost+found")).unwrap();
    fixture::chmod(&host_root.join("lost+found"), 0o700).unwrap();
    let mnt = tmp.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = FuseMount::new(img.as_os_str(), &mnt, &[]);
    for op in ops {
        let on_host = apply(&host_root, op);
        let on_mount = apply(mount.path(), op);
        assert_eq!(on_mount, on_host, "{op:?}");
    }
    fixture::stamp_times(&host_root);
    fixture::stamp_times(mount.path());
    let expected = host::walk(&host_root);
    expected.assert_same(&host::walk(mount.path()), &Compare::default(), "mount");
    mount.umount().assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    expected.assert_same(
        &image_model(&img, PART_OFFSET),
        &Compare::default(),
        "image",
    );
    let mount = FuseMount::new(img.as_os_str(), &mnt, &[]);
    expected.assert_same(&host::walk(mount.path()), &Compare::default(), "remount");
    mount.umount().assert_success();
}

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16)
}

#[test]
fn operations_through_the_mount_match_a_host_directory() {
    if !require_fuse() || !require_e2fsprogs() {
        return;
    }
    let config = ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    proptest!(config, |(ops in prop::collection::vec(op(), 1..40))| {
        check_sequence(&ops);
    });
}
