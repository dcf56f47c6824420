//! The byte-identical guard: a fixed set of images, built with fixed times
//! from inputs this test makes, must hash to what `tests/golden/images.txt`
//! records. It guards restructurings of the library: a change that alters
//! any byte of any of these outputs fails here, and an intended change
//! names itself by updating the file (see below) in its own commit.
//!
//! The set covers every way the command line reaches the library's writers:
//! directory and tar roots (read whole, streamed from a file and from a
//! pipe), manifests and tree adjustments, MBR, GPT and bare filesystems,
//! 1 KiB blocks without a journal, GRUB for BIOS, UEFI and both, raw, VHD
//! (dynamic and fixed) and stream-optimized VMDK outputs, every recipe in
//! docs/examples, and initramfs archives in three compressions. (`convert`,
//! `add` and `install-grub` are not in it: they stamp the time of the run
//! into what they write, whatever SOURCE_DATE_EPOCH says.)
//!
//! Some images hold bytes of the host: GRUB's modules and `grub-mkimage`,
//! busybox, the kernel and its modules, tar. The golden file records a
//! fingerprint of those; on a host whose fingerprint differs, the images
//! that depend on it are skipped with a message and the others still must
//! match.
//!
//! To record new hashes (after an intended change, or on a new host):
//! `BLOCKIMG_UPDATE_GOLDEN=1 cargo nextest run -p blockimg-tests --test golden_images`.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use blockimg_tests::fixture::{self, FixtureOptions};
use blockimg_tests::recipe::{example_inputs, examples_dir};
use blockimg_tests::tools::hex;
use blockimg_tests::vm::{boot_kit, BootKit, GRUB_BIOS, GRUB_UEFI};
use blockimg_tests::{blockimg_cmd, find_tool, is_root, require_tool, sha256_file, RunOutput};
use sha2::{Digest, Sha256};

/// The time every build records.
const EPOCH: &str = "1700000000";

/// Where the hashes are kept, relative to this package.
const GOLDEN: &str = "golden/images.txt";

/// Whether an image depends on files of the host besides the inputs this
/// test writes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Depends {
    /// Only on blockimg and this test's inputs.
    Blockimg,
    /// Also on the host's GRUB, busybox, kernel, modules or tar.
    Host,
}

impl Depends {
    fn word(self) -> &'static str {
        match self {
            Depends::Blockimg => "self",
            Depends::Host => "host",
        }
    }
}

/// The outputs built, by name: their hash and what they depend on.
#[derive(Default)]
struct Outputs {
    hashes: BTreeMap<String, (String, Depends)>,
}

impl Outputs {
    fn record(&mut self, name: &str, path: &Path, depends: Depends) {
        let previous = self
            .hashes
            .insert(name.to_owned(), (sha256_file(path), depends));
        assert!(previous.is_none(), "two outputs named {name}");
    }
}

/// Runs blockimg with `args` (and SOURCE_DATE_EPOCH set), in `dir`.
fn run(dir: &Path, args: &[&str]) -> RunOutput {
    let mut cmd = blockimg_cmd();
    cmd.current_dir(dir)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(args);
    let out = RunOutput::run(&mut cmd);
    out.assert_success();
    out
}

/// Runs blockimg with `args`, `input` on its standard input and its
/// standard output into `out`.
fn run_piped(dir: &Path, args: &[&str], input: &Path, out: &Path) {
    let mut cmd = blockimg_cmd();
    let status = cmd
        .current_dir(dir)
        .env("SOURCE_DATE_EPOCH", EPOCH)
        .args(args)
        .stdin(fs::File::open(input).expect("open input"))
        .stdout(fs::File::create(out).expect("create output"))
        .stderr(Stdio::inherit())
        .status()
        .expect("run blockimg");
    assert!(status.success(), "blockimg {args:?} failed: {status}");
}

/// SHA-256 of the host files the `Host` images hold or are made by, and of
/// how this test runs (as root or not: owners and device nodes differ).
fn host_fingerprint(kit: &BootKit) -> String {
    let mut files: Vec<PathBuf> = Vec::new();
    for (dir, _) in [GRUB_BIOS, GRUB_UEFI] {
        let mut entries: Vec<PathBuf> = fs::read_dir(dir)
            .expect("GRUB module directory")
            .map(|e| e.expect("entry").path())
            .collect();
        entries.sort();
        files.extend(entries);
    }
    for tool in ["grub-mkimage", "tar"] {
        files.push(find_tool(tool).expect("tool checked before"));
    }
    files.push(kit.busybox.clone());
    files.push(kit.kernel.clone());
    let mut hasher = Sha256::new();
    for file in files.iter().filter(|f| f.is_file()) {
        hasher.update(file.to_string_lossy().as_bytes());
        hasher.update(sha256_file(file).as_bytes());
    }
    hasher.update(kit.modules.to_string_lossy().as_bytes());
    hasher.update(if is_root() { b"root" } else { b"user" });
    hex(&hasher.finalize())
}

/// The inputs: a rich tree, a pax archive of it (nanosecond times and
/// xattrs), a manifest, a stand-in kernel and initrd.
fn make_inputs(dir: &Path, kit: &BootKit) {
    let tree = dir.join("tree");
    fixture::build_rich_tree(
        &tree,
        &FixtureOptions {
            big_dir_entries: 600,
            large_file_bytes: 3 << 20,
            long_symlink: 1000,
            ..FixtureOptions::default()
        },
    );
    fixture::stamp_times(&tree);
    let status = Command::new(find_tool("tar").expect("tar"))
        .current_dir(&tree)
        .args([
            "--sort=name",
            "--format=pax",
            "--pax-option=delete=atime,delete=ctime",
            "--xattrs",
            "--numeric-owner",
            "-cf",
        ])
        .arg(dir.join("tree.tar"))
        .arg(".")
        .status()
        .expect("run tar");
    assert!(status.success(), "tar failed");
    fs::write(
        dir.join("manifest.txt"),
        "char /dev/console 5 1 0600 0:0\nblock /dev/vda 254 0 0660 0:6\nfifo /run/initctl 0600 0:0\n\
         file /etc/app.conf 0640 0:42 tree/files/text\nsymlink /etc/mtab /proc/self/mounts\n\
         mode /files/** 0640\nowner /xattr/** 7:7\nmtime /times/* 1500000000.25\nremove /names/**\n",
    )
    .expect("manifest");
    fs::write(
        dir.join("vmlinuz"),
        fixture::pseudo_random_bytes(7, 300_000),
    )
    .expect("kernel");
    fs::write(
        dir.join("initrd.img"),
        fixture::pseudo_random_bytes(8, 90_000),
    )
    .expect("initrd");
    let recipes = dir.join("recipes");
    fs::create_dir(&recipes).expect("recipes dir");
    example_inputs(&recipes, &kit.busybox, &kit.kernel, &kit.modules);
}

/// Builds every output in `dir` and hashes it.
fn build_all(dir: &Path, kit: &BootKit) -> Outputs {
    use Depends::{Blockimg, Host};
    let mut outputs = Outputs::default();
    let mut mkdisk = |name: &str, args: &[&str], depends| {
        let mut all = vec!["mkdisk", "--quiet"];
        all.extend_from_slice(args);
        all.push(name);
        run(dir, &all);
        outputs.record(name, &dir.join(name), depends);
    };
    // Directory roots: the default MBR disk, GPT with 1 KiB blocks and no
    // journal, a bare filesystem, a manifest with the tree adjustments.
    mkdisk(
        "dir-mbr.img",
        &["--size", "256M", "--root", "tree"],
        Blockimg,
    );
    mkdisk(
        "dir-gpt-1k.img",
        &[
            "--size",
            "200M",
            "--root",
            "tree/files",
            "--table",
            "gpt",
            "-b",
            "1024",
            "--no-journal",
            "-L",
            "golden",
        ],
        Blockimg,
    );
    mkdisk(
        "dir-bare-auto.img",
        &[
            "--size",
            "auto",
            "--root",
            "tree",
            "--table",
            "none",
            "--headroom",
            "30",
        ],
        Blockimg,
    );
    mkdisk(
        "dir-manifest.img",
        &[
            "--size",
            "128M",
            "--root",
            "tree",
            "--manifest",
            "manifest.txt",
            "--base-layout",
            "--map-uid",
            "0:1000",
            "--map-gid",
            "0:1000",
        ],
        Blockimg,
    );
    // Tar roots: streamed (exact size, raw), read whole (auto size), and
    // into a dynamic VHD.
    mkdisk(
        "tar-stream.img",
        &["--size", "256M", "--root", "tree.tar"],
        Host,
    );
    mkdisk(
        "tar-auto.img",
        &["--size", "auto", "--root", "tree.tar", "--owner", "0:0"],
        Host,
    );
    mkdisk("tar.vhd", &["--size", "256M", "--root", "tree.tar"], Host);
    // GRUB for each firmware, and every output format of a hybrid GPT disk.
    let boot = [
        "--kernel",
        "vmlinuz",
        "--initrd",
        "initrd.img",
        "--cmdline",
        "quiet",
    ];
    for (name, extra) in [
        ("bios-mbr.img", &["--boot", "bios"][..]),
        ("uefi-mbr.img", &["--boot", "uefi"][..]),
        (
            "hybrid-gpt.img",
            &["--boot", "hybrid", "--table", "gpt"][..],
        ),
        (
            "hybrid-gpt.vhd",
            &["--boot", "hybrid", "--table", "gpt"][..],
        ),
        (
            "hybrid-gpt-fixed.vhd",
            &[
                "--boot",
                "hybrid",
                "--table",
                "gpt",
                "--format",
                "vhd-fixed",
            ][..],
        ),
        (
            "hybrid-gpt.vmdk",
            &["--boot", "hybrid", "--table", "gpt"][..],
        ),
    ] {
        let mut args = vec!["--size", "300M", "--root", "tree"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&boot);
        mkdisk(name, &args, Host);
    }
    // A pipe: an archive on standard input, the disk on standard output.
    run_piped(
        dir,
        &[
            "mkdisk", "--quiet", "--size", "128M", "--root", "-", "-o", "-",
        ],
        &dir.join("tree.tar"),
        &dir.join("pipe.img"),
    );
    outputs.record("pipe.img", &dir.join("pipe.img"), Host);

    // Every example recipe, each output.
    let recipes = dir.join("recipes");
    let mut names: Vec<String> = fs::read_dir(examples_dir())
        .expect("examples")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    for name in names {
        let recipe = recipes.join(&name);
        fs::copy(examples_dir().join(&name), &recipe).expect("copy recipe");
        let before: Vec<PathBuf> = listing(&recipes);
        run(&recipes, &["build", &name]);
        for path in listing(&recipes) {
            if !before.contains(&path) {
                let output = path.file_name().expect("name").to_string_lossy();
                outputs.record(&format!("recipe-{name}-{output}"), &path, Host);
            }
        }
    }

    // Initramfs archives: a tree, busybox's /init and kernel modules, in
    // each compression.
    for compression in ["gzip", "zstd", "xz"] {
        let name = format!("initramfs.{compression}");
        let modules = kit.modules.to_string_lossy();
        run(
            dir,
            &[
                "initramfs",
                "-o",
                &name,
                "--root",
                "tree/files",
                "--compress",
                compression,
                "--kernel-modules",
                &modules,
                "--module",
                "virtio_blk",
                "--module",
                "ext4",
            ],
        );
        outputs.record(&name, &dir.join(&name), Host);
    }
    outputs
}

/// The files directly in `dir`, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// The golden file: the host fingerprint and `NAME HASH DEPENDS` lines.
fn golden_text(fingerprint: &str, outputs: &Outputs) -> String {
    let mut text =
        String::from("# Hashes of the images tests/tests/golden_images.rs builds (see there).\n");
    text.push_str(&format!("host {fingerprint}\n"));
    for (name, (hash, depends)) in &outputs.hashes {
        text.push_str(&format!("{name} {hash} {}\n", depends.word()));
    }
    text
}

fn golden_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(GOLDEN)
}

#[test]
fn the_golden_images_are_byte_identical() {
    let tools = ["tar", "grub-mkimage", "e2fsck"];
    if !tools.iter().all(|t| require_tool(t)) {
        return;
    }
    let Some(kit) = boot_kit() else { return };
    for (dir, package) in [GRUB_BIOS, GRUB_UEFI] {
        if !Path::new(dir).join("kernel.img").is_file() {
            eprintln!("SKIPPED: no {dir} (package {package})");
            return;
        }
    }
    let scratch = tempfile::tempdir().expect("tempdir");
    let dir = scratch.path();
    make_inputs(dir, &kit);
    let fingerprint = host_fingerprint(&kit);
    let outputs = build_all(dir, &kit);
    // Each disk is a valid one, not just the same bytes as before.
    for name in ["dir-mbr.img", "tar-stream.img", "pipe.img"] {
        blockimg_tests::e2fsck_clean(&dir.join(name), blockimg_tests::PART_OFFSET);
    }

    let path = golden_path();
    if std::env::var_os("BLOCKIMG_UPDATE_GOLDEN").is_some() {
        fs::create_dir_all(path.parent().expect("golden dir")).expect("golden dir");
        fs::write(&path, golden_text(&fingerprint, &outputs)).expect("write golden file");
        eprintln!("wrote {} ({} images)", path.display(), outputs.hashes.len());
        return;
    }
    let mut text = String::new();
    fs::File::open(&path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (BLOCKIMG_UPDATE_GOLDEN=1 records it)",
                path.display()
            )
        });
    let mut recorded_host = None;
    let mut recorded = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        match line.split_whitespace().collect::<Vec<_>>().as_slice() {
            ["host", fp] => recorded_host = Some(fp.to_string()),
            [name, hash, depends] => {
                recorded.insert(name.to_string(), (hash.to_string(), depends.to_string()));
            }
            _ => panic!("{}: bad line {line:?}", path.display()),
        }
    }
    let same_host = recorded_host.as_deref() == Some(fingerprint.as_str());
    if !same_host {
        eprintln!(
            "SKIPPED part: this host's GRUB, busybox, kernel or tar differ from those the golden \
             hashes were recorded with; only the images that hold none of them are compared"
        );
    }
    let built: Vec<&String> = outputs.hashes.keys().collect();
    let listed: Vec<&String> = recorded.keys().collect();
    assert_eq!(built, listed, "the set of golden images changed");
    let mut differ = Vec::new();
    let mut compared = 0;
    for (name, (hash, depends)) in &outputs.hashes {
        let (want, recorded_depends) = &recorded[name];
        assert_eq!(
            recorded_depends,
            depends.word(),
            "{name}: dependency changed"
        );
        if *depends == Depends::Host && !same_host {
            continue;
        }
        compared += 1;
        if want != hash {
            differ.push(format!("{name}: recorded {want}, built {hash}"));
        }
    }
    eprintln!(
        "{compared} of {} golden images compared",
        outputs.hashes.len()
    );
    assert!(
        differ.is_empty(),
        "images differ from the golden hashes:\n{}",
        differ.join("\n")
    );
}
