//! grub.cfg: a serial and a VGA console, one menu entry booting Linux with
//! the root filesystem found by UUID.

/// What the generated grub.cfg boots.
#[derive(Clone, Debug)]
pub struct BootEntry {
    /// Menu entry title.
    pub title: String,
    /// UUID of the filesystem holding the kernel and the root, as
    /// `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
    pub fs_uuid: String,
    /// Kernel path inside that filesystem, e.g. `/boot/vmlinuz`.
    pub kernel: String,
    /// Initramfs path inside that filesystem, if any.
    pub initrd: Option<String>,
    /// Extra kernel command line appended after the defaults.
    pub cmdline: String,
    /// Seconds the menu waits.
    pub timeout: u32,
}

/// The text of grub.cfg for `entry`: terminals on serial port 0 at
/// 115200 baud and on the console, the root found with `search --fs-uuid`,
/// and `root=UUID=` on the kernel command line so the name of the disk
/// (xvda, nvme0n1, vda) does not matter.
pub fn grub_cfg(entry: &BootEntry) -> String {
    let mut linux = format!(
        "linux {} root=UUID={} ro console=tty0 console=ttyS0,115200n8",
        entry.kernel, entry.fs_uuid
    );
    let extra = entry.cmdline.trim();
    if !extra.is_empty() {
        linux.push(' ');
        linux.push_str(extra);
    }
    let initrd = entry
        .initrd
        .as_ref()
        .map(|path| format!("\tinitrd {path}\n"))
        .unwrap_or_default();
    format!(
        "serial --unit=0 --speed=115200\n\
         terminal_input serial console\n\
         terminal_output serial console\n\
         set timeout={timeout}\n\
         search --no-floppy --fs-uuid --set=root {uuid}\n\
         \n\
         menuentry '{title}' {{\n\
         \t{linux}\n\
         {initrd}}}\n",
        timeout = entry.timeout,
        uuid = entry.fs_uuid,
        title = entry.title.replace('\'', ""),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn has_terminals_search_and_the_entry() {
        let cfg = grub_cfg(&BootEntry {
            title: "Linux".into(),
            fs_uuid: "0123abcd-0000-4000-8000-000000000001".into(),
            kernel: "/boot/vmlinuz".into(),
            initrd: Some("/boot/initrd.img".into()),
            cmdline: "quiet".into(),
            timeout: 1,
        });
        for line in [
            "serial --unit=0 --speed=115200",
            "terminal_input serial console",
            "terminal_output serial console",
            "set timeout=1",
            "search --no-floppy --fs-uuid --set=root 0123abcd-0000-4000-8000-000000000001",
            "menuentry 'Linux' {",
            "\tlinux /boot/vmlinuz root=UUID=0123abcd-0000-4000-8000-000000000001 ro console=tty0 console=ttyS0,115200n8 quiet",
            "\tinitrd /boot/initrd.img",
        ] {
            assert!(cfg.lines().any(|l| l == line), "no {line:?} in:\n{cfg}");
        }
    }

    #[test]
    fn no_initrd_line_without_an_initrd() {
        let cfg = grub_cfg(&BootEntry {
            title: "Linux".into(),
            fs_uuid: "u".into(),
            kernel: "/boot/vmlinuz".into(),
            initrd: None,
            cmdline: String::new(),
            timeout: 0,
        });
        assert!(!cfg.contains("initrd"), "{cfg}");
        assert!(cfg.contains("console=ttyS0,115200n8\n"), "{cfg}");
    }
}
