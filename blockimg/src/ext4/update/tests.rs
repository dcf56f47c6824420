//! Tests of the adoption of placed blocks: the rule that decides which
//! blocks of a file are adopted, and whole updates that adopt them.

use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::Arc;

use super::body::{Part, Placed};
use super::UpdateOutcome;
use crate::disk::ImageSpec;
use crate::ext4::alloc::Run;
use crate::image::ExistingFilesystem;
use crate::lock::ImageLock;
use crate::tree::{
    DataSource, ExtentRun, FileContent, Metadata, Node, NodeKind, OpenRun, Segment, Timestamp, Tree,
};

const BS: u64 = 4096;
/// Byte offset of the filesystem in the images here (the placed tests'
/// fake image too).
const OFFSET: u64 = 1 << 20;

fn id(file: &std::fs::File) -> (u64, u64) {
    let meta = file.metadata().unwrap();
    (meta.dev(), meta.ino())
}

/// Content of `size` bytes read through `runs` `(file offset, offset in
/// file index, len, file index)` from `files`.
fn content(
    files: &Arc<[std::fs::File]>,
    size: u64,
    runs: &[(u64, u64, u64, usize)],
) -> FileContent {
    FileContent {
        size,
        segments: runs
            .iter()
            .map(|&(offset, _, len, _)| Segment { offset, len })
            .collect(),
        source: DataSource::OpenFiles {
            files: Arc::clone(files),
            runs: runs
                .iter()
                .map(|&(file_offset, image_offset, len, file)| OpenRun {
                    run: ExtentRun {
                        file_offset,
                        image_offset,
                        len,
                    },
                    file,
                })
                .collect(),
        },
    }
}

fn adopt(logical: u64, start: u64, len: u64) -> Part {
    Part::Adopt {
        logical,
        run: Run { start, len },
    }
}

#[test]
fn blocks_whose_bytes_all_lie_in_one_placed_block_at_their_position_are_adopted() {
    let image = tempfile::tempfile().unwrap();
    let placed = Placed::new(&[(100, 10), (300, 1)], OFFSET, id(&image), BS);
    let files: Arc<[std::fs::File]> = vec![image, tempfile::tempfile().unwrap()].into();
    let at = |block: u64| OFFSET + block * BS;

    // Three blocks and a partial fourth, contiguous: one run adopted.
    let c = content(&files, 3 * BS + 100, &[(0, at(100), 3 * BS + 100, 0)]);
    assert_eq!(placed.parts(&c), vec![adopt(0, 100, 4)]);

    // Not at the same position within the block: copied.
    let c = content(&files, 100, &[(0, at(100) + 10, 100, 0)]);
    assert_eq!(placed.parts(&c), vec![Part::Copy { logical: 0, len: 1 }]);

    // Free but not placed, or placed blocks of the spill file: copied.
    let c = content(&files, BS, &[(0, at(200), BS, 0)]);
    assert_eq!(placed.parts(&c), vec![Part::Copy { logical: 0, len: 1 }]);
    let c = content(&files, BS, &[(0, at(100), BS, 1)]);
    assert_eq!(placed.parts(&c), vec![Part::Copy { logical: 0, len: 1 }]);

    // A hole inside a placed block (its bytes are zeros) and a block out
    // of order: adopted, in two runs; a block with bytes of two placed
    // blocks, or of a placed block and the spill file, copied.
    let c = content(
        &files,
        4 * BS,
        &[
            (0, at(101), 10, 0),
            (20, at(101) + 20, BS - 20, 0),
            (BS, at(300), BS, 0),
            (2 * BS, at(102), 10, 0),
            (2 * BS + 10, at(103) + 10, BS - 10, 0),
            (3 * BS, at(104), 10, 0),
            (3 * BS + 10, 10, BS - 10, 1),
        ],
    );
    assert_eq!(
        placed.parts(&c),
        vec![
            adopt(0, 101, 1),
            adopt(1, 300, 1),
            Part::Copy { logical: 2, len: 2 }
        ]
    );

    // A file with holes between its blocks: each stretch apart.
    let c = content(
        &files,
        10 * BS,
        &[(0, at(105), BS, 0), (5 * BS, at(106), BS, 0)],
    );
    assert_eq!(placed.parts(&c), vec![adopt(0, 105, 1), adopt(5, 106, 1)]);

    // Without placed blocks, every stretch is copied as one part.
    let none = Placed::new(&[], OFFSET, (0, 0), BS);
    assert_eq!(
        none.parts(&c),
        vec![
            Part::Copy { logical: 0, len: 1 },
            Part::Copy { logical: 5, len: 1 }
        ]
    );
}

/// A 32 MiB disk with a partition at 1 MiB holding /etc/hostname.
fn disk(dir: &Path) -> ImageSpec {
    let text = "timestamp = 1700000000\n[disk]\nsize = \"32M\"\n[[output]]\npath = \"disk.img\"\n\
                [[text]]\npath = \"/etc/hostname\"\ncontent = \"old\\n\"\n";
    let recipe = crate::recipe::parse(text, &dir.join("image.toml")).unwrap();
    crate::recipe::build(&recipe, false, &mut crate::Silent).unwrap();
    ImageSpec::parse(dir.join("disk.img").as_os_str()).unwrap()
}

fn file_node(content: FileContent) -> Node {
    let meta = Metadata {
        permissions: 0o644,
        ..Metadata::directory(Timestamp::from_secs(0))
    };
    Node::new(meta, NodeKind::File(content))
}

fn read_all(fs: &crate::ext4::read::Ext4Reader, path: &[u8]) -> Vec<u8> {
    let ino = fs.lookup(path).unwrap();
    let mut buf = vec![0u8; fs.stat(ino).unwrap().size as usize];
    let mut done = 0;
    while done < buf.len() {
        let n = fs.read_file(ino, done as u64, &mut buf[done..]).unwrap();
        assert!(n > 0);
        done += n;
    }
    buf
}

#[test]
fn an_update_adopts_placed_blocks_and_never_hands_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let spec = disk(dir.path());
    let lock = ImageLock::write(&spec.path, "test").unwrap();
    let (existing, reader) = ExistingFilesystem::open(&spec, lock).unwrap();
    let loaded = existing.load(&reader).unwrap();
    let free = existing.free_block_runs().unwrap().unwrap();
    let &(first_free, count) = free.iter().max_by_key(|r| r.1).unwrap();
    assert!(count > 64);
    // File data written into free blocks, as a mount does: 3 blocks and a
    // partial fourth (zeros after it) at the start of the free space, so
    // that the update's own blocks would go there if it could; one block
    // at the wrong position, which must be copied.
    let start = first_free;
    let odd = first_free + 20;
    let writer = std::fs::OpenOptions::new()
        .write(true)
        .open(&spec.path)
        .unwrap();
    let placed_bytes: Vec<u8> = (0..3 * BS + 100).map(|i| (i % 251) as u8).collect();
    let at = |block: u64| existing.partition.start + block * BS;
    writer.write_all_at(&placed_bytes, at(start)).unwrap();
    writer
        .write_all_at(&vec![0u8; (BS - 100) as usize], at(start + 3) + 100)
        .unwrap();
    writer.write_all_at(b"shifted", at(odd) + 5).unwrap();
    let files: Arc<[std::fs::File]> = vec![existing.file.try_clone().unwrap()].into();
    let mut tree = loaded.tree.clone();
    let size = placed_bytes.len() as u64;
    tree.add(
        Tree::ROOT,
        b"placed",
        file_node(content(&files, size, &[(0, at(start), size, 0)])),
    )
    .unwrap();
    tree.add(
        Tree::ROOT,
        b"shifted",
        file_node(content(&files, 7, &[(0, at(odd) + 5, 7, 0)])),
    )
    .unwrap();
    let copied = vec![9u8; 2 * BS as usize];
    tree.add(
        Tree::ROOT,
        b"copied",
        file_node(FileContent::from_bytes(copied.clone())),
    )
    .unwrap();
    let old_len = loaded.tree.len();
    let placed = [(start, 4), (odd, 1)];
    let outcome = existing
        .update_in_place(
            &reader,
            &loaded,
            &tree,
            &|id| (id.index() < old_len).then_some(id),
            &placed,
            &mut |_| {},
        )
        .unwrap();
    let UpdateOutcome::Updated(summary) = outcome else {
        panic!("not in place: {outcome:?}");
    };
    assert_eq!(summary.adopted_blocks, 4);
    drop(existing);

    let fs = spec.open_ext4().unwrap();
    assert_eq!(read_all(&fs, b"/placed"), placed_bytes);
    assert_eq!(read_all(&fs, b"/shifted"), b"shifted");
    assert_eq!(read_all(&fs, b"/copied"), copied);
    let blocks = |path: &[u8]| {
        let owned = fs.owned_blocks(fs.lookup(path).unwrap()).unwrap().unwrap();
        owned.runs
    };
    assert_eq!(
        blocks(b"/placed"),
        vec![(start, 4)],
        "adopted where it lies"
    );
    let placed_block = |b: u64| placed.iter().any(|&(s, n)| b >= s && b < s + n);
    for path in [&b"/shifted"[..], b"/copied", b"/"] {
        for (s, n) in blocks(path) {
            assert!(
                !(s..s + n).any(placed_block),
                "{} got a placed block",
                String::from_utf8_lossy(path)
            );
        }
    }
    // The block not adopted stays free; the adopted ones are used.
    let lock = ImageLock::read(&spec.path).unwrap();
    let (existing, _) = ExistingFilesystem::open(&spec, lock).unwrap();
    let free = existing.free_block_runs().unwrap().unwrap();
    let is_free = |b: u64| free.iter().any(|&(s, n)| b >= s && b < s + n);
    assert!(is_free(odd));
    assert!(!(start..start + 4).any(is_free));
    if let Some(e2fsck) = crate::ext4::test_tools::tool("e2fsck") {
        let target = format!("{}?offset={}", spec.path.display(), OFFSET);
        crate::ext4::test_tools::assert_e2fsck_clean(&e2fsck, target);
    }
}
