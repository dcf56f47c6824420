//! The hash functions of ext4, bit for bit those of the Linux kernel and
//! of e2fsprogs on a little-endian machine:
//!
//! * [`dx_hash`] ([`dx`]): the hash of a file name that orders the entries
//!   of a hashed (htree) directory, in all six on-disk variants
//!   ([`HashVersion`]).
//! * [`xattr_entry_hash`] and [`xattr_block_hash`] ([`xattr`]): the hashes
//!   stored in extended attribute entries and in the header of an
//!   extended attribute block.
//!
//! The crc32c of the `metadata_csum` checksums is in [`super::csum`].

mod dx;
mod xattr;

pub use dx::{dx_hash, HashVersion};
pub use xattr::{xattr_block_hash, xattr_entry_hash};

/// One name byte as the C code sees it: a `char` widened to `int`, then
/// reinterpreted as 32 bits.
fn widen(byte: u8, unsigned: bool) -> u32 {
    if unsigned {
        u32::from(byte)
    } else {
        // Sign extension of a signed char.
        i32::from(byte as i8) as u32
    }
}
