//! What the image reader targets do with a disk that opened: read what the
//! reader says may hold data (at most 1 MiB of it), the last byte, and one
//! byte past the end, which must fail.

use blockimg::disk_format::VirtualDisk;

/// Reads `disk` as described above; panics only if the reader breaks its
/// own rules (a data range outside the disk, a read past the end that
/// succeeds).
pub fn exercise(disk: &mut dyn VirtualDisk) {
    let size = disk.size();
    let mut budget = 1u64 << 20;
    if let Ok(ranges) = disk.data_ranges() {
        for (offset, len) in ranges {
            assert!(offset.checked_add(len).is_some_and(|end| end <= size));
            let n = len.min(budget).min(1 << 16);
            let mut buf = vec![0u8; n as usize];
            let _ = disk.read_at(offset, &mut buf);
            budget -= n;
            if budget == 0 {
                break;
            }
        }
    }
    if size > 0 {
        let _ = disk.read_at(size - 1, &mut [0u8; 1]);
    }
    assert!(disk.read_at(size, &mut [0u8; 1]).is_err());
}
