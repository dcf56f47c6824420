//! Mounting images with `blockimg mount` in tests: a guard that unmounts
//! with `blockimg umount`, and lazily unmounts a mount left behind when a
//! test panics.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bin::{blockimg_cmd, RunOutput};
use crate::tools::{find_tool, is_root};

/// Whether FUSE mounts can be made here; prints why not.
pub fn require_fuse() -> bool {
    if !Path::new("/dev/fuse").exists() {
        eprintln!("SKIPPED: /dev/fuse does not exist");
        return false;
    }
    if !is_root() && find_tool("fusermount3").is_none() {
        eprintln!("SKIPPED: not root and no fusermount3");
        return false;
    }
    true
}

/// A filesystem mounted with `blockimg mount`.
pub struct FuseMount {
    dir: PathBuf,
    mounted: bool,
}

impl FuseMount {
    /// Runs `blockimg mount IMAGE DIR EXTRA...` and panics unless it
    /// succeeds.
    pub fn new(image: &OsStr, dir: &Path, extra: &[&str]) -> FuseMount {
        let out = mount_cmd(image, dir, extra);
        out.assert_success();
        FuseMount {
            dir: dir.to_path_buf(),
            mounted: true,
        }
    }

    /// The mountpoint.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Runs `blockimg umount` and returns its output (the commit's outcome).
    pub fn umount(mut self) -> RunOutput {
        self.mounted = false;
        let mut cmd = blockimg_cmd();
        cmd.arg("umount").arg(&self.dir);
        RunOutput::run(&mut cmd)
    }
}

impl Drop for FuseMount {
    fn drop(&mut self) {
        if self.mounted {
            lazy_unmount(&self.dir);
        }
    }
}

/// Runs `blockimg mount IMAGE DIR EXTRA...`.
pub fn mount_cmd(image: &OsStr, dir: &Path, extra: &[&str]) -> RunOutput {
    let mut cmd = blockimg_cmd();
    cmd.arg("mount").arg(image).arg(dir).args(extra);
    RunOutput::run(&mut cmd)
}

/// Detaches whatever is mounted on `dir` (a dead daemon's mount too).
pub fn lazy_unmount(dir: &Path) {
    let _ = if is_root() {
        Command::new("umount").arg("-l").arg(dir).output()
    } else {
        Command::new("fusermount3").arg("-uz").arg(dir).output()
    };
}

/// Whether `dir` is a mountpoint, from /proc/self/mountinfo.
pub fn is_mounted(dir: &Path) -> bool {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let want = dir.to_string_lossy().into_owned();
    info.lines()
        .any(|line| line.split(' ').nth(4) == Some(want.as_str()))
}

/// The pid of the `blockimg mount` daemon serving `dir`, found by its
/// command line.
pub fn daemon_pid(dir: &Path) -> Option<i32> {
    let want = dir.as_os_str().as_encoded_bytes();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        if args.iter().any(|a| *a == b"mount") && args.contains(&want) {
            return Some(pid);
        }
    }
    None
}
