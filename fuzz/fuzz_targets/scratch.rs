//! A scratch file for targets whose code under test reads files by path
//! (images are reopened by their data sources): one per fuzzing process and
//! target, in memory where /dev/shm exists.

use std::path::PathBuf;
use std::sync::OnceLock;

/// The scratch file of this process for `target`, holding `data`.
pub fn scratch_with(target: &str, data: &[u8]) -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    let path = PATH.get_or_init(|| {
        let dir = std::path::Path::new("/dev/shm");
        let dir = if dir.is_dir() { dir.to_path_buf() } else { std::env::temp_dir() };
        dir.join(format!("blockimg-fuzz-{target}-{}.img", std::process::id()))
    });
    std::fs::write(path, data).expect("write the scratch image");
    path
}
