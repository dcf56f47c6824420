//! VMDK files come from users: opening any bytes as a VMDK sparse extent
//! (stream-optimized or not) and reading the disk must either work or fail
//! with an error, never panic, read out of bounds or allocate without
//! bound.
#![no_main]

use std::path::Path;

use blockimg::disk_format::VmdkDisk;
use libfuzzer_sys::fuzz_target;

mod read_disk;

fuzz_target!(|data: &[u8]| {
    if let Ok(mut disk) = VmdkDisk::open(data.to_vec(), Path::new("fuzz.vmdk")) {
        read_disk::exercise(&mut disk);
    }
});
