//! `blockimg mkdisk --boot bios` against SeaBIOS: QEMU boots the disk with
//! no `-kernel`, GRUB reads its configuration from our ext4, loads a Debian
//! kernel and a blockimg initramfs, and the kernel mounts the root by UUID
//! and runs an init that prints a marker read from the disk.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use blockimg_tests::vm::{self, BootFixture, Firmware, GRUB_BIOS};
use blockimg_tests::{e2fsck, mkdisk, require_tool, sfdisk_dump};

fn boot_fixture(d: &Path) -> Option<BootFixture> {
    vm::boot_fixture(d, &[GRUB_BIOS])
}

/// Boots `disk` under SeaBIOS.
fn boot_disk(disk: &Path, format: &str, log: &Path) -> String {
    vm::boot_disk(disk, format, Firmware::SeaBios, log)
}

#[test]
fn seabios_boots_grub_from_the_mbr_into_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(BootFixture {
        root,
        initrd,
        kernel,
        marker,
    }) = boot_fixture(d)
    else {
        return;
    };
    const UUID: &str = "6b1c0e4a-2f4d-4c3e-9a5b-0d8e7f6a5b4c";
    let disk = d.join("disk.img");
    let made = mkdisk([
        "--uuid".as_ref(),
        UUID.as_ref(),
        "--timestamp".as_ref(),
        "1700000000".as_ref(),
        "--size".as_ref(),
        "256M".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        "--boot".as_ref(),
        "bios".as_ref(),
        "--kernel".as_ref(),
        kernel.as_os_str(),
        "--initrd".as_ref(),
        initrd.as_os_str(),
        "--cmdline".as_ref(),
        "panic=-1".as_ref(),
        disk.as_os_str(),
    ]);
    made.assert_success();

    // The filesystem is clean and the table is the one mkdisk writes
    // without a boot loader.
    let fsck = e2fsck(&disk, 1_048_576);
    assert_eq!(fsck.code, 0, "e2fsck:\n{}", fsck.output);
    let plain = d.join("plain.img");
    mkdisk([
        "--uuid".as_ref(),
        UUID.as_ref(),
        "--timestamp".as_ref(),
        "1700000000".as_ref(),
        "--size".as_ref(),
        "256M".as_ref(),
        plain.as_os_str(),
    ])
    .assert_success();
    let table = sfdisk_dump(&disk).unwrap_or_else(|e| panic!("sfdisk -d: {e}"));
    let expected = sfdisk_dump(&plain).unwrap_or_else(|e| panic!("sfdisk -d: {e}"));
    assert_eq!(table.label, "dos", "{}", table.text);
    assert_eq!(table.label_id, expected.label_id);
    assert_eq!(table.partitions, expected.partitions, "{}", table.text);
    assert_eq!(table.partitions[0].start, 2048, "{}", table.text);
    assert!(made.stdout.contains(UUID), "{}", made.stdout);

    // The MBR carries boot.img's code with setup's patches, core.img sits
    // at LBA 1 byte for byte.
    let image = fs::read(&disk).unwrap();
    let boot_img = fs::read("/usr/lib/grub/i386-pc/boot.img").unwrap();
    assert_eq!(&image[..0x5C], &boot_img[..0x5C]);
    assert_eq!(&image[0x5C..0x64], &1u64.to_le_bytes());
    assert_eq!(image[0x64], 0xFF);
    assert_eq!(&image[0x66..0x68], &[0x90, 0x90]);
    assert_eq!(&image[0x68..0x1B8], &boot_img[0x68..0x1B8]);
    assert_eq!(&image[0x1FE..0x200], &[0x55, 0xAA]);
    let diskboot = fs::read("/usr/lib/grub/i386-pc/diskboot.img").unwrap();
    assert_eq!(&image[512..512 + 0x1E8], &diskboot[..0x1E8]);

    let console = boot_disk(&disk, "raw", &d.join("boot.log"));
    for want in [
        "blockimg-init: started".to_string(),
        format!("ROOT: {marker}"),
    ] {
        assert!(
            console.contains(&want),
            "no {want:?} on the console:\n{console}"
        );
    }
}

/// The bootable disk written directly as a dynamic VHD and as a
/// stream-optimized VMDK boots too: QEMU reads each format, SeaBIOS starts
/// GRUB from it, and the root on it is mounted by UUID.
#[test]
fn the_bootable_disk_boots_as_vhd_and_vmdk() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let Some(fx) = boot_fixture(d) else {
        return;
    };
    for (format, ext, qemu_format) in [("vhd", "vhd", "vpc"), ("vmdk", "vmdk", "vmdk")] {
        let disk = d.join(format!("disk.{ext}"));
        mkdisk([
            "--size".as_ref(),
            "256M".as_ref(),
            "--root".as_ref(),
            fx.root.as_os_str(),
            "--boot".as_ref(),
            "bios".as_ref(),
            "--kernel".as_ref(),
            fx.kernel.as_os_str(),
            "--initrd".as_ref(),
            fx.initrd.as_os_str(),
            "--cmdline".as_ref(),
            "panic=-1".as_ref(),
            "--format".as_ref(),
            format.as_ref(),
            disk.as_os_str(),
        ])
        .assert_success();
        let console = boot_disk(&disk, qemu_format, &d.join(format!("{ext}.log")));
        let want = format!("ROOT: {}", fx.marker);
        assert!(
            console.contains(&want),
            "the {format} disk did not boot to {want:?}:\n{console}"
        );
    }
}

/// Runs `cmd`, returning its standard output or why it failed.
fn run(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A whole-disk loop device with its partitions, detached on drop.
struct LoopDisk {
    device: String,
    mounted: Option<PathBuf>,
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        if let Some(dir) = &self.mounted {
            let _ = run(Command::new("umount").arg(dir));
        }
        let _ = run(Command::new("partx").arg("-d").arg(&self.device));
        let _ = run(Command::new("losetup").arg("-d").arg(&self.device));
    }
}

/// Runs GRUB's own `grub-bios-setup` (without Reed-Solomon codes, as
/// blockimg embeds) on `img` attached to a loop device, with `boot.img`
/// and `core_img` in /boot/grub of its partition `root`.
fn grub_bios_setup(img: &Path, root: u32, core_img: &[u8], mnt: &Path) -> Result<(), String> {
    let device = run(Command::new("losetup").args(["-f", "--show"]).arg(img))?;
    let mut disk = LoopDisk {
        device,
        mounted: None,
    };
    run(Command::new("partx").arg("-a").arg(&disk.device))?;
    fs::create_dir_all(mnt).map_err(|e| e.to_string())?;
    run(Command::new("mount")
        .arg(format!("{}p{root}", disk.device))
        .arg(mnt))?;
    disk.mounted = Some(mnt.to_path_buf());
    let grub = mnt.join("boot/grub");
    fs::create_dir_all(&grub).map_err(|e| e.to_string())?;
    fs::copy("/usr/lib/grub/i386-pc/boot.img", grub.join("boot.img")).map_err(|e| e.to_string())?;
    fs::write(grub.join("core.img"), core_img).map_err(|e| e.to_string())?;
    run(Command::new("/usr/lib/grub/i386-pc/grub-bios-setup")
        .arg("--no-rs-codes")
        .arg("-d")
        .arg(&grub)
        .arg(&disk.device))?;
    Ok(())
}

/// True when `grub-bios-setup` can be run on a loop device; says why not
/// otherwise.
fn can_run_grub_bios_setup() -> bool {
    if !blockimg_tests::is_root() {
        eprintln!("SKIPPED: grub-bios-setup on a loop device needs root");
        return false;
    }
    if !Path::new("/usr/lib/grub/i386-pc/grub-bios-setup").is_file()
        || !require_tool("grub-mkimage")
    {
        eprintln!("SKIPPED: no /usr/lib/grub/i386-pc/grub-bios-setup (package grub-pc-bin)");
        return false;
    }
    ["losetup", "partx", "mount", "umount"]
        .iter()
        .all(|t| require_tool(t))
}

/// Offsets of the first 16 bytes at which `a` and `b` differ in `range`.
fn differences(a: &[u8], b: &[u8], range: std::ops::Range<usize>) -> Vec<usize> {
    range.filter(|&i| a[i] != b[i]).take(16).collect()
}

#[test]
fn the_first_mib_is_what_grub_bios_setup_writes() {
    if !can_run_grub_bios_setup() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let build = |name: &str, boot: bool| {
        let img = d.join(name);
        let mut args: Vec<std::ffi::OsString> = [
            "--uuid",
            "6b1c0e4a-2f4d-4c3e-9a5b-0d8e7f6a5b4c",
            "--timestamp",
            "1700000000",
            "--size",
            "64M",
        ]
        .map(Into::into)
        .to_vec();
        if boot {
            args.extend(["--boot".into(), "bios".into()]);
        }
        args.push(img.clone().into_os_string());
        mkdisk(args).assert_success();
        img
    };
    let ours = build("ours.img", true);
    let theirs = build("theirs.img", false);
    let ours_bytes = fs::read(&ours).unwrap();
    // core.img as blockimg embedded it: up to its blocklist's end.
    let sectors =
        u16::from_le_bytes([ours_bytes[512 + 0x1FC], ours_bytes[512 + 0x1FD]]) as usize + 1;
    let core_img = &ours_bytes[512..512 + sectors * 512];
    if let Err(e) = grub_bios_setup(&theirs, 1, core_img, &d.join("mnt")) {
        eprintln!("SKIPPED: cannot attach and mount a loop device: {e}");
        return;
    }
    let theirs_bytes = fs::read(&theirs).unwrap();
    let differ = differences(&ours_bytes, &theirs_bytes, 0..1 << 20);
    assert!(
        differ.is_empty(),
        "blockimg and grub-bios-setup differ in the first MiB at bytes {differ:x?}"
    );
}

/// On a GPT disk, GRUB goes in the BIOS boot partition: the protective MBR,
/// both GPTs and the BIOS boot partition are what `grub-bios-setup` makes
/// of the same disk with its boot code and BIOS boot partition wiped.
#[test]
fn a_gpt_disk_is_what_grub_bios_setup_writes() {
    if !can_run_grub_bios_setup() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ours = d.join("ours.img");
    mkdisk([
        "--timestamp",
        "1700000000",
        "--size",
        "64M",
        "--table",
        "gpt",
        "--boot",
        "bios",
        ours.to_str().unwrap(),
    ])
    .assert_success();
    let ours_bytes = fs::read(&ours).unwrap();
    // The BIOS boot partition is sectors 2048-4095; core.img at its start.
    let (part_start, part_end) = (2048 * 512, 4096 * 512);
    let sectors = u16::from_le_bytes([
        ours_bytes[part_start + 0x1FC],
        ours_bytes[part_start + 0x1FD],
    ]) as usize
        + 1;
    let core_img = ours_bytes[part_start..part_start + sectors * 512].to_vec();
    let mut wiped = ours_bytes.clone();
    wiped[..0x1B8].fill(0);
    wiped[part_start..part_end].fill(0);
    let theirs = d.join("theirs.img");
    fs::write(&theirs, &wiped).unwrap();
    if let Err(e) = grub_bios_setup(&theirs, 2, &core_img, &d.join("mnt")) {
        eprintln!("SKIPPED: cannot attach and mount a loop device: {e}");
        return;
    }
    let theirs_bytes = fs::read(&theirs).unwrap();
    let differ = differences(&ours_bytes, &theirs_bytes, 0..part_end);
    assert!(
        differ.is_empty(),
        "blockimg and grub-bios-setup differ at bytes {differ:x?}"
    );
    let n = ours_bytes.len();
    let differ = differences(&ours_bytes, &theirs_bytes, n - 33 * 512..n);
    assert!(differ.is_empty(), "the backup GPT differs at {differ:x?}");
}

#[test]
fn bios_boot_without_a_table_or_grub_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.img");
    let run = mkdisk([
        "--size".as_ref(),
        "64M".as_ref(),
        "--table".as_ref(),
        "none".as_ref(),
        "--boot".as_ref(),
        "bios".as_ref(),
        "--grub-dir".as_ref(),
        "/usr/lib/grub/i386-pc".as_ref(),
        img.as_os_str(),
    ]);
    run.assert_failure();
    assert!(run.stderr.contains("partition table"), "{}", run.stderr);
    assert!(!img.exists(), "a refused disk leaves no file");

    let run = mkdisk([
        "--size".as_ref(),
        "64M".as_ref(),
        "--boot".as_ref(),
        "bios".as_ref(),
        "--grub-dir".as_ref(),
        dir.path().join("no-grub").as_os_str(),
        img.as_os_str(),
    ]);
    run.assert_failure();
    assert!(run.stderr.contains("grub-pc-bin"), "{}", run.stderr);
    assert!(!img.exists(), "a refused disk leaves no file");
}
