//! qcow2 files come from users: opening any bytes as a qcow2 image and
//! reading the disk must either work or fail with an error, never panic,
//! read out of bounds or allocate without bound.
#![no_main]

use std::path::Path;

use blockimg::disk_format::Qcow2Disk;
use libfuzzer_sys::fuzz_target;

mod read_disk;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut disk) = Qcow2Disk::open(data.to_vec(), Path::new("fuzz.qcow2")) {
        read_disk::exercise(&mut disk);
    }
});
