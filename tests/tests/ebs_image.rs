//! docs/EC2.md's one command from a tar snapshot to a machine image:
//! `blockimg build docs/examples/ec2.toml --to-snapshot --register NAME`
//! against moto's server behind the checking proxy (tests/aws/proxy.py).
//! The snapshot read back is the disk written to a file in the same build,
//! and the RegisterImage request the proxy recorded carries what EC2 needs
//! to boot it (moto itself ignores the block device mapping).

use std::fs;

use blockimg_tests::aws::{assert_volume_matches, printed_id, AwsServer};
use blockimg_tests::recipe::{example_inputs, examples_dir};
use blockimg_tests::vm::{boot_kit, require_grub, BootKit, GRUB_BIOS, GRUB_UEFI};
use blockimg_tests::{blockimg_cmd, RunOutput};

/// The inputs of docs/examples/ec2.toml in a temporary directory, and the
/// server; `None` (the test skipped, and why printed) without GRUB's
/// modules, the boot kit or moto.
fn ec2_inputs() -> Option<(BootKit, AwsServer, tempfile::TempDir)> {
    if !require_grub(&[GRUB_BIOS, GRUB_UEFI]) {
        return None;
    }
    let kit = boot_kit()?;
    let server = AwsServer::start(&[])?;
    let dir = tempfile::tempdir().unwrap();
    example_inputs(dir.path(), &kit.busybox, &kit.kernel, &kit.modules);
    Some((kit, server, dir))
}

#[test]
fn ec2_example_goes_from_a_tar_snapshot_to_a_registered_image() {
    let Some((kit, server, dir)) = ec2_inputs() else {
        return;
    };
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
    let word = |prefix| printed_id(&out, prefix);
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

#[test]
fn a_recipe_with_a_snapshot_output_and_register_makes_an_image() {
    let Some((_, server, dir)) = ec2_inputs() else {
        return;
    };
    // ec2.toml with its files replaced by a snapshot and a registration.
    let example = fs::read_to_string(examples_dir().join("ec2.toml")).unwrap();
    let body = example
        .replace("[[output]]\npath = \"lfs.vmdk\"\n", "")
        .replace("[[output]]\npath = \"lfs.img\"\n", "");
    assert!(!body.contains("[[output]]"), "{body}");
    // Reproducible, with or without [register], over a parent or not.
    let recipe = dir.path().join("snapshot.toml");
    let write_recipe = |register: bool, parent: Option<&str>| {
        let mut text = format!("timestamp = 1700000000\n{body}\n");
        if register {
            text.push_str(
                "[register]\nname = \"lfs-recipe\"\ndescription = \"LFS from a recipe\"\n\
                 tags = { Name = \"lfs-ami\" }\n\n",
            );
        }
        text.push_str(
            "[[output]]\nformat = \"ebs-snapshot\"\ndescription = \"LFS root\"\n\
             tags = { Name = \"lfs\", Stage = \"test\" }\n",
        );
        match parent {
            Some(id) => text.push_str(&format!(
                "parent_snapshot = \"{id}\"\nparent_block_manifest = \"lfs.blocks\"\n"
            )),
            None => text.push_str("block_manifest = \"lfs.blocks\"\n"),
        }
        fs::write(&recipe, text).unwrap();
    };
    write_recipe(true, None);
    let build = |extra: &[&str]| {
        let mut cmd = blockimg_cmd();
        cmd.arg("build").arg(&recipe).args(extra);
        server.env(&mut cmd);
        let out = RunOutput::run(&mut cmd);
        out.assert_success();
        out
    };

    let plan = build(&["--dry-run"]);
    assert!(
        plan.stdout
            .contains("output: a new EBS snapshot (ebs-snapshot)"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains(
            "register: image \"lfs-recipe\" (x86_64, uefi-preferred, root /dev/xvda, ENA on)"
        ),
        "{}",
        plan.stdout
    );
    assert_eq!(server.state()["requests"], 0, "a dry run calls nothing");

    let out = build(&[]);
    let word = |prefix| printed_id(&out, prefix);
    let snapshot = word("snap-");
    assert!(word("ami-").starts_with("ami-"));
    let state = server.state();
    let snap = &state["snapshots"][&snapshot];
    assert_eq!(snap["state"], "completed");
    assert_eq!(snap["description"], "LFS root");
    let tags: Vec<(String, String)> = snap["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["Key"].as_str().unwrap().into(),
                t["Value"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        tags,
        [
            ("Name".into(), "lfs".into()),
            ("Stage".into(), "test".into())
        ]
    );
    let r = &state["register_image"][0];
    for (key, value) in [
        ("Name", "lfs-recipe"),
        ("Description", "LFS from a recipe"),
        ("BootMode", "uefi-preferred"),
        ("EnaSupport", "true"),
        ("BlockDeviceMapping.1.Ebs.SnapshotId", snapshot.as_str()),
        ("BlockDeviceMapping.1.Ebs.VolumeType", "gp3"),
        ("BlockDeviceMapping.1.Ebs.DeleteOnTermination", "true"),
        ("TagSpecification.1.Tag.1.Key", "Name"),
        ("TagSpecification.1.Tag.1.Value", "lfs-ami"),
    ] {
        assert_eq!(r[key], value, "{key} in {r:#}");
    }
    let manifest = fs::read_to_string(dir.path().join("lfs.blocks")).unwrap();
    assert!(manifest.contains(&format!("snapshot {snapshot}\n")));

    // The same reproducible build over that snapshot: nothing differs, so
    // no block is sent (and no image is registered without [register]).
    write_recipe(false, Some(&snapshot));
    let again = build(&[]);
    let second = printed_id(&again, "snap-");
    assert!(again.stdout.contains("0 blocks sent"), "{}", again.stdout);
    let state = server.state();
    assert_eq!(state["snapshots"][&second]["parent"], snapshot.as_str());
    assert_eq!(state["snapshots"][&second]["state"], "completed");
    assert_eq!(state["register_image"].as_array().unwrap().len(), 1);
}
