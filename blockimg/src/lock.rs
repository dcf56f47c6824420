//! One writer per image: open-file-description locks on image files.
//!
//! Every program that changes an existing image, in place or by replacing
//! it, holds an exclusive lock on it for as long as it may write; programs
//! that read an image hold a shared one. A second writer, or a reader while
//! a writer holds the image, is refused at once, never made to wait.
//!
//! # The locks
//!
//! The locks are `fcntl` open-file-description locks (`F_OFD_SETLK`) over
//! the whole file, as QEMU takes on its images. They belong to the open
//! file, not to a thread or to the first descriptor closed: every thread of
//! the holder shares them, a forked child that inherits the descriptor
//! holds them as well (a mount's daemon keeps the lock its parent took),
//! and they vanish when the last descriptor of the open file is closed, so
//! a holder killed outright (SIGKILL) releases its image. Two opens in one
//! process are two holders, so a program never takes a second lock on an
//! image it already holds.
//!
//! A writer's lock needs the image open for writing; a reader's, for
//! reading.
//!
//! # Who holds it
//!
//! A refused program learns only that a lock is in the way (`F_OFD_GETLK`
//! reports the kind of lock but not its owner), so a writer records itself
//! in a small file beside the image, `.NAME.blockimg-lock`: its process id,
//! and what it is (the program's name and what it does, such as `mount on
//! /mnt`). The record is read only to word a refusal ([`LockError::Busy`]);
//! locking never depends on it. A writer writes it once it holds the lock
//! and removes it before the lock is released; a record whose process is
//! gone is ignored, the next writer replaces it, and a reader (which can
//! only hold its lock while no writer holds one) removes it. Readers write
//! no record: a writer they refuse is told the image is being read
//! ([`LockError::Reading`]).
//!
//! # Locks and renames
//!
//! A lock is on an inode, while a rewrite (a commit of a mount, `add`, a
//! new image built over an old one) replaces the inode at the image's path
//! by renaming a complete temporary file over it. Three rules keep a path
//! and its lock together:
//!
//! 1. After locking, [`ImageLock::write`] and [`ImageLock::read`] check
//!    that the path still names the inode they locked (device and inode
//!    numbers of the open file against those of the path); if it was
//!    replaced meanwhile they lock the file now there instead.
//! 2. A program that opens the image again after locking it checks that it
//!    opened the locked inode ([`ImageLock::check_file`]).
//! 3. Before renaming a new file over the image, the holder checks, under
//!    its lock, that the path still names the inode it locked
//!    ([`ImageLock::check_path`]): a program that opened an older image
//!    can never rename over a newer one. It locks the new file before the
//!    rename, so that the instant the new file appears at the path it is
//!    already locked, then keeps holding that lock and drops the old one
//!    (`ImageLock::replace_with`, used by [`crate::sink`]'s outputs).
//!
//! # Examples
//!
//! ```
//! use blockimg::error::LockError;
//! use blockimg::lock::ImageLock;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let image = dir.path().join("disk.img");
//! std::fs::write(&image, [0u8; 4096])?;
//!
//! let writer = ImageLock::write(&image, "add")?;
//! // A second writer (or a reader) is refused at once, told who holds it.
//! let Err(LockError::Busy { holder, .. }) = ImageLock::write(&image, "add") else {
//!     return Err("a second writer was let in".into());
//! };
//! assert!(holder.contains(&format!("(add), process {}", std::process::id())));
//! drop(writer);
//!
//! // Readers share the image, and keep writers out.
//! let (_a, _b) = (ImageLock::read(&image)?, ImageLock::read(&image)?);
//! assert!(matches!(ImageLock::write(&image, "add"), Err(LockError::Reading { .. })));
//! # Ok(())
//! # }
//! ```

use std::ffi::OsString;
use std::fs::{File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use nix::errno::Errno;
use nix::fcntl::{fcntl, FcntlArg};

pub use crate::error::LockError;

/// Times a lock is retried when the path is replaced between the open and
/// the lock, or the lock in the way goes away before it can be described.
const ATTEMPTS: usize = 3;

/// What a lock holder does with the image.
///
/// # Examples
///
/// ```
/// use blockimg::lock::{Access, ImageLock};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let image = dir.path().join("disk.img");
/// std::fs::write(&image, b"")?;
/// assert_eq!(ImageLock::read(&image)?.access(), Access::Read);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Reads it: a shared lock, held by any number of readers at once.
    Read,
    /// Changes or replaces it: an exclusive lock.
    Write,
}

impl Access {
    /// The `fcntl` lock type.
    fn lock_type(self) -> libc::c_short {
        match self {
            Access::Read => libc::F_RDLCK as libc::c_short,
            Access::Write => libc::F_WRLCK as libc::c_short,
        }
    }
}

/// A lock on an image file, held until dropped (or until the process
/// ends). See the [module documentation](self) for the scheme.
///
/// # Examples
///
/// ```
/// use blockimg::lock::ImageLock;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let image = dir.path().join("disk.img");
/// std::fs::write(&image, [0u8; 512])?;
/// let lock = ImageLock::write(&image, "install-grub")?;
/// let file = std::fs::OpenOptions::new().read(true).write(true).open(&image)?;
/// lock.check_file(&file)?; // the file opened is the one locked
/// lock.check_path()?; // and the path still names it
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct ImageLock {
    /// The image, symlinks resolved.
    path: PathBuf,
    access: Access,
    /// The open file holding the lock.
    held: Mutex<File>,
    /// The holder record; writers only.
    record: Option<Record>,
}

/// Device and inode numbers: which file a descriptor or path is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Inode {
    dev: u64,
    ino: u64,
}

impl Inode {
    fn of(meta: &std::fs::Metadata) -> Inode {
        Inode {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// A writer's holder record: where it is and what it says of the holder.
#[derive(Debug)]
struct Record {
    path: PathBuf,
    holder: String,
}

impl ImageLock {
    /// Takes a shared lock on the image at `path`, for reading it. Refused
    /// with [`LockError::Busy`], naming the holder, while a program holds
    /// it for writing.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::error::LockError;
    /// use blockimg::lock::ImageLock;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let image = dir.path().join("disk.img");
    /// std::fs::write(&image, b"")?;
    /// let _writer = ImageLock::write(&image, "mount on /mnt")?;
    /// let refused = ImageLock::read(&image).err().ok_or("read while being changed")?;
    /// assert!(refused.to_string().contains("(mount on /mnt), process"));
    /// # Ok(())
    /// # }
    /// ```
    pub fn read(path: &Path) -> Result<ImageLock, LockError> {
        let lock = acquire(path, Access::Read, None)?;
        // No writer holds the image while a reader does: any record left
        // is stale.
        let _ = std::fs::remove_file(record_path(&lock.path));
        Ok(lock)
    }

    /// Takes an exclusive lock on the image at `path`, for changing or
    /// replacing it, and records this process as its holder with
    /// `purpose` (what it does, such as `add` or `mount on /mnt`). Refused
    /// with [`LockError::Busy`] (naming the holder) while another program
    /// holds it for writing, with [`LockError::Reading`] while programs read
    /// it. The image is opened for writing.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::lock::ImageLock;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let image = dir.path().join("disk.img");
    /// std::fs::write(&image, b"")?;
    /// let lock = ImageLock::write(&image, "add")?;
    /// assert_eq!(lock.path(), image.canonicalize()?);
    /// assert!(dir.path().join(".disk.img.blockimg-lock").exists()); // the holder record
    /// drop(lock);
    /// assert!(!dir.path().join(".disk.img.blockimg-lock").exists());
    /// # Ok(())
    /// # }
    /// ```
    pub fn write(path: &Path, purpose: &str) -> Result<ImageLock, LockError> {
        let lock = acquire(path, Access::Write, Some(purpose))?;
        lock.claim();
        Ok(lock)
    }

    /// The image, symlinks resolved.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::lock::ImageLock;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("disk.img"), b"")?;
    /// std::os::unix::fs::symlink("disk.img", dir.path().join("link.img"))?;
    /// let lock = ImageLock::read(&dir.path().join("link.img"))?;
    /// assert_eq!(lock.path(), dir.path().join("disk.img").canonicalize()?);
    /// # Ok(())
    /// # }
    /// ```
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this is a reader's or a writer's lock.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::lock::{Access, ImageLock};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let image = dir.path().join("disk.img");
    /// std::fs::write(&image, b"")?;
    /// assert_eq!(ImageLock::write(&image, "add")?.access(), Access::Write);
    /// # Ok(())
    /// # }
    /// ```
    pub fn access(&self) -> Access {
        self.access
    }

    /// Records this process as the holder of a writer's lock (a reader's
    /// has no record): [`ImageLock::write`] does it, and a forked child
    /// that goes on holding the lock (a mount's daemon) calls it to name
    /// itself. The record is written as well as the image's directory
    /// allows; refusals only read it to name the holder.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::lock::ImageLock;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let image = dir.path().join("disk.img");
    /// std::fs::write(&image, b"")?;
    /// let lock = ImageLock::write(&image, "mount on /mnt")?;
    /// std::fs::remove_file(dir.path().join(".disk.img.blockimg-lock"))?;
    /// lock.claim(); // as a daemon does after its fork
    /// let record = std::fs::read_to_string(dir.path().join(".disk.img.blockimg-lock"))?;
    /// assert!(record.starts_with(&format!("{}\n", std::process::id())));
    /// # Ok(())
    /// # }
    /// ```
    pub fn claim(&self) {
        if let Some(record) = &self.record {
            let text = format!("{}\n{}\n", std::process::id(), record.holder);
            let _ = std::fs::write(&record.path, text);
        }
    }

    /// Checks that `file` (the image opened again after locking) is the
    /// file this lock holds; [`LockError::Replaced`] if the path was
    /// replaced in between.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::error::LockError;
    /// use blockimg::lock::ImageLock;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let image = dir.path().join("disk.img");
    /// std::fs::write(&image, b"old")?;
    /// let lock = ImageLock::write(&image, "add")?;
    /// std::fs::write(dir.path().join("new.img"), b"new")?;
    /// std::fs::rename(dir.path().join("new.img"), &image)?; // another program replaces it
    /// let file = std::fs::File::open(&image)?;
    /// assert!(matches!(lock.check_file(&file), Err(LockError::Replaced { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn check_file(&self, file: &File) -> Result<(), LockError> {
        self.expect(self.inode(file)?, &self.held())
    }

    /// Checks that the image's path still names the file this lock holds:
    /// [`LockError::Replaced`] if another program renamed a file over it.
    /// A holder about to replace the image checks this first, so that it
    /// never replaces a newer image than the one it read.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::error::LockError;
    /// use blockimg::lock::ImageLock;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// let image = dir.path().join("disk.img");
    /// std::fs::write(&image, b"old")?;
    /// let lock = ImageLock::write(&image, "add")?;
    /// lock.check_path()?;
    /// std::fs::write(dir.path().join("new.img"), b"new")?;
    /// std::fs::rename(dir.path().join("new.img"), &image)?;
    /// assert!(matches!(lock.check_path(), Err(LockError::Replaced { .. })));
    /// # Ok(())
    /// # }
    /// ```
    pub fn check_path(&self) -> Result<(), LockError> {
        self.check_path_held(&self.held())
    }

    /// Replaces the image with `successor` (a complete file beside it,
    /// open for writing) by calling `rename`, keeping the image locked
    /// throughout: under the lock, checks that the path still names the
    /// locked file ([`ImageLock::check_path`]), locks `successor`, renames,
    /// and from then on holds `successor`'s lock instead of the old
    /// file's. If the check or the rename fails, the old file stays locked
    /// and the image is untouched.
    pub(crate) fn replace_with(
        &self,
        successor: &File,
        rename: impl FnOnce() -> crate::Result<()>,
    ) -> crate::Result<()> {
        let mut held = self.held();
        self.check_path_held(&held)?;
        let file = successor.try_clone().map_err(|e| self.io(e))?;
        lock_now(&file, self.access).map_err(|e| self.io(e.into()))?;
        rename()?;
        // The old file closes here, and its lock with it.
        *held = file;
        Ok(())
    }

    fn held(&self) -> MutexGuard<'_, File> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn check_path_held(&self, held: &File) -> Result<(), LockError> {
        let meta = std::fs::metadata(&self.path).map_err(|e| self.io(e))?;
        self.expect(Inode::of(&meta), held)
    }

    /// The inode of an open file.
    fn inode(&self, file: &File) -> Result<Inode, LockError> {
        Ok(Inode::of(&file.metadata().map_err(|e| self.io(e))?))
    }

    /// [`LockError::Replaced`] unless `inode` is the held file's.
    fn expect(&self, inode: Inode, held: &File) -> Result<(), LockError> {
        if inode == self.inode(held)? {
            Ok(())
        } else {
            Err(LockError::Replaced {
                image: self.path.clone(),
            })
        }
    }

    fn io(&self, source: std::io::Error) -> LockError {
        LockError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

impl Drop for ImageLock {
    /// Removes the holder record if it names this process (a forked parent
    /// leaves its child's), before the lock goes with the open file. The
    /// lock itself is never released explicitly: a forked child may still
    /// hold the same open file.
    fn drop(&mut self) {
        if let Some(record) = &self.record {
            if read_record(&record.path).map(|(pid, _)| pid) == Some(std::process::id()) {
                let _ = std::fs::remove_file(&record.path);
            }
        }
    }
}

/// Opens `path` for `access` and locks it, retrying when the path is
/// replaced meanwhile.
fn acquire(path: &Path, access: Access, purpose: Option<&str>) -> Result<ImageLock, LockError> {
    let io = |source| LockError::Io {
        path: path.to_path_buf(),
        source,
    };
    let path = std::fs::canonicalize(path).map_err(io)?;
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    for _ in 0..ATTEMPTS {
        let file = OpenOptions::new()
            .read(true)
            .write(access == Access::Write)
            .open(&path)
            .map_err(io)?;
        match lock_now(&file, access) {
            Ok(()) => {}
            Err(Errno::EAGAIN | Errno::EACCES) => match conflict(&file, access) {
                Ok(Some(Access::Write)) => {
                    return Err(LockError::Busy {
                        holder: describe_holder(&record_path(&path)),
                        image: path,
                    });
                }
                Ok(Some(Access::Read)) => return Err(LockError::Reading { image: path }),
                // Released since: try again.
                Ok(None) => continue,
                Err(e) => return Err(io(e.into())),
            },
            Err(e) => return Err(io(e.into())),
        }
        let locked = Inode::of(&file.metadata().map_err(io)?);
        if locked != Inode::of(&std::fs::metadata(&path).map_err(io)?) {
            // Replaced between the open and the lock: lock the new file.
            continue;
        }
        let record = purpose.map(|purpose| Record {
            path: record_path(&path),
            holder: format!("{} ({purpose})", program_name()),
        });
        return Ok(ImageLock {
            path,
            access,
            held: Mutex::new(file),
            record,
        });
    }
    Err(LockError::Replaced { image: path })
}

/// The whole-file lock `fcntl(F_OFD_SETLK)` for `access`, without waiting.
fn lock_now(file: &File, access: Access) -> Result<(), Errno> {
    fcntl(file, FcntlArg::F_OFD_SETLK(&whole_file(access.lock_type()))).map(drop)
}

/// The kind of lock in the way of `access` on `file`, if any
/// (`F_OFD_GETLK`, which cannot say whose it is).
fn conflict(file: &File, access: Access) -> Result<Option<Access>, Errno> {
    let mut probe = whole_file(access.lock_type());
    fcntl(file, FcntlArg::F_OFD_GETLK(&mut probe))?;
    Ok(match i32::from(probe.l_type) {
        libc::F_WRLCK => Some(Access::Write),
        libc::F_RDLCK => Some(Access::Read),
        _ => None,
    })
}

/// A lock of type `l_type` over the whole file, however it grows.
fn whole_file(l_type: libc::c_short) -> libc::flock {
    libc::flock {
        l_type,
        l_whence: libc::SEEK_SET as libc::c_short,
        l_start: 0,
        l_len: 0,
        // Must be zero for open-file-description locks.
        l_pid: 0,
    }
}

/// The holder record of the image at `path`: `.NAME.blockimg-lock` beside
/// it.
fn record_path(path: &Path) -> PathBuf {
    let mut name = OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(".blockimg-lock");
    path.with_file_name(name)
}

/// The process id and holder text of a record, if it can be read.
fn read_record(path: &Path) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(path).ok()?;
    let (pid, holder) = text.split_once('\n')?;
    Some((pid.parse().ok()?, holder.trim_end().to_string()))
}

/// Who holds an image for writing, as its record says: "PROGRAM
/// (PURPOSE), process PID"; "another process" without a record or when
/// the recorded process is gone.
fn describe_holder(record: &Path) -> String {
    match read_record(record) {
        Some((pid, holder)) if Path::new(&format!("/proc/{pid}")).exists() => {
            format!("{holder}, process {pid}")
        }
        _ => "another process".into(),
    }
}

/// The running program's name, for holder records.
fn program_name() -> String {
    std::env::args_os()
        .next()
        .as_deref()
        .and_then(|arg0| Path::new(arg0).file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| "a program".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k9.img");
        std::fs::write(&path, b"image").unwrap();
        (dir, path)
    }

    #[test]
    fn a_second_writer_is_refused_naming_the_first() {
        let (_dir, path) = image();
        let first = ImageLock::write(&path, "mount on /mnt/m1").unwrap();
        let Err(LockError::Busy { image, holder }) = ImageLock::write(&path, "add") else {
            panic!("a second writer was let in");
        };
        assert_eq!(image, path.canonicalize().unwrap());
        assert!(holder.ends_with(&format!(
            "(mount on /mnt/m1), process {}",
            std::process::id()
        )));
        drop(first);
        ImageLock::write(&path, "add").unwrap();
    }

    #[test]
    fn readers_share_and_exclude_writers() {
        let (_dir, path) = image();
        let a = ImageLock::read(&path).unwrap();
        let b = ImageLock::read(&path).unwrap();
        assert!(matches!(
            ImageLock::write(&path, "add"),
            Err(LockError::Reading { .. })
        ));
        drop((a, b));
        let writer = ImageLock::write(&path, "add").unwrap();
        assert!(matches!(
            ImageLock::read(&path),
            Err(LockError::Busy { .. })
        ));
        drop(writer);
        ImageLock::read(&path).unwrap();
    }

    #[test]
    fn the_record_is_removed_with_the_lock() {
        let (dir, path) = image();
        let record = dir.path().join(".k9.img.blockimg-lock");
        let lock = ImageLock::write(&path, "add").unwrap();
        let (pid, holder) = read_record(&record).unwrap();
        assert_eq!(pid, std::process::id());
        assert!(holder.ends_with("(add)"));
        drop(lock);
        assert!(!record.exists());
    }

    #[test]
    fn a_record_of_another_process_is_left_alone() {
        // A forked parent dropping its copy of the daemon's lock.
        let (dir, path) = image();
        let record = dir.path().join(".k9.img.blockimg-lock");
        let lock = ImageLock::write(&path, "mount on /m").unwrap();
        std::fs::write(&record, "1\ninit (mount on /m)\n").unwrap();
        drop(lock);
        assert!(record.exists());
    }

    /// The id of a process that has exited.
    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        child.wait().unwrap();
        child.id()
    }

    #[test]
    fn a_stale_record_blocks_nobody_and_names_nobody() {
        let (dir, path) = image();
        let record = dir.path().join(".k9.img.blockimg-lock");
        let stale = format!("{}\nblockimg (add)\n", dead_pid());
        std::fs::write(&record, &stale).unwrap();
        // Readers take it and clear the stale record.
        drop(ImageLock::read(&path).unwrap());
        assert!(!record.exists());

        std::fs::write(&record, &stale).unwrap();
        let writer = ImageLock::write(&path, "add").unwrap();
        assert_eq!(read_record(&record).unwrap().0, std::process::id());
        // A holder without a live record is "another process".
        std::fs::write(&record, &stale).unwrap();
        let Err(LockError::Busy { holder, .. }) = ImageLock::write(&path, "add") else {
            panic!("a second writer was let in");
        };
        assert_eq!(holder, "another process");
        drop(writer);
    }

    #[test]
    fn a_path_replaced_under_the_lock_is_never_replaced_again() {
        let (dir, path) = image();
        let older = ImageLock::write(&path, "mount on /m1").unwrap();
        // Another program (not taking the lock) renames a newer image in.
        let newer = dir.path().join("newer.img");
        std::fs::write(&newer, b"newer").unwrap();
        std::fs::rename(&newer, &path).unwrap();
        assert!(matches!(
            older.check_path(),
            Err(LockError::Replaced { .. })
        ));

        // A commit from the older image is refused before its rename.
        let successor = dir.path().join("successor.img");
        std::fs::write(&successor, b"lost").unwrap();
        let file = OpenOptions::new().write(true).open(&successor).unwrap();
        let renamed = older.replace_with(&file, || {
            std::fs::rename(&successor, &path).map_err(|e| crate::Error::io(&path, e))
        });
        assert!(matches!(
            renamed,
            Err(crate::Error::Lock(LockError::Replaced { .. }))
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"newer");
        // The newer image is not locked by the older holder.
        drop(ImageLock::write(&path, "add").unwrap());
    }

    #[test]
    fn the_lock_moves_to_the_file_renamed_into_place() {
        let (dir, path) = image();
        let old = File::open(&path).unwrap();
        let lock = ImageLock::write(&path, "add").unwrap();
        let successor = dir.path().join("successor.img");
        std::fs::write(&successor, b"new").unwrap();
        let file = OpenOptions::new().write(true).open(&successor).unwrap();
        // The new file is locked before it appears at the path.
        lock.replace_with(&file, || {
            assert!(matches!(
                ImageLock::write(&successor, "add"),
                Err(LockError::Busy { .. })
            ));
            std::fs::rename(&successor, &path).map_err(|e| crate::Error::io(&path, e))
        })
        .unwrap();
        drop(file);
        lock.check_path().unwrap();
        assert!(matches!(
            ImageLock::write(&path, "add"),
            Err(LockError::Busy { .. })
        ));
        // The old inode is no longer locked.
        lock_now(&old, Access::Read).unwrap();
        drop(lock);
        drop(ImageLock::write(&path, "add").unwrap());
    }

    #[test]
    fn missing_images_are_io_errors_naming_them() {
        let (dir, _) = image();
        let missing = dir.path().join("missing.img");
        let Err(LockError::Io { path, .. }) = ImageLock::read(&missing) else {
            panic!("locked a missing image");
        };
        assert_eq!(path, missing);
    }
}
