//! The [`Sink`] trait and [`is_zero`], in a module of their own: the format
//! writers that [`crate::sink`] re-exports (in `disk_format::vhd::write` and
//! `disk_format::vmdk::write`) implement the trait from here, so they do not
//! import the module that re-exports them.

use crate::error::Result;

/// Where an image's bytes go. Writes come in ascending, non-overlapping
/// offset order; ranges never written read as zeros.
///
/// # Examples
///
/// ```
/// use blockimg::sink::Sink;
///
/// # fn main() -> blockimg::Result<()> {
/// // A sink that counts the bytes it is given.
/// struct Count(u64);
/// impl Sink for Count {
///     fn write_at(&mut self, _offset: u64, data: &[u8]) -> blockimg::Result<()> {
///         self.0 += data.len() as u64;
///         Ok(())
///     }
/// }
/// let mut count = Count(0);
/// count.write_at(0, &[1; 512])?;
/// count.write_owned(4096, vec![2; 512])?;
/// assert_eq!(count.0, 1024);
///
/// // A Vec<u8> is a sink too: the image in memory.
/// let mut image = Vec::new();
/// image.write_at(4096, b"data")?;
/// assert_eq!((image.len(), &image[4096..]), (4100, &b"data"[..]));
/// # Ok(())
/// # }
/// ```
pub trait Sink {
    /// Writes `data` at byte `offset` of the image.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::sink::Sink;
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut image: Vec<u8> = Vec::new();
    /// image.write_at(0, &[0x55, 0xaa])?;
    /// image.write_at(510, &[0x55, 0xaa])?; // the gap reads as zeros
    /// assert_eq!((image.len(), image[2]), (512, 0));
    /// # Ok(())
    /// # }
    /// ```
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()>;

    /// Like [`Sink::write_at`], but takes the buffer, and returns a buffer
    /// the caller may fill next (its length and contents are arbitrary).
    /// Sinks that hand buffers to another thread take it as it is and save
    /// a copy.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::sink::Sink;
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let mut image: Vec<u8> = Vec::new();
    /// let mut buf = vec![7u8; 4096];
    /// for block in 0..4 {
    ///     buf = image.write_owned(block * 4096, buf)?; // the buffer comes back for the next block
    ///     buf.resize(4096, 7);
    /// }
    /// assert_eq!(image.len(), 4 * 4096);
    /// # Ok(())
    /// # }
    /// ```
    fn write_owned(&mut self, offset: u64, data: Vec<u8>) -> Result<Vec<u8>> {
        self.write_at(offset, &data)?;
        Ok(data)
    }
}

/// True when every byte of `data` is zero.
///
/// # Examples
///
/// ```
/// use blockimg::sink::is_zero;
///
/// assert!(is_zero(&[0; 4096]));
/// assert!(!is_zero(&[0, 0, 0, 1]));
/// assert!(is_zero(&[]));
/// ```
pub fn is_zero(data: &[u8]) -> bool {
    let mut words = data.chunks_exact(16);
    let body_zero = words.all(|w| u128::from_ne_bytes(w.try_into().unwrap_or([1; 16])) == 0);
    body_zero && words.remainder().iter().all(|&b| b == 0)
}

/// An image held in memory: bytes land at their offsets, gaps are zeros.
impl Sink for Vec<u8> {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let start = usize::try_from(offset).map_err(|_| crate::error::Error::TooLarge {
            what: "in-memory image".into(),
            size: offset,
            limit: usize::MAX as u64,
        })?;
        let end = start + data.len();
        if self.len() < end {
            self.resize(end, 0);
        }
        self[start..end].copy_from_slice(data);
        Ok(())
    }
}
