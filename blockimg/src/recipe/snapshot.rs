//! The recipe's EBS keys: an `[[output]]` with `format = "ebs-snapshot"`
//! (description, tags, block manifest, parent snapshot) and `[register]`,
//! the machine image registered from that snapshot. Each refusal names the
//! key and its line.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::BTreeMap;
use std::path::PathBuf;

use toml::Spanned;

use super::check::{get, Check};
use super::model::{OutputTable, RegisterTable};
use super::OutputSpec;
use crate::arch::Arch;
use crate::boot::BootMode;
use crate::ebs::{AmiBootMode, Manifest, RegisterOptions, SnapshotOptions};
use crate::error::Result;
use crate::sink::OutputFormat;

/// The `[[output]]` at `key`, of format `ebs-snapshot`: its snapshot's
/// options, the parent's manifest read (or made from the parent's image).
pub(super) fn snapshot_output(
    c: &mut Check,
    key: &str,
    output: &Spanned<OutputTable>,
) -> Result<OutputSpec> {
    let o = output.get_ref();
    if let Some(path) = &o.path {
        return Err(c.bad(
            &format!("{key}.path"),
            path,
            "an EBS snapshot is not a file: leave path out",
        ));
    }
    if let Some(azure) = &o.azure {
        return Err(c.bad(
            &format!("{key}.azure"),
            azure,
            "azure is for format = \"vhd-fixed\"",
        ));
    }
    let manifest = match &o.block_manifest {
        Some(m) => Some(c.path(&format!("{key}.block_manifest"), m)?),
        None => None,
    };
    let parent = parent(c, key, o)?;
    if let Some(d) = &o.description {
        c.note(&format!("{key}.description"), d);
    }
    Ok(OutputSpec {
        path: PathBuf::new(),
        format: OutputFormat::EbsSnapshot,
        azure: false,
        snapshot: Some(
            SnapshotOptions::default()
                .description(get(&o.description))
                .tags(tags(c, &format!("{key}.tags"), &o.tags))
                .parent(parent)
                .manifest(manifest),
        ),
    })
}

/// Refuses the snapshot keys on an `[[output]]` at `key` that is a file.
pub(super) fn refuse_snapshot_keys(c: &mut Check, key: &str, o: &OutputTable) -> Result<()> {
    let keys = [
        ("description", &o.description),
        ("block_manifest", &o.block_manifest),
        ("parent_snapshot", &o.parent_snapshot),
        ("parent_block_manifest", &o.parent_block_manifest),
        ("parent_image", &o.parent_image),
    ];
    for (name, value) in keys {
        if let Some(value) = value {
            return Err(c.bad(
                &format!("{key}.{name}"),
                value,
                format!("{name} is for format = \"ebs-snapshot\""),
            ));
        }
    }
    match &o.tags {
        Some(tags) => Err(c.bad(
            &format!("{key}.tags"),
            tags,
            "tags are for format = \"ebs-snapshot\"",
        )),
        None => Ok(()),
    }
}

/// The parent snapshot of the output at `key`, with the hashes of its
/// blocks: from its manifest (which must be of that snapshot) or its
/// image.
fn parent(c: &mut Check, key: &str, o: &OutputTable) -> Result<Option<Manifest>> {
    let manifest_key = format!("{key}.parent_block_manifest");
    let image_key = format!("{key}.parent_image");
    let Some(id) = &o.parent_snapshot else {
        return match (&o.parent_block_manifest, &o.parent_image) {
            (Some(v), _) => Err(c.bad(&manifest_key, v, "needs parent_snapshot")),
            (None, Some(v)) => Err(c.bad(&image_key, v, "needs parent_snapshot")),
            (None, None) => Ok(None),
        };
    };
    let id_key = format!("{key}.parent_snapshot");
    c.note(&id_key, id);
    match (&o.parent_block_manifest, &o.parent_image) {
        (Some(m), None) => {
            let path = c.input(&manifest_key, m, Some(false))?;
            let manifest =
                Manifest::load(&path).map_err(|e| c.bad(&manifest_key, m, e.to_string()))?;
            if manifest.snapshot != *id.get_ref() {
                return Err(c.bad(
                    &manifest_key,
                    m,
                    format!(
                        "{} is the manifest of {}, not of {}",
                        path.display(),
                        manifest.snapshot,
                        id.get_ref()
                    ),
                ));
            }
            Ok(Some(manifest))
        }
        (None, Some(i)) => {
            let path = c.input(&image_key, i, Some(false))?;
            let of_image = crate::disk_format::open(&path)
                .and_then(|mut disk| Manifest::of_image(disk.as_mut(), id.get_ref()));
            of_image
                .map(Some)
                .map_err(|e| c.bad(&image_key, i, e.to_string()))
        }
        (Some(m), Some(_)) => Err(c.bad(
            &manifest_key,
            m,
            "give parent_block_manifest or parent_image, not both",
        )),
        (None, None) => Err(c.bad(
            &id_key,
            id,
            "needs parent_block_manifest or parent_image: which blocks the parent holds",
        )),
    }
}

/// `KEY = "VALUE"` pairs of a `tags` table.
fn tags(
    c: &mut Check,
    key: &str,
    tags: &Option<Spanned<BTreeMap<String, String>>>,
) -> Vec<(String, String)> {
    match tags {
        Some(t) => {
            c.note(key, t);
            t.get_ref()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }
        None => Vec::new(),
    }
}

/// `[register]`: the image's options, its boot mode the one a disk booting
/// with `disk` needs and its architecture the disk's (`arch`) unless given.
pub(super) fn register(
    c: &mut Check,
    table: &Spanned<RegisterTable>,
    disk: BootMode,
    arch: Arch,
) -> Result<RegisterOptions> {
    c.note("register", table);
    let t = table.get_ref();
    c.note("register.name", &t.name);
    if t.name.get_ref().trim().is_empty() {
        return Err(c.bad("register.name", &t.name, "an image needs a name"));
    }
    let boot_mode = match &t.boot_mode {
        Some(m) => {
            let modes = ["legacy-bios", "uefi", "uefi-preferred"];
            match c.word("register.boot_mode", m, &modes)? {
                "legacy-bios" => AmiBootMode::LegacyBios,
                "uefi" => AmiBootMode::Uefi,
                _ => AmiBootMode::UefiPreferred,
            }
        }
        None => AmiBootMode::of_disk(disk).ok_or_else(|| {
            c.bad(
                "register",
                table,
                "the disk has no boot loader ([boot] mode): give register.boot_mode",
            )
        })?,
    };
    let mut options = RegisterOptions::new(t.name.get_ref(), boot_mode);
    options.architecture = arch.name().to_string();
    if let Some(a) = &t.architecture {
        options.architecture = c
            .word("register.architecture", a, &["x86_64", "arm64"])?
            .to_string();
    }
    if let Some(d) = &t.root_device {
        c.note("register.root_device", d);
        if !d.get_ref().starts_with("/dev/") {
            return Err(c.bad("register.root_device", d, "a device name such as /dev/xvda"));
        }
        options.root_device = d.get_ref().clone();
    }
    options.description = get(&t.description);
    options.ena = get(&t.ena).unwrap_or(true);
    options.tags = tags(c, "register.tags", &t.tags);
    Ok(options)
}

#[cfg(test)]
mod tests {
    use crate::ebs::{block_hash, AmiBootMode, Manifest};
    use crate::sink::OutputFormat;

    /// The error `text` gives as a recipe in `dir`.
    fn refusal(dir: &std::path::Path, text: &str) -> String {
        match crate::recipe::parse(text, &dir.join("image.toml")) {
            Ok(_) => panic!("accepted: {text}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn snapshot_outputs_and_register_are_checked_with_their_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut parent = Manifest::new("snap-1", 1);
        parent.blocks.insert(2, block_hash(b"two"));
        parent.save(&dir.join("parent.blocks")).unwrap();
        let ok = "[[output]]\nformat = \"ebs-snapshot\"\ndescription = \"d\"\n\
                  tags = { Name = \"n\" }\nparent_snapshot = \"snap-1\"\n\
                  parent_block_manifest = \"parent.blocks\"\n\
                  [register]\nname = \"img\"\nboot_mode = \"uefi\"\narchitecture = \"arm64\"\nena = false\n";
        let recipe = crate::recipe::parse(ok, &dir.join("image.toml")).unwrap();
        let output = &recipe.outputs[0];
        assert_eq!(output.format, OutputFormat::EbsSnapshot);
        let snapshot = output.snapshot.as_ref().unwrap();
        assert_eq!(snapshot.parent.as_ref(), Some(&parent));
        assert_eq!(snapshot.tags, [("Name".to_string(), "n".to_string())]);
        let register = recipe.register.unwrap();
        assert_eq!(register.boot_mode, AmiBootMode::Uefi);
        assert_eq!(
            (register.architecture.as_str(), register.ena),
            ("arm64", false)
        );

        let arm =
            "arch = \"arm64\"\n[boot]\nmode = \"uefi\"\n[[output]]\nformat = \"ebs-snapshot\"\n\
                   [register]\nname = \"img\"\n";
        let register = crate::recipe::parse(arm, &dir.join("image.toml"))
            .unwrap()
            .register
            .unwrap();
        assert_eq!(
            (register.architecture.as_str(), register.boot_mode),
            ("arm64", AmiBootMode::Uefi)
        );

        let snap = "[[output]]\nformat = \"ebs-snapshot\"\n";
        let cases = [
            (
                "[[output]]\nformat = \"ebs-snapshot\"\npath = \"x.img\"\n".to_string(),
                "3:8: output[1].path: an EBS snapshot is not a file",
            ),
            (format!("{snap}{snap}"), "output[2]: a recipe makes at most one EBS snapshot"),
            (
                "[[output]]\npath = \"x.img\"\ndescription = \"d\"\n".to_string(),
                "output[1].description: description is for format = \"ebs-snapshot\"",
            ),
            (
                "[[output]]\nformat = \"raw\"\n".to_string(),
                "output[1]: path is required",
            ),
            (
                format!("{snap}parent_snapshot = \"snap-2\"\nparent_block_manifest = \"parent.blocks\"\n"),
                "is the manifest of snap-1, not of snap-2",
            ),
            (
                format!("{snap}parent_snapshot = \"snap-1\"\n"),
                "output[1].parent_snapshot: needs parent_block_manifest or parent_image",
            ),
            (
                format!("{snap}parent_image = \"parent.blocks\"\n"),
                "output[1].parent_image: needs parent_snapshot",
            ),
            (
                format!("{snap}[register]\nname = \"img\"\n"),
                "register: the disk has no boot loader",
            ),
            (
                format!("{snap}[register]\nname = \"img\"\nboot_mode = \"bios\"\n"),
                "register.boot_mode: \"bios\" is not one of legacy-bios, uefi, uefi-preferred",
            ),
        ];
        for (text, want) in cases {
            let err = refusal(dir, &text);
            assert!(err.contains(want), "{err:?} does not say {want:?}");
        }
    }
}
