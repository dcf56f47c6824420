//! An output file that appears under its name only when complete.
//!
//! The bytes go to a temporary file beside the output (`.NAME.XXXX.partial`),
//! which [`TempOutput::commit`] syncs and renames into place; dropping an
//! uncommitted output removes the temporary file, so a failed build leaves
//! nothing behind and an existing output untouched.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A file being written under a temporary name beside `path`.
pub struct TempOutput {
    path: PathBuf,
    temp_path: PathBuf,
    overwrite: bool,
    file: File,
    committed: bool,
}

impl TempOutput {
    /// Creates the temporary file for an output that will be named `path`.
    /// Refuses an existing `path` unless `overwrite`.
    pub fn create(path: &Path, overwrite: bool) -> Result<TempOutput> {
        if let Ok(meta) = path.symlink_metadata() {
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
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path.file_name().ok_or_else(|| Error::InvalidOption {
            option: "output".into(),
            reason: format!("{} does not name a file", path.display()),
        })?;
        let mut nonce = [0u8; 6];
        getrandom::fill(&mut nonce)
            .map_err(|e| Error::io(path, std::io::Error::other(e.to_string())))?;
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{nonce}.partial"));
        let temp_path = dir.join(temp_name);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&temp_path)
            .map_err(|e| Error::io(&dir, e))?;
        Ok(TempOutput {
            path: path.to_path_buf(),
            temp_path,
            overwrite,
            file,
            committed: false,
        })
    }

    /// The temporary file, open for reading and writing.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// The name the output gets when committed.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sets the file's length to `size`, syncs it and renames it to its
    /// final name (without `overwrite`, never replacing a file that appeared
    /// there meanwhile).
    pub fn commit(mut self, size: u64) -> Result<()> {
        let write_err = |source| Error::Write {
            path: self.path.clone(),
            offset: size,
            source,
        };
        self.file.set_len(size).map_err(write_err)?;
        self.file.sync_all().map_err(write_err)?;
        rename(&self.temp_path, &self.path, self.overwrite)?;
        self.committed = true;
        Ok(())
    }
}

impl Drop for TempOutput {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.temp_path);
        }
    }
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
