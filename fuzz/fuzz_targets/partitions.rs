//! Partition tables come from users' images: listing the partitions of any
//! bytes (MBR with an extended-partition chain, GPT with its backup, or a
//! bare filesystem) gives partitions inside the image or an error, never a
//! panic, a hang or an unbounded allocation; so does locating the
//! filesystem an `IMAGE[:PART]` names.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use blockimg::disk::{partitions, ImageSpec};
use libfuzzer_sys::fuzz_target;

/// One scratch image per fuzzing process, in memory where /dev/shm exists.
fn scratch() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::path::Path::new("/dev/shm");
        let dir = if dir.is_dir() { dir.to_path_buf() } else { std::env::temp_dir() };
        dir.join(format!("blockimg-fuzz-partitions-{}.img", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let path = scratch();
    std::fs::write(path, data).expect("write the scratch image");
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
    }
});
