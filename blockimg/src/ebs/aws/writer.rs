//! [`SnapshotWriter`]: a sink that sends a disk into a new EBS snapshot as
//! it is written, and [`upload_image`], which sends an existing image.

use std::collections::{btree_map, BTreeMap};
use std::iter::Peekable;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use aws_sdk_ebs::primitives::ByteStream;
use aws_sdk_ebs::types::{ChecksumAggregationMethod, ChecksumAlgorithm, Status, Tag};
use tokio::sync::Semaphore;

use super::{retry, Ebs};
use crate::convert::{copy_disk, data_bytes};
use crate::disk_format;
use crate::ebs::{
    aggregate_hash, block_hash, volume_gib, BlockAssembler, BlockHash, Manifest, Snapshot,
    SnapshotOptions, BLOCK_SIZE, GIB,
};
use crate::error::{Call, EbsError, Error, Result};
use crate::lock::ImageLock;
use crate::report::{self, Observer, Phase};
use crate::sink::base::{is_zero, Sink};

/// A sink that sends a disk into a new EBS snapshot while it is written:
/// every 512 KiB block that holds data goes out with PutSnapshotBlock as
/// soon as the writes have moved past it, at most
/// [`SnapshotOptions::concurrency`] at a time (the writer waits when they
/// are all in flight); blocks never written, and blocks of zeros, are not
/// sent. [`SnapshotWriter::finish`] completes the snapshot and waits until
/// it is `completed`. A writer dropped before that leaves the snapshot
/// `pending`, and EBS fails it when its timeout passes: a snapshot never
/// completes with part of a disk.
///
/// # Examples
///
/// ```no_run
/// use blockimg::ebs::{Ebs, SnapshotOptions, SnapshotWriter};
/// use blockimg::sink::Sink;
///
/// # fn main() -> blockimg::Result<()> {
/// let ebs = Ebs::from_env()?;
/// let mut writer = SnapshotWriter::start(&ebs, 1 << 30, &SnapshotOptions::default())?;
/// writer.write_at(0, &[0x55; 512])?;
/// let snapshot = writer.finish()?;
/// assert_eq!((snapshot.volume_gib, snapshot.blocks_sent), (1, 1));
/// # Ok(())
/// # }
/// ```
pub struct SnapshotWriter {
    blocks: BlockAssembler,
    uploader: Uploader,
}

/// Sends the blocks [`SnapshotWriter`] assembles.
struct Uploader {
    ebs: Ebs,
    snapshot: String,
    volume_gib: u64,
    options: SnapshotOptions,
    /// Blocks of the parent not yet seen in the new disk, ascending.
    parent_left: Peekable<btree_map::IntoIter<u64, BlockHash>>,
    /// Permits for the blocks in flight.
    permits: Arc<Semaphore>,
    done: Arc<Mutex<Done>>,
    /// The new snapshot's blocks that hold data.
    manifest: Manifest,
    unchanged: u64,
}

/// What the uploads in flight have done.
#[derive(Default)]
struct Done {
    /// Blocks sent, with their hashes.
    sent: BTreeMap<u64, BlockHash>,
    /// The first failure.
    error: Option<EbsError>,
}

impl SnapshotWriter {
    /// Starts a snapshot of a volume holding `disk_size` bytes (rounded up
    /// to whole GiB), with `options`' description, tags and parent.
    pub fn start(ebs: &Ebs, disk_size: u64, options: &SnapshotOptions) -> Result<SnapshotWriter> {
        let gib = volume_gib(disk_size)?;
        if let Some(parent) = &options.parent
            && parent.volume_gib > gib
        {
            return Err(Error::InvalidOption {
                option: "parent snapshot".into(),
                reason: format!(
                    "{} has a {} GiB volume, larger than this disk's {gib} GiB",
                    parent.snapshot, parent.volume_gib
                ),
            });
        }
        let token = crate::identity::format_uuid(&crate::identity::random_uuid()?);
        let client = &ebs.inner.ebs;
        let tags: Vec<Tag> = options
            .tags
            .iter()
            .map(|(key, value)| Tag::builder().key(key).value(value).build())
            .collect();
        let started = ebs.block_on(retry(
            ebs.inner.attempts,
            || Call::new("StartSnapshot"),
            || {
                client
                    .start_snapshot()
                    .volume_size(gib as i64)
                    .client_token(&token)
                    .set_description(options.description.clone())
                    .set_tags((!tags.is_empty()).then(|| tags.clone()))
                    .set_parent_snapshot_id(options.parent.as_ref().map(|p| p.snapshot.clone()))
                    .send()
            },
        ))?;
        let snapshot = started
            .snapshot_id()
            .ok_or_else(|| EbsError::Snapshot {
                snapshot: "(none)".into(),
                reason: "StartSnapshot answered without a snapshot id".into(),
            })?
            .to_string();
        let parent_blocks = options
            .parent
            .as_ref()
            .map(|p| p.blocks.clone())
            .unwrap_or_default();
        Ok(SnapshotWriter {
            blocks: BlockAssembler::default(),
            uploader: Uploader {
                ebs: ebs.clone(),
                manifest: Manifest::new(&snapshot, gib),
                snapshot,
                volume_gib: gib,
                parent_left: parent_blocks.into_iter().peekable(),
                permits: Arc::new(Semaphore::new(options.concurrency.max(1))),
                done: Arc::default(),
                options: options.clone(),
                unchanged: 0,
            },
        })
    }

    /// The snapshot's id.
    pub fn snapshot_id(&self) -> &str {
        &self.uploader.snapshot
    }

    /// Sends what is left, waits for every block, completes the snapshot
    /// (with the count of blocks sent and the aggregate of their
    /// checksums), waits until it is `completed` and writes the manifest
    /// when asked.
    pub fn finish(mut self) -> Result<Snapshot> {
        let uploader = &mut self.uploader;
        self.blocks
            .flush(&mut |index, bytes| uploader.block(index, bytes))?;
        // Blocks of the parent the new disk does not have read as zeros.
        while let Some((index, _)) = uploader.parent_left.next() {
            uploader.send(index, vec![0; BLOCK_SIZE], block_hash(&[0; BLOCK_SIZE]))?;
        }
        uploader.complete()
    }
}

impl Sink for SnapshotWriter {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<()> {
        let uploader = &mut self.uploader;
        self.blocks.write(offset, data, &mut |index, bytes| {
            uploader.block(index, bytes)
        })
    }
}

impl Uploader {
    /// A block of the new disk: sent unless it is zeros where the parent
    /// (if any) has nothing, or the parent has the same bytes.
    fn block(&mut self, index: u64, bytes: Vec<u8>) -> Result<()> {
        self.failed()?;
        let limit = self.volume_gib * GIB / BLOCK_SIZE as u64;
        if index >= limit {
            return Err(Error::TooLarge {
                what: format!("the disk written into snapshot {}", self.snapshot),
                size: (index + 1) * BLOCK_SIZE as u64,
                limit: self.volume_gib * GIB,
            });
        }
        let mut parent = None;
        while let Some((next, hash)) = self.parent_left.next_if(|&(next, _)| next <= index) {
            if next == index {
                parent = Some(hash);
            } else {
                self.send(next, vec![0; BLOCK_SIZE], block_hash(&[0; BLOCK_SIZE]))?;
            }
        }
        if is_zero(&bytes) {
            return match parent {
                Some(_) => {
                    let hash = block_hash(&bytes);
                    self.send(index, bytes, hash)
                }
                None => Ok(()),
            };
        }
        let hash = block_hash(&bytes);
        self.manifest.blocks.insert(index, hash);
        if parent == Some(hash) {
            self.unchanged += 1;
            return Ok(());
        }
        self.send(index, bytes, hash)
    }

    /// The first error of an upload in flight, if one failed.
    fn failed(&self) -> Result<()> {
        match self
            .done
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .error
            .take()
        {
            Some(error) => Err(error.into()),
            None => Ok(()),
        }
    }

    /// Sends block `index` once a permit is free.
    fn send(&mut self, index: u64, bytes: Vec<u8>, hash: BlockHash) -> Result<()> {
        let permit = self
            .ebs
            .block_on(self.permits.clone().acquire_owned())
            .map_err(|_| Error::InvalidOption {
                option: "snapshot".into(),
                reason: "the upload was shut down".into(),
            })?;
        self.failed()?;
        let client = self.ebs.inner.ebs.clone();
        let attempts = self.ebs.inner.attempts;
        let snapshot = self.snapshot.clone();
        let done = Arc::clone(&self.done);
        let checksum = aws_smithy_types::base64::encode(hash);
        let data = bytes::Bytes::from(bytes);
        self.ebs.inner.runtime.spawn(async move {
            let result = retry(
                attempts,
                || {
                    Call::new("PutSnapshotBlock")
                        .snapshot(&snapshot)
                        .block(index)
                },
                || {
                    client
                        .put_snapshot_block()
                        .snapshot_id(&snapshot)
                        .block_index(index as i32)
                        .block_data(ByteStream::from(data.clone()))
                        .data_length(BLOCK_SIZE as i32)
                        .checksum(&checksum)
                        .checksum_algorithm(ChecksumAlgorithm::ChecksumAlgorithmSha256)
                        .send()
                },
            )
            .await;
            let mut done = done.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(_) => {
                    done.sent.insert(index, hash);
                }
                Err(error) => {
                    done.error.get_or_insert(error);
                }
            }
            drop(permit);
        });
        Ok(())
    }

    /// Waits for the blocks in flight, then completes the snapshot.
    fn complete(&mut self) -> Result<Snapshot> {
        let all = u32::try_from(self.options.concurrency.max(1)).unwrap_or(u32::MAX);
        let _all = self
            .ebs
            .block_on(self.permits.acquire_many(all))
            .map_err(|_| Error::InvalidOption {
                option: "snapshot".into(),
                reason: "the upload was shut down".into(),
            })?;
        self.failed()?;
        let sent = std::mem::take(
            &mut self
                .done
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sent,
        );
        let checksum = aws_smithy_types::base64::encode(aggregate_hash(sent.values()));
        let client = &self.ebs.inner.ebs;
        let snapshot = &self.snapshot;
        let completed = self.ebs.block_on(retry(
            self.ebs.inner.attempts,
            || Call::new("CompleteSnapshot").snapshot(snapshot),
            || {
                client
                    .complete_snapshot()
                    .snapshot_id(snapshot)
                    .changed_blocks_count(sent.len() as i32)
                    .checksum(&checksum)
                    .checksum_algorithm(ChecksumAlgorithm::ChecksumAlgorithmSha256)
                    .checksum_aggregation_method(
                        ChecksumAggregationMethod::ChecksumAggregationLinear,
                    )
                    .send()
            },
        ))?;
        if completed.status() == Some(&Status::Error) {
            return Err(EbsError::Snapshot {
                snapshot: snapshot.clone(),
                reason: "CompleteSnapshot says its status is error".into(),
            }
            .into());
        }
        self.ebs.wait_snapshot_completed(snapshot)?;
        if let Some(path) = &self.options.manifest {
            self.manifest.save(path)?;
        }
        Ok(Snapshot {
            id: snapshot.clone(),
            volume_gib: self.volume_gib,
            blocks_sent: sent.len() as u64,
            bytes_sent: sent.len() as u64 * BLOCK_SIZE as u64,
            blocks_unchanged: self.unchanged,
            manifest: self.manifest.clone(),
        })
    }
}

/// Sends the disk image at `path` (raw, VHD, VMDK or qcow2, told by its
/// bytes) into a new snapshot: only the ranges its format says may hold
/// data are read, and of those only blocks that are not zeros (or, with a
/// parent, that differ from the parent's) are sent. The image is locked
/// for reading meanwhile (as `convert` locks its input), so a mount or
/// command changing it is refused. Progress is reported as
/// [`Phase::Uploading`] in bytes read.
pub fn upload_image(
    ebs: &Ebs,
    path: &Path,
    options: &SnapshotOptions,
    observer: &mut dyn Observer,
) -> Result<Snapshot> {
    // A reader's lock, held to the end: refused while a program changes
    // the image, and no writer starts before the upload is done.
    let _lock = ImageLock::read(path)?;
    let mut disk = disk_format::open(path)?;
    let size = disk.size();
    let total = data_bytes(disk.as_mut())?;
    let mut writer = SnapshotWriter::start(ebs, size, options)?;
    report::phase(observer, Phase::Uploading, total, |progress| {
        copy_disk(disk.as_mut(), &mut writer, size, progress)
    })?;
    writer.finish()
}
