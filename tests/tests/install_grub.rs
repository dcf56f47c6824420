//! `blockimg install-grub` on disks made by other tools (sfdisk, mke2fs,
//! mkfs.fat): the kernel in the root's /boot boots under SeaBIOS and OVMF,
//! the root filesystem's bytes are not changed at all, the ESP stays clean
//! for fsck.fat; what GRUB cannot read, and disks without room for GRUB,
//! are refused with the image untouched. The list of ext4 features GRUB
//! cannot read is checked against GRUB's own reader (grub-fstest).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use blockimg::grub_install::GRUB_UNREADABLE_FEATURES;
use blockimg_tests::tools::{fsck_fat, tool};
use blockimg_tests::vm::{self, BootFixture, Firmware, GRUB_BIOS, GRUB_UEFI, OVMF};
use blockimg_tests::{
    blockimg_cmd, e2fsck_clean, require_e2fsprogs, require_tool, sha256_file, RunOutput,
};

const MIB: u64 = 1 << 20;

/// Runs `cmd`, panicking with its output unless it succeeds.
fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A root tree with the fixture's marker init, and the kernel and initrd
/// in /boot under Debian's names.
fn root_with_kernel(d: &Path, fx: &BootFixture) -> PathBuf {
    let root = d.join("root-with-boot");
    run(Command::new("cp").arg("-a").arg(&fx.root).arg(&root));
    fs::create_dir_all(root.join("boot")).unwrap();
    fs::copy(&fx.kernel, root.join("boot/vmlinuz-6.1.0-test")).unwrap();
    fs::copy(&fx.initrd, root.join("boot/initrd.img-6.1.0-test")).unwrap();
    root
}

/// A disk made by other tools: an sfdisk `table` script, then mke2fs -d
/// of `root` into the partition at `root_start` MiB of `root_size` MiB
/// (`mke2fs_opts` extra), and mkfs.fat on an ESP at `esp` (start, size)
/// MiB if given.
fn foreign_disk(
    path: &Path,
    size_mib: u64,
    table: &str,
    root: &Path,
    (root_start, root_size): (u64, u64),
    mke2fs_opts: &[&str],
    esp: Option<(u64, u64)>,
) {
    let file = fs::File::create(path).unwrap();
    file.set_len(size_mib * MIB).unwrap();
    drop(file);
    let mut sfdisk = tool("sfdisk");
    sfdisk
        .arg("-q")
        .arg(path)
        .stdin(std::process::Stdio::piped());
    let mut child = sfdisk.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), table.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success(), "sfdisk failed");
    let fs_img = path.with_extension("root");
    run(tool("mke2fs")
        .args([
            "-q",
            "-F",
            "-t",
            "ext4",
            "-U",
            "5b7e6f1a-0c2d-4e3f-9a8b-1c2d3e4f5a6b",
        ])
        .args(mke2fs_opts)
        .arg("-d")
        .arg(root)
        .arg(&fs_img)
        .arg(format!("{root_size}M")));
    splice(path, &fs_img, root_start);
    if let Some((start, size)) = esp {
        let esp_img = path.with_extension("esp");
        let _ = fs::remove_file(&esp_img);
        run(tool("mkfs.fat")
            .args(["-F", "32", "-C"])
            .arg(&esp_img)
            .arg((size * 1024).to_string()));
        splice(path, &esp_img, start);
    }
}

/// Copies `part` into `disk` at `start_mib`.
fn splice(disk: &Path, part: &Path, start_mib: u64) {
    splice_at(disk, part, start_mib * MIB);
}

/// Copies `part` into `disk` at byte `offset` (a whole number of sectors).
fn splice_at(disk: &Path, part: &Path, offset: u64) {
    run(Command::new("dd")
        .arg(format!("if={}", part.display()))
        .arg(format!("of={}", disk.display()))
        .args(["bs=512", "conv=notrunc,sparse", "status=none"])
        .arg(format!("seek={}", offset / 512)));
    fs::remove_file(part).unwrap();
}

/// sha256 of `len` bytes of `disk` at `start`.
fn range_sha(disk: &Path, start: u64, len: u64) -> String {
    let part = disk.with_extension("range");
    run(Command::new("dd")
        .arg(format!("if={}", disk.display()))
        .arg(format!("of={}", part.display()))
        .args(["bs=1M", "status=none"])
        .arg(format!("skip={}", start / MIB))
        .arg(format!("count={}", len / MIB)));
    let sha = sha256_file(&part);
    fs::remove_file(&part).unwrap();
    sha
}

fn install_grub(disk: &Path, args: &[&str]) -> RunOutput {
    let mut cmd = blockimg_cmd();
    cmd.arg("install-grub").arg(disk).args(args);
    RunOutput::run(&mut cmd)
}

fn setup(d: &Path, grub: &[(&str, &str)]) -> Option<BootFixture> {
    for t in ["sfdisk", "mkfs.fat", "fsck.fat", "dd"] {
        if !require_tool(t) {
            return None;
        }
    }
    if !require_e2fsprogs() {
        return None;
    }
    vm::boot_fixture(d, grub)
}

#[test]
fn seabios_boots_an_mbr_disk_made_by_sfdisk_and_mke2fs() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(fx) = setup(d, &[GRUB_BIOS]) else {
        return;
    };
    let root = root_with_kernel(d, &fx);
    let disk = d.join("mbr.img");
    foreign_disk(
        &disk,
        96,
        "label: dos\nstart=2048, type=83\n",
        &root,
        (1, 95),
        &[],
        None,
    );
    let root_before = range_sha(&disk, MIB, 95 * MIB);

    let out = install_grub(&disk, &["--boot", "bios", "--cmdline", "panic=-1"]);
    out.assert_success();
    assert!(
        out.stdout
            .contains("menu entry \"Linux 6.1.0-test\": /boot/vmlinuz-6.1.0-test"),
        "{}",
        out.stdout
    );
    assert_eq!(
        range_sha(&disk, MIB, 95 * MIB),
        root_before,
        "install-grub changed the root filesystem"
    );
    e2fsck_clean(&disk, MIB);
    vm::assert_boots(&disk, Firmware::SeaBios, &fx, &d.join("seabios.log"));
}

#[test]
fn ovmf_and_seabios_boot_a_gpt_disk_with_an_esp_and_a_bios_boot_partition() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(fx) = setup(d, &[GRUB_BIOS, GRUB_UEFI]) else {
        return;
    };
    if !Path::new(OVMF).is_file() {
        eprintln!("SKIPPED: no {OVMF} (package ovmf)");
        return;
    }
    let root = root_with_kernel(d, &fx);
    let disk = d.join("gpt.img");
    let table = "label: gpt\n\
                 start=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649\n\
                 start=4096, size=81920, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n\
                 start=86016, size=196608, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n";
    foreign_disk(&disk, 140, table, &root, (42, 96), &[], Some((2, 40)));
    let root_before = range_sha(&disk, 42 * MIB, 96 * MIB);

    install_grub(&disk, &["--boot", "hybrid", "--cmdline", "panic=-1"]).assert_success();
    assert_eq!(range_sha(&disk, 42 * MIB, 96 * MIB), root_before);
    e2fsck_clean(&disk, 42 * MIB);
    let (code, report) = fsck_fat(&disk, 2 * MIB, 40 * MIB, &d.join("esp.img"));
    assert_eq!(code, 0, "fsck.fat -n on the ESP: {report}");
    let listing = tool("mdir")
        .arg("-i")
        .arg(format!("{}@@{}", disk.display(), 2 * MIB))
        .arg("::/EFI/BOOT")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&listing.stdout).contains("BOOTX64  EFI"),
        "{}",
        String::from_utf8_lossy(&listing.stdout)
    );
    vm::assert_boots(&disk, Firmware::Ovmf, &fx, &d.join("ovmf.log"));
    vm::assert_boots(&disk, Firmware::SeaBios, &fx, &d.join("seabios.log"));
}

#[test]
fn disks_grub_cannot_serve_are_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for t in ["sfdisk", "dd", "grub-mkimage"] {
        if !require_tool(t) {
            return;
        }
    }
    if !require_e2fsprogs() {
        return;
    }
    let root = d.join("root");
    fs::create_dir_all(root.join("boot")).unwrap();
    fs::write(root.join("boot/vmlinuz-1.0"), b"not really a kernel").unwrap();
    let no_kernel = d.join("no-kernel");
    fs::create_dir_all(no_kernel.join("boot")).unwrap();

    let refused = |disk: &Path, args: &[&str], needle: &str| {
        let before = sha256_file(disk);
        install_grub(disk, args)
            .assert_failure()
            .assert_stderr_contains(needle);
        assert_eq!(
            sha256_file(disk),
            before,
            "a refused install changed the disk"
        );
    };
    let mbr = "label: dos\nstart=2048, type=83\n";
    let gpt = "label: gpt\nstart=2048, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4\n";

    let disk = d.join("no-kernel.img");
    foreign_disk(&disk, 40, mbr, &no_kernel, (1, 39), &[], None);
    refused(&disk, &["--boot", "bios"], "no kernel in /boot");

    let disk = d.join("gpt-without-bios-boot.img");
    foreign_disk(&disk, 40, gpt, &root, (1, 38), &[], None);
    refused(&disk, &["--boot", "bios"], "BIOS boot partition");
    refused(&disk, &["--boot", "uefi"], "no EFI system partition");

    // Features GRUB cannot read, named in the refusal.
    for feature in GRUB_UNREADABLE_FEATURES {
        let disk = d.join(format!("{feature}.img"));
        foreign_disk(&disk, 40, mbr, &root, (1, 39), &["-O", feature], None);
        refused(&disk, &["--boot", "bios"], feature);
    }

    // A gap too small for core.img: the partition starts at sector 34.
    let disk = d.join("small-gap.img");
    foreign_disk(
        &disk,
        40,
        "label: dos\nstart=34, type=83\n",
        &root,
        (1, 38),
        &[],
        None,
    );
    let moved = d.join("moved.root");
    run(Command::new("dd")
        .arg(format!("if={}", disk.display()))
        .arg(format!("of={}", moved.display()))
        .args(["bs=1M", "skip=1", "count=38", "status=none"]));
    splice_at(&disk, &moved, 34 * 512);
    refused(&disk, &["--boot", "bios"], "sectors");

    // Not a raw disk: the MBR disk made fixed VHD by blockimg convert.
    let vhd = d.join("disk.vhd");
    let mut convert = blockimg_cmd();
    convert
        .args(["convert", "-q", "--format", "vhd-fixed"])
        .arg(d.join("no-kernel.img"))
        .arg(&vhd);
    RunOutput::run(&mut convert).assert_success();
    refused(&vhd, &["--boot", "bios"], "convert it to raw first");
}

/// Our list of features GRUB cannot read is what GRUB's own ext2 driver
/// (run by grub-fstest) says about filesystems made with each feature.
#[test]
fn the_features_grub_cannot_read_are_what_grub_fstest_refuses() {
    if !require_e2fsprogs() || !require_tool("grub-fstest") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tree = d.join("tree");
    fs::create_dir(&tree).unwrap();
    fs::write(tree.join("file"), b"readable\n").unwrap();
    let candidates = [
        "inline_data",
        "casefold",
        "ea_inode",
        "bigalloc",
        "metadata_csum_seed",
        "large_dir",
        "encrypt",
        "mmp",
        "orphan_file",
        "verity",
        "project",
        "quota",
        "^has_journal",
        "^metadata_csum",
        "^64bit",
    ];
    for feature in candidates {
        let img = d.join("fs.img");
        let _ = fs::remove_file(&img);
        let made = tool("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-O", feature, "-d"])
            .arg(&tree)
            .arg(&img)
            .arg("64M")
            .output()
            .unwrap();
        if !made.status.success() {
            eprintln!("note: mke2fs cannot make {feature} here; not compared");
            continue;
        }
        let grub = Command::new("grub-fstest")
            .arg(&img)
            .args(["cat", "/file"])
            .output()
            .unwrap();
        let grub_reads = String::from_utf8_lossy(&grub.stdout).contains("readable");
        let we_refuse = GRUB_UNREADABLE_FEATURES.contains(&feature);
        assert_eq!(
            grub_reads, !we_refuse,
            "{feature}: grub-fstest reads it: {grub_reads}, install-grub refuses it: {we_refuse}"
        );
    }
}
