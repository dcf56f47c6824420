//! Compression of the archive, in the formats the kernel unpacks.

use std::io::{self, Write};

/// How the initramfs archive is compressed.
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::{archive_bytes, compress::Compression};
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let time = Timestamp::from_secs(1_700_000_000);
/// # let mut root = Tree::new(Metadata::directory(time));
/// # let script = FileContent::from_bytes(&b"#!/bin/sh\nexec sh\n"[..]);
/// # root.add(Tree::ROOT, b"init", Node::new(Metadata::directory(time), NodeKind::File(script)))?;
/// // root: a tree holding an executable /init script.
/// assert!(archive_bytes(&root, Compression::None, None)?.starts_with(b"070701"));
/// assert!(archive_bytes(&root, Compression::Xz, None)?.starts_with(b"\xfd7zXZ\0"));
/// assert_eq!(Compression::default(), Compression::Gzip);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// Stored as is.
    None,
    /// gzip at level 9, with no file name and a zero time in its header
    /// (`CONFIG_RD_GZIP`, every kernel).
    #[default]
    Gzip,
    /// zstd at level 19 (`CONFIG_RD_ZSTD`).
    Zstd,
    /// xz preset 6 with a CRC32 check, the only check the kernel's xz
    /// decoder verifies (`CONFIG_RD_XZ`).
    Xz,
}

impl Compression {
    /// Starts compressing into `out`.
    pub(crate) fn encoder<W: Write>(self, out: W) -> io::Result<Encoder<W>> {
        Ok(Encoder(match self {
            Compression::None => Inner::None(out),
            Compression::Gzip => {
                Inner::Gzip(flate2::GzBuilder::new().write(out, flate2::Compression::best()))
            }
            Compression::Zstd => Inner::Zstd(zstd::Encoder::new(out, 19)?),
            Compression::Xz => {
                let stream =
                    liblzma::stream::Stream::new_easy_encoder(6, liblzma::stream::Check::Crc32)
                        .map_err(io::Error::other)?;
                Inner::Xz(liblzma::write::XzEncoder::new_stream(out, stream))
            }
        }))
    }
}

/// A compressing writer; [`Encoder::finish`] ends the stream.
pub(crate) struct Encoder<W: Write>(Inner<W>);

enum Inner<W: Write> {
    None(W),
    Gzip(flate2::write::GzEncoder<W>),
    Zstd(zstd::Encoder<'static, W>),
    Xz(liblzma::write::XzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    /// Writes what is left of the compressed stream and returns the
    /// underlying writer.
    pub fn finish(self) -> io::Result<W> {
        match self.0 {
            Inner::None(w) => Ok(w),
            Inner::Gzip(e) => e.finish(),
            Inner::Zstd(e) => e.finish(),
            Inner::Xz(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match &mut self.0 {
            Inner::None(w) => w.write(buf),
            Inner::Gzip(e) => e.write(buf),
            Inner::Zstd(e) => e.write(buf),
            Inner::Xz(e) => e.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.0 {
            Inner::None(w) => w.flush(),
            Inner::Gzip(e) => e.flush(),
            Inner::Zstd(e) => e.flush(),
            Inner::Xz(e) => e.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn every_format_round_trips() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Zstd,
            Compression::Xz,
        ] {
            let mut e = c.encoder(Vec::new()).unwrap();
            e.write_all(&data).unwrap();
            let packed = e.finish().unwrap();
            let mut back = Vec::new();
            match c {
                Compression::None => back = packed,
                Compression::Gzip => {
                    assert_eq!(&packed[4..8], &[0, 0, 0, 0], "gzip time is zero");
                    flate2::read::GzDecoder::new(&packed[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
                Compression::Zstd => back = zstd::decode_all(&packed[..]).unwrap(),
                Compression::Xz => {
                    assert_eq!(packed[7], 1, "check type CRC32");
                    liblzma::read::XzDecoder::new(&packed[..])
                        .read_to_end(&mut back)
                        .unwrap();
                }
            }
            assert_eq!(back, data, "{c:?}");
        }
    }
}
