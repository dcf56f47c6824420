//! Extended attributes: the in-inode area after the fixed fields and, for
//! what does not fit there, one external xattr block. POSIX ACLs are
//! converted from the VFS format to ext4's compact on-disk format, and back
//! when an image is read.

use super::bytes::{put_u16, put_u32};
use super::csum::Checksummer;
use super::geometry::INODE_SIZE;
use super::hash::{xattr_block_hash, xattr_entry_hash};
use super::inode::IBODY_XATTR_OFFSET;
use crate::error::Ext4Error;
use crate::error::{Error, Result};
use crate::tree::Xattr;

/// Magic of the in-inode area and of an xattr block.
pub const MAGIC: u32 = 0xEA02_0000;
/// Bytes of an entry before its name.
pub const ENTRY_HEADER: usize = 16;
/// Bytes of an xattr block's header, before its first entry.
pub const BLOCK_HEADER: usize = 32;
const TERMINATOR: usize = 4;

/// One attribute as ext4 stores it: a name index, the name without its
/// prefix, and the on-disk value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DiskXattr {
    index: u8,
    name: Vec<u8>,
    value: Vec<u8>,
}

/// Bytes of an entry whose name (without prefix) is `name_len` long.
pub fn entry_len(name_len: usize) -> usize {
    align4(ENTRY_HEADER + name_len)
}

impl DiskXattr {
    fn entry_size(&self) -> usize {
        entry_len(self.name.len())
    }

    fn value_size(&self) -> usize {
        align4(self.value.len())
    }

    fn sort_key(&self) -> (u8, usize, &[u8]) {
        (self.index, self.name.len(), &self.name)
    }
}

fn align4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Where a node's attributes go.
#[derive(Clone, Debug, Default)]
pub struct XattrLayout {
    /// The in-inode area (magic included), empty when no attribute is there.
    pub ibody: Vec<u8>,
    /// The external block without its checksum, when needed.
    pub block: Option<Vec<u8>>,
}

/// Splits `xattrs` between the inode and an external block. `path` names
/// the node in errors (called only when there is one).
pub fn layout(xattrs: &[Xattr], block_size: u32, path: &dyn Fn() -> String) -> Result<XattrLayout> {
    if xattrs.is_empty() {
        return Ok(XattrLayout::default());
    }
    let mut attrs = xattrs
        .iter()
        .map(|x| to_disk(x, path))
        .collect::<Result<Vec<_>>>()?;
    attrs.sort_by(|a, b| a.sort_key().cmp(&b.sort_key()));
    let ibody_room = INODE_SIZE as usize - IBODY_XATTR_OFFSET - 4;
    let block_room = block_size as usize - BLOCK_HEADER;
    let (mut in_inode, mut in_block) = (Vec::new(), Vec::new());
    let mut used = TERMINATOR;
    for attr in attrs {
        let need = attr.entry_size() + attr.value_size();
        if used + need <= ibody_room {
            used += need;
            in_inode.push(attr);
        } else {
            in_block.push(attr);
        }
    }
    let block_need: usize = TERMINATOR
        + in_block
            .iter()
            .map(|a| a.entry_size() + a.value_size())
            .sum::<usize>();
    if block_need > block_room {
        return Err(Error::from(Ext4Error::XattrsTooLarge {
            path: path(),
            needed: block_need + used,
            limit: block_room + ibody_room,
        }));
    }
    let ibody = if in_inode.is_empty() {
        Vec::new()
    } else {
        let mut area = vec![0u8; INODE_SIZE as usize - IBODY_XATTR_OFFSET];
        put_u32(&mut area, 0, MAGIC);
        write_entries(&mut area[4..], 0, &in_inode);
        area
    };
    let block = if in_block.is_empty() {
        None
    } else {
        let mut buf = vec![0u8; block_size as usize];
        put_u32(&mut buf, 0, MAGIC);
        put_u32(&mut buf, 4, 1); // h_refcount
        put_u32(&mut buf, 8, 1); // h_blocks
        let hashes = write_entries(&mut buf, BLOCK_HEADER, &in_block);
        put_u32(&mut buf, 12, xattr_block_hash(hashes));
        Some(buf)
    };
    Ok(XattrLayout { ibody, block })
}

/// Writes entries from `first` and values from the end of `region`; value
/// offsets are relative to the start of `region`. Returns the entry hashes.
fn write_entries(region: &mut [u8], first: usize, attrs: &[DiskXattr]) -> Vec<u32> {
    let mut at = first;
    let mut value_end = region.len();
    let mut hashes = Vec::with_capacity(attrs.len());
    for attr in attrs {
        let hash = xattr_entry_hash(&attr.name, &attr.value);
        let value_offset = if attr.value.is_empty() {
            0
        } else {
            value_end -= attr.value_size();
            region[value_end..value_end + attr.value.len()].copy_from_slice(&attr.value);
            value_end
        };
        region[at] = attr.name.len() as u8;
        region[at + 1] = attr.index;
        put_u16(region, at + 2, value_offset as u16);
        put_u32(region, at + 4, 0);
        put_u32(region, at + 8, attr.value.len() as u32);
        put_u32(region, at + 12, hash);
        region[at + ENTRY_HEADER..at + ENTRY_HEADER + attr.name.len()].copy_from_slice(&attr.name);
        at += attr.entry_size();
        hashes.push(hash);
    }
    hashes
}

/// Sets the checksum of an xattr block stored at `block_nr`.
pub fn seal_block(block: &mut [u8], block_nr: u64, csum: &Checksummer) {
    put_u32(block, 16, 0);
    let sum = csum.xattr_block(block_nr, block);
    put_u32(block, 16, sum);
}

const PREFIXES: [(&[u8], u8); 4] = [
    (b"user.", 1),
    (b"trusted.", 4),
    (b"security.", 6),
    (b"system.", 7),
];

/// Name indices of the POSIX ACLs, whose names are only their index.
const ACL_NAMES: [(&[u8], u8); 2] = [
    (b"system.posix_acl_access", 2),
    (b"system.posix_acl_default", 3),
];

fn to_disk(x: &Xattr, path: &dyn Fn() -> String) -> Result<DiskXattr> {
    let bad = |reason: &str| {
        Error::from(Ext4Error::InvalidXattr {
            path: path(),
            name: String::from_utf8_lossy(&x.name).into_owned(),
            reason: reason.to_string(),
        })
    };
    let acl = ACL_NAMES
        .iter()
        .find(|(name, _)| *name == x.name.as_slice());
    let (index, name) = match acl {
        Some(&(_, index)) => (index, Vec::new()),
        None => {
            let full = x.name.as_slice();
            let (prefix, index) = PREFIXES
                .iter()
                .find(|(p, _)| full.starts_with(p))
                .ok_or_else(|| bad("unknown attribute namespace"))?;
            (*index, full[prefix.len()..].to_vec())
        }
    };
    if name.len() > 255 {
        return Err(bad("name longer than 255 bytes"));
    }
    let value = if acl.is_some() {
        acl_to_disk(&x.value).ok_or_else(|| bad("malformed POSIX ACL"))?
    } else {
        x.value.clone()
    };
    Ok(DiskXattr { index, name, value })
}

/// The attribute an on-disk entry stores, as the VFS presents it: the full
/// name and, for POSIX ACLs, the value in the VFS format. The error says
/// what is wrong with the entry.
pub fn from_disk(index: u8, name: &[u8], value: &[u8]) -> Result<Xattr, &'static str> {
    if let Some((full, _)) = ACL_NAMES.iter().find(|(_, i)| *i == index) {
        if !name.is_empty() {
            return Err("a POSIX ACL entry with a name");
        }
        let value = acl_from_disk(value).ok_or("malformed POSIX ACL")?;
        return Ok(Xattr {
            name: full.to_vec(),
            value,
        });
    }
    let (prefix, _) = PREFIXES
        .iter()
        .find(|(_, i)| *i == index)
        .ok_or("unknown attribute name index")?;
    Ok(Xattr {
        name: [prefix, name].concat(),
        value: value.to_vec(),
    })
}

const ACL_VFS_VERSION: u32 = 2;
const ACL_DISK_VERSION: u32 = 1;
const ACL_USER: u16 = 0x02;
const ACL_GROUP: u16 = 0x08;
const SHORT_TAGS: [u16; 4] = [0x01, 0x04, 0x10, 0x20];
/// The id the VFS format gives entries without one (`ACL_UNDEFINED_ID`).
const ACL_UNDEFINED_ID: u32 = u32::MAX;

/// Converts a POSIX ACL from the VFS xattr format (version 2, 8-byte
/// entries) to ext4's (version 1, 4-byte entries without an id).
fn acl_to_disk(vfs: &[u8]) -> Option<Vec<u8>> {
    let (header, body) = vfs.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*header) != ACL_VFS_VERSION || body.len() % 8 != 0 {
        return None;
    }
    let mut out = ACL_DISK_VERSION.to_le_bytes().to_vec();
    for entry in body.chunks_exact(8) {
        let tag = u16::from_le_bytes([entry[0], entry[1]]);
        out.extend_from_slice(&entry[..4]);
        if tag == ACL_USER || tag == ACL_GROUP {
            out.extend_from_slice(&entry[4..8]);
        } else if !SHORT_TAGS.contains(&tag) {
            return None;
        }
    }
    Some(out)
}

/// Converts a POSIX ACL from ext4's format back to the VFS xattr format,
/// giving entries without an id the undefined id.
fn acl_from_disk(disk: &[u8]) -> Option<Vec<u8>> {
    let (header, mut body) = disk.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*header) != ACL_DISK_VERSION {
        return None;
    }
    let mut out = ACL_VFS_VERSION.to_le_bytes().to_vec();
    while let Some((entry, rest)) = body.split_first_chunk::<4>() {
        let tag = u16::from_le_bytes([entry[0], entry[1]]);
        out.extend_from_slice(entry);
        body = rest;
        if tag == ACL_USER || tag == ACL_GROUP {
            let (id, rest) = body.split_first_chunk::<4>()?;
            out.extend_from_slice(id);
            body = rest;
        } else if SHORT_TAGS.contains(&tag) {
            out.extend_from_slice(&ACL_UNDEFINED_ID.to_le_bytes());
        } else {
            return None;
        }
    }
    body.is_empty().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x(name: &str, len: usize) -> Xattr {
        Xattr {
            name: name.as_bytes().to_vec(),
            value: vec![b'v'; len],
        }
    }

    #[test]
    fn small_attributes_stay_in_the_inode() {
        let l = layout(&[x("user.a", 10)], 4096, &|| "/f".to_string()).unwrap();
        assert!(!l.ibody.is_empty());
        assert!(l.block.is_none());
    }

    #[test]
    fn large_attributes_go_to_a_block() {
        let l = layout(&[x("user.a", 10), x("user.big", 2000)], 4096, &|| {
            "/f".to_string()
        })
        .unwrap();
        assert!(!l.ibody.is_empty());
        assert!(l.block.is_some());
    }

    #[test]
    fn too_large_is_an_error_naming_the_path() {
        let e = layout(&[x("user.huge", 5000)], 4096, &|| "/f".to_string()).unwrap_err();
        assert!(e.to_string().contains("/f"));
    }

    #[test]
    fn unknown_namespace_is_refused() {
        assert!(layout(&[x("weird.a", 1)], 4096, &|| "/f".to_string()).is_err());
    }

    #[test]
    fn acl_converts_to_disk_format() {
        let mut vfs = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [
            (1u16, 6u16, u32::MAX),
            (2, 4, 1000),
            (4, 4, u32::MAX),
            (0x10, 4, u32::MAX),
            (0x20, 0, u32::MAX),
        ] {
            vfs.extend_from_slice(&tag.to_le_bytes());
            vfs.extend_from_slice(&perm.to_le_bytes());
            vfs.extend_from_slice(&id.to_le_bytes());
        }
        let disk = acl_to_disk(&vfs).unwrap();
        assert_eq!(disk.len(), 4 + 4 * 4 + 8);
        assert_eq!(&disk[..4], &1u32.to_le_bytes());
        assert!(acl_to_disk(&vfs[..7]).is_none());
        assert_eq!(acl_from_disk(&disk).unwrap(), vfs);
        assert!(acl_from_disk(&disk[..disk.len() - 2]).is_none());
    }

    #[test]
    fn disk_entries_get_their_prefix_back() {
        let x = from_disk(1, b"comment", b"v").unwrap();
        assert_eq!(
            (x.name.as_slice(), x.value.as_slice()),
            (&b"user.comment"[..], &b"v"[..])
        );
        assert_eq!(
            from_disk(6, b"selinux", b"").unwrap().name,
            b"security.selinux"
        );
        assert!(from_disk(2, b"x", b"").is_err());
        assert!(from_disk(5, b"x", b"").is_err());
    }
}
