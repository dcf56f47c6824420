//! arm64 disks built on this (x86-64) host: `mkdisk --arch arm64 --boot
//! uefi` and a recipe with `arch = "arm64"` give disks that QEMU's aarch64
//! `virt` machine (`-cpu max,pauth-impdef=on`) boots under the AAVMF UEFI firmware: GRUB's
//! arm64-efi from Debian's package as `BOOTAA64.EFI` reads grub.cfg from
//! our ext4, loads Debian's arm64 kernel and a `blockimg initramfs --arch
//! arm64` archive, whose /init mounts the root by UUID and runs the root's
//! init (an aarch64 busybox), which prints a marker read from the disk.
//! Every disk is judged by sfdisk, fsck.fat, mtools and e2fsck; the ec2
//! profile's arm64 disk carries what Graviton expects; x86-64 files given to
//! an arm64 initramfs, and BIOS for arm64, are refused.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use blockimg_tests::tools::{fsck_fat, mdir, sfdisk_verify, tool};
use blockimg_tests::vm::{arm64_kit, boot_arm64_disk, marker_root, Arm64Kit, AAVMF};
use blockimg_tests::{
    blockimg_cmd, e2fsck_clean, mkdisk, require_e2fsprogs, require_tool, sfdisk_dump, sha256_file,
    RunOutput,
};

const EPOCH: &str = "1700000000";
/// GPT partition type GUIDs as sfdisk prints them.
const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// The tools that judge a disk, and the arm64 packages; `None` after
/// saying what is missing.
fn judged_kit() -> Option<Arm64Kit> {
    if !require_e2fsprogs()
        || !["sfdisk", "fsck.fat", "mdir", "grub-mkimage"]
            .iter()
            .all(|t| require_tool(t))
    {
        return None;
    }
    arm64_kit()
}

/// [`judged_kit`], and what booting needs: qemu-system-aarch64 and AAVMF.
fn boot_kit() -> Option<Arm64Kit> {
    let kit = judged_kit()?;
    if !require_tool("qemu-system-aarch64") {
        return None;
    }
    for file in [AAVMF.0, AAVMF.1] {
        if !Path::new(file).is_file() {
            eprintln!("SKIPPED: no {file} (package qemu-efi-aarch64)");
            return None;
        }
    }
    Some(kit)
}

/// Runs `blockimg ARGS`.
fn blockimg(args: &[&std::ffi::OsStr]) -> RunOutput {
    RunOutput::run(blockimg_cmd().args(args))
}

/// `blockimg initramfs --arch arm64` for a virtio disk: its /init loads
/// `modules` of the arm64 kernel with the arm64 busybox.
fn arm64_initramfs(kit: &Arm64Kit, out: &Path, modules: &[&str]) {
    let mut cmd = blockimg_cmd();
    cmd.args(["initramfs", "--arch", "arm64", "--timestamp", EPOCH, "-o"])
        .arg(out)
        .arg("--kernel-modules")
        .arg(&kit.modules)
        .arg("--busybox")
        .arg(&kit.busybox);
    for m in modules {
        cmd.args(["--module", m]);
    }
    RunOutput::run(&mut cmd).assert_success();
}

/// Judges `img`: `sfdisk --verify` finds no problem, each ESP passes
/// `fsck.fat -n` and holds `/EFI/BOOT/BOOTAA64.EFI` (and no BOOTX64.EFI),
/// each Linux partition passes `e2fsck -fn`. Returns the root's offset.
fn judge(img: &Path) -> u64 {
    let dump = sfdisk_dump(img).unwrap_or_else(|e| panic!("sfdisk -d: {e}"));
    if let Err(e) = sfdisk_verify(img) {
        panic!("sfdisk --verify:\n{e}");
    }
    let mut root = None;
    let mut esps = 0;
    for p in &dump.partitions {
        let (offset, len) = (p.start * 512, p.size * 512);
        match p.kind.as_str() {
            "ef" | ESP => {
                esps += 1;
                let (code, output) = fsck_fat(img, offset, len, &img.with_extension("esp"));
                assert_eq!(code, 0, "fsck.fat -n on the ESP:\n{output}");
                let listing = mdir(img, offset, "/EFI/BOOT").unwrap_or_else(|e| panic!("{e}"));
                assert!(
                    listing.contains("BOOTAA64 EFI") && !listing.contains("BOOTX64"),
                    "/EFI/BOOT should hold BOOTAA64.EFI only:\n{listing}"
                );
            }
            "83" | LINUX => {
                e2fsck_clean(img, offset);
                root = Some(offset);
            }
            _ => {}
        }
    }
    assert_eq!(esps, 1, "one ESP:\n{}", dump.text);
    root.unwrap_or_else(|| panic!("no root partition:\n{}", dump.text))
}

/// Boots `disk` under AAVMF and checks that the initramfs ran and the
/// root's init printed `marker` on an aarch64 machine; returns the seconds
/// the boot took.
fn assert_boots(disk: &Path, dir: &Path, marker: &str) -> f64 {
    let log = dir.join("console.log");
    let started = Instant::now();
    let console = boot_arm64_disk(disk, dir, &log);
    let seconds = started.elapsed().as_secs_f64();
    eprintln!("aarch64 boot of {} took {seconds:.1} s", disk.display());
    for want in [
        "blockimg-init: started".to_string(),
        format!("ROOT: {marker}"),
        // The arm64 kernel, started by GRUB through its EFI stub.
        "EFI stub: Booting Linux Kernel".to_string(),
        "Booting Linux on physical CPU".to_string(),
    ] {
        assert!(
            console.contains(&want),
            "no {want:?} on the console:\n{console}"
        );
    }
    assert!(
        console.contains("console=ttyAMA0,115200n8"),
        "the kernel was not given the virt machine's ttyAMA0:\n{console}"
    );
    seconds
}

/// The issue's command: `mkdisk --arch arm64 --boot uefi --kernel ...
/// --initrd ... --size 1G`, then `install-grub --arch arm64` into it.
#[test]
fn mkdisk_arm64_boots_under_aavmf_to_the_root_init() {
    let Some(kit) = boot_kit() else { return };
    let d = tempfile::tempdir().unwrap();
    // The root as a tar archive: with an exact size and a raw output,
    // mkdisk streams it into the image in one pass.
    let (root, marker) = marker_tar(&kit, d.path());
    let initrd = d.path().join("initrd-arm64.img");
    arm64_initramfs(&kit, &initrd, &["virtio_pci", "virtio_blk", "ext4"]);
    let disk = d.path().join("disk.img");
    let run = mkdisk([
        "--arch".as_ref(),
        "arm64".as_ref(),
        "--boot".as_ref(),
        "uefi".as_ref(),
        "--grub-efi-dir".as_ref(),
        kit.grub_efi_dir.as_os_str(),
        "--kernel".as_ref(),
        kit.kernel.as_os_str(),
        "--initrd".as_ref(),
        initrd.as_os_str(),
        "--root".as_ref(),
        root.as_os_str(),
        "--cmdline".as_ref(),
        "panic=-1".as_ref(),
        "--timestamp".as_ref(),
        EPOCH.as_ref(),
        "--size".as_ref(),
        "1G".as_ref(),
        disk.as_os_str(),
    ]);
    run.assert_success();
    let root_offset = judge(&disk);
    // blockimg inspect finds the arm64 loader where the firmware does.
    let report = blockimg(&["inspect".as_ref(), disk.as_os_str()]);
    report.assert_success();
    assert!(
        report
            .stdout
            .contains("UEFI loader /EFI/BOOT/BOOTAA64.EFI on partition 1"),
        "{}",
        report.stdout
    );
    assert_boots(&disk, d.path(), &marker);

    // install-grub --arch arm64 replaces BOOTAA64.EFI and leaves the root
    // filesystem's bytes alone; BIOS is refused for arm64.
    let ext4_sum = |disk: &Path| {
        let copy = d.path().join("root.ext4");
        let out = tool("dd")
            .arg(format!("if={}", disk.display()))
            .arg(format!("of={}", copy.display()))
            .args(["bs=1M", &format!("skip={}", root_offset >> 20)])
            .output()
            .unwrap();
        assert!(out.status.success(), "dd: {out:?}");
        sha256_file(&copy)
    };
    let before = ext4_sum(&disk);
    // No --boot: uefi, the only one arm64 has.
    for (boot, ok) in [
        ("bios", false),
        ("hybrid", false),
        ("uefi", true),
        ("", true),
    ] {
        let mut args: Vec<&std::ffi::OsStr> = vec![
            "install-grub".as_ref(),
            disk.as_os_str(),
            "--arch".as_ref(),
            "arm64".as_ref(),
            "--grub-efi-dir".as_ref(),
            kit.grub_efi_dir.as_os_str(),
        ];
        if !boot.is_empty() {
            args.extend::<[&std::ffi::OsStr; 2]>(["--boot".as_ref(), boot.as_ref()]);
        }
        let run = blockimg(&args);
        if ok {
            run.assert_success();
            assert!(
                run.stdout.contains("/EFI/BOOT/BOOTAA64.EFI"),
                "{}",
                run.stdout
            );
        } else {
            run.assert_failure().assert_stderr_contains("UEFI only");
        }
    }
    judge(&disk);
    assert_eq!(ext4_sum(&disk), before, "install-grub wrote into the ext4");
}

/// A recipe that needs the arm64 packages' paths.
/// `extra` goes at the top; `boot` into `[boot]`.
fn arm64_recipe(kit: &Arm64Kit, root_tar: &Path, extra: &str, boot: &str) -> String {
    format!(
        r#"arch = "arm64"
timestamp = {EPOCH}
{extra}
[disk]
size = "512M"

[[output]]
path = "disk.img"

[root]
source = "{root}"

[boot]
{boot}
kernel = "{kernel}"
grub_efi_dir = "{grub}"
cmdline = "panic=-1"

[boot.initramfs]
kernel_modules = "{modules}"
busybox = "{busybox}"
modules = ["virtio_pci", "virtio_blk", "ext4"]
"#,
        root = root_tar.display(),
        kernel = kit.kernel.display(),
        grub = kit.grub_efi_dir.display(),
        modules = kit.modules.display(),
        busybox = kit.busybox.display(),
    )
}

/// The marker root ([`marker_root`]) as a tar archive owned by root, and
/// its marker.
fn marker_tar(kit: &Arm64Kit, dir: &Path) -> (PathBuf, String) {
    let marker = format!("arm64-marker-{}", std::process::id());
    let root = marker_root(dir, &kit.busybox, &marker);
    let tar = dir.join("root.tar");
    let out = tool("tar")
        .arg("-cf")
        .arg(&tar)
        .args(["--owner=0", "--group=0", "-C"])
        .arg(&root)
        .arg(".")
        .output()
        .unwrap();
    assert!(out.status.success(), "tar: {out:?}");
    (tar, marker)
}

/// The same disk through a recipe (`arch = "arm64"`, an initramfs built
/// by the recipe for the arm64 kernel), and the same boot.
#[test]
fn recipe_arm64_boots_under_aavmf_to_the_root_init() {
    let Some(kit) = boot_kit() else { return };
    let d = tempfile::tempdir().unwrap();
    let (tar, marker) = marker_tar(&kit, d.path());
    let recipe = d.path().join("arm64.toml");
    let text = arm64_recipe(&kit, &tar, "", "mode = \"uefi\"");
    fs::write(&recipe, text).unwrap();
    let dry = blockimg(&["build".as_ref(), recipe.as_os_str(), "--dry-run".as_ref()]);
    dry.assert_success();
    assert!(
        dry.stdout.contains("console=ttyAMA0,115200n8"),
        "{}",
        dry.stdout
    );
    assert!(
        dry.stdout.contains(", boot uefi, arm64\n"),
        "{}",
        dry.stdout
    );
    blockimg(&["build".as_ref(), recipe.as_os_str()]).assert_success();
    let disk = d.path().join("disk.img");
    judge(&disk);
    assert_boots(&disk, d.path(), &marker);
}

/// The ec2 profile with `arch = "arm64"`: a GPT disk booted by UEFI only
/// (no BIOS boot partition), Graviton's ttyS0 console on the kernel command
/// line, and nvme and ena in the initramfs though the recipe lists neither.
#[test]
fn ec2_profile_on_arm64_is_what_graviton_expects() {
    let Some(kit) = judged_kit() else { return };
    if !require_tool("cpio") {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let (tar, _) = marker_tar(&kit, d.path());
    let recipe = d.path().join("ec2-arm64.toml");
    // No boot.mode: the profile's, UEFI on arm64. Busybox and an aarch64
    // executable (libc.so.6, with its loader) from the packages' tree as a
    // sysroot.
    let busybox = format!("busybox = \"{}\"", kit.busybox.display());
    let sysroot = format!(
        "sysroot = \"{}\"\nbusybox = \"/bin/busybox\"\nbinaries = [\"/lib/aarch64-linux-gnu/libc.so.6\"]",
        kit.root.display()
    );
    let text = arm64_recipe(&kit, &tar, "profile = \"ec2\"\nhostname = \"graviton\"", "")
        .replace(&busybox, &sysroot);
    assert!(text.contains("sysroot"), "{text}");
    fs::write(&recipe, text).unwrap();
    blockimg(&["build".as_ref(), recipe.as_os_str()]).assert_success();
    let disk = d.path().join("disk.img");
    let dump = sfdisk_dump(&disk).unwrap();
    assert_eq!(dump.label, "gpt", "{}", dump.text);
    let kinds: Vec<&str> = dump.partitions.iter().map(|p| p.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [ESP, LINUX],
        "UEFI only: no BIOS boot partition\n{}",
        dump.text
    );
    judge(&disk);

    let spec = format!("{}:2", disk.display());
    let cfg = blockimg(&[
        "cat".as_ref(),
        spec.as_ref(),
        "/boot/grub/grub.cfg".as_ref(),
    ]);
    cfg.assert_success();
    assert!(
        cfg.stdout.contains("console=tty0 console=ttyS0,115200") && !cfg.stdout.contains("ttyAMA0"),
        "{}",
        cfg.stdout
    );
    assert!(!cfg.stdout.contains("serial --unit"), "{}", cfg.stdout);

    let initrd = d.path().join("initrd.img");
    let mut cmd = blockimg_cmd();
    cmd.args(["get", &spec, "/boot/initrd.img"]).arg(&initrd);
    RunOutput::run(&mut cmd).assert_success();
    let gunzip = tool("gzip").args(["-dc"]).arg(&initrd).output().unwrap();
    assert!(gunzip.status.success());
    let cpio = d.path().join("initrd.cpio");
    fs::write(&cpio, &gunzip.stdout).unwrap();
    let list = tool("cpio")
        .args(["-t", "--quiet"])
        .stdin(fs::File::open(&cpio).unwrap())
        .output()
        .unwrap();
    let names = String::from_utf8_lossy(&list.stdout);
    for module in [
        "/nvme.ko",
        "/ena.ko",
        "/virtio_blk.ko",
        "/ext4.ko",
        "lib/ld-linux-aarch64.so.1",
        "lib/aarch64-linux-gnu/libc.so.6",
        "bin/busybox",
    ] {
        assert!(
            names.lines().any(|l| l.ends_with(module)),
            "no {module} in the initramfs:\n{names}"
        );
    }
}

/// Asserts `run` failed naming every `needle`, and left no `output`.
fn assert_refused(run: &RunOutput, output: &Path, needles: &[&str]) {
    run.assert_failure();
    for needle in needles {
        run.assert_stderr_contains(needle);
    }
    assert!(!output.exists(), "{} was left behind", output.display());
}

/// `blockimg mkdisk ARGS OUT`.
fn mkdisk_to(args: &[&str], out: &Path) -> RunOutput {
    let mut all: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_ref()).collect();
    all.push(out.as_os_str());
    mkdisk(all)
}

/// BIOS and hybrid are refused for arm64 before anything is read or
/// written; a missing arm64-efi module directory says how to get one.
#[test]
fn arm64_refusals_name_the_way_out_and_leave_nothing() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("disk.img");
    for boot in ["bios", "hybrid"] {
        let run = mkdisk_to(&["--arch", "arm64", "--boot", boot, "--size", "128M"], &out);
        assert_refused(&run, &out, &["arm64", "UEFI only", boot]);
    }
    let run = mkdisk_to(
        &[
            "--arch",
            "arm64",
            "--boot",
            "uefi",
            "--grub-efi-dir",
            "/nonexistent/arm64-efi",
            "--size",
            "128M",
        ],
        &out,
    );
    assert_refused(
        &run,
        &out,
        &[
            "/nonexistent/arm64-efi",
            "arm64-efi",
            "dpkg --add-architecture arm64",
            "apt-get download grub-efi-arm64-bin:arm64",
            "dpkg-deb -x",
        ],
    );
    let run = mkdisk_to(&["--arch", "riscv64", "--size", "128M"], &out);
    assert_refused(&run, &out, &["riscv64", "arm64"]);
}

/// `blockimg initramfs --arch arm64 ARGS` writing `out`.
fn arm64_initramfs_run(out: &Path, args: &[&std::ffi::OsStr]) -> RunOutput {
    let mut cmd = blockimg_cmd();
    cmd.args(["initramfs", "--arch", "arm64", "--compress", "none", "-o"])
        .arg(out)
        .args(args);
    RunOutput::run(&mut cmd)
}

/// An arm64 initramfs takes aarch64 executables with their aarch64
/// interpreter and libraries (from a sysroot's multiarch directories, or a
/// library path first) and refuses x86-64 executables and modules, naming
/// both architectures.
#[test]
fn arm64_initramfs_takes_aarch64_files_and_refuses_x86_64_ones() {
    let d = tempfile::tempdir().unwrap();
    let init = d.path().join("init.sh");
    fs::write(&init, "#!/bin/sh\n").unwrap();
    let out = d.path().join("initrd.cpio");

    // The host's x86-64 executable, and the host's x86-64 modules.
    if Path::new("/bin/true").exists() {
        let run = arm64_initramfs_run(
            &out,
            &[
                "--bin".as_ref(),
                "/bin/true".as_ref(),
                "--init".as_ref(),
                init.as_os_str(),
            ],
        );
        assert_refused(&run, &out, &["/bin/true", "x86_64", "aarch64"]);
    }
    let host_modules = fs::read_dir("/lib/modules")
        .ok()
        .and_then(|mut e| e.next())
        .and_then(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join("modules.dep").is_file());
    if let Some(modules) = host_modules.filter(|_| cfg!(target_arch = "x86_64")) {
        let run = arm64_initramfs_run(
            &out,
            &[
                "--kernel-modules".as_ref(),
                modules.as_os_str(),
                "--module".as_ref(),
                "ext4".as_ref(),
                "--init".as_ref(),
                init.as_os_str(),
            ],
        );
        assert_refused(&run, &out, &[".ko", "x86_64", "aarch64"]);
    } else {
        eprintln!("NOTE: no x86-64 modules on this host: the module refusal is not checked");
    }

    let Some(kit) = arm64_kit() else { return };
    if !require_tool("cpio") {
        return;
    }
    let libc = "/lib/aarch64-linux-gnu/libc.so.6";
    if !kit.root.join(&libc[1..]).is_file() {
        eprintln!("SKIPPED: no {libc} in {} (libc6:arm64)", kit.root.display());
        return;
    }
    let list = |out: &Path| -> Vec<String> {
        let o = tool("cpio")
            .args(["-t", "--quiet"])
            .stdin(fs::File::open(out).unwrap())
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .lines()
            .map(String::from)
            .collect()
    };
    // libm.so.6 (an aarch64 shared object) needs libc.so.6 and the loader,
    // found in the sysroot's aarch64 multiarch directory; libc.so.6 is an
    // executable whose interpreter is /lib/ld-linux-aarch64.so.1 (a link).
    let run = arm64_initramfs_run(
        &out,
        &[
            "--sysroot".as_ref(),
            kit.root.as_os_str(),
            "--bin".as_ref(),
            libc.as_ref(),
            "--bin".as_ref(),
            "/lib/aarch64-linux-gnu/libm.so.6".as_ref(),
            "--init".as_ref(),
            init.as_os_str(),
        ],
    );
    run.assert_success();
    let names = list(&out);
    for want in [
        "lib/ld-linux-aarch64.so.1",
        "lib/aarch64-linux-gnu/ld-linux-aarch64.so.1",
        "lib/aarch64-linux-gnu/libc.so.6",
        "lib/aarch64-linux-gnu/libm.so.6",
    ] {
        assert!(names.iter().any(|n| n == want), "no {want} in {names:?}");
    }

    // A library path is searched first: a private libc in /opt/lib of
    // another sysroot wins over the multiarch one.
    let sysroot = d.path().join("sysroot");
    for dir in ["opt/lib", "opt/bin", "lib/aarch64-linux-gnu"] {
        fs::create_dir_all(sysroot.join(dir)).unwrap();
    }
    let from = |p: &str| kit.root.join(p);
    fs::copy(
        from("lib/aarch64-linux-gnu/libc.so.6"),
        sysroot.join("opt/lib/libc.so.6"),
    )
    .unwrap();
    fs::copy(
        from("lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"),
        sysroot.join("lib/aarch64-linux-gnu/ld-linux-aarch64.so.1"),
    )
    .unwrap();
    std::os::unix::fs::symlink(
        "aarch64-linux-gnu/ld-linux-aarch64.so.1",
        sysroot.join("lib/ld-linux-aarch64.so.1"),
    )
    .unwrap();
    fs::copy(
        from("lib/aarch64-linux-gnu/libm.so.6"),
        sysroot.join("opt/bin/app"),
    )
    .unwrap();
    fs::remove_file(&out).unwrap();
    let run = arm64_initramfs_run(
        &out,
        &[
            "--sysroot".as_ref(),
            sysroot.as_os_str(),
            "--library-path".as_ref(),
            "/opt/lib".as_ref(),
            "--bin".as_ref(),
            "/opt/bin/app".as_ref(),
            "--init".as_ref(),
            init.as_os_str(),
        ],
    );
    run.assert_success();
    let names = list(&out);
    assert!(names.iter().any(|n| n == "opt/lib/libc.so.6"), "{names:?}");
    assert!(
        !names.iter().any(|n| n == "lib/aarch64-linux-gnu/libc.so.6"),
        "{names:?}"
    );
}
