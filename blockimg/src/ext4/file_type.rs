//! The type of a file, as an inode's mode and a directory entry record it.
//! It depends on nothing but the entries' type codes, so errors can name
//! it.

use super::format::dir::*;

/// The file type bits of a mode (`S_IFMT`).
const S_IFMT: u16 = 0o170000;

/// The type of a file.
///
/// # Examples
///
/// ```
/// use blockimg::ext4::read::{Ext4Reader, FileType};
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
/// assert_eq!(fs.stat(fs.lookup(b"/etc")?)?.file_type, FileType::Directory);
/// assert_eq!(FileType::Directory.to_string(), "a directory"); // for messages
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A regular file.
    RegularFile,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
}

impl FileType {
    /// The type the `S_IFMT` bits of `mode` give, if any.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::FileType;
    ///
    /// assert_eq!(FileType::from_mode(0o100644), Some(FileType::RegularFile));
    /// assert_eq!(FileType::from_mode(0o120777), Some(FileType::Symlink));
    /// assert_eq!(FileType::from_mode(0o644), None); // no type bits
    /// ```
    pub fn from_mode(mode: u16) -> Option<FileType> {
        [
            FileType::RegularFile,
            FileType::Directory,
            FileType::Symlink,
            FileType::CharDevice,
            FileType::BlockDevice,
            FileType::Fifo,
            FileType::Socket,
        ]
        .into_iter()
        .find(|t| t.mode_bits() == mode & S_IFMT)
    }

    /// The type's `S_IFMT` bits in a mode (`S_IFREG`, `S_IFDIR`, ...).
    pub(crate) fn mode_bits(self) -> u16 {
        match self {
            FileType::RegularFile => 0o100000,
            FileType::Directory => 0o040000,
            FileType::Symlink => 0o120000,
            FileType::CharDevice => 0o020000,
            FileType::BlockDevice => 0o060000,
            FileType::Fifo => 0o010000,
            FileType::Socket => 0o140000,
        }
    }

    /// The type a directory entry's `file_type` byte records, if any.
    pub(crate) fn from_dirent(file_type: u8) -> Option<FileType> {
        Some(match file_type {
            FT_REG_FILE => FileType::RegularFile,
            FT_DIR => FileType::Directory,
            FT_CHRDEV => FileType::CharDevice,
            FT_BLKDEV => FileType::BlockDevice,
            FT_FIFO => FileType::Fifo,
            FT_SOCK => FileType::Socket,
            FT_SYMLINK => FileType::Symlink,
            _ => return None,
        })
    }
}

impl std::fmt::Display for FileType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileType::RegularFile => "a regular file",
            FileType::Directory => "a directory",
            FileType::Symlink => "a symbolic link",
            FileType::CharDevice => "a character device",
            FileType::BlockDevice => "a block device",
            FileType::Fifo => "a named pipe",
            FileType::Socket => "a socket",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_bits_read_back() {
        for code in 1..=7 {
            let file_type = FileType::from_dirent(code).unwrap();
            let mode = file_type.mode_bits() | 0o7777;
            assert_eq!(FileType::from_mode(mode), Some(file_type));
        }
        assert_eq!(FileType::from_mode(0o7777), None);
    }
}
