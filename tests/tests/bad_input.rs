//! What `blockimg mkdisk` does with input it cannot use: a non-zero exit, a
//! message that names the problem, no output file (not even a partial or
//! temporary one), and an existing output left byte for byte as it was.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use blockimg_tests::fixture::pseudo_random_bytes;
use blockimg_tests::{
    blockimg_bin, e2fsck_clean, find_tool, is_root, mkdisk, require_e2fsprogs, RunOutput,
    PART_OFFSET,
};

/// A directory holding only the output to be, so leftovers are visible.
struct OutDir {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl OutDir {
    fn new() -> OutDir {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("out");
        fs::create_dir(&dir).unwrap();
        OutDir { _tmp: tmp, dir }
    }

    fn img(&self) -> PathBuf {
        self.dir.join("disk.img")
    }

    /// Names in the output directory.
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn assert_empty(&self, run: &RunOutput) {
        assert_eq!(
            self.listing(),
            Vec::<String>::new(),
            "a failed run left files behind ({})",
            run.command
        );
    }

    /// Puts a file with known bytes where the output goes.
    fn existing(&self) -> Vec<u8> {
        let bytes = pseudo_random_bytes(42, 10_000);
        fs::write(self.img(), &bytes).unwrap();
        bytes
    }

    fn assert_untouched(&self, bytes: &[u8], run: &RunOutput) {
        assert_eq!(
            self.listing(),
            vec!["disk.img".to_string()],
            "the output directory changed ({})",
            run.command
        );
        assert!(
            fs::read(self.img()).unwrap() == bytes,
            "the existing output was modified by {}",
            run.command
        );
    }
}

fn args<'a>(list: &'a [&'a str], img: &'a Path) -> Vec<&'a OsStr> {
    let mut v: Vec<&OsStr> = list.iter().map(|s| s.as_ref()).collect();
    v.push(img.as_os_str());
    v
}

/// A tree of about 24 MiB of incompressible data.
fn big_tree(dir: &Path) {
    fs::create_dir_all(dir).unwrap();
    for i in 0..3 {
        fs::write(
            dir.join(format!("blob{i}")),
            pseudo_random_bytes(i, 8 << 20),
        )
        .unwrap();
    }
}

/// Asserts that a "too small" message gives the bytes needed and the bytes
/// available, and that the first exceeds the second.
fn assert_needed_exceeds_available(run: &RunOutput) {
    let numbers: Vec<u64> = run
        .stderr
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|word| word.parse().ok())
        .collect();
    let msg = run.stderr.to_lowercase();
    assert!(
        msg.contains("need") && msg.contains("available") && numbers.len() >= 2,
        "the message does not say what is needed and what is available:\n{}",
        run.stderr
    );
    let [needed, available] = numbers[numbers.len() - 2..] else {
        unreachable!("two numbers were checked for")
    };
    assert!(
        needed > available,
        "the message claims {needed} bytes are needed but {available} are available:\n{}",
        run.stderr
    );
}

#[test]
fn size_too_small_for_the_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    big_tree(&src);
    let out = OutDir::new();
    let src_s = src.to_str().unwrap();
    let run = mkdisk(args(&["--size", "8M", "--root", src_s], &out.img()));
    run.assert_failure();
    assert_needed_exceeds_available(&run);
    out.assert_empty(&run);

    // With --force over an existing file: still untouched.
    let bytes = out.existing();
    let run = mkdisk(args(
        &["--force", "--size", "8M", "--root", src_s],
        &out.img(),
    ));
    run.assert_failure();
    out.assert_untouched(&bytes, &run);
}

/// A tar archive streams into the image: the data that no longer fits is
/// found mid-archive, and the error names that member.
#[test]
fn size_too_small_for_a_streamed_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    big_tree(&src);
    let archive = tmp.path().join("tree.tar");
    let status = std::process::Command::new("tar")
        .arg("cf")
        .arg(&archive)
        .arg("-C")
        .arg(&src)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success(), "tar cf failed");
    let out = OutDir::new();
    let run = mkdisk(args(
        &["--size", "16M", "--root", archive.to_str().unwrap()],
        &out.img(),
    ));
    run.assert_failure();
    run.assert_stderr_contains("member \"./blob");
    assert_needed_exceeds_available(&run);
    out.assert_empty(&run);
}

#[test]
fn malformed_sizes() {
    let out = OutDir::new();
    // `--size=VALUE`, so that the value reaches the size parser even when it
    // starts with a dash.
    for size in ["12Q", "abc", "-1G", "1.5.G", "G", ""] {
        let arg = format!("--size={size}");
        let run = mkdisk(args(&[&arg], &out.img()));
        run.assert_failure();
        if !size.is_empty() {
            run.assert_stderr_contains(size);
        }
        out.assert_empty(&run);
    }
    // As a separate argument a negative size is refused too.
    let run = mkdisk(args(&["--size", "-1G"], &out.img()));
    run.assert_failure();
    out.assert_empty(&run);
}

#[test]
fn zero_size() {
    let out = OutDir::new();
    for size in ["0", "0G", "0M"] {
        let run = mkdisk(args(&["--size", size], &out.img()));
        run.assert_failure();
        out.assert_empty(&run);
    }
}

#[test]
fn size_too_small_even_when_empty() {
    let out = OutDir::new();
    let run = mkdisk(args(&["--size", "4096"], &out.img()));
    run.assert_failure();
    out.assert_empty(&run);
}

#[test]
fn existing_output_needs_force() {
    if !require_e2fsprogs() {
        return;
    }
    let out = OutDir::new();
    let bytes = out.existing();
    let run = mkdisk(args(&["--size", "64M"], &out.img()));
    run.assert_failure();
    run.assert_stderr_contains("disk.img");
    run.assert_stderr_contains("exists");
    out.assert_untouched(&bytes, &run);

    let run = mkdisk(args(&["--force", "--size", "64M"], &out.img()));
    run.assert_success();
    assert_eq!(out.listing(), vec!["disk.img".to_string()]);
    assert_eq!(fs::metadata(out.img()).unwrap().len(), 64 << 20);
    e2fsck_clean(&out.img(), PART_OFFSET);

    let run = mkdisk(args(&["-f", "--size", "32M"], &out.img()));
    run.assert_success();
    assert_eq!(fs::metadata(out.img()).unwrap().len(), 32 << 20);
    e2fsck_clean(&out.img(), PART_OFFSET);
}

#[test]
fn missing_root_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let missing = tmp.path().join("no-such-directory");
    let out = OutDir::new();
    let run = mkdisk(args(
        &["--size", "64M", "--root", missing.to_str().unwrap()],
        &out.img(),
    ));
    run.assert_failure();
    run.assert_stderr_contains(missing.to_str().unwrap());
    out.assert_empty(&run);
}

#[test]
fn root_that_is_a_file_but_not_an_archive() {
    let tmp = tempfile::tempdir().unwrap();
    // Shorter than a tar header, and longer text (such as /etc/services).
    for (name, text, why) in [
        ("a-file", b"not a directory".to_vec(), "holds 15 bytes"),
        (
            "services",
            b"ssh\t\t22/tcp\n".repeat(100),
            "first 512 bytes are not a tar header",
        ),
    ] {
        let file = tmp.path().join(name);
        fs::write(&file, text).unwrap();
        let out = OutDir::new();
        let run = mkdisk(args(
            &["--size", "64M", "--root", file.to_str().unwrap()],
            &out.img(),
        ));
        run.assert_failure();
        run.assert_stderr_contains(file.to_str().unwrap());
        run.assert_stderr_contains("not a tar archive");
        run.assert_stderr_contains(why);
        out.assert_empty(&run);
    }
}

#[test]
fn unreadable_source_file() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("readable"), b"fine").unwrap();
    let secret = src.join("sub/secret");
    fs::write(&secret, b"no one may read this").unwrap();
    fs::set_permissions(&secret, fs::Permissions::from_mode(0o000)).unwrap();
    let out = OutDir::new();

    let run = if is_root() {
        // Root reads everything: run as nobody instead.
        let Some(setpriv) = find_tool("setpriv") else {
            eprintln!("SKIPPED: as root this test needs setpriv to drop privileges");
            return;
        };
        for dir in [tmp.path(), src.as_path(), src.join("sub").as_path()] {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o755)).unwrap();
        }
        fs::set_permissions(out._tmp.path(), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(&out.dir, fs::Permissions::from_mode(0o777)).unwrap();
        let nobody = |cmd: &mut std::process::Command| {
            cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"]);
        };
        let mut probe = std::process::Command::new(&setpriv);
        nobody(&mut probe);
        probe.arg(blockimg_bin()).arg("--help");
        let probe = RunOutput::run(&mut probe);
        if !probe.status.success() {
            eprintln!(
                "SKIPPED: user nobody cannot run {} ({}): {}",
                blockimg_bin().display(),
                probe.status,
                probe.stderr
            );
            return;
        }
        let mut cmd = std::process::Command::new(&setpriv);
        nobody(&mut cmd);
        cmd.env_remove("SOURCE_DATE_EPOCH")
            .arg(blockimg_bin())
            .args(["mkdisk", "--size", "64M", "--root"])
            .arg(&src)
            .arg(out.img());
        RunOutput::run(&mut cmd)
    } else {
        mkdisk(args(
            &["--size", "64M", "--root", src.to_str().unwrap()],
            &out.img(),
        ))
    };
    run.assert_failure();
    run.assert_stderr_contains("secret");
    out.assert_empty(&run);
}

#[test]
fn label_longer_than_16_bytes() {
    let out = OutDir::new();
    let run = mkdisk(args(
        &["--size", "64M", "-L", "seventeen-bytes-x"],
        &out.img(),
    ));
    run.assert_failure();
    run.assert_stderr_contains("label");
    out.assert_empty(&run);
    // 16 bytes of multi-byte UTF-8 is fine; 18 is not.
    let run = mkdisk(args(&["--size", "64M", "-L", "ééééééééé"], &out.img()));
    run.assert_failure();
    out.assert_empty(&run);
}

#[test]
fn bad_block_size_and_owner_and_uuid() {
    let out = OutDir::new();
    for bad in [
        &["--size", "64M", "-b", "512"][..],
        &["--size", "64M", "-b", "8192"],
        &["--size", "64M", "--owner", "root"],
        &["--size", "64M", "--owner", "1:x"],
        &["--size", "64M", "--uuid", "not-a-uuid"],
        &["--size", "64M", "--table", "gpt-please"],
    ] {
        let run = mkdisk(args(bad, &out.img()));
        run.assert_failure();
        out.assert_empty(&run);
    }
}

/// `--force` replaces a regular file, never a FIFO or a directory standing
/// where the output goes (a block device is built on in place instead).
#[test]
fn force_never_replaces_what_is_not_a_regular_file() {
    let out = OutDir::new();
    let fifo = out.img();
    let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: mkfifo reads a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o644) }, 0);
    let run = mkdisk(args(&["--size", "64M", "--force"], &fifo));
    run.assert_failure()
        .assert_stderr_contains("is not a regular file");
    assert!(
        fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(),
        "the FIFO was replaced"
    );
    assert_eq!(out.listing(), vec!["disk.img".to_string()]);
}

/// A build killed with SIGKILL while it writes leaves nothing in the output
/// directory: the image is written to an unnamed file that vanishes with
/// the process.
#[test]
fn a_build_killed_while_writing_leaves_nothing() {
    let out = OutDir::new();
    let mut child = std::process::Command::new(blockimg_bin())
        .args(["mkdisk", "-q", "--size", "16G", "--root", "/usr"])
        .arg(out.img())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Writing has started once the process holds a file in the output
    // directory.
    let fd_dir = PathBuf::from(format!("/proc/{}/fd", child.id()));
    let writing = || {
        fs::read_dir(&fd_dir)
            .into_iter()
            .flatten()
            .flatten()
            .any(|fd| fs::read_link(fd.path()).is_ok_and(|target| target.starts_with(&out.dir)))
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !writing() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "mkdisk ended before it started writing"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "mkdisk never started writing"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "mkdisk was not killed midway"
    );
    assert_eq!(
        out.listing(),
        Vec::<String>::new(),
        "a killed build left files"
    );
}

/// An output directory that cannot be written to: a read-only mount (as
/// root, who may write anywhere else), or a directory without write
/// permission.
#[test]
fn read_only_output_directory() {
    let out = OutDir::new();
    let mounted = if is_root() {
        let Some(mount) = find_tool("mount") else {
            eprintln!("SKIPPED: as root this test needs mount for a read-only directory");
            return;
        };
        let status = std::process::Command::new(mount)
            .args(["-t", "tmpfs", "-o", "ro,size=1m", "tmpfs"])
            .arg(&out.dir)
            .status()
            .unwrap();
        if !status.success() {
            eprintln!("SKIPPED: cannot mount a read-only tmpfs here");
            return;
        }
        true
    } else {
        fs::set_permissions(&out.dir, fs::Permissions::from_mode(0o555)).unwrap();
        false
    };
    let run = mkdisk(args(&["--size", "64M"], &out.img()));
    let listing = out.listing();
    if mounted {
        let _ = std::process::Command::new("umount").arg(&out.dir).status();
    }
    run.assert_failure()
        .assert_stderr_contains(&out.dir.display().to_string());
    assert!(
        run.stderr.contains("Read-only file system") || run.stderr.contains("Permission denied"),
        "{}",
        run.stderr
    );
    assert_eq!(listing, Vec::<String>::new());
}
