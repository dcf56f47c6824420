//! `blockimg write`: an image of any format written in place onto a plain
//! file standing in for a device and, as root, onto a loop device; and the
//! targets it must refuse (too small for the data, not blank, mounted,
//! behind a loop device).

use std::fs;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use blockimg_tests::fixture::pseudo_random_bytes;
use blockimg_tests::tools::tool;
use blockimg_tests::{
    blockimg_cmd, e2fsck_clean, find_tool, is_root, require_e2fsprogs, RunOutput, PART_OFFSET,
};

const DISK: u64 = 32 << 20;

struct Work {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    raw: PathBuf,
}

impl Work {
    /// A raw disk of 32 MiB holding a little data, and the same disk as a
    /// dynamic VHD and a stream-optimized VMDK.
    fn new() -> Work {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let tree = dir.join("tree");
        fs::create_dir(&tree).unwrap();
        fs::write(tree.join("data"), pseudo_random_bytes(11, 300_000)).unwrap();
        let raw = dir.join("disk.img");
        let mut cmd = blockimg_cmd();
        cmd.args(["mkdisk", "-q", "-s", &DISK.to_string(), "-r"])
            .arg(&tree)
            .arg(&raw);
        RunOutput::run(&mut cmd).assert_success();
        for name in ["disk.vhd", "disk.vmdk"] {
            let mut cmd = blockimg_cmd();
            cmd.args(["convert", "-q"]).arg(&raw).arg(dir.join(name));
            RunOutput::run(&mut cmd).assert_success();
        }
        Work {
            _tmp: tmp,
            dir,
            raw,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn vmdk(&self) -> PathBuf {
        self.path("disk.vmdk")
    }

    /// A target file of `len` bytes: zeros, with `pattern` bytes of 0xEE
    /// written at each given offset.
    fn target(&self, name: &str, len: u64, pattern: &[(u64, usize)]) -> PathBuf {
        let path = self.path(name);
        let file = fs::File::create(&path).unwrap();
        file.set_len(len).unwrap();
        for &(at, n) in pattern {
            file.write_all_at(&vec![0xee; n], at).unwrap();
        }
        path
    }
}

fn write(image: &Path, target: &Path, extra: &[&str]) -> RunOutput {
    let mut cmd = blockimg_cmd();
    cmd.arg("write").args(extra).arg(image).arg(target);
    RunOutput::run(&mut cmd)
}

#[test]
fn every_format_is_written_onto_a_plain_file_in_place() {
    let work = Work::new();
    let raw = fs::read(&work.raw).unwrap();
    for name in ["disk.img", "disk.vhd", "disk.vmdk"] {
        // Larger than the disk; what lies past the disk (which the VHD
        // rounds up by less than a cylinder) must stay.
        let past = DISK + (2 << 20);
        let target = work.target("target", DISK + (4 << 20), &[(past, 4096)]);
        let run = write(&work.path(name), &target, &["--verify"]);
        run.assert_success();
        assert!(run.stdout.contains("verified"), "{}", run.stdout);
        let got = fs::read(&target).unwrap();
        assert_eq!(got.len() as u64, DISK + (4 << 20), "{name}: target resized");
        // The VHD rounds the disk up with zeros; the disk itself is equal.
        assert!(got[..raw.len()] == raw[..], "{name}: the disk differs");
        let after = &got[past as usize..past as usize + 4096];
        assert!(
            after.iter().all(|&b| b == 0xee),
            "{name}: wrote past the disk"
        );
        if require_e2fsprogs() {
            e2fsck_clean(&target, PART_OFFSET);
        }
        fs::remove_file(&target).unwrap();
    }
}

#[test]
fn a_vhd_fits_a_target_of_the_disk_size_it_was_made_for() {
    // The VHD's disk is rounded up past 32 MiB with zeros; a 32 MiB target
    // takes the disk, without the zeros.
    let work = Work::new();
    let target = work.target("exact", DISK, &[]);
    write(&work.path("disk.vhd"), &target, &["--verify"]).assert_success();
    assert!(fs::read(&target).unwrap() == fs::read(&work.raw).unwrap());
}

#[test]
fn zeros_are_written_unless_skipped_and_verify_sees_the_difference() {
    let work = Work::new();
    let raw = fs::read(&work.raw).unwrap();
    // Stale bytes in the middle of the target, where the disk has zeros.
    let stale = DISK - (2 << 20);
    assert!(raw[stale as usize..stale as usize + 4096]
        .iter()
        .all(|&b| b == 0));
    let target = work.target("t", DISK, &[(stale, 4096)]);
    write(&work.raw, &target, &["--skip-zeros"]).assert_success();
    let got = fs::read(&target).unwrap();
    assert!(got[stale as usize] == 0xee, "--skip-zeros wrote the zeros");
    // The target now differs from the image where zeros were skipped.
    let run = write(&work.raw, &target, &["--skip-zeros", "--force", "--verify"]);
    run.assert_failure()
        .assert_stderr_contains(&format!("byte offset {stale} differs"));
    // Without --skip-zeros the stale bytes are overwritten.
    write(&work.raw, &target, &["--force", "--verify"]).assert_success();
    assert!(fs::read(&target).unwrap() == raw);
}

#[test]
fn targets_that_must_not_be_written() {
    let work = Work::new();
    // Too small for the data (the message names both sizes).
    let small = work.target("small", 8 << 20, &[]);
    write(&work.raw, &small, &[])
        .assert_failure()
        .assert_stderr_contains("needs")
        .assert_stderr_contains(&(8u64 << 20).to_string());
    assert!(fs::read(&small).unwrap().iter().all(|&b| b == 0));
    // One sector short of the partition, whose last blocks are free (zeros).
    let short = work.target("short", DISK - 512, &[]);
    write(&work.raw, &short, &[])
        .assert_failure()
        .assert_stderr_contains(&format!("needs {DISK} bytes"));
    // Holding data: refused without --force, untouched.
    let used = work.target("used", DISK, &[(4096, 16)]);
    write(&work.vmdk(), &used, &[])
        .assert_failure()
        .assert_stderr_contains("not blank")
        .assert_stderr_contains("--force");
    let got = fs::read(&used).unwrap();
    assert!(got[4096..4112].iter().all(|&b| b == 0xee) && got[..4096].iter().all(|&b| b == 0));
    // Not a device or a file; missing.
    write(&work.raw, &work.dir, &[])
        .assert_failure()
        .assert_stderr_contains("neither a block device nor a regular file");
    write(&work.raw, &work.path("missing"), &[])
        .assert_failure()
        .assert_stderr_contains("missing");
}

/// A loop device over a file, detached (and unmounted) on drop.
struct Loop {
    device: String,
    mount: Option<tempfile::TempDir>,
}

impl Loop {
    /// Attaches `file` (from `offset`); `None`, after printing why, when
    /// this cannot run here.
    fn attach(file: &Path, offset: u64) -> Option<Loop> {
        if !is_root() {
            eprintln!("SKIPPED: loop devices need root");
            return None;
        }
        if find_tool("losetup").is_none() || find_tool("mount").is_none() {
            eprintln!("SKIPPED: losetup or mount is not installed");
            return None;
        }
        let out = tool("losetup")
            .args(["--find", "--show"])
            .arg(format!("--offset={offset}"))
            .arg(file)
            .output()
            .unwrap();
        let device = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if !out.status.success() || !device.starts_with("/dev/") {
            eprintln!(
                "SKIPPED: no loop device available: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(Loop {
            device,
            mount: None,
        })
    }

    fn path(&self) -> &Path {
        Path::new(&self.device)
    }

    fn mount(&mut self) {
        let dir = tempfile::tempdir().unwrap();
        let status = tool("mount")
            .args(["-t", "ext4", "-o", "ro"])
            .arg(&self.device)
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "mount {} failed", self.device);
        self.mount = Some(dir);
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        if let Some(dir) = &self.mount {
            let _ = Command::new("umount").arg(dir.path()).status();
        }
        let _ = Command::new("losetup").arg("-d").arg(&self.device).status();
    }
}

#[test]
fn onto_a_loop_device() {
    let work = Work::new();
    let backing = work.target("backing", DISK + (8 << 20), &[]);
    let Some(dev) = Loop::attach(&backing, 0) else {
        return;
    };
    let run = write(&work.vmdk(), dev.path(), &["--verify"]);
    run.assert_success();
    drop(dev);
    let got = fs::read(&backing).unwrap();
    let raw = fs::read(&work.raw).unwrap();
    assert!(got[..raw.len()] == raw[..], "the device holds another disk");
    if require_e2fsprogs() {
        e2fsck_clean(&backing, PART_OFFSET);
    }
}

#[test]
fn mounted_devices_and_files_behind_loop_devices_are_refused() {
    let work = Work::new();
    // A copy of the disk whose filesystem gets mounted through a loop
    // device at the partition's offset.
    let disk = work.path("mounted.img");
    fs::copy(&work.raw, &disk).unwrap();
    let Some(mut part) = Loop::attach(&disk, PART_OFFSET) else {
        return;
    };
    part.mount();
    let before = fs::read(&disk).unwrap();
    write(&work.raw, part.path(), &["--force"])
        .assert_failure()
        .assert_stderr_contains("is in use")
        .assert_stderr_contains("mounted at");
    write(&work.raw, &disk, &["--force"])
        .assert_failure()
        .assert_stderr_contains("backs loop device");
    drop(part);
    assert!(
        fs::read(&disk).unwrap() == before,
        "a refused write changed the target"
    );
}

/// `mkdisk` straight onto a block device: a gzip tar from standard input is
/// read once, its data written in place as it streams; a directory goes
/// through the planned path. Either way the device ends up holding the
/// same bytes as the image file the same build gives, old contents and
/// all zeroed, and a device that is not blank is refused without --force.
#[test]
fn mkdisk_builds_onto_a_loop_device_in_place() {
    if !require_e2fsprogs() || find_tool("tar").is_none() {
        eprintln!("SKIPPED: tar is not installed");
        return;
    }
    let work = Work::new();
    let tree = work.path("tree");
    let archive = work.path("tree.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&archive)
        .arg("-C")
        .arg(&tree)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    // Old contents everywhere, as on a reused volume.
    let backing = work.target(
        "backing",
        DISK + (8 << 20),
        &[(0, (DISK + (8 << 20)) as usize)],
    );
    let Some(dev) = Loop::attach(&backing, 0) else {
        return;
    };
    let mkdisk = |root: &Path, output: &Path, extra: &[&str]| {
        let mut cmd = blockimg_cmd();
        cmd.args(["mkdisk", "-q", "--timestamp", "1700000000", "-s"])
            .arg(DISK.to_string())
            .arg("--root")
            .arg(root)
            .args(extra)
            .arg(output);
        if root == Path::new("-") {
            cmd.stdin(fs::File::open(&archive).unwrap());
        }
        RunOutput::run(&mut cmd)
    };
    mkdisk(Path::new("-"), dev.path(), &[])
        .assert_failure()
        .assert_stderr_contains("not blank");
    assert!(fs::read(&backing).unwrap().iter().all(|&b| b == 0xee));

    for (root, name) in [
        (Path::new("-"), "from-tar.img"),
        (tree.as_path(), "from-dir.img"),
    ] {
        let file = work.path(name);
        mkdisk(root, &file, &[]).assert_success();
        mkdisk(root, dev.path(), &["--force"]).assert_success();
        let on_device = fs::read(&backing).unwrap();
        let image = fs::read(&file).unwrap();
        assert_eq!(image.len() as u64, DISK);
        assert!(
            on_device[..image.len()] == image[..],
            "the device differs from {name}"
        );
        assert!(
            on_device[image.len()..].iter().all(|&b| b == 0xee),
            "bytes past the disk were written"
        );
        e2fsck_clean(&backing, PART_OFFSET);
        // Start the next build from old contents again.
        fs::File::options()
            .write(true)
            .open(&backing)
            .unwrap()
            .write_all_at(&vec![0xee; DISK as usize], 0)
            .unwrap();
    }
}
