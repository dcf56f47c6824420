//! docs/EC2.md's one command from a tar snapshot to a machine image:
//! `blockimg build docs/examples/ec2.toml --to-snapshot --register NAME`
//! against moto's server behind the checking proxy (tests/aws/proxy.py).
//! The snapshot read back is the disk written to a file in the same build,
//! and the RegisterImage request the proxy recorded carries what EC2 needs
//! to boot it (moto itself ignores the block device mapping).

use std::fs;

use blockimg_tests::aws::{assert_volume_matches, AwsServer};
use blockimg_tests::recipe::{example_inputs, examples_dir};
use blockimg_tests::vm::{boot_kit, require_grub, GRUB_BIOS, GRUB_UEFI};
use blockimg_tests::{blockimg_cmd, RunOutput};

#[test]
fn ec2_example_goes_from_a_tar_snapshot_to_a_registered_image() {
    if !require_grub(&[GRUB_BIOS, GRUB_UEFI]) {
        return;
    }
    let Some(kit) = boot_kit() else { return };
    let Some(server) = AwsServer::start(&[]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    example_inputs(dir.path(), &kit.busybox, &kit.kernel, &kit.modules);
    let recipe = dir.path().join("ec2.toml");
    fs::copy(examples_dir().join("ec2.toml"), &recipe).unwrap();
    let raw = dir.path().join("same.img");
    let mut cmd = blockimg_cmd();
    cmd.arg("build")
        .arg(&recipe)
        .arg("--to-snapshot")
        .args(["--register", "lfs-test", "--tag", "Name=lfs", "-o"])
        .arg(&raw);
    server.env(&mut cmd);
    let out = RunOutput::run(&mut cmd);
    out.assert_success();
    let word = |prefix: &str| {
        out.stdout
            .split_whitespace()
            .find(|w| w.starts_with(prefix))
            .unwrap_or_else(|| panic!("no {prefix} in {}", out.stdout))
            .trim_end_matches(':')
            .to_string()
    };
    let (snapshot, image) = (word("snap-"), word("ami-"));

    let state = server.state();
    assert_eq!(state["snapshots"][&snapshot]["state"], "completed");
    assert_eq!(
        state["snapshots"][&snapshot]["volume_size"], 1,
        "1G in the recipe"
    );
    let volume = dir.path().join("volume");
    server.read_snapshot(&snapshot, &volume, None);
    assert_volume_matches(&volume, &raw);

    let requests = state["register_image"].as_array().unwrap();
    assert_eq!(requests.len(), 1, "{state:#}");
    let r = &requests[0];
    for (key, value) in [
        ("Name", "lfs-test"),
        ("Architecture", "x86_64"),
        ("VirtualizationType", "hvm"),
        ("BootMode", "uefi-preferred"),
        ("EnaSupport", "true"),
        ("RootDeviceName", "/dev/xvda"),
        ("BlockDeviceMapping.1.DeviceName", "/dev/xvda"),
        ("BlockDeviceMapping.1.Ebs.SnapshotId", snapshot.as_str()),
        ("BlockDeviceMapping.1.Ebs.VolumeType", "gp3"),
        ("BlockDeviceMapping.1.Ebs.VolumeSize", "1"),
        ("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true"),
        ("TagSpecification.1.ResourceType", "image"),
        ("TagSpecification.1.Tag.1.Key", "Name"),
    ] {
        assert_eq!(r[key], value, "{key} in {r:#}");
    }
    assert!(image.starts_with("ami-"));

    // A BIOS-only disk registers as legacy-bios, a UEFI-only one as uefi,
    // each with its own snapshot as the root; a disk without a boot loader
    // is refused before anything is built.
    for (boot, mode) in [("bios", "legacy-bios"), ("uefi", "uefi")] {
        let name = format!("lfs-{boot}");
        let mut cmd = blockimg_cmd();
        cmd.args(["mkdisk", "--size", "64M", "--table", "gpt", "--boot", boot])
            .arg("--kernel")
            .arg(&kit.kernel)
            .args(["--to-snapshot", "--register", &name]);
        server.env(&mut cmd);
        let out = RunOutput::run(&mut cmd);
        out.assert_success();
        let state = server.state();
        let requests = state["register_image"].as_array().unwrap();
        let r = requests.last().unwrap();
        assert_eq!(r["Name"], name.as_str());
        assert_eq!(r["BootMode"], mode, "{r:#}");
        assert_eq!(r["BlockDeviceMapping.1.Ebs.VolumeType"], "gp3");
        assert_eq!(r["BlockDeviceMapping.1.Ebs.DeleteOnTermination"], "true");
        let root = r["BlockDeviceMapping.1.Ebs.SnapshotId"].as_str().unwrap();
        assert!(out.stdout.contains(root), "{}", out.stdout);
        assert_eq!(state["snapshots"][root]["state"], "completed");
    }
    let mut none = blockimg_cmd();
    none.args([
        "mkdisk",
        "--size",
        "64M",
        "--to-snapshot",
        "--register",
        "nothing",
    ]);
    server.env(&mut none);
    RunOutput::run(&mut none)
        .assert_failure()
        .assert_stderr_contains("--boot-mode");
    assert_eq!(server.state()["snapshots"].as_object().unwrap().len(), 3);
}
