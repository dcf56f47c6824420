//! VHD files come from users: opening any bytes as a VHD and reading the disk
//! must either work or fail with an error, never panic or read out of
//! bounds. Each input is tried as given and with its footer and dynamic
//! header checksums made valid, so the fuzzer gets past the checksums to
//! the sizes, offsets and the block allocation table.
#![no_main]

use std::path::Path;

use blockimg::disk_format::vhd::checksum;
use blockimg::disk_format::VhdDisk;
use libfuzzer_sys::fuzz_target;

mod read_disk;

fn exercise(bytes: Vec<u8>) {
    if let Ok(mut disk) = VhdDisk::open(bytes, Path::new("fuzz.vhd")) {
        read_disk::exercise(&mut disk);
    }
}

/// Rewrites the footer's and the dynamic header's checksums.
fn fix_checksums(bytes: &mut [u8]) {
    let len = bytes.len();
    if len < 512 {
        return;
    }
    let footer = &mut bytes[len - 512..];
    let sum = checksum(footer, 64);
    footer[64..68].copy_from_slice(&sum.to_be_bytes());
    let mut offset = [0u8; 8];
    offset.copy_from_slice(&footer[16..24]);
    let header = u64::from_be_bytes(offset);
    if let Some(end) = header.checked_add(1024).filter(|&e| e <= len as u64) {
        let header = &mut bytes[header as usize..end as usize];
        let sum = checksum(header, 36);
        header[36..40].copy_from_slice(&sum.to_be_bytes());
    }
}

fuzz_target!(|data: &[u8]| {
    exercise(data.to_vec());
    let mut fixed = data.to_vec();
    fix_checksums(&mut fixed);
    exercise(fixed);
});
