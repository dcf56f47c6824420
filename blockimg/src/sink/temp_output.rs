//! An output file that appears under its name only when complete.
//!
//! The bytes go to an unnamed file in the output's directory (`O_TMPFILE`),
//! which [`TempOutput::commit`] syncs, links and renames into place. A build
//! that fails, or a process killed outright, leaves nothing behind and an
//! existing output untouched: an unnamed file vanishes with its last
//! descriptor. Where the filesystem has no unnamed files, a temporary file
//! beside the output (`.NAME.XXXX.partial`) is used instead, removed when
//! an uncommitted output is dropped.
//!
//! An existing output being replaced is locked for writing
//! ([`crate::lock`]) from the start, and the new file is locked before it
//! is renamed over it: a program holding the old file (a mount, `add`)
//! refuses this one, and this one never replaces a file that another
//! program renamed there meanwhile.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::lock::ImageLock;

/// What a replaced output's holder record says this process does.
const REPLACING: &str = "replacing it with a new image";

/// A file being written in `path`'s directory, unnamed or under a
/// temporary name, until it is committed as `path`.
pub struct TempOutput {
    path: PathBuf,
    /// The file's name until committed; `None` while it has none.
    temp_path: Option<PathBuf>,
    dir: PathBuf,
    overwrite: bool,
    file: File,
    committed: bool,
    /// The lock on the file being replaced, moved to the new file when it
    /// is renamed into place.
    lock: Option<Arc<ImageLock>>,
}

impl TempOutput {
    /// Creates the temporary file for an output that will be named `path`.
    /// Refuses an existing `path` unless `overwrite`; an existing regular
    /// file is locked for writing until it is replaced (a symlink is
    /// replaced, not what it points to).
    pub fn create(path: &Path, overwrite: bool) -> Result<TempOutput> {
        let mut lock = None;
        if let Ok(meta) = path.symlink_metadata() {
            if meta.is_file() && overwrite {
                lock = Some(Arc::new(ImageLock::write(path, REPLACING)?));
            }
            if !overwrite {
                return Err(Error::OutputExists {
                    path: path.to_path_buf(),
                });
            }
            if !meta.is_file() && !meta.file_type().is_symlink() {
                return Err(Error::InvalidOption {
                    option: "output".into(),
                    reason: format!(
                        "{} exists and is not a regular file; only a regular file is replaced",
                        path.display()
                    ),
                });
            }
        }
        Self::beside(path, overwrite, lock)
    }

    /// Creates the temporary file for a new version of the file `lock`
    /// holds for writing, which replaces it when committed.
    pub(crate) fn replacing(lock: Arc<ImageLock>) -> Result<TempOutput> {
        let path = lock.path().to_path_buf();
        Self::beside(&path, true, Some(lock))
    }

    /// The temporary file in `path`'s directory.
    fn beside(path: &Path, overwrite: bool, lock: Option<Arc<ImageLock>>) -> Result<TempOutput> {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().ok_or_else(|| Error::InvalidOption {
            option: "output".into(),
            reason: format!("{} does not name a file", path.display()),
        })?;
        let unnamed = OpenOptions::new()
            .read(true)
            .write(true)
            .mode(0o666)
            .custom_flags(libc::O_TMPFILE)
            .open(&dir);
        let (file, temp_path) = match unnamed {
            Ok(file) => (file, None),
            Err(e) if no_unnamed_files(&e) => {
                let temp_path = temp_name(&dir, name, path)?;
                let file = OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&temp_path)
                    .map_err(|e| Error::io(&dir, e))?;
                (file, Some(temp_path))
            }
            Err(e) => return Err(Error::io(&dir, e)),
        };
        Ok(TempOutput {
            path: path.to_path_buf(),
            temp_path,
            dir,
            overwrite,
            file,
            committed: false,
            lock,
        })
    }

    /// The temporary file, open for reading and writing.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Sets the file's length to `size`, syncs it and renames it to its
    /// final name (without `overwrite`, never replacing a file that appeared
    /// there meanwhile).
    pub fn commit(self, size: u64) -> Result<()> {
        self.seal(size)?.publish()
    }

    /// Sets the file's length to `size` and syncs it, leaving it without
    /// its final name: [`SealedOutput::publish`] gives it that name, and
    /// dropping the sealed output discards it. Several outputs of one build
    /// are sealed first and published together, so a build that fails
    /// publishes none of them.
    pub fn seal(self, size: u64) -> Result<SealedOutput> {
        let write_err = |source| Error::Write {
            path: self.path.clone(),
            offset: size,
            source,
        };
        self.file.set_len(size).map_err(write_err)?;
        self.file.sync_all().map_err(write_err)?;
        Ok(SealedOutput(self))
    }

    /// Links the unnamed file into its directory under a temporary name.
    fn give_a_name(&self) -> Result<PathBuf> {
        let name = self.path.file_name().unwrap_or_default();
        let temp_path = temp_name(&self.dir, name, &self.path)?;
        let fd = std::os::unix::io::AsRawFd::as_raw_fd(&self.file);
        let proc_path = CString::new(format!("/proc/self/fd/{fd}"))
            .map_err(|e| Error::io(&self.path, e.into()))?;
        let target = CString::new(temp_path.as_os_str().as_bytes())
            .map_err(|e| Error::io(&temp_path, e.into()))?;
        // SAFETY: both paths are valid NUL-terminated strings that outlive
        // the call.
        let rc = unsafe {
            libc::linkat(
                libc::AT_FDCWD,
                proc_path.as_ptr(),
                libc::AT_FDCWD,
                target.as_ptr(),
                libc::AT_SYMLINK_FOLLOW,
            )
        };
        if rc != 0 {
            return Err(Error::io(&self.dir, std::io::Error::last_os_error()));
        }
        Ok(temp_path)
    }
}

/// A complete, synced output waiting for its final name.
pub(crate) struct SealedOutput(TempOutput);

impl SealedOutput {
    /// Renames the output to its final name (without `overwrite`, never
    /// replacing a file that appeared there meanwhile).
    pub fn publish(self) -> Result<()> {
        let mut output = self.0;
        let temp_path = match output.temp_path.take() {
            Some(named) => named,
            None => output.give_a_name()?,
        };
        // From here on the temporary name is removed on failure.
        output.temp_path = Some(temp_path.clone());
        let move_in = || rename(&temp_path, &output.path, output.overwrite);
        match &output.lock {
            Some(lock) => lock.replace_with(&output.file, move_in)?,
            None => move_in()?,
        }
        output.committed = true;
        Ok(())
    }
}

/// An output whose bytes are all written and synced: a new file waiting
/// for its final name, or a device or stream that needs nothing more.
/// Dropping it unpublished discards a new file.
///
/// # Examples
///
/// ```
/// use blockimg::sink::{open_output, Destination, OutputFormat, OutputOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let (a, b) = (dir.path().join("a.vhd"), dir.path().join("b.vhd"));
/// let options = OutputOptions::new(OutputFormat::Vhd, false)?;
/// let mut done = Vec::new();
/// for path in [&a, &b] {
///     let output = open_output(&Destination::File(path.clone()), 4 << 20, &options)?;
///     done.push(output.complete()?.0);
/// }
/// assert!(!a.exists() && !b.exists()); // both written, neither in place yet
/// for completed in done {
///     completed.publish()?;
/// }
/// assert!(a.exists() && b.exists());
/// # Ok(())
/// # }
/// ```
pub struct Completed(Option<SealedOutput>);

impl Completed {
    /// A new file waiting for its final name.
    pub(crate) fn sealed(output: SealedOutput) -> Completed {
        Completed(Some(output))
    }

    /// Nothing left to do: the bytes went to their final place.
    pub(crate) fn done() -> Completed {
        Completed(None)
    }

    /// Gives a new file its final name.
    pub fn publish(self) -> Result<()> {
        match self.0 {
            Some(sealed) => sealed.publish(),
            None => Ok(()),
        }
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if let (false, Some(temp_path)) = (self.committed, &self.temp_path) {
            let _ = std::fs::remove_file(temp_path);
        }
    }
}

/// True when opening an unnamed file failed because the filesystem (or the
/// kernel) has none.
fn no_unnamed_files(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP | libc::EISDIR | libc::EINVAL | libc::ENOENT)
    ) && e.kind() != std::io::ErrorKind::PermissionDenied
}

/// A fresh temporary name for the output `path` (named `name`) in `dir`.
fn temp_name(dir: &Path, name: &std::ffi::OsStr, path: &Path) -> Result<PathBuf> {
    let mut nonce = [0u8; 6];
    getrandom::fill(&mut nonce)
        .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
    let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{nonce}.partial"));
    Ok(dir.join(temp_name))
}

/// Renames `from` to `to`; without `overwrite` an existing `to` is kept and
/// the rename fails.
fn rename(from: &Path, to: &Path, overwrite: bool) -> Result<()> {
    if overwrite {
        return std::fs::rename(from, to).map_err(|e| Error::io(to, e));
    }
    let c = |p: &Path| CString::new(p.as_os_str().as_bytes()).map_err(|e| Error::io(p, e.into()));
    let (cfrom, cto) = (c(from)?, c(to)?);
    // SAFETY: both arguments are valid NUL-terminated paths that outlive the
    // call.
    let rc = unsafe {
        libc::renameat2(
            libc::AT_FDCWD,
            cfrom.as_ptr(),
            libc::AT_FDCWD,
            cto.as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    if rc == 0 {
        return Ok(());
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EEXIST) {
        return Err(Error::OutputExists {
            path: to.to_path_buf(),
        });
    }
    Err(Error::io(to, err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn output_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let out = TempOutput::create(&path, false).unwrap();
        out.file().write_all_at(b"abc", 0).unwrap();
        assert!(!path.exists());
        out.commit(5).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc\0\0");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_sealed_output_appears_only_when_published() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let out = TempOutput::create(&path, false).unwrap();
        out.file().write_all_at(b"abc", 0).unwrap();
        let sealed = out.seal(3).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        sealed.publish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"abc");

        // Dropped unpublished: nothing appears.
        let other = dir.path().join("other.bin");
        drop(TempOutput::create(&other, false).unwrap().seal(3).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_output_held_by_a_writer_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        std::fs::write(&path, b"held").unwrap();
        let holder = ImageLock::write(&path, "mount on /m").unwrap();
        assert!(matches!(
            TempOutput::create(&path, true),
            Err(Error::Lock(crate::error::LockError::Busy { .. }))
        ));
        drop(holder);

        // Replaced, the new file is locked from the instant it appears
        // until the output is dropped.
        let out = TempOutput::create(&path, true).unwrap();
        out.file().write_all_at(b"new", 0).unwrap();
        let sealed = out.seal(3).unwrap();
        assert!(ImageLock::write(&path, "add").is_err());
        sealed.publish().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        drop(ImageLock::write(&path, "add").unwrap());
    }

    #[test]
    fn a_file_appearing_meanwhile_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let out = TempOutput::create(&path, false).unwrap();
        std::fs::write(&path, b"other").unwrap();
        assert!(matches!(out.commit(1), Err(Error::OutputExists { .. })));
        assert_eq!(std::fs::read(&path).unwrap(), b"other");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
