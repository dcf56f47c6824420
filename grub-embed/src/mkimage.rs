//! GRUB images from the host's `grub-mkimage`: core.img for BIOS and the
//! EFI application for UEFI, without root or a device map.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};

/// The firmware a GRUB image is made for.
///
/// # Examples
///
/// ```
/// use grub_embed::mkimage::Platform;
///
/// assert_eq!(Platform::Uefi.target(), "x86_64-efi");
/// assert_eq!(Platform::Bios.default_dir(), "/usr/lib/grub/i386-pc");
/// assert_eq!(Platform::Bios.package(), "grub-pc-bin");
/// assert!(Platform::Bios.modules().contains(&"ext2"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// PC BIOS: core.img (`i386-pc`).
    Bios,
    /// 64-bit UEFI on x86-64: an EFI application, `BOOTX64.EFI`
    /// (`x86_64-efi`).
    Uefi,
    /// UEFI on 64-bit ARM: an EFI application, `BOOTAA64.EFI`
    /// (`arm64-efi`), made by the host's `grub-mkimage` whatever the host's
    /// own architecture.
    Arm64Efi,
}

/// Modules core.img needs to read grub.cfg from an ext4 partition of an MBR
/// or GPT disk, find the root filesystem by UUID and boot Linux on a serial
/// console.
pub const BIOS_MODULES: &[&str] = &[
    "biosdisk",
    "part_msdos",
    "part_gpt",
    "ext2",
    "normal",
    "linux",
    "serial",
    "terminal",
    "configfile",
    "search",
    "search_fs_uuid",
];

/// Modules the EFI application needs for the same, plus the FAT of the
/// ESP and the firmware's framebuffer for a graphical console.
pub const UEFI_MODULES: &[&str] = &[
    "part_msdos",
    "part_gpt",
    "ext2",
    "fat",
    "normal",
    "linux",
    "serial",
    "terminal",
    "configfile",
    "search",
    "search_fs_uuid",
    "all_video",
];

impl Platform {
    /// GRUB's name of the platform, as `grub-mkimage -O` takes it.
    ///
    /// # Examples
    ///
    /// ```
    /// use grub_embed::mkimage::Platform;
    ///
    /// assert_eq!(Platform::Uefi.target(), "x86_64-efi");
    /// ```
    pub fn target(self) -> &'static str {
        match self {
            Platform::Bios => "i386-pc",
            Platform::Uefi => "x86_64-efi",
            Platform::Arm64Efi => "arm64-efi",
        }
    }

    /// Where Debian and Ubuntu install the platform's modules.
    ///
    /// # Examples
    ///
    /// ```
    /// use grub_embed::mkimage::Platform;
    ///
    /// assert_eq!(Platform::Bios.default_dir(), "/usr/lib/grub/i386-pc");
    /// ```
    pub fn default_dir(self) -> &'static str {
        match self {
            Platform::Bios => "/usr/lib/grub/i386-pc",
            Platform::Uefi => "/usr/lib/grub/x86_64-efi",
            Platform::Arm64Efi => "/usr/lib/grub/arm64-efi",
        }
    }

    /// The Debian package providing the modules.
    ///
    /// # Examples
    ///
    /// ```
    /// use grub_embed::mkimage::Platform;
    ///
    /// assert_eq!(Platform::Bios.package(), "grub-pc-bin"); // for messages: what to install
    /// ```
    pub fn package(self) -> &'static str {
        match self {
            Platform::Bios => "grub-pc-bin",
            Platform::Uefi => "grub-efi-amd64-bin",
            Platform::Arm64Efi => "grub-efi-arm64-bin",
        }
    }

    /// How to get the modules when they are missing, for messages: the
    /// package to install, and for `arm64-efi` (which an x86-64 host cannot
    /// install as its own) how to unpack Debian's arm64 package anywhere.
    ///
    /// # Examples
    ///
    /// ```
    /// use grub_embed::mkimage::Platform;
    ///
    /// assert_eq!(Platform::Uefi.how_to_get(), "install package grub-efi-amd64-bin");
    /// assert!(Platform::Arm64Efi.how_to_get().contains("apt-get download grub-efi-arm64-bin:arm64"));
    /// ```
    pub fn how_to_get(self) -> &'static str {
        match self {
            Platform::Bios => "install package grub-pc-bin",
            Platform::Uefi => "install package grub-efi-amd64-bin",
            Platform::Arm64Efi => {
                "install package grub-efi-arm64-bin on an arm64 host; on any Debian host: \
                 `dpkg --add-architecture arm64 && apt-get update && \
                 apt-get download grub-efi-arm64-bin:arm64 && \
                 dpkg-deb -x grub-efi-arm64-bin_*_arm64.deb DIR`, \
                 then give DIR/usr/lib/grub/arm64-efi as the EFI module directory \
                 (--grub-efi-dir, or boot.grub_efi_dir in a recipe)"
            }
        }
    }

    /// The modules built into the image.
    ///
    /// # Examples
    ///
    /// ```
    /// use grub_embed::mkimage::Platform;
    ///
    /// assert!(Platform::Bios.modules().contains(&"biosdisk"));
    /// assert!(Platform::Uefi.modules().contains(&"part_gpt"));
    /// ```
    pub fn modules(self) -> &'static [&'static str] {
        match self {
            Platform::Bios => BIOS_MODULES,
            Platform::Uefi | Platform::Arm64Efi => UEFI_MODULES,
        }
    }
}

/// What `grub-mkimage` builds an image from.
///
/// # Examples
///
/// ```
/// use grub_embed::mkimage::{mkimage, MkimageOptions, Platform};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/usr/lib/grub/x86_64-efi").exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// let options = MkimageOptions {
///     prefix: "(,gpt2)/boot/grub".into(),
///     memdisk: vec![("boot/grub/grub.cfg".into(), b"echo hello\n".to_vec())],
///     ..MkimageOptions::new(Platform::Uefi)
/// };
/// let efi = mkimage(&options)?;
/// assert_eq!(&efi[..2], b"MZ"); // a PE executable: BOOTX64.EFI
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct MkimageOptions {
    /// The firmware the image is for.
    pub platform: Platform,
    /// GRUB's module directory for the platform (holding `kernel.img`).
    pub grub_dir: PathBuf,
    /// Where GRUB finds its configuration and modules, e.g.
    /// `(,msdos1)/boot/grub`: an empty drive is the boot drive.
    pub prefix: String,
    /// A configuration run before the prefix is used (`grub-mkimage -c`),
    /// e.g. a `search` setting `root` and `prefix`.
    pub early_config: Option<String>,
    /// Files built into the image as a memdisk (`grub-mkimage -m`), by
    /// path inside it (e.g. `boot/grub/grub.cfg`); GRUB reads them as
    /// `(memdisk)/PATH`. Empty: no memdisk.
    pub memdisk: Vec<(String, Vec<u8>)>,
    /// `grub-mkimage` to run.
    pub program: PathBuf,
}

impl MkimageOptions {
    /// The defaults for `platform`: the host's module directory, the
    /// prefix `(,msdos1)/boot/grub`, no early configuration.
    ///
    /// # Examples
    ///
    /// ```
    /// use grub_embed::mkimage::{MkimageOptions, Platform};
    ///
    /// let options = MkimageOptions::new(Platform::Bios);
    /// assert_eq!(options.grub_dir, std::path::Path::new("/usr/lib/grub/i386-pc"));
    /// assert_eq!(options.prefix, "(,msdos1)/boot/grub");
    /// ```
    pub fn new(platform: Platform) -> Self {
        MkimageOptions {
            platform,
            grub_dir: PathBuf::from(platform.default_dir()),
            prefix: "(,msdos1)/boot/grub".into(),
            early_config: None,
            memdisk: Vec::new(),
            program: PathBuf::from("grub-mkimage"),
        }
    }
}

/// Runs `grub-mkimage -O TARGET` with the platform's modules and returns
/// the image it writes.
///
/// # Examples
///
/// ```
/// use grub_embed::mkimage::{mkimage, MkimageOptions, Platform};
///
/// # fn main() -> grub_embed::Result<()> {
/// # if !std::path::Path::new(Platform::Bios.default_dir()).exists() {
/// #     return Ok(()); // GRUB's modules are not installed on this host
/// # }
/// let mut options = MkimageOptions::new(Platform::Bios);
/// options.prefix = "(,gpt2)/boot/grub".into(); // the root is partition 2 of a GPT disk
/// let core_img = mkimage(&options)?;
/// assert!(grub_embed::bios::core_sectors(&core_img) > 1);
/// # Ok(())
/// # }
/// ```
pub fn mkimage(options: &MkimageOptions) -> Result<Vec<u8>> {
    let platform = options.platform;
    if !options.grub_dir.join("kernel.img").is_file() {
        return Err(Error::GrubMissing {
            dir: options.grub_dir.clone(),
            target: platform.target(),
            how: platform.how_to_get(),
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
    let result = run_mkimage(options, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn run_mkimage(options: &MkimageOptions, dir: &Path) -> Result<Vec<u8>> {
    let platform = options.platform;
    let out = dir.join("grub.img");
    let mut cmd = Command::new(&options.program);
    cmd.arg("-d")
        .arg(&options.grub_dir)
        .args(["-O", platform.target(), "-o"])
        .arg(&out)
        .arg("-p")
        .arg(&options.prefix);
    if let Some(config) = &options.early_config {
        let path = dir.join("early.cfg");
        std::fs::write(&path, config).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        cmd.arg("-c").arg(path);
    }
    if !options.memdisk.is_empty() {
        let path = dir.join("memdisk.tar");
        write_memdisk(&path, &options.memdisk)?;
        cmd.arg("-m").arg(path).args(["memdisk", "tar"]);
    }
    let output = cmd
        .args(platform.modules())
        .output()
        .map_err(|source| Error::MkimageNotRun {
            package: platform.package(),
            source,
        })?;
    if !output.status.success() {
        return Err(Error::MkimageFailed {
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    std::fs::read(&out).map_err(|source| Error::Io { path: out, source })
}

/// Writes `files` as the tar archive GRUB's memdisk holds.
fn write_memdisk(path: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = std::fs::File::create(path).map_err(io)?;
    let mut archive = tar::Builder::new(file);
    for (name, bytes) in files {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        archive
            .append_data(&mut header, name, bytes.as_slice())
            .map_err(io)?;
    }
    archive.into_inner().map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_module_directory_names_the_package() {
        for (platform, package) in [
            (Platform::Bios, "grub-pc-bin"),
            (Platform::Uefi, "grub-efi-amd64-bin"),
            (Platform::Arm64Efi, "grub-efi-arm64-bin:arm64"),
        ] {
            let options = MkimageOptions {
                grub_dir: PathBuf::from("/nonexistent/grub/dir"),
                ..MkimageOptions::new(platform)
            };
            let err = mkimage(&options).unwrap_err();
            assert!(err.to_string().contains(package), "{err}");
            assert!(err.to_string().contains(platform.target()), "{err}");
        }
    }

    #[test]
    fn a_missing_program_names_the_package() {
        let options = MkimageOptions::new(Platform::Bios);
        if !options.grub_dir.join("kernel.img").is_file() {
            eprintln!(
                "SKIPPED: no {} (package grub-pc-bin)",
                options.grub_dir.display()
            );
            return;
        }
        let options = MkimageOptions {
            program: PathBuf::from("/nonexistent/grub-mkimage"),
            ..options
        };
        let err = mkimage(&options).unwrap_err();
        assert!(matches!(err, Error::MkimageNotRun { .. }), "{err}");
        assert!(err.to_string().contains("grub-pc-bin"), "{err}");
    }

    #[test]
    fn builds_a_core_img_with_diskboot_first() {
        let Ok(core) = mkimage(&MkimageOptions::new(Platform::Bios)) else {
            eprintln!("SKIPPED: grub-mkimage or GRUB's i386-pc modules are missing");
            return;
        };
        let diskboot = std::fs::read(Path::new(Platform::Bios.default_dir()).join("diskboot.img"))
            .expect("diskboot.img next to kernel.img");
        // The first sector is diskboot.img with the blocklist filled in.
        assert_eq!(&core[..0x1E8], &diskboot[..0x1E8]);
        assert!(core.len() > 512);
    }

    #[test]
    fn builds_an_efi_application_with_the_early_config() {
        let early =
            "search --no-floppy --fs-uuid --set=root 0123-4567\nset prefix=($root)/boot/grub\n";
        let options = MkimageOptions {
            early_config: Some(early.into()),
            ..MkimageOptions::new(Platform::Uefi)
        };
        let Ok(efi) = mkimage(&options) else {
            eprintln!("SKIPPED: grub-mkimage or GRUB's x86_64-efi modules are missing");
            return;
        };
        // A PE32+ image for x86-64: "MZ", then at e_lfanew "PE\0\0" and
        // machine 0x8664.
        assert_eq!(&efi[..2], b"MZ");
        let pe = u32::from_le_bytes([efi[0x3C], efi[0x3D], efi[0x3E], efi[0x3F]]) as usize;
        assert_eq!(&efi[pe..pe + 4], b"PE\0\0");
        assert_eq!(u16::from_le_bytes([efi[pe + 4], efi[pe + 5]]), 0x8664);
        // The early configuration is embedded as it was given.
        assert!(efi.windows(early.len()).any(|w| w == early.as_bytes()));
        // The same input gives the same bytes.
        assert_eq!(mkimage(&options).unwrap(), efi);
    }
}
