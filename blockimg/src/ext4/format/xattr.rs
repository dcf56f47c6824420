//! Extended attributes. They are stored in the inode after its extra
//! fields (a magic word, then entries) and in an external block (a
//! 32-byte header, `struct ext4_xattr_header`, then entries). Entries
//! (`struct ext4_xattr_entry`) run from the start of their area to a zero
//! word; values are placed from its end, at offsets relative to the first
//! entry (in-inode) or to the block. A name is stored without its
//! namespace prefix, which a name index stands for; POSIX ACLs have a name
//! index of their own, an empty name and a compact value format
//! (`ext4_acl_entry`), converted here from and to the VFS one.

use crate::tree::Xattr;

/// Magic of the in-inode area and of an xattr block (`EXT4_XATTR_MAGIC`).
pub(crate) const XATTR_MAGIC: u32 = 0xEA02_0000;
/// Bytes before the first entry of the in-inode area: the magic.
pub(crate) const IBODY_HEADER_LEN: usize = 4;

/// `h_magic` (u32): [`XATTR_MAGIC`].
pub(crate) const H_MAGIC: usize = 0x00;
/// `h_refcount` (u32): inodes sharing the block.
pub(crate) const H_REFCOUNT: usize = 0x04;
/// `h_blocks` (u32): blocks used, always 1.
pub(crate) const H_BLOCKS: usize = 0x08;
/// `h_hash` (u32): hash of the entries' hashes.
pub(crate) const H_HASH: usize = 0x0C;
/// `h_checksum` (u32): crc32c of the block.
pub(crate) const H_CHECKSUM: usize = 0x10;
/// Bytes of an xattr block's header, before its first entry.
pub(crate) const BLOCK_HEADER_LEN: usize = 32;

/// `e_name_len` (u8).
pub(crate) const E_NAME_LEN: usize = 0x00;
/// `e_name_index` (u8): the namespace prefix the name goes without.
pub(crate) const E_NAME_INDEX: usize = 0x01;
/// `e_value_offs` (u16): where the value is.
pub(crate) const E_VALUE_OFFS: usize = 0x02;
/// `e_value_inum` (u32): the inode holding the value (ea_inode), or 0.
pub(crate) const E_VALUE_INUM: usize = 0x04;
/// `e_value_size` (u32).
pub(crate) const E_VALUE_SIZE: usize = 0x08;
/// `e_hash` (u32): hash of the name and value.
pub(crate) const E_HASH: usize = 0x0C;
/// `e_name` (`e_name_len` bytes), the entry's variable part.
pub(crate) const E_NAME: usize = 0x10;
/// Bytes of the zero word that ends the entries.
pub(crate) const END_LEN: usize = 4;

/// Bytes of an entry whose name (without prefix) is `name_len` long.
pub(crate) fn entry_len(name_len: usize) -> usize {
    align4(E_NAME + name_len)
}

/// `n` rounded up to a multiple of 4, as entries and values are.
pub(crate) fn align4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

/// Namespace prefixes and their name indices (`EXT4_XATTR_INDEX_*`).
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

/// The name index of the attribute named `name` and the name stored with
/// it (without the prefix the index stands for; empty for a POSIX ACL), or
/// `None` for a namespace ext4 does not know.
pub(crate) fn name_to_disk(name: &[u8]) -> Option<(u8, &[u8])> {
    if let Some(&(_, index)) = ACL_NAMES.iter().find(|(acl, _)| *acl == name) {
        return Some((index, &[]));
    }
    let (prefix, index) = PREFIXES.iter().find(|(p, _)| name.starts_with(p))?;
    Some((*index, name.get(prefix.len()..).unwrap_or_default()))
}

/// Whether `index` is the name index of a POSIX ACL, whose value is stored
/// in ext4's format ([`acl_to_disk`]).
pub(crate) fn is_acl(index: u8) -> bool {
    ACL_NAMES.iter().any(|&(_, i)| i == index)
}

/// The attribute an on-disk entry stores, as the VFS presents it: the full
/// name and, for POSIX ACLs, the value in the VFS format. The error says
/// what is wrong with the entry.
pub(crate) fn from_disk(index: u8, name: &[u8], value: &[u8]) -> Result<Xattr, &'static str> {
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

/// `a_version` of the VFS format (`POSIX_ACL_XATTR_VERSION`).
const ACL_VFS_VERSION: u32 = 2;
/// `a_version` of ext4's format (`EXT4_ACL_VERSION`).
const ACL_DISK_VERSION: u32 = 1;
/// `e_tag` of an entry naming a user, which carries an id.
const ACL_USER: u16 = 0x02;
/// `e_tag` of an entry naming a group, which carries an id.
const ACL_GROUP: u16 = 0x08;
/// `e_tag` of the entries without an id (owner, owning group, mask,
/// other), 4 bytes on disk.
const SHORT_TAGS: [u16; 4] = [0x01, 0x04, 0x10, 0x20];
/// The id the VFS format gives entries without one (`ACL_UNDEFINED_ID`).
const ACL_UNDEFINED_ID: u32 = u32::MAX;

/// Converts a POSIX ACL from the VFS xattr format (version 2, 8-byte
/// entries) to ext4's (version 1, 4-byte entries without an id).
pub(crate) fn acl_to_disk(vfs: &[u8]) -> Option<Vec<u8>> {
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
pub(crate) fn acl_from_disk(disk: &[u8]) -> Option<Vec<u8>> {
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

    #[test]
    fn names_lose_their_prefix() {
        assert_eq!(name_to_disk(b"user.comment"), Some((1, &b"comment"[..])));
        assert_eq!(
            name_to_disk(b"system.posix_acl_access"),
            Some((2, &b""[..]))
        );
        // Only the exact ACL names are ACLs.
        assert_eq!(
            name_to_disk(b"system.posix_acl_accessx"),
            Some((7, &b"posix_acl_accessx"[..]))
        );
        assert_eq!(name_to_disk(b"weird.a"), None);
        assert!(is_acl(3) && !is_acl(7));
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
