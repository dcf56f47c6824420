//! The hashes of extended attributes: of an entry (its name and value) and
//! of an xattr block (its entries' hashes).

use super::widen;

/// The `e_hash` of an extended attribute entry.
///
/// `name` is the name as stored in the entry, without the namespace prefix
/// the entry's `e_name_index` stands for (`"user.foo"` stores `foo`). Its
/// bytes are hashed as signed chars, as Linux before 6.2 and e2fsprogs
/// before 1.47 compute it on x86; newer releases compute the unsigned form
/// ([`xattr_entry_hash_unsigned`]) but still accept this one, so this form
/// is understood by old and new tools alike. The two differ only for names
/// with bytes of 0x80 and above.
///
/// `value` is the attribute value, hashed as little-endian words,
/// zero-padded to a multiple of 4 bytes. For a value kept in an EA inode,
/// pass that inode's hash as 4 little-endian bytes instead.
pub fn xattr_entry_hash(name: &[u8], value: &[u8]) -> u32 {
    xattr_value_hash(xattr_name_hash(name, false), value)
}

/// The `e_hash` of an extended attribute entry with the name bytes hashed
/// as unsigned chars, as Linux 6.2 and later and e2fsprogs 1.47 and later
/// compute it. Identical to [`xattr_entry_hash`] for names without bytes of
/// 0x80 and above.
#[cfg(test)]
pub fn xattr_entry_hash_unsigned(name: &[u8], value: &[u8]) -> u32 {
    xattr_value_hash(xattr_name_hash(name, true), value)
}

/// Folds the name into the entry hash (`NAME_HASH_SHIFT` 5).
fn xattr_name_hash(name: &[u8], unsigned: bool) -> u32 {
    name.iter().fold(0, |hash: u32, &byte| {
        hash.rotate_left(5) ^ widen(byte, unsigned)
    })
}

/// Folds the value words into the entry hash (`VALUE_HASH_SHIFT` 16).
fn xattr_value_hash(mut hash: u32, value: &[u8]) -> u32 {
    for chunk in value.chunks(4) {
        let mut word = [0u8; 4];
        word[..chunk.len()].copy_from_slice(chunk);
        hash = hash.rotate_left(16) ^ u32::from_le_bytes(word);
    }
    hash
}

/// The `h_hash` of an extended attribute block, from the `e_hash` of its
/// entries in on-disk order (`BLOCK_HASH_SHIFT` 16). It is 0 when any entry
/// hash is 0.
pub fn xattr_block_hash(entry_hashes: impl IntoIterator<Item = u32>) -> u32 {
    let mut hash: u32 = 0;
    for entry in entry_hashes {
        if entry == 0 {
            return 0;
        }
        hash = hash.rotate_left(16) ^ entry;
    }
    hash
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext4::csum::crc32c_raw;
    use crate::ext4::features::{Features, INCOMPAT_CSUM_SEED};
    use crate::ext4::format::superblock::{
        SUPERBLOCK_LEN, SUPERBLOCK_OFFSET, S_CHECKSUM_SEED, S_LOG_BLOCK_SIZE, S_UUID,
    };
    use crate::ext4::format::xattr::*;
    use crate::ext4::test_tools::{debugfs, e2fsprogs, le32, make_image, tool};
    use std::os::unix::ffi::OsStrExt;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    #[test]
    fn xattr_block_hash_by_hand() {
        assert_eq!(xattr_block_hash([]), 0);
        assert_eq!(xattr_block_hash([0x1234_5678]), 0x1234_5678);
        assert_eq!(
            xattr_block_hash([0x1234_5678, 0x0000_ffff]),
            0x5678_1234 ^ 0x0000_ffff
        );
        assert_eq!(xattr_block_hash([0x1234_5678, 0, 7]), 0);
    }

    #[test]
    fn xattr_entry_hash_by_hand() {
        // "a" = 0x61; value "xy" pads to the word 0x00007978.
        let name = 0x61u32;
        assert_eq!(xattr_entry_hash(b"a", b""), name);
        assert_eq!(
            xattr_entry_hash(b"a", b"xy"),
            name.rotate_left(16) ^ 0x0000_7978
        );
        // A signed 0x80 xors in 0xffffff80.
        assert_eq!(xattr_entry_hash(&[0x80], b""), 0xffff_ff80);
        assert_eq!(xattr_entry_hash_unsigned(&[0x80], b""), 0x80);
    }

    /// One entry of an extended attribute block, as found on disk.
    struct RawEntry {
        /// Byte offset of the entry within the block.
        offset: usize,
        name: Vec<u8>,
        value: Vec<u8>,
        e_hash: u32,
    }

    /// An image whose directory `/d` has attributes in an attribute block.
    struct XattrImage {
        _dir: tempfile::TempDir,
        img: PathBuf,
        block_size: usize,
        block: usize,
        entries: Vec<RawEntry>,
    }

    /// Attribute names (after `user.`) and values, all too large for the
    /// inode body so that every entry lands in the attribute block, where
    /// e2fsprogs stores entry hashes (it leaves in-inode entry hashes at 0).
    fn xattr_values() -> Vec<(Vec<u8>, Vec<u8>)> {
        vec![
            (b"big".to_vec(), vec![b'x'; 150]),
            (b"odd".to_vec(), (0..=160u8).collect()),
            ("\u{e9}t\u{e9}".as_bytes().to_vec(), b"abcdefgh".repeat(19)),
            (vec![0xff, b'z', 0x80], vec![0xa5; 157]),
        ]
    }

    /// Makes a metadata_csum image, lets debugfs add [`xattr_values`] to a
    /// new directory and reads the attribute block back.
    fn xattr_image(mke2fs: &Path, debugfs_bin: &Path) -> XattrImage {
        let dir = tempfile::tempdir().unwrap();
        let img = make_image(mke2fs, dir.path(), "metadata_csum");
        let values = xattr_values();
        let mut commands = b"mkdir d\n".to_vec();
        for (i, (name, value)) in values.iter().enumerate() {
            let file = dir.path().join(format!("value{i}"));
            std::fs::write(&file, value).unwrap();
            commands.extend_from_slice(b"ea_set -f ");
            commands.extend_from_slice(file.as_os_str().as_bytes());
            commands.extend_from_slice(b" /d user.");
            commands.extend_from_slice(name);
            commands.push(b'\n');
        }
        debugfs(debugfs_bin, &img, true, &commands);

        let stat = debugfs(debugfs_bin, &img, false, b"stat /d\n");
        let stat = String::from_utf8_lossy(&stat);
        let block: usize = stat
            .split("File ACL: ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap()
            .parse()
            .unwrap();
        assert_ne!(block, 0, "attributes went to a block");

        let image = std::fs::read(&img).unwrap();
        let sb_at = SUPERBLOCK_OFFSET as usize;
        let block_size = 1024usize << le32(&image, sb_at + S_LOG_BLOCK_SIZE);
        let blk = &image[block * block_size..][..block_size];
        assert_eq!(le32(blk, H_MAGIC), XATTR_MAGIC, "xattr block magic");

        let mut entries = Vec::new();
        let mut off = BLOCK_HEADER_LEN;
        while le32(blk, off) != 0 {
            let name_len = blk[off + E_NAME_LEN] as usize;
            assert_eq!(blk[off + E_NAME_INDEX], 1, "user namespace");
            let value_offs =
                u16::from_le_bytes([blk[off + E_VALUE_OFFS], blk[off + E_VALUE_OFFS + 1]]) as usize;
            let value_size = le32(blk, off + E_VALUE_SIZE) as usize;
            entries.push(RawEntry {
                offset: off,
                name: blk[off + E_NAME..off + E_NAME + name_len].to_vec(),
                value: blk[value_offs..value_offs + value_size].to_vec(),
                e_hash: le32(blk, off + E_HASH),
            });
            off += entry_len(name_len);
        }
        assert_eq!(entries.len(), values.len());
        for entry in &entries {
            let (_, value) = values.iter().find(|(n, _)| *n == entry.name).unwrap();
            assert_eq!(&entry.value, value);
        }
        XattrImage {
            _dir: dir,
            img,
            block_size,
            block,
            entries,
        }
    }

    #[test]
    fn xattr_entry_hash_matches_debugfs() {
        let Some((mke2fs, debugfs_bin)) = e2fsprogs() else {
            return;
        };
        let x = xattr_image(&mke2fs, &debugfs_bin);
        for entry in &x.entries {
            let signed = xattr_entry_hash(&entry.name, &entry.value);
            let unsigned = xattr_entry_hash_unsigned(&entry.name, &entry.value);
            // e2fsprogs 1.47 and later write the unsigned form, older
            // releases on x86 the signed one.
            assert!(
                entry.e_hash == signed || entry.e_hash == unsigned,
                "name {:x?}: on disk {:#x}, signed {signed:#x}, unsigned {unsigned:#x}",
                entry.name,
                entry.e_hash
            );
            if entry.name.iter().any(|&b| b >= 0x80) {
                assert_ne!(signed, unsigned);
            } else {
                assert_eq!(signed, unsigned);
            }
        }
        let image = std::fs::read(&x.img).unwrap();
        let h_hash = le32(&image, x.block * x.block_size + H_HASH);
        // The header's h_hash is either left at 0 or the block hash.
        assert!(h_hash == 0 || h_hash == xattr_block_hash(x.entries.iter().map(|e| e.e_hash)));
    }

    /// Rewrites the attribute block of `x` with the given entry hashes and
    /// block hash, recomputing its checksum, and returns whether
    /// `e2fsck -fn` finds the image clean.
    fn fsck_with_hashes(x: &XattrImage, e2fsck: &Path, hashes: &[u32], h_hash: u32) -> bool {
        let mut image = std::fs::read(&x.img).unwrap();
        let sb_at = SUPERBLOCK_OFFSET as usize;
        let sb = image[sb_at..sb_at + SUPERBLOCK_LEN].to_vec();
        let start = x.block * x.block_size;
        {
            let blk = &mut image[start..start + x.block_size];
            for (entry, hash) in x.entries.iter().zip(hashes) {
                let at = entry.offset + E_HASH;
                blk[at..at + 4].copy_from_slice(&hash.to_le_bytes());
            }
            blk[H_HASH..H_HASH + 4].copy_from_slice(&h_hash.to_le_bytes());
            // h_checksum: crc32c over the checksum seed, the block number
            // and the block with the checksum field zeroed.
            blk[H_CHECKSUM..H_CHECKSUM + 4].fill(0);
            let seed = if Features::read(&sb).has(INCOMPAT_CSUM_SEED) {
                le32(&sb, S_CHECKSUM_SEED)
            } else {
                crc32c_raw(!0, &sb[S_UUID..S_UUID + 16])
            };
            let crc = crc32c_raw(seed, &(x.block as u64).to_le_bytes());
            let crc = crc32c_raw(crc, blk);
            blk[H_CHECKSUM..H_CHECKSUM + 4].copy_from_slice(&crc.to_le_bytes());
        }
        std::fs::write(&x.img, &image).unwrap();
        let out = Command::new(e2fsck)
            .arg("-fn")
            .arg(&x.img)
            .output()
            .unwrap();
        if !out.status.success() {
            eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        }
        out.status.success()
    }

    #[test]
    fn e2fsck_accepts_our_xattr_hashes() {
        let (Some((mke2fs, debugfs_bin)), Some(e2fsck)) = (e2fsprogs(), tool("e2fsck")) else {
            eprintln!("skipping: mke2fs, debugfs or e2fsck not installed");
            return;
        };
        let x = xattr_image(&mke2fs, &debugfs_bin);

        for hash in [xattr_entry_hash, xattr_entry_hash_unsigned] {
            let hashes: Vec<u32> = x.entries.iter().map(|e| hash(&e.name, &e.value)).collect();
            let block = xattr_block_hash(hashes.iter().copied());
            assert!(fsck_with_hashes(&x, &e2fsck, &hashes, block));
        }

        // Control: the check is live, a wrong entry hash is reported.
        let mut hashes: Vec<u32> = x
            .entries
            .iter()
            .map(|e| xattr_entry_hash(&e.name, &e.value))
            .collect();
        hashes[0] ^= 0x10;
        assert!(!fsck_with_hashes(&x, &e2fsck, &hashes, 0));
    }
}
