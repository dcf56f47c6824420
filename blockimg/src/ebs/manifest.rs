//! The block-hash manifest written at each upload: which 512 KiB blocks of
//! a snapshot hold data and the SHA-256 of each, so that the next upload
//! with that snapshot as its parent sends only the blocks that differ.
//!
//! The format is text, one record a line:
//!
//! ```text
//! blockimg-ebs-manifest 1
//! snapshot snap-0123456789abcdef0
//! volume-gib 8
//! block-size 524288
//! 0 2f3c...(64 hex digits)
//! 17 9a1b...
//! ```
//!
//! Blocks not listed read as zeros.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::blocks::{block_hash, BlockHash, BLOCK_SIZE};
use super::volume::{GIB, MAX_VOLUME_GIB};
use crate::disk_format::VirtualDisk;
use crate::error::{EbsError, Error, Result};
use crate::sink::base::is_zero;

const MAGIC: &str = "blockimg-ebs-manifest 1";

/// The blocks of a snapshot that hold data, with the SHA-256 of each.
///
/// # Examples
///
/// ```
/// use blockimg::ebs::{block_hash, Manifest};
///
/// # fn main() -> blockimg::Result<()> {
/// let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
/// let path = dir.path().join("disk.blocks");
/// let mut manifest = Manifest::new("snap-1", 1);
/// manifest.blocks.insert(3, block_hash(b"block three"));
/// manifest.save(&path)?;
/// assert_eq!(Manifest::load(&path)?, manifest);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The snapshot the blocks are in.
    pub snapshot: String,
    /// Size of its volume in GiB.
    pub volume_gib: u64,
    /// Block index to the SHA-256 of its bytes; blocks not here read as
    /// zeros.
    pub blocks: BTreeMap<u64, BlockHash>,
}

impl Manifest {
    /// An empty manifest of `snapshot`, a `volume_gib` GiB volume.
    pub fn new(snapshot: &str, volume_gib: u64) -> Manifest {
        Manifest {
            snapshot: snapshot.to_string(),
            volume_gib,
            blocks: BTreeMap::new(),
        }
    }

    /// The manifest of a disk image already uploaded as `snapshot`: the
    /// hash of each block of `disk` that holds anything but zeros. An
    /// incremental upload uses it as the parent's when the parent's
    /// manifest is lost but its image is at hand.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk_format::open_backing;
    /// use blockimg::ebs::{Manifest, BLOCK_SIZE};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut bytes = vec![0u8; 4 * BLOCK_SIZE];
    /// bytes[2 * BLOCK_SIZE + 9] = 1;
    /// let mut disk = open_backing(bytes, "disk.img".as_ref())?;
    /// let manifest = Manifest::of_image(disk.as_mut(), "snap-1")?;
    /// assert_eq!(manifest.blocks.keys().copied().collect::<Vec<_>>(), [2]);
    /// assert_eq!(manifest.volume_gib, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn of_image(disk: &mut dyn VirtualDisk, snapshot: &str) -> Result<Manifest> {
        let mut manifest = Manifest::new(snapshot, super::volume_gib(disk.size())?);
        let block = BLOCK_SIZE as u64;
        let mut buf = vec![0u8; BLOCK_SIZE];
        let mut last = None;
        for (start, len) in disk.data_ranges()? {
            for index in start / block..start.saturating_add(len).div_ceil(block) {
                if last.is_some_and(|l| index <= l) {
                    continue;
                }
                last = Some(index);
                let at = index * block;
                // The readers' ranges end inside the disk; one past it
                // ends the walk rather than a read past the end.
                let n = disk.size().saturating_sub(at).min(block) as usize;
                if n == 0 {
                    break;
                }
                buf.fill(0);
                disk.read_at(at, &mut buf[..n])?;
                if !is_zero(&buf) {
                    manifest.blocks.insert(index, block_hash(&buf));
                }
            }
        }
        Ok(manifest)
    }

    /// Reads a manifest [`Manifest::save`] wrote.
    pub fn load(path: &Path) -> Result<Manifest> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Manifest::parse(&bytes, path)
    }

    /// The manifest in `bytes` (the text [`Manifest::to_text`] gives),
    /// `path` naming it in errors: each line is checked, blocks must be in
    /// ascending order and inside the volume.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ebs::{block_hash, Manifest};
    ///
    /// let mut manifest = Manifest::new("snap-1", 2);
    /// manifest.blocks.insert(7, block_hash(b"seven"));
    /// let text = manifest.to_text();
    /// assert_eq!(Manifest::parse(text.as_bytes(), "m".as_ref()).unwrap(), manifest);
    /// let err = Manifest::parse(b"blockimg-ebs-manifest 1\nsnapshot snap-1\n", "m".as_ref()).unwrap_err();
    /// assert_eq!(err.to_string(), "block manifest m: ends before \"volume-gib\"");
    /// ```
    pub fn parse(bytes: &[u8], path: &Path) -> Result<Manifest> {
        let text = std::str::from_utf8(bytes)
            .map_err(|e| format!("not text: invalid UTF-8 at byte {}", e.valid_up_to()));
        text.and_then(parse_text).map_err(|reason| {
            Error::from(EbsError::Manifest {
                path: path.to_path_buf(),
                reason,
            })
        })
    }

    /// The manifest as text, one record a line (see the module's
    /// documentation).
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{MAGIC}\nsnapshot {}\nvolume-gib {}\nblock-size {BLOCK_SIZE}\n",
            self.snapshot, self.volume_gib
        );
        for (index, hash) in &self.blocks {
            let _ = write!(text, "{index} ");
            for byte in hash {
                let _ = write!(text, "{byte:02x}");
            }
            text.push('\n');
        }
        text
    }

    /// Writes the manifest to `path` (under a temporary name, renamed
    /// into place when complete).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut temp = PathBuf::from(path);
        temp.set_file_name(format!(
            ".{}.partial",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        ));
        std::fs::write(&temp, self.to_text()).map_err(|e| Error::io(&temp, e))?;
        std::fs::rename(&temp, path).map_err(|e| Error::io(path, e))
    }
}

/// The manifest in `text`, or what is wrong with it.
fn parse_text(text: &str) -> std::result::Result<Manifest, String> {
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    let mut field = |name: &str| match lines.next() {
        Some((_, line)) if name == MAGIC && line == MAGIC => Ok(String::new()),
        Some((n, line)) => match line.split_once(' ') {
            Some((key, value)) if key == name && name != MAGIC => Ok(value.to_string()),
            _ => Err(format!("line {n}: expected {name:?}, found {line:?}")),
        },
        None => Err(format!("ends before {name:?}")),
    };
    field(MAGIC)?;
    let snapshot = field("snapshot")?;
    // A snapshot id (snap-0123456789abcdef0): letters, digits and dashes,
    // nothing a line's end could take away.
    if snapshot.is_empty()
        || !snapshot
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!("snapshot {snapshot:?} is not a snapshot id"));
    }
    let volume_gib = field("volume-gib")?;
    let volume_gib: u64 = volume_gib
        .parse()
        .map_err(|_| format!("volume-gib {volume_gib:?} is not a number"))?;
    if !(1..=MAX_VOLUME_GIB).contains(&volume_gib) {
        return Err(format!(
            "volume-gib {volume_gib} is not between 1 and {MAX_VOLUME_GIB}"
        ));
    }
    let block_size = field("block-size")?;
    if block_size != BLOCK_SIZE.to_string() {
        return Err(format!("block-size is {block_size}, not {BLOCK_SIZE}"));
    }
    let mut manifest = Manifest::new(&snapshot, volume_gib);
    let limit = volume_gib * GIB / BLOCK_SIZE as u64;
    for (n, line) in lines {
        let bad = |why: &str| format!("line {n}: {why}: {line:?}");
        let (index, hex) = line.split_once(' ').ok_or_else(|| bad("not INDEX HASH"))?;
        let index: u64 = index
            .parse()
            .map_err(|_| bad("the index is not a number"))?;
        if index >= limit {
            return Err(bad(&format!(
                "block {index} lies past the {volume_gib} GiB volume"
            )));
        }
        if manifest
            .blocks
            .last_key_value()
            .is_some_and(|(&last, _)| last >= index)
        {
            return Err(bad("blocks are not in ascending order"));
        }
        manifest.blocks.insert(
            index,
            parse_hash(hex).ok_or_else(|| bad("not a SHA-256 in hex"))?,
        );
    }
    Ok(manifest)
}

/// 64 hexadecimal digits as 32 bytes.
fn parse_hash(hex: &str) -> Option<BlockHash> {
    if hex.len() != 64 || !hex.is_ascii() {
        return None;
    }
    let mut hash = [0u8; 32];
    for (i, byte) in hash.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_bytes_give_a_manifest_or_an_error(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = Manifest::parse(&bytes, Path::new("m"));
        }

        #[test]
        fn lines_near_a_manifest_give_a_manifest_or_an_error(
            head in any::<bool>(),
            lines in proptest::collection::vec(
                prop_oneof![
                    Just(MAGIC.to_string()),
                    "snapshot [ -~]{0,12}",
                    "volume-gib [0-9+-]{0,6}",
                    Just(format!("block-size {BLOCK_SIZE}")),
                    "[0-9]{1,5} [0-9a-f]{62,66}",
                    "[ -~]{0,20}",
                ],
                0..10,
            )
        ) {
            let mut text = lines.join("\n");
            if head {
                text = format!("{MAGIC}\nsnapshot snap-1\nvolume-gib 1\nblock-size {BLOCK_SIZE}\n{text}");
            }
            if let Ok(manifest) = Manifest::parse(text.as_bytes(), Path::new("m")) {
                let again = Manifest::parse(manifest.to_text().as_bytes(), Path::new("m"));
                prop_assert_eq!(again.ok(), Some(manifest));
            }
        }

        #[test]
        fn manifests_round_trip_through_their_text(
            snapshot in "snap-[0-9a-f]{0,17}",
            volume_gib in 1..=MAX_VOLUME_GIB,
            blocks in proptest::collection::btree_map(any::<u64>(), any::<[u8; 32]>(), 0..20),
        ) {
            let limit = volume_gib * GIB / BLOCK_SIZE as u64;
            let mut manifest = Manifest::new(&snapshot, volume_gib);
            manifest.blocks = blocks.into_iter().map(|(i, h)| (i % limit, h)).collect();
            let parsed = Manifest::parse(manifest.to_text().as_bytes(), Path::new("m"));
            prop_assert_eq!(parsed.ok(), Some(manifest));
        }
    }

    /// Found by the `ebs_manifest` fuzz target: a snapshot id of carriage
    /// returns lost one to each reading (`lines` takes a `\r` before the
    /// `\n` as part of the line's end), so the manifest did not read back
    /// as itself.
    #[test]
    fn a_snapshot_id_of_carriage_returns_is_refused() {
        let mut bytes = format!("{MAGIC}\nsnapshot ").into_bytes();
        bytes.extend([b'\r'; 99]);
        bytes.extend(b"\nvolume-gib 8\nblock-size 524288\n0 ");
        bytes.extend(b"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb\n");
        let err = Manifest::parse(&bytes, Path::new("m")).unwrap_err();
        assert!(err.to_string().contains("is not a snapshot id"), "{err}");
    }

    #[test]
    fn bad_manifests_are_refused_with_the_line() {
        let head = format!("{MAGIC}\nsnapshot snap-1\nvolume-gib 1\nblock-size 524288\n");
        let hash = "ab".repeat(32);
        assert!(parse_text(&format!("{head}0 {hash}\n5 {hash}\n")).is_ok());
        let cases = [
            (
                format!("{head}5 {hash}\n1 {hash}\n"),
                "line 6: blocks are not in ascending",
            ),
            (
                format!("{head}2048 {hash}\n"),
                "line 5: block 2048 lies past",
            ),
            (format!("{head}1 abc\n"), "not a SHA-256"),
            (format!("{head}x {hash}\n"), "not a number"),
            ("nonsense\n".to_string(), "line 1: expected"),
            (head.replace("524288", "512"), "block-size is 512"),
            (
                head.replace("gib 1", "gib 0"),
                "volume-gib 0 is not between",
            ),
            (
                head.replace("gib 1", "gib 65537"),
                "volume-gib 65537 is not between",
            ),
        ];
        for (text, want) in cases {
            let err = parse_text(&text).unwrap_err();
            assert!(err.contains(want), "{err} does not say {want}");
        }
    }
}
