//! `qemu-img`, the oracle for disk image formats: what it reports about an
//! image (`info`), whether it finds the image consistent (`check`), whether
//! two images hold the same disk (`compare`), and images it writes itself
//! (`convert`) for blockimg to read.

use std::ffi::OsStr;
use std::path::Path;
use std::process::Output;

use crate::tools::{require_tool, tool};

/// True when `qemu-img` is installed; prints why the caller skips otherwise.
pub fn require_qemu_img() -> bool {
    require_tool("qemu-img")
}

/// What `qemu-img info --output=json` reports.
#[derive(Debug, Clone)]
pub struct QemuInfo {
    /// The format driver (`raw`, `vpc`, `vmdk`).
    pub format: String,
    /// The virtual disk's size in bytes.
    pub virtual_size: u64,
    /// The whole JSON text, for messages.
    pub json: String,
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    tool("qemu-img").args(args).output().expect("run qemu-img")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The value after `"key":` in JSON text (a string or a number), from the
/// first occurrence.
fn json_value<'a>(json: &'a str, key: &str) -> Option<&'a str> {
    let start = json.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = json[start..].trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        s.split('"').next()
    } else {
        rest.split([',', '\n', '}']).next().map(str::trim)
    }
}

/// Runs `qemu-img info` on `img`, with `-f FORMAT` when given (a fixed VHD
/// has its footer at the end, which qemu-img does not probe for).
pub fn info(img: &Path, format: Option<&str>) -> QemuInfo {
    let mut args: Vec<&OsStr> = vec![OsStr::new("info"), OsStr::new("--output=json")];
    if let Some(f) = format {
        args.extend([OsStr::new("-f"), OsStr::new(f)]);
    }
    args.push(img.as_os_str());
    let out = run(&args);
    let json = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "qemu-img info {} failed: {}",
        img.display(),
        text(&out)
    );
    QemuInfo {
        format: json_value(&json, "format").unwrap_or_default().to_owned(),
        virtual_size: json_value(&json, "virtual-size")
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no virtual-size in qemu-img info:\n{json}")),
        json,
    }
}

/// Runs `qemu-img check -f FORMAT IMG` and returns its exit code and output.
pub fn check(img: &Path, format: &str) -> (i32, String) {
    let out = run(&[
        OsStr::new("check"),
        OsStr::new("-f"),
        OsStr::new(format),
        img.as_os_str(),
    ]);
    (out.status.code().unwrap_or(-1), text(&out))
}

/// Runs `qemu-img compare -f raw -F FORMAT RAW IMG`: exit 0 when both hold
/// the same disk (a larger one matching where it is longer only with
/// zeros). Returns the exit code and output.
pub fn compare(raw: &Path, img: &Path, format: &str) -> (i32, String) {
    let out = run(&[
        OsStr::new("compare"),
        OsStr::new("-f"),
        OsStr::new("raw"),
        OsStr::new("-F"),
        OsStr::new(format),
        raw.as_os_str(),
        img.as_os_str(),
    ]);
    (out.status.code().unwrap_or(-1), text(&out))
}

/// Runs `qemu-img convert -f IN_FORMAT -O OUT_FORMAT [OPTIONS] IN OUT`,
/// panicking with its output on failure.
pub fn convert(input: &Path, in_format: &str, output: &Path, out_format: &str, options: &[&str]) {
    let mut args: Vec<&OsStr> = vec![
        OsStr::new("convert"),
        OsStr::new("-f"),
        OsStr::new(in_format),
        OsStr::new("-O"),
        OsStr::new(out_format),
    ];
    args.extend(options.iter().map(OsStr::new));
    args.extend([input.as_os_str(), output.as_os_str()]);
    let out = run(&args);
    assert!(
        out.status.success(),
        "qemu-img convert to {out_format} failed: {}",
        text(&out)
    );
}
