//! Profiles: the files and settings a cloud or hypervisor expects, added
//! to a recipe where it does not say otherwise. A profile only adds what
//! `blockimg build --dry-run` lists, and the recipe overrides any of it: a
//! setting it gives wins over the profile's default, an entry it gives at
//! the same path replaces the profile's, and `profile_skip` drops one.
//!
//! The files of each profile are listed in `docs/RECIPES.md`.

use super::{Ec2Settings, Entry, EntryKind, Origin};
use crate::arch::Arch;
use crate::boot::BootMode;
use crate::disk::layout::PartitionTable;

/// A named set of defaults and files.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// let recipe = blockimg::recipe::parse("profile = \"xen-domu\"\n", &dir.path().join("image.toml"))?;
/// assert_eq!(recipe.profile, Some(blockimg::recipe::Profile::XenDomu));
/// assert_eq!(recipe.boot.mode, blockimg::boot::BootMode::Bios); // the profile's default
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Profile {
    /// An Amazon EC2 instance (HVM; Nitro or Xen).
    Ec2,
    /// A Xen guest (PV or PVH) with the hvc0 console.
    XenDomu,
}

/// The settings a profile gives a recipe that leaves them out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Defaults {
    /// `disk.table`.
    pub table: PartitionTable,
    /// `boot.mode`.
    pub boot: BootMode,
    /// `boot.consoles`; `None` for the boot module's default.
    pub consoles: Option<Vec<String>>,
    /// `root.base_layout`.
    pub base_layout: bool,
    /// `fstab`.
    pub fstab: bool,
    /// Kernel modules an initramfs the recipe builds always holds (added
    /// to `boot.initramfs.modules` where it does not list them).
    pub initramfs_modules: Vec<&'static str>,
}

impl Default for Defaults {
    /// The settings of a recipe without a profile.
    fn default() -> Self {
        Defaults {
            table: PartitionTable::Mbr,
            boot: BootMode::None,
            consoles: None,
            base_layout: false,
            fstab: false,
            initramfs_modules: Vec::new(),
        }
    }
}

/// Who owns the SSH keys the `ec2` profile installs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Account {
    /// User id.
    pub uid: u32,
    /// Group id.
    pub gid: u32,
    /// Home directory in the image.
    pub home: String,
}

impl Profile {
    /// The name a recipe gives it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Ec2 => "ec2",
            Profile::XenDomu => "xen-domu",
        }
    }

    /// The profile's settings for a disk of `arch`.
    pub(crate) fn defaults(self, arch: Arch) -> Defaults {
        match (self, arch) {
            // EC2 boots GPT disks under UEFI or BIOS (uefi-preferred); its
            // serial console (get-console-output) is ttyS0.
            (Profile::Ec2, Arch::X86_64) => Defaults {
                table: PartitionTable::Gpt,
                boot: BootMode::Hybrid,
                consoles: Some(vec!["tty0".into(), "ttyS0,115200".into()]),
                base_layout: true,
                fstab: true,
                initramfs_modules: Vec::new(),
            },
            // Graviton instances boot by UEFI only; their serial console is
            // an 8250-compatible UART, ttyS0 as on x86-64 (not the PL011
            // ttyAMA0 of QEMU's virt machine). Every Graviton instance is a
            // Nitro one: its disks are NVMe and its network ENA.
            (Profile::Ec2, Arch::Arm64) => Defaults {
                boot: BootMode::Uefi,
                initramfs_modules: vec!["nvme", "ena"],
                ..Profile::Ec2.defaults(Arch::X86_64)
            },
            (Profile::XenDomu, _) => Defaults {
                table: PartitionTable::Mbr,
                boot: BootMode::Bios,
                consoles: Some(vec!["hvc0".into()]),
                base_layout: true,
                fstab: true,
                initramfs_modules: Vec::new(),
            },
        }
    }

    /// The files the profile adds for a machine called `hostname`; `ec2`
    /// settings and the `account` owning the SSH keys for [`Profile::Ec2`].
    pub(crate) fn files(self, hostname: &str, ec2: &Ec2Settings, account: &Account) -> Vec<Entry> {
        let mut out = Files {
            origin: Origin::Profile(self),
            entries: Vec::new(),
        };
        match self {
            Profile::Ec2 => ec2_files(&mut out, hostname, ec2, account),
            Profile::XenDomu => {
                out.text("/etc/inittab", 0o644, INITTAB_HVC0.into());
            }
        }
        out.entries
    }
}

/// Entries being collected for one origin.
struct Files {
    origin: Origin,
    entries: Vec<Entry>,
}

impl Files {
    fn push(&mut self, path: &str, kind: EntryKind, mode: u16, owner: (u32, u32)) {
        self.entries.push(Entry {
            path: path.into(),
            kind,
            mode,
            owner,
            origin: self.origin.clone(),
        });
    }

    fn text(&mut self, path: &str, mode: u16, text: String) {
        self.push(path, EntryKind::Text(text), mode, (0, 0));
    }
}

fn ec2_files(out: &mut Files, hostname: &str, ec2: &Ec2Settings, account: &Account) {
    out.text("/etc/hostname", 0o644, format!("{hostname}\n"));
    out.text(
        "/etc/hosts",
        0o644,
        format!(
            "127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
        ),
    );
    let owner = (account.uid, account.gid);
    let home = account.home.trim_end_matches('/');
    let ssh_dir = format!("{home}/.ssh");
    if !ec2.ssh_keys.is_empty() || ec2.imds_ssh_key {
        out.push(&ssh_dir, EntryKind::Dir, 0o700, owner);
    }
    if !ec2.ssh_keys.is_empty() {
        let keys: String = ec2.ssh_keys.iter().map(|k| format!("{k}\n")).collect();
        out.push(
            &format!("{ssh_dir}/authorized_keys"),
            EntryKind::Text(keys),
            0o600,
            owner,
        );
    }
    if ec2.imds_ssh_key {
        let script = IMDS_SCRIPT
            .replace("@KEYS@", &format!("{ssh_dir}/authorized_keys"))
            .replace("@OWNER@", &format!("{}:{}", account.uid, account.gid));
        out.text("/usr/sbin/ec2-fetch-ssh-key", 0o755, script);
        out.text("/etc/init.d/ec2-fetch-ssh-key", 0o755, IMDS_INIT.into());
        out.text(
            "/etc/systemd/system/ec2-fetch-ssh-key.service",
            0o644,
            IMDS_UNIT.into(),
        );
        out.push(
            "/etc/systemd/system/multi-user.target.wants/ec2-fetch-ssh-key.service",
            EntryKind::Symlink("../ec2-fetch-ssh-key.service".into()),
            0o777,
            (0, 0),
        );
    }
    if ec2.dhcp {
        let interface = &ec2.interface;
        out.text(
            "/etc/network/interfaces",
            0o644,
            format!(
                "# Written by blockimg's ec2 profile: DHCP on the first interface.\n\
                 auto lo\niface lo inet loopback\n\n\
                 auto {interface}\niface {interface} inet dhcp\n\
                 \x20   script {UDHCPC_SCRIPT_PATH}\n"
            ),
        );
        out.text(UDHCPC_SCRIPT_PATH, 0o755, UDHCPC_SCRIPT.into());
        // ifup runs `run-parts` on these for each phase and, in busybox,
        // gives up on the interface when one is missing.
        for phase in IFUPDOWN_PHASES {
            out.push(
                &format!("/etc/network/if-{phase}.d"),
                EntryKind::Dir,
                0o755,
                (0, 0),
            );
        }
    }
}

/// The phases whose `/etc/network/if-PHASE.d` directories ifup and ifdown
/// run.
const IFUPDOWN_PHASES: [&str; 4] = ["pre-up", "up", "down", "post-down"];

/// busybox init's table for a Xen guest: the boot script, a getty on the
/// hvc0 console, and a clean shutdown.
pub const INITTAB_HVC0: &str = "\
# Written by blockimg's xen-domu profile (busybox init syntax).
::sysinit:/etc/init.d/rcS
hvc0::respawn:/sbin/getty -L 115200 hvc0 vt100
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
";

/// Fetches the instance's SSH key with IMDSv2 (`@KEYS@` and `@OWNER@`
/// filled in). Plain sh: curl when the image has it, else busybox `nc` for
/// the token's PUT and `wget` for the GET.
pub const IMDS_SCRIPT: &str = r#"#!/bin/sh
# Written by blockimg's ec2 profile: installs the instance's SSH public key
# from the EC2 instance metadata service, IMDSv2 (a session token by PUT,
# then public-keys/0/openssh-key by GET with the token).
# IMDS_HOST and IMDS_PORT override the service's address (for testing).
host=${IMDS_HOST:-169.254.169.254}
port=${IMDS_PORT:-80}
keys=${1:-@KEYS@}
ttl=X-aws-ec2-metadata-token-ttl-seconds

token() {
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -m 5 -X PUT -H "$ttl: 300" "http://$host:$port/latest/api/token"
    else
        printf 'PUT /latest/api/token HTTP/1.0\r\nHost: %s\r\n%s: 300\r\n\r\n' "$host" "$ttl" |
            nc -w 5 "$host" "$port" | sed '1,/^\r*$/d'
    fi
}

key() {
    url="http://$host:$port/latest/meta-data/public-keys/0/openssh-key"
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -m 5 -H "X-aws-ec2-metadata-token: $1" "$url"
    else
        # No -T: busybox 1.35's wget crashes with a timeout.
        wget -q -O - --header "X-aws-ec2-metadata-token: $1" "$url"
    fi
}

t=$(token) && [ -n "$t" ] || { echo "ec2-fetch-ssh-key: no IMDSv2 token" >&2; exit 1; }
k=$(key "$t") && [ -n "$k" ] || { echo "ec2-fetch-ssh-key: no public key" >&2; exit 1; }
mkdir -p "$(dirname "$keys")"
chmod 700 "$(dirname "$keys")"
touch "$keys"
grep -qxF "$k" "$keys" || printf '%s\n' "$k" >>"$keys"
chmod 600 "$keys"
chown @OWNER@ "$(dirname "$keys")" "$keys"
"#;

/// The SysV-style init script that runs [`IMDS_SCRIPT`] at boot.
pub const IMDS_INIT: &str = r#"#!/bin/sh
# Written by blockimg's ec2 profile. Link it into the runlevel directory
# (LFS: /etc/rc.d/rc3.d/S25ec2-fetch-ssh-key) or call it from busybox's
# /etc/init.d/rcS after the network is up.
case "${1:-start}" in
    start) /usr/sbin/ec2-fetch-ssh-key ;;
    stop) ;;
    *) echo "usage: $0 start|stop" >&2; exit 1 ;;
esac
"#;

/// The systemd unit that runs [`IMDS_SCRIPT`] at boot.
pub const IMDS_UNIT: &str = "\
# Written by blockimg's ec2 profile.
[Unit]
Description=Install the SSH key from the EC2 instance metadata (IMDSv2)
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
ExecStart=/usr/sbin/ec2-fetch-ssh-key

[Install]
WantedBy=multi-user.target
";

/// Where [`UDHCPC_SCRIPT`] goes: upstream busybox's default, named in
/// /etc/network/interfaces too because distributions build busybox with
/// another (Debian: /etc/udhcpc/default.script).
pub const UDHCPC_SCRIPT_PATH: &str = "/usr/share/udhcpc/default.script";

/// The script busybox `udhcpc` runs (as `ifup` does for `inet dhcp`) to
/// configure the interface with the lease it got.
pub const UDHCPC_SCRIPT: &str = r#"#!/bin/sh
# Written by blockimg's ec2 profile: busybox udhcpc's hook, called with
# deconfig, bound or renew; applies the lease with busybox ip.
[ -n "$1" ] || exit 1
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ip link set dev "$interface" up
        ;;
    bound | renew)
        ip -4 addr flush dev "$interface"
        ip -4 addr add "$ip/${mask:-24}" ${broadcast:+broadcast "$broadcast"} dev "$interface"
        if [ -n "$router" ]; then
            ip -4 route del default dev "$interface" 2>/dev/null
            for r in $router; do ip -4 route add default via "$r" dev "$interface"; break; done
        fi
        if [ -n "$dns" ]; then
            : >/etc/resolv.conf
            [ -n "$domain" ] && echo "search $domain" >>/etc/resolv.conf
            for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
        fi
        ;;
esac
exit 0
"#;
