//! One inode of the mounted filesystem: metadata, kind-specific content,
//! xattrs and the counts that decide its lifetime; and how it looks to the
//! kernel (`FileAttr`) and to the space accounting.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use blockimg::tree::{Metadata, Timestamp};
use fuser::{FileAttr, FileType, INodeNo};

use crate::data::FileData;

/// Largest write the kernel sends at once: the front asks for it when the
/// connection starts, and every inode's attributes give it as the block
/// size, which tools size their buffers by.
pub const MAX_WRITE: u32 = 1 << 20;

/// Longest symlink target stored in the inode itself (no data block).
const FAST_SYMLINK_MAX: usize = 59;
/// Bytes for in-inode xattrs in a 256-byte inode (after the 128-byte
/// base, the 32 extra bytes and the 4-byte header).
const IN_INODE_XATTR_BYTES: u64 = 92;
/// Bytes of an extent (and of an index entry) in an extent tree block.
const EXTENT_BYTES: u64 = 12;
/// Extents the inode holds itself.
const INODE_EXTENTS: u64 = 4;
/// Longest extent, in blocks.
const MAX_EXTENT_BLOCKS: u64 = 32768;

/// A directory: entries by name and the links that make its `nlink`.
#[derive(Clone, Debug, Default)]
pub struct Dir {
    /// Entries by name (without `.` and `..`).
    pub entries: BTreeMap<Vec<u8>, u64>,
    /// The directory holding this one (itself for the root).
    pub parent: u64,
    /// How many entries are directories.
    pub subdirs: u32,
    /// Bytes of ext4 directory records the entries need.
    pub record_bytes: u64,
}

impl Dir {
    /// Bytes of the ext4 record of an entry named `name`.
    pub fn record_len(name: &[u8]) -> u64 {
        (8 + name.len() as u64).div_ceil(4) * 4
    }

    /// Blocks of `bs` bytes the directory takes in ext4: linear blocks
    /// (with their checksum tails), plus the index of an htree.
    fn blocks(&self, bs: u64) -> u64 {
        let dots = 12 + 12;
        let leaves = (self.record_bytes + dots).div_ceil(bs - 12).max(1);
        if leaves > 1 {
            leaves + 1 + leaves / (bs / 8)
        } else {
            leaves
        }
    }
}

/// What an inode is.
#[derive(Clone, Debug)]
pub enum Kind {
    /// A regular file.
    File(FileData),
    /// A directory.
    Dir(Dir),
    /// A symbolic link and its target.
    Symlink(Vec<u8>),
    /// A character device.
    CharDevice(u32, u32),
    /// A block device.
    BlockDevice(u32, u32),
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
}

impl Kind {
    /// The kernel's file type.
    pub fn file_type(&self) -> FileType {
        match self {
            Kind::File(_) => FileType::RegularFile,
            Kind::Dir(_) => FileType::Directory,
            Kind::Symlink(_) => FileType::Symlink,
            Kind::CharDevice(..) => FileType::CharDevice,
            Kind::BlockDevice(..) => FileType::BlockDevice,
            Kind::Fifo => FileType::NamedPipe,
            Kind::Socket => FileType::Socket,
        }
    }
}

/// One inode.
#[derive(Clone, Debug)]
pub struct Inode {
    /// Owner, permissions and times.
    pub meta: Metadata,
    /// Type and content.
    pub kind: Kind,
    /// Extended attributes by full name.
    pub xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
    /// Directory entries naming it (directories: 1 while named).
    pub links: u32,
    /// References the kernel holds (lookups not yet forgotten).
    pub lookups: u64,
    /// Blocks charged to the space accounting.
    pub charged: u64,
}

impl Inode {
    /// A new inode with no links yet.
    pub fn new(meta: Metadata, kind: Kind) -> Inode {
        Inode {
            meta,
            kind,
            xattrs: BTreeMap::new(),
            links: 0,
            lookups: 0,
            charged: 0,
        }
    }

    /// The `nlink` the kernel sees: directories count `.` and their
    /// subdirectories' `..`.
    pub fn nlink(&self) -> u32 {
        match &self.kind {
            Kind::Dir(dir) if self.links > 0 => 2 + dir.subdirs,
            _ => self.links,
        }
    }

    /// Blocks of `bs` bytes the inode takes in the committed filesystem:
    /// data, extent tree, directory and symlink blocks, and an xattr block
    /// when the attributes do not fit in the inode.
    pub fn blocks(&self, bs: u64) -> u64 {
        let content = match &self.kind {
            Kind::File(data) => {
                let blocks = data.blocks(bs);
                let extents = data.ranges() + blocks / MAX_EXTENT_BLOCKS;
                let tree = if extents > INODE_EXTENTS {
                    extents.div_ceil((bs - EXTENT_BYTES) / EXTENT_BYTES)
                } else {
                    0
                };
                blocks + tree
            }
            Kind::Dir(dir) => dir.blocks(bs),
            Kind::Symlink(target) => u64::from(target.len() > FAST_SYMLINK_MAX),
            _ => 0,
        };
        content + u64::from(self.xattr_bytes() > IN_INODE_XATTR_BYTES)
    }

    /// Bytes the xattr entries need in ext4's format (an upper bound: name
    /// prefixes are not abbreviated).
    pub fn xattr_bytes(&self) -> u64 {
        self.xattrs
            .iter()
            .map(|(name, value)| xattr_entry_bytes(name, value))
            .sum()
    }

    /// The attributes the kernel caches.
    pub fn attr(&self, ino: u64, bs: u32) -> FileAttr {
        let (size, rdev) = match &self.kind {
            Kind::File(data) => (data.size, 0),
            Kind::Dir(dir) => (dir.blocks(u64::from(bs)) * u64::from(bs), 0),
            Kind::Symlink(target) => (target.len() as u64, 0),
            Kind::CharDevice(major, minor) | Kind::BlockDevice(major, minor) => {
                (0, encode_dev(*major, *minor))
            }
            Kind::Fifo | Kind::Socket => (0, 0),
        };
        let data_blocks = match &self.kind {
            Kind::Dir(_) => size / u64::from(bs),
            _ => self.charged,
        };
        FileAttr {
            ino: INodeNo(ino),
            size,
            blocks: data_blocks * u64::from(bs) / 512,
            atime: system_time(self.meta.atime),
            mtime: system_time(self.meta.mtime),
            ctime: system_time(self.meta.ctime),
            crtime: system_time(self.meta.crtime.unwrap_or(self.meta.ctime)),
            kind: self.kind.file_type(),
            perm: self.meta.permissions & 0o7777,
            nlink: self.nlink(),
            uid: self.meta.uid,
            gid: self.meta.gid,
            rdev,
            // Tools size their buffers by this: one write per request.
            blksize: MAX_WRITE,
            flags: 0,
        }
    }
}

/// Bytes of one xattr entry in ext4's format.
pub fn xattr_entry_bytes(name: &[u8], value: &[u8]) -> u64 {
    16 + (name.len() as u64).div_ceil(4) * 4 + (value.len() as u64).div_ceil(4) * 4
}

/// The kernel's 32-bit device number (`new_encode_dev`).
pub fn encode_dev(major: u32, minor: u32) -> u32 {
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)
}

/// Major and minor of a 32-bit device number.
pub fn decode_dev(rdev: u32) -> (u32, u32) {
    (
        (rdev & 0xfff00) >> 8,
        (rdev & 0xff) | ((rdev >> 12) & 0xfff00),
    )
}

/// A timestamp as the kernel's `SystemTime`.
pub fn system_time(t: Timestamp) -> SystemTime {
    let nanos = Duration::from_nanos(u64::from(t.nanos));
    if t.secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(t.secs as u64) + nanos
    } else {
        UNIX_EPOCH - Duration::from_secs(t.secs.unsigned_abs()) + nanos
    }
}

/// A `SystemTime` as a timestamp.
pub fn timestamp(t: SystemTime) -> Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => Timestamp {
            secs: d.as_secs() as i64,
            nanos: d.subsec_nanos(),
        },
        Err(e) => {
            let d = e.duration();
            let (secs, nanos) = (-(d.as_secs() as i64), d.subsec_nanos());
            if nanos == 0 {
                Timestamp { secs, nanos: 0 }
            } else {
                Timestamp {
                    secs: secs - 1,
                    nanos: 1_000_000_000 - nanos,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_round_trip() {
        for (major, minor) in [(1, 3), (8, 1), (259, 65536), (4095, 1 << 19)] {
            assert_eq!(decode_dev(encode_dev(major, minor)), (major, minor));
        }
    }

    #[test]
    fn times_before_1970_round_trip() {
        for t in [
            Timestamp { secs: -1, nanos: 5 },
            Timestamp {
                secs: 1_700_000_000,
                nanos: 123_456_789,
            },
            Timestamp::from_secs(-86400),
        ] {
            assert_eq!(timestamp(system_time(t)), t);
        }
    }
}
