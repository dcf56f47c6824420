//! Extended attributes: the in-inode area after the fixed fields and, for
//! what does not fit there, one external xattr block (laid out as in
//! [`super::format::xattr`], where POSIX ACLs are converted from the VFS
//! format to ext4's compact one).

use super::bytes::{put_u16, put_u32};
use super::csum::Checksummer;
use super::format::xattr::*;
use super::geometry::INODE_SIZE;
use super::hash::{xattr_block_hash, xattr_entry_hash};
use super::inode::IBODY_XATTR_OFFSET;
use crate::error::Ext4Error;
use crate::error::{Error, Result};
use crate::tree::Xattr;

/// One attribute as ext4 stores it: a name index, the name without its
/// prefix, and the on-disk value.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct DiskXattr {
    index: u8,
    name: Vec<u8>,
    value: Vec<u8>,
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
    let ibody_room = INODE_SIZE as usize - IBODY_XATTR_OFFSET - IBODY_HEADER_LEN;
    let block_room = block_size as usize - BLOCK_HEADER_LEN;
    let (mut in_inode, mut in_block) = (Vec::new(), Vec::new());
    let mut used = END_LEN;
    for attr in attrs {
        let need = attr.entry_size() + attr.value_size();
        if used + need <= ibody_room {
            used += need;
            in_inode.push(attr);
        } else {
            in_block.push(attr);
        }
    }
    let block_need: usize = END_LEN
        + in_block
            .iter()
            .map(|a| a.entry_size() + a.value_size())
            .sum::<usize>();
    if block_need > block_room {
        return Err(Error::from(Ext4Error::XattrsTooLarge {
            path: path(),
            needed: block_need,
            limit: block_room,
        }));
    }
    let ibody = if in_inode.is_empty() {
        Vec::new()
    } else {
        let mut area = vec![0u8; INODE_SIZE as usize - IBODY_XATTR_OFFSET];
        put_u32(&mut area, 0, XATTR_MAGIC);
        write_entries(&mut area[IBODY_HEADER_LEN..], 0, &in_inode);
        area
    };
    let block = if in_block.is_empty() {
        None
    } else {
        let mut buf = vec![0u8; block_size as usize];
        put_u32(&mut buf, H_MAGIC, XATTR_MAGIC);
        put_u32(&mut buf, H_REFCOUNT, 1);
        put_u32(&mut buf, H_BLOCKS, 1);
        let hashes = write_entries(&mut buf, BLOCK_HEADER_LEN, &in_block);
        put_u32(&mut buf, H_HASH, xattr_block_hash(hashes));
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
        region[at + E_NAME_LEN] = attr.name.len() as u8;
        region[at + E_NAME_INDEX] = attr.index;
        put_u16(region, at + E_VALUE_OFFS, value_offset as u16);
        put_u32(region, at + E_VALUE_INUM, 0);
        put_u32(region, at + E_VALUE_SIZE, attr.value.len() as u32);
        put_u32(region, at + E_HASH, hash);
        region[at + E_NAME..at + E_NAME + attr.name.len()].copy_from_slice(&attr.name);
        at += attr.entry_size();
        hashes.push(hash);
    }
    hashes
}

/// Sets the checksum of an xattr block stored at `block_nr`.
pub fn seal_block(block: &mut [u8], block_nr: u64, csum: &Checksummer) {
    put_u32(block, H_CHECKSUM, 0);
    let sum = csum.xattr_block(block_nr, block);
    put_u32(block, H_CHECKSUM, sum);
}

/// The attribute `x` as ext4 stores it; `path` names its node in errors.
fn to_disk(x: &Xattr, path: &dyn Fn() -> String) -> Result<DiskXattr> {
    let bad = |reason: &str| {
        Error::from(Ext4Error::InvalidXattr {
            path: path(),
            name: String::from_utf8_lossy(&x.name).into_owned(),
            reason: reason.to_string(),
        })
    };
    let (index, name) = name_to_disk(&x.name).ok_or_else(|| bad("unknown attribute namespace"))?;
    if name.len() > 255 {
        return Err(bad("name longer than 255 bytes"));
    }
    let value = if is_acl(index) {
        acl_to_disk(&x.value).ok_or_else(|| bad("malformed POSIX ACL"))?
    } else {
        x.value.clone()
    };
    Ok(DiskXattr {
        index,
        name: name.to_vec(),
        value,
    })
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

    /// One value the inode cannot hold must fit the block alone: the
    /// message gives what the block needs and what it holds (it used to add
    /// the inode's room, reading "need 2032; at most 2108 fit").
    #[test]
    fn too_large_names_what_the_block_needs_and_holds() {
        let e = layout(&[x("user.large", 2000)], 2048, &|| "/f".to_string()).unwrap_err();
        match e {
            Error::Ext4(Ext4Error::XattrsTooLarge { needed, limit, .. }) => {
                assert!(needed > limit, "needed {needed}, limit {limit}");
                assert_eq!(limit, 2048 - BLOCK_HEADER_LEN);
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn unknown_namespace_is_refused() {
        assert!(layout(&[x("weird.a", 1)], 4096, &|| "/f".to_string()).is_err());
    }
}
