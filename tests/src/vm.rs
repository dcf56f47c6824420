//! Booting under QEMU (TCG): the Debian kernel the tests boot, and a runner
//! that captures the serial console.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

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
    fs::write(
        root.join("sbin/init"),
        "#!/bin/busybox sh\necho \"ROOT: $(/bin/busybox cat /marker)\"\n/bin/busybox poweroff -f\n",
    )
    .expect("init");
    fs::set_permissions(root.join("sbin/init"), fs::Permissions::from_mode(0o755)).expect("chmod");
    root
}

/// The newest Debian kernel in /boot and its modules directory.
fn debian_kernel() -> Option<(PathBuf, PathBuf)> {
    let mut kernels: Vec<PathBuf> = fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-"))
        })
        .collect();
    kernels.sort();
    let kernel = kernels.pop()?;
    let version = kernel.file_name()?.to_string_lossy()["vmlinuz-".len()..].to_owned();
    let modules = Path::new("/lib/modules").join(version);
    modules
        .join("modules.dep")
        .is_file()
        .then_some((kernel, modules))
}

/// Runs `qemu-system-x86_64 -m 512 -nographic -no-reboot ARGS` and returns
/// what the serial console printed by the time the machine stopped (power
/// off, or a panic with `-no-reboot`) or three minutes passed.
pub fn run_qemu(args: &[OsString], log: &Path) -> String {
    let qemu = find_tool("qemu-system-x86_64").expect("qemu-system-x86_64");
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
