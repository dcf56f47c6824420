//! The compression of an archive, recognised from its first bytes, and
//! the decoder that reads it.

use std::io::{BufRead, BufReader, Read};

use crate::error::{Error, Result};

/// The compression of an archive, recognised from its first bytes.
///
/// # Examples
///
/// ```
/// use blockimg::source::tar::Compression;
///
/// // By the bytes, whatever the file is called.
/// assert_eq!(Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Compression::Zstd);
/// assert_eq!(Compression::detect(b"\xfd7zXZ\0"), Compression::Xz);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar stream.
    None,
    /// gzip (`1f 8b`).
    Gzip,
    /// xz (`fd 37 7a 58 5a 00`).
    Xz,
    /// zstd (`28 b5 2f fd`).
    Zstd,
}

impl Compression {
    /// Recognises the compression from the first bytes of a stream.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::source::tar::Compression;
    ///
    /// assert_eq!(Compression::detect(&[0x1f, 0x8b, 8, 0, 0, 0]), Compression::Gzip);
    /// assert_eq!(Compression::detect(b"etc/hostname\0"), Compression::None);
    /// ```
    pub fn detect(head: &[u8]) -> Compression {
        if head.starts_with(&[0x1f, 0x8b]) {
            Compression::Gzip
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Compression::Xz
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// Wraps `input` in the decoder its first bytes call for.
///
/// # Examples
///
/// ```
/// use std::io::{Read, Write};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
/// gz.write_all(b"tar bytes")?;
/// let compressed = gz.finish()?;
///
/// // The compression is recognised from the first bytes.
/// let mut text = String::new();
/// blockimg::source::tar::decompress(&compressed[..], "rootfs.tar.gz")?.read_to_string(&mut text)?;
/// assert_eq!(text, "tar bytes");
/// # Ok(())
/// # }
/// ```
pub fn decompress<'a>(
    input: impl Read + Send + 'a,
    name: &str,
) -> Result<Box<dyn Read + Send + 'a>> {
    let mut buffered = BufReader::with_capacity(1 << 20, input);
    let head = buffered.fill_buf().map_err(|e| Error::io(name, e))?;
    Ok(match Compression::detect(head) {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Xz => Box::new(liblzma::bufread::XzDecoder::new(buffered)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(buffered).map_err(|e| Error::io(name, e))?,
        ),
    })
}
