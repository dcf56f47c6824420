//! grub.cfg: a serial and a VGA console, and one menu entry per kernel,
//! each booting Linux with the root filesystem found by UUID.

/// What the generated grub.cfg boots.
///
/// # Examples
///
/// ```
/// use grub_embed::config::{grub_cfg, GrubConfig, MenuEntry};
///
/// let config = GrubConfig {
///     fs_uuid: "12345678-9abc-4def-8123-456789abcdef".into(),
///     entries: vec![MenuEntry { title: "Linux".into(), kernel: "/boot/vmlinuz".into(), initrd: None }],
///     cmdline: "quiet".into(),
///     consoles: vec!["ttyS0,115200n8".into()],
///     timeout: 0,
///     serial_terminal: true,
/// };
/// let text = grub_cfg(&config);
/// assert!(text.contains("search --no-floppy --fs-uuid --set=root 12345678-9abc-4def-8123-456789abcdef"));
/// ```
#[derive(Clone, Debug)]
pub struct GrubConfig {
    /// UUID of the filesystem holding the kernels and the root, as
    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    pub fs_uuid: String,
    /// The menu entries; the first is the default.
    pub entries: Vec<MenuEntry>,
    /// Extra kernel command line appended after the defaults.
    pub cmdline: String,
    /// The kernel's `console=` arguments, in order (e.g. `tty0`,
    /// `ttyS0,115200n8`; the last one is `/dev/console`).
    pub consoles: Vec<String>,
    /// Seconds the menu waits.
    pub timeout: u32,
    /// GRUB's own menu on the PC serial port 0 (`serial --unit=0`) as well
    /// as the console: for x86 GRUB. On arm64 GRUB has no such port and
    /// the firmware's console (the serial port of QEMU's virt machine and
    /// of EC2 Graviton instances) is GRUB's, so it is left out.
    pub serial_terminal: bool,
}

/// One kernel to boot.
///
/// # Examples
///
/// ```
/// use grub_embed::config::{grub_cfg, GrubConfig, MenuEntry};
///
/// let entry = MenuEntry {
///     title: "Linux 6.1".into(),
///     kernel: "/boot/vmlinuz-6.1.0".into(),
///     initrd: Some("/boot/initrd.img-6.1.0".into()),
/// };
/// let config = GrubConfig { fs_uuid: "0".into(), entries: vec![entry], cmdline: String::new(), consoles: vec![], timeout: 5, serial_terminal: true };
/// assert!(grub_cfg(&config).contains("initrd /boot/initrd.img-6.1.0"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MenuEntry {
    /// Menu entry title.
    pub title: String,
    /// Kernel path inside the filesystem, e.g. `/boot/vmlinuz`.
    pub kernel: String,
    /// Initramfs path inside the filesystem, if any.
    pub initrd: Option<String>,
}

/// The text of grub.cfg for `config`: terminals on serial port 0 at
/// 115200 baud (with [`GrubConfig::serial_terminal`]) and on the console,
/// the root found with `search --fs-uuid`,
/// and `root=UUID=` on every kernel command line so the name of the disk
/// (xvda, nvme0n1, vda) does not matter.
///
/// # Examples
///
/// ```
/// use grub_embed::config::{grub_cfg, GrubConfig, MenuEntry};
///
/// let config = GrubConfig {
///     fs_uuid: "2f1c7c86-6a3e-4c1b-9d8e-0b6f7a1d2c3e".into(),
///     entries: vec![MenuEntry {
///         title: "Linux".into(),
///         kernel: "/boot/vmlinuz".into(),
///         initrd: Some("/boot/initrd.img".into()),
///     }],
///     cmdline: "quiet".into(),
///     consoles: vec!["tty0".into(), "ttyS0,115200n8".into()],
///     timeout: 1,
///     serial_terminal: true,
/// };
/// let cfg = grub_cfg(&config);
/// assert!(cfg.contains("search --no-floppy --fs-uuid --set=root 2f1c7c86-6a3e-4c1b-9d8e-0b6f7a1d2c3e"));
/// assert!(cfg.contains("root=UUID=2f1c7c86-6a3e-4c1b-9d8e-0b6f7a1d2c3e"));
/// assert!(cfg.contains("initrd /boot/initrd.img"));
/// ```
pub fn grub_cfg(config: &GrubConfig) -> String {
    let mut cfg = String::new();
    if config.serial_terminal {
        cfg.push_str(
            "serial --unit=0 --speed=115200\n\
             terminal_input serial console\n\
             terminal_output serial console\n",
        );
    }
    cfg.push_str(&format!(
        "set default=0\n\
         set timeout={timeout}\n\
         search --no-floppy --fs-uuid --set=root {uuid}\n",
        timeout = config.timeout,
        uuid = config.fs_uuid,
    ));
    for entry in &config.entries {
        let mut linux = format!("linux {} root=UUID={} ro", entry.kernel, config.fs_uuid);
        for console in &config.consoles {
            linux.push_str(" console=");
            linux.push_str(console);
        }
        let extra = config.cmdline.trim();
        if !extra.is_empty() {
            linux.push(' ');
            linux.push_str(extra);
        }
        let initrd = entry
            .initrd
            .as_ref()
            .map(|path| format!("\tinitrd {path}\n"))
            .unwrap_or_default();
        cfg.push_str(&format!(
            "\nmenuentry '{title}' {{\n\t{linux}\n{initrd}}}\n",
            title = entry.title.replace('\'', ""),
        ));
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(title: &str, kernel: &str, initrd: Option<&str>) -> MenuEntry {
        MenuEntry {
            title: title.into(),
            kernel: kernel.into(),
            initrd: initrd.map(Into::into),
        }
    }

    #[test]
    fn has_terminals_search_and_every_entry() {
        let cfg = grub_cfg(&GrubConfig {
            fs_uuid: "0123abcd-0000-4000-8000-000000000001".into(),
            entries: vec![
                entry("Linux", "/boot/vmlinuz", Some("/boot/initrd.img")),
                entry("Linux 6.1.0", "/boot/vmlinuz-6.1.0", None),
            ],
            cmdline: "quiet".into(),
            consoles: vec!["tty0".into(), "ttyS0,115200n8".into()],
            timeout: 1,
            serial_terminal: true,
        });
        for line in [
            "serial --unit=0 --speed=115200",
            "terminal_input serial console",
            "terminal_output serial console",
            "set default=0",
            "set timeout=1",
            "search --no-floppy --fs-uuid --set=root 0123abcd-0000-4000-8000-000000000001",
            "menuentry 'Linux' {",
            "\tlinux /boot/vmlinuz root=UUID=0123abcd-0000-4000-8000-000000000001 ro console=tty0 console=ttyS0,115200n8 quiet",
            "\tinitrd /boot/initrd.img",
            "menuentry 'Linux 6.1.0' {",
            "\tlinux /boot/vmlinuz-6.1.0 root=UUID=0123abcd-0000-4000-8000-000000000001 ro console=tty0 console=ttyS0,115200n8 quiet",
        ] {
            assert!(cfg.lines().any(|l| l == line), "no {line:?} in:\n{cfg}");
        }
        assert_eq!(cfg.matches("\tinitrd ").count(), 1, "{cfg}");
        assert_eq!(cfg.matches("menuentry").count(), 2, "{cfg}");
    }

    #[test]
    fn without_the_serial_terminal_grub_keeps_the_firmware_console() {
        let cfg = grub_cfg(&GrubConfig {
            fs_uuid: "0123abcd-0000-4000-8000-000000000001".into(),
            entries: vec![entry("Linux", "/boot/vmlinuz", None)],
            cmdline: String::new(),
            consoles: vec!["tty0".into(), "ttyAMA0,115200n8".into()],
            timeout: 1,
            serial_terminal: false,
        });
        assert!(
            !cfg.contains("serial") && !cfg.contains("terminal_"),
            "{cfg}"
        );
        assert!(cfg.starts_with("set default=0\n"), "{cfg}");
        assert!(cfg.contains("console=ttyAMA0,115200n8"), "{cfg}");
    }
}
