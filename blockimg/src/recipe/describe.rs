//! A prepared recipe in words, as `blockimg build --dry-run` prints it.

use std::fmt::Write as _;

use super::additions::kernel_cmdline;
use super::build::Prepared;
use super::Content;
use crate::boot::BootMode;
use crate::disk::fat;
use crate::disk::layout::PartitionRole;
use crate::identity::format_uuid;
use crate::size::format_size;

impl Prepared<'_> {
    /// The plan in words, as `blockimg build --dry-run` prints it: the
    /// disk, each partition with its offset, size, type and contents, the
    /// files added to the root and by whom, the kernel command line, the
    /// outputs.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// let text = r#"
    /// [disk]
    /// size = "8M"
    /// [[output]]
    /// path = "disk.img"
    /// "#;
    /// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
    /// let plan = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?.describe();
    /// assert!(plan.contains("disk.img")); // what `blockimg build --dry-run` prints
    /// assert!(!dir.path().join("disk.img").exists());
    /// # Ok(())
    /// # }
    /// ```
    pub fn describe(&self) -> String {
        let r = self.recipe;
        let l = &self.layout;
        let mut s = String::new();
        let _ = writeln!(s, "recipe: {}", r.path.display());
        if let Some(p) = r.profile {
            let _ = writeln!(s, "profile: {}", p.name());
        }
        let _ = writeln!(
            s,
            "disk: {} ({} bytes), {}, boot {}",
            format_size(l.disk_size),
            l.disk_size,
            l.table.name(),
            r.boot.mode.name()
        );
        for (i, p) in l.partitions.iter().enumerate() {
            let content = match &r.partitions[i].content {
                Content::Root | Content::Ext4 { .. } => match &self.ext4[i] {
                    Some(o) => format!(
                        "ext4 UUID {} label {:?}",
                        o.uuid.map(|u| format_uuid(&u)).unwrap_or_default(),
                        o.label
                    ),
                    None => "ext4".into(),
                },
                Content::Swap { label, .. } => format!(
                    "swap UUID {} label {label:?}",
                    self.swap[i].map(|u| format_uuid(&u)).unwrap_or_default()
                ),
                Content::Esp(_) => format!(
                    "FAT32 volume id {} label {:?}",
                    fat::format_volume_id(self.esp.volume_id.unwrap_or_default()),
                    self.esp.label
                ),
                Content::BiosBoot => "GRUB core.img".into(),
                Content::Raw { source: None } => "unformatted".into(),
                Content::Raw {
                    source: Some(image),
                } => format!("copy of {}", image.display()),
            };
            let kind = match p.kind {
                Some(crate::disk::PartitionType::Gpt(g)) => {
                    format!(" type {}", format_uuid(&g).to_uppercase())
                }
                Some(crate::disk::PartitionType::Mbr(b)) => format!(" type 0x{b:02x}"),
                None => String::new(),
            };
            let mount = r.partitions[i]
                .mount
                .as_ref()
                .map(|m| format!(", mounted at {m}"))
                .unwrap_or_default();
            let name = if l.table == crate::disk::PartitionTable::Gpt {
                format!(" name {:?}", p.name)
            } else {
                String::new()
            };
            let _ = writeln!(
                s,
                "  partition {}: {}{kind}{name}, start {} (sector {}), size {} ({} bytes): {content}{mount}",
                p.number,
                role_word(p.role),
                p.start,
                p.start / 512,
                format_size(p.size),
                p.size
            );
        }
        let _ = writeln!(
            s,
            "root: {}",
            r.root
                .source
                .as_ref()
                .map_or("empty".into(), |p| p.display().to_string())
        );
        if r.root.adjust.base_layout {
            let _ = writeln!(
                s,
                "  + the base layout where the source has nothing: /dev (console, null), /proc, /sys, /run, /tmp, /mnt, /media, /boot, /var/run, /var/lock (root.base_layout)"
            );
        }
        for a in &self.added {
            let _ = writeln!(s, "  + {} ({}; {})", a.path, a.what, a.origin);
        }
        if r.boot.mode != BootMode::None {
            let uuid = self.ext4.iter().zip(&r.partitions).find_map(|(o, p)| {
                matches!(p.content, Content::Root)
                    .then(|| o.as_ref().and_then(|o| o.uuid))
                    .flatten()
            });
            let _ = writeln!(
                s,
                "kernel command line: {}",
                kernel_cmdline(r, uuid.unwrap_or_default())
            );
        }
        for o in &r.outputs {
            let _ = writeln!(s, "output: {} ({})", o.path.display(), o.format.name());
        }
        s
    }
}

fn role_word(role: PartitionRole) -> &'static str {
    role.gpt_name()
}
