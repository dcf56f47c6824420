//! Unmounting a mountpoint: `umount2` as root, `fusermount3 -u` otherwise;
//! lazily (detached at once, ended when its last user lets go) on request.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Unmounts `mountpoint`; with `lazy`, even while it is in use. The error
/// is the system's or `fusermount3`'s message.
pub fn unmount(mountpoint: &Path, lazy: bool) -> std::result::Result<(), String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let path =
            std::ffi::CString::new(mountpoint.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
        let flags = if lazy { libc::MNT_DETACH } else { 0 };
        // SAFETY: a valid NUL-terminated path that outlives the call.
        if unsafe { libc::umount2(path.as_ptr(), flags) } == 0 {
            return Ok(());
        }
        return Err(format!("umount: {}", std::io::Error::last_os_error()));
    }
    let out = std::process::Command::new("fusermount3")
        .arg(if lazy { "-uz" } else { "-u" })
        .arg(mountpoint)
        .output()
        .map_err(|e| format!("fusermount3: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
}
