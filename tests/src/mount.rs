//! Mounting an image's filesystem with the Linux kernel (root only): a loop
//! device over the partition's byte range, then `mount -t ext4`. Both are
//! undone when the guard is dropped, also while a test panics.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::tools::{find_tool, is_root, tool};

/// A filesystem mounted from an image through a loop device.
pub struct LoopMount {
    device: String,
    dir: Option<tempfile::TempDir>,
    mounted: bool,
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{cmd:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn kernel_log_tail() -> String {
    Command::new("dmesg")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(15)..].join("\n")
        })
        .unwrap_or_else(|| "(kernel log not readable)".into())
}

impl LoopMount {
    /// Attaches bytes `offset .. offset + size` of `img` to a free loop
    /// device and mounts its ext4 (read-only when `read_only`).
    ///
    /// Returns `None`, after printing why, when the test cannot do this here:
    /// not root, no `losetup`/`mount`, or no loop device available. A mount
    /// that the kernel refuses is not a skip: it panics with the kernel log.
    pub fn new(img: &Path, offset: u64, size: u64, read_only: bool) -> Option<LoopMount> {
        if !is_root() {
            eprintln!("SKIPPED: mounting with the kernel needs root");
            return None;
        }
        for name in ["losetup", "mount", "umount"] {
            if find_tool(name).is_none() {
                eprintln!("SKIPPED: `{name}` is not installed");
                return None;
            }
        }
        let mut losetup = tool("losetup");
        losetup
            .args(["--find", "--show"])
            .arg(format!("--offset={offset}"))
            .arg(format!("--sizelimit={size}"));
        if read_only {
            losetup.arg("--read-only");
        }
        losetup.arg(img);
        let device = match run(&mut losetup) {
            Ok(dev) if dev.starts_with("/dev/") => dev,
            Ok(other) => {
                eprintln!("SKIPPED: losetup printed no device ({other:?})");
                return None;
            }
            Err(e) => {
                eprintln!("SKIPPED: no loop device available: {e}");
                return None;
            }
        };
        let mut guard = LoopMount {
            device,
            dir: Some(tempfile::tempdir().expect("mount point")),
            mounted: false,
        };
        let options = if read_only { "ro" } else { "rw" };
        let mut mount = tool("mount");
        mount
            .args(["-t", "ext4", "-o", options])
            .arg(&guard.device)
            .arg(guard.path());
        if let Err(e) = run(&mut mount) {
            panic!(
                "the kernel refused to mount the filesystem: {e}\nkernel log:\n{}",
                kernel_log_tail()
            );
        }
        guard.mounted = true;
        Some(guard)
    }

    /// The mount point.
    pub fn path(&self) -> &Path {
        self.dir.as_ref().expect("mount point").path()
    }

    /// The loop device.
    pub fn device(&self) -> &str {
        &self.device
    }

    /// Unmounts and detaches, panicking if either fails (so that a write-back
    /// error after read-write use is not lost).
    pub fn unmount(mut self) {
        let path: PathBuf = self.path().to_path_buf();
        run(tool("umount").arg(&path)).unwrap_or_else(|e| panic!("{e}"));
        self.mounted = false;
        run(tool("losetup").arg("-d").arg(&self.device)).unwrap_or_else(|e| panic!("{e}"));
        self.device.clear();
    }
}

impl Drop for LoopMount {
    fn drop(&mut self) {
        if self.mounted {
            let path = self.path().to_path_buf();
            if run(tool("umount").arg(&path)).is_ok()
                || run(tool("umount").arg("-l").arg(&path)).is_ok()
            {
                // A lazy unmount (a panic left a handle open) detaches the
                // mount now and releases the device once the last user goes.
                self.mounted = false;
            }
        }
        if !self.device.is_empty() {
            let _ = run(tool("losetup").arg("-d").arg(&self.device));
        }
        if self.mounted {
            // Still mounted: never delete what is mounted on the directory.
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
        }
    }
}
