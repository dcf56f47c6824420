//! Booting under QEMU (TCG): the Debian kernel the tests boot, and a runner
//! that captures the serial console.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::bin::blockimg_cmd;
use crate::tools::{find_tool, require_tool};

/// How long a boot may take before the machine is killed.
const BOOT_LIMIT: Duration = Duration::from_secs(180);

/// What a boot test needs from the host.
pub struct BootKit {
    /// Debian's kernel image.
    pub kernel: PathBuf,
    /// Its modules directory (`/lib/modules/VERSION`).
    pub modules: PathBuf,
    /// A static busybox.
    pub busybox: PathBuf,
}

/// QEMU, a readable Debian kernel with its modules, and a static busybox;
/// `None` after printing which is missing.
pub fn boot_kit() -> Option<BootKit> {
    if !require_tool("qemu-system-x86_64") {
        return None;
    }
    let Some((kernel, modules)) = debian_kernel() else {
        eprintln!("SKIPPED: no /boot/vmlinuz-* with its modules (package linux-image-amd64)");
        return None;
    };
    if fs::File::open(&kernel).is_err() {
        eprintln!("SKIPPED: {} is readable by root only", kernel.display());
        return None;
    }
    let busybox = PathBuf::from("/bin/busybox");
    if !busybox.exists() {
        eprintln!("SKIPPED: no /bin/busybox (package busybox-static)");
        return None;
    }
    Some(BootKit {
        kernel,
        modules,
        busybox,
    })
}

/// Writes `dir/root`: a tree whose `/sbin/init` prints `ROOT: MARKER`, read
/// from `/marker`, and powers off. Returns the tree's path.
pub fn marker_root(dir: &Path, busybox: &Path, marker: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let root = dir.join("root");
    for sub in ["sbin", "bin", "dev", "proc", "sys"] {
        fs::create_dir_all(root.join(sub)).expect("root tree");
    }
    fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
    fs::write(root.join("marker"), format!("{marker}\n")).expect("marker");
    fs::write(root.join("sbin/init"), MARKER_INIT).expect("init");
    fs::set_permissions(root.join("sbin/init"), fs::Permissions::from_mode(0o755)).expect("chmod");
    root
}

/// The init of [`marker_root`]: brings up the network first when the root
/// has an `/etc/network/interfaces` (with busybox `ifup`, `/run` on a
/// tmpfs for its state), printing `NET: ` and the addresses it got.
const MARKER_INIT: &str = r#"#!/bin/busybox sh
export PATH=/sbin:/usr/sbin:/bin:/usr/bin
if [ -f /etc/network/interfaces ]; then
    mount -t tmpfs tmpfs /run
    ifup -a
    echo "NET: $(ip -4 -o addr show | grep -v ' lo ' | tr -s ' ')"
fi
echo "ROOT: $(/bin/busybox cat /marker)"
/bin/busybox poweroff -f
"#;

/// GRUB's i386-pc modules and the package that installs them.
pub const GRUB_BIOS: (&str, &str) = ("/usr/lib/grub/i386-pc", "grub-pc-bin");
/// GRUB's x86_64-efi modules and the package that installs them.
pub const GRUB_UEFI: (&str, &str) = ("/usr/lib/grub/x86_64-efi", "grub-efi-amd64-bin");
/// The OVMF build that runs as QEMU's `-bios`.
pub const OVMF: &str = "/usr/share/ovmf/OVMF.fd";

/// What a boot test needs: a root tree whose init prints a marker, an
/// initramfs that switches to it, and the kernel to boot.
pub struct BootFixture {
    /// The root tree (see [`marker_root`]).
    pub root: PathBuf,
    /// A `blockimg initramfs` archive that mounts `root=UUID=` from a
    /// virtio disk.
    pub initrd: PathBuf,
    /// The kernel.
    pub kernel: PathBuf,
    /// What the root's init prints after `ROOT: `.
    pub marker: String,
}

/// True when grub-mkimage and the module directories `grub` (directory,
/// package) are installed; otherwise prints `SKIPPED: why`.
pub fn require_grub(grub: &[(&str, &str)]) -> bool {
    if !require_tool("grub-mkimage") {
        return false;
    }
    for (dir, package) in grub {
        if !Path::new(dir).join("kernel.img").is_file() {
            eprintln!("SKIPPED: no {dir} (package {package})");
            return false;
        }
    }
    true
}

/// Builds the boot fixture in `d` for disks booted by GRUB from the module
/// directories `grub` (directory, package), or says why it cannot (and
/// returns None).
pub fn boot_fixture(d: &Path, grub: &[(&str, &str)]) -> Option<BootFixture> {
    if !require_grub(grub) {
        return None;
    }
    let BootKit {
        kernel,
        modules,
        busybox,
    } = boot_kit()?;
    let marker = format!("boot-marker-{}", std::process::id());
    let root = marker_root(d, &busybox, &marker);

    // The initramfs: its /init finds root=UUID= and switches to the disk.
    let initrd = d.join("initrd.img");
    let mut cmd = blockimg_cmd();
    cmd.arg("initramfs")
        .arg("-o")
        .arg(&initrd)
        .arg("--kernel-modules")
        .arg(&modules);
    for m in ["virtio_pci", "virtio_blk", "ext4"] {
        cmd.args(["--module", m]);
    }
    let out = cmd.output().expect("run blockimg initramfs");
    assert!(
        out.status.success(),
        "blockimg initramfs failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(BootFixture {
        root,
        initrd,
        kernel,
        marker,
    })
}

/// The firmware a disk is booted with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firmware {
    /// QEMU's default BIOS.
    SeaBios,
    /// UEFI: OVMF as `-bios` ([`OVMF`], package ovmf).
    Ovmf,
}

/// Boots `disk` (in QEMU's `format`) as a virtio disk with no `-kernel`
/// under `firmware` and returns what the serial console printed.
pub fn boot_disk(disk: &Path, format: &str, firmware: Firmware, log: &Path) -> String {
    let mut args: Vec<OsString> = Vec::new();
    if firmware == Firmware::Ovmf {
        args.extend(["-bios".into(), OVMF.into()]);
    }
    let drive = format!(
        "file={},format={format},if=virtio,snapshot=on",
        disk.display()
    );
    args.extend(["-drive".into(), drive.into()]);
    // A virtio NIC on QEMU's user network, whose DHCP server leases
    // 10.0.2.15, for roots that bring up their network.
    args.extend(["-nic".into(), "user,model=virtio-net-pci".into()]);
    run_qemu(&args, log)
}

/// The newest Debian kernel in /boot and its modules directory.
fn debian_kernel() -> Option<(PathBuf, PathBuf)> {
    let (kernel, version) = newest_kernel(Path::new("/boot"))?;
    let modules = Path::new("/lib/modules").join(version);
    modules
        .join("modules.dep")
        .is_file()
        .then_some((kernel, modules))
}

/// The newest `vmlinuz-VERSION` in `boot`, with its version.
fn newest_kernel(boot: &Path) -> Option<(PathBuf, String)> {
    let kernel = fs::read_dir(boot)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .max()?;
    let version = kernel.file_name()?.to_string_lossy()["vmlinuz-".len()..].to_owned();
    Some((kernel, version))
}

/// Runs `qemu-system-x86_64 -m 512 -nographic -no-reboot ARGS` and returns
/// what the serial console printed by the time the machine stopped (power
/// off, or a panic with `-no-reboot`) or three minutes passed.
pub fn run_qemu(args: &[OsString], log: &Path) -> String {
    run_qemu_program("qemu-system-x86_64", args, log)
}

/// [`run_qemu`] with another QEMU system emulator.
fn run_qemu_program(program: &str, args: &[OsString], log: &Path) -> String {
    let qemu = find_tool(program).unwrap_or_else(|| panic!("{program} is not installed"));
    let mut child = Command::new(qemu)
        .args(["-m", "512", "-nographic", "-no-reboot"])
        .args(args)
        .stdin(Stdio::null())
        .stdout(fs::File::create(log).expect("console log"))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start qemu");
    let started = Instant::now();
    loop {
        if child.try_wait().expect("wait for qemu").is_some() {
            break;
        }
        if started.elapsed() > BOOT_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    String::from_utf8_lossy(&fs::read(log).unwrap_or_default()).into_owned()
}

/// Boots the raw `disk` under `firmware` (console in `log`) and checks that
/// the root's init ran: the initramfs started and the root's marker was
/// printed.
pub fn assert_boots(disk: &Path, firmware: Firmware, fx: &BootFixture, log: &Path) {
    let started = std::time::Instant::now();
    let console = boot_disk(disk, "raw", firmware, log);
    eprintln!(
        "{firmware:?} boot of {} took {:.1} s",
        disk.display(),
        started.elapsed().as_secs_f64()
    );
    for want in [
        "blockimg-init: started".to_string(),
        format!("ROOT: {}", fx.marker),
    ] {
        assert!(
            console.contains(&want),
            "{firmware:?}: no {want:?} on the console:\n{console}"
        );
    }
}

/// AAVMF, QEMU's UEFI firmware for aarch64 (package qemu-efi-aarch64): the
/// code, read-only, and the template of its variable store.
pub const AAVMF: (&str, &str) = (
    "/usr/share/AAVMF/AAVMF_CODE.fd",
    "/usr/share/AAVMF/AAVMF_VARS.fd",
);

/// Debian's arm64 packages unpacked in one directory (scripts/test.sh
/// makes it): GRUB's arm64-efi modules, a static busybox, a kernel with its
/// modules (modules.dep made by depmod) and libc.
pub struct Arm64Kit {
    /// The directory the packages are unpacked in.
    pub root: PathBuf,
    /// The arm64 kernel (`boot/vmlinuz-VERSION`).
    pub kernel: PathBuf,
    /// Its modules directory.
    pub modules: PathBuf,
    /// busybox-static:arm64's busybox.
    pub busybox: PathBuf,
    /// GRUB's arm64-efi modules.
    pub grub_efi_dir: PathBuf,
}

/// Where the arm64 packages are: `BLOCKIMG_ARM64_ROOT`, else `arm64/root`
/// in the target directory of the running test executable.
fn arm64_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("BLOCKIMG_ARM64_ROOT") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("path of the test executable");
    // TARGET/<profile>/deps/<test executable>
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => exe
            .ancestors()
            .nth(3)
            .map(Path::to_path_buf)
            .unwrap_or_default(),
    };
    target.join("arm64/root")
}

/// The arm64 packages, or `None` after saying what is missing.
pub fn arm64_kit() -> Option<Arm64Kit> {
    let root = arm64_root();
    let how = "scripts/test.sh downloads them (apt-get download grub-efi-arm64-bin:arm64 \
               busybox-static:arm64 libc6:arm64 linux-image-6.1.0-*-arm64:arm64, dpkg-deb -x, depmod)";
    let Some((kernel, version)) = newest_kernel(&root.join("boot")) else {
        eprintln!("SKIPPED: no arm64 kernel in {}/boot; {how}", root.display());
        return None;
    };
    let kit = Arm64Kit {
        modules: root.join("lib/modules").join(version),
        busybox: root.join("bin/busybox"),
        grub_efi_dir: root.join("usr/lib/grub/arm64-efi"),
        kernel,
        root,
    };
    for needed in [
        kit.modules.join("modules.dep"),
        kit.busybox.clone(),
        kit.grub_efi_dir.join("kernel.img"),
    ] {
        if !needed.is_file() {
            eprintln!("SKIPPED: no {}; {how}", needed.display());
            return None;
        }
    }
    Some(kit)
}

/// Boots the raw `disk` as a virtio disk under `qemu-system-aarch64 -M virt
/// -cpu max,pauth-impdef=on` with the AAVMF firmware (its variable store a copy in
/// `scratch`) and returns what the serial console (the virt machine's
/// PL011, ttyAMA0) printed.
pub fn boot_arm64_disk(disk: &Path, scratch: &Path, log: &Path) -> String {
    let vars = scratch.join("AAVMF_VARS.fd");
    fs::copy(AAVMF.1, &vars).expect("copy AAVMF_VARS.fd");
    // `pauth-impdef=on`: pointer authentication with QEMU's own cheap
    // hash instead of the architected QARMA; the same `max` CPU otherwise,
    // and boots take half the time under TCG.
    let mut args: Vec<OsString> = ["-M", "virt", "-cpu", "max,pauth-impdef=on"]
        .iter()
        .map(OsString::from)
        .collect();
    let code = format!("if=pflash,format=raw,readonly=on,file={}", AAVMF.0);
    let vars = format!("if=pflash,format=raw,file={}", vars.display());
    let drive = format!("file={},format=raw,if=virtio,snapshot=on", disk.display());
    for drive in [code, vars, drive] {
        args.extend(["-drive".into(), drive.into()]);
    }
    run_qemu_program("qemu-system-aarch64", &args, log)
}
