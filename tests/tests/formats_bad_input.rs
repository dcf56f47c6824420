//! What `mkdisk --format` and `convert` do with input they cannot use: a
//! non-zero exit, a message naming the file, the field and the value, no
//! output left behind (not even a temporary file), an existing output left
//! as it was, and never a crash.

use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};

use blockimg_tests::fixture::pseudo_random_bytes;
use blockimg_tests::qemu::{self, require_qemu_img};
use blockimg_tests::{blockimg_bin, blockimg_cmd, require_tool, RunOutput};

/// A directory for outputs (`out/`) beside a tree and inputs.
struct Work {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    out: PathBuf,
    tree: PathBuf,
}

impl Work {
    fn new() -> Work {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let out = dir.join("out");
        let tree = dir.join("tree");
        fs::create_dir_all(&out).unwrap();
        fs::create_dir_all(&tree).unwrap();
        // Incompressible, so every format's output exceeds 4 MiB.
        fs::write(tree.join("random.bin"), pseudo_random_bytes(3, 6 << 20)).unwrap();
        Work {
            _tmp: tmp,
            dir,
            out,
            tree,
        }
    }

    /// Names in the output directory.
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    /// A raw disk holding the tree, built once per test.
    fn raw(&self) -> PathBuf {
        let raw = self.dir.join("disk.img");
        if !raw.exists() {
            run(&["mkdisk", "-q", "-s", "32M", "-r"], &[&self.tree, &raw]).assert_success();
        }
        raw
    }
}

fn run(words: &[&str], paths: &[&Path]) -> RunOutput {
    let mut cmd = blockimg_cmd();
    cmd.args(words).args(paths);
    RunOutput::run(&mut cmd)
}

fn convert(input: &Path, output: &Path, extra: &[&str]) -> RunOutput {
    let mut cmd = blockimg_cmd();
    cmd.arg("convert")
        .arg("-q")
        .args(extra)
        .arg(input)
        .arg(output);
    RunOutput::run(&mut cmd)
}

/// Asserts a failure whose message contains every one of `needles`, and
/// that the output directory holds exactly `left`.
fn assert_refused(run: &RunOutput, needles: &[&str], work: &Work, left: &[&str]) {
    run.assert_failure();
    for needle in needles {
        run.assert_stderr_contains(needle);
    }
    assert_eq!(work.listing(), left, "files left by {}", run.command);
}

#[test]
fn existing_outputs_need_force() {
    let work = Work::new();
    let raw = work.raw();
    for name in ["d.vhd", "d.vmdk", "d.img"] {
        let out = work.out.join(name);
        fs::write(&out, b"keep").unwrap();
        let r = convert(&raw, &out, &[]);
        assert_refused(&r, &["already exists", name], &work, &[name]);
        assert_eq!(fs::read(&out).unwrap(), b"keep");
        let r = run(&["mkdisk", "-q", "-s", "8M", "-o"], &[&out]);
        assert_refused(&r, &["already exists"], &work, &[name]);
        assert_eq!(fs::read(&out).unwrap(), b"keep");
        convert(&raw, &out, &["--force"]).assert_success();
        assert_ne!(fs::read(&out).unwrap(), b"keep");
        fs::remove_file(&out).unwrap();
    }
}

#[test]
fn formats_that_contradict_names_or_each_other() {
    let work = Work::new();
    let raw = work.raw();
    let vhd = work.out.join("d.vhd");
    let r = convert(&raw, &vhd, &["--format", "vmdk"]);
    assert_refused(&r, &["d.vhd", "vmdk"], &work, &[]);
    let r = run(
        &["mkdisk", "-q", "-s", "8M", "--format", "raw", "-o"],
        &[&vhd],
    );
    assert_refused(&r, &["d.vhd", "raw"], &work, &[]);
    // --azure is for fixed VHDs.
    let r = convert(&raw, &vhd, &["--azure"]);
    assert_refused(&r, &["--azure", "vhd-fixed"], &work, &[]);
    // A dynamic VHD needs to seek back: not on a pipe.
    let r = convert(&raw, Path::new("-"), &["--format", "vhd"]);
    r.assert_failure().assert_stderr_contains("pipe");
    // An unknown format name.
    let r = convert(&raw, &vhd, &["--format", "qcow3"]);
    assert_refused(&r, &["qcow3"], &work, &[]);
    // An input named .vhd or .vmdk that is not one.
    for name in ["not.vhd", "not.vmdk"] {
        let input = work.dir.join(name);
        fs::copy(&raw, &input).unwrap();
        let r = convert(&input, &work.out.join("x.img"), &[]);
        assert_refused(&r, &[name, "contents are raw"], &work, &[]);
    }
}

#[test]
fn unsupported_input_formats_are_named() {
    if !require_qemu_img() {
        return;
    }
    let work = Work::new();
    let raw = work.raw();
    let vhdx = work.dir.join("d.vhdx");
    qemu::convert(&raw, "raw", &vhdx, "vhdx", &[]);
    let r = convert(&vhdx, &work.out.join("x.img"), &[]);
    assert_refused(&r, &["d.vhdx", "VHDX", "qemu-img convert"], &work, &[]);
    // qcow2 is read, but not with zstd compression, and never written.
    let zstd = work.dir.join("zstd.qcow2");
    qemu::convert(
        &raw,
        "raw",
        &zstd,
        "qcow2",
        &["-c", "-o", "compression_type=zstd"],
    );
    let r = convert(&zstd, &work.out.join("x.img"), &[]);
    assert_refused(&r, &["zstd.qcow2", "incompatible features"], &work, &[]);
    let r = convert(&raw, &work.out.join("x.qcow2"), &[]);
    assert_refused(&r, &["x.qcow2", "not written"], &work, &[]);
    let missing = work.dir.join("missing.vhd");
    let r = convert(&missing, &work.out.join("x.img"), &[]);
    assert_refused(&r, &["missing.vhd"], &work, &[]);
}

/// A change that damages an image's bytes.
type Edit = Box<dyn FnOnce(&mut Vec<u8>)>;

/// Copies `src` to `dst` with `edit` applied to its bytes.
fn damaged(src: &Path, dst: &Path, edit: Edit) {
    let mut bytes = fs::read(src).unwrap();
    edit(&mut bytes);
    fs::write(dst, bytes).unwrap();
}

#[test]
fn damaged_vhds_are_refused_with_the_field_and_value() {
    let work = Work::new();
    let raw = work.raw();
    let good = work.dir.join("good.vhd");
    convert(&raw, &good, &[]).assert_success();
    let fixed = work.dir.join("fixed.vhd");
    convert(&raw, &fixed, &["--format", "vhd-fixed"]).assert_success();
    let len = fs::metadata(&good).unwrap().len() as usize;
    let be32 = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
    let cases: Vec<(&str, &Path, Edit, &[&str])> = vec![
        (
            "checksum.vhd",
            &good,
            Box::new(move |b: &mut Vec<u8>| b[len - 512 + 0x30] ^= 1),
            &["footer checksum", "0x"],
        ),
        (
            "type.vhd",
            &good,
            Box::new(move |b: &mut Vec<u8>| {
                b[len - 512 + 0x3F] = 9;
                let sum = !b[len - 512..]
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !(64..68).contains(i))
                    .fold(0u32, |s, (_, &x)| s.wrapping_add(u32::from(x)));
                b[len - 512 + 64..len - 512 + 68].copy_from_slice(&sum.to_be_bytes());
            }),
            &["disk type", "9"],
        ),
        (
            "header.vhd",
            &good,
            Box::new(|b: &mut Vec<u8>| b[512 + 0x20] ^= 0x40),
            &["dynamic header checksum"],
        ),
        (
            "bat.vhd",
            &good,
            Box::new(move |b: &mut Vec<u8>| {
                // Point the first allocated block past the end of the file.
                let table = 1536;
                let i = (0..)
                    .map(|i| table + 4 * i)
                    .find(|&at| be32(b, at) != u32::MAX)
                    .unwrap();
                b[i..i + 4].copy_from_slice(&0x00ff_ffffu32.to_be_bytes());
            }),
            &["block allocation table entry", "sector 16777215"],
        ),
        (
            "truncated.vhd",
            &fixed,
            Box::new(|b: &mut Vec<u8>| {
                let footer = b[b.len() - 512..].to_vec();
                b.truncate(b.len() - (4 << 20));
                b.extend_from_slice(&footer);
            }),
            &["footer current size"],
        ),
    ];
    for (name, src, edit, needles) in cases {
        let input = work.dir.join(name);
        damaged(src, &input, edit);
        let r = convert(&input, &work.out.join("x.img"), &[]);
        let mut all = vec![name];
        all.extend_from_slice(needles);
        assert_refused(&r, &all, &work, &[]);
    }
}

#[test]
fn damaged_vmdks_are_refused_with_the_field_and_value() {
    let work = Work::new();
    let raw = work.raw();
    let good = work.dir.join("good.vmdk");
    convert(&raw, &good, &[]).assert_success();
    let len = fs::metadata(&good).unwrap().len() as usize;
    // The first grain's marker is right after the 128-sector overhead.
    let grain = 128 * 512;
    let cases: Vec<(&str, Edit, &[&str])> = vec![
        (
            "footer-marker.vmdk",
            Box::new(move |b: &mut Vec<u8>| b[len - 1536 + 12] = 7),
            &["footer marker type", "7"],
        ),
        (
            "eos.vmdk",
            Box::new(move |b: &mut Vec<u8>| b[len - 512] = 1),
            &["end-of-stream marker"],
        ),
        (
            "truncated.vmdk",
            Box::new(move |b: &mut Vec<u8>| b.truncate(len - 1024)),
            &["footer marker type"],
        ),
        (
            "grain-size.vmdk",
            Box::new(move |b: &mut Vec<u8>| b[len - 1024 + 20] = 3),
            &["footer grain size", "3"],
        ),
        (
            "newline.vmdk",
            Box::new(|b: &mut Vec<u8>| b[75] = b'\n'),
            &["header newline test bytes"],
        ),
        (
            "grain-lba.vmdk",
            Box::new(move |b: &mut Vec<u8>| b[grain] ^= 0x80),
            &["grain marker", "LBA"],
        ),
        (
            "grain-data.vmdk",
            Box::new(move |b: &mut Vec<u8>| {
                for x in &mut b[grain + 14..grain + 200] {
                    *x = 0xff;
                }
            }),
            &["compressed grain", "deflate"],
        ),
    ];
    for (name, edit, needles) in cases {
        let input = work.dir.join(name);
        damaged(&good, &input, edit);
        let r = convert(&input, &work.out.join("x.img"), &[]);
        let mut all = vec![name];
        all.extend_from_slice(needles);
        assert_refused(&r, &all, &work, &[]);
    }
}

/// Runs blockimg with a file size limit of `limit_kib` KiB (SIGXFSZ
/// ignored, so writes past it fail with EFBIG instead of killing it).
fn with_file_size_limit(limit_kib: u64, args: &[&OsStr]) -> RunOutput {
    let script = format!(
        "trap '' XFSZ; ulimit -f {}; exec \"$0\" \"$@\"",
        // POSIX shells count in 512-byte blocks, bash in KiB: either way
        // the limit lies between limit_kib and twice that.
        limit_kib
    );
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg(blockimg_bin())
        .args(args)
        .env_remove("SOURCE_DATE_EPOCH");
    RunOutput::run(&mut cmd)
}

#[test]
fn a_write_error_midway_names_the_offset_and_leaves_nothing() {
    if !require_tool("sh") {
        return;
    }
    let work = Work::new();
    let raw = work.raw();
    for format in ["raw", "vhd", "vhd-fixed", "vmdk"] {
        let out = work.out.join(format!("d.{format}"));
        let args: Vec<&OsStr> = vec![
            "convert".as_ref(),
            "--format".as_ref(),
            format.as_ref(),
            raw.as_os_str(),
            out.as_os_str(),
        ];
        let r = with_file_size_limit(2048, &args);
        assert_refused(&r, &["at byte offset", "d."], &work, &[]);
        let words = ["mkdisk", "-q", "-s", "32M", "--format", format, "-r"];
        let mut mk: Vec<&OsStr> = words.iter().map(OsStr::new).collect();
        mk.extend([work.tree.as_os_str(), "-o".as_ref(), out.as_os_str()]);
        let r = with_file_size_limit(2048, &mk);
        assert_refused(&r, &["at byte offset"], &work, &[]);
    }
}
