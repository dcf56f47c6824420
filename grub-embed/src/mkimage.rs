//! core.img from the host's `grub-mkimage`: no root, no device map.

use std::path::PathBuf;
use std::process::Command;

use crate::error::{Error, Result};

/// Where Debian and Ubuntu install GRUB's i386-pc modules.
pub const DEFAULT_GRUB_DIR: &str = "/usr/lib/grub/i386-pc";
/// The package providing `grub-mkimage`'s i386-pc modules.
pub const BIOS_PACKAGE: &str = "grub-pc-bin";
/// Modules core.img needs to read grub.cfg from an ext4 partition of an MBR
/// disk, find the root filesystem by UUID and boot Linux on a serial
/// console.
pub const BIOS_MODULES: &[&str] = &[
    "biosdisk",
    "part_msdos",
    "ext2",
    "normal",
    "linux",
    "serial",
    "terminal",
    "configfile",
    "search",
    "search_fs_uuid",
];

/// What `grub-mkimage` builds core.img from.
#[derive(Clone, Debug)]
pub struct CoreOptions {
    /// GRUB's module directory for i386-pc (holding `kernel.img`).
    pub grub_dir: PathBuf,
    /// Where GRUB finds its configuration and modules, e.g.
    /// `(,msdos1)/boot/grub`: an empty drive is the BIOS boot drive.
    pub prefix: String,
    /// `grub-mkimage` to run.
    pub program: PathBuf,
}

impl Default for CoreOptions {
    fn default() -> Self {
        CoreOptions {
            grub_dir: PathBuf::from(DEFAULT_GRUB_DIR),
            prefix: "(,msdos1)/boot/grub".into(),
            program: PathBuf::from("grub-mkimage"),
        }
    }
}

/// Runs `grub-mkimage -O i386-pc` with [`BIOS_MODULES`] and returns the
/// core.img it writes.
pub fn core_image(options: &CoreOptions) -> Result<Vec<u8>> {
    if !options.grub_dir.join("kernel.img").is_file() {
        return Err(Error::GrubMissing {
            dir: options.grub_dir.clone(),
            package: BIOS_PACKAGE,
        });
    }
    let dir = std::env::temp_dir().join(format!(
        "grub-embed-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir(&dir).map_err(|source| Error::Io {
        path: dir.clone(),
        source,
    })?;
    let result = run_mkimage(options, &dir.join("core.img"));
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_mkimage(options: &CoreOptions, out: &std::path::Path) -> Result<Vec<u8>> {
    let output = Command::new(&options.program)
        .arg("-d")
        .arg(&options.grub_dir)
        .args(["-O", "i386-pc", "-o"])
        .arg(out)
        .arg("-p")
        .arg(&options.prefix)
        .args(BIOS_MODULES)
        .output()
        .map_err(|source| Error::MkimageNotRun {
            package: BIOS_PACKAGE,
            source,
        })?;
    if !output.status.success() {
        return Err(Error::MkimageFailed {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    std::fs::read(out).map_err(|source| Error::Io {
        path: out.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_module_directory_names_the_package() {
        let options = CoreOptions {
            grub_dir: PathBuf::from("/nonexistent/grub/i386-pc"),
            ..CoreOptions::default()
        };
        let err = core_image(&options).unwrap_err();
        assert!(err.to_string().contains("grub-pc-bin"), "{err}");
    }

    #[test]
    fn a_missing_program_names_the_package() {
        if !std::path::Path::new(DEFAULT_GRUB_DIR)
            .join("kernel.img")
            .is_file()
        {
            eprintln!("SKIPPED: no {DEFAULT_GRUB_DIR} (package grub-pc-bin)");
            return;
        }
        let options = CoreOptions {
            program: PathBuf::from("/nonexistent/grub-mkimage"),
            ..CoreOptions::default()
        };
        let err = core_image(&options).unwrap_err();
        assert!(matches!(err, Error::MkimageNotRun { .. }), "{err}");
        assert!(err.to_string().contains("grub-pc-bin"), "{err}");
    }

    #[test]
    fn builds_a_core_img_with_diskboot_first() {
        let Ok(core) = core_image(&CoreOptions::default()) else {
            eprintln!("SKIPPED: grub-mkimage or GRUB's i386-pc modules are missing");
            return;
        };
        let diskboot = std::fs::read(PathBuf::from(DEFAULT_GRUB_DIR).join("diskboot.img"))
            .expect("diskboot.img next to kernel.img");
        // The first sector is diskboot.img with the blocklist filled in.
        assert_eq!(&core[..0x1E8], &diskboot[..0x1E8]);
        assert!(core.len() > 512);
    }
}
