//! The partitions of a recipe: `[[partition]]` tables checked against
//! their roles, the default partitions of a boot mode, the partitions a
//! boot mode needs, and the layout checked before any source is read.
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use toml::Spanned;

use super::check::Check;
use super::model::{self, Scalar};
use super::tables::ext4_spec;
use super::{Content, PartitionPlan, Recipe};
use crate::boot::BootMode;
use crate::builder;
use crate::disk::fat::{self, FatFormat};
use crate::disk::layout::{
    BootPartitions, DiskLayout, PartitionRole, PartitionSpec, PartitionTable, PartitionType,
};
use crate::error::{Error, PartitionError, Result};
use crate::identity::parse_uuid;
use crate::sink::OutputFormat;

/// Default size of an ESP the recipe does not size.
const DEFAULT_ESP_SIZE: u64 = 64 << 20;
/// Default size of a BIOS boot partition the recipe does not size.
const DEFAULT_BIOS_BOOT_SIZE: u64 = 1 << 20;

/// The layout checked now when every size is known (no `auto`): overlaps
/// and partitions past the disk are refused before any source is read.
pub(super) fn check_layout(recipe: &Recipe) -> Result<()> {
    let Some(size) = recipe.size else {
        return Ok(());
    };
    if recipe.partitions.iter().any(|p| p.auto) {
        return Ok(());
    }
    let specs: Vec<PartitionSpec> = recipe.partitions.iter().map(|p| p.spec.clone()).collect();
    let fitted = fitted_size(recipe, size)?;
    DiskLayout::plan(recipe.table, fitted, &specs)
        .map(|_| ())
        .map_err(|e| layout_error(recipe, e))
}

/// The disk size every output of the recipe describes the same disk at
/// (`builder::fitted_size`).
fn fitted_size(recipe: &Recipe, size: u64) -> Result<u64> {
    let outputs: Vec<(OutputFormat, bool)> =
        recipe.outputs.iter().map(|o| (o.format, o.azure)).collect();
    builder::fitted_size(recipe.table, &outputs, size)
}

/// A layout refusal placed at the key it concerns: the partition's setting
/// when the recipe lists partitions, else `disk.size`. Errors that are not
/// about the layout (a source that cannot be read, say) pass unchanged.
pub fn layout_error(recipe: &Recipe, e: Error) -> Error {
    match e {
        Error::Partition(PartitionError::Placement {
            number,
            field,
            reason,
            ..
        }) if !recipe.places.has(&format!("partition[{number}]")) => recipe.places.error(
            "disk.size",
            format!("partition {number}: {field}: {reason}"),
        ),
        Error::Partition(PartitionError::Placement {
            number,
            field,
            reason,
            ..
        }) => recipe
            .places
            .error(&format!("partition[{number}].{field}"), reason),
        e @ (Error::TooSmall { .. } | Error::TooLarge { .. } | Error::InvalidOption { .. }) => {
            recipe.places.error("disk.size", e.to_string())
        }
        other => other,
    }
}

/// The partitions of a recipe that lists none: what `mkdisk` lays out for
/// the table and boot mode.
pub(super) fn default_partitions(table: PartitionTable, mode: BootMode) -> Vec<PartitionPlan> {
    let boot = BootPartitions {
        esp: (mode.uefi() && table != PartitionTable::None).then_some(DEFAULT_ESP_SIZE),
        bios_boot: (mode.bios() && table == PartitionTable::Gpt).then_some(DEFAULT_BIOS_BOOT_SIZE),
    };
    DiskLayout::specs(&boot)
        .into_iter()
        .map(|spec| PartitionPlan {
            content: match spec.role {
                PartitionRole::Esp => Content::Esp(FatFormat::default()),
                PartitionRole::BiosBoot => Content::BiosBoot,
                _ => Content::Root,
            },
            spec,
            auto: false,
            mount: None,
        })
        .collect()
}

pub(super) fn partition(
    c: &mut Check,
    index: usize,
    p: &Spanned<model::PartitionTable>,
) -> Result<PartitionPlan> {
    let key = format!("partition[{}]", index + 1);
    c.note(&key, p);
    let p = p.get_ref();
    let k = |field: &str| format!("{key}.{field}");
    let role = match c.word(
        &k("role"),
        &p.role,
        &["bios-boot", "esp", "root", "swap", "data"],
    )? {
        "bios-boot" => PartitionRole::BiosBoot,
        "esp" => PartitionRole::Esp,
        "root" => PartitionRole::Root,
        "swap" => PartitionRole::Swap,
        _ => PartitionRole::Data,
    };
    let format = match &p.format {
        Some(f) if role != PartitionRole::Data => {
            return Err(c.bad(&k("format"), f, "only data partitions take a format"))
        }
        Some(f) => c.word(&k("format"), f, &["ext4", "raw"])?.to_string(),
        None => "ext4".into(),
    };
    let ext4_ok = role == PartitionRole::Data && format == "ext4";
    check_tables(c, &k, p, role, ext4_ok)?;
    let copies_image = role == PartitionRole::Data && format == "raw" && p.source.is_some();
    let auto_ok = role == PartitionRole::Root || ext4_ok || copies_image;
    let (size, auto) = match &p.size {
        Some(s) => match c.size(&k("size"), s, auto_ok)? {
            Some(n) => (Some(n), false),
            None => (None, true),
        },
        None => (None, false),
    };
    let start = p
        .start
        .as_ref()
        .map(|s| c.size(&k("start"), s, false))
        .transpose()?
        .flatten();
    let kind = p
        .kind
        .as_ref()
        .map(|t| partition_type(c, &k("type"), t))
        .transpose()?;
    let name = p.name.as_ref().map(|n| {
        c.note(&k("name"), n);
        n.get_ref().clone()
    });
    let guid = p.uuid.as_ref().map(|u| c.uuid(&k("uuid"), u)).transpose()?;
    let mount = p
        .mount
        .as_ref()
        .map(|m| c.image_path(&k("mount"), m))
        .transpose()?;
    let content = match role {
        PartitionRole::Root => Content::Root,
        PartitionRole::Esp => Content::Esp(fat_format(c, &k("fat"), p.fat.as_ref())?),
        PartitionRole::BiosBoot => Content::BiosBoot,
        PartitionRole::Swap => swap_content(c, &k, p.swap.as_ref())?,
        PartitionRole::Data if format == "raw" => Content::Raw {
            source: p
                .source
                .as_ref()
                .map(|s| c.input(&k("source"), s, None))
                .transpose()?,
        },
        PartitionRole::Data => Content::Ext4 {
            source: p
                .source
                .as_ref()
                .map(|s| c.input(&k("source"), s, None))
                .transpose()?,
            ext4: ext4_spec(c, &k("ext4"), p.ext4.as_ref())?,
        },
    };
    let size = match (role, size, &p.size) {
        (PartitionRole::Esp, None, None) => Some(DEFAULT_ESP_SIZE),
        (PartitionRole::BiosBoot, None, None) => Some(DEFAULT_BIOS_BOOT_SIZE),
        _ => size,
    };
    Ok(PartitionPlan {
        spec: PartitionSpec {
            role,
            start,
            size,
            name,
            kind,
            guid,
        },
        auto,
        content,
        mount,
    })
}

/// `[partition.fat]`: the ESP's label and volume id.
fn fat_format(
    c: &mut Check,
    key: &str,
    table: Option<&Spanned<model::FatTable>>,
) -> Result<FatFormat> {
    let Some(table) = table else {
        return Ok(FatFormat::default());
    };
    c.note(key, table);
    let table = table.get_ref();
    let label = match &table.label {
        Some(l) => {
            c.note(&format!("{key}.label"), l);
            fat::volume_label(l.get_ref())
                .map_err(|e| c.bad(&format!("{key}.label"), l, e.to_string()))?;
            l.get_ref().clone()
        }
        None => String::new(),
    };
    let volume_id = table
        .volume_id
        .as_ref()
        .map(|v| {
            c.note(&format!("{key}.volume_id"), v);
            fat::parse_volume_id(v.get_ref()).ok_or_else(|| {
                c.bad(
                    &format!("{key}.volume_id"),
                    v,
                    "a FAT volume id is 8 hexadecimal digits, as \"ABCD-1234\"",
                )
            })
        })
        .transpose()?;
    Ok(FatFormat { volume_id, label })
}

/// A boot mode needs its partitions: an ESP for UEFI, a BIOS boot
/// partition for BIOS on GPT, a table for any.
pub(super) fn check_boot_partitions(
    c: &Check,
    table: PartitionTable,
    mode: BootMode,
    partitions: &[PartitionPlan],
    boot: Option<&Spanned<model::BootTable>>,
) -> Result<()> {
    let at = |reason: &str| match boot.and_then(|b| b.get_ref().mode.as_ref()) {
        Some(m) => c.bad("boot.mode", m, reason),
        None => c.places.error(
            "boot.mode",
            format!("{reason} (the profile's boot mode is {})", mode.name()),
        ),
    };
    let has = |role| partitions.iter().any(|p| p.spec.role == role);
    if mode != BootMode::None && table == PartitionTable::None {
        return Err(at(
            "a bootable disk needs a partition table (disk.table = \"mbr\" or \"gpt\")",
        ));
    }
    if mode.uefi() && !has(PartitionRole::Esp) {
        return Err(at("UEFI boot needs a partition with role = \"esp\""));
    }
    if mode.bios() && table == PartitionTable::Gpt && !has(PartitionRole::BiosBoot) {
        return Err(at(
            "BIOS boot on a GPT disk needs a partition with role = \"bios-boot\"",
        ));
    }
    Ok(())
}

/// The sub-tables and keys a partition may have for its role: a format
/// for data partitions, `[partition.ext4]` for ext4 data, `[partition.swap]`
/// for swap, a source for data, `[partition.fat]` and a mount point for the
/// ESP.
fn check_tables(
    c: &mut Check,
    k: &dyn Fn(&str) -> String,
    p: &model::PartitionTable,
    role: PartitionRole,
    ext4_ok: bool,
) -> Result<()> {
    if let (Some(e), false) = (&p.ext4, ext4_ok) {
        let why = if role == PartitionRole::Root {
            "the root's filesystem settings go in [root.ext4]"
        } else {
            "only ext4 data partitions take [partition.ext4]"
        };
        return Err(c.bad(&k("ext4"), e, why));
    }
    if let (Some(s), false) = (&p.swap, role == PartitionRole::Swap) {
        return Err(c.bad(&k("swap"), s, "only swap partitions take [partition.swap]"));
    }
    if let (Some(s), false) = (&p.source, role == PartitionRole::Data) {
        return Err(c.bad(
            &k("source"),
            s,
            "only data partitions take a source (the root's is root.source)",
        ));
    }
    if let (Some(f), false) = (&p.fat, role == PartitionRole::Esp) {
        return Err(c.bad(&k("fat"), f, "only the ESP takes [partition.fat]"));
    }
    if let (Some(m), false) = (&p.mount, ext4_ok || role == PartitionRole::Esp) {
        return Err(c.bad(
            &k("mount"),
            m,
            "only ext4 data partitions and the ESP take a mount point",
        ));
    }
    Ok(())
}

/// `type`: an MBR system id (a byte, or its hexadecimal text) or a GPT type
/// GUID.
fn partition_type(c: &mut Check, key: &str, t: &Spanned<Scalar>) -> Result<PartitionType> {
    c.note(key, t);
    Ok(match t.get_ref() {
        Scalar::Int(n) => PartitionType::Mbr(
            u8::try_from(*n).map_err(|_| c.bad(key, t, "an MBR type is 0 to 255"))?,
        ),
        Scalar::Text(s) if s.len() <= 4 => {
            let hex = s.trim_start_matches("0x");
            PartitionType::Mbr(
                u8::from_str_radix(hex, 16)
                    .map_err(|_| c.bad(key, t, "an MBR type is a byte such as \"0x83\""))?,
            )
        }
        Scalar::Text(s) => {
            PartitionType::Gpt(parse_uuid(s).map_err(|e| c.bad(key, t, e.to_string()))?)
        }
    })
}

/// `[partition.swap]`: the swap space's label and UUID.
fn swap_content(
    c: &mut Check,
    k: &dyn Fn(&str) -> String,
    table: Option<&Spanned<model::SwapTable>>,
) -> Result<Content> {
    let t = table.map(|s| {
        c.note(&k("swap"), s);
        s.get_ref().clone()
    });
    let t = t.unwrap_or_default();
    let label = match &t.label {
        Some(l) if l.get_ref().len() > crate::disk::swap::MAX_LABEL => {
            return Err(c.bad(&k("swap.label"), l, "a swap label has at most 16 bytes"))
        }
        Some(l) => l.get_ref().clone(),
        None => String::new(),
    };
    let uuid = t
        .uuid
        .as_ref()
        .map(|u| c.uuid(&k("swap.uuid"), u))
        .transpose()?;
    Ok(Content::Swap { label, uuid })
}
