//! A jbd2 journal comes from users' images: replaying any bytes as a
//! journal (its superblock first, then the log) must either work or fail
//! with an error, never panic, hang or allocate without bound.
//!
//! Seed the corpus with journals debugfs left transactions in, cut short:
//!
//! ```sh
//! mkdir -p corpus/ext4_journal && head -c 4096 /dev/urandom >data
//! mke2fs -q -F -t ext4 -b 1024 fs.img 8M
//! printf 'jo -c\njw -b 300,301,302 data\njw -r 301 /dev/null\njc\n' | debugfs -w -f - fs.img
//! debugfs -R 'dump <8> journal' fs.img && head -c 16K journal >corpus/ext4_journal/csum-v3
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    blockimg::ext4::read::fuzzing::replay(data);
});
