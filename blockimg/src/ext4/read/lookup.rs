//! Finding an inode by name: in one directory, or along a path from the
//! root.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::inode::FileType;
use super::{Budget, Ext4Reader, ROOT_INO};
use crate::error::Ext4Error;
use crate::error::{Error, Result};

/// Deepest path [`Ext4Reader::lookup`] follows.
const MAX_PATH_DEPTH: usize = 4096;

impl Ext4Reader {
    /// The inode named `name` in directory `dir`, if there is one.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::Ext4Reader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n\
    /// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n[[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.img");
    /// // disk.img: an MBR disk whose ext4 filesystem, at 1 MiB, holds /etc/hostname
    /// // ("appliance\n") and the symlink /etc/name -> hostname.
    /// let fs = Ext4Reader::open(std::fs::File::open(&image)?, 1 << 20, &image)?;
    /// let etc = fs.lookup(b"/etc")?;
    /// assert_eq!(fs.lookup_in(etc, b"hostname")?, Some(fs.lookup(b"/etc/hostname")?));
    /// assert_eq!(fs.lookup_in(etc, b"passwd")?, None);
    /// # Ok(())
    /// # }
    /// ```
    pub fn lookup_in(&self, dir: u32, name: &[u8]) -> Result<Option<u32>> {
        Ok(self
            .read_dir(dir)?
            .into_iter()
            .find(|e| e.name == name)
            .map(|e| e.ino))
    }

    /// The inode at `path` (`/`-separated, from the root; `.` and `..`
    /// are followed, symlinks are not).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::{Ext4Reader, ROOT_INO};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n\
    /// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n[[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.img");
    /// // disk.img: an MBR disk whose ext4 filesystem, at 1 MiB, holds /etc/hostname
    /// // ("appliance\n") and the symlink /etc/name -> hostname.
    /// let fs = Ext4Reader::open(std::fs::File::open(&image)?, 1 << 20, &image)?;
    /// assert_eq!(fs.lookup(b"/")?, ROOT_INO);
    /// assert_eq!(fs.lookup(b"/etc/../etc/hostname")?, fs.lookup(b"/etc/hostname")?);
    /// assert!(fs.lookup(b"/etc/passwd").is_err());
    /// # Ok(())
    /// # }
    /// ```
    pub fn lookup(&self, path: &[u8]) -> Result<u32> {
        let show = |p: &[u8]| String::from_utf8_lossy(p).into_owned();
        let mut trail = vec![ROOT_INO];
        for (i, component) in path.split(|&b| b == b'/').enumerate() {
            let here = *trail.last().unwrap_or(&ROOT_INO);
            match component {
                b"" | b"." => continue,
                b".." => {
                    if trail.len() > 1 {
                        trail.pop();
                    }
                    continue;
                }
                _ => {}
            }
            if trail.len() > MAX_PATH_DEPTH {
                return Err(self.no_such_path(&show(path)));
            }
            let walked = || {
                show(
                    &path
                        .split(|&b| b == b'/')
                        .take(i)
                        .collect::<Vec<_>>()
                        .join(&b'/'),
                )
            };
            let dir = self.typed_inode(here, FileType::Directory, walked)?;
            let entries = self.dir_entries(&dir, &mut Budget::new(self))?;
            match entries.into_iter().find(|e| e.name == component) {
                Some(entry) => trail.push(entry.ino),
                None => return Err(self.no_such_path(&show(path))),
            }
        }
        Ok(*trail.last().unwrap_or(&ROOT_INO))
    }

    fn no_such_path(&self, path: &str) -> Error {
        Error::from(Ext4Error::NoSuchPath {
            image: self.image_path().to_path_buf(),
            path: path.to_string(),
        })
    }
}
