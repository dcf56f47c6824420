//! A prepared recipe in words, as `blockimg build --dry-run` prints it.

use std::fmt::Write as _;

use super::additions::kernel_cmdline;
use super::build::Prepared;
use crate::boot::BootMode;
use crate::builder::PartitionFill;
use crate::disk::fat;
use crate::disk::layout::PartitionRole;
use crate::ext4::Ext4Options;
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
        let l = self.disk.layout();
        let mut s = String::new();
        let _ = writeln!(s, "recipe: {}", r.path.display());
        if let Some(p) = r.profile {
            let _ = writeln!(s, "profile: {}", p.name());
        }
        let _ = writeln!(
            s,
            "disk: {} ({} bytes), {}, boot {}, {}",
            format_size(l.disk_size),
            l.disk_size,
            l.table.name(),
            r.boot.mode.name(),
            r.arch
        );
        for (i, (p, listed)) in l.partitions.iter().zip(self.disk.partitions()).enumerate() {
            let ext4 = |o: &Ext4Options| {
                format!(
                    "ext4 UUID {} label {:?}",
                    o.uuid.map(|u| format_uuid(&u)).unwrap_or_default(),
                    o.label
                )
            };
            let content = match &listed.fill {
                PartitionFill::Root => ext4(self.disk.root_options()),
                PartitionFill::Ext4 { options, .. } => ext4(options),
                PartitionFill::Swap { uuid, label } => {
                    format!("swap UUID {} label {label:?}", format_uuid(uuid))
                }
                PartitionFill::Esp(esp) => format!(
                    "FAT32 volume id {} label {:?}",
                    fat::format_volume_id(esp.volume_id.unwrap_or_default()),
                    esp.label
                ),
                PartitionFill::Image(image) => format!("copy of {}", image.display()),
                PartitionFill::Empty if p.role == PartitionRole::BiosBoot => "GRUB core.img".into(),
                _ => "unformatted".into(),
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
            let uuid = self.disk.root_options().uuid;
            let _ = writeln!(
                s,
                "kernel command line: {}",
                kernel_cmdline(r, uuid.unwrap_or_default())
            );
        }
        for o in &r.outputs {
            match &o.snapshot {
                Some(snapshot) => {
                    s.push_str("output: a new EBS snapshot (ebs-snapshot)");
                    if let Some(parent) = &snapshot.parent {
                        let _ = write!(s, ", incremental over {}", parent.snapshot);
                    }
                    s.push('\n');
                }
                None => {
                    let _ = writeln!(s, "output: {} ({})", o.path.display(), o.format.name());
                }
            }
        }
        if let Some(image) = &r.register {
            let _ = writeln!(
                s,
                "register: image {:?} ({}, {}, root {}, ENA {})",
                image.name,
                image.architecture,
                image.boot_mode.name(),
                image.root_device,
                if image.ena { "on" } else { "off" }
            );
        }
        s
    }
}

fn role_word(role: PartitionRole) -> &'static str {
    role.gpt_name()
}
