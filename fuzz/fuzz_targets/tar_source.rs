//! Archives are untrusted: reading any bytes as a (possibly compressed) tar
//! stream into a tree must give a tree or an error, never a panic or a hang.
#![no_main]

use std::io::Read;

use blockimg::source::tar::{decompress, read_archive, MemberData, OutsideRoot};
use blockimg::tree::{FileContent, Timestamp};
use libfuzzer_sys::fuzz_target;

/// Reads member data (bounded) into memory, as a small stand-in for the
/// image writer.
struct Bounded;

impl MemberData for Bounded {
    fn take(
        &mut self,
        data: &mut dyn Read,
        size: u64,
        _offset: u64,
        _sparse: bool,
    ) -> blockimg::Result<FileContent> {
        let mut bytes = Vec::new();
        data.take(size.min(1 << 20))
            .read_to_end(&mut bytes)
            .map_err(|e| blockimg::Error::io("<fuzz>", e))?;
        Ok(FileContent::from_bytes(bytes))
    }
}

fuzz_target!(|bytes: &[u8]| {
    let Ok(input) = decompress(bytes, "fuzz.tar") else {
        return;
    };
    let _ = read_archive(
        input.take(16 << 20),
        "fuzz.tar",
        &mut Bounded,
        OutsideRoot::Skip,
        Timestamp::from_secs(0),
    );
});
