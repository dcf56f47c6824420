//! Random corruption of small valid images: bytes flipped in the metadata
//! area (superblock, descriptors, bitmaps, inode table, directory, extent
//! and indirect blocks) of mke2fs images with and without checksums. Opening
//! the result, reading its tree and every file's content, and using the
//! reader's other calls must end with `Ok` or `Err`, never a panic or a hang.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use blockimg::ext4::read::{Ext4Reader, FileType, ROOT_INO};
use blockimg::tree::NodeKind;
use blockimg_tests::fixture;
use blockimg_tests::require_tool;
use blockimg_tests::tools::tool;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Bytes of a seed image; the metadata and directories of these small
/// images lie in the first `CORRUPTED` bytes.
const IMAGE_BYTES: &str = "256K";
const CORRUPTED: usize = 160 * 1024;
/// Most bytes of one file's content read back.
const READ_LIMIT: u64 = 1 << 20;

/// The seed images: ext4 without checksums (so corruption reaches every
/// parser), ext2 (indirect block maps), ext4 with metadata_csum.
fn seeds() -> &'static Vec<Vec<u8>> {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        fs::create_dir_all(root.join("dir")).unwrap();
        for i in 0..120 {
            fs::write(
                root.join("dir")
                    .join(format!("entry-with-a-longer-name-{i:03}")),
                i.to_string(),
            )
            .unwrap();
        }
        fs::write(root.join("file"), b"hello").unwrap();
        fs::write(root.join("blocks"), fixture::pseudo_random_bytes(1, 40_000)).unwrap();
        let pieces: Vec<(u64, Vec<u8>)> = (0..8)
            .map(|i| (i * 8192, vec![b'A' + i as u8; 1024]))
            .collect();
        fixture::write_sparse(&root.join("fragmented"), 8 * 8192, &pieces).unwrap();
        std::os::unix::fs::symlink("file", root.join("link")).unwrap();
        std::os::unix::fs::symlink("x".repeat(100), root.join("long-link")).unwrap();
        fs::hard_link(root.join("file"), root.join("hard")).unwrap();
        fixture::mkfifo(&root.join("fifo"), 0o644).unwrap();
        let _ = fixture::set_xattr(&root.join("file"), "user.a", b"value");
        let mut seeds = Vec::new();
        for args in [
            &["-t", "ext4", "-O", "^metadata_csum,^has_journal"][..],
            &["-t", "ext2"],
            &["-t", "ext4", "-O", "^has_journal"],
        ] {
            let img = tmp.path().join("seed.img");
            let ok = tool("mke2fs")
                .args(["-q", "-F", "-b", "1024", "-N", "160"])
                .args(args)
                .arg("-d")
                .arg(&root)
                .arg(&img)
                .arg(IMAGE_BYTES)
                .status()
                .unwrap()
                .success();
            assert!(ok, "mke2fs {args:?}");
            // Index the big directory; exit code 1 means "optimised".
            let code = tool("e2fsck")
                .arg("-fyD")
                .arg(&img)
                .output()
                .unwrap()
                .status
                .code();
            assert!(matches!(code, Some(0 | 1)), "e2fsck -fyD: {code:?}");
            let bytes = fs::read(&img).unwrap();
            exercise(&img).expect("a seed image must read cleanly");
            seeds.push(bytes);
        }
        seeds
    })
}

/// Everything a user of the reader does with an image. Returns the first
/// error of the tree walk, for the seeds' own check.
fn exercise(img: &Path) -> blockimg::Result<()> {
    let file = fs::File::open(img).map_err(|e| blockimg::Error::io(img, e))?;
    let reader = Ext4Reader::open(file, 0, img)?;
    let _ = reader.info();
    let mut walked = Ok(());
    for path in [
        &b"/dir"[..],
        b"/file",
        b"/link",
        b"/long-link",
        b"/fragmented",
        b"/nothing",
    ] {
        if let Ok(ino) = reader.lookup(path) {
            let Ok(stat) = reader.stat(ino) else { continue };
            let _ = reader.xattrs(ino);
            match stat.file_type {
                FileType::Directory => walked = walked.and(reader.read_dir(ino).map(drop)),
                FileType::Symlink => walked = walked.and(reader.readlink(ino).map(drop)),
                FileType::RegularFile => {
                    let mut buf = vec![0u8; 4096];
                    let _ = reader.read_file(ino, stat.size / 2, &mut buf);
                }
                _ => {}
            }
        }
    }
    let _ = reader.read_dir(ROOT_INO);
    let tree = reader.read_tree()?;
    for node in tree.nodes() {
        if let NodeKind::File(content) = &node.kind {
            let reader = content.reader()?;
            let mut sink = Vec::new();
            reader
                .take(READ_LIMIT)
                .read_to_end(&mut sink)
                .map_err(|e| blockimg::Error::io(img, e))?;
        }
    }
    walked
}

#[test]
fn corrupted_images_never_panic() {
    if !require_tool("mke2fs") || !require_tool("e2fsck") {
        return;
    }
    let seeds = seeds();
    let tmp = tempfile::tempdir().unwrap();
    let img: PathBuf = tmp.path().join("corrupt.img");
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let flips = prop::collection::vec((0..CORRUPTED, 1u8..=255), 1..24);
    let strategy = (0..seeds.len(), flips);
    runner
        .run(&strategy, |(seed, flips)| {
            let mut bytes = seeds[seed].clone();
            for (offset, mask) in flips {
                bytes[offset] ^= mask;
            }
            fs::write(&img, &bytes).unwrap();
            let _ = exercise(&img);
            Ok(())
        })
        .unwrap();
}
