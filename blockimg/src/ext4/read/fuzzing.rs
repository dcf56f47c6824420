//! Entry points for the `ext4_structures` fuzz target: each single-structure
//! parser of the reader fed with arbitrary bytes, under a made-up
//! filesystem geometry. The image behind the reader is empty, so whatever a
//! structure points to reads as an error. `replay`, for the
//! `ext4_journal` target, replays a whole journal. Not a stable interface.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use super::blockmap::BlockRun;
use super::inode::{self, FileType, Inode, Stat};
use super::journal::Journal;
use super::replay::{self, Replayed};
use super::superblock::{FsInfo, Superblock};
use super::volume::Volume;
use super::{groups, journal, Budget, Ext4Reader};
use crate::ext4::csum::Checksummer;
use crate::ext4::features::*;
use crate::ext4::format::inode::{EXTENTS_FL, INDEX_FL, I_BLOCK_LEN};
use crate::ext4::format::superblock::{SUPERBLOCK_LEN, S_CHECKSUM};
use crate::tree::Metadata;

/// The structures [`parse`] can be asked to read, selected by the first
/// byte of its input.
const KINDS: u8 = 8;

/// Parses `data` as one structure: its first byte selects which (the
/// superblock, a group descriptor, an inode, an extent tree block, a
/// directory block, an xattr block, an in-inode xattr area, the journal
/// superblock), its second the geometry (bits 0-2 the block size, 1 KiB
/// shifted left by up to 6; bit 3 metadata_csum; bit 4 64bit; bit 7 a
/// superblock's checksum made valid), its third a detail (the depth of an
/// extent tree block, the block number of a directory block and bit 0 for
/// an htree directory, the extra fields of an inode, the journal inode's
/// size in KiB blocks), the rest is the structure. Returns whether the structure was accepted;
/// whatever the bytes, it must not panic, hang or allocate without bound.
pub fn parse(data: &[u8]) -> bool {
    let [kind, flags, choice, bytes @ ..] = data else {
        return false;
    };
    let Ok(reader) = reader(*flags) else {
        return false;
    };
    let bs = reader.sb.bs();
    let choice = u64::from(*choice);
    match kind % KINDS {
        0 => {
            let mut raw = [0u8; SUPERBLOCK_LEN];
            for (o, b) in raw.iter_mut().zip(bytes) {
                *o = *b;
            }
            if flags & 0x80 != 0 {
                // Past the checksum, to the geometry checks.
                let sum = Checksummer::superblock(&raw).to_le_bytes();
                for (o, b) in raw.iter_mut().skip(S_CHECKSUM).zip(sum) {
                    *o = b;
                }
            }
            super::superblock::Superblock::parse(&raw, &reader.volume).is_ok()
        }
        1 => {
            let itable_blocks = choice + 1;
            groups::parse_desc(&reader.volume, &reader.sb, 3, bytes, itable_blocks).is_ok()
        }
        2 => {
            let raw = bytes.to_vec();
            let Ok(inode) = inode::check_and_decode(12, raw, &reader.sb, &reader.volume) else {
                return false;
            };
            let mut budget = Budget::new(&reader);
            let _ = reader.block_map(&inode, &mut budget);
            let _ = reader.inode_xattrs(&inode);
            if inode.stat.file_type == FileType::Symlink {
                let _ = reader.symlink_target(&inode, &mut budget);
            }
            true
        }
        3 => {
            let inode = fake_inode(FileType::RegularFile, EXTENTS_FL, u64::MAX, 0, Vec::new());
            let depth = (choice % 6) as u16;
            let mut budget = Budget::new(&reader);
            reader
                .block_map_from(&inode, Some((bytes, depth)), &mut budget)
                .is_ok()
        }
        4 => {
            let flags = if choice & 1 != 0 { INDEX_FL } else { 0 };
            let dir = fake_inode(FileType::Directory, flags, bs, 0, Vec::new());
            let mut entries = Vec::new();
            reader
                .dir_block(&dir, choice >> 1, bytes, &mut entries)
                .is_ok()
        }
        5 => {
            let inode = fake_inode(FileType::RegularFile, 0, 0, 0, Vec::new());
            let mut out = Vec::new();
            reader.xattr_block(&inode, 100, bytes, &mut out).is_ok()
        }
        6 => {
            let extra_isize = (choice as usize % 32) * 4;
            let mut raw = vec![0u8; 128 + extra_isize];
            raw.extend_from_slice(bytes);
            let inode = fake_inode(FileType::RegularFile, 0, 0, extra_isize, raw);
            reader.inode_xattrs(&inode).is_ok()
        }
        _ => journal::parse(bytes, reader.sb.info.block_size, choice << 10).is_ok(),
    }
}

/// Blocks of the made-up filesystem before and after the journal
/// [`replay`] is given: where its transactions may write.
const AROUND_JOURNAL: u64 = 16;

/// Replays `data` as an internal journal (its first block the journal
/// superblock, whose `s_blocksize` gives the block size) of a filesystem
/// holding [`AROUND_JOURNAL`] zeroed blocks before it and after it: the
/// filesystem as replayed and what was replayed, or `None` when the
/// superblock is unusable. `data` may end before `s_maxlen` (a journal cut
/// short): a log reaching past its end is an error.
pub(super) fn replay_journal(data: &[u8]) -> crate::Result<Option<(Volume, Replayed)>> {
    let bs = crate::ext4::bytes::get_be32(data, crate::ext4::format::jbd2::S_BLOCKSIZE);
    if !(1024..=65536).contains(&bs) || !bs.is_power_of_two() {
        return Ok(None);
    }
    let bs64 = u64::from(bs);
    let journal_blocks = data.len() as u64 / bs64;
    let Ok(sb) = journal::parse(data, bs, u64::from(u32::MAX)) else {
        return Ok(None);
    };
    let before = AROUND_JOURNAL * bs64;
    let mut bytes = vec![0u8; before as usize];
    bytes.extend_from_slice(
        data.get(..(journal_blocks * bs64) as usize)
            .unwrap_or_default(),
    );
    bytes.resize(bytes.len() + before as usize, 0);
    let blocks_count = bytes.len() as u64 / bs64;
    let path = PathBuf::from("journal");
    let mut volume = Volume::new(Arc::new(bytes), 0, path)?;
    let journal = Journal {
        sb,
        runs: vec![BlockRun {
            logical: 0,
            physical: AROUND_JOURNAL,
            len: journal_blocks,
        }],
    };
    let (overlay, replayed) = replay::replay(&volume, &journal, blocks_count)?;
    volume.overlay = Some(overlay);
    Ok(Some((volume, replayed)))
}

/// Replays `data` as a journal (`replay_journal`) and reads every block
/// of the filesystem as replayed. Returns whether the journal replayed;
/// whatever the bytes, it must not panic, hang or allocate without bound.
pub fn replay(data: &[u8]) -> bool {
    let Ok(Some((volume, _))) = replay_journal(data) else {
        return false;
    };
    let mut block = [0u8; 1024];
    (0..volume.len / 1024).all(|i| volume.read(i * 1024, &mut block).is_ok())
}

/// A reader over an empty image with 1 KiB to 64 KiB blocks, metadata_csum
/// and 64bit as `flags` says.
fn reader(flags: u8) -> crate::Result<Ext4Reader> {
    let path = PathBuf::from("/dev/null");
    let file = File::open(&path).map_err(|e| crate::Error::io(&path, e))?;
    let volume = Volume {
        bytes: Arc::new(file),
        path: Arc::new(path),
        offset: 0,
        len: u64::MAX,
        overlay: None,
    };
    let block_size = 1024u32 << (flags & 7).min(6);
    let csum = flags & 0x08 != 0;
    let is_64bit = flags & 0x10 != 0;
    let blocks_per_group = 8192;
    let groups = 16;
    let blocks_count = u64::from(blocks_per_group) * u64::from(groups);
    let inodes_per_group = 2048;
    let mut features = Features::of(&[
        COMPAT_EXT_ATTR,
        INCOMPAT_FILETYPE,
        INCOMPAT_EXTENTS,
        RO_COMPAT_SPARSE_SUPER,
        RO_COMPAT_HUGE_FILE,
    ]);
    if is_64bit {
        features = features | INCOMPAT_64BIT;
    }
    if csum {
        features = features | RO_COMPAT_METADATA_CSUM;
    }
    let sb = Superblock {
        info: FsInfo {
            uuid: [0x42; 16],
            label: Vec::new(),
            block_size,
            blocks_count,
            free_blocks: 0,
            reserved_blocks: 0,
            inodes_count: inodes_per_group * groups,
            free_inodes: 0,
            inode_size: 256,
            blocks_per_group,
            inodes_per_group,
            groups,
            features: Vec::new(),
            created: Default::default(),
            written: Default::default(),
        },
        first_data_block: u64::from(block_size == 1024),
        desc_size: if is_64bit { 64 } else { 32 },
        features,
        first_meta_bg: 0,
        backup_bgs: [0; 2],
        csum: csum.then(|| Checksummer::new(&[0x42; 16])),
        journal_inum: 0,
        external_journal: false,
    };
    Ok(Ext4Reader {
        volume,
        sb,
        groups: Vec::new(),
        journal: None,
        journal_damage: None,
        replayed: None,
    })
}

/// An inode 12 of `file_type` with these flags, size, extra fields and raw
/// bytes (for its in-inode xattrs), no data blocks and no xattr block.
fn fake_inode(
    file_type: FileType,
    flags: u32,
    size: u64,
    extra_isize: usize,
    raw: Vec<u8>,
) -> Inode {
    Inode {
        stat: Stat {
            ino: 12,
            file_type,
            meta: Metadata::default(),
            size,
            links: 1,
            blocks: 0,
            rdev: None,
            flags,
        },
        generation: 0,
        i_block: [0; I_BLOCK_LEN],
        xattr_block: 0,
        raw,
        extra_isize,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A crash `ext4_structures` found: an inode buffer shorter than the
    /// 128 bytes every inode has made the i_extra_isize message subtract
    /// past zero.
    #[test]
    fn an_inode_shorter_than_128_bytes_is_an_error() {
        let mut data = vec![0x0a];
        data.extend_from_slice(&[0xa7; 30]);
        assert!(!parse(&data));
    }

    /// Every kind under every geometry, with empty, short and junk bytes.
    #[test]
    fn any_bytes_give_values_or_errors() {
        for kind in 0..KINDS {
            for flags in [0u8, 0x08, 0x10, 0x18, 0x86, 0xFF] {
                for body in [&[][..], &[0xFF; 3], &[0; 5000], &[0xA5; 70000]] {
                    let mut data = vec![kind, flags, 1];
                    data.extend_from_slice(body);
                    parse(&data);
                }
            }
        }
    }
}
