//! The architecture a disk is for: which GRUB platform and removable-media
//! path its UEFI loader takes, which boot modes its firmware has, which
//! serial console its kernel writes to, and which ELF files its initramfs
//! may hold. The disk is built on any host: an arm64 disk is made on
//! x86-64 without emulation.

use std::fmt;
use std::str::FromStr;

use grub_embed::mkimage::Platform;

use crate::error::{Error, Result};

/// The machine a disk boots on.
///
/// # Examples
///
/// ```
/// use blockimg::arch::Arch;
///
/// let arch: Arch = "aarch64".parse()?;
/// assert_eq!(arch, Arch::Arm64);
/// assert_eq!(arch.name(), "arm64"); // also EC2's name (register-image --architecture)
/// assert_eq!(arch.efi_boot_path(), "EFI/BOOT/BOOTAA64.EFI");
/// assert_eq!(Arch::default(), Arch::X86_64);
/// # Ok::<(), blockimg::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Arch {
    /// 64-bit x86 PCs and virtual machines: BIOS and UEFI.
    #[default]
    X86_64,
    /// 64-bit ARM (AArch64): UEFI only, as on EC2's Graviton instances and
    /// QEMU's `virt` machine with the AAVMF firmware.
    Arm64,
}

/// The names [`Arch::from_str`] takes, for messages.
const NAMES: &str = "x86_64 (or amd64) and arm64 (or aarch64)";

impl Arch {
    /// Every architecture, in the order messages list them.
    pub const ALL: [Arch; 2] = [Arch::X86_64, Arch::Arm64];

    /// The architecture's name as recipes, the command line and EC2's
    /// `register-image --architecture` write it: `x86_64` or `arm64`.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::arch::Arch;
    ///
    /// assert_eq!(Arch::X86_64.name(), "x86_64");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }

    /// The architecture of the machine this program runs on, if it is one
    /// of these.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::arch::Arch;
    ///
    /// if cfg!(target_arch = "x86_64") {
    ///     assert_eq!(Arch::host(), Some(Arch::X86_64));
    /// }
    /// ```
    pub fn host() -> Option<Arch> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Arch::X86_64),
            "aarch64" => Some(Arch::Arm64),
            _ => None,
        }
    }

    /// GRUB's UEFI platform for the architecture.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::arch::Arch;
    ///
    /// assert_eq!(Arch::Arm64.efi_platform().target(), "arm64-efi");
    /// ```
    pub fn efi_platform(self) -> Platform {
        match self {
            Arch::X86_64 => Platform::Uefi,
            Arch::Arm64 => Platform::Arm64Efi,
        }
    }

    /// Where on the ESP firmware looks for a loader when it has no boot
    /// entry for the disk (the removable-media path of the UEFI
    /// specification), without the leading `/`.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::arch::Arch;
    ///
    /// assert_eq!(Arch::X86_64.efi_boot_path(), blockimg::image::EFI_BOOT_PATH);
    /// ```
    pub fn efi_boot_path(self) -> &'static str {
        match self {
            Arch::X86_64 => "EFI/BOOT/BOOTX64.EFI",
            Arch::Arm64 => "EFI/BOOT/BOOTAA64.EFI",
        }
    }

    /// Whether the architecture's firmware can boot a disk by BIOS.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::arch::Arch;
    ///
    /// assert!(Arch::X86_64.has_bios() && !Arch::Arm64.has_bios());
    /// ```
    pub fn has_bios(self) -> bool {
        matches!(self, Arch::X86_64)
    }

    /// The kernel's `console=` arguments when none are asked for: the
    /// screen, then the first serial port as the architecture's usual
    /// machine names it (the last is `/dev/console`). On x86-64 that is
    /// `ttyS0`; on arm64 `ttyAMA0`, the PL011 UART of QEMU's `virt`
    /// machine and of most boards (EC2's Graviton instances have an 8250
    /// UART, `ttyS0`: the `ec2` recipe profile asks for it).
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::arch::Arch;
    ///
    /// assert_eq!(Arch::X86_64.default_consoles(), ["tty0", "ttyS0,115200n8"]);
    /// assert_eq!(Arch::Arm64.default_consoles(), ["tty0", "ttyAMA0,115200n8"]);
    /// ```
    pub fn default_consoles(self) -> [&'static str; 2] {
        match self {
            Arch::X86_64 => ["tty0", "ttyS0,115200n8"],
            Arch::Arm64 => ["tty0", "ttyAMA0,115200n8"],
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Arch {
    type Err = Error;

    /// `x86_64` (also `amd64`, `x86-64`) or `arm64` (also `aarch64`),
    /// without regard to case.
    fn from_str(text: &str) -> Result<Arch> {
        match text.to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" | "amd64" => Ok(Arch::X86_64),
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            _ => Err(Error::InvalidOption {
                option: "architecture".into(),
                reason: format!("{text:?} is not one blockimg builds for; it knows {NAMES}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names_parse_back() {
        for arch in Arch::ALL {
            assert_eq!(arch.name().parse::<Arch>().unwrap(), arch);
            assert_eq!(arch.to_string(), arch.name());
        }
        for (text, arch) in [
            ("amd64", Arch::X86_64),
            ("X86-64", Arch::X86_64),
            ("AArch64", Arch::Arm64),
        ] {
            assert_eq!(text.parse::<Arch>().unwrap(), arch);
        }
    }

    #[test]
    fn an_unknown_name_is_refused_with_the_known_ones() {
        let err = "riscv64".parse::<Arch>().unwrap_err().to_string();
        assert!(err.contains("\"riscv64\"") && err.contains("x86_64") && err.contains("arm64"));
        assert!("".parse::<Arch>().is_err());
    }

    proptest! {
        /// Any text parses to an architecture whose name is that text (up
        /// to case and the aliases), or is refused naming it: never a panic.
        #[test]
        fn any_text_parses_or_is_refused(text in "\\PC{0,12}") {
            match text.parse::<Arch>() {
                Ok(arch) => {
                    let lower = text.to_ascii_lowercase();
                    let aliases: &[&str] = match arch {
                        Arch::X86_64 => &["x86_64", "x86-64", "amd64"],
                        Arch::Arm64 => &["arm64", "aarch64"],
                    };
                    prop_assert!(aliases.contains(&lower.as_str()));
                }
                Err(e) => {
                    let quoted = format!("{:?}", text);
                    prop_assert!(e.to_string().contains(&quoted));
                }
            }
        }
    }
}
