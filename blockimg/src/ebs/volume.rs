//! EBS volumes come in whole GiB, up to 64 TiB: the size of the volume a
//! disk needs (a leaf module: the output formats size an EBS snapshot's
//! disk with it).

use crate::error::{EbsError, Error, Result};

/// Bytes in a GiB: EBS volumes come in whole GiB.
pub const GIB: u64 = 1 << 30;

/// The largest volume an EBS snapshot holds, in GiB (64 TiB).
pub const MAX_VOLUME_GIB: u64 = 64 << 10;

/// The size in GiB of the smallest volume that holds `disk_size` bytes (at
/// least 1).
///
/// # Examples
///
/// ```
/// use blockimg::ebs::volume_gib;
///
/// # fn main() -> blockimg::Result<()> {
/// assert_eq!(volume_gib(1)?, 1);
/// assert_eq!(volume_gib(6 << 30)?, 6);
/// assert_eq!(volume_gib((6 << 30) + 1)?, 7);
/// assert!(volume_gib(1 << 50).is_err()); // past 64 TiB
/// # Ok(())
/// # }
/// ```
pub fn volume_gib(disk_size: u64) -> Result<u64> {
    let gib = disk_size.div_ceil(GIB).max(1);
    if gib > MAX_VOLUME_GIB {
        return Err(Error::from(EbsError::TooLarge {
            size: disk_size,
            gib,
            limit: MAX_VOLUME_GIB,
        }));
    }
    Ok(gib)
}
