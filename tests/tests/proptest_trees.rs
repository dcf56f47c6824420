//! Random host trees through `blockimg mkdisk --size auto`: every image must
//! be clean for e2fsck and read back (ext4-view + debugfs) equal to the tree.
//!
//! `PROPTEST_CASES` sets the number of cases (default 24); see
//! docs/TESTING.md for a long run.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use blockimg_tests::fixture::{
    mkfifo, pseudo_random_bytes, set_times, set_xattr, target_of_len, write_sparse,
    xattrs_supported,
};
use blockimg_tests::model::Compare;
use blockimg_tests::{e2fsck_clean, host, image, is_root, mkdisk, require_e2fsprogs, PART_OFFSET};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};

#[derive(Clone, Debug)]
enum Data {
    Empty,
    Bytes { seed: u64, len: usize },
    Sparse { size: u64, chunks: Vec<(u64, u16)> },
}

#[derive(Clone, Debug)]
enum Kind {
    File(Data),
    Symlink(usize),
    Fifo,
    HardLink(usize),
}

#[derive(Clone, Debug)]
struct NodeSpec {
    dir: usize,
    name: String,
    kind: Kind,
    perm: u32,
    xattrs: Vec<(String, usize)>,
    owner: (u32, u32),
}

#[derive(Clone, Debug)]
struct TreeSpec {
    dirs: Vec<(usize, String)>,
    chain: Vec<String>,
    nodes: Vec<NodeSpec>,
    big_dir: Option<(usize, usize)>,
    times: Vec<(i64, u32)>,
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9_-][a-zA-Z0-9._-]{0,11}",
        1 => "[a-z0-9]{200,255}",
        1 => "[a-zé€ß日本.]{1,80}",
    ]
    .prop_filter("dot names", |n| n != "." && n != ".." && n.len() <= 255)
}

fn data() -> impl Strategy<Value = Data> {
    prop_oneof![
        2 => Just(Data::Empty),
        4 => (any::<u64>(), 0usize..20_000).prop_map(|(seed, len)| Data::Bytes { seed, len }),
        1 => (any::<u64>(), 20_000usize..3_000_000).prop_map(|(seed, len)| Data::Bytes { seed, len }),
        2 => (1u64..(32 << 20), prop::collection::vec((any::<u64>(), 1u16..5000), 0..4))
            .prop_map(|(size, chunks)| Data::Sparse { size, chunks }),
    ]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        6 => data().prop_map(Kind::File),
        2 => prop_oneof![1usize..=70, 1usize..=4000].prop_map(Kind::Symlink),
        1 => Just(Kind::Fifo),
        2 => any::<usize>().prop_map(Kind::HardLink),
    ]
}

fn xattrs() -> impl Strategy<Value = Vec<(String, usize)>> {
    prop::collection::vec(
        (
            "[a-z]{1,20}",
            prop_oneof![3 => 0usize..64, 1 => 64usize..2500],
        ),
        0..4,
    )
}

fn time() -> impl Strategy<Value = (i64, u32)> {
    // ext4-view 1.0 cannot decode raw second fields of 2^31 and above
    // (before 1970, or 2038-2106); stay in what it reads.
    (
        prop_oneof![0i64..(1 << 31), (1i64 << 32)..((1i64 << 32) + (1 << 30))],
        0u32..1_000_000_000,
    )
}

fn tree() -> impl Strategy<Value = TreeSpec> {
    (
        prop::collection::vec((any::<usize>(), name()), 0..24),
        prop_oneof![
            2 => Just(Vec::new()),
            1 => prop::collection::vec("[a-z0-9]{1,8}", 1..100),
        ],
        prop::collection::vec(
            (
                any::<usize>(),
                name(),
                kind(),
                prop_oneof![
                    Just(0o644u32),
                    Just(0o755),
                    Just(0o4755),
                    Just(0o2750),
                    Just(0o600),
                    0u32..0o7777
                ],
                xattrs(),
                (0u32..100_000, 0u32..100_000),
            )
                .prop_map(|(dir, name, kind, perm, xattrs, owner)| NodeSpec {
                    dir,
                    name,
                    kind,
                    perm,
                    xattrs,
                    owner,
                }),
            0..40,
        ),
        prop_oneof![3 => Just(None), 1 => (any::<usize>(), 0usize..5000).prop_map(Some)],
        prop::collection::vec(time(), 1..16),
    )
        .prop_map(|(dirs, chain, nodes, big_dir, times)| TreeSpec {
            dirs,
            chain,
            nodes,
            big_dir,
            times,
        })
}

/// Creates the tree on the host. Entries whose name is taken, or whose path
/// would get too long for the host, are left out.
fn materialize(spec: &TreeSpec, root: &Path, with_xattrs: bool) {
    fs::create_dir(root).unwrap();
    let root_user = is_root();
    let mut dirs: Vec<PathBuf> = vec![root.to_path_buf()];
    for (parent, name) in &spec.dirs {
        let path = dirs[parent % dirs.len()].join(name);
        if path.as_os_str().len() > 3000 || path.exists() {
            continue;
        }
        fs::create_dir(&path).unwrap();
        dirs.push(path);
    }
    // A deep chain of directories below the last one made.
    let mut deep = dirs[dirs.len() - 1].clone();
    for name in &spec.chain {
        deep = deep.join(name);
        if deep.as_os_str().len() > 3000 || deep.exists() {
            break;
        }
        fs::create_dir(&deep).unwrap();
        dirs.push(deep.clone());
    }
    let mut files: Vec<PathBuf> = Vec::new();
    for node in &spec.nodes {
        let path = dirs[node.dir % dirs.len()].join(&node.name);
        if path.as_os_str().len() > 3500 || fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        match &node.kind {
            Kind::File(data) => {
                match data {
                    Data::Empty => fs::write(&path, b"").unwrap(),
                    Data::Bytes { seed, len } => {
                        fs::write(&path, pseudo_random_bytes(*seed, *len)).unwrap()
                    }
                    Data::Sparse { size, chunks } => {
                        let chunks: Vec<(u64, Vec<u8>)> = chunks
                            .iter()
                            .map(|(at, len)| {
                                (at % size, pseudo_random_bytes(*at, usize::from(*len)))
                            })
                            .collect();
                        write_sparse(&path, *size, &chunks).unwrap();
                    }
                }
                if with_xattrs {
                    let mut total = 0;
                    let mut seen = BTreeSet::new();
                    for (name, len) in &node.xattrs {
                        total += name.len() + 5 + 16 + len;
                        if total > 3000 || !seen.insert(name) {
                            continue;
                        }
                        set_xattr(
                            &path,
                            &format!("user.{name}"),
                            &pseudo_random_bytes(*len as u64, *len),
                        )
                        .unwrap();
                    }
                }
                if root_user {
                    std::os::unix::fs::lchown(&path, Some(node.owner.0), Some(node.owner.1))
                        .unwrap();
                }
                // The owner must keep read access (the build runs as the
                // caller; root reads anything).
                let perm = if root_user {
                    node.perm
                } else {
                    node.perm | 0o400
                };
                blockimg_tests::fixture::chmod(&path, perm).unwrap();
                files.push(path);
            }
            Kind::Symlink(len) => {
                let target = target_of_len(*len, *len as u64);
                std::os::unix::fs::symlink(blockimg_tests::tools::os(&target), &path).unwrap();
            }
            Kind::Fifo => mkfifo(&path, node.perm & 0o777).unwrap(),
            Kind::HardLink(to) => {
                if !files.is_empty() {
                    fs::hard_link(&files[to % files.len()], &path).unwrap();
                }
            }
        }
    }
    if let Some((dir, count)) = spec.big_dir {
        let big = dirs[dir % dirs.len()].join("big-directory");
        if !big.exists() {
            fs::create_dir(&big).unwrap();
            for i in 0..count {
                fs::write(big.join(format!("e{i}-{}", "n".repeat(i % 50))), b"").unwrap();
            }
        }
    }
    // Times last: creating entries changes a directory's mtime.
    let mut all = Vec::new();
    collect(root, &mut all);
    for (i, path) in all.iter().enumerate() {
        let t = spec.times[i % spec.times.len()];
        set_times(path, t, t).unwrap();
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    out.push(path.to_path_buf());
    if fs::symlink_metadata(path).unwrap().is_dir() {
        let mut children: Vec<PathBuf> = fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        children.sort();
        for child in children {
            collect(&child, out);
        }
    }
}

fn check(spec: &TreeSpec, with_xattrs: bool) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    materialize(spec, &src, with_xattrs);
    let img = tmp.path().join("disk.img");
    let run = mkdisk([
        "--size".as_ref(),
        "auto".as_ref(),
        "--root".as_ref(),
        src.as_os_str(),
        img.as_os_str(),
    ]);
    prop_assert!(
        run.status.success(),
        "mkdisk failed: {}\n{}",
        run.stderr,
        run.stdout
    );
    e2fsck_clean(&img, PART_OFFSET);
    host::walk(&src).assert_same(
        &image::image_model(&img, PART_OFFSET),
        &Compare::default(),
        "random tree",
    );
    Ok(())
}

#[test]
fn random_trees_read_back_equal() {
    if !require_e2fsprogs() {
        return;
    }
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(24);
    let probe = tempfile::tempdir().unwrap();
    let with_xattrs = xattrs_supported(probe.path());
    if !with_xattrs {
        eprintln!("NOTE: the host filesystem has no user xattrs; random trees carry none");
    }
    let mut runner = TestRunner::new(Config {
        cases,
        // Each case builds and checks an image (about a second): bound the
        // time spent shrinking a failure.
        max_shrink_iters: 256,
        max_shrink_time: 300_000,
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/proptest_trees.txt"
        )))),
        ..Config::default()
    });
    let result = runner.run(&tree(), |spec| check(&spec, with_xattrs));
    if let Err(e) = result {
        panic!("{e}");
    }
}
