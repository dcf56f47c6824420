//! ext4 images come from users: opening any bytes as a filesystem, reading
//! its tree and the content of every file must either work or fail with an
//! error, never panic, hang or allocate without bound.
//!
//! Seed the corpus with small real images, for example:
//!
//! ```sh
//! mkdir -p corpus/ext4_reader root/d && echo hi > root/f && ln -s f root/l
//! for i in $(seq 120); do echo $i > root/d/entry-with-a-long-name-$i; done
//! mke2fs -q -F -t ext4 -O ^has_journal -b 1024 -N 160 -d root corpus/ext4_reader/ext4.img 256K
//! mke2fs -q -F -t ext2 -b 1024 -N 160 -d root corpus/ext4_reader/ext2.img 256K
//! e2fsck -fyD corpus/ext4_reader/ext4.img; e2fsck -fyD corpus/ext4_reader/ext2.img
//! ```
#![no_main]

use std::io::Read;

use blockimg::ext4::read::{Ext4Reader, FileType, ROOT_INO};
use blockimg::tree::NodeKind;
use libfuzzer_sys::fuzz_target;

mod scratch;
use scratch::scratch_with;

/// Most bytes read of one file (a corrupt size may claim exabytes of holes).
const READ_LIMIT: u64 = 1 << 20;


fuzz_target!(|data: &[u8]| {
    let path = scratch_with("ext4", data);
    let file = std::fs::File::open(path).expect("open the scratch image");
    let Ok(reader) = Ext4Reader::open(file, 0, path) else {
        return;
    };
    if let Ok(entries) = reader.read_dir(ROOT_INO) {
        for entry in entries.iter().take(64) {
            let Ok(stat) = reader.stat(entry.ino) else { continue };
            let _ = reader.xattrs(entry.ino);
            match stat.file_type {
                FileType::Symlink => drop(reader.readlink(entry.ino)),
                FileType::RegularFile => {
                    let mut buf = [0u8; 512];
                    let _ = reader.read_file(entry.ino, stat.size / 2, &mut buf);
                }
                FileType::Directory => {
                    let _ = reader.lookup_in(entry.ino, b"x");
                }
                _ => {}
            }
        }
    }
    let Ok(tree) = reader.read_tree() else {
        return;
    };
    for node in tree.nodes() {
        if let NodeKind::File(content) = &node.kind {
            if let Ok(file) = content.reader() {
                let _ = std::io::copy(&mut file.take(READ_LIMIT), &mut std::io::sink());
            }
        }
    }
});
