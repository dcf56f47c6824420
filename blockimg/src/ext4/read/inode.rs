//! Inodes: finding one in its group's table, checking its checksum, and
//! decoding its fields (owner, mode, 64-bit size, times with nanoseconds and
//! epoch bits, device numbers).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::superblock::Superblock;
use super::volume::Volume;
use super::Ext4Reader;
use crate::error::Result;
use crate::ext4::bytes::{copy_available, get_u16, get_u32, join64};
use crate::ext4::csum::inode_has_csum_hi;
use crate::ext4::features::{INCOMPAT_ENCRYPT, INCOMPAT_INLINE_DATA};
use crate::ext4::format::inode::*;
use crate::tree::Metadata;

pub use crate::ext4::file_type::FileType;

/// What `stat` reports about an inode.
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
/// let stat = fs.stat(fs.lookup(b"/etc")?)?;
/// assert_eq!((stat.meta.uid, stat.meta.permissions, stat.links), (0, 0o755, 2));
/// assert_eq!(stat.meta.mtime.secs, 1_700_000_000); // the recipe's timestamp
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Inode number.
    pub ino: u32,
    /// Type of the file.
    pub file_type: FileType,
    /// Permissions, owner and times (crtime when the inode records it).
    pub meta: Metadata,
    /// Size in bytes.
    pub size: u64,
    /// Hard-link count (1 for a directory with more than 65000
    /// subdirectories under dir_nlink).
    pub links: u16,
    /// Space used, in 512-byte units.
    pub blocks: u64,
    /// Major and minor number of a device.
    pub rdev: Option<(u32, u32)>,
    /// Inode flags (`EXT4_*_FL`).
    pub flags: u32,
}

impl Stat {
    /// The full `st_mode`: type bits and permissions.
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
    /// assert_eq!(fs.stat(fs.lookup(b"/etc/name")?)?.mode(), 0o120777);
    /// # Ok(())
    /// # }
    /// ```
    pub fn mode(&self) -> u16 {
        self.file_type.mode_bits() | self.meta.permissions
    }
}

/// A decoded inode and the raw fields the other readers need.
#[derive(Clone, Debug)]
pub(super) struct Inode {
    pub stat: Stat,
    pub generation: u32,
    pub i_block: [u8; I_BLOCK_LEN],
    /// Block of the external xattr block, 0 for none.
    pub xattr_block: u64,
    /// The whole on-disk inode, for the in-inode xattrs.
    pub raw: Vec<u8>,
    /// Bytes of extra fields after the first 128.
    pub extra_isize: usize,
}

impl Inode {
    /// Blocks of data and block map (not the xattr block), in 512-byte units.
    pub fn data_sectors(&self, bs: u64) -> u64 {
        let xattr = if self.xattr_block != 0 { bs / 512 } else { 0 };
        self.stat.blocks.saturating_sub(xattr)
    }
}

impl Ext4Reader {
    /// Byte offset of inode `ino` in the filesystem (in use or not), for
    /// an update that writes it.
    pub(crate) fn inode_location(&self, ino: u32) -> Result<u64> {
        let sb = &self.sb;
        let ipg = sb.info.inodes_per_group;
        if ino == 0 || ino > sb.info.inodes_count {
            return Err(self.volume.corrupt(
                "inode number",
                ino,
                format!("inodes are numbered 1 to {}", sb.info.inodes_count),
            ));
        }
        let (group, index) = ((ino - 1) / ipg, (ino - 1) % ipg);
        let desc = self.groups.get(group as usize).ok_or_else(|| {
            self.volume.corrupt(
                format!("inode {ino}"),
                format!("group {group}"),
                "no such group",
            )
        })?;
        Ok(desc.inode_table * sb.bs() + u64::from(index) * u64::from(sb.info.inode_size))
    }

    /// Reads, checks and decodes inode `ino`, which must be in use.
    pub(super) fn inode(&self, ino: u32) -> Result<Inode> {
        let sb = &self.sb;
        let vol = &self.volume;
        let inodes = sb.info.inodes_count;
        if ino == 0 || ino > inodes {
            return Err(vol.corrupt(
                "inode number",
                ino,
                format!("inodes are numbered 1 to {inodes}"),
            ));
        }
        let ipg = sb.info.inodes_per_group;
        let (group, index) = ((ino - 1) / ipg, (ino - 1) % ipg);
        let desc = self.groups.get(group as usize).ok_or_else(|| {
            vol.corrupt(
                format!("inode {ino}"),
                format!("group {group}"),
                format!("the filesystem has {} groups", self.groups.len()),
            )
        })?;
        if !desc.inode_initialised(sb, index) {
            return Err(vol.corrupt(
                format!("inode {ino}"),
                format!("group {group}"),
                "lies in the never used part of its group's inode table",
            ));
        }
        let size = usize::from(sb.info.inode_size);
        let mut raw = vec![0u8; size];
        vol.read(
            desc.inode_table * sb.bs() + u64::from(index) * size as u64,
            &mut raw,
        )?;
        check_and_decode(ino, raw, sb, vol)
    }
}

/// Checks the checksum of inode `ino` (`raw`, as read from its table) and
/// decodes it.
pub(super) fn check_and_decode(
    ino: u32,
    raw: Vec<u8>,
    sb: &Superblock,
    vol: &Volume,
) -> Result<Inode> {
    if let Some(csum) = &sb.csum {
        let generation = get_u32(&raw, I_GENERATION);
        let has_hi = inode_has_csum_hi(&raw);
        let stored = u32::from(get_u16(&raw, I_CHECKSUM_LO))
            | if has_hi {
                u32::from(get_u16(&raw, I_CHECKSUM_HI)) << 16
            } else {
                0
            };
        let mut computed = csum.inode(ino, generation, &raw);
        if !has_hi {
            computed &= 0xFFFF;
        }
        vol.check_csum(|| format!("inode {ino}"), stored, computed)?;
    }
    decode(ino, raw, sb, vol)
}

/// Decodes the fields of inode `ino`.
fn decode(ino: u32, raw: Vec<u8>, sb: &Superblock, vol: &Volume) -> Result<Inode> {
    let field = |name: &str| format!("inode {ino} {name}");
    let mode = get_u16(&raw, I_MODE);
    let links = get_u16(&raw, I_LINKS_COUNT);
    if mode == 0 || links == 0 {
        return Err(vol.corrupt(
            field("i_links_count"),
            links,
            "a directory entry names an inode not in use",
        ));
    }
    let file_type = FileType::from_mode(mode)
        .ok_or_else(|| vol.corrupt(field("i_mode"), format!("{mode:o}"), "not a file type"))?;
    let flags = get_u32(&raw, I_FLAGS);
    if flags & INLINE_DATA_FL != 0 {
        return Err(vol.unsupported(
            INCOMPAT_INLINE_DATA.name(),
            format!("inode {ino} keeps its data inside the inode, which is not supported"),
        ));
    }
    if flags & ENCRYPT_FL != 0 {
        return Err(vol.unsupported(INCOMPAT_ENCRYPT.name(), format!("inode {ino} is encrypted")));
    }
    let extra_isize = if raw.len() > GOOD_OLD_INODE_SIZE {
        usize::from(get_u16(&raw, I_EXTRA_ISIZE))
    } else {
        0
    };
    if GOOD_OLD_INODE_SIZE + extra_isize > raw.len() || extra_isize % 4 != 0 {
        return Err(vol.corrupt(
            field("i_extra_isize"),
            extra_isize,
            format!(
                "must be a multiple of 4 up to {}",
                raw.len().saturating_sub(GOOD_OLD_INODE_SIZE)
            ),
        ));
    }
    // An extra field exists when the inode's extra part reaches its end.
    let extra = |offset: usize| {
        (offset + 4 <= GOOD_OLD_INODE_SIZE + extra_isize).then(|| get_u32(&raw, offset))
    };
    let time = |offset: usize, extra_offset: usize| {
        decode_time(get_u32(&raw, offset), extra(extra_offset).unwrap_or(0))
    };
    let crtime = extra(I_CRTIME).map(|secs| decode_time(secs, extra(I_CRTIME_EXTRA).unwrap_or(0)));
    let meta = Metadata {
        permissions: mode & 0o7777,
        uid: u32::from(get_u16(&raw, I_UID)) | u32::from(get_u16(&raw, I_UID_HIGH)) << 16,
        gid: u32::from(get_u16(&raw, I_GID)) | u32::from(get_u16(&raw, I_GID_HIGH)) << 16,
        atime: time(I_ATIME, I_ATIME_EXTRA),
        ctime: time(I_CTIME, I_CTIME_EXTRA),
        mtime: time(I_MTIME, I_MTIME_EXTRA),
        crtime,
    };
    let mut blocks = u64::from(get_u32(&raw, I_BLOCKS_LO));
    if sb.has_huge_file() {
        blocks |= u64::from(get_u16(&raw, I_BLOCKS_HIGH)) << 32;
        if flags & HUGE_FILE_FL != 0 {
            blocks = blocks.saturating_mul(sb.bs() / 512);
        }
    }
    let mut i_block = [0u8; I_BLOCK_LEN];
    copy_available(&raw, I_BLOCK, &mut i_block);
    let rdev = matches!(file_type, FileType::CharDevice | FileType::BlockDevice)
        .then(|| decode_device(&i_block));
    let xattr_hi = if sb.is_64bit() {
        u32::from(get_u16(&raw, I_FILE_ACL_HIGH))
    } else {
        0
    };
    Ok(Inode {
        stat: Stat {
            ino,
            file_type,
            meta,
            size: join64(get_u32(&raw, I_SIZE_LO), get_u32(&raw, I_SIZE_HIGH)),
            links,
            blocks,
            rdev,
            flags,
        },
        generation: get_u32(&raw, I_GENERATION),
        i_block,
        xattr_block: join64(get_u32(&raw, I_FILE_ACL_LO), xattr_hi),
        raw,
        extra_isize,
    })
}
