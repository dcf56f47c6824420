//! Partition tables come from users' images: listing the partitions of any
//! bytes (MBR with an extended-partition chain, GPT with its backup, or a
//! bare filesystem) gives partitions inside the image or an error, never a
//! panic, a hang or an unbounded allocation; so does locating and opening
//! the filesystem an `IMAGE[:PART]` names (in any image format).
#![no_main]


use blockimg::disk::{partitions, ImageSpec};
use libfuzzer_sys::fuzz_target;

mod scratch;
use scratch::scratch_with;


fuzz_target!(|data: &[u8]| {
    let path = scratch_with("partitions", data);
    let file = std::fs::File::open(path).expect("open the scratch image");
    if let Ok(found) = partitions(&file, path) {
        for part in &found {
            assert!(
                part.start.checked_add(part.size).is_some(),
                "partition {} overflows",
                part.number
            );
        }
    }
    for partition in [None, Some(1), Some(5)] {
        let spec = ImageSpec {
            path: path.clone(),
            partition,
        };
        let _ = spec.locate();
        let _ = spec.open_ext4();
    }
});
