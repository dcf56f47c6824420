//! Reading a stream ahead on another thread, so that decompressing and
//! reading an archive overlaps with placing and writing its data.

use std::io::{self, Read};
use std::sync::mpsc::{sync_channel, Receiver};

/// Bytes read ahead at a time.
const CHUNK: usize = 1 << 20;
/// Chunks waiting between the reading thread and the consumer.
const DEPTH: usize = 4;

/// A reader fed by a thread that reads its input ahead.
pub struct ReadAhead {
    chunks: Receiver<io::Result<Vec<u8>>>,
    current: Vec<u8>,
    at: usize,
    done: bool,
}

impl ReadAhead {
    /// Starts reading `input` on its own thread. The thread ends at the end
    /// of the input, on an error, or at its next read once the reader is
    /// dropped (it is never waited for: a pipe may block it).
    pub fn new(mut input: impl Read + Send + 'static) -> io::Result<ReadAhead> {
        let (tx, chunks) = sync_channel(DEPTH);
        std::thread::Builder::new()
            .name("archive reader".into())
            .spawn(move || loop {
                let mut chunk = vec![0u8; CHUNK];
                let mut filled = 0;
                let result = loop {
                    match input.read(&mut chunk[filled..]) {
                        Ok(0) => break Ok(()),
                        Ok(n) => {
                            filled += n;
                            if filled == chunk.len() {
                                break Ok(());
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => break Err(e),
                    }
                };
                let end = filled < chunk.len();
                chunk.truncate(filled);
                let message = match result {
                    Ok(()) => Ok(chunk),
                    Err(e) => Err(e),
                };
                let failed = message.is_err();
                // A consumer that stopped early drops the receiver: stop too.
                if tx.send(message).is_err() || end || failed {
                    return;
                }
            })?;
        Ok(ReadAhead {
            chunks,
            current: Vec::new(),
            at: 0,
            done: false,
        })
    }
}

impl Read for ReadAhead {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.current.len() {
            if self.done {
                return Ok(0);
            }
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    self.done = chunk.len() < CHUNK;
                    self.current = chunk;
                    self.at = 0;
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Err(e);
                }
                Err(_) => {
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(self.current.len() - self.at);
        buf[..n].copy_from_slice(&self.current[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_everything_in_order() {
        let data: Vec<u8> = (0..3 * CHUNK + 123).map(|i| (i % 251) as u8).collect();
        let mut out = Vec::new();
        ReadAhead::new(io::Cursor::new(data.clone()))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, data);
    }

    #[test]
    fn errors_reach_the_consumer_and_early_drops_stop_the_thread() {
        struct Failing;
        impl Read for Failing {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                Err(io::Error::other("disk on fire"))
            }
        }
        let mut r = ReadAhead::new(Failing).unwrap();
        let err = r.read(&mut [0u8; 10]).unwrap_err();
        assert!(err.to_string().contains("fire"));
        let mut endless = ReadAhead::new(io::repeat(1)).unwrap();
        let mut buf = [0u8; 10];
        endless.read_exact(&mut buf).unwrap();
        drop(endless);
    }
}
