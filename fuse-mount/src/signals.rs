//! Stopping a mount by a signal: SIGINT, SIGTERM and SIGHUP unmount the
//! filesystem, which ends the session, so that the daemon commits exactly
//! as after `blockimg umount`.
//!
//! The signals are blocked in every thread of the daemon and taken by one
//! thread waiting for them, so none interrupts a request or the commit.
//! The first unmounts (lazily when the mount is in use: the session then
//! ends when its last user lets go); the ones after it are ignored, so the
//! commit under way finishes and the image is the old one or the new one.

use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::unmount::unmount;

/// Signals that stop the mount.
const STOP: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// The stop signals, blocked in the thread that called [`block`] and in
/// the threads it starts afterwards.
pub struct Blocked {
    set: libc::sigset_t,
}

/// Blocks the stop signals in the calling thread; call it before starting
/// the threads that serve the mount, which inherit the mask. Signals that
/// come before [`Blocked::unmount_on_signal`] wait for it.
pub fn block() -> Result<Blocked> {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: sigemptyset and sigaddset fill a set we own with valid
    // signal numbers.
    unsafe {
        libc::sigemptyset(&mut set);
        for signal in STOP {
            libc::sigaddset(&mut set, signal);
        }
    }
    // SAFETY: changes the calling thread's mask to include a valid set.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(Error::io(
            "signal mask",
            std::io::Error::from_raw_os_error(rc),
        ));
    }
    Ok(Blocked { set })
}

impl Blocked {
    /// Starts the thread that unmounts `mountpoint` at the first stop
    /// signal (at the next one again should that fail).
    pub fn unmount_on_signal(self, mountpoint: PathBuf) -> Result<()> {
        let watch = move || {
            let mut unmounted = false;
            loop {
                let mut signal = 0;
                // SAFETY: waits for one of a set of signals this thread
                // has blocked, into a local.
                if unsafe { libc::sigwait(&self.set, &mut signal) } != 0 {
                    return;
                }
                if !unmounted {
                    unmounted = unmount(&mountpoint, false)
                        .or_else(|_| unmount(&mountpoint, true))
                        .is_ok();
                }
            }
        };
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(watch)
            .map(drop)
            .map_err(|e| Error::io("signal thread", e))
    }
}
