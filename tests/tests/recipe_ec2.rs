//! The LFS-on-EC2 flow of docs/EC2.md with docs/examples/ec2.toml: a
//! busybox root as a tar snapshot becomes a VMDK (qemu-img check passes,
//! and it holds the same disk as the raw image) and a raw image that boots
//! under QEMU (SeaBIOS, GRUB from the GPT BIOS boot partition, the kernel
//! and blockimg's initramfs) to the marker its init prints; the image holds
//! the profile's files with their modes and owners, and its network
//! setup gets a DHCP lease from QEMU's user network.

use std::fs;

use blockimg_tests::qemu::{self, require_qemu_img};
use blockimg_tests::recipe::{dry_run, example_inputs, examples_dir};
use blockimg_tests::tools::{debugfs_stat, sfdisk_verify};
use blockimg_tests::vm::{boot_disk, boot_kit, require_grub, Firmware, GRUB_BIOS, GRUB_UEFI};
use blockimg_tests::{
    blockimg_cmd, debugfs, dumpe2fs_h, e2fsck_clean, require_e2fsprogs, require_tool,
};

#[test]
fn ec2_example_builds_a_vmdk_and_a_raw_disk_that_boots_to_its_init() {
    if !require_e2fsprogs()
        || !require_qemu_img()
        || !require_tool("sfdisk")
        || !require_grub(&[GRUB_BIOS, GRUB_UEFI])
    {
        return;
    }
    let Some(kit) = boot_kit() else { return };
    let dir = tempfile::tempdir().unwrap();
    example_inputs(dir.path(), &kit.busybox, &kit.kernel, &kit.modules);
    let recipe = dir.path().join("ec2.toml");
    fs::copy(examples_dir().join("ec2.toml"), &recipe).unwrap();
    let plan = dry_run(&recipe);
    let out = blockimg_cmd().arg("build").arg(&recipe).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = dir.path().join("lfs.img");
    let vmdk = dir.path().join("lfs.vmdk");

    let (code, text) = qemu::check(&vmdk, "vmdk");
    assert_eq!(code, 0, "qemu-img check: {text}");
    let (code, text) = qemu::compare(&raw, &vmdk, "vmdk");
    assert_eq!(code, 0, "the VMDK holds another disk: {text}");
    sfdisk_verify(&raw).unwrap();
    let root = plan.partitions.iter().find(|p| p.role == "root").unwrap();
    e2fsck_clean(&raw, root.start);

    // The profile's files, as sshd and init need them.
    for (path, kind, mode) in [
        ("/root/.ssh", "directory", 0o700),
        ("/root/.ssh/authorized_keys", "regular", 0o600),
        ("/usr/sbin/ec2-fetch-ssh-key", "regular", 0o755),
        ("/etc/fstab", "regular", 0o644),
    ] {
        let stat = debugfs_stat(&raw, root.start, path);
        assert_eq!((stat.kind.as_str(), stat.mode), (kind, mode), "{path}");
        assert_eq!((stat.uid, stat.gid), (0, 0), "{path}");
    }
    let cat = |path: &str| {
        String::from_utf8_lossy(&debugfs(&raw, root.start, &format!("cat {path}")).stdout)
            .into_owned()
    };
    let keys = cat("/root/.ssh/authorized_keys");
    assert!(keys.contains("test@blockimg"), "{keys}");
    let grub = cat("/boot/grub/grub.cfg");
    assert!(grub.contains("console=ttyS0,115200 panic=-1"), "{grub}");
    let fstab = cat("/etc/fstab");
    let uuid = dumpe2fs_h(&raw, root.start)
        .get("Filesystem UUID")
        .to_string();
    assert!(fstab.contains(&format!("UUID={uuid}\t/\text4")), "{fstab}");

    // One boot: SeaBIOS, GRUB in the BIOS boot partition.
    let console = boot_disk(
        &raw,
        "raw",
        Firmware::SeaBios,
        &dir.path().join("console.log"),
    );
    assert!(
        console.contains("ROOT: recipe-example"),
        "the disk did not boot to its init; console:\n{console}"
    );
    // The profile's network files: busybox ifup ran udhcpc on eth0, and
    // the profile's udhcpc script applied QEMU's lease.
    assert!(
        console.contains("NET: ") && console.contains("eth0 inet 10.0.2.15/24"),
        "the profile's DHCP setup gave eth0 no address; console:\n{console}"
    );
}
