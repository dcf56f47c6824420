//! The recipe file as written: one struct per TOML table, every key known
//! (unknown keys are refused with their line), values kept with their
//! place in the file ([`Spanned`]) so that later checks can name the line.
//! [`super::validate`] turns this into a [`super::Recipe`].
#![cfg_attr(not(test), deny(clippy::indexing_slicing))]

use std::collections::BTreeMap;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;
use toml::Spanned;

/// A value written as a string or an integer: sizes (`"64M"` or
/// `67108864`), modes (`"0644"` or `0o644`), partition types (`"0x83"` or
/// `131`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scalar {
    /// An integer.
    Int(i64),
    /// A string.
    Text(String),
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;
        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an integer")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                i64::try_from(v)
                    .map(Scalar::Int)
                    .map_err(|_| E::custom("integer too large"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar::Text(v.to_string()))
            }
        }
        deserializer.deserialize_any(ScalarVisitor)
    }
}

/// The whole file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecipeFile {
    /// `ec2` or `xen-domu`.
    pub profile: Option<Spanned<String>>,
    /// `x86_64` or `arm64`.
    pub arch: Option<Spanned<String>>,
    /// Build time in seconds since the epoch.
    pub timestamp: Option<Spanned<i64>>,
    /// The machine's name (profiles write /etc/hostname and /etc/hosts).
    pub hostname: Option<Spanned<String>>,
    /// Write /etc/fstab naming the filesystems by UUID.
    pub fstab: Option<Spanned<bool>>,
    /// Profile files to leave out, by path.
    #[serde(default)]
    pub profile_skip: Vec<Spanned<String>>,
    /// `[disk]`.
    pub disk: Option<Spanned<DiskTable>>,
    /// `[[output]]`.
    #[serde(default)]
    pub output: Vec<Spanned<OutputTable>>,
    /// `[[partition]]`.
    #[serde(default)]
    pub partition: Vec<Spanned<PartitionTable>>,
    /// `[root]`.
    pub root: Option<Spanned<RootTable>>,
    /// `[[file]]`.
    #[serde(default)]
    pub file: Vec<Spanned<FileTable>>,
    /// `[[text]]`.
    #[serde(default)]
    pub text: Vec<Spanned<TextTable>>,
    /// `[[dir]]`.
    #[serde(default)]
    pub dir: Vec<Spanned<DirTable>>,
    /// `[[symlink]]`.
    #[serde(default)]
    pub symlink: Vec<Spanned<SymlinkTable>>,
    /// `[boot]`.
    pub boot: Option<Spanned<BootTable>>,
    /// `[ec2]`: settings of the `ec2` profile.
    pub ec2: Option<Spanned<Ec2Table>>,
    /// `[register]`.
    pub register: Option<Spanned<RegisterTable>>,
}

/// `[disk]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiskTable {
    /// Size, or `"auto"`.
    pub size: Option<Spanned<Scalar>>,
    /// `mbr`, `gpt` or `none`.
    pub table: Option<Spanned<String>>,
}

/// `[[output]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputTable {
    /// The file to write (none for an EBS snapshot).
    pub path: Option<Spanned<String>>,
    /// `raw`, `vhd`, `vhd-fixed`, `vmdk` or `ebs-snapshot`.
    pub format: Option<Spanned<String>>,
    /// A fixed VHD sized as Azure requires.
    pub azure: Option<Spanned<bool>>,
    /// An EBS snapshot's description.
    pub description: Option<Spanned<String>>,
    /// An EBS snapshot's tags.
    pub tags: Option<Spanned<BTreeMap<String, String>>>,
    /// Where to write the snapshot's block manifest.
    pub block_manifest: Option<Spanned<String>>,
    /// The snapshot an incremental snapshot is made over.
    pub parent_snapshot: Option<Spanned<String>>,
    /// The parent snapshot's block manifest.
    pub parent_block_manifest: Option<Spanned<String>>,
    /// The image the parent snapshot was made from.
    pub parent_image: Option<Spanned<String>>,
}

/// `[register]`: a machine image registered from the recipe's snapshot.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterTable {
    /// The image's name.
    pub name: Spanned<String>,
    /// Its description.
    pub description: Option<Spanned<String>>,
    /// `x86_64` or `arm64`.
    pub architecture: Option<Spanned<String>>,
    /// `legacy-bios`, `uefi` or `uefi-preferred`.
    pub boot_mode: Option<Spanned<String>>,
    /// The root device's name.
    pub root_device: Option<Spanned<String>>,
    /// ENA networking.
    pub ena: Option<Spanned<bool>>,
    /// The image's tags.
    pub tags: Option<Spanned<BTreeMap<String, String>>>,
}

/// `[[partition]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartitionTable {
    /// `bios-boot`, `esp`, `root`, `swap` or `data`.
    pub role: Spanned<String>,
    /// Size, `"auto"`, or absent to fill the free space.
    pub size: Option<Spanned<Scalar>>,
    /// Byte offset.
    pub start: Option<Spanned<Scalar>>,
    /// GPT partition name.
    pub name: Option<Spanned<String>>,
    /// GPT type GUID or MBR type byte.
    #[serde(rename = "type")]
    pub kind: Option<Spanned<Scalar>>,
    /// GPT unique partition GUID.
    pub uuid: Option<Spanned<String>>,
    /// Data partitions: `ext4` or `raw`.
    pub format: Option<Spanned<String>>,
    /// Data partitions: a directory or tar archive to fill the ext4 with.
    pub source: Option<Spanned<String>>,
    /// Data partitions and the ESP: where /etc/fstab mounts it.
    pub mount: Option<Spanned<String>>,
    /// `[partition.ext4]`.
    pub ext4: Option<Spanned<Ext4Table>>,
    /// `[partition.swap]`.
    pub swap: Option<Spanned<SwapTable>>,
    /// `[partition.fat]`.
    pub fat: Option<Spanned<FatTable>>,
}

/// `[partition.fat]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FatTable {
    /// Volume label.
    pub label: Option<Spanned<String>>,
    /// Volume id, `XXXX-XXXX`.
    pub volume_id: Option<Spanned<String>>,
}

/// `[root.ext4]`, `[partition.ext4]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ext4Table {
    /// Volume label.
    pub label: Option<Spanned<String>>,
    /// Filesystem UUID.
    pub uuid: Option<Spanned<String>>,
    /// 1024, 2048 or 4096.
    pub block_size: Option<Spanned<u32>>,
    /// A jbd2 journal.
    pub journal: Option<Spanned<bool>>,
    /// Free space of an `auto` size, in percent.
    pub headroom: Option<Spanned<u32>>,
    /// Bytes per inode.
    pub inode_ratio: Option<Spanned<u64>>,
    /// Blocks reserved for root, in percent.
    pub reserved_percent: Option<Spanned<u8>>,
}

/// `[partition.swap]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwapTable {
    /// Label.
    pub label: Option<Spanned<String>>,
    /// UUID.
    pub uuid: Option<Spanned<String>>,
}

/// `[root]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootTable {
    /// A directory or tar archive.
    pub source: Option<Spanned<String>>,
    /// Manifest files.
    #[serde(default)]
    pub manifests: Vec<Spanned<String>>,
    /// Add the base layout.
    pub base_layout: Option<Spanned<bool>>,
    /// `UID:GID` of every file.
    pub owner: Option<Spanned<String>>,
    /// `FROM:TO` user ids.
    #[serde(default)]
    pub map_uid: Vec<Spanned<String>>,
    /// `FROM:TO` group ids.
    #[serde(default)]
    pub map_gid: Vec<Spanned<String>>,
    /// Skip archive members outside the root.
    pub skip_outside_root: Option<Spanned<bool>>,
    /// `[root.ext4]`.
    pub ext4: Option<Spanned<Ext4Table>>,
}

/// `[[file]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTable {
    /// Path in the image.
    pub path: Spanned<String>,
    /// Host file.
    pub source: Spanned<String>,
    /// Permissions.
    pub mode: Option<Spanned<Scalar>>,
    /// `UID:GID`.
    pub owner: Option<Spanned<String>>,
}

/// `[[text]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextTable {
    /// Path in the image.
    pub path: Spanned<String>,
    /// The file's contents.
    pub content: Spanned<String>,
    /// Permissions.
    pub mode: Option<Spanned<Scalar>>,
    /// `UID:GID`.
    pub owner: Option<Spanned<String>>,
}

/// `[[dir]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DirTable {
    /// Path in the image.
    pub path: Spanned<String>,
    /// Permissions.
    pub mode: Option<Spanned<Scalar>>,
    /// `UID:GID`.
    pub owner: Option<Spanned<String>>,
}

/// `[[symlink]]`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SymlinkTable {
    /// Path in the image.
    pub path: Spanned<String>,
    /// What it points at.
    pub target: Spanned<String>,
    /// `UID:GID`.
    pub owner: Option<Spanned<String>>,
}

/// `[boot]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootTable {
    /// `none`, `bios`, `uefi` or `hybrid`.
    pub mode: Option<Spanned<String>>,
    /// Host kernel.
    pub kernel: Option<Spanned<String>>,
    /// Host initramfs.
    pub initrd: Option<Spanned<String>>,
    /// Extra kernel command line.
    pub cmdline: Option<Spanned<String>>,
    /// `console=` arguments.
    pub consoles: Option<Spanned<Vec<String>>>,
    /// GRUB i386-pc directory.
    pub grub_dir: Option<Spanned<String>>,
    /// GRUB x86_64-efi directory.
    pub grub_efi_dir: Option<Spanned<String>>,
    /// `[boot.initramfs]`.
    pub initramfs: Option<Spanned<InitramfsTable>>,
}

/// `[boot.initramfs]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InitramfsTable {
    /// Kernel modules by name or alias.
    #[serde(default)]
    pub modules: Vec<Spanned<String>>,
    /// The modules directory.
    pub kernel_modules: Option<Spanned<String>>,
    /// Executables with their libraries.
    #[serde(default)]
    pub binaries: Vec<Spanned<String>>,
    /// Busybox for the generated /init.
    pub busybox: Option<Spanned<String>>,
    /// Where binaries and their libraries are looked up.
    pub sysroot: Option<Spanned<String>>,
    /// `gzip`, `zstd`, `xz` or `none`.
    pub compress: Option<Spanned<String>>,
}

/// `[ec2]`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ec2Table {
    /// Public keys for authorized_keys.
    #[serde(default)]
    pub ssh_authorized_keys: Vec<Spanned<String>>,
    /// A file of public keys.
    pub ssh_authorized_keys_file: Option<Spanned<String>>,
    /// Whose keys they are (default root).
    pub user: Option<Spanned<String>>,
    /// Fetch the key from the instance metadata at first boot.
    pub imds_ssh_key: Option<Spanned<bool>>,
    /// `dhcp` or `none`.
    pub network: Option<Spanned<String>>,
    /// The interface DHCP runs on.
    pub interface: Option<Spanned<String>>,
}
