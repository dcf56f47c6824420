//! Property tests: any set of writes, encoded in any format and read back,
//! gives the disk that was written.

use std::path::Path;

use proptest::prelude::*;

use super::{open, open_backing, vhd, Format, ImageIdentity, VirtualDisk};
use crate::sink::{Sink, VhdDynamic, VhdFixed, VmdkStream};

/// Ascending, non-overlapping writes within `size` bytes: (offset, bytes).
fn writes(size: u64, specs: &[(u64, usize, u8)]) -> Vec<(u64, Vec<u8>)> {
    let mut at = 0u64;
    let mut out = Vec::new();
    for &(gap, len, seed) in specs {
        at += gap;
        if at >= size {
            break;
        }
        let len = (len as u64).min(size - at) as usize;
        // seed 0 writes zeros, which must read back as zeros whether or not
        // the format stores them.
        let bytes: Vec<u8> = (0..len)
            .map(|i| {
                if seed == 0 {
                    0
                } else {
                    (i as u8).wrapping_mul(seed) | 1
                }
            })
            .collect();
        out.push((at, bytes));
        at += len as u64;
    }
    out
}

fn expected(size: u64, writes: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut disk = vec![0u8; size as usize];
    for (at, bytes) in writes {
        disk[*at as usize..*at as usize + bytes.len()].copy_from_slice(bytes);
    }
    disk
}

/// Reads the whole disk back and checks it, and that every non-zero byte
/// lies in a data range.
fn check(mut disk: Box<dyn VirtualDisk>, format: Format, want: &[u8]) {
    assert_eq!(disk.format(), format);
    assert!(disk.size() >= want.len() as u64);
    let mut got = vec![0u8; disk.size() as usize];
    disk.read_at(0, &mut got).unwrap();
    assert!(got[..want.len()] == *want, "{format:?}: contents differ");
    assert!(got[want.len()..].iter().all(|&b| b == 0));
    let mut covered = vec![false; got.len()];
    for (o, l) in disk.data_ranges().unwrap() {
        covered[o as usize..(o + l) as usize].fill(true);
    }
    assert!(got.iter().zip(&covered).all(|(&b, &c)| b == 0 || c));
}

fn feed(sink: &mut dyn Sink, writes: &[(u64, Vec<u8>)]) {
    for (at, bytes) in writes {
        sink.write_at(*at, bytes).unwrap();
    }
}

const ID: ImageIdentity = ImageIdentity {
    uuid: [5; 16],
    time: 1_700_000_000,
};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_format_reads_back_what_was_written(
        sectors in 1u64..12_000,
        specs in prop::collection::vec((0u64..2_500_000, 1usize..300_000, 0u8..4), 0..8),
    ) {
        let size = sectors * 512;
        let writes = writes(size, &specs);
        let want = expected(size, &writes);

        let mut vmdk = VmdkStream::new(Vec::new(), Path::new("t.vmdk"), "t.vmdk", size, &ID, 2, 1)
            .unwrap();
        feed(&mut vmdk, &writes);
        let (bytes, _) = vmdk.finish().unwrap();
        check(open_backing(bytes, Path::new("t.vmdk")).unwrap(), Format::VmdkStream, &want);

        let vsize = vhd::virtual_size(size, false).unwrap();
        let mut fixed = VhdFixed::new(Vec::new(), Path::new("t.vhd"), vsize, &ID);
        feed(&mut fixed, &writes);
        let bytes = fixed.finish().unwrap();
        prop_assert_eq!(bytes.len() as u64, vsize + 512);
        check(open_backing(bytes, Path::new("t.vhd")).unwrap(), Format::VhdFixed, &want);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.vhd");
        let mut dynamic = VhdDynamic::create(&path, false, vsize, &ID).unwrap();
        feed(&mut dynamic, &writes);
        dynamic.finish().unwrap();
        check(open(&path).unwrap(), Format::VhdDynamic, &want);
    }
}

/// A small valid image of each format that can hold the VHD dynamic
/// layout in memory: (name, bytes).
fn samples() -> Vec<(&'static str, Vec<u8>)> {
    let size = 3 << 20;
    let writes = writes(size, &[(1000, 70_000, 3), (2_500_000, 5000, 7)]);
    let mut vmdk =
        VmdkStream::new(Vec::new(), Path::new("s.vmdk"), "s.vmdk", size, &ID, 1, 1).unwrap();
    feed(&mut vmdk, &writes);
    let vmdk = vmdk.finish().unwrap().0;
    let vsize = vhd::virtual_size(size, false).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.vhd");
    let mut dynamic = VhdDynamic::create(&path, false, vsize, &ID).unwrap();
    feed(&mut dynamic, &writes);
    dynamic.finish().unwrap();
    let dynamic = std::fs::read(&path).unwrap();
    let mut fixed = VhdFixed::new(Vec::new(), Path::new("f.vhd"), vsize, &ID);
    feed(&mut fixed, &writes);
    vec![
        ("s.vmdk", vmdk),
        ("s.vhd", dynamic),
        ("f.vhd", fixed.finish().unwrap()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Damaged images are refused or read, never a panic.
    #[test]
    fn damaged_images_never_panic(
        which in 0usize..3,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        tail_cut in 0usize..2048,
    ) {
        let (name, mut bytes) = samples().swap_remove(which);
        // Damage the metadata, which sits at the ends of every format.
        let len = bytes.len();
        for (index, value) in flips {
            let i = index.index(4096);
            let at = if i < 2048 { i } else { len - (i - 2048) - 1 };
            bytes[at] ^= value | 1;
        }
        if tail_cut % 3 == 0 {
            bytes.truncate(len - tail_cut);
        }
        if let Ok(mut disk) = open_backing(bytes, Path::new(name)) {
            let _ = disk.data_ranges();
            let mut buf = vec![0u8; 1 << 16];
            let mut at = 0;
            while at < disk.size().min(8 << 20) {
                let n = (disk.size() - at).min(buf.len() as u64) as usize;
                let _ = disk.read_at(at, &mut buf[..n]);
                at += n as u64;
            }
        }
    }
}
