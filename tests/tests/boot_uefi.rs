//! `blockimg mkdisk --boot uefi|hybrid` and `--table gpt`: OVMF and SeaBIOS
//! boot the disks with no `-kernel` (GRUB from the ESP or the BIOS boot
//! partition reads grub.cfg from our ext4, loads a Debian kernel and a
//! blockimg initramfs, which mounts the root by UUID and runs an init that
//! prints a marker read from the disk); every disk is judged by sfdisk,
//! sgdisk, fsck.fat, mtools and e2fsck.

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::process::Command;

use blockimg_tests::qemu::{self, require_qemu_img};
use blockimg_tests::tools::{fsck_fat, mdir, sfdisk_verify, tool};
use blockimg_tests::vm::{self, BootFixture, Firmware, GRUB_BIOS, GRUB_UEFI, OVMF};
use blockimg_tests::{
    blockimg_cmd, e2fsck_clean, find_tool, mkdisk, require_e2fsprogs, require_tool, sfdisk_dump,
    sha256_file, RunOutput,
};

const UUID: &str = "3f0c9a57-2b1e-4d6a-8c3f-5e7d9b1a2c4e";
const EPOCH: &str = "1700000000";
/// GPT partition type GUIDs as sfdisk prints them.
const BIOS_BOOT: &str = "21686148-6449-6E6F-744E-656564454649";
const ESP: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

/// `mkdisk` arguments for a reproducible disk of `size` with `args`, the
/// fixture's root, kernel and initrd when there is a fixture, and `out`.
fn mkdisk_args(size: &str, args: &[&str], fx: Option<&BootFixture>, out: &Path) -> Vec<OsString> {
    let mut all: Vec<OsString> = ["--uuid", UUID, "--timestamp", EPOCH, "--size", size]
        .iter()
        .chain(args)
        .map(OsString::from)
        .collect();
    if let Some(fx) = fx {
        for (flag, value) in [
            ("--root", &fx.root),
            ("--kernel", &fx.kernel),
            ("--initrd", &fx.initrd),
        ] {
            all.push(flag.into());
            all.push(value.into());
        }
        all.extend(["--cmdline".into(), "panic=-1".into()]);
    }
    all.push(out.into());
    all
}

/// What a partition of the expected table is: sfdisk's type and the GPT
/// name (empty on an MBR disk).
struct Expect {
    kind: &'static str,
    name: &'static str,
    start: u64,
}

/// Judges `img` with tools nobody here wrote: `sfdisk -d` shows `label`
/// and the partitions of `expect` (in order, ending at the disk's end or
/// its backup GPT), `sfdisk --verify` and `sgdisk -v` find no problem,
/// `fsck.fat -n` finds the ESP clean and `mdir` lists BOOTX64.EFI in it,
/// and `e2fsck -fn` finds the root clean.
fn judge(img: &Path, label: &str, expect: &[Expect]) {
    let dump = sfdisk_dump(img).unwrap_or_else(|e| panic!("sfdisk -d: {e}"));
    assert_eq!(dump.label, label, "{}", dump.text);
    let found: Vec<(&str, &str, u64)> = dump
        .partitions
        .iter()
        .map(|p| (p.kind.as_str(), p.name.as_str(), p.start))
        .collect();
    let wanted: Vec<(&str, &str, u64)> = expect.iter().map(|e| (e.kind, e.name, e.start)).collect();
    assert_eq!(found, wanted, "{}", dump.text);
    let disk_sectors = fs::metadata(img).unwrap().len() / 512;
    let last = dump.partitions.last().unwrap();
    let backup = if label == "gpt" { 33 } else { 0 };
    assert_eq!(
        last.start + last.size,
        disk_sectors - backup,
        "the root fills the disk:\n{}",
        dump.text
    );
    if let Err(e) = sfdisk_verify(img) {
        panic!("sfdisk --verify:\n{e}");
    }
    if label == "gpt" && find_tool("sgdisk").is_some() {
        let out = tool("sgdisk").arg("-v").arg(img).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("No problems found"),
            "sgdisk -v:\n{text}"
        );
    } else if label == "gpt" {
        eprintln!("SKIPPED part: no sgdisk (package gdisk)");
    }
    for p in &dump.partitions {
        let offset = p.start * 512;
        let len = p.size * 512;
        match p.kind.as_str() {
            "ef" | ESP => {
                let scratch = img.with_extension("esp");
                let (code, output) = fsck_fat(img, offset, len, &scratch);
                assert_eq!(code, 0, "fsck.fat -n on the ESP:\n{output}");
                let listing =
                    mdir(img, offset, "/EFI/BOOT").unwrap_or_else(|e| panic!("mdir: {e}"));
                assert!(
                    listing.contains("BOOTX64  EFI"),
                    "no BOOTX64.EFI in /EFI/BOOT:\n{listing}"
                );
            }
            "83" | LINUX => e2fsck_clean(img, offset),
            _ => {}
        }
    }
}

/// The layout of a hybrid GPT disk: BIOS boot partition, ESP, root.
fn hybrid_gpt() -> [Expect; 3] {
    [
        Expect {
            kind: BIOS_BOOT,
            name: "bios-boot",
            start: 2048,
        },
        Expect {
            kind: ESP,
            name: "esp",
            start: 4096,
        },
        Expect {
            kind: LINUX,
            name: "root",
            start: 4096 + 64 * 2048,
        },
    ]
}

/// The tools judging a disk, and the fixture for booting it; None after
/// saying what is missing.
fn boot_setup(d: &Path, grub: &[(&str, &str)], firmware: Firmware) -> Option<BootFixture> {
    for t in ["sfdisk", "fsck.fat", "mdir"] {
        if !require_tool(t) {
            return None;
        }
    }
    if !require_e2fsprogs() {
        return None;
    }
    if firmware == Firmware::Ovmf && !Path::new(OVMF).is_file() {
        eprintln!("SKIPPED: no {OVMF} (package ovmf)");
        return None;
    }
    vm::boot_fixture(d, grub)
}

#[test]
fn ovmf_boots_uefi_from_an_esp_on_an_mbr_disk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(fx) = boot_setup(d, &[GRUB_UEFI], Firmware::Ovmf) else {
        return;
    };
    let disk = d.join("uefi-mbr.img");
    let made = mkdisk(mkdisk_args("256M", &["--boot", "uefi"], Some(&fx), &disk));
    made.assert_success();
    for line in ["partition 1: EFI system", "partition 2: Linux root"] {
        assert!(made.stdout.contains(line), "{}", made.stdout);
    }
    judge(
        &disk,
        "dos",
        &[
            Expect {
                kind: "ef",
                name: "",
                start: 2048,
            },
            Expect {
                kind: "83",
                name: "",
                start: 2048 + 64 * 2048,
            },
        ],
    );
    let dump = sfdisk_dump(&disk).unwrap();
    assert!(!dump.partitions[0].bootable && dump.partitions[1].bootable);
    vm::assert_boots(&disk, Firmware::Ovmf, &fx, &d.join("ovmf.log"));
}

#[test]
fn ovmf_boots_a_hybrid_gpt_disk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(fx) = boot_setup(d, &[GRUB_BIOS, GRUB_UEFI], Firmware::Ovmf) else {
        return;
    };
    // The root comes as a gzip tar snapshot on a pipe, read once with its
    // data streamed into the disk, as in the snapshot-to-EC2 flow.
    let snapshot = d.join("root.tgz");
    let tar = Command::new("tar")
        .arg("czf")
        .arg(&snapshot)
        .arg("-C")
        .arg(&fx.root)
        .arg(".")
        .status()
        .unwrap();
    assert!(tar.success(), "tar of the boot root failed");
    let disk = d.join("hybrid.img");
    let args = ["--table", "gpt", "--boot", "hybrid"];
    let mut words = mkdisk_args("256M", &args, Some(&fx), &disk);
    let root = words.iter().position(|w| w == "--root").unwrap() + 1;
    words[root] = "-".into();
    let mut cmd = blockimg_cmd();
    cmd.arg("mkdisk").args(&words);
    RunOutput::run_with_input(&mut cmd, fs::File::open(&snapshot).unwrap()).assert_success();
    judge(&disk, "gpt", &hybrid_gpt());
    vm::assert_boots(&disk, Firmware::Ovmf, &fx, &d.join("ovmf.log"));
}

#[test]
fn seabios_boots_a_hybrid_gpt_disk_from_its_bios_boot_partition() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(fx) = boot_setup(d, &[GRUB_BIOS, GRUB_UEFI], Firmware::SeaBios) else {
        return;
    };
    let disk = d.join("hybrid.img");
    let args = ["--table", "gpt", "--boot", "hybrid"];
    let made = mkdisk(mkdisk_args("256M", &args, Some(&fx), &disk));
    made.assert_success();
    for line in [
        "partition table: GPT",
        "partition 1: BIOS boot",
        "partition 2: EFI system",
        "partition 3: Linux root",
    ] {
        assert!(made.stdout.contains(line), "{}", made.stdout);
    }
    judge(&disk, "gpt", &hybrid_gpt());

    // The protective MBR carries boot.img's code pointing at the BIOS boot
    // partition (LBA 2048); core.img starts there, its blocklist loading
    // the sectors after it.
    let image = fs::read(&disk).unwrap();
    let boot_img = fs::read(Path::new(GRUB_BIOS.0).join("boot.img")).unwrap();
    assert_eq!(&image[..0x5C], &boot_img[..0x5C]);
    assert_eq!(&image[0x5C..0x64], &2048u64.to_le_bytes());
    assert_eq!(&image[0x68..0x1B8], &boot_img[0x68..0x1B8]);
    assert_eq!(image[0x1C2], 0xEE);
    let core = &image[2048 * 512..];
    let diskboot = fs::read(Path::new(GRUB_BIOS.0).join("diskboot.img")).unwrap();
    assert_eq!(&core[..0x1E8], &diskboot[..0x1E8]);
    assert_eq!(&core[0x1F4..0x1FC], &2049u64.to_le_bytes());

    vm::assert_boots(&disk, Firmware::SeaBios, &fx, &d.join("seabios.log"));
}

/// Tools that judge a disk without booting it.
fn judges_installed() -> bool {
    ["sfdisk", "fsck.fat", "mdir", "grub-mkimage"]
        .iter()
        .all(|t| require_tool(t))
        && require_e2fsprogs()
        && [GRUB_BIOS, GRUB_UEFI].iter().all(|(dir, package)| {
            let present = Path::new(dir).join("kernel.img").is_file();
            if !present {
                eprintln!("SKIPPED: no {dir} (package {package})");
            }
            present
        })
}

#[test]
fn uefi_and_bios_alone_on_gpt_have_only_the_partition_they_need() {
    if !judges_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let uefi = d.join("uefi.img");
    let made = mkdisk(mkdisk_args(
        "128M",
        &["--table", "gpt", "--boot", "uefi", "--esp-size", "40M"],
        None,
        &uefi,
    ));
    made.assert_success();
    judge(
        &uefi,
        "gpt",
        &[
            Expect {
                kind: ESP,
                name: "esp",
                start: 2048,
            },
            Expect {
                kind: LINUX,
                name: "root",
                start: 2048 + 40 * 2048,
            },
        ],
    );
    // The summary names the PARTUUIDs sfdisk reads.
    let dump = sfdisk_dump(&uefi).unwrap();
    for p in &dump.partitions {
        assert!(
            made.stdout.contains(&p.uuid.to_lowercase()),
            "no {} in:\n{}",
            p.uuid,
            made.stdout
        );
    }

    let bios = d.join("bios.img");
    mkdisk(mkdisk_args(
        "64M",
        &["--table", "gpt", "--boot", "bios"],
        None,
        &bios,
    ))
    .assert_success();
    judge(
        &bios,
        "gpt",
        &[
            Expect {
                kind: BIOS_BOOT,
                name: "bios-boot",
                start: 2048,
            },
            Expect {
                kind: LINUX,
                name: "root",
                start: 4096,
            },
        ],
    );

    // A plain GPT disk has the root alone, at 1 MiB.
    let plain = d.join("plain.img");
    mkdisk(mkdisk_args("64M", &["--table", "gpt"], None, &plain)).assert_success();
    judge(
        &plain,
        "gpt",
        &[Expect {
            kind: LINUX,
            name: "root",
            start: 2048,
        }],
    );
}

#[test]
fn a_hybrid_gpt_disk_in_every_output_format_is_the_raw_disk() {
    if !judges_installed() || !require_qemu_img() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let args = ["--table", "gpt", "--boot", "hybrid"];
    // 100 MiB is no whole number of VHD cylinders: the VHD's disk is 8 KiB
    // larger, and its GPT is laid out for that size.
    let raw = d.join("disk.img");
    mkdisk(mkdisk_args("100M", &args, None, &raw)).assert_success();
    judge(&raw, "gpt", &hybrid_gpt());
    for (format, file, qemu_format) in [
        ("vhd", "disk.vhd", "vpc"),
        ("vhd-fixed", "fixed.vhd", "vpc"),
        ("vmdk", "disk.vmdk", "vmdk"),
    ] {
        let img = d.join(file);
        let mut with_format = args.to_vec();
        with_format.extend(["--format", format]);
        mkdisk(mkdisk_args("100M", &with_format, None, &img)).assert_success();
        // Back to raw, the disk the VM sees: both GPT headers valid and at
        // their places, the partitions clean.
        let back = d.join(format!("{format}-back.img"));
        qemu::convert(&img, qemu_format, &back, "raw", &[]);
        let virtual_size = fs::metadata(&back).unwrap().len();
        if format != "vmdk" {
            assert_eq!(virtual_size, 100 * (1 << 20) + 8192, "{format}");
        }
        judge(&back, "gpt", &hybrid_gpt());
        if format == "vmdk" {
            // The VMDK's disk is the raw disk's size: the same bytes.
            let (code, text) = qemu::check(&img, qemu_format);
            assert_eq!(code, 0, "qemu-img check {format}: {text}");
            let (code, text) = qemu::compare(&raw, &img, qemu_format);
            assert_eq!(code, 0, "qemu-img compare raw {format}: {text}");
        }
        fs::remove_file(&back).unwrap();
    }
    // Streamed to standard output: the same bytes as the file.
    let mut cmd = blockimg_cmd();
    cmd.arg("mkdisk")
        .args(mkdisk_args("100M", &args, None, Path::new("-")));
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        out.stdout,
        fs::read(&raw).unwrap(),
        "the streamed disk differs"
    );
}

#[test]
fn hybrid_gpt_builds_with_the_same_epoch_are_identical() {
    if !judges_installed() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = d.join("root");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/hostname"), "appliance\n").unwrap();
    let build = |name: &str, epoch: &str| {
        let img = d.join(name);
        let mut cmd: Command = blockimg_cmd();
        cmd.env("SOURCE_DATE_EPOCH", epoch)
            .arg("mkdisk")
            .args([
                "--size", "128M", "--table", "gpt", "--boot", "hybrid", "--root",
            ])
            .arg(&src)
            .arg(&img);
        RunOutput::run(&mut cmd).assert_success();
        img
    };
    let a = build("a.img", EPOCH);
    let b = build("b.img", EPOCH);
    assert_eq!(
        sha256_file(&a),
        sha256_file(&b),
        "two hybrid GPT builds with the same SOURCE_DATE_EPOCH differ"
    );
    judge(&a, "gpt", &hybrid_gpt());
    let c = build("c.img", "1700000001");
    let (ta, tc) = (sfdisk_dump(&a).unwrap(), sfdisk_dump(&c).unwrap());
    assert_ne!(ta.label_id, tc.label_id, "another epoch, another disk GUID");
}

/// Runs a refused `mkdisk` and checks its message and that no file is left.
fn assert_refused(d: &Path, args: &[&str], wanted: &[&str]) {
    let out = d.join("refused.img");
    let run = mkdisk(mkdisk_args("128M", args, None, &out));
    run.assert_failure();
    for w in wanted {
        assert!(
            run.stderr.contains(w),
            "{args:?}: no {w:?} in:\n{}",
            run.stderr
        );
    }
    assert!(!out.exists(), "{args:?}: a refused disk leaves no file");
    let left: Vec<_> = fs::read_dir(d).unwrap().collect();
    assert!(left.is_empty(), "{args:?} left {left:?}");
}

#[test]
fn refused_uefi_and_gpt_disks_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("out");
    fs::create_dir(&d).unwrap();
    let empty = dir.path().join("empty-grub");
    fs::create_dir(&empty).unwrap();
    let empty = empty.to_str().unwrap();
    // FAT32 needs a little over 32 MiB.
    assert_refused(
        &d,
        &["--boot", "uefi", "--esp-size", "32M"],
        &["--esp-size", "FAT32", "34603008"],
    );
    // The GRUB modules for UEFI are missing: the package is named.
    assert_refused(
        &d,
        &["--boot", "uefi", "--grub-efi-dir", empty],
        &[empty, "x86_64-efi", "grub-efi-amd64-bin"],
    );
    assert_refused(
        &d,
        &["--table", "none", "--boot", "uefi"],
        &["partition table"],
    );
    if find_tool("grub-mkimage").is_none() || !Path::new(GRUB_BIOS.0).is_dir() {
        eprintln!("SKIPPED part: grub-mkimage or {} missing", GRUB_BIOS.0);
        return;
    }
    // core.img does not fit a 16 KiB BIOS boot partition.
    assert_refused(
        &d,
        &[
            "--table",
            "gpt",
            "--boot",
            "bios",
            "--bios-boot-size",
            "16K",
        ],
        &["core.img needs", "BIOS boot partition has only 32"],
    );
    assert_refused(
        &d,
        &["--table", "gpt", "--boot", "hybrid", "--grub-dir", empty],
        &["grub-pc-bin"],
    );
}
