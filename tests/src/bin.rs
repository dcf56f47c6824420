//! Locating and running the `blockimg` binary.
//!
//! The binary is not a target of this package, so Cargo does not build it for
//! these tests. The first call in a test process runs
//! `cargo build -p blockimg-cli --bin blockimg` with the profile of the running test
//! executable (a no-op when the binary is up to date, so a stale binary is
//! never tested), then uses `<target dir>/<profile>/blockimg`. `BLOCKIMG_BIN`
//! names a binary to use instead, without building.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::OnceLock;

static BIN: OnceLock<PathBuf> = OnceLock::new();

/// Path of the `blockimg` binary, built once per test process.
pub fn blockimg_bin() -> &'static Path {
    BIN.get_or_init(locate_or_build)
}

fn locate_or_build() -> PathBuf {
    if let Some(bin) = std::env::var_os("BLOCKIMG_BIN") {
        let bin = PathBuf::from(bin);
        assert!(
            bin.is_file(),
            "BLOCKIMG_BIN={} is not a file",
            bin.display()
        );
        return bin;
    }
    build(
        &["-p", "blockimg-cli", "--bin", "blockimg"],
        Path::new("blockimg"),
    )
}

/// Path of the library's example `name` (blockimg/examples/NAME.rs),
/// built with the profile of the running test executable.
pub fn example_bin(name: &str) -> PathBuf {
    build(
        &["-p", "blockimg", "--example", name],
        &Path::new("examples").join(name),
    )
}

/// Runs `cargo build ARGS` with the profile and target directory of the
/// running test executable and returns `<target>/<profile>/OUTPUT`.
fn build(args: &[&str], output: &Path) -> PathBuf {
    let exe = std::env::current_exe().expect("path of the test executable");
    // target/<profile>/deps/<test executable>
    let mut profile_dir = exe.parent().expect("test executable has a parent");
    if profile_dir.file_name() == Some(OsStr::new("deps")) {
        profile_dir = profile_dir.parent().expect("deps has a parent");
    }
    let profile = profile_dir
        .file_name()
        .and_then(OsStr::to_str)
        .expect("profile directory name")
        .to_owned();
    let target_root = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => profile_dir
            .parent()
            .expect("target directory above the profile directory")
            .to_path_buf(),
    };
    let bin = target_root.join(&profile).join(output);

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .join("Cargo.toml");
    let mut cmd = Command::new(&cargo);
    cmd.arg("build")
        .arg("--manifest-path")
        .arg(&manifest)
        .args(args)
        .arg("--target-dir")
        .arg(&target_root);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    match cmd.output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "building {args:?} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) if bin.is_file() => {
            eprintln!(
                "cannot run {} ({e}); using the existing {}",
                Path::new(&cargo).display(),
                bin.display()
            );
        }
        Err(e) => panic!(
            "cannot run {} to build {args:?}: {e}",
            Path::new(&cargo).display()
        ),
    }
    assert!(
        bin.is_file(),
        "{} is not there after building it",
        bin.display()
    );
    bin
}

/// A `Command` for the `blockimg` binary. `SOURCE_DATE_EPOCH` is removed from
/// its environment so that a test decides about reproducible builds itself.
pub fn blockimg_cmd() -> Command {
    let mut cmd = Command::new(blockimg_bin());
    cmd.env_remove("SOURCE_DATE_EPOCH");
    cmd.stdin(Stdio::null());
    cmd
}

/// What a finished process printed and how it exited.
#[derive(Debug)]
pub struct RunOutput {
    /// The command line, for messages.
    pub command: String,
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output (lossily decoded).
    pub stdout: String,
    /// Standard error (lossily decoded).
    pub stderr: String,
}

impl RunOutput {
    /// Runs `cmd` to completion and captures its output.
    pub fn run(cmd: &mut Command) -> RunOutput {
        Self::run_with_input(cmd, Stdio::null())
    }

    /// Like [`RunOutput::run`], with `input` as standard input.
    pub fn run_with_input(cmd: &mut Command, input: impl Into<Stdio>) -> RunOutput {
        let command = format!("{cmd:?}");
        let out = cmd
            .stdin(input)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {command}: {e}"));
        RunOutput {
            command,
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Panics with the full output unless the process exited with status 0.
    pub fn assert_success(&self) -> &Self {
        assert!(
            self.status.success(),
            "{} failed ({}).\nstdout:\n{}\nstderr:\n{}",
            self.command,
            self.status,
            self.stdout,
            self.stderr
        );
        self
    }

    /// Panics unless the process exited with a non-zero status (a death by
    /// signal is a failure too: it is a crash, not an error report).
    pub fn assert_failure(&self) -> &Self {
        match self.status.code() {
            Some(0) => panic!(
                "{} succeeded but should have failed.\nstdout:\n{}\nstderr:\n{}",
                self.command, self.stdout, self.stderr
            ),
            Some(_) => {}
            None => panic!(
                "{} was killed ({}) instead of reporting an error.\nstderr:\n{}",
                self.command, self.status, self.stderr
            ),
        }
        assert!(
            !self.stderr.trim().is_empty(),
            "{} failed without a message on stderr",
            self.command
        );
        self
    }

    /// Panics unless stderr contains `needle` (case-insensitively).
    pub fn assert_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.to_lowercase().contains(&needle.to_lowercase()),
            "stderr of {} does not mention {needle:?}:\n{}",
            self.command,
            self.stderr
        );
        self
    }
}

/// Runs `blockimg mkdisk ARGS...` and captures its output.
pub fn mkdisk<I, S>(args: I) -> RunOutput
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = blockimg_cmd();
    cmd.arg("mkdisk").args(args);
    RunOutput::run(&mut cmd)
}
