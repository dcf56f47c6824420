//! Copying a file or a whole tree out of an image's filesystem onto the
//! host, as `cp -a` would: contents (holes kept), modes, times with
//! nanoseconds, symlinks, hard links, FIFOs, extended attributes where the
//! host allows them, and, when running as root, owners and device nodes.

use std::collections::{BTreeMap, HashMap};
use std::ffi::CString;
use std::fs::OpenOptions;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::resolve;
use crate::error::TreeError;
use crate::error::{Error, Result};
use crate::ext4::read::{Ext4Reader, FileType, Stat};
use crate::tree::{Timestamp, Xattr};

/// Bytes copied at a time.
const COPY_CHUNK: usize = 1 << 20;

/// How [`extract`] treats what is already on the host.
///
/// # Examples
///
/// ```
/// use blockimg::browse::extract::{extract, ExtractOptions};
/// use blockimg::disk::found::ImageSpec;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// let fs = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?.open_ext4()?;
/// let dest = dir.path().join("etc");
/// extract(&fs, b"/etc", &dest, ExtractOptions::default())?;
/// assert!(extract(&fs, b"/etc", &dest, ExtractOptions::default()).is_err()); // dest exists
/// extract(&fs, b"/etc", &dest, ExtractOptions::default().force(true))?;
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// Replace existing files and symlinks, and write into existing
    /// directories, instead of refusing an existing destination.
    pub force: bool,
}

setters!(ExtractOptions at "blockimg::browse::extract::ExtractOptions" {
    force: bool,
});

/// What [`extract`] did.
///
/// # Examples
///
/// ```
/// use blockimg::browse::extract::{extract, ExtractOptions};
/// use blockimg::disk::found::ImageSpec;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// let fs = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?.open_ext4()?;
/// let dest = dir.path().join("etc");
/// let summary = extract(&fs, b"/etc", &dest, ExtractOptions::default())?;
/// assert_eq!((summary.entries, summary.bytes), (2, 10)); // /etc and hostname
/// assert!(summary.skipped.is_empty()); // nothing the host could not take
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExtractSummary {
    /// Entries created (files, directories, links, ...).
    pub entries: u64,
    /// Bytes of file data copied (holes not counted).
    pub bytes: u64,
    /// What could not be reproduced on this host, with how often
    /// (`device nodes (creating them needs root)`, an xattr the host
    /// refused, ...).
    pub skipped: BTreeMap<String, u64>,
}

/// Copies the entry at `path` in the image (a final symlink is copied as
/// a symlink) to `dest` on the host, a directory with everything below it.
/// Refuses an existing `dest` unless `options.force`.
///
/// # Examples
///
/// ```
/// use blockimg::browse::extract::{extract, ExtractOptions};
/// use blockimg::disk::found::ImageSpec;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n\
/// #             [[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// let fs = ImageSpec::parse(image.as_os_str())?.open_ext4()?;
/// let dest = dir.path().join("etc");
/// let summary = extract(&fs, b"/etc", &dest, ExtractOptions::default())?;
/// assert_eq!(summary.entries, 3); // the directory, the file and the symlink
/// assert_eq!(std::fs::read_to_string(dest.join("name"))?, "appliance\n");
/// assert!(std::fs::symlink_metadata(dest.join("name"))?.file_type().is_symlink());
/// # Ok(())
/// # }
/// ```
pub fn extract(
    reader: &Ext4Reader,
    path: &[u8],
    dest: &Path,
    options: ExtractOptions,
) -> Result<ExtractSummary> {
    let ino = resolve(reader, path, false)?;
    if dest.symlink_metadata().is_ok() && !options.force {
        return Err(Error::OutputExists {
            path: dest.to_path_buf(),
        });
    }
    let mut out = Extractor {
        reader,
        options,
        // SAFETY: geteuid has no preconditions.
        root: unsafe { libc::geteuid() } == 0,
        links: HashMap::new(),
        summary: ExtractSummary::default(),
    };
    let mut dirs = Vec::new();
    let mut stack = vec![(ino, dest.to_path_buf())];
    while let Some((ino, target)) = stack.pop() {
        let stat = reader.stat(ino)?;
        if out.create(&stat, &target)? == Created::Directory {
            for child in reader.read_dir(ino)?.into_iter().rev() {
                let name = std::ffi::OsStr::from_bytes(&child.name);
                stack.push((child.ino, target.join(name)));
            }
            dirs.push((stat, target));
        }
    }
    // Directories last, deepest first: their times stay as in the image
    // and a read-only directory was writable while it was filled.
    for (stat, target) in dirs.iter().rev() {
        out.finish(stat, target)?;
    }
    Ok(out.summary)
}

/// What [`Extractor::create`] made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Created {
    /// A directory, to be filled and finished.
    Directory,
    /// Anything else, finished.
    Other,
}

struct Extractor<'r> {
    reader: &'r Ext4Reader,
    options: ExtractOptions,
    root: bool,
    /// Host paths of inodes with several names, by inode.
    links: HashMap<u32, PathBuf>,
    summary: ExtractSummary,
}

impl Extractor<'_> {
    /// Creates `target` as `stat` describes; finishes all but directories.
    fn create(&mut self, stat: &Stat, target: &Path) -> Result<Created> {
        let is_dir = stat.file_type == FileType::Directory;
        if !self.make_room(target, is_dir)? && is_dir {
            return Ok(Created::Directory);
        }
        if !is_dir && stat.links > 1 {
            if let Some(first) = self.links.get(&stat.ino) {
                std::fs::hard_link(first, target).map_err(|e| Error::io(target, e))?;
                self.summary.entries += 1;
                return Ok(Created::Other);
            }
            self.links.insert(stat.ino, target.to_path_buf());
        }
        let io = |e| Error::io(target, e);
        match stat.file_type {
            FileType::Directory => {
                std::fs::DirBuilder::new()
                    .mode(0o700)
                    .create(target)
                    .map_err(io)?;
                self.summary.entries += 1;
                return Ok(Created::Directory);
            }
            FileType::RegularFile => self.copy_file(stat, target)?,
            FileType::Symlink => {
                let link = self.reader.readlink(stat.ino)?;
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&link), target)
                    .map_err(io)?;
            }
            FileType::Fifo => {
                let path = c_path(target)?;
                // SAFETY: the path is NUL-terminated.
                cvt(unsafe { libc::mkfifo(path.as_ptr(), 0o600) }).map_err(io)?;
            }
            FileType::CharDevice | FileType::BlockDevice if self.root => {
                let (major, minor) = stat.rdev.unwrap_or((0, 0));
                let kind = if stat.file_type == FileType::CharDevice {
                    libc::S_IFCHR
                } else {
                    libc::S_IFBLK
                };
                let path = c_path(target)?;
                // SAFETY: the path is NUL-terminated.
                let made = unsafe {
                    libc::mknod(path.as_ptr(), kind | 0o600, libc::makedev(major, minor))
                };
                cvt(made).map_err(io)?;
            }
            FileType::CharDevice | FileType::BlockDevice => {
                self.skip("device nodes (creating them needs root)");
                return Ok(Created::Other);
            }
            FileType::Socket => {
                self.skip("sockets (they are made by the program that listens)");
                return Ok(Created::Other);
            }
        }
        self.summary.entries += 1;
        self.finish(stat, target)?;
        Ok(Created::Other)
    }

    /// Clears the way for a new entry at `target`: nothing there, or with
    /// `force` a file or symlink removed, or an existing directory kept
    /// for a directory. Returns whether the entry must be created.
    fn make_room(&self, target: &Path, is_dir: bool) -> Result<bool> {
        let Ok(existing) = target.symlink_metadata() else {
            return Ok(true);
        };
        if !self.options.force {
            return Err(Error::OutputExists {
                path: target.to_path_buf(),
            });
        }
        match (existing.is_dir(), is_dir) {
            (true, true) => Ok(false),
            (true, false) => Err(Error::PlacementConflict {
                path: target.display().to_string(),
                reason: "an existing directory is in the way of a file".into(),
            }),
            _ => {
                std::fs::remove_file(target).map_err(|e| Error::io(target, e))?;
                Ok(true)
            }
        }
    }

    /// Writes a regular file's data segments (holes stay holes).
    fn copy_file(&mut self, stat: &Stat, target: &Path) -> Result<()> {
        let content = self.reader.file_content(stat.ino)?;
        let out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(target)
            .map_err(|e| Error::io(target, e))?;
        let mut buf = vec![0u8; COPY_CHUNK];
        for segment in &content.segments {
            let end = (segment.offset + segment.len).min(content.size);
            let mut pos = segment.offset;
            while pos < end {
                let n = (end - pos).min(COPY_CHUNK as u64) as usize;
                self.reader.read_content(&content, pos, &mut buf[..n])?;
                out.write_all_at(&buf[..n], pos).map_err(|e| Error::Write {
                    path: target.to_path_buf(),
                    offset: pos,
                    source: e,
                })?;
                pos += n as u64;
                self.summary.bytes += n as u64;
            }
        }
        out.set_len(content.size)
            .map_err(|e| Error::io(target, e))?;
        Ok(())
    }

    /// Owner (as root), extended attributes, mode and times of `target`.
    fn finish(&mut self, stat: &Stat, target: &Path) -> Result<()> {
        let is_link = stat.file_type == FileType::Symlink;
        let meta = &stat.meta;
        if self.root {
            std::os::unix::fs::lchown(target, Some(meta.uid), Some(meta.gid))
                .map_err(|e| Error::io(target, e))?;
        }
        let path = c_path(target)?;
        for xattr in self.reader.xattrs(stat.ino)? {
            if let Err(e) = set_xattr(&path, &xattr) {
                let name = String::from_utf8_lossy(&xattr.name);
                self.skip(&format!("extended attribute {name} ({e})"));
            }
        }
        if !is_link {
            let mode = std::fs::Permissions::from_mode(u32::from(meta.permissions));
            std::fs::set_permissions(target, mode).map_err(|e| Error::io(target, e))?;
        }
        let times = [timespec(meta.atime), timespec(meta.mtime)];
        // SAFETY: the path is NUL-terminated and `times` holds two entries.
        let set = unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                path.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        cvt(set).map_err(|e| Error::io(target, e))
    }

    fn skip(&mut self, what: &str) {
        *self.summary.skipped.entry(what.to_string()).or_default() += 1;
    }
}

fn set_xattr(path: &CString, xattr: &Xattr) -> io::Result<()> {
    let name = CString::new(xattr.name.clone()).map_err(io::Error::other)?;
    // SAFETY: both strings are NUL-terminated; the value is valid for its
    // length.
    cvt(unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            name.as_ptr(),
            xattr.value.as_ptr().cast(),
            xattr.value.len(),
            0,
        )
    })
}

fn timespec(time: Timestamp) -> libc::timespec {
    libc::timespec {
        tv_sec: time.secs as libc::time_t,
        tv_nsec: i64::from(time.nanos) as _,
    }
}

fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| {
        Error::from(TreeError::InvalidName {
            name: path.display().to_string(),
        })
    })
}

/// A C call's result: `-1` becomes the thread's `errno`.
fn cvt(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}
