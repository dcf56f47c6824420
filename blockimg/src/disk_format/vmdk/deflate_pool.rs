//! Compressing VMDK grains on every core while the output stays in order.
//!
//! Grains are queued in batches to worker threads; each worker returns the
//! batch as ready-to-write grain records (marker, zlib data, padding to a
//! sector). Batches come back in any order and are handed out in the order
//! they were queued. At most a few batches per worker are in flight, so
//! memory stays bounded and a slow output slows the caller down.

use std::collections::BTreeMap;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use libdeflater::{CompressionLvl, Compressor};

use super::{grain_marker, GRAIN_MARKER_SIZE, GRAIN_SECTORS, SECTOR};
use crate::error::{Error, Result};

/// Batches in flight per worker.
const IN_FLIGHT_PER_WORKER: usize = 4;

/// A compressed grain, ready to be written at a sector boundary.
pub struct GrainRecord {
    /// Grain number (its LBA divided by the grain size).
    pub index: u64,
    /// Grain marker, compressed data, zero padding to a whole sector.
    pub bytes: Vec<u8>,
}

struct Job {
    seq: u64,
    grains: Vec<(u64, Vec<u8>)>,
}

struct Done {
    seq: u64,
    records: std::result::Result<Vec<GrainRecord>, String>,
}

/// Worker threads compressing batches of grains.
pub struct DeflatePool {
    jobs: Option<SyncSender<Job>>,
    results: Receiver<Done>,
    workers: Vec<JoinHandle<()>>,
    next_seq: u64,
    next_out: u64,
    waiting: BTreeMap<u64, Vec<GrainRecord>>,
    max_in_flight: u64,
}

fn pool_error(reason: String) -> Error {
    Error::Write {
        path: "VMDK grain compression".into(),
        offset: 0,
        source: std::io::Error::other(reason),
    }
}

impl DeflatePool {
    /// Starts `threads` workers compressing at libdeflate `level` (1-12;
    /// 6 compresses a little better than zlib's default level, 3 times
    /// as fast).
    pub fn new(threads: usize, level: u32) -> Result<DeflatePool> {
        let threads = threads.max(1);
        let max_in_flight = threads * IN_FLIGHT_PER_WORKER;
        let (jobs, job_rx) = sync_channel::<Job>(max_in_flight);
        let (done_tx, results) = channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        let mut workers = Vec::with_capacity(threads);
        for n in 0..threads {
            let job_rx = Arc::clone(&job_rx);
            let done_tx = done_tx.clone();
            let worker = std::thread::Builder::new()
                .name(format!("deflate {n}"))
                .spawn(move || work(&job_rx, &done_tx, level))
                .map_err(|e| pool_error(format!("cannot start a compression thread: {e}")))?;
            workers.push(worker);
        }
        Ok(DeflatePool {
            jobs: Some(jobs),
            results,
            workers,
            next_seq: 0,
            next_out: 0,
            waiting: BTreeMap::new(),
            max_in_flight: max_in_flight as u64,
        })
    }

    /// Queues a batch of (grain number, grain bytes) and hands every record
    /// that is ready, in order, to `emit`.
    pub fn submit(
        &mut self,
        grains: Vec<(u64, Vec<u8>)>,
        emit: &mut dyn FnMut(GrainRecord) -> Result<()>,
    ) -> Result<()> {
        while self.next_seq - self.next_out >= self.max_in_flight {
            self.receive(true, emit)?;
        }
        let job = Job {
            seq: self.next_seq,
            grains,
        };
        let sent = self.jobs.as_ref().map(|tx| tx.send(job));
        if !matches!(sent, Some(Ok(()))) {
            return Err(pool_error("the compression threads stopped".into()));
        }
        self.next_seq += 1;
        while self.receive(false, emit)? {}
        Ok(())
    }

    /// Waits for every queued batch and hands the rest of the records to
    /// `emit`.
    pub fn finish(mut self, emit: &mut dyn FnMut(GrainRecord) -> Result<()>) -> Result<()> {
        self.jobs = None;
        while self.next_out < self.next_seq {
            self.receive(true, emit)?;
        }
        Ok(())
    }

    /// Takes one finished batch (waiting for it if `block`) and emits what
    /// is now in order. Returns whether a batch was taken.
    fn receive(
        &mut self,
        block: bool,
        emit: &mut dyn FnMut(GrainRecord) -> Result<()>,
    ) -> Result<bool> {
        let done = if block {
            self.results
                .recv()
                .map_err(|_| pool_error("the compression threads stopped".into()))?
        } else {
            match self.results.try_recv() {
                Ok(done) => done,
                Err(_) => return Ok(false),
            }
        };
        let records = done.records.map_err(pool_error)?;
        self.waiting.insert(done.seq, records);
        while let Some(records) = self.waiting.remove(&self.next_out) {
            self.next_out += 1;
            for record in records {
                emit(record)?;
            }
        }
        Ok(true)
    }
}

impl Drop for DeflatePool {
    fn drop(&mut self) {
        self.jobs = None;
        // Workers end once the queue is closed and drained; results that
        // nobody takes are dropped with the channel.
        while self.results.try_recv().is_ok() {}
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A worker: compresses batches until the queue closes.
fn work(jobs: &Mutex<Receiver<Job>>, done: &Sender<Done>, level: u32) {
    let level = CompressionLvl::new(level.clamp(1, 12) as i32).unwrap_or_default();
    let mut compress = Compressor::new(level);
    loop {
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let records = job
            .grains
            .into_iter()
            .map(|(index, grain)| record(&mut compress, index, &grain))
            .collect();
        if done
            .send(Done {
                seq: job.seq,
                records,
            })
            .is_err()
        {
            return;
        }
    }
}

/// The grain record of grain `index`: LBA, compressed length, zlib data,
/// zero padding to a sector.
fn record(
    compress: &mut Compressor,
    index: u64,
    grain: &[u8],
) -> std::result::Result<GrainRecord, String> {
    let bound = compress.zlib_compress_bound(grain.len());
    let mut bytes = vec![0u8; GRAIN_MARKER_SIZE + bound];
    let len = compress
        .zlib_compress(grain, &mut bytes[GRAIN_MARKER_SIZE..])
        .map_err(|e| format!("grain {index}: {e}"))?;
    bytes[..GRAIN_MARKER_SIZE].copy_from_slice(&grain_marker(index * GRAIN_SECTORS, len as u32));
    bytes.truncate(GRAIN_MARKER_SIZE + len);
    bytes.resize(bytes.len().next_multiple_of(SECTOR as usize), 0);
    Ok(GrainRecord { index, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_come_back_in_order_and_decompress() {
        let mut pool = DeflatePool::new(3, 6).unwrap();
        let mut seen = Vec::new();
        let mut emit = |r: GrainRecord| {
            assert_eq!(r.bytes.len() % 512, 0);
            let mut marker = [0u8; 16];
            marker[..GRAIN_MARKER_SIZE].copy_from_slice(&r.bytes[..GRAIN_MARKER_SIZE]);
            let (lba, len, _) = super::super::parse_marker(&marker);
            assert_eq!(lba, r.index * GRAIN_SECTORS);
            let len = len as usize;
            let mut out = vec![0u8; 65536];
            let mut d = flate2::Decompress::new(true);
            d.decompress(
                &r.bytes[12..12 + len],
                &mut out,
                flate2::FlushDecompress::Finish,
            )
            .unwrap();
            assert_eq!(out[0], r.index as u8);
            seen.push(r.index);
            Ok(())
        };
        for batch in 0..50u64 {
            let grains = (0..7)
                .map(|i| {
                    let index = batch * 7 + i;
                    (index, vec![index as u8; 65536])
                })
                .collect();
            pool.submit(grains, &mut emit).unwrap();
        }
        pool.finish(&mut emit).unwrap();
        assert_eq!(seen, (0..350).collect::<Vec<_>>());
    }
}
