//! What a recipe adds to the root besides its source: the recipe's own
//! entries, the profile's files and account, /etc/fstab, the boot files;
//! each as a manifest directive, and described for `--dry-run`.

use std::fmt::Write as _;
use std::io::Read;
use std::sync::Arc;

use super::profile::Account;
use super::{Content, Entry, EntryKind, Origin, Recipe};
use crate::disk::fat;
use crate::error::{Error, Result};
use crate::ext4::Ext4Options;
use crate::identity::format_uuid;
use crate::source::manifest::Directive;
use crate::tree::{NodeKind, Tree};

/// Something put into the root filesystem, for the plan `--dry-run`
/// prints.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let text = r#"
/// [[dir]]
/// path = "/srv"
/// owner = "33:33"
/// "#;
/// let recipe = blockimg::recipe::parse(text, &dir.path().join("image.toml"))?;
/// let prepared = blockimg::recipe::prepare(&recipe, &mut blockimg::Silent)?;
/// let srv = prepared.added().iter().find(|a| a.path == "/srv").ok_or("no /srv")?;
/// assert_eq!((srv.what.as_str(), srv.origin.as_str()), ("dir 0755 33:33", "line 2"));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Added {
    /// Path in the image.
    pub path: String,
    /// What it is (`file 0644 0:0`, `symlink -> target`).
    pub what: String,
    /// Who asked for it (`line 12`, `ec2 profile`, `fstab`, `boot`).
    pub origin: String,
}

pub(super) fn boot_added(path: &str, what: &str) -> Added {
    Added {
        path: path.into(),
        what: what.into(),
        origin: "boot".into(),
    }
}

/// The kernel command line grub.cfg gives every kernel.
pub(super) fn kernel_cmdline(recipe: &Recipe, root_uuid: [u8; 16]) -> String {
    let consoles = recipe.boot.options.console_args();
    let mut line = format!("root=UUID={} ro", format_uuid(&root_uuid));
    for c in consoles {
        let _ = write!(line, " console={c}");
    }
    let extra = recipe.boot.options.cmdline.trim();
    if !extra.is_empty() {
        line.push(' ');
        line.push_str(extra);
    }
    line
}

/// What goes into the root besides its source, in the order it is
/// applied: the profile's files and /etc/fstab (less those skipped and
/// those the recipe gives itself), then the recipe's entries.
pub(super) fn root_entries(recipe: &Recipe, root: &Tree, ids: &FstabIds<'_>) -> Result<Vec<Entry>> {
    let mut generated = Vec::new();
    if let Some(profile) = recipe.profile {
        let account = account(recipe, root)?;
        generated.extend(profile.files(&recipe.hostname, &recipe.ec2, &account));
    }
    if recipe.fstab {
        generated.push(Entry {
            path: "/etc/fstab".into(),
            kind: EntryKind::Text(fstab(recipe, ids)),
            mode: 0o644,
            owner: (0, 0),
            origin: Origin::Fstab,
        });
    }
    for (i, skip) in recipe.profile_skip.iter().enumerate() {
        if !generated.iter().any(|e| &e.path == skip) {
            return Err(recipe.places.error(
                &format!("profile_skip[{}]", i + 1),
                format!("the profile adds no {skip}"),
            ));
        }
    }
    generated.retain(|e| {
        !recipe.profile_skip.contains(&e.path) && !recipe.entries.iter().any(|r| r.path == e.path)
    });
    generated.extend(recipe.entries.iter().cloned());
    Ok(generated)
}

/// The owner and home of the ec2 profile's SSH keys: root, or the user
/// named in the image's /etc/passwd.
fn account(recipe: &Recipe, root: &Tree) -> Result<Account> {
    let user = &recipe.ec2.user;
    if user == "root" {
        return Ok(Account {
            uid: 0,
            gid: 0,
            home: "/root".into(),
        });
    }
    let missing = || {
        recipe.places.error(
            "ec2.user",
            format!("{user} is not in the image's /etc/passwd (add it to the root source or a [[file]])"),
        )
    };
    let id = root.lookup(b"etc/passwd").ok_or_else(missing)?;
    let NodeKind::File(content) = &root.node(id).kind else {
        return Err(missing());
    };
    let mut text = String::new();
    content
        .reader()?
        .read_to_string(&mut text)
        .map_err(|e| Error::io("/etc/passwd in the image", e))?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.len() >= 7 && f[0] == user)
        .and_then(|f| {
            Some(Account {
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .filter(|a| a.home.starts_with('/') && a.home.len() > 1)
        .ok_or_else(missing)
}

/// The identifiers /etc/fstab names, chosen before anything is planned.
pub(super) struct FstabIds<'a> {
    /// The root filesystem's UUID.
    pub(super) root: [u8; 16],
    /// Per partition: ext4 options, with the UUID.
    pub(super) ext4: &'a [Option<Ext4Options>],
    /// Per partition: swap UUID.
    pub(super) swap: &'a [Option<[u8; 16]>],
    /// The ESP's volume id.
    pub(super) esp_volume_id: Option<u32>,
}

/// /etc/fstab: the root, the data partitions and the ESP with a mount
/// point, and swap, each by UUID.
pub(super) fn fstab(recipe: &Recipe, ids: &FstabIds<'_>) -> String {
    let mut text = String::from("# Written by blockimg: filesystems by UUID.\n");
    let _ = writeln!(
        text,
        "UUID={}\t/\text4\tdefaults\t0 1",
        format_uuid(&ids.root)
    );
    for (i, p) in recipe.partitions.iter().enumerate() {
        let ext4_uuid = ids.ext4[i].as_ref().and_then(|o| o.uuid);
        match (&p.mount, ext4_uuid, ids.swap[i], &p.content) {
            (Some(mount), _, _, Content::Esp(_)) => {
                let id = fat::format_volume_id(ids.esp_volume_id.unwrap_or_default());
                let _ = writeln!(text, "UUID={id}\t{mount}\tvfat\tumask=0077\t0 2");
            }
            (Some(mount), Some(uuid), _, _) => {
                let _ = writeln!(
                    text,
                    "UUID={}\t{mount}\text4\tdefaults\t0 2",
                    format_uuid(&uuid)
                );
            }
            (_, _, Some(uuid), _) => {
                let _ = writeln!(text, "UUID={}\tnone\tswap\tsw\t0 0", format_uuid(&uuid));
            }
            _ => {}
        }
    }
    text
}

/// The manifest directive that makes `e`.
pub(super) fn directive(e: &Entry) -> Directive {
    let path = e.path.as_bytes().to_vec();
    match &e.kind {
        EntryKind::File(host) => Directive::File {
            path,
            mode: e.mode,
            owner: e.owner,
            host: host.clone(),
        },
        EntryKind::Text(text) => Directive::Data {
            path,
            mode: e.mode,
            owner: e.owner,
            data: Arc::from(text.as_bytes()),
        },
        EntryKind::Dir => Directive::Dir {
            path,
            mode: e.mode,
            owner: e.owner,
        },
        EntryKind::Symlink(target) => Directive::Symlink {
            path,
            target: target.as_bytes().to_vec(),
            owner: e.owner,
        },
    }
}

pub(super) fn describe_entry(e: &Entry) -> Added {
    let (uid, gid) = e.owner;
    let what = match &e.kind {
        EntryKind::File(host) => format!(
            "file {:04o} {uid}:{gid}, copy of {}",
            e.mode,
            host.display()
        ),
        EntryKind::Text(text) => format!("file {:04o} {uid}:{gid}, {} bytes", e.mode, text.len()),
        EntryKind::Dir => format!("dir {:04o} {uid}:{gid}", e.mode),
        EntryKind::Symlink(target) => format!("symlink -> {target}"),
    };
    let origin = match &e.origin {
        Origin::Recipe(line) => format!("line {line}"),
        Origin::Profile(p) => format!("{} profile", p.name()),
        Origin::Fstab => "fstab".into(),
    };
    Added {
        path: e.path.clone(),
        what,
        origin,
    }
}
