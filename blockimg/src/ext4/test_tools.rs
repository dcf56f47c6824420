//! Helpers of the tests that check the ext4 code against e2fsprogs:
//! finding the tools, making images and running debugfs on them.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Finds a tool in PATH or the sbin directories it usually lives in.
pub(crate) fn tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/sbin", "/usr/sbin", "/usr/local/sbin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The e2fsprogs tools, or `None` (after saying why) when missing.
pub(crate) fn e2fsprogs() -> Option<(PathBuf, PathBuf)> {
    match (tool("mke2fs"), tool("debugfs")) {
        (Some(mke2fs), Some(debugfs)) => Some((mke2fs, debugfs)),
        _ => {
            eprintln!("skipping: mke2fs or debugfs not installed");
            None
        }
    }
}

/// Runs `e2fsck -fn` on `target` (a file, or `FILE?offset=N`) and panics
/// with its report unless it finds the filesystem clean.
pub(crate) fn assert_e2fsck_clean(e2fsck: &Path, target: impl AsRef<std::ffi::OsStr>) {
    let out = Command::new(e2fsck)
        .arg("-fn")
        .arg(target)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// Makes a small ext4 image at `dir/img`.
pub(crate) fn make_image(mke2fs: &Path, dir: &Path, features: &str) -> PathBuf {
    let img = dir.join("img");
    let out = Command::new(mke2fs)
        .args(["-q", "-F", "-t", "ext4", "-O", features])
        .arg(&img)
        .arg("4M")
        .output()
        .unwrap();
    assert!(out.status.success(), "mke2fs failed: {out:?}");
    img
}

/// Runs debugfs with a command file (raw bytes, one command a line) and
/// returns its standard output.
pub(crate) fn debugfs(debugfs: &Path, img: &Path, write: bool, commands: &[u8]) -> Vec<u8> {
    let dir = img.parent().unwrap();
    let cmd_file = dir.join("commands");
    std::fs::write(&cmd_file, commands).unwrap();
    let mut cmd = Command::new(debugfs);
    if write {
        cmd.arg("-w");
    }
    let out = cmd.arg("-f").arg(&cmd_file).arg(img).output().unwrap();
    assert!(out.status.success(), "debugfs failed: {out:?}");
    out.stdout
}

/// Reads a little-endian u32 at `off`.
pub(crate) fn le32(buf: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(buf[off..off + 4].try_into().unwrap())
}
