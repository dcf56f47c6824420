//! The output file: written under a temporary name by
//! [`crate::sink::TempOutput`] and renamed into place only when
//! complete, so a failed build leaves nothing behind.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::sink::TempOutput;

/// Bytes buffered before they go to the file.
const BUFFER: usize = 1 << 20;

/// The writer of an output file: counts what it writes, and reports a
/// failure as this crate's [`Error::Write`] naming the output and the
/// offset, carried inside the `io::Error` (see [`output_error`]).
pub struct OutputWriter<'a> {
    file: BufWriter<&'a File>,
    path: &'a Path,
    pos: u64,
}

impl OutputWriter<'_> {
    fn error(&self, source: io::Error) -> io::Error {
        io::Error::other(Error::Write {
            path: self.path.to_path_buf(),
            offset: self.pos,
            source,
        })
    }
}

impl Write for OutputWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf).map_err(|e| self.error(e))?;
        self.pos += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush().map_err(|e| self.error(e))
    }
}

/// The crate's error carried inside `e`, or a write error at `offset` of
/// `output`.
pub fn output_error(e: io::Error, output: &Path, offset: u64) -> Error {
    match e.downcast::<Error>() {
        Ok(inner) => inner,
        Err(source) => Error::Write {
            path: output.to_path_buf(),
            offset,
            source,
        },
    }
}

/// Creates `path` atomically: `write` fills it, and only when it succeeds is
/// the file synced and renamed into place. Returns the size written.
///
/// # Errors
///
/// [`Error::OutputExists`] when `path` exists and not `overwrite`; what
/// `write` returns; [`Error::Write`] and [`Error::Io`] for the file. On any
/// error nothing is left behind and an existing `path` is untouched.
pub fn write_atomically<F>(path: &Path, overwrite: bool, write: F) -> Result<u64>
where
    F: FnOnce(&mut OutputWriter<'_>) -> Result<()>,
{
    let temp = TempOutput::create(path, overwrite)?;
    let mut writer = OutputWriter {
        file: BufWriter::with_capacity(BUFFER, temp.file()),
        path,
        pos: 0,
    };
    write(&mut writer)?;
    writer
        .flush()
        .map_err(|e| output_error(e, path, writer.pos))?;
    let len = writer.pos;
    drop(writer);
    temp.commit(len)?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_appears_only_on_success() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.img");
        let err = write_atomically(&path, false, |w| {
            w.write_all(b"partial").unwrap();
            Err(Error::InvalidOption {
                option: "x".into(),
                reason: "fails".into(),
            })
        })
        .unwrap_err();
        assert!(matches!(err, Error::InvalidOption { .. }));
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        let len = write_atomically(&path, false, |w| {
            w.write_all(b"complete")
                .map_err(|e| output_error(e, &path, 0))
        })
        .unwrap();
        assert_eq!(
            (len, std::fs::read(&path).unwrap()),
            (8, b"complete".to_vec())
        );
        let again = write_atomically(&path, false, |_| Ok(()));
        assert!(matches!(again, Err(Error::OutputExists { .. })));
    }
}
