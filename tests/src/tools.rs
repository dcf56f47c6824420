//! Running the host's filesystem tools and parsing what they print.
//!
//! The e2fsprogs tools address a filesystem inside an image with the unix I/O
//! manager's `IMG?offset=BYTES` syntax, so no loop device is needed.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

/// Directories searched for tools after `PATH` (the sbin directories are often
/// missing from an unprivileged user's `PATH`).
const EXTRA_TOOL_DIRS: &[&str] = &["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

/// Finds an executable by name in `PATH` and the usual system directories.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(EXTRA_TOOL_DIRS.iter().map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|candidate| {
            candidate
                .metadata()
                .map(|m| m.is_file() && m.mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

/// True when `name` is installed. When it is not, prints why the calling test
/// is skipped.
pub fn require_tool(name: &str) -> bool {
    if find_tool(name).is_some() {
        true
    } else {
        eprintln!("SKIPPED: `{name}` is not installed (scripts/test.sh installs it on Debian)");
        false
    }
}

/// A `Command` for an installed tool; panics when the tool is missing (call
/// [`require_tool`] first).
pub fn tool(name: &str) -> Command {
    let path = find_tool(name).unwrap_or_else(|| panic!("`{name}` is not installed"));
    let mut cmd = Command::new(path);
    cmd.stdin(Stdio::null());
    cmd
}

/// True when the tests run as root (effective uid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The `IMG?offset=BYTES` device name understood by e2fsprogs.
pub fn device_spec(img: &Path, offset: u64) -> OsString {
    let mut spec = img.as_os_str().to_owned();
    if offset != 0 {
        spec.push(format!("?offset={offset}"));
    }
    spec
}

/// Result of `e2fsck -fn`.
#[derive(Debug)]
pub struct FsckReport {
    /// Exit code (0 = clean, 4 = errors left uncorrected, 8 = operational
    /// error).
    pub code: i32,
    /// Standard output and standard error.
    pub output: String,
}

/// Runs `e2fsck -fn 'IMG?offset=BYTES'` (forced, read-only) and returns its
/// exit code and output.
pub fn e2fsck(img: &Path, offset: u64) -> FsckReport {
    let out = tool("e2fsck")
        .arg("-fn")
        .arg(device_spec(img, offset))
        .output()
        .expect("run e2fsck");
    FsckReport {
        code: out.status.code().unwrap_or(-1),
        output: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Asserts that `e2fsck -fn` finds nothing to fix in the filesystem at
/// `offset` of `img`; the failure message holds e2fsck's whole report.
pub fn e2fsck_clean(img: &Path, offset: u64) {
    let report = e2fsck(img, offset);
    assert_eq!(
        report.code,
        0,
        "e2fsck -fn '{}' exited {}:\n{}",
        device_spec(img, offset).to_string_lossy(),
        report.code,
        report.output
    );
}

/// The superblock summary printed by `dumpe2fs -h`.
#[derive(Debug, Clone)]
pub struct Dumpe2fs {
    /// Every `Key: value` line, keys and values trimmed.
    pub fields: BTreeMap<String, String>,
}

impl Dumpe2fs {
    /// The value of a field; panics naming the field when it is absent.
    pub fn get(&self, key: &str) -> &str {
        self.fields
            .get(key)
            .unwrap_or_else(|| panic!("dumpe2fs -h printed no {key:?} field: {:#?}", self.fields))
    }

    /// A numeric field.
    pub fn number(&self, key: &str) -> u64 {
        let value = self.get(key);
        value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("dumpe2fs field {key:?} is not a number: {value:?}"))
    }

    /// The `Filesystem features` list.
    pub fn features(&self) -> Vec<String> {
        self.get("Filesystem features")
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    }

    /// True when `feature` is in the features list.
    pub fn has_feature(&self, feature: &str) -> bool {
        self.features().iter().any(|f| f == feature)
    }
}

/// Runs `dumpe2fs -h` on the filesystem at `offset` of `img` (with `TZ=UTC`
/// so printed dates are stable) and parses its fields.
pub fn dumpe2fs_h(img: &Path, offset: u64) -> Dumpe2fs {
    let out = tool("dumpe2fs")
        .env("TZ", "UTC")
        .arg("-h")
        .arg(device_spec(img, offset))
        .output()
        .expect("run dumpe2fs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dumpe2fs -h failed ({}):\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let fields = stdout
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect();
    Dumpe2fs { fields }
}

/// Output of one `debugfs` run.
#[derive(Debug)]
pub struct DebugfsOutput {
    /// Standard output.
    pub stdout: Vec<u8>,
    /// Standard error (the version banner and any error messages).
    pub stderr: String,
}

/// Runs `debugfs -R CMD` read-only on the filesystem at `offset` of `img`.
pub fn debugfs(img: &Path, offset: u64, cmd: &str) -> DebugfsOutput {
    let out = tool("debugfs")
        .env("TZ", "UTC")
        .arg("-R")
        .arg(cmd)
        .arg(device_spec(img, offset))
        .output()
        .expect("run debugfs");
    assert!(
        out.status.success(),
        "debugfs -R {cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    DebugfsOutput {
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs many `debugfs` requests in one process (`debugfs -f`) and returns
/// each request's standard output, in order. debugfs echoes every request as
/// a `debugfs: CMD` line, which is what splits the output. Requests must not
/// contain newlines.
pub fn debugfs_batch(img: &Path, offset: u64, cmds: &[String]) -> Vec<Vec<u8>> {
    if cmds.is_empty() {
        return Vec::new();
    }
    let mut script = tempfile::NamedTempFile::new().expect("debugfs script");
    {
        use std::io::Write;
        for cmd in cmds {
            assert!(
                !cmd.contains('\n'),
                "debugfs request with a newline: {cmd:?}"
            );
            writeln!(script, "{cmd}").expect("write debugfs script");
        }
        script.flush().expect("flush debugfs script");
    }
    let out = tool("debugfs")
        .env("TZ", "UTC")
        .arg("-f")
        .arg(script.path())
        .arg(device_spec(img, offset))
        .output()
        .expect("run debugfs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "debugfs -f failed ({}): {stderr}",
        out.status
    );
    let mut sections: Vec<Vec<u8>> = Vec::with_capacity(cmds.len());
    let mut current: Option<Vec<u8>> = None;
    for line in out.stdout.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"debugfs: ") {
            if let Some(section) = current.take() {
                sections.push(section);
            }
            current = Some(Vec::new());
        } else if let Some(section) = current.as_mut() {
            section.extend_from_slice(line);
        }
    }
    sections.extend(current);
    assert_eq!(
        sections.len(),
        cmds.len(),
        "debugfs answered {} of {} requests; stderr:\n{stderr}",
        sections.len(),
        cmds.len()
    );
    sections
}

/// A point in time as stored in an inode: seconds and nanoseconds.
pub type Time = (i64, u32);

/// The fields of `debugfs -R 'stat FILESPEC'` the tests look at.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InodeStat {
    /// Inode number.
    pub inode: u64,
    /// `Type:` as printed (`regular`, `directory`, `symlink`, ...).
    pub kind: String,
    /// Permission bits (`Mode:`).
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Hard-link count (`Links:`).
    pub links: u32,
    /// 512-byte sectors allocated (`Blockcount:`).
    pub blockcount: u64,
    /// Inode flags.
    pub flags: u32,
    /// Change time.
    pub ctime: Option<Time>,
    /// Access time.
    pub atime: Option<Time>,
    /// Modification time.
    pub mtime: Option<Time>,
    /// Creation time.
    pub crtime: Option<Time>,
    /// Device major and minor, for device nodes.
    pub device: Option<(u32, u32)>,
    /// Extended attribute names and value lengths, as listed.
    pub xattrs: Vec<(String, usize)>,
}

fn field_after<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let start = text.find(key)? + key.len();
    text[start..].split_whitespace().next()
}

/// Decodes `0xSECS:EXTRA` (or `0xSECS` without extra fields) into seconds and
/// nanoseconds: the low two bits of EXTRA extend the seconds, the rest are
/// nanoseconds.
fn parse_time(value: &str) -> Time {
    let value = value.trim_start_matches("0x");
    let (lo, extra) = match value.split_once(':') {
        Some((lo, extra)) => (lo, u32::from_str_radix(extra, 16).expect("time extra")),
        None => (value, 0),
    };
    let lo = u32::from_str_radix(lo, 16).expect("time seconds") as i32 as i64;
    (lo + (i64::from(extra & 3) << 32), extra >> 2)
}

/// Parses the output of debugfs `stat`; panics when it is not an inode report.
pub fn parse_stat(text: &str) -> InodeStat {
    let num = |key: &str| -> u64 {
        field_after(text, key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("debugfs stat has no {key:?}:\n{text}"))
    };
    assert!(
        text.starts_with("Inode:"),
        "not a debugfs stat report:\n{text}"
    );
    let mut stat = InodeStat {
        inode: num("Inode:"),
        kind: text
            .find("Type:")
            .map(|i| {
                let rest = &text[i + 5..];
                rest[..rest.find("Mode:").unwrap_or(rest.len())]
                    .trim()
                    .to_owned()
            })
            .unwrap_or_default(),
        mode: u16::from_str_radix(field_after(text, "Mode:").expect("Mode"), 8).expect("mode"),
        uid: num("User:") as u32,
        gid: num("Group:") as u32,
        size: num("Size:"),
        links: num("Links:") as u32,
        blockcount: num("Blockcount:"),
        flags: u32::from_str_radix(
            field_after(text, "Flags:")
                .expect("Flags")
                .trim_start_matches("0x"),
            16,
        )
        .expect("flags"),
        ..InodeStat::default()
    };
    for line in text.lines() {
        let trimmed = line.trim_start();
        for (key, slot) in [
            ("ctime:", &mut stat.ctime),
            ("atime:", &mut stat.atime),
            ("mtime:", &mut stat.mtime),
            ("crtime:", &mut stat.crtime),
        ] {
            if let Some(rest) = trimmed.strip_prefix(key) {
                *slot = rest.split_whitespace().next().map(parse_time);
            }
        }
        // "Device major/minor number: 01:03 (hex 01:03)", or with a
        // "(New-style) " prefix when the numbers need the large encoding.
        if let Some((_, rest)) = trimmed.split_once("Device major/minor number:") {
            let dev = rest.split_whitespace().next().expect("device numbers");
            let (major, minor) = dev.split_once(':').expect("major:minor");
            stat.device = Some((major.parse().expect("major"), minor.parse().expect("minor")));
        }
    }
    stat.xattrs = parse_xattr_list(text);
    stat
}

/// `debugfs -R 'stat FILESPEC'`: a path, or `<INODE>`.
pub fn debugfs_stat(img: &Path, offset: u64, filespec: &str) -> InodeStat {
    let out = debugfs(img, offset, &format!("stat {filespec}"));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("Inode:"),
        "debugfs stat {filespec} failed: {}",
        out.stderr
    );
    parse_stat(&text)
}

/// The root of a hash-indexed directory as `debugfs htree` prints it.
#[derive(Debug, Clone)]
pub struct Htree {
    /// Hash version (0 legacy, 1 half_md4, 2 tea, 3-5 their unsigned forms).
    pub hash_version: u32,
    /// Levels of index blocks below the root.
    pub indirect_levels: u32,
    /// Entries in the root index.
    pub root_entries: u32,
    /// Entries listed in the leaf blocks.
    pub leaf_names: usize,
}

/// `debugfs -R 'htree DIR'`: `None` when the directory is not hash-indexed.
pub fn debugfs_htree(img: &Path, offset: u64, dir: &str) -> Option<Htree> {
    let out = debugfs(img, offset, &format!("htree {dir}"));
    if out.stderr.contains("Not a hash-indexed directory") {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("Root node dump:"),
        "debugfs htree {dir} printed no index:\n{}\n{}",
        text,
        out.stderr
    );
    let num = |key: &str| -> u32 {
        field_after(&text, key)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("debugfs htree has no {key:?}"))
    };
    // Leaf blocks are listed as "Reading directory block N, phys M" followed
    // by one line per entry: "INODE 0xHASH-0xMINOR_HASH (REC_LEN) NAME".
    let leaf_names = text
        .lines()
        .filter(|line| {
            let mut words = line.split_whitespace();
            let inode = words.next().map(|w| w.parse::<u64>().is_ok());
            let hash = words.next().map(|w| w.starts_with("0x") && w.contains('-'));
            let len = words.next().map(|w| w.starts_with('(') && w.ends_with(')'));
            inode == Some(true) && hash == Some(true) && len == Some(true)
        })
        .count();
    Some(Htree {
        hash_version: num("Hash Version:"),
        indirect_levels: num("Indirect levels:"),
        root_entries: num("Number of entries (count):"),
        leaf_names,
    })
}

/// Names and value lengths of an inode's extended attributes, from
/// `debugfs -R 'ea_list FILESPEC'`.
pub fn debugfs_ea_list(img: &Path, offset: u64, filespec: &str) -> Vec<(String, usize)> {
    let out = debugfs(img, offset, &format!("ea_list {filespec}"));
    assert!(
        !out.stderr.contains(filespec),
        "debugfs ea_list {filespec} failed: {}",
        out.stderr
    );
    parse_xattr_list(&String::from_utf8_lossy(&out.stdout))
}

/// Parses the "Extended attributes:" section printed by `stat` and
/// `ea_list`: lines `  NAME (LEN)` or `  NAME (LEN) = VALUE`.
fn parse_xattr_list(text: &str) -> Vec<(String, usize)> {
    let mut list = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        if line == "Extended attributes:" {
            inside = true;
            continue;
        }
        if !inside {
            continue;
        }
        let Some(entry) = line.strip_prefix("  ") else {
            inside = false;
            continue;
        };
        let open = entry.find(" (").expect("xattr length");
        let close = entry[open..].find(')').expect("xattr length") + open;
        let len = entry[open + 2..close].parse().expect("xattr length");
        list.push((entry[..open].to_owned(), len));
    }
    list
}

/// Extended attributes of one inode, values read back byte for byte: names
/// from `ea_list`, raw values from `ea_get -f`.
pub fn debugfs_xattrs(img: &Path, offset: u64, filespec: &str) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let list = debugfs_ea_list(img, offset, filespec);
    let names: Vec<String> = list.iter().map(|(n, _)| n.clone()).collect();
    let values = read_xattr_values(img, offset, &[(filespec.to_owned(), names)]);
    let values = values.into_iter().next().unwrap_or_default();
    for (name, len) in &list {
        assert_eq!(
            values[name.as_bytes()].len(),
            *len,
            "{filespec}: ea_list and ea_get disagree on the length of {name}"
        );
    }
    values
}

/// Reads the values of the named attributes of each inode in one debugfs run.
pub(crate) fn read_xattr_values(
    img: &Path,
    offset: u64,
    wanted: &[(String, Vec<String>)],
) -> Vec<BTreeMap<Vec<u8>, Vec<u8>>> {
    let dir = tempfile::tempdir().expect("tempdir for xattr values");
    let mut cmds = Vec::new();
    let mut files = Vec::new();
    for (i, (filespec, names)) in wanted.iter().enumerate() {
        for (j, name) in names.iter().enumerate() {
            let file = dir.path().join(format!("{i}-{j}"));
            cmds.push(format!("ea_get -f {} {filespec} {name}", file.display()));
            files.push((i, name.clone(), file));
        }
    }
    let outputs = debugfs_batch(img, offset, &cmds);
    let mut result = vec![BTreeMap::new(); wanted.len()];
    for ((i, name, file), output) in files.into_iter().zip(outputs) {
        let value = std::fs::read(&file).unwrap_or_else(|e| {
            panic!(
                "debugfs ea_get {} {name} wrote no value ({e}): {}",
                wanted[i].0,
                String::from_utf8_lossy(&output)
            )
        });
        result[i].insert(name.into_bytes(), value);
    }
    result
}

/// One partition as `sfdisk -d` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SfdiskPartition {
    /// First sector.
    pub start: u64,
    /// Length in sectors.
    pub size: u64,
    /// Partition type (`83`, `ef`, a GUID, ...).
    pub kind: String,
    /// Whether the bootable flag is set.
    pub bootable: bool,
    /// GPT unique partition GUID (empty on an MBR disk).
    pub uuid: String,
    /// GPT partition name (empty on an MBR disk).
    pub name: String,
}

/// A partition table as `sfdisk -d` prints it.
#[derive(Debug, Clone)]
pub struct SfdiskDump {
    /// `label:` (`dos` or `gpt`).
    pub label: String,
    /// `label-id:`.
    pub label_id: String,
    /// Partitions in table order.
    pub partitions: Vec<SfdiskPartition>,
    /// The whole dump.
    pub text: String,
}

/// Runs `sfdisk -d IMG`; `Err` holds sfdisk's message when it finds no table.
pub fn sfdisk_dump(img: &Path) -> Result<SfdiskDump, String> {
    let out = tool("sfdisk")
        .arg("-d")
        .arg(img)
        .output()
        .expect("run sfdisk");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        return Err(format!("{}{}", text, String::from_utf8_lossy(&out.stderr)));
    }
    let mut dump = SfdiskDump {
        label: String::new(),
        label_id: String::new(),
        partitions: Vec::new(),
        text: text.clone(),
    };
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("label:") {
            dump.label = v.trim().to_owned();
        } else if let Some(v) = line.strip_prefix("label-id:") {
            dump.label_id = v.trim().to_owned();
        } else if let Some((_, attrs)) = line.split_once(" : ") {
            let mut part = SfdiskPartition {
                start: 0,
                size: 0,
                kind: String::new(),
                bootable: false,
                uuid: String::new(),
                name: String::new(),
            };
            for attr in attrs.split(',').map(str::trim) {
                match attr.split_once('=') {
                    Some(("start", v)) => part.start = v.trim().parse().expect("start"),
                    Some(("size", v)) => part.size = v.trim().parse().expect("size"),
                    Some(("type", v)) => part.kind = v.trim().to_owned(),
                    Some(("uuid", v)) => part.uuid = v.trim().to_owned(),
                    Some(("name", v)) => part.name = v.trim().trim_matches('"').to_owned(),
                    None if attr == "bootable" => part.bootable = true,
                    _ => {}
                }
            }
            dump.partitions.push(part);
        }
    }
    Ok(dump)
}

/// Creates `img` as a sparse file of `size` bytes partitioned by `sfdisk`
/// from `script` (sfdisk's input format).
pub fn sfdisk_create(img: &Path, size: u64, script: &str) {
    File::create(img)
        .and_then(|f| f.set_len(size))
        .unwrap_or_else(|e| panic!("create {}: {e}", img.display()));
    let mut sfdisk = tool("sfdisk")
        .arg("-q")
        .arg(img)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("run sfdisk");
    std::io::Write::write_all(
        sfdisk.stdin.as_mut().expect("sfdisk stdin"),
        script.as_bytes(),
    )
    .expect("write the sfdisk script");
    assert!(
        sfdisk.wait().expect("wait for sfdisk").success(),
        "sfdisk {script:?}"
    );
}

/// Runs `sfdisk --verify IMG`; `Err` holds what it printed when it finds a
/// problem (it exits 0 on a clean table, and says so).
pub fn sfdisk_verify(img: &Path) -> Result<String, String> {
    let out = tool("sfdisk")
        .arg("--verify")
        .arg(img)
        .output()
        .expect("run sfdisk --verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if out.status.success() && text.contains("No errors detected") {
        Ok(text)
    } else {
        Err(text)
    }
}

/// Copies `len` bytes at `offset` of `img` to `out` (a partition on its
/// own, for tools without an offset option).
pub fn extract(img: &Path, offset: u64, len: u64, out: &Path) {
    use std::io::{Seek, SeekFrom, Write};
    let mut from = File::open(img).unwrap_or_else(|e| panic!("open {}: {e}", img.display()));
    from.seek(SeekFrom::Start(offset)).expect("seek");
    let mut to = File::create(out).unwrap_or_else(|e| panic!("create {}: {e}", out.display()));
    let copied = std::io::copy(&mut from.take(len), &mut to).expect("copy partition");
    assert_eq!(
        copied,
        len,
        "{} is shorter than its partition",
        img.display()
    );
    to.flush().expect("flush");
}

/// Runs `fsck.fat -n` (read-only) on the FAT at `offset` (of `len` bytes)
/// of `img`, copied out into `scratch`; returns its exit code and output.
pub fn fsck_fat(img: &Path, offset: u64, len: u64, scratch: &Path) -> (i32, String) {
    extract(img, offset, len, scratch);
    let out = tool("fsck.fat")
        .arg("-n")
        .arg(scratch)
        .output()
        .expect("run fsck.fat");
    let _ = std::fs::remove_file(scratch);
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// Runs `mdir -i 'IMG@@OFFSET' ::DIR` (mtools) and returns what it lists,
/// or `Err` with its message.
pub fn mdir(img: &Path, offset: u64, dir: &str) -> Result<String, String> {
    let mut spec = img.as_os_str().to_owned();
    spec.push(format!("@@{offset}"));
    let out = tool("mdir")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(spec)
        .arg(format!("::{dir}"))
        .output()
        .expect("run mdir");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// Bytes actually allocated to a file on the host (`st_blocks * 512`).
pub fn allocated_bytes(path: &Path) -> u64 {
    std::fs::metadata(path).expect("stat image").blocks() * 512
}

/// SHA-256 of a file's content, as lowercase hex.
pub fn sha256_file(path: &Path) -> String {
    let mut file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).expect("read for hashing");
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    hex(&hasher.finalize())
}

/// Lowercase hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lossy display of a byte path.
pub fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

/// `OsStr` of raw bytes.
pub fn os(bytes: &[u8]) -> &OsStr {
    OsStr::from_bytes(bytes)
}

/// Runs `cmd`, panicking with its output unless it succeeds; returns its
/// standard output.
pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
