//! The library's embedding examples (blockimg/examples) run as a user would
//! run them, and what they make is judged by the oracles: e2fsck, qemu-img
//! and a boot under QEMU to the root's init.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use blockimg_tests::qemu::{self, require_qemu_img};
use blockimg_tests::vm::{self, assert_boots, boot_disk, Firmware, GRUB_BIOS, GRUB_UEFI};
use blockimg_tests::{e2fsck_clean, example_bin, require_e2fsprogs, require_tool, sha256_file};

/// Byte offset of the root filesystem on a GPT disk with a 1 MiB BIOS boot
/// partition and a 64 MiB ESP, as the builder lays it out by default.
const GPT_ROOT_OFFSET: u64 = (1 + 1 + 64) << 20;

#[test]
fn bootable_dir_builds_a_disk_that_boots_with_the_callers_progress_display() {
    if !require_e2fsprogs() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let Some(fx) = vm::boot_fixture(d, &[GRUB_BIOS, GRUB_UEFI]) else {
        return;
    };
    let disk = d.join("disk.img");
    let out = Command::new(example_bin("bootable_dir"))
        .arg(&fx.root)
        .arg(&fx.kernel)
        .arg(&disk)
        .arg(&fx.initrd)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "bootable_dir failed: {stderr}");
    assert!(
        stderr.contains("MiB written"),
        "no progress shown: {stderr}"
    );
    assert!(
        stdout.contains(&format!("root filesystem at byte {GPT_ROOT_OFFSET}")),
        "{stdout}"
    );
    e2fsck_clean(&disk, GPT_ROOT_OFFSET);
    assert_boots(&disk, Firmware::SeaBios, &fx, &d.join("bios.log"));
}

/// Runs tar_to_vhd with the marker root as a tar on its standard input and
/// the VHD on its standard output, into `vhd`.
fn tar_to_vhd(fx: &vm::BootFixture, vhd: &Path) {
    let mut tar = Command::new("tar")
        .args(["--owner=0", "--group=0", "-cf", "-", "-C"])
        .arg(&fx.root)
        .arg(".")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let status = Command::new(example_bin("tar_to_vhd"))
        .arg(&fx.kernel)
        .arg(&fx.initrd)
        .stdin(tar.stdout.take().unwrap())
        .stdout(fs::File::create(vhd).unwrap())
        .status()
        .unwrap();
    assert!(tar.wait().unwrap().success());
    assert!(status.success(), "tar_to_vhd failed: {status}");
}

#[test]
fn tar_to_vhd_streams_a_reader_into_a_vhd_on_a_writer_that_boots() {
    if !require_e2fsprogs() || !require_qemu_img() || !require_tool("tar") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let Some(fx) = vm::boot_fixture(d, &[GRUB_BIOS, GRUB_UEFI]) else {
        return;
    };
    let vhd = d.join("disk.vhd");
    tar_to_vhd(&fx, &vhd);
    // qemu-img has no check for VHD (and probes a fixed one as raw): its
    // VHD reader must take the footer and see the 1 GiB asked for, as the
    // VHD geometry rounds it.
    let info = qemu::info(&vhd, Some("vpc"));
    assert!(info.virtual_size.abs_diff(1 << 30) < 1 << 20, "{info:?}");
    let raw = d.join("disk.raw");
    qemu::convert(&vhd, "vpc", &raw, "raw", &[]);
    e2fsck_clean(&raw, GPT_ROOT_OFFSET);
    // The example fixes its timestamp: the same snapshot gives the same bytes.
    let again = d.join("again.vhd");
    tar_to_vhd(&fx, &again);
    assert_eq!(sha256_file(&vhd), sha256_file(&again), "not reproducible");
    let console = boot_disk(&vhd, "vpc", Firmware::Ovmf, &d.join("uefi.log"));
    let want = format!("ROOT: {}", fx.marker);
    assert!(
        console.contains(&want),
        "UEFI boot of the VHD did not reach {want:?}:\n{console}"
    );
}
