//! `blockimg inspect` reads whatever image it is given (raw, VHD, VMDK or
//! qcow2, through their readers): the partition
//! table, the ext4 superblocks, FAT boot sectors and directories, swap
//! headers and GRUB's boot code of any bytes give a report (and its text
//! and JSON forms) or an error, never a panic, a hang or an unbounded
//! allocation.
#![no_main]

use blockimg::inspect::inspect;
use libfuzzer_sys::fuzz_target;

mod scratch;
use scratch::scratch_with;

fuzz_target!(|data: &[u8]| {
    let path = scratch_with("inspect", data);
    if let Ok(report) = inspect(path) {
        let _ = report.to_string();
    }
});
