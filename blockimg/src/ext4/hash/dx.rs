//! The directory index hash: the hash of a file name that orders the
//! entries of an htree directory, in the legacy, half MD4 and TEA
//! algorithms, each with name bytes read as signed or unsigned chars.

use super::widen;
#[cfg(test)]
use crate::ext4::format::superblock::FLAGS_UNSIGNED_HASH;

/// The major hash value that marks the end of a directory in 32-bit readdir
/// cookies; no name may hash to it (`EXT4_HTREE_EOF_32BIT << 1`).
const HTREE_EOF_MAJOR: u32 = 0x7fff_ffff << 1;

/// The initial hash state used when the seed is all zero.
const DEFAULT_SEED: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// A directory hash algorithm, numbered as on disk (superblock
/// `s_def_hash_version`, htree root `hash_version`).
///
/// The `*Unsigned` variants differ from their signed counterparts only for
/// name bytes of 0x80 and above. On disk, the htree root and the superblock
/// store the signed number (0, 1 or 2); the superblock's `s_flags`
/// (`FLAGS_UNSIGNED_HASH` or `FLAGS_SIGNED_HASH`) then choose the variant
/// (see [`HashVersion::for_superblock`]).
// The writer hashes with `HalfMd4` only; the other versions stay so that
// the tests check the shared code (seeds, padding, signedness) against
// debugfs for every version the kernel knows.
#[cfg_attr(not(test), allow(dead_code))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashVersion {
    /// The original ext3 hash, name bytes as signed chars (0).
    Legacy,
    /// Half MD4, name bytes as signed chars (1).
    HalfMd4,
    /// Tiny Encryption Algorithm, name bytes as signed chars (2).
    Tea,
    /// The original ext3 hash, name bytes as unsigned chars (3).
    LegacyUnsigned,
    /// Half MD4, name bytes as unsigned chars (4).
    HalfMd4Unsigned,
    /// Tiny Encryption Algorithm, name bytes as unsigned chars (5).
    TeaUnsigned,
}

impl HashVersion {
    /// The variant with on-disk number `v`, or `None` for an unknown number
    /// (including 6, SipHash, which needs an encryption key).
    #[cfg(test)]
    pub fn from_disk(v: u8) -> Option<Self> {
        match v {
            0 => Some(Self::Legacy),
            1 => Some(Self::HalfMd4),
            2 => Some(Self::Tea),
            3 => Some(Self::LegacyUnsigned),
            4 => Some(Self::HalfMd4Unsigned),
            5 => Some(Self::TeaUnsigned),
            _ => None,
        }
    }

    /// The on-disk number of this variant.
    #[cfg(test)]
    pub fn to_disk(self) -> u8 {
        match self {
            Self::Legacy => 0,
            Self::HalfMd4 => 1,
            Self::Tea => 2,
            Self::LegacyUnsigned => 3,
            Self::HalfMd4Unsigned => 4,
            Self::TeaUnsigned => 5,
        }
    }

    /// The variant a kernel uses for a directory whose htree root (or the
    /// superblock's `s_def_hash_version`) says `stored`, on a filesystem
    /// whose superblock `s_flags` are `s_flags`: the stored signed numbers
    /// 0..=2 become their unsigned counterparts when `FLAGS_UNSIGNED_HASH`
    /// is set. `None` for an unknown number.
    #[cfg(test)]
    pub fn for_superblock(stored: u8, s_flags: u32) -> Option<Self> {
        let version = Self::from_disk(stored)?;
        if s_flags & FLAGS_UNSIGNED_HASH != 0 {
            Some(version.with_unsigned(true))
        } else {
            Some(version)
        }
    }

    /// The same algorithm with name bytes read as unsigned (`true`) or
    /// signed (`false`) chars.
    #[cfg(test)]
    pub fn with_unsigned(self, unsigned: bool) -> Self {
        match (self.algorithm(), unsigned) {
            (Algorithm::Legacy, false) => Self::Legacy,
            (Algorithm::HalfMd4, false) => Self::HalfMd4,
            (Algorithm::Tea, false) => Self::Tea,
            (Algorithm::Legacy, true) => Self::LegacyUnsigned,
            (Algorithm::HalfMd4, true) => Self::HalfMd4Unsigned,
            (Algorithm::Tea, true) => Self::TeaUnsigned,
        }
    }

    /// Whether name bytes are read as unsigned chars.
    pub fn is_unsigned(self) -> bool {
        matches!(
            self,
            Self::LegacyUnsigned | Self::HalfMd4Unsigned | Self::TeaUnsigned
        )
    }

    fn algorithm(self) -> Algorithm {
        match self {
            Self::Legacy | Self::LegacyUnsigned => Algorithm::Legacy,
            Self::HalfMd4 | Self::HalfMd4Unsigned => Algorithm::HalfMd4,
            Self::Tea | Self::TeaUnsigned => Algorithm::Tea,
        }
    }
}

/// The hash family, with signedness stripped.
#[derive(Clone, Copy)]
enum Algorithm {
    Legacy,
    HalfMd4,
    Tea,
}

/// The hash of a directory entry name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DxHash {
    /// The major hash: what htree index entries are keyed by. Always even,
    /// and never `0xfffffffe`.
    pub major: u32,
    /// The minor hash (0 for the legacy algorithm).
    pub minor: u32,
}

/// The htree hash of the file name `name` under `version`, with the
/// superblock's `s_hash_seed` read as four little-endian words. An all-zero
/// seed stands for the default initial state.
pub fn dx_hash(version: HashVersion, name: &[u8], seed: &[u32; 4]) -> DxHash {
    let unsigned = version.is_unsigned();
    let mut state = if seed.iter().any(|&w| w != 0) {
        *seed
    } else {
        DEFAULT_SEED
    };
    let (major, minor) = match version.algorithm() {
        Algorithm::Legacy => (legacy_hash(name, unsigned), 0),
        Algorithm::HalfMd4 => {
            let mut rest = name;
            while !rest.is_empty() {
                let words: [u32; 8] = name_words(rest, unsigned);
                half_md4_transform(&mut state, &words);
                rest = rest.get(32..).unwrap_or_default();
            }
            (state[1], state[2])
        }
        Algorithm::Tea => {
            let mut rest = name;
            while !rest.is_empty() {
                let words: [u32; 4] = name_words(rest, unsigned);
                tea_transform(&mut state, &words);
                rest = rest.get(16..).unwrap_or_default();
            }
            (state[0], state[1])
        }
    };
    DxHash {
        major: finish_major(major),
        minor,
    }
}

/// Clears the low bit of a major hash and moves it off the end-of-directory
/// marker.
fn finish_major(hash: u32) -> u32 {
    let even = hash & !1;
    if even == HTREE_EOF_MAJOR {
        HTREE_EOF_MAJOR - 2
    } else {
        even
    }
}

/// Packs the first `4 * N` bytes of `rest` into `N` big-endian-ish words,
/// filling the unused part with a pattern derived from the remaining length.
///
/// Each byte is added to the running word shifted left by 8, so a signed
/// byte's sign extension carries into the upper bits; a partial last word
/// starts from the pad pattern instead of zero.
fn name_words<const N: usize>(rest: &[u8], unsigned: bool) -> [u32; N] {
    // The C code computes the pad from the remaining length as a 32-bit
    // value; names are at most 255 bytes, longer inputs only repeat the
    // truncation the C code would do.
    let len = rest.len() as u32;
    let mut pad = len | (len << 8);
    pad |= pad << 16;

    let mut words = [pad; N];
    let used = rest.len().min(4 * N);
    let mut val = pad;
    let mut filled = 0;
    for (i, &byte) in rest.iter().take(used).enumerate() {
        val = widen(byte, unsigned).wrapping_add(val << 8);
        if i % 4 == 3 {
            if let Some(slot) = words.get_mut(filled) {
                *slot = val;
            }
            filled += 1;
            val = pad;
        }
    }
    if let Some(slot) = words.get_mut(filled) {
        *slot = val;
    }
    words
}

/// The legacy ext3 directory hash, already shifted left by one.
fn legacy_hash(name: &[u8], unsigned: bool) -> u32 {
    let mut h0: u32 = 0x12a3_fe2d;
    let mut h1: u32 = 0x37ab_e8f9;
    for &byte in name {
        let c = widen(byte, unsigned);
        let mut h = h1.wrapping_add(h0 ^ c.wrapping_mul(7_152_373));
        if h & 0x8000_0000 != 0 {
            h = h.wrapping_sub(0x7fff_ffff);
        }
        h1 = h0;
        h0 = h;
    }
    h0 << 1
}

/// The reduced three-round MD4 compression of eight input words into a
/// four-word state.
fn half_md4_transform(state: &mut [u32; 4], input: &[u32; 8]) {
    const K2: u32 = 0x5a82_7999;
    const K3: u32 = 0x6ed9_eba1;

    fn f(x: u32, y: u32, z: u32) -> u32 {
        z ^ (x & (y ^ z))
    }
    fn g(x: u32, y: u32, z: u32) -> u32 {
        (x & y).wrapping_add((x ^ y) & z)
    }
    fn h(x: u32, y: u32, z: u32) -> u32 {
        x ^ y ^ z
    }

    // Each round updates the four registers in the order a, d, c, b; the
    // schedule lists, per step, the input word and the rotation.
    type Mix = fn(u32, u32, u32) -> u32;
    const ROUNDS: [([usize; 8], [u32; 4], u32); 3] = [
        ([0, 1, 2, 3, 4, 5, 6, 7], [3, 7, 11, 19], 0),
        ([1, 3, 5, 7, 0, 2, 4, 6], [3, 5, 9, 13], K2),
        ([3, 7, 2, 6, 1, 5, 0, 4], [3, 9, 11, 15], K3),
    ];
    let mixes: [Mix; 3] = [f, g, h];

    let mut r = *state;
    for ((order, shifts, k), mix) in ROUNDS.iter().zip(mixes) {
        for (step, &word) in order.iter().enumerate() {
            // Register being updated: a, d, c, b, a, d, c, b.
            let target = (4 - step % 4) % 4;
            let (b, c, d) = (
                r[(target + 1) % 4],
                r[(target + 2) % 4],
                r[(target + 3) % 4],
            );
            let x = input[word].wrapping_add(*k);
            r[target] = r[target]
                .wrapping_add(mix(b, c, d))
                .wrapping_add(x)
                .rotate_left(shifts[step % 4]);
        }
    }
    for (s, v) in state.iter_mut().zip(r) {
        *s = s.wrapping_add(v);
    }
}

/// Sixteen rounds of TEA over the first two state words, keyed by four
/// input words.
fn tea_transform(state: &mut [u32; 4], input: &[u32; 4]) {
    const DELTA: u32 = 0x9e37_79b9;
    let [a, b, c, d] = *input;
    let (mut b0, mut b1) = (state[0], state[1]);
    let mut sum: u32 = 0;
    for _ in 0..16 {
        sum = sum.wrapping_add(DELTA);
        b0 = b0.wrapping_add(
            (b1 << 4).wrapping_add(a) ^ b1.wrapping_add(sum) ^ (b1 >> 5).wrapping_add(b),
        );
        b1 = b1.wrapping_add(
            (b0 << 4).wrapping_add(c) ^ b0.wrapping_add(sum) ^ (b0 >> 5).wrapping_add(d),
        );
    }
    state[0] = state[0].wrapping_add(b0);
    state[1] = state[1].wrapping_add(b1);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ext4::format::superblock::FLAGS_SIGNED_HASH;
    use crate::ext4::test_tools::{debugfs, e2fsprogs, make_image};
    use std::fmt::Write as _;
    use std::os::unix::ffi::OsStrExt;

    /// Formats a seed as the UUID debugfs parses back into the same words.
    fn seed_uuid(seed: &[u32; 4]) -> String {
        let bytes: Vec<u8> = seed.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut s = String::new();
        for (i, b) in bytes.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            write!(s, "{b:02x}").unwrap();
        }
        s
    }

    /// Parses `Hash of NAME is 0xMAJOR (minor 0xMINOR)` lines.
    fn parse_hashes(stdout: &[u8]) -> Vec<DxHash> {
        stdout
            .split(|&b| b == b'\n')
            .filter(|line| line.starts_with(b"Hash of "))
            .map(|line| {
                let text = String::from_utf8_lossy(line);
                let (_, tail) = text.rsplit_once(" is 0x").unwrap();
                let (major, minor) = tail.split_once(" (minor 0x").unwrap();
                let minor = minor.trim_end_matches(')');
                DxHash {
                    major: u32::from_str_radix(major, 16).unwrap(),
                    minor: u32::from_str_radix(minor, 16).unwrap(),
                }
            })
            .collect()
    }

    /// Names the debugfs command parser passes through unchanged: no
    /// whitespace, quotes or other specials, but every interesting length
    /// and bytes of 0x80 and above.
    fn test_names() -> Vec<Vec<u8>> {
        let pattern = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|i| {
                    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-."[i % 65]
                })
                .collect()
        };
        let high = |len: usize| -> Vec<u8> {
            (0..len)
                .map(|i| [0x80u8, 0xc3, 0xa9, 0xff, b'x', 0xfe, 0x9f, 0xe2][i % 8])
                .collect()
        };
        let mut names: Vec<Vec<u8>> = vec![
            b"a".to_vec(),
            b"ab".to_vec(),
            b"abc".to_vec(),
            b"abcd".to_vec(),
            b"hello".to_vec(),
            b"lost+found".to_vec(),
            "h\u{e9}llo".as_bytes().to_vec(),
            "\u{65e5}\u{672c}\u{8a9e}.txt".as_bytes().to_vec(),
            vec![0xff],
            vec![0x80, 0x81],
        ];
        for len in [15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 254, 255] {
            names.push(pattern(len));
            names.push(high(len));
        }
        names
    }

    #[test]
    fn dx_hash_matches_debugfs() {
        let Some((mke2fs, debugfs_bin)) = e2fsprogs() else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let img = make_image(&mke2fs, dir.path(), "^metadata_csum");

        let seeds = [
            [0, 0, 0, 0],
            [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476],
            [0x0123_4567, 0x89ab_cdef, 0xfedc_ba98, 0x7654_3210],
            [0, 0, 0, 1],
        ];
        let names = test_names();
        let mut commands = Vec::new();
        let mut expected = Vec::new();
        for seed in &seeds {
            for version in 0..=5u8 {
                let hv = HashVersion::from_disk(version).unwrap();
                for name in &names {
                    commands.extend_from_slice(
                        format!("dx_hash -h {version} -s {} ", seed_uuid(seed)).as_bytes(),
                    );
                    commands.extend_from_slice(name);
                    commands.push(b'\n');
                    expected.push((hv, seed, name, dx_hash(hv, name, seed)));
                }
            }
        }
        let got = parse_hashes(&debugfs(&debugfs_bin, &img, false, &commands));
        assert_eq!(got.len(), expected.len(), "debugfs answered every name");
        for ((hv, seed, name, ours), theirs) in expected.iter().zip(&got) {
            assert_eq!(
                ours,
                theirs,
                "{hv:?} seed {seed:x?} name {:?}",
                std::ffi::OsStr::from_bytes(name)
            );
        }
    }

    #[test]
    fn signedness_matters_only_for_high_bytes() {
        let seed = [0; 4];
        for v in [HashVersion::Legacy, HashVersion::HalfMd4, HashVersion::Tea] {
            let u = v.with_unsigned(true);
            assert_eq!(dx_hash(v, b"plain", &seed), dx_hash(u, b"plain", &seed));
            assert_ne!(
                dx_hash(v, "h\u{e9}llo".as_bytes(), &seed),
                dx_hash(u, "h\u{e9}llo".as_bytes(), &seed)
            );
        }
    }

    #[test]
    fn hash_version_numbers() {
        for v in 0..=5u8 {
            assert_eq!(HashVersion::from_disk(v).unwrap().to_disk(), v);
        }
        assert_eq!(HashVersion::from_disk(6), None);
        assert_eq!(
            HashVersion::for_superblock(1, FLAGS_UNSIGNED_HASH),
            Some(HashVersion::HalfMd4Unsigned)
        );
        assert_eq!(
            HashVersion::for_superblock(1, FLAGS_SIGNED_HASH),
            Some(HashVersion::HalfMd4)
        );
        assert_eq!(
            HashVersion::for_superblock(2, FLAGS_UNSIGNED_HASH),
            Some(HashVersion::TeaUnsigned)
        );
        assert_eq!(
            HashVersion::HalfMd4Unsigned.with_unsigned(false),
            HashVersion::HalfMd4
        );
    }

    #[test]
    fn major_hash_is_even_and_avoids_eof() {
        assert_eq!(finish_major(0xffff_ffff), 0xffff_fffc);
        assert_eq!(finish_major(0xffff_fffe), 0xffff_fffc);
        assert_eq!(finish_major(0xffff_fffd), 0xffff_fffc);
        assert_eq!(finish_major(0x1234_5679), 0x1234_5678);
        for name in test_names() {
            assert_eq!(dx_hash(HashVersion::Tea, &name, &[0; 4]).major & 1, 0);
        }
    }

    #[test]
    fn name_words_pad_and_sign_extend() {
        // "ab", 2 bytes: pad 0x02020202, partial word 0x0202_6162.
        let w: [u32; 4] = name_words(b"ab", false);
        assert_eq!(w, [0x0202_6162, 0x0202_0202, 0x0202_0202, 0x0202_0202]);
        // A signed 0xff is -1: 0x01010101 << 8 plus -1.
        let w: [u32; 4] = name_words(&[0xff], false);
        assert_eq!(w[0], 0x0101_0100u32.wrapping_sub(1));
        let w: [u32; 4] = name_words(&[0xff], true);
        assert_eq!(w[0], 0x0101_01ff);
    }
}
