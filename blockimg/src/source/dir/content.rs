//! File data of host files: a regular file's content stays on the host,
//! described by its data segments, found with `SEEK_DATA`/`SEEK_HOLE`
//! when the file may be sparse.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

use super::stat::{timestamp, Stat};
use super::sys::open_at;
use crate::error::SourceError;
use crate::error::{Error, Result};
use crate::tree::{DataSource, FileContent, Segment};

/// The content of the host file at `path` (symlinks followed), for
/// sources that name single files.
///
/// # Examples
///
/// ```
/// use std::io::Read;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("motd");
/// std::fs::write(&path, "welcome\n")?;
///
/// let content = blockimg::source::dir::host_file_content(&path)?;
/// let mut text = String::new();
/// content.reader()?.read_to_string(&mut text)?;
/// assert_eq!((content.size, text.as_str()), (8, "welcome\n"));
/// # Ok(())
/// # }
/// ```
pub fn host_file_content(path: &Path) -> Result<FileContent> {
    use std::os::unix::fs::MetadataExt;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, e))?;
    if !meta.is_file() {
        return Err(Error::from(SourceError::UnsupportedFileType {
            path: path.to_path_buf(),
        }));
    }
    let size = meta.len();
    let segments = if size == 0 {
        Vec::new()
    } else {
        data_segments(file.as_raw_fd(), size).map_err(|e| Error::io(path, e))?
    };
    Ok(FileContent {
        size,
        segments,
        source: DataSource::HostFile {
            path: path.to_path_buf(),
            mtime: timestamp(meta.mtime(), meta.mtime_nsec()),
        },
    })
}

/// The content of the regular file `name` in `dirfd`, at `path`.
pub(super) fn file_content(
    dirfd: RawFd,
    name: &CStr,
    path: PathBuf,
    stat: &Stat,
) -> Result<FileContent> {
    let size = stat.size;
    let segments = if size == 0 {
        Vec::new()
    } else if stat.blocks.saturating_mul(512) < size {
        let flags =
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY | libc::O_NONBLOCK;
        let fd = open_at(dirfd, name, flags).map_err(|e| Error::io(&path, e))?;
        data_segments(fd.as_raw_fd(), size).map_err(|e| Error::io(&path, e))?
    } else {
        Segment::whole(size)
    };
    Ok(FileContent {
        size,
        segments,
        source: DataSource::HostFile {
            path,
            mtime: stat.mtime,
        },
    })
}

/// The ranges of the open file `fd` (of `size` bytes) that hold data,
/// found with `SEEK_DATA`/`SEEK_HOLE`. A filesystem or kernel without
/// support for them yields the whole file.
pub(super) fn data_segments(fd: RawFd, size: u64) -> io::Result<Vec<Segment>> {
    let whole = vec![Segment {
        offset: 0,
        len: size,
    }];
    let mut segments = Vec::new();
    let mut pos = 0u64;
    while pos < size {
        let data = match seek(fd, pos, libc::SEEK_DATA) {
            Ok(data) => data,
            // No data at or after `pos`: the rest is a hole.
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => break,
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) && pos == 0 => return Ok(whole),
            Err(e) => return Err(e),
        };
        if data >= size {
            break;
        }
        let hole = match seek(fd, data, libc::SEEK_HOLE) {
            Ok(hole) => hole,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) => size,
            Err(e) => return Err(e),
        };
        let end = hole.min(size);
        if end <= data {
            break;
        }
        segments.push(Segment {
            offset: data,
            len: end - data,
        });
        pos = end;
    }
    Ok(segments)
}

/// `lseek(fd, offset, whence)`.
fn seek(fd: RawFd, offset: u64, whence: libc::c_int) -> io::Result<u64> {
    let offset = libc::off_t::try_from(offset)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset out of range"))?;
    // SAFETY: plain system call on a descriptor.
    let result = unsafe { libc::lseek(fd, offset, whence) };
    if result < 0 {
        return Err(io::Error::last_os_error());
    }
    u64::try_from(result)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "negative file offset"))
}
