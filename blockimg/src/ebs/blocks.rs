//! EBS snapshot blocks: 512 KiB pieces of the disk, each sent with the
//! base64 SHA-256 of its bytes; the blocks of an upload are assembled from
//! writes in ascending offset order, and CompleteSnapshot carries the
//! linear aggregate of their checksums.

use sha2::{Digest, Sha256};

#[cfg(feature = "ebs")]
use crate::error::{Error, Result};

/// Bytes in an EBS snapshot block.
pub const BLOCK_SIZE: usize = 512 << 10;

/// SHA-256 of a block's bytes.
pub type BlockHash = [u8; 32];

/// The SHA-256 of `data`.
///
/// # Examples
///
/// ```
/// use blockimg::ebs::{block_hash, BLOCK_SIZE};
///
/// let zeros = block_hash(&vec![0; BLOCK_SIZE]);
/// assert_eq!(zeros[..4], [0x07, 0x85, 0x4d, 0x2f]); // sha256 of 512 KiB of zeros
/// ```
pub fn block_hash(data: &[u8]) -> BlockHash {
    Sha256::digest(data).into()
}

/// The checksum CompleteSnapshot takes with the `LINEAR` aggregation: the
/// SHA-256 of the blocks' SHA-256s (raw bytes) in ascending block order.
///
/// # Examples
///
/// ```
/// use blockimg::ebs::{aggregate_hash, block_hash};
///
/// let (a, b) = (block_hash(b"a"), block_hash(b"b"));
/// assert_eq!(aggregate_hash([&a, &b]), block_hash(&[a, b].concat()));
/// ```
pub fn aggregate_hash<'a>(hashes: impl IntoIterator<Item = &'a BlockHash>) -> BlockHash {
    let mut all = Sha256::new();
    for hash in hashes {
        all.update(hash);
    }
    all.finalize().into()
}

/// Gathers writes that come in ascending offset order into whole blocks,
/// handing each block on once the writes have moved past it.
#[cfg(feature = "ebs")]
#[derive(Default)]
pub(crate) struct BlockAssembler {
    /// The block being filled: its index and bytes.
    current: Option<(u64, Vec<u8>)>,
}

#[cfg(feature = "ebs")]
impl BlockAssembler {
    /// Adds `data` at byte `offset`; `emit` gets every block completed.
    pub(crate) fn write(
        &mut self,
        offset: u64,
        data: &[u8],
        emit: &mut dyn FnMut(u64, Vec<u8>) -> Result<()>,
    ) -> Result<()> {
        let block = BLOCK_SIZE as u64;
        let mut at = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let index = at / block;
            let within = (at % block) as usize;
            let n = rest.len().min(BLOCK_SIZE - within);
            match &self.current {
                Some((current, _)) if *current == index => {}
                Some((current, _)) if *current > index => {
                    return Err(Error::InvalidOption {
                        option: "snapshot".into(),
                        reason: format!(
                            "a write at byte offset {at} came after block {current}: \
                             snapshot blocks are written in ascending order"
                        ),
                    });
                }
                _ => {
                    self.flush(emit)?;
                    self.current = Some((index, vec![0; BLOCK_SIZE]));
                }
            }
            if let Some((_, bytes)) = &mut self.current {
                bytes[within..within + n].copy_from_slice(&rest[..n]);
            }
            at += n as u64;
            rest = &rest[n..];
        }
        Ok(())
    }

    /// Hands on the block being filled, if any.
    pub(crate) fn flush(&mut self, emit: &mut dyn FnMut(u64, Vec<u8>) -> Result<()>) -> Result<()> {
        match self.current.take() {
            Some((index, bytes)) => emit(index, bytes),
            None => Ok(()),
        }
    }
}

#[cfg(all(test, feature = "ebs"))]
mod tests {
    use super::*;

    #[test]
    fn writes_become_whole_blocks_in_order() {
        let mut blocks = BlockAssembler::default();
        let mut out = Vec::new();
        let mut emit = |index, bytes: Vec<u8>| {
            out.push((index, bytes));
            Ok(())
        };
        blocks.write(10, &[1; 4], &mut emit).unwrap();
        // Spans the end of block 0 and the start of block 1.
        blocks
            .write(BLOCK_SIZE as u64 - 2, &[2; 4], &mut emit)
            .unwrap();
        blocks
            .write(5 * BLOCK_SIZE as u64, &[3], &mut emit)
            .unwrap();
        assert!(blocks.write(0, &[4], &mut emit).is_err()); // backwards
        blocks.flush(&mut emit).unwrap();
        let indexes: Vec<u64> = out.iter().map(|(i, _)| *i).collect();
        assert_eq!(indexes, [0, 1, 5]);
        assert!(out.iter().all(|(_, b)| b.len() == BLOCK_SIZE));
        assert_eq!(&out[0].1[10..14], &[1; 4]);
        assert_eq!(&out[0].1[BLOCK_SIZE - 2..], &[2; 2]);
        assert_eq!(&out[1].1[..3], &[2, 2, 0]);
        assert_eq!(out[2].1[0], 3);
    }
}
