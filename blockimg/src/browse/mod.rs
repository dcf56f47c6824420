//! Looking into the ext4 filesystem of an image without mounting it:
//! resolving paths (symlinks inside the image followed as the kernel
//! would), listing like `ls -la` ([`ls`]), copying a file's bytes out
//! ([`cat`]) and copying files and trees onto the host ([`extract`]).

pub mod extract;
pub mod ls;

use std::collections::VecDeque;
use std::io::Write;

use crate::error::Ext4Error;
use crate::error::{Error, Result};
use crate::ext4::read::{Ext4Reader, FileType, ROOT_INO};

/// Symlinks one resolution follows before giving up, as Linux's
/// `MAXSYMLINKS`.
const MAX_SYMLINKS: usize = 40;

/// Bytes copied at a time by [`cat`].
const COPY_CHUNK: usize = 1 << 20;

/// The inode at `path` (from the root of the filesystem; `.` and `..`
/// handled, symlinks on the way followed, relative targets from their
/// directory, absolute ones from the filesystem's root). The last
/// component is followed too when `follow_last`.
///
/// # Examples
///
/// ```
/// use blockimg::browse::resolve;
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
/// let link = resolve(&fs, b"/etc/name", false)?;
/// let file = resolve(&fs, b"/etc/../etc/name", true)?;
/// assert_eq!(fs.readlink(link)?, b"hostname");
/// assert_eq!(file, fs.lookup(b"/etc/hostname")?);
/// # Ok(())
/// # }
/// ```
pub fn resolve(reader: &Ext4Reader, path: &[u8], follow_last: bool) -> Result<u32> {
    let shown = String::from_utf8_lossy(path).into_owned();
    let mut trail = vec![ROOT_INO];
    let mut pending: VecDeque<Vec<u8>> = components(path).collect();
    let mut links = 0;
    while let Some(name) = pending.pop_front() {
        match name.as_slice() {
            b"." => continue,
            b".." => {
                if trail.len() > 1 {
                    trail.pop();
                }
                continue;
            }
            _ => {}
        }
        let dir = *trail.last().unwrap_or(&ROOT_INO);
        if reader.stat(dir)?.file_type != FileType::Directory {
            return Err(Error::from(Ext4Error::WrongFileType {
                image: reader.image_path().to_path_buf(),
                what: format!("a component of {shown}"),
                expected: FileType::Directory,
            }));
        }
        let ino = reader.lookup_in(dir, &name)?.ok_or_else(|| {
            Error::from(Ext4Error::NoSuchPath {
                image: reader.image_path().to_path_buf(),
                path: shown.clone(),
            })
        })?;
        let is_link = reader.stat(ino)?.file_type == FileType::Symlink;
        if is_link && (follow_last || !pending.is_empty()) {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Error::from(Ext4Error::SymlinkLoop {
                    image: reader.image_path().to_path_buf(),
                    path: shown,
                }));
            }
            let target = reader.readlink(ino)?;
            if target.starts_with(b"/") {
                trail.truncate(1);
            }
            for component in components(&target).collect::<Vec<_>>().into_iter().rev() {
                pending.push_front(component);
            }
            continue;
        }
        trail.push(ino);
    }
    Ok(*trail.last().unwrap_or(&ROOT_INO))
}

/// The non-empty components of a `/`-separated path.
fn components(path: &[u8]) -> impl Iterator<Item = Vec<u8>> + '_ {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
}

/// Writes the content of the regular file at `path` (symlinks followed)
/// to `out`, holes as zeros; returns the bytes written. Anything but a
/// regular file is refused with [`Ext4Error::WrongFileType`].
///
/// # Examples
///
/// ```
/// use blockimg::disk::found::ImageSpec;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n\
/// #             [[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// // disk.img: a disk image whose ext4 root holds /etc/hostname and a
/// // symlink /etc/name to it.
/// let fs = ImageSpec::parse(image.as_os_str())?.open_ext4()?;
/// let mut out = Vec::new();
/// blockimg::browse::cat(&fs, b"/etc/name", &mut out)?; // the link is followed
/// assert_eq!(out, b"appliance\n");
/// assert!(blockimg::browse::cat(&fs, b"/etc", &mut out).is_err()); // not a file
/// # Ok(())
/// # }
/// ```
pub fn cat(reader: &Ext4Reader, path: &[u8], out: &mut dyn Write) -> Result<u64> {
    let ino = resolve(reader, path, true)?;
    let stat = reader.stat(ino)?;
    if stat.file_type != FileType::RegularFile {
        return Err(Error::from(Ext4Error::WrongFileType {
            image: reader.image_path().to_path_buf(),
            what: format!("{} ({})", String::from_utf8_lossy(path), stat.file_type),
            expected: FileType::RegularFile,
        }));
    }
    let content = reader.file_content(ino)?;
    let mut buf = vec![0u8; COPY_CHUNK];
    let mut pos = 0;
    while pos < content.size {
        let n = (content.size - pos).min(COPY_CHUNK as u64) as usize;
        reader.read_content(&content, pos, &mut buf[..n])?;
        out.write_all(&buf[..n])
            .map_err(|e| Error::io("standard output", e))?;
        pos += n as u64;
    }
    Ok(pos)
}
