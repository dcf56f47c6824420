//! Archives are untrusted: reading any bytes as a (possibly compressed) tar
//! stream into a tree must give a tree or an error, never a panic or a hang.
#![no_main]

use std::io::Read;

use blockimg::source::tar::{decompress, read_archive, InMemory, OutsideRoot};
use blockimg::tree::Timestamp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(input) = decompress(bytes, "fuzz.tar") else {
        return;
    };
    let _ = read_archive(
        input.take(16 << 20),
        "fuzz.tar",
        &mut InMemory::new(16 << 20),
        OutsideRoot::Skip,
        Timestamp::from_secs(0),
    );
});
