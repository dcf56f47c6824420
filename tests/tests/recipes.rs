//! `blockimg build`: every recipe in docs/examples builds and its disk is
//! judged by sfdisk, e2fsck, fsck.fat, blkid/swaplabel and qemu-img; the
//! profiles add exactly the files docs/RECIPES.md lists; bad recipes are
//! refused with their line before any output exists; builds with a
//! timestamp are byte-identical; the ec2 profile's IMDSv2 script fetches a
//! key from a stand-in metadata service with nothing but busybox.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use blockimg_tests::qemu::{self, require_qemu_img};
use blockimg_tests::recipe::{busybox_rootfs_tar, dry_run, example_inputs, examples_dir, Plan};
use blockimg_tests::tools::{fsck_fat, sfdisk_verify, tool};
use blockimg_tests::vm::{boot_kit, BootKit, GRUB_BIOS, GRUB_UEFI};
use blockimg_tests::{blockimg_cmd, e2fsck_clean, require_e2fsprogs, require_tool, sha256_file};

/// Builds `recipe` with `blockimg build` and returns its stderr on failure.
fn build(recipe: &Path) -> Result<String, String> {
    let out = blockimg_cmd()
        .arg("build")
        .arg(recipe)
        .output()
        .expect("run blockimg build");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok(stdout)
    } else {
        Err(stderr)
    }
}

/// The host tools and files every example needs; `None` after saying why.
fn example_kit() -> Option<BootKit> {
    let tools = [
        "sfdisk",
        "fsck.fat",
        "blkid",
        "swaplabel",
        "grub-mkimage",
        "tar",
    ];
    if !require_e2fsprogs() || !tools.iter().all(|t| require_tool(t)) || !require_qemu_img() {
        return None;
    }
    for (dir, package) in [GRUB_BIOS, GRUB_UEFI] {
        if !Path::new(dir).join("kernel.img").is_file() {
            eprintln!("SKIPPED: no {dir} (package {package})");
            return None;
        }
    }
    boot_kit()
}

/// A scratch directory with an example's recipe and every input it names.
fn example_dir(name: &str, kit: &BootKit) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    example_inputs(dir.path(), &kit.busybox, &kit.kernel, &kit.modules);
    let recipe = dir.path().join(name);
    fs::copy(examples_dir().join(name), &recipe).unwrap();
    (dir, recipe)
}

/// Judges the raw disk `img` against the plan: the table verifies, every
/// ext4 partition passes `e2fsck -fn`, every ESP `fsck.fat -n`, every swap
/// partition is what blkid and swaplabel call swap with the planned UUID.
fn judge(img: &Path, plan: &Plan, scratch: &Path) {
    if plan.partitions.len() > 1 || plan.partitions.first().is_some_and(|p| p.start > 0) {
        sfdisk_verify(img).unwrap_or_else(|e| panic!("sfdisk --verify {}: {e}", img.display()));
    }
    for p in &plan.partitions {
        if p.content.starts_with("ext4") {
            e2fsck_clean(img, p.start);
        } else if p.content == "FAT32" {
            let (code, out) = fsck_fat(img, p.start, p.size, &scratch.join("esp.fat"));
            assert_eq!(code, 0, "fsck.fat -n on partition {}: {out}", p.number);
        } else if p.content.starts_with("swap") {
            let swap = scratch.join("swap.bin");
            blockimg_tests::tools::extract(img, p.start, p.size, &swap);
            let blkid = tool("blkid").arg("-p").arg(&swap).output().unwrap();
            let blkid = String::from_utf8_lossy(&blkid.stdout).into_owned();
            assert!(blkid.contains("TYPE=\"swap\""), "blkid: {blkid}");
            let uuid = p.content.split_whitespace().nth(2).unwrap();
            let label = tool("swaplabel").arg(&swap).output().unwrap();
            let label = String::from_utf8_lossy(&label.stdout).into_owned();
            assert!(label.contains(uuid), "swaplabel: {label}, planned {uuid}");
            fs::remove_file(&swap).unwrap();
        }
    }
}

#[test]
fn every_example_recipe_builds_and_its_disk_passes_the_oracles() {
    let Some(kit) = example_kit() else { return };
    let mut names: Vec<String> = fs::read_dir(examples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".toml"))
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    for name in names {
        let (dir, recipe) = example_dir(&name, &kit);
        let plan = dry_run(&recipe);
        let listed: Vec<PathBuf> = plan
            .text
            .lines()
            .filter_map(|l| l.strip_prefix("output: "))
            .map(|l| dir.path().join(l.rsplit_once(" (").unwrap().0))
            .collect();
        assert!(!listed.is_empty(), "{name}: no outputs in\n{}", plan.text);
        assert!(
            listed.iter().all(|o| !o.exists()),
            "{name}: the dry run wrote an output"
        );
        build(&recipe).unwrap_or_else(|e| panic!("{name}: {e}"));
        let raw = listed
            .iter()
            .find(|o| o.extension().is_some_and(|e| e == "img"))
            .unwrap_or_else(|| panic!("{name}: no raw output"));
        judge(raw, &plan, dir.path());
        for other in &listed {
            let format = match other.extension().and_then(|e| e.to_str()) {
                Some("vmdk") => "vmdk",
                Some("vhd") => "vpc",
                _ => continue,
            };
            if format == "vmdk" {
                let (code, out) = qemu::check(other, "vmdk");
                assert_eq!(code, 0, "{name}: qemu-img check: {out}");
            }
            let (code, out) = qemu::compare(raw, other, format);
            assert_eq!(
                code,
                0,
                "{name}: {} differs from the raw disk: {out}",
                other.display()
            );
        }
        eprintln!(
            "{name}: built and judged ({} partitions)",
            plan.partitions.len()
        );
    }
}

/// The paths docs/RECIPES.md lists between `<!-- MARK -->` and
/// `<!-- /MARK -->`, `HOME` read as `/root`.
fn documented_files(mark: &str) -> Vec<String> {
    let doc = fs::read_to_string(examples_dir().join("../RECIPES.md")).unwrap();
    let start = doc.find(&format!("<!-- {mark} -->")).unwrap();
    let end = doc.find(&format!("<!-- /{mark} -->")).unwrap();
    let mut files: Vec<String> = doc[start..end]
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split_once('`').map(|(p, _)| p.replace("HOME", "/root")))
        .collect();
    files.sort();
    files
}

/// The paths a plan shows the profile (or the fstab setting) adding.
fn profile_files(plan: &Plan, profile: &str) -> Vec<String> {
    let mut files: Vec<String> = plan
        .added
        .iter()
        .filter(|(_, origin)| origin == &format!("{profile} profile") || origin == "fstab")
        .map(|(path, _)| path.clone())
        .collect();
    files.sort();
    files
}

#[test]
fn profiles_add_exactly_the_documented_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("key.pub"), "ssh-ed25519 AAAAkey test\n").unwrap();
    let ec2 = dir.path().join("ec2.toml");
    fs::write(
        &ec2,
        "profile = \"ec2\"\n[boot]\nmode = \"none\"\n[ec2]\nssh_authorized_keys = [\"ssh-rsa AAAAother x\"]\nssh_authorized_keys_file = \"key.pub\"\nimds_ssh_key = true\n",
    )
    .unwrap();
    let plan = dry_run(&ec2);
    assert_eq!(
        profile_files(&plan, "ec2"),
        documented_files("ec2-files"),
        "{}",
        plan.text
    );
    assert!(
        plan.text.contains("/root/.ssh (dir 0700 0:0"),
        "{}",
        plan.text
    );
    assert!(
        plan.text
            .contains("/root/.ssh/authorized_keys (file 0600 0:0"),
        "{}",
        plan.text
    );

    // The profile's boot defaults: hybrid GPT with the serial console.
    fs::write(
        dir.path().join("vmlinuz"),
        "not a kernel, only a file to copy",
    )
    .unwrap();
    fs::write(&ec2, "profile = \"ec2\"\n[boot]\nkernel = \"vmlinuz\"\n").unwrap();
    if require_tool("grub-mkimage") {
        let plan = dry_run(&ec2);
        assert!(plan.text.contains("GPT, boot hybrid"), "{}", plan.text);
        assert!(plan.text.contains("console=ttyS0,115200"), "{}", plan.text);
        let roles: Vec<&str> = plan.partitions.iter().map(|p| p.role.as_str()).collect();
        assert_eq!(roles, ["bios-boot", "esp", "root"]);
    }

    let xen = dir.path().join("xen.toml");
    fs::write(&xen, "profile = \"xen-domu\"\n[boot]\nmode = \"none\"\n").unwrap();
    let plan = dry_run(&xen);
    assert_eq!(
        profile_files(&plan, "xen-domu"),
        documented_files("xen-domu-files"),
        "{}",
        plan.text
    );

    // The recipe overrides: a [[text]] replaces a profile file, profile_skip
    // drops one, a key set in the recipe wins over the profile's default.
    fs::write(
        &xen,
        "profile = \"xen-domu\"\nprofile_skip = [\"/etc/fstab\"]\n[boot]\nmode = \"none\"\n[[text]]\npath = \"/etc/inittab\"\ncontent = \"mine\\n\"\n",
    )
    .unwrap();
    let plan = dry_run(&xen);
    assert_eq!(
        profile_files(&plan, "xen-domu"),
        Vec::<String>::new(),
        "{}",
        plan.text
    );
    assert!(
        plan.added
            .contains(&("/etc/inittab".into(), "line 5".into())),
        "{:?}",
        plan.added
    );
}

#[test]
fn bad_recipes_are_refused_with_their_line_before_any_output_exists() {
    let dir = tempfile::tempdir().unwrap();
    let out = "[[output]]\npath = \"out.img\"\n";
    let cases: &[(&str, String, &str)] = &[
        ("unknown key", format!("{out}[disk]\nsize = \"64M\"\nsise = 1\n"), ":5:1: unknown field `sise`"),
        ("unknown table", format!("{out}[disc]\nsize = \"64M\"\n"), ":3:2: unknown field `disc`"),
        ("bad syntax", format!("{out}[disk\nsize = \"64M\"\n"), ":3:6:"),
        (
            "overlap",
            format!("{out}[disk]\nsize = \"64M\"\ntable = \"gpt\"\n[[partition]]\nrole = \"root\"\nsize = \"32M\"\n[[partition]]\nrole = \"swap\"\nstart = \"16M\"\nsize = \"4M\"\n"),
            ":11:9: partition[2].start: bytes 16777216..20971520 overlap partition 1",
        ),
        (
            "does not fit",
            format!("{out}[disk]\nsize = \"64M\"\n[[partition]]\nrole = \"root\"\nsize = \"60M\"\n[[partition]]\nrole = \"swap\"\nsize = \"8M\"\n"),
            ":10:8: partition[2].size: bytes 63963136..72351744 do not fit",
        ),
        (
            "disk too small for the fill",
            format!("{out}[disk]\nsize = \"40M\"\ntable = \"gpt\"\n[boot]\nmode = \"uefi\"\nkernel = \"{}\"\n", "in.txt"),
            ":4:8: disk.size:",
        ),
        ("missing root", format!("{out}[root]\nsource = \"nowhere.tar\"\n"), ":4:10: root.source: "),
        ("missing file", format!("{out}[[file]]\npath = \"/a\"\nsource = \"gone\"\n"), ":5:10: file[1].source"),
        ("missing kernel", format!("{out}[boot]\nmode = \"bios\"\nkernel = \"vmlinuz-none\"\n"), ":5:10: boot.kernel"),
        ("uefi without esp", format!("{out}[disk]\ntable = \"gpt\"\n[boot]\nmode = \"uefi\"\n[[partition]]\nrole = \"root\"\n"), ":6:8: boot.mode: UEFI boot needs"),
        ("bad mode", format!("{out}[[text]]\npath = \"/a\"\ncontent = \"\"\nmode = \"0999\"\n"), ":6:8: text[1].mode"),
        ("relative image path", format!("{out}[[dir]]\npath = \"etc/x\"\n"), ":4:8: dir[1].path"),
        ("ec2 keys without the profile", format!("{out}[ec2]\nimds_ssh_key = true\n"), ":3:1: ec2:"),
        ("wrong type", format!("{out}[disk]\ntable = 3\n"), ":4:9:"),
        ("long FAT label", format!("{out}[[partition]]\nrole = \"esp\"\n[partition.fat]\nlabel = \"TWELVE CHARS\"\n"), ":6:9: partition[1].fat.label: invalid FAT label: \"TWELVE CHARS\": 12 bytes, at most 11"),
        ("bad FAT label", format!("{out}[[partition]]\nrole = \"esp\"\n[partition.fat]\nlabel = \"A/B\"\n"), ":6:9: partition[1].fat.label"),
        ("bad volume id", format!("{out}[[partition]]\nrole = \"esp\"\n[partition.fat]\nvolume_id = \"12-345678\"\n"), ":6:13: partition[1].fat.volume_id: a FAT volume id is 8 hexadecimal digits"),
        ("fat on a data partition", format!("{out}[[partition]]\nrole = \"data\"\n[partition.fat]\nlabel = \"X\"\n"), ":5:1: partition[1].fat: only the ESP"),
    ];
    fs::write(dir.path().join("in.txt"), "x").unwrap();
    for (what, text, expected) in cases {
        let recipe = dir.path().join("bad.toml");
        fs::write(&recipe, text).unwrap();
        let err = build(&recipe).expect_err(what);
        assert!(
            err.contains(&format!("bad.toml{expected}")),
            "{what}: expected {expected:?} in {err:?}"
        );
        let left: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n != "bad.toml" && n != "in.txt")
            .collect();
        assert!(left.is_empty(), "{what}: left {left:?}");
    }
}

/// The ESP's label and volume id are what the recipe says, `fsck.fat` and
/// `blkid` agree, and /etc/fstab mounts it by that volume id.
#[test]
fn the_esp_gets_its_label_volume_id_and_fstab_line() {
    if !require_tool("fsck.fat") || !require_tool("blkid") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recipe = dir.path().join("r.toml");
    fs::write(
        &recipe,
        "[disk]\nsize = \"200M\"\ntable = \"gpt\"\n[[partition]]\nrole = \"esp\"\nmount = \"/boot/efi\"\n[partition.fat]\nlabel = \"Efi-Boot\"\nvolume_id = \"c0de-2026\"\n[[partition]]\nrole = \"root\"\n[[output]]\npath = \"a.img\"\n",
    )
    .unwrap();
    build(&recipe).unwrap();
    let img = dir.path().join("a.img");
    let esp = (1u64 << 20, 64u64 << 20);
    let (code, report) = fsck_fat(&img, esp.0, esp.1, &dir.path().join("esp.fat"));
    assert_eq!(code, 0, "fsck.fat -n: {report}");
    let blkid = tool("blkid")
        .args(["-p", "-o", "export", "-O"])
        .arg(esp.0.to_string())
        .arg(&img)
        .output()
        .unwrap();
    let blkid = String::from_utf8_lossy(&blkid.stdout);
    assert!(blkid.contains("\nLABEL=EFI-BOOT\n"), "{blkid}");
    assert!(blkid.contains("\nUUID=C0DE-2026\n"), "{blkid}");
    let fstab = blockimg_cmd()
        .args(["cat".as_ref(), img.as_os_str(), "/etc/fstab".as_ref()])
        .output()
        .unwrap();
    let fstab = String::from_utf8_lossy(&fstab.stdout);
    assert!(
        fstab.contains("UUID=C0DE-2026\t/boot/efi\tvfat\tumask=0077\t0 2\n"),
        "{fstab}"
    );
    e2fsck_clean(&img, 65 << 20);
}

/// A raw data partition holds a copy of a host image in any format blockimg
/// reads: a filesystem made by mke2fs (sized `auto`), random bytes behind
/// qcow2; an image larger than its partition is refused at its line.
#[test]
fn raw_partitions_hold_copies_of_host_images() {
    if !require_e2fsprogs() || !require_qemu_img() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    fs::create_dir(d.join("tree")).unwrap();
    fs::write(d.join("tree/hello"), "hello from mke2fs\n").unwrap();
    let mke2fs = tool("mke2fs")
        .args(["-q", "-t", "ext4", "-d"])
        .arg(d.join("tree"))
        .arg(d.join("data.ext4"))
        .arg("20M")
        .status()
        .unwrap();
    assert!(mke2fs.success(), "mke2fs failed");
    let blob = blockimg_tests::fixture::pseudo_random_bytes(7, 3 << 20);
    fs::write(d.join("blob"), &blob).unwrap();
    let convert = tool("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(d.join("blob"))
        .arg(d.join("blob.qcow2"))
        .status()
        .unwrap();
    assert!(convert.success(), "qemu-img convert failed");

    let recipe = d.join("r.toml");
    let text = |blob_size: &str| {
        format!(
            "[disk]\ntable = \"gpt\"\n[[partition]]\nrole = \"root\"\nsize = \"16M\"\n[[partition]]\nrole = \"data\"\nformat = \"raw\"\nsource = \"data.ext4\"\nsize = \"auto\"\n[[partition]]\nrole = \"data\"\nformat = \"raw\"\nsource = \"blob.qcow2\"\nsize = \"{blob_size}\"\n[[output]]\npath = \"a.img\"\n[[output]]\npath = \"a.vmdk\"\n"
        )
    };
    fs::write(&recipe, text("2M")).unwrap();
    let err = build(&recipe).expect_err("a 3 MiB image in a 2 MiB partition");
    assert!(
        err.contains("r.toml:14:10: partition[3].source:")
            && err.contains("3145728 bytes, more than the partition's 2097152 bytes"),
        "{err}"
    );
    assert!(!d.join("a.img").exists() && !d.join("a.vmdk").exists());

    fs::write(&recipe, text("4M")).unwrap();
    build(&recipe).unwrap();
    let img = d.join("a.img");
    let disk = fs::read(&img).unwrap();
    let (data_at, blob_at) = (17usize << 20, 37usize << 20);
    assert!(disk[data_at..data_at + (20 << 20)] == fs::read(d.join("data.ext4")).unwrap()[..]);
    assert!(disk[blob_at..blob_at + blob.len()] == blob[..]);
    assert!(disk[blob_at + blob.len()..blob_at + (4 << 20)]
        .iter()
        .all(|&b| b == 0));
    e2fsck_clean(&img, data_at as u64);
    let cat = blockimg_cmd()
        .arg("cat")
        .arg(format!("{}:2", img.display()))
        .arg("/hello")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "hello from mke2fs\n");
    sfdisk_verify(&img).unwrap();
    let (code, report) = qemu::compare(&img, &d.join("a.vmdk"), "vmdk");
    assert_eq!(code, 0, "qemu-img compare: {report}");
}

/// A build with several outputs publishes all of them or none: when a
/// later output fails, the ones written before it are discarded and files
/// already under the outputs' names stay as they were.
#[test]
fn a_failing_output_leaves_no_other_output_behind() {
    let dir = tempfile::tempdir().unwrap();
    let names = |dir: &Path| -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    let recipe = dir.path().join("r.toml");
    fs::write(
        &recipe,
        "[disk]\nsize = \"64M\"\n[[output]]\npath = \"a.vmdk\"\n[[output]]\npath = \"b.img\"\n",
    )
    .unwrap();

    // The second output exists: refused, and the first never appears.
    fs::write(dir.path().join("b.img"), b"keep me").unwrap();
    let err = build(&recipe).expect_err("an existing output without --force");
    assert!(err.contains("b.img"), "{err}");
    assert_eq!(names(dir.path()), ["b.img", "r.toml"]);
    assert_eq!(fs::read(dir.path().join("b.img")).unwrap(), b"keep me");

    // The second output cannot be written whole (a 16 MiB file size limit
    // for a 64 MiB raw disk; the VMDK before it is far smaller).
    fs::remove_file(dir.path().join("b.img")).unwrap();
    let out = Command::new("sh")
        .arg("-c")
        .arg("trap '' XFSZ; ulimit -f 16384 && exec \"$0\" build \"$1\"")
        .arg(blockimg_tests::blockimg_bin())
        .arg(&recipe)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the build succeeded under ulimit -f");
    assert!(stderr.contains("b.img"), "{stderr}");
    assert_eq!(names(dir.path()), ["r.toml"]);

    // Without the limit both appear.
    build(&recipe).unwrap();
    assert_eq!(names(dir.path()), ["a.vmdk", "b.img", "r.toml"]);
}

#[test]
fn a_recipe_with_a_timestamp_builds_byte_identical_images() {
    let busybox = Path::new("/bin/busybox");
    if !require_tool("tar") || !busybox.exists() {
        eprintln!("SKIPPED: needs tar and /bin/busybox (package busybox-static)");
        return;
    }
    // Two archives of the same tree made a second apart: their own times
    // differ, the image's are clamped to the timestamp.
    let mut sums = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let (tar, _) = busybox_rootfs_tar(dir.path(), busybox, "same");
        std::thread::sleep(std::time::Duration::from_millis(1100));
        let recipe = dir.path().join("r.toml");
        fs::write(
            &recipe,
            format!(
                "timestamp = 1700000000\n[disk]\nsize = \"auto\"\ntable = \"gpt\"\n[root]\nsource = \"{}\"\n[[partition]]\nrole = \"swap\"\nsize = \"1M\"\n[[partition]]\nrole = \"root\"\n[[output]]\npath = \"a.img\"\n[[output]]\npath = \"a.vmdk\"\n",
                tar.display()
            ),
        )
        .unwrap();
        build(&recipe).unwrap();
        sums.push((
            sha256_file(&dir.path().join("a.img")),
            sha256_file(&dir.path().join("a.vmdk")),
        ));
    }
    assert_eq!(sums[0], sums[1]);
}

#[test]
fn the_imds_script_fetches_the_key_with_imdsv2_using_only_busybox() {
    let busybox = Path::new("/bin/busybox");
    if !busybox.exists() || !require_tool("python3") {
        eprintln!("SKIPPED: needs /bin/busybox and python3");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // A stand-in metadata service: the key only with the token a PUT gave.
    let server = dir.path().join("imds.py");
    fs::write(
        &server,
        r#"import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body):
        self.send_response(code); self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_PUT(self):
        ok = self.path == "/latest/api/token" and self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
        self.reply(200 if ok else 400, b"TOKEN123" if ok else b"")
    def do_GET(self):
        ok = self.path == "/latest/meta-data/public-keys/0/openssh-key" and self.headers.get("X-aws-ec2-metadata-token") == "TOKEN123"
        self.reply(200 if ok else 401, b"ssh-ed25519 AAAAfromimds launch-key\n" if ok else b"")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#,
    )
    .unwrap();
    let mut child = Command::new("python3")
        .arg(&server)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut port = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.as_mut().unwrap()),
        &mut port,
    )
    .unwrap();
    // Only busybox on the PATH: no curl, so nc and wget do the work.
    let bin = dir.path().join("bin");
    fs::create_dir(&bin).unwrap();
    for applet in [
        "sh", "nc", "wget", "sed", "mkdir", "chmod", "touch", "grep", "dirname", "chown", "printf",
    ] {
        std::os::unix::fs::symlink(busybox, bin.join(applet)).unwrap();
    }
    let script = dir.path().join("fetch");
    let keys = dir.path().join("home/.ssh/authorized_keys");
    fs::write(
        &script,
        blockimg::recipe::profile::IMDS_SCRIPT
            .replace("@KEYS@", &keys.display().to_string())
            .replace("@OWNER@", "0:0"),
    )
    .unwrap();
    let run = || {
        Command::new(busybox)
            .arg("sh")
            .arg(&script)
            .env_clear()
            .env("PATH", &bin)
            .env("IMDS_HOST", "127.0.0.1")
            .env("IMDS_PORT", port.trim())
            .output()
            .unwrap()
    };
    let first = run();
    let second = run();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        second.status.success(),
        "{}",
        String::from_utf8_lossy(&second.stderr)
    );
    // Added once, with the modes sshd insists on.
    assert_eq!(
        fs::read_to_string(&keys).unwrap(),
        "ssh-ed25519 AAAAfromimds launch-key\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        fs::metadata(&keys).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        fs::metadata(keys.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
}

#[test]
fn archive_members_read_at_write_time_keep_their_own_data() {
    // A recipe takes an uncompressed archive as a tree whose file data is
    // read from the archive when the image is written: every member from
    // its own offset (a regression: all were read from the first one's).
    if !require_e2fsprogs() || !require_tool("tar") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    fs::create_dir_all(root.join("d")).unwrap();
    let files: Vec<(String, Vec<u8>)> = (0..5)
        .map(|i| {
            (
                format!("d/f{i}"),
                (0..(i * 3000 + 7)).map(|b| (b * (i + 3)) as u8).collect(),
            )
        })
        .collect();
    for (name, data) in &files {
        fs::write(root.join(name), data).unwrap();
    }
    let tar = dir.path().join("t.tar");
    let status = Command::new("tar")
        .arg("-cf")
        .arg(&tar)
        .arg("-C")
        .arg(&root)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    let recipe = dir.path().join("r.toml");
    fs::write(
        &recipe,
        "[disk]\nsize = \"16M\"\n[root]\nsource = \"t.tar\"\n[[output]]\npath = \"a.img\"\n",
    )
    .unwrap();
    build(&recipe).unwrap();
    let img = dir.path().join("a.img");
    for (name, data) in &files {
        let got = blockimg_tests::debugfs(&img, 1 << 20, &format!("cat /{name}")).stdout;
        assert!(
            got == *data,
            "/{name}: {} bytes read back differ",
            got.len()
        );
    }
}
