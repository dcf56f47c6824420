//! EBS snapshots through the EBS direct APIs, against moto's server behind
//! a proxy that checks what EBS checks (tests/aws/proxy.py): `blockimg
//! upload` of raw, VHD, VMDK and qcow2 images and `mkdisk --to-snapshot`
//! read back block for block with boto3, only blocks holding data sent.

use std::path::{Path, PathBuf};

use blockimg_tests::aws::{assert_volume_matches, printed_id, start, AwsServer};
use blockimg_tests::fixture::pseudo_random_bytes;
use blockimg_tests::{blockimg_cmd, qemu, RunOutput};

const TIMESTAMP: &str = "1700000000";

/// A root directory with a few files, some of them large.
fn rootfs(dir: &Path) -> PathBuf {
    let root = dir.join("rootfs");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/hostname"), "ebs\n").unwrap();
    std::fs::write(root.join("big"), pseudo_random_bytes(1, 3 << 20)).unwrap();
    std::fs::write(root.join("small"), pseudo_random_bytes(2, 70_000)).unwrap();
    root
}

/// `blockimg ARGS` against `server`.
fn blockimg(server: &AwsServer, args: &[&str]) -> RunOutput {
    let mut cmd = blockimg_cmd();
    cmd.args(args);
    server.env(&mut cmd);
    RunOutput::run(&mut cmd)
}

/// A raw image of `len` pseudo-random bytes (from `seed`) in `dir`.
fn random_image(dir: &Path, seed: u64, len: usize) -> PathBuf {
    let raw = dir.join("disk.img");
    std::fs::write(&raw, pseudo_random_bytes(seed, len)).unwrap();
    raw
}

/// Blocks of the raw image at `path` holding anything but zeros.
fn data_blocks(path: &Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .chunks(512 << 10)
        .filter(|b| b.iter().any(|&x| x != 0))
        .count() as u64
}

/// Checks the snapshot `id` against the raw image `raw`: completed,
/// exactly its data blocks sent, every block read back equal.
fn assert_snapshot_is(server: &AwsServer, id: &str, raw: &Path, dir: &Path) {
    let state = server.state();
    let snap = &state["snapshots"][id];
    assert_eq!(snap["state"], "completed", "{state:#}");
    let sent = snap["blocks"].as_object().unwrap().len() as u64;
    assert_eq!(
        sent,
        data_blocks(raw),
        "blocks sent: only those holding data"
    );
    let volume = dir.join(format!("{id}.volume"));
    assert_eq!(server.read_snapshot(id, &volume, None), sent);
    assert_volume_matches(&volume, raw);
}

#[test]
fn upload_sends_raw_vhd_vmdk_and_qcow2_images_block_for_block() {
    let Some((server, tmp)) = start(&[]) else {
        return;
    };
    let dir = tmp.path();
    let raw = dir.join("disk.img");
    let root = rootfs(dir);
    let mut mkdisk = blockimg_cmd();
    mkdisk
        .args([
            "mkdisk",
            "--size",
            "40M",
            "--table",
            "gpt",
            "--timestamp",
            TIMESTAMP,
            "-q",
            "--root",
        ])
        .arg(&root)
        .arg(&raw);
    RunOutput::run(&mut mkdisk).assert_success();
    let mut images = vec![raw.clone()];
    for name in ["disk.vhd", "disk.vmdk"] {
        let mut convert = blockimg_cmd();
        convert
            .arg("convert")
            .arg(&raw)
            .arg(dir.join(name))
            .arg("-q");
        RunOutput::run(&mut convert).assert_success();
        images.push(dir.join(name));
    }
    if qemu::require_qemu_img() {
        qemu::convert(&raw, "raw", &dir.join("disk.qcow2"), "qcow2", &[]);
        images.push(dir.join("disk.qcow2"));
    }
    for image in &images {
        let out = blockimg(
            &server,
            &[
                "upload",
                image.to_str().unwrap(),
                "-q",
                "--description",
                "a test disk",
                "--tag",
                "Name=ebs-test",
            ],
        );
        out.assert_success();
        let id = printed_id(&out, "snap-");
        assert!(id.starts_with("snap-"), "{}", out.stdout);
        assert_snapshot_is(&server, &id, &raw, dir);
        let state = server.state();
        assert_eq!(
            state["snapshots"][&id]["volume_size"], 1,
            "40 MiB round up to 1 GiB"
        );
        assert_eq!(state["snapshots"][&id]["description"], "a test disk");
        assert_eq!(state["snapshots"][&id]["tags"][0]["Key"], "Name");
    }
}

#[test]
fn mkdisk_to_snapshot_streams_the_disk_it_builds() {
    let Some((server, tmp)) = start(&[]) else {
        return;
    };
    let dir = tmp.path();
    let root = rootfs(dir);
    let args = |extra: &[&str]| {
        let mut a: Vec<String> = [
            "mkdisk",
            "--size",
            "300M",
            "--table",
            "mbr",
            "--timestamp",
            TIMESTAMP,
            "--root",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push(root.display().to_string());
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let streamed = {
        let a = args(&["--to-snapshot"]);
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        blockimg(&server, &a)
    };
    streamed.assert_success();
    assert!(
        streamed.stdout.contains("1 GiB volume"),
        "{}",
        streamed.stdout
    );
    let id = printed_id(&streamed, "snap-");
    // The same disk written to a file: laid out for the snapshot's whole
    // GiB, as the snapshot's disk is.
    let raw = dir.join("disk.img");
    let mut a = args(&[]);
    a[2] = "1G".into();
    a.push(raw.display().to_string());
    let mut file = blockimg_cmd();
    file.args(&a);
    RunOutput::run(&mut file).assert_success();
    assert_snapshot_is(&server, &id, &raw, dir);
}

#[test]
fn snapshot_errors_are_clear_and_leave_no_completed_snapshot() {
    let Some((server, tmp)) = start(&["--corrupt-block", "0"]) else {
        return;
    };
    let raw = random_image(tmp.path(), 3, 3 << 20);
    let image = raw.to_str().unwrap();
    // Block 0 arrives changed: the server refuses its checksum.
    let out = blockimg(&server, &["upload", image, "--attempts", "2"]);
    out.assert_failure()
        .assert_stderr_contains("PutSnapshotBlock of block 0 of snapshot snap-")
        .assert_stderr_contains("HTTP 400 ValidationException")
        .assert_stderr_contains("checksum");
    let state = server.state();
    for (id, snap) in state["snapshots"].as_object().unwrap() {
        assert_ne!(snap["state"], "completed", "{id} completed without block 0");
    }
    // An image a program is changing is refused before anything is sent.
    let lock = blockimg::lock::ImageLock::write(&raw, "a test changing it").unwrap();
    let before = server.state()["requests"].clone();
    blockimg(&server, &["upload", image])
        .assert_failure()
        .assert_stderr_contains("is held for writing by");
    assert_eq!(server.state()["requests"], before);
    drop(lock);
    // Credentials the server does not know.
    let mut cmd = blockimg_cmd();
    cmd.args(["upload", image]);
    server.env(&mut cmd).env("AWS_ACCESS_KEY_ID", "AKIDUNKNOWN");
    RunOutput::run(&mut cmd)
        .assert_failure()
        .assert_stderr_contains("StartSnapshot")
        .assert_stderr_contains("HTTP 403 UnrecognizedClientException");
    // No region at all.
    let mut cmd = blockimg_cmd();
    cmd.args(["upload", image]);
    server.env(&mut cmd).env_remove("AWS_REGION");
    RunOutput::run(&mut cmd)
        .assert_failure()
        .assert_stderr_contains("no region");
    // An endpoint where nothing listens.
    let mut cmd = blockimg_cmd();
    cmd.args(["upload", image, "--attempts", "2"]);
    let closed = format!("http://127.0.0.1:{}", blockimg_tests::aws::free_port());
    server.env(&mut cmd).env("AWS_ENDPOINT_URL", &closed);
    RunOutput::run(&mut cmd)
        .assert_failure()
        .assert_stderr_contains("StartSnapshot")
        .assert_stderr_contains("after 2 attempts");
}

#[test]
fn uploads_survive_throttling_server_errors_and_dropped_connections() {
    let Some((server, tmp)) = start(&["--fault-rate", "0.25", "--seed", "7"]) else {
        return;
    };
    let dir = tmp.path();
    // 40 blocks of data between holes.
    let raw = dir.join("disk.img");
    blockimg_tests::fixture::write_sparse(
        &raw,
        64 << 20,
        &[
            (0, pseudo_random_bytes(4, 12 << 20)),
            (40 << 20, pseudo_random_bytes(5, 8 << 20)),
        ],
    )
    .unwrap();
    let out = blockimg(
        &server,
        &[
            "upload",
            raw.to_str().unwrap(),
            "--attempts",
            "12",
            "--register",
            "faulty",
            "--boot-mode",
            "uefi",
        ],
    );
    out.assert_success();
    let id = printed_id(&out, "snap-");
    assert!(out.stdout.contains("image ami-"), "{}", out.stdout);
    let state = server.state();
    for kind in ["throttle", "500", "503", "drop"] {
        assert!(
            state["faults"][kind].as_u64().unwrap_or(0) > 0,
            "no {kind} injected: {state:#}"
        );
    }
    assert_snapshot_is(&server, &id, &raw, dir);
}

#[test]
fn a_killed_upload_leaves_its_snapshot_pending() {
    let Some((server, tmp)) = start(&["--delay-ms", "150"]) else {
        return;
    };
    let raw = random_image(tmp.path(), 6, 16 << 20);
    let mut cmd = blockimg_cmd();
    cmd.args(["upload", raw.to_str().unwrap(), "--concurrency", "2"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    server.env(&mut cmd);
    let mut child = cmd.spawn().unwrap();
    let started = std::time::Instant::now();
    let blocks = |state: &serde_json::Value| -> usize {
        state["snapshots"]
            .as_object()
            .and_then(|s| s.values().next())
            .map_or(0, |snap| snap["blocks"].as_object().unwrap().len())
    };
    while blocks(&server.state()) < 4 {
        assert!(started.elapsed().as_secs() < 60, "the upload did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let state = server.state();
    let snaps = state["snapshots"].as_object().unwrap();
    assert_eq!(snaps.len(), 1);
    let snap = snaps.values().next().unwrap();
    assert_eq!(snap["state"], "pending", "{state:#}");
    assert!(
        blocks(&state) < 32,
        "the whole disk was sent before the kill"
    );
}

#[test]
fn incremental_snapshots_send_only_the_blocks_that_changed() {
    let Some((server, tmp)) = start(&[]) else {
        return;
    };
    let dir = tmp.path();
    let root = rootfs(dir);
    let path = |name: &str| dir.join(name).display().to_string();
    // The disk of `root` as it is now: into a new snapshot (over `parent`,
    // when given) and into `file`, laid out alike.
    let build = |file: &str, manifest: &str, parent: &[String]| {
        let mut args: Vec<String> = [
            "mkdisk",
            "--size",
            "200M",
            "--timestamp",
            TIMESTAMP,
            "--root",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.push(root.display().to_string());
        let mut to_file = args.clone();
        to_file[2] = "1G".into();
        to_file.push(path(file));
        let mut cmd = blockimg_cmd();
        RunOutput::run(cmd.args(&to_file)).assert_success();
        args.extend([
            "--to-snapshot".into(),
            "--block-manifest".into(),
            path(manifest),
        ]);
        args.extend(parent.iter().cloned());
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = blockimg(&server, &args);
        out.assert_success();
        printed_id(&out, "snap-")
    };
    let first = build("v1.img", "v1.blocks", &[]);
    std::fs::write(root.join("small"), pseudo_random_bytes(9, 70_000)).unwrap();
    let parent = [
        "--parent-snapshot".to_string(),
        first.clone(),
        "--parent-block-manifest".into(),
        path("v1.blocks"),
    ];
    let second = build("v2.img", "v2.blocks", &parent);

    let state = server.state();
    assert_eq!(state["snapshots"][&second]["parent"], first.as_str());
    let sent = state["snapshots"][&second]["blocks"]
        .as_object()
        .unwrap()
        .len();
    let all = data_blocks(&dir.join("v2.img")) as usize;
    assert!(
        sent > 0 && sent <= 4,
        "{sent} of {all} blocks sent for one changed file"
    );
    // The new manifest lists every block of the new disk that holds data,
    // not only those sent.
    let manifest = std::fs::read_to_string(dir.join("v2.blocks")).unwrap();
    assert!(
        manifest.contains(&format!("\nsnapshot {second}\n")),
        "{manifest}"
    );
    assert_eq!(manifest.lines().skip(4).count(), all);
    // EBS reads an incremental snapshot's other blocks from its parent.
    let base = dir.join("v1.volume");
    server.read_snapshot(&first, &base, None);
    assert_volume_matches(&base, &dir.join("v1.img"));
    let volume = dir.join("v2.volume");
    server.read_snapshot(&second, &volume, Some(&base));
    assert_volume_matches(&volume, &dir.join("v2.img"));

    // The same with the parent's image instead of its manifest.
    let out = blockimg(
        &server,
        &[
            "upload",
            &path("v2.img"),
            "--parent-snapshot",
            &first,
            "--parent-image",
            &path("v1.img"),
        ],
    );
    out.assert_success();
    let third = printed_id(&out, "snap-");
    assert_eq!(
        server.state()["snapshots"][&third]["blocks"]
            .as_object()
            .unwrap()
            .len(),
        sent
    );
    // A manifest of another snapshot is refused.
    blockimg(
        &server,
        &[
            "upload",
            &path("v2.img"),
            "--parent-snapshot",
            &second,
            "--parent-block-manifest",
            &path("v1.blocks"),
        ],
    )
    .assert_failure()
    .assert_stderr_contains(&format!("is the manifest of {first}, not of {second}"));
}
