//! The planner: numbers the inodes, lays out every directory, places every
//! block of metadata and data, and records what goes where, all before a
//! byte is written. [`Ext4Plan`] is the result and the entry point; the
//! steps live beside it: [`super::content`] numbers the tree's inodes,
//! [`super::layout`] places the fixed metadata, [`super::place`] places
//! each inode's blocks, [`super::groups`] describes the groups, and
//! `write` emits the plan.

use super::alloc::{Allocator, Run};
use super::content::Content;
use super::csum::Checksummer;
use super::format::inode::{JOURNAL_INO, RESIZE_INO};
use super::geometry::{Geometry, INODE_SIZE};
use super::groups;
use super::layout::{geometry_free_estimate, Ext4Layout, PlacedData};
use super::pieces::{InodePlan, Piece, Slot};
use super::place::{PlacedContent, Placer};
use super::superblock::{GroupDesc, SuperblockInfo};
use super::Ext4Options;
use crate::error::{Error, Result};
use crate::identity;
use crate::tree::{Timestamp, Tree};

/// A complete ext4 layout for a tree.
///
/// # Examples
///
/// ```
/// use blockimg::ext4::read::Ext4Reader;
/// use blockimg::ext4::{Ext4Options, Ext4Plan};
/// use blockimg::sink::SparseFile;
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let time = Timestamp::from_secs(1_700_000_000);
/// let mut tree = Tree::new(Metadata::directory(time));
/// let file = Node::new(Metadata { permissions: 0o644, ..Metadata::directory(time) },
///                      NodeKind::File(FileContent::from_bytes(&b"appliance\n"[..])));
/// tree.add(Tree::ROOT, b"hostname", file)?;
///
/// let options = Ext4Options::default().label("root".into()).timestamp(Some(time));
/// let plan = Ext4Plan::new(&tree, 8 << 20, &options)?; // an 8 MiB filesystem
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("root.ext4");
/// let mut image = SparseFile::create(&path, false)?;
/// plan.write(&mut image, 0, &mut |_copied_bytes| {})?;
/// image.finish(8 << 20)?;
///
/// let fs = Ext4Reader::open(std::fs::File::open(&path)?, 0, &path)?;
/// assert_eq!(fs.info().label, b"root");
/// assert_eq!(fs.info().uuid, plan.uuid());
/// # Ok(())
/// # }
/// ```
pub struct Ext4Plan<'t> {
    pub(super) tree: &'t Tree,
    pub(super) geometry: Geometry,
    pub(super) csum: Checksummer,
    pub(super) superblock: SuperblockInfo,
    pub(super) groups: Vec<GroupDesc>,
    /// Inode number of each node (0 for nodes not reachable from the root).
    pub(super) inos: Vec<u32>,
    /// What each inode number (index `ino - 1`) holds, up to the last used.
    pub(super) slots: Vec<Slot>,
    /// Per node of the tree.
    pub(super) nodes: Vec<InodePlan>,
    pub(super) lost_found: Option<InodePlan>,
    pub(super) journal: Option<InodePlan>,
    /// The resize inode's double-indirect block, 0 without a resize inode.
    pub(super) resize_dind: u64,
    /// Free blocks, ascending (the complement is in use).
    pub(super) free: Vec<Run>,
    pub(super) pieces: Vec<Piece>,
    pub(super) now: Timestamp,
    pub(super) clamp: Option<Timestamp>,
    /// Bytes of file data to copy, for progress reporting.
    pub(super) data_bytes: u64,
}

impl<'t> Ext4Plan<'t> {
    /// Plans a filesystem of `size_bytes` holding `tree`.
    pub fn new(tree: &'t Tree, size_bytes: u64, options: &Ext4Options) -> Result<Self> {
        let content = Content::new(tree, options.block_size)?;
        let layout = Ext4Layout::new(size_bytes, options, content.slots.len() as u64)?;
        plan_with(tree, content, layout, options, &PlacedData::default())
    }

    /// Plans `tree` into a layout whose file data was already placed (and
    /// written) as it streamed in: files listed in `placed` keep their
    /// blocks; everything else is placed after them.
    pub fn with_placed(
        tree: &'t Tree,
        layout: Ext4Layout,
        options: &Ext4Options,
        placed: &PlacedData,
    ) -> Result<Self> {
        let content = Content::new(tree, options.block_size)?;
        let capacity = u64::from(layout.geometry.inodes_count());
        if content.slots.len() as u64 > capacity {
            return Err(Error::TooSmall {
                what: format!("{} inodes", content.slots.len()),
                needed: content.slots.len() as u64 * layout.geometry.bs() * 4,
                available: layout.size_bytes,
            });
        }
        plan_with(tree, content, layout, options, placed)
    }

    /// The smallest filesystem size (bytes) that holds `tree`, plus
    /// `headroom_percent` of the tree's own size as free space, and the
    /// number of inodes to ask for (the tree's plus the same headroom).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::{Ext4Options, Ext4Plan};
    /// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    ///
    /// # fn main() -> blockimg::Result<()> {
    /// let meta = Metadata::directory(Timestamp::from_secs(0));
    /// let mut tree = Tree::new(meta.clone());
    /// let data = FileContent::from_bytes(vec![7u8; 3 << 20]);
    /// tree.add(Tree::ROOT, b"data.bin", Node::new(meta, NodeKind::File(data)))?;
    ///
    /// let options = Ext4Options::default();
    /// let (size, inodes) = Ext4Plan::min_size(&tree, &options, 20)?; // 20 % free space
    /// let plan = Ext4Plan::new(&tree, size, &options.min_inodes(inodes))?;
    /// assert!(plan.free_blocks() * 4096 >= (3 << 20) / 5);
    /// assert!(plan.data_bytes() >= 3 << 20);
    /// # Ok(())
    /// # }
    /// ```
    pub fn min_size(
        tree: &Tree,
        options: &Ext4Options,
        headroom_percent: u32,
    ) -> Result<(u64, u64)> {
        let content = Content::new(tree, options.block_size)?;
        let bs = u64::from(options.block_size);
        let content_bytes = content.blocks * bs;
        let extra = content_bytes / 100 * u64::from(headroom_percent);
        let inodes = content.slots.len() as u64 * (100 + u64::from(headroom_percent)) / 100;
        // Inode tables, bitmaps, superblock copies and a journal on top of the
        // content; then grow until the plan fits.
        let mut size = (content_bytes + extra + inodes * u64::from(INODE_SIZE)).max(8 << 20);
        size += default_journal_bytes(size / bs, bs, options.journal);
        size = size.div_ceil(1 << 20) << 20;
        for _ in 0..64 {
            let geometry = Geometry::new(
                size,
                options.block_size,
                options.inode_ratio,
                inodes,
                options.journal,
            );
            if let Ok(geometry) = geometry {
                let free = geometry_free_estimate(&geometry);
                if free >= content.blocks + extra / bs {
                    return Ok((size, inodes));
                }
            }
            size = (size + size / 16).div_ceil(1 << 20) << 20;
        }
        Err(Error::TooLarge {
            what: "tree".into(),
            size,
            limit: size,
        })
    }

    /// Geometry of the planned filesystem.
    pub fn geometry(&self) -> &Geometry {
        &self.geometry
    }

    /// Filesystem UUID.
    pub fn uuid(&self) -> [u8; 16] {
        self.superblock.uuid
    }

    /// The build time of a reproducible plan (its options' timestamp).
    pub fn timestamp(&self) -> Option<Timestamp> {
        self.clamp
    }

    /// Free blocks after writing.
    pub fn free_blocks(&self) -> u64 {
        self.superblock.free_blocks
    }

    /// Free inodes after writing.
    pub fn free_inodes(&self) -> u32 {
        self.superblock.free_inodes
    }

    /// Bytes of file data the write will copy.
    pub fn data_bytes(&self) -> u64 {
        self.data_bytes
    }

    /// Byte ranges (from the filesystem's start) that `write` fills,
    /// ascending; everything else reads as zeros.
    pub fn written_ranges(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let bs = self.geometry.bs();
        self.pieces
            .iter()
            .map(move |p| (p.block * bs, p.count * bs))
    }
}

fn default_journal_bytes(blocks: u64, bs: u64, journal: bool) -> u64 {
    if journal {
        u64::from(super::geometry::default_journal_blocks(blocks)) * bs
    } else {
        0
    }
}

/// The values a plan derives from its options, or picks: the label, the
/// time of the build, the UUID and the directory hash seed.
struct Identity {
    label: [u8; 16],
    now: Timestamp,
    uuid: [u8; 16],
    /// The hash seed as stored in the superblock.
    seed_bytes: [u8; 16],
    /// The hash seed as the directory hash reads it: four little-endian
    /// words.
    hash_seed: [u32; 4],
}

impl Identity {
    /// The identity of a filesystem of `size_bytes` holding `tree`: from
    /// `options`, derived from their timestamp (reproducible builds), or
    /// random.
    fn new(tree: &Tree, size_bytes: u64, options: &Ext4Options) -> Result<Identity> {
        let label = label_bytes(&options.label)?;
        let now = match options.timestamp {
            Some(t) => t,
            None => Timestamp::now(),
        };
        let count = (tree.len() as u64).to_le_bytes();
        let size_le = size_bytes.to_le_bytes();
        let secs = now.secs.to_le_bytes();
        let derive = |tag: &str| identity::derived_uuid(tag, &[&secs, &label, &size_le, &count]);
        let uuid = match (options.uuid, options.timestamp) {
            (Some(u), _) => u,
            (None, Some(_)) => derive("blockimg ext4 uuid"),
            (None, None) => identity::random_uuid()?,
        };
        let seed_bytes = match (options.hash_seed, options.timestamp) {
            (Some(seed), _) => seed,
            (None, Some(_)) => derive("blockimg ext4 hash seed"),
            (None, None) => identity::random_uuid()?,
        };
        let hash_seed = [0, 4, 8, 12].map(|i| {
            u32::from_le_bytes([
                seed_bytes[i],
                seed_bytes[i + 1],
                seed_bytes[i + 2],
                seed_bytes[i + 3],
            ])
        });
        Ok(Identity {
            label,
            now,
            uuid,
            seed_bytes,
            hash_seed,
        })
    }
}

/// Plans `tree` (numbered as `content`) into `layout`: picks the identity,
/// places the content around the data already `placed`, then describes
/// the groups and records every piece to write.
fn plan_with<'t>(
    tree: &'t Tree,
    content: Content,
    layout: Ext4Layout,
    options: &Ext4Options,
    placed: &PlacedData,
) -> Result<Ext4Plan<'t>> {
    let id = Identity::new(tree, layout.size_bytes, options)?;
    let csum = Checksummer::new(&id.uuid);
    let Ext4Layout {
        geometry,
        mut alloc,
        mut groups,
        mut pieces,
        journal,
        resize_dind,
        size_bytes,
        ..
    } = layout;
    let g = &geometry;

    release_replaced(&mut alloc, placed, &content.inos);
    let PlacedContent {
        nodes,
        lost_found,
        data_bytes,
    } = Placer {
        tree,
        content: &content,
        geometry: g,
        seed: &id.hash_seed,
        alloc: &mut alloc,
        pieces: &mut pieces,
        placed,
        data_bytes: 0,
        needed: size_bytes,
    }
    .place_all()?;
    let mut slots = content.slots;
    if journal.is_some() {
        slots[(JOURNAL_INO - 1) as usize] = Slot::Journal;
    }
    if resize_dind != 0 {
        slots[(RESIZE_INO - 1) as usize] = Slot::Resize;
    }

    let free = alloc.into_free();
    let total_free = groups::describe(g, tree, &slots, &free, &csum, &mut groups, &mut pieces);
    groups::push_superblock_pieces(g, &mut pieces);
    pieces.sort_unstable_by_key(|p| p.block);

    let used_inodes = slots.len() as u64;
    let reserved_blocks = g.blocks_count * u64::from(options.reserved_percent.min(50)) / 100;
    let mut plan = Ext4Plan {
        tree,
        geometry: geometry.clone(),
        csum,
        superblock: SuperblockInfo {
            geometry: geometry.clone(),
            free_blocks: total_free,
            free_inodes: (u64::from(geometry.inodes_count()) - used_inodes) as u32,
            reserved_blocks,
            uuid: id.uuid,
            hash_seed: id.seed_bytes,
            label: id.label,
            now: id.now.secs,
            journal: None,
        },
        groups,
        inos: content.inos,
        slots,
        nodes,
        lost_found,
        journal,
        resize_dind,
        free,
        pieces,
        now: id.now,
        clamp: options.timestamp,
        data_bytes,
    };
    if let Some(j) = &plan.journal {
        let record = plan.journal_record(j);
        plan.superblock.journal = Some((record.i_block, record.size));
    }
    Ok(plan)
}

/// Gives back to the free space the data placed for files that a later
/// entry replaced (nodes no longer numbered).
fn release_replaced(alloc: &mut Allocator, placed: &PlacedData, inos: &[u32]) {
    for node in placed.nodes() {
        if !matches!(inos.get(node.index()), Some(&ino) if ino != 0) {
            alloc.release_all(placed.get(node).unwrap_or_default());
        }
    }
}

fn label_bytes(label: &str) -> Result<[u8; 16]> {
    let bytes = label.as_bytes();
    if bytes.len() > 16 {
        return Err(Error::InvalidOption {
            option: "label".into(),
            reason: format!("{label:?} is {} bytes long; at most 16 fit", bytes.len()),
        });
    }
    let mut out = [0u8; 16];
    out[..bytes.len()].copy_from_slice(bytes);
    Ok(out)
}
