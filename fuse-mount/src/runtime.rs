//! How `umount` finds the daemon of a mountpoint and learns how its commit
//! went: a directory of the user's own (`/run/blockimg` for root,
//! `$XDG_RUNTIME_DIR/blockimg` or `/tmp/blockimg-UID` otherwise) holds, per
//! mountpoint, a lock file the daemon keeps locked while it lives and a
//! status file it writes when its commit is done.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// The files of one mountpoint in the runtime directory.
#[derive(Debug)]
pub struct Runtime {
    lock: PathBuf,
    status: PathBuf,
    /// The daemon's process id, for waiting until a daemon that died has
    /// let go of everything (its image's lock too).
    pid: PathBuf,
}

impl Runtime {
    /// The files for the mountpoint at absolute path `mountpoint`.
    pub fn for_mountpoint(mountpoint: &Path) -> Result<Runtime> {
        let dir = runtime_dir()?;
        let digest = Sha256::digest(mountpoint.as_os_str().as_bytes());
        let key: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        Ok(Runtime {
            lock: dir.join(format!("{key}.lock")),
            status: dir.join(format!("{key}.status")),
            pid: dir.join(format!("{key}.pid")),
        })
    }

    /// Takes the mountpoint's lock without waiting: `None` when a daemon
    /// holds it. The lock lasts as long as the returned file is open (in
    /// this process or a forked one).
    pub fn try_lock(&self) -> Result<Option<File>> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock)
            .map_err(|e| Error::io(&self.lock, e))?;
        // SAFETY: flock(2) on a descriptor we own.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some(file));
        }
        let err = std::io::Error::last_os_error();
        if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
            return Ok(None);
        }
        Err(Error::io(&self.lock, err))
    }

    /// Waits until no daemon holds the lock.
    pub fn wait_unlocked(&self) -> Result<()> {
        let file = File::open(&self.lock).map_err(|e| Error::io(&self.lock, e))?;
        loop {
            // SAFETY: flock(2) on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_SH) } == 0 {
                return Ok(());
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != ErrorKind::Interrupted {
                return Err(Error::io(&self.lock, err));
            }
        }
    }

    /// Records the calling process as the mountpoint's daemon.
    pub fn record_daemon(&self) -> Result<()> {
        std::fs::write(&self.pid, std::process::id().to_string())
            .map_err(|e| Error::io(&self.pid, e))
    }

    /// Waits (a few seconds at most) until the recorded daemon has exited:
    /// a daemon that died lets go of its files one by one, the image's
    /// lock perhaps after the mountpoint's.
    pub fn wait_daemon_gone(&self) {
        let Some(pid) = std::fs::read_to_string(&self.pid)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        else {
            return;
        };
        let proc = PathBuf::from(format!("/proc/{pid}"));
        for _ in 0..500 {
            // Gone, or a zombie whose threads have all exited: every file
            // it had open is closed (threads share them until the last
            // one exits, while the leader may already show as a zombie).
            let zombie = std::fs::read_to_string(proc.join("stat"))
                .map(|text| text.rsplit(") ").next().is_some_and(|s| s.starts_with('Z')));
            let threads = std::fs::read_dir(proc.join("task")).map(|d| d.count());
            match (zombie, threads) {
                (Ok(true), Ok(1)) | (Err(_), _) | (_, Err(_)) => return,
                _ => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        }
    }

    /// Forgets the status of an earlier mount.
    pub fn clear_status(&self) -> Result<()> {
        match std::fs::remove_file(&self.status) {
            Err(e) if e.kind() != ErrorKind::NotFound => Err(Error::io(&self.status, e)),
            _ => Ok(()),
        }
    }

    /// Records how the commit went (written whole, by a rename).
    pub fn write_status(&self, status: &str) -> Result<()> {
        let temp = self.status.with_extension("status.new");
        std::fs::write(&temp, status).map_err(|e| Error::io(&temp, e))?;
        std::fs::rename(&temp, &self.status).map_err(|e| Error::io(&self.status, e))
    }

    /// The status the daemon recorded, if it got that far.
    pub fn read_status(&self) -> Result<Option<String>> {
        match std::fs::read_to_string(&self.status) {
            Ok(status) => Ok(Some(status)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&self.status, e)),
        }
    }
}

/// The runtime directory of the effective user, created mode 0700; one
/// that exists must be a directory the user owns.
fn runtime_dir() -> Result<PathBuf> {
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    let owned = |p: &Path| {
        p.symlink_metadata()
            .is_ok_and(|m| m.is_dir() && m.uid() == uid)
    };
    let dir = if uid == 0 {
        PathBuf::from("/run/blockimg")
    } else {
        match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
            Some(xdg) if xdg.is_absolute() && owned(&xdg) => xdg.join("blockimg"),
            _ => std::env::temp_dir().join(format!("blockimg-{uid}")),
        }
    };
    match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(Error::io(&dir, e)),
        _ => {}
    }
    if !owned(&dir) {
        return Err(Error::InvalidOption {
            option: "runtime directory".into(),
            reason: format!("{} is not a directory owned by uid {uid}", dir.display()),
        });
    }
    Ok(dir)
}
