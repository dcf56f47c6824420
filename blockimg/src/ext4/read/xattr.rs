//! Extended attributes: the area after an inode's extra fields and the
//! external xattr block, converted back to the names and values the VFS
//! shows (POSIX ACLs in the `posix_acl_xattr` format).
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use super::inode::Inode;
use super::Ext4Reader;
use crate::error::Result;
use crate::ext4::bytes::{get_u16, get_u32, get_u8};
use crate::ext4::features::INCOMPAT_EA_INODE;
use crate::ext4::format::inode::GOOD_OLD_INODE_SIZE;
use crate::ext4::format::xattr::*;
use crate::tree::Xattr;

impl Ext4Reader {
    /// The extended attributes of inode `ino`, sorted by name, as the VFS
    /// shows them (POSIX ACLs in the `posix_acl_xattr` format).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::Ext4Reader;
    /// use blockimg::ext4::{Ext4Options, Ext4Plan};
    /// use blockimg::sink::SparseFile;
    /// use blockimg::tree::{Metadata, Timestamp, Tree, Xattr};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tree = Tree::new(Metadata::directory(Timestamp::from_secs(0)));
    /// let label = Xattr { name: b"security.selinux".to_vec(), value: b"system_u:object_r:root_t:s0\0".to_vec() };
    /// tree.node_mut(Tree::ROOT).xattrs.push(label.clone());
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join("root.ext4");
    /// let mut image = SparseFile::create(&path, false)?;
    /// Ext4Plan::new(&tree, 8 << 20, &Ext4Options::default())?.write(&mut image, 0, &mut |_| {})?;
    /// image.finish(8 << 20)?;
    ///
    /// let fs = Ext4Reader::open(std::fs::File::open(&path)?, 0, &path)?;
    /// assert_eq!(fs.xattrs(fs.lookup(b"/")?)?, [label]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn xattrs(&self, ino: u32) -> Result<Vec<Xattr>> {
        self.inode_xattrs(&self.inode(ino)?)
    }

    /// Every extended attribute of `inode`, sorted by name.
    pub(super) fn inode_xattrs(&self, inode: &Inode) -> Result<Vec<Xattr>> {
        let mut out = Vec::new();
        let ibody = GOOD_OLD_INODE_SIZE + inode.extra_isize;
        // Values are placed relative to the first entry, after the magic.
        let region = inode.raw.get(ibody + IBODY_HEADER_LEN..);
        if let Some(region) = region.filter(|_| get_u32(&inode.raw, ibody) == XATTR_MAGIC) {
            self.parse_xattrs(inode, "in-inode extended attributes", region, 0, &mut out)?;
        }
        if inode.xattr_block != 0 {
            self.block_xattrs(inode, &mut out)?;
        }
        out.sort();
        out.dedup_by(|a, b| a.name == b.name);
        Ok(out)
    }

    /// Reads and checks the external xattr block of `inode`.
    fn block_xattrs(&self, inode: &Inode, out: &mut Vec<Xattr>) -> Result<()> {
        let (vol, sb) = (&self.volume, &self.sb);
        let block_nr = inode.xattr_block;
        let what = format!("xattr block {block_nr} of inode {}", inode.stat.ino);
        if block_nr < sb.first_data_block || block_nr >= sb.info.blocks_count {
            return Err(vol.corrupt(what, block_nr, "lies outside the filesystem"));
        }
        let mut block = vec![0u8; sb.bs() as usize];
        vol.read(block_nr * sb.bs(), &mut block)?;
        self.xattr_block(inode, block_nr, &block, out)
    }

    /// Checks the xattr block `block_nr` of `inode` (`block`, as read) and
    /// appends its attributes to `out`.
    pub(super) fn xattr_block(
        &self,
        inode: &Inode,
        block_nr: u64,
        block: &[u8],
        out: &mut Vec<Xattr>,
    ) -> Result<()> {
        let (vol, sb) = (&self.volume, &self.sb);
        let what = format!("xattr block {block_nr} of inode {}", inode.stat.ino);
        let (magic, blocks) = (get_u32(block, H_MAGIC), get_u32(block, H_BLOCKS));
        if magic != XATTR_MAGIC || blocks != 1 {
            return Err(vol.corrupt(
                what,
                format!("magic {magic:#x}, {blocks} blocks"),
                format!("expected magic {XATTR_MAGIC:#x} and one block"),
            ));
        }
        if let Some(csum) = &sb.csum {
            vol.check_csum(
                || what.clone(),
                get_u32(block, H_CHECKSUM),
                csum.xattr_block(block_nr, block),
            )?;
        }
        self.parse_xattrs(inode, &what, block, BLOCK_HEADER_LEN, out)
    }

    /// Parses the entries of `region` from byte `first` up to the
    /// terminating zero word; value offsets are relative to the region.
    fn parse_xattrs(
        &self,
        inode: &Inode,
        what: &str,
        region: &[u8],
        first: usize,
        out: &mut Vec<Xattr>,
    ) -> Result<()> {
        let vol = &self.volume;
        let mut at = first;
        loop {
            let field = || format!("{what} of inode {}, entry at byte {at}", inode.stat.ino);
            if at + END_LEN > region.len() {
                return Err(vol.corrupt(
                    field(),
                    "",
                    "the entries run past their area without a terminator",
                ));
            }
            if get_u32(region, at) == 0 {
                return Ok(());
            }
            let name_len = usize::from(get_u8(region, at + E_NAME_LEN));
            let next = at + entry_len(name_len);
            if next > region.len() {
                return Err(vol.corrupt(
                    field(),
                    format!("name of {name_len} bytes"),
                    "the entry runs past its area",
                ));
            }
            let index = get_u8(region, at + E_NAME_INDEX);
            let value_offset = usize::from(get_u16(region, at + E_VALUE_OFFS));
            let value_inode = get_u32(region, at + E_VALUE_INUM);
            let value_len = get_u32(region, at + E_VALUE_SIZE) as usize;
            if value_inode != 0 {
                return Err(vol.unsupported(
                    INCOMPAT_EA_INODE.name(),
                    format!(
                        "inode {} keeps an extended attribute value in inode {value_inode}",
                        inode.stat.ino
                    ),
                ));
            }
            let name = region
                .get(at + E_NAME..at + E_NAME + name_len)
                .unwrap_or_default();
            let value = match value_len {
                0 => &[][..],
                _ => region
                    .get(value_offset..value_offset.saturating_add(value_len))
                    .ok_or_else(|| {
                        vol.corrupt(
                            field(),
                            format!("{value_len} bytes at {value_offset}"),
                            "the value lies outside its area",
                        )
                    })?,
            };
            let xattr = from_disk(index, name, value).map_err(|reason| {
                vol.corrupt(
                    field(),
                    format!(
                        "name index {index}, name {:?}",
                        String::from_utf8_lossy(name)
                    ),
                    reason,
                )
            })?;
            out.push(xattr);
            at = next;
        }
    }
}
