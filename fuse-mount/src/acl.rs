//! POSIX ACLs as the kernel hands them to a FUSE daemon that asked for
//! `FUSE_POSIX_ACL`: the daemon keeps the mode bits and the access ACL in
//! step (as ext4's `set_acl` and `chmod` do) and gives new inodes the
//! default ACL of their directory.
//!
//! Values are in the VFS `posix_acl_xattr` format: a 4-byte version (2),
//! then 8-byte entries (tag, permissions, id).

/// Name of the access ACL attribute.
pub const ACCESS: &[u8] = b"system.posix_acl_access";
/// Name of the default ACL attribute (directories).
pub const DEFAULT: &[u8] = b"system.posix_acl_default";

const USER_OBJ: u16 = 0x01;
const GROUP_OBJ: u16 = 0x04;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
const HEADER: usize = 4;
const ENTRY: usize = 8;

/// Whether `value` is a well-formed ACL.
pub fn is_valid(value: &[u8]) -> bool {
    value.len() >= HEADER
        && (value.len() - HEADER) % ENTRY == 0
        && value[..HEADER] == 2u32.to_le_bytes()
}

fn entries(value: &[u8]) -> impl Iterator<Item = (usize, u16, u16)> + '_ {
    value[HEADER.min(value.len())..]
        .chunks_exact(ENTRY)
        .enumerate()
        .map(|(i, e)| {
            (
                HEADER + i * ENTRY,
                u16::from_le_bytes([e[0], e[1]]),
                u16::from_le_bytes([e[2], e[3]]),
            )
        })
}

/// The permission bits (`0o777`) an access ACL gives: owner, mask (or
/// owning group without a mask) and others.
pub fn mode_bits(value: &[u8]) -> u16 {
    let mut mode = 0;
    let mut group = 0;
    let mut mask = None;
    for (_, tag, perm) in entries(value) {
        let perm = perm & 7;
        match tag {
            USER_OBJ => mode |= perm << 6,
            GROUP_OBJ => group = perm,
            MASK => mask = Some(perm),
            OTHER => mode |= perm,
            _ => {}
        }
    }
    mode | (mask.unwrap_or(group) << 3)
}

/// Whether the ACL says no more than the mode bits (owner, group and
/// others only): such an ACL is not stored.
pub fn is_minimal(value: &[u8]) -> bool {
    entries(value).all(|(_, tag, _)| matches!(tag, USER_OBJ | GROUP_OBJ | OTHER))
}

/// The entries the mode bits stand for (owner, mask or owning group
/// without a mask, others): their offsets and the bits of `mode` for each.
fn mode_slots(value: &[u8], mode: u16) -> Vec<(usize, u16)> {
    let has_mask = entries(value).any(|(_, tag, _)| tag == MASK);
    entries(value)
        .filter_map(|(at, tag, _)| match tag {
            USER_OBJ => Some((at, (mode >> 6) & 7)),
            MASK => Some((at, (mode >> 3) & 7)),
            GROUP_OBJ if !has_mask => Some((at, (mode >> 3) & 7)),
            OTHER => Some((at, mode & 7)),
            _ => None,
        })
        .collect()
}

/// Sets the entries the mode bits stand for to `mode`'s, as `chmod` does
/// to an access ACL.
pub fn chmod(value: &mut [u8], mode: u16) {
    for (at, perm) in mode_slots(value, mode) {
        value[at + 2..at + 4].copy_from_slice(&perm.to_le_bytes());
    }
}

/// The access ACL of a new inode created with permissions `mode` in a
/// directory whose default ACL is `default`: the default ACL with the
/// entries the mode bits stand for limited to `mode`.
pub fn inherit(default: &[u8], mode: u16) -> Vec<u8> {
    let mut acl = default.to_vec();
    for (at, bits) in mode_slots(default, mode) {
        let perm = u16::from_le_bytes([acl[at + 2], acl[at + 3]]) & bits;
        acl[at + 2..at + 4].copy_from_slice(&perm.to_le_bytes());
    }
    acl
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
        let mut v = 2u32.to_le_bytes().to_vec();
        for &(tag, perm, id) in entries {
            v.extend_from_slice(&tag.to_le_bytes());
            v.extend_from_slice(&perm.to_le_bytes());
            v.extend_from_slice(&id.to_le_bytes());
        }
        v
    }

    #[test]
    fn mode_follows_the_mask() {
        let minimal = acl(&[(USER_OBJ, 7, 0), (GROUP_OBJ, 5, 0), (OTHER, 4, 0)]);
        assert!(is_valid(&minimal) && is_minimal(&minimal));
        assert_eq!(mode_bits(&minimal), 0o754);
        let mut full = acl(&[
            (USER_OBJ, 6, 0),
            (0x02, 7, 1000),
            (GROUP_OBJ, 4, 0),
            (MASK, 7, 0),
            (OTHER, 0, 0),
        ]);
        assert!(!is_minimal(&full));
        assert_eq!(mode_bits(&full), 0o670);
        chmod(&mut full, 0o640);
        assert_eq!(mode_bits(&full), 0o640);
        assert_eq!(mode_bits(&inherit(&full, 0o600)), 0o600);
    }
}
