//! The ext4 reader's parsers of single structures, fed arbitrary bytes
//! straight, without the whole image around them that `ext4_reader` needs:
//! the superblock, a group descriptor, an inode (and its block map and
//! xattrs), an extent tree block, a directory block (linear, htree root or
//! index node), an xattr block, an in-inode xattr area and the jbd2 journal
//! superblock. The first byte picks the structure, the second the geometry
//! (block size, metadata_csum, 64bit). Each gives a value or an error,
//! never a panic, a hang or an unbounded allocation.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = blockimg::ext4::read::fuzzing::parse(data);
});
