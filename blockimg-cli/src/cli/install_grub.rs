//! `blockimg install-grub`: GRUB for BIOS and/or UEFI into an existing disk
//! image, reading its root filesystem but never writing into it.

use std::path::PathBuf;

use blockimg::arch::Arch;
use blockimg::grub_install::{install_grub, Firmware, InstallOptions};
use blockimg::identity::format_uuid;
use blockimg::Result;
use clap::ValueEnum;

use super::common::ArchArg;

#[derive(Clone, Copy, ValueEnum)]
enum FirmwareArg {
    /// GRUB for BIOS: boot.img's code in the MBR, core.img after it (MBR)
    /// or in the BIOS boot partition (GPT).
    Bios,
    /// GRUB for UEFI: /EFI/BOOT/BOOTX64.EFI (BOOTAA64.EFI for arm64) on
    /// the EFI system partition.
    Uefi,
    /// Both.
    Hybrid,
}

/// Arguments of `blockimg install-grub`.
#[derive(clap::Args)]
pub struct InstallGrubArgs {
    /// The raw disk image, `IMAGE` or `IMAGE:PART` to name the root
    /// partition (default: the first Linux partition holding ext4).
    image: PathBuf,
    /// The firmware GRUB is installed for (default: bios, or uefi with
    /// --arch arm64).
    #[arg(long, value_enum)]
    boot: Option<FirmwareArg>,
    /// Extra kernel command line for every menu entry.
    #[arg(long, default_value = "")]
    cmdline: String,
    /// GRUB's i386-pc module directory (default /usr/lib/grub/i386-pc).
    #[arg(long)]
    grub_dir: Option<PathBuf>,
    /// GRUB's UEFI module directory (default /usr/lib/grub/x86_64-efi, or
    /// /usr/lib/grub/arm64-efi with --arch arm64).
    #[arg(long)]
    grub_efi_dir: Option<PathBuf>,
    /// The architecture the disk boots on: arm64 takes --boot uefi only.
    #[arg(long, value_enum, default_value = "x86_64")]
    arch: ArchArg,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `blockimg install-grub`.
pub fn run(args: InstallGrubArgs) -> Result<()> {
    let spec = blockimg::disk::ImageSpec::parse(args.image.as_os_str())?;
    let options = InstallOptions {
        firmware: match args.boot {
            Some(FirmwareArg::Bios) => Firmware::Bios,
            Some(FirmwareArg::Uefi) => Firmware::Uefi,
            Some(FirmwareArg::Hybrid) => Firmware::Hybrid,
            None if Arch::from(args.arch).has_bios() => Firmware::Bios,
            None => Firmware::Uefi,
        },
        partition: spec.partition,
        cmdline: args.cmdline,
        grub_dir: args.grub_dir,
        grub_efi_dir: args.grub_efi_dir,
        arch: Arch::from(args.arch),
    };
    let summary = install_grub(&spec.path, &options)?;
    if !args.quiet {
        println!(
            "{}: GRUB boots partition {} (ext4 UUID {})",
            spec.path.display(),
            summary.root.number,
            format_uuid(&summary.fs_uuid)
        );
        if let Some(lba) = summary.core_lba {
            println!("  BIOS: boot.img in sector 0, core.img at sector {lba}");
        }
        if let Some(esp) = summary.esp {
            println!(
                "  UEFI: /{} on partition {esp}",
                options.arch.efi_boot_path()
            );
        }
        for entry in &summary.entries {
            println!("  menu entry {:?}: {}", entry.title, entry.kernel);
        }
    }
    Ok(())
}
