//! File data and symlink targets: a regular file's blocks as a
//! [`FileContent`] whose data stays in the image, reads through it, and a
//! symlink's target, in `i_block` or in its data block.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::sync::Arc;

use super::inode::{FileType, Inode};
use super::{Budget, Ext4Reader};
use crate::error::Result;
use crate::tree::{read_runs, DataSource, ExtentRun, FileContent, Segment};

impl Ext4Reader {
    /// The target of symlink `ino`.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::Ext4Reader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n\
    /// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n[[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.img");
    /// // disk.img: an MBR disk whose ext4 filesystem, at 1 MiB, holds /etc/hostname
    /// // ("appliance\n") and the symlink /etc/name -> hostname.
    /// let fs = Ext4Reader::open(std::fs::File::open(&image)?, 1 << 20, &image)?;
    /// assert_eq!(fs.readlink(fs.lookup(b"/etc/name")?)?, b"hostname");
    /// # Ok(())
    /// # }
    /// ```
    pub fn readlink(&self, ino: u32) -> Result<Vec<u8>> {
        let inode = self.typed_inode(ino, FileType::Symlink, || format!("inode {ino}"))?;
        self.symlink_target(&inode, &mut Budget::new(self))
    }

    /// The content of regular file `ino` as a [`FileContent`] whose data
    /// stays in the image: `reader()` streams it, and an image built from
    /// it copies it from here.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::io::Read;
    ///
    /// use blockimg::ext4::read::Ext4Reader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("root.ext4");
    /// # {
    /// #     use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
    /// #     let time = Timestamp::from_secs(1_700_000_000);
    /// #     let (dir_meta, file_meta) = (Metadata::directory(time), Metadata { permissions: 0o644, ..Metadata::directory(time) });
    /// #     let mut tree = Tree::new(dir_meta.clone());
    /// #     let etc = tree.add(Tree::ROOT, b"etc", Node::new(dir_meta, NodeKind::Directory(Default::default())))?;
    /// #     let hostname = FileContent::from_bytes(&b"appliance\n"[..]);
    /// #     tree.add(etc, b"hostname", Node::new(file_meta.clone(), NodeKind::File(hostname)))?;
    /// #     tree.add(etc, b"name", Node::new(file_meta, NodeKind::Symlink(b"hostname".to_vec())))?;
    /// #     let plan = blockimg::ext4::Ext4Plan::new(&tree, 8 << 20, &Default::default())?;
    /// #     let mut image = blockimg::sink::SparseFile::create(&path, false)?;
    /// #     plan.write(&mut image, 0, &mut |_| {})?;
    /// #     image.finish(8 << 20)?;
    /// # }
    /// let fs = Ext4Reader::open(std::fs::File::open(&path)?, 0, &path)?;
    /// let content = fs.file_content(fs.lookup(b"/etc/hostname")?)?;
    /// let mut text = String::new();
    /// content.reader()?.read_to_string(&mut text)?;
    /// assert_eq!(text, "appliance\n");
    /// # Ok(())
    /// # }
    /// ```
    pub fn file_content(&self, ino: u32) -> Result<FileContent> {
        let inode = self.typed_inode(ino, FileType::RegularFile, || format!("inode {ino}"))?;
        self.content_of(&inode, &mut Budget::new(self))
    }

    /// Reads regular file `ino` from byte `offset` into `buf`; returns the
    /// number of bytes read, short only at the end of the file. Holes read
    /// as zeros.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::ext4::read::Ext4Reader;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n\
    /// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n[[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.img");
    /// // disk.img: an MBR disk whose ext4 filesystem, at 1 MiB, holds /etc/hostname
    /// // ("appliance\n") and the symlink /etc/name -> hostname.
    /// let fs = Ext4Reader::open(std::fs::File::open(&image)?, 1 << 20, &image)?;
    /// let mut buf = [0; 64];
    /// let n = fs.read_file(fs.lookup(b"/etc/hostname")?, 0, &mut buf)?;
    /// assert_eq!(&buf[..n], b"appliance\n");
    /// assert_eq!(fs.read_file(fs.lookup(b"/etc/hostname")?, 10, &mut buf)?, 0); // at the end
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_file(&self, ino: u32, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.read_content(&self.file_content(ino)?, offset, buf)
    }

    /// Like [`Ext4Reader::read_file`], for a file whose
    /// [`Ext4Reader::file_content`] the caller holds (reading a large file
    /// in pieces maps its blocks once). The bytes come through the reader,
    /// so this works on every image format the reader was opened on.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::found::ImageSpec;
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.vmdk\"\n\
    /// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n";
    /// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
    /// # let image = dir.path().join("disk.vmdk");
    /// // disk.vmdk: a stream-optimized VMDK whose root holds /etc/hostname.
    /// let fs = ImageSpec::parse(image.as_os_str())?.open_ext4()?;
    /// let content = fs.file_content(fs.lookup(b"/etc/hostname")?)?;
    /// let mut word = [0u8; 5];
    /// assert_eq!(fs.read_content(&content, 4, &mut word)?, 5);
    /// assert_eq!(&word, b"iance");
    /// # Ok(())
    /// # }
    /// ```
    pub fn read_content(
        &self,
        content: &FileContent,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<usize> {
        let n = content.size.saturating_sub(offset).min(buf.len() as u64) as usize;
        let dst = buf.get_mut(..n).unwrap_or_default();
        match &content.source {
            // Through the volume, which reads any image format.
            DataSource::ImageExtents { runs, .. } => read_runs(
                runs,
                |r| r,
                offset,
                dst,
                |_, at, _, dst| self.volume.read(at.saturating_sub(self.volume.offset), dst),
            )?,
            other => other.read_at(None, offset, dst)?,
        }
        Ok(n)
    }

    /// The data of a regular file: its runs in the image, as a
    /// [`DataSource::ImageExtents`] with the matching segments.
    pub(super) fn content_of(&self, inode: &Inode, budget: &mut Budget) -> Result<FileContent> {
        let bs = self.sb.bs();
        let size = inode.stat.size;
        let mut runs = Vec::new();
        let mut segments: Vec<Segment> = Vec::new();
        for run in self.block_map(inode, budget)? {
            let file_offset = run.logical * bs;
            let len = run.len.saturating_mul(bs).min(size - file_offset);
            runs.push(ExtentRun {
                file_offset,
                image_offset: self.volume.offset + run.physical * bs,
                len,
            });
            match segments.last_mut() {
                Some(last) if last.offset + last.len == file_offset => last.len += len,
                _ => segments.push(Segment {
                    offset: file_offset,
                    len,
                }),
            }
        }
        Ok(FileContent {
            size,
            segments,
            source: DataSource::ImageExtents {
                path: Arc::clone(&self.volume.path),
                runs: runs.into(),
            },
        })
    }

    /// The target of a symlink: in `i_block` when short and without data
    /// blocks ("fast"), else in its first data block.
    pub(super) fn symlink_target(&self, inode: &Inode, budget: &mut Budget) -> Result<Vec<u8>> {
        let bs = self.sb.bs();
        let size = inode.stat.size;
        let ino = inode.stat.ino;
        if inode.data_sectors(bs) == 0 {
            let fast = usize::try_from(size)
                .ok()
                .filter(|&s| s < inode.i_block.len())
                .and_then(|s| inode.i_block.get(..s));
            if let Some(target) = fast {
                return Ok(target.to_vec());
            }
        }
        if size > bs {
            return Err(self.volume.corrupt(
                format!("symlink inode {ino} size"),
                size,
                format!("a target fits one {bs}-byte block"),
            ));
        }
        let run = self
            .block_map(inode, budget)?
            .into_iter()
            .find(|r| r.logical == 0);
        let run = run.ok_or_else(|| {
            self.volume.corrupt(
                format!("symlink inode {ino}"),
                size,
                "its target has no data block",
            )
        })?;
        let mut target = vec![0u8; size as usize];
        self.volume.read(run.physical * bs, &mut target)?;
        Ok(target)
    }
}
