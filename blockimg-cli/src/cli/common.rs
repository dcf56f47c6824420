//! Option handling shared by the subcommands.

use std::path::PathBuf;

use blockimg::arch::Arch;
use blockimg::ext4::update::CommitStep;
use blockimg::source::root::TreeAdjust;
use blockimg::source::tar::OutsideRoot;

/// Parses `--owner UID:GID`.
pub fn parse_owner(text: &str) -> std::result::Result<(u32, u32), String> {
    let (uid, gid) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?} is not UID:GID"))?;
    let num = |s: &str| {
        s.parse::<u32>()
            .map_err(|_| format!("{s:?} in {text:?} is not a number"))
    };
    Ok((num(uid)?, num(gid)?))
}

/// `--arch`: the architecture a disk or initramfs is for.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ArchArg {
    /// 64-bit x86 PCs and virtual machines (BIOS and UEFI).
    #[value(name = "x86_64", alias = "amd64")]
    X86_64,
    /// 64-bit ARM (AArch64): UEFI only, as EC2 Graviton and QEMU's virt
    /// machine.
    #[value(name = "arm64", alias = "aarch64")]
    Arm64,
}

impl From<ArchArg> for Arch {
    fn from(arg: ArchArg) -> Arch {
        match arg {
            ArchArg::X86_64 => Arch::X86_64,
            ArchArg::Arm64 => Arch::Arm64,
        }
    }
}

/// Options that shape the tree after it is read, shared by the commands
/// that take `--root`.
#[derive(clap::Args, Default)]
pub struct TreeArgs {
    /// A manifest of entries to add or override (devices, owners, modes,
    /// files from the host; see docs/SOURCES.md). Repeatable; applied in
    /// order, after the source.
    #[arg(long = "manifest", value_name = "FILE")]
    pub manifests: Vec<PathBuf>,
    /// Give files owned by uid FROM the uid TO instead (FROM:TO; repeatable).
    #[arg(long = "map-uid", value_name = "FROM:TO", value_parser = parse_owner)]
    pub map_uid: Vec<(u32, u32)>,
    /// Give files owned by gid FROM the gid TO instead (FROM:TO; repeatable).
    #[arg(long = "map-gid", value_name = "FROM:TO", value_parser = parse_owner)]
    pub map_gid: Vec<(u32, u32)>,
    /// Add what a bootable Linux root needs and a snapshot leaves out
    /// (/dev with console and null, /proc, /sys, /run, /tmp, /mnt, /media,
    /// /boot, /var/run and /var/lock links), keeping what the source has.
    #[arg(long)]
    pub base_layout: bool,
    /// Skip archive members whose path leaves the root (`..`) with a
    /// warning, instead of refusing the archive.
    #[arg(long)]
    pub skip_outside_root: bool,
}

impl TreeArgs {
    /// How archive members outside the root are treated.
    pub fn outside(&self) -> OutsideRoot {
        if self.skip_outside_root {
            OutsideRoot::Skip
        } else {
            OutsideRoot::Refuse
        }
    }

    /// The changes these options make to a tree, with `owner` (`--owner`).
    pub fn adjust(&self, owner: Option<(u32, u32)>) -> TreeAdjust {
        TreeAdjust::default()
            .owner(owner)
            .map_uid(self.map_uid.clone())
            .map_gid(self.map_gid.clone())
            .base_layout(self.base_layout)
            .manifests(self.manifests.clone())
    }
}

/// What the commit of `add` or a mount is told at each step: nothing,
/// unless `BLOCKIMG_CRASH_AT` names the step (`committed`, `in-place-2`,
/// ... see [`CommitStep`]'s names), in which case the process kills
/// itself there with SIGKILL, as a crash would stop it: the crash tests
/// use this to stop a commit at every point.
pub fn commit_steps() -> impl FnMut(CommitStep) {
    let crash_at = std::env::var("BLOCKIMG_CRASH_AT").ok();
    move |step: CommitStep| {
        if crash_at.as_deref() == Some(step.to_string().as_str()) {
            // SAFETY: kill and getpid have no preconditions.
            unsafe {
                libc::kill(libc::getpid(), libc::SIGKILL);
            }
        }
    }
}
