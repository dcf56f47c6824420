//! The library examples run: `tar_to_vhd` turns a tar snapshot into a
//! bootable VHD whose disk qemu-img reads, sfdisk verifies and e2fsck finds
//! clean.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The compiled example `name` (cargo test builds a package's examples).
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name)
}

fn have(tool: &str) -> bool {
    let found = ["/usr/bin", "/usr/sbin", "/sbin", "/bin"]
        .iter()
        .any(|d| Path::new(d).join(tool).exists());
    if !found {
        eprintln!("SKIPPED: {tool} is not installed");
    }
    found
}

#[test]
fn tar_to_vhd_makes_a_disk_the_oracles_accept() {
    let grub = ["i386-pc", "x86_64-efi"].iter().all(|p| {
        Path::new("/usr/lib/grub")
            .join(p)
            .join("kernel.img")
            .exists()
    });
    if !["grub-mkimage", "qemu-img", "sfdisk", "e2fsck", "tar"]
        .iter()
        .all(|t| have(t))
        || !grub
    {
        eprintln!("SKIPPED: needs GRUB for i386-pc and x86_64-efi, qemu-img, sfdisk, e2fsck, tar");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/hostname"), "example\n").unwrap();
    let tar = dir.path().join("snapshot.tar");
    let status = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&root)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let kernel = dir.path().join("vmlinuz");
    std::fs::write(&kernel, b"a kernel").unwrap();
    let vhd = dir.path().join("disk.vhd");
    let bin = example("tar_to_vhd");
    let out = Command::new(&bin)
        .arg(&tar)
        .arg(&kernel)
        .arg(&vhd)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}: {}",
        bin.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = dir.path().join("disk.img");
    let convert = Command::new("qemu-img")
        .args(["convert", "-f", "vpc", "-O", "raw"])
        .arg(&vhd)
        .arg(&raw)
        .output()
        .unwrap();
    assert!(
        convert.status.success(),
        "{}",
        String::from_utf8_lossy(&convert.stderr)
    );
    let verify = Command::new("sfdisk")
        .arg("--verify")
        .arg(&raw)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&verify.stdout);
    assert!(text.contains("No errors detected"), "{text}");
    // BIOS boot (1 MiB), ESP (64 MiB), root at 66 MiB.
    let fsck = Command::new("e2fsck")
        .arg("-fn")
        .arg(format!("{}?offset={}", raw.display(), 66u64 << 20))
        .output()
        .unwrap();
    assert!(
        fsck.status.success(),
        "{}",
        String::from_utf8_lossy(&fsck.stdout)
    );
}
