//! Recipes under test: the inputs the examples in docs/examples name, made
//! in a scratch directory, and the plan `blockimg build --dry-run` prints,
//! read back.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::bin::blockimg_cmd;
use crate::vm::marker_root;

/// The directory holding the example recipes.
pub fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("docs/examples")
}

/// Writes `dir/rootfs.tar`: a busybox root (every applet linked in /bin,
/// root in /etc/passwd) whose `/sbin/init` prints `ROOT: MARKER` from
/// `/marker` and powers off (see [`marker_root`]). Returns the tree's path
/// too.
pub fn busybox_rootfs_tar(dir: &Path, busybox: &Path, marker: &str) -> (PathBuf, PathBuf) {
    let root = marker_root(dir, busybox, marker);
    let list = Command::new(busybox)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = root.join("bin").join(applet);
        if applet != "busybox" && !link.exists() {
            symlink("busybox", &link).expect("applet link");
        }
    }
    fs::create_dir_all(root.join("etc")).expect("etc");
    fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").expect("passwd");
    fs::write(root.join("etc/group"), "root:x:0:\n").expect("group");
    let tar = dir.join("rootfs.tar");
    let status = Command::new("tar")
        .args(["--owner=0", "--group=0", "-cf"])
        .arg(&tar)
        .arg("-C")
        .arg(&root)
        .arg(".")
        .status()
        .expect("run tar");
    assert!(status.success(), "tar failed");
    (tar, root)
}

/// The inputs the examples name, made in `dir`: `rootfs.tar` (busybox
/// root), `rootfs/`, `data/`, `files/motd`, `vmlinuz` (a copy of
/// `kernel`), `modules` (a link to `modules`), `id_ed25519.pub`.
pub fn example_inputs(dir: &Path, busybox: &Path, kernel: &Path, modules: &Path) {
    busybox_rootfs_tar(dir, busybox, "recipe-example");
    for sub in ["rootfs/etc", "data/sub", "files"] {
        fs::create_dir_all(dir.join(sub)).expect("input dirs");
    }
    fs::write(dir.join("rootfs/etc/issue"), "example\n").expect("issue");
    fs::write(dir.join("data/sub/data.txt"), "data partition\n").expect("data");
    fs::write(dir.join("files/motd"), "welcome\n").expect("motd");
    fs::copy(kernel, dir.join("vmlinuz")).expect("kernel");
    fs::set_permissions(dir.join("vmlinuz"), fs::Permissions::from_mode(0o644)).expect("chmod");
    symlink(modules, dir.join("modules")).expect("modules link");
    fs::write(
        dir.join("id_ed25519.pub"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJsb2NraW1nIHRlc3Qga2V5IG5vdCBhIHJlYWwgb25l test@blockimg\n",
    )
    .expect("key");
}

/// One partition of a plan printed by `--dry-run`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlannedPartition {
    /// Number in the table.
    pub number: u32,
    /// Role word (`root`, `esp`, ...).
    pub role: String,
    /// Byte offset.
    pub start: u64,
    /// Bytes.
    pub size: u64,
    /// What it holds (`ext4 ...`, `FAT32`, `swap ...`).
    pub content: String,
}

/// What `--dry-run` printed: the partitions and the added entries as
/// `(path, origin)`.
#[derive(Clone, Debug, Default)]
pub struct Plan {
    /// The text.
    pub text: String,
    /// Partitions in table order.
    pub partitions: Vec<PlannedPartition>,
    /// Added paths and who added them.
    pub added: Vec<(String, String)>,
}

/// Runs `blockimg build --dry-run RECIPE` (which must succeed) and reads
/// the plan it prints.
pub fn dry_run(recipe: &Path) -> Plan {
    let out = blockimg_cmd()
        .args(["build", "--dry-run"])
        .arg(recipe)
        .output()
        .expect("run blockimg build --dry-run");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "dry run of {} failed: {}",
        recipe.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_plan(&text)
}

/// Reads the plan printed by `--dry-run`.
pub fn parse_plan(text: &str) -> Plan {
    let mut plan = Plan {
        text: text.to_string(),
        ..Plan::default()
    };
    let number_after = |line: &str, key: &str| -> u64 {
        let rest = &line[line.find(key).expect(key) + key.len()..];
        rest.split(|c: char| !c.is_ascii_digit())
            .next()
            .unwrap_or("")
            .parse()
            .expect("number")
    };
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("  partition ") {
            let (number, rest) = rest.split_once(": ").expect("partition line");
            let role = rest.split([',', ' ']).next().unwrap_or("").to_string();
            let content = rest
                .split_once(" bytes): ")
                .map(|(_, c)| c)
                .unwrap_or("")
                .to_string();
            let size_part = &rest[rest.find(", size ").expect("size")..];
            plan.partitions.push(PlannedPartition {
                number: number.parse().expect("partition number"),
                role,
                start: number_after(rest, ", start "),
                size: number_after(size_part, "("),
                content,
            });
        } else if let Some(rest) = line.strip_prefix("  + /") {
            let (path, rest) = rest.split_once(" (").expect("added line");
            let origin = rest
                .rsplit_once("; ")
                .map(|(_, o)| o.trim_end_matches(')'))
                .unwrap_or("");
            plan.added.push((format!("/{path}"), origin.to_string()));
        }
    }
    plan
}
