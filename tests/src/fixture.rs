//! Host trees to build images from, and the primitives that make them
//! (FIFOs, sockets, device nodes, xattrs, nanosecond timestamps, sparse
//! files).

use std::ffi::CString;
use std::fs;
use std::io::{self, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::tools::{is_root, os};

fn cpath(path: &Path) -> CString {
    CString::new(path.as_os_str().as_bytes()).expect("path without NUL")
}

fn check(ret: libc::c_int, what: &str, path: &Path) -> io::Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        let err = io::Error::last_os_error();
        Err(io::Error::new(
            err.kind(),
            format!("{what} {}: {err}", path.display()),
        ))
    }
}

/// Sets access and modification times (seconds, nanoseconds) without
/// following a symlink.
pub fn set_times(path: &Path, atime: (i64, u32), mtime: (i64, u32)) -> io::Result<()> {
    let times = [
        libc::timespec {
            tv_sec: atime.0 as libc::time_t,
            tv_nsec: atime.1 as _,
        },
        libc::timespec {
            tv_sec: mtime.0 as libc::time_t,
            tv_nsec: mtime.1 as _,
        },
    ];
    let p = cpath(path);
    // SAFETY: valid NUL-terminated path and a two-element timespec array.
    let ret = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            p.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    check(ret, "utimensat", path)
}

/// Sets an extended attribute without following a symlink.
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let p = cpath(path);
    let n = CString::new(name).expect("xattr name");
    // SAFETY: valid NUL-terminated strings and a buffer valid for its length.
    let ret = unsafe {
        libc::lsetxattr(
            p.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    check(ret, "lsetxattr", path)
}

/// Creates a named pipe.
pub fn mkfifo(path: &Path, mode: u32) -> io::Result<()> {
    let p = cpath(path);
    // SAFETY: valid NUL-terminated path.
    let ret = unsafe { libc::mkfifo(p.as_ptr(), mode as libc::mode_t) };
    check(ret, "mkfifo", path)
}

/// Creates a character (`block == false`) or block device node (needs
/// CAP_MKNOD).
pub fn mknod(path: &Path, block: bool, mode: u32, major: u32, minor: u32) -> io::Result<()> {
    let p = cpath(path);
    let kind = if block { libc::S_IFBLK } else { libc::S_IFCHR };
    // SAFETY: valid NUL-terminated path.
    let ret = unsafe {
        libc::mknod(
            p.as_ptr(),
            kind | mode as libc::mode_t,
            libc::makedev(major, minor),
        )
    };
    check(ret, "mknod", path)
}

/// Creates a Unix domain socket file (binds a listener and closes it).
pub fn make_socket(path: &Path) -> io::Result<()> {
    std::os::unix::net::UnixListener::bind(path).map(drop)
}

/// Sets the permission bits (including setuid, setgid, sticky).
pub fn chmod(path: &Path, mode: u32) -> io::Result<()> {
    fs::set_permissions(path, fs::Permissions::from_mode(mode))
}

/// Whether `dir`'s filesystem accepts `user.*` extended attributes.
pub fn xattrs_supported(dir: &Path) -> bool {
    let probe = dir.join(".xattr-probe");
    fs::write(&probe, b"").expect("create xattr probe");
    let ok = set_xattr(&probe, "user.probe", b"1").is_ok();
    fs::remove_file(&probe).expect("remove xattr probe");
    ok
}

/// Deterministic, incompressible bytes (xorshift64*).
pub fn pseudo_random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes a file of apparent size `size` whose only data are `chunks`
/// (offset, bytes); everything else is a hole.
pub fn write_sparse(path: &Path, size: u64, chunks: &[(u64, Vec<u8>)]) -> io::Result<()> {
    let mut file = fs::File::create(path)?;
    for (offset, data) in chunks {
        file.seek(SeekFrom::Start(*offset))?;
        file.write_all(data)?;
    }
    file.set_len(size)
}

/// A symlink target of exactly `len` bytes. Every 64th byte is a `/`:
/// ext4-view 1.0 refuses targets with a component longer than 255 bytes
/// (Linux does not).
pub fn target_of_len(len: usize, seed: u64) -> Vec<u8> {
    let alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789._-/";
    pseudo_random_bytes(seed, len)
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if i % 64 == 63 {
                b'/'
            } else {
                alphabet[*b as usize % alphabet.len()]
            }
        })
        .collect()
}

/// What [`build_rich_tree`] puts in the tree.
#[derive(Clone, Debug)]
pub struct FixtureOptions {
    /// Entries in the big directory `/many` (0: no such directory).
    pub big_dir_entries: usize,
    /// Size of `/files/large`.
    pub large_file_bytes: usize,
    /// Length of the longest symlink target (`/links/sym-long`).
    pub long_symlink: usize,
    /// Add `user.*` extended attributes (when the host filesystem has them).
    pub xattrs: bool,
    /// Add a FIFO and a socket.
    pub special_files: bool,
    /// Add device nodes (as root only).
    pub devices: bool,
    /// Give nodes varied owners, some above 65535 (as root only).
    pub owners: bool,
}

impl Default for FixtureOptions {
    fn default() -> Self {
        FixtureOptions {
            big_dir_entries: 10_000,
            large_file_bytes: 8 * 1024 * 1024 + 123,
            long_symlink: 4000,
            xattrs: true,
            special_files: true,
            devices: true,
            owners: true,
        }
    }
}

/// A rich tree created on the host, and what it ended up holding (some parts
/// depend on privileges and on the host filesystem).
#[derive(Clone, Debug)]
pub struct Fixture {
    /// The tree's root directory.
    pub root: PathBuf,
    /// `user.*` xattrs were set (on `/xattr` and below).
    pub has_xattrs: bool,
    /// Device nodes exist under `/special`.
    pub has_devices: bool,
    /// Nodes under `/owners` have non-root owners.
    pub has_owners: bool,
    /// A socket exists at `/special/socket`.
    pub has_socket: bool,
    /// Entries in `/many`.
    pub big_dir_entries: usize,
    /// Path (in the tree) of the deepest file.
    pub deep_leaf: String,
    /// Access time given to `/times/ns`.
    pub ns_atime: (i64, u32),
    /// Modification time given to `/times/ns`.
    pub ns_mtime: (i64, u32),
}

/// Path of the big directory.
pub const BIG_DIR: &str = "/many";
/// A sparse file: 64 MiB apparent, 12 KiB and one byte of data.
pub const SPARSE: &str = "/files/sparse";
/// A file with no data at all (16 MiB hole).
pub const ALL_HOLE: &str = "/files/all-hole";
/// The large file.
pub const LARGE: &str = "/files/large";
/// A file carrying a 2000-byte xattr (too large for the inode).
pub const XATTR_LARGE: &str = "/xattr/large";
/// A file carrying small xattrs (fit in the inode).
pub const XATTR_SMALL: &str = "/xattr/small";
/// A file with nanosecond times.
pub const TIMES_NS: &str = "/times/ns";
/// A file with a modification time in 2106, past 2^32 seconds: stored with
/// the epoch bits of the extra time field. (ext4-view 1.0 cannot decode raw
/// second fields of 2^31 and above, that is times before 1970 or between
/// 2038 and 2106, so the fixture avoids those.)
pub const TIMES_FUTURE: &str = "/times/future";
/// Modification time given to [`TIMES_FUTURE`].
pub const FUTURE_MTIME: (i64, u32) = (4_300_000_000, 500_000_000);
/// Character device 1:3 (root only).
pub const DEV_NULL: &str = "/special/null";
/// Character device with numbers that need the large encoding (root only).
pub const DEV_HUGE: &str = "/special/huge";
/// Block device 7:0 (root only).
pub const DEV_BLOCK: &str = "/special/loop0";
/// Device numbers of [`DEV_HUGE`].
pub const DEV_HUGE_NUMBERS: (u32, u32) = (4000, 1_000_000);

/// Creates a rich tree under `root` (which must not exist): regular, empty,
/// sparse and large files; deep paths; 255-byte names (ASCII, multi-byte
/// UTF-8 and non-UTF-8); hard links across directories; symlinks of 59, 60,
/// 61 and `long_symlink` bytes; a FIFO and a socket; device nodes and varied
/// owners (as root); small and large `user.*` xattrs; setuid, setgid and
/// sticky modes; nanosecond timestamps; a directory of `big_dir_entries`
/// entries. Every node gets a distinct timestamp with nanoseconds.
pub fn build_rich_tree(root: &Path, opts: &FixtureOptions) -> Fixture {
    let root = root.to_path_buf();
    let p = |rel: &str| root.join(rel.trim_start_matches('/'));
    let mkdir = |rel: &str| fs::create_dir_all(p(rel)).expect("mkdir");
    let write = |rel: &str, data: &[u8]| fs::write(p(rel), data).expect("write");

    mkdir("/");
    let has_xattrs = opts.xattrs && xattrs_supported(&root);
    if opts.xattrs && !has_xattrs {
        eprintln!(
            "NOTE: the host filesystem under {} has no user xattrs; the fixture has none",
            root.display()
        );
    }

    // Regular files.
    mkdir("/files");
    write("/files/empty", b"");
    write("/files/one-byte", b"x");
    write("/files/text", b"hello, blockimg\n");
    write("/files/block", &pseudo_random_bytes(1, 4096));
    write("/files/block-plus-one", &pseudo_random_bytes(2, 4097));
    write(LARGE, &pseudo_random_bytes(3, opts.large_file_bytes));
    write_sparse(
        &p(SPARSE),
        64 << 20,
        &[
            (0, pseudo_random_bytes(4, 4096)),
            (32 << 20, pseudo_random_bytes(5, 8192)),
            ((64 << 20) - 1, vec![0x5a]),
        ],
    )
    .expect("sparse file");
    write_sparse(&p(ALL_HOLE), 16 << 20, &[]).expect("hole file");
    write_sparse(&p("/files/tail-hole"), 1 << 20, &[(0, b"head".to_vec())]).expect("tail hole");
    for (name, mode) in [
        ("setuid", 0o4755),
        ("setgid", 0o2755),
        ("all-special-bits", 0o7755),
        ("private", 0o600),
        ("readonly", 0o444),
        ("exec", 0o755),
    ] {
        let path = p(&format!("/files/{name}"));
        fs::write(&path, name.as_bytes()).expect("write");
        chmod(&path, mode).expect("chmod");
    }

    // Directories with special modes.
    for (name, mode) in [
        ("sticky", 0o1777),
        ("setgid", 0o2775),
        ("private", 0o700),
        ("empty", 0o755),
    ] {
        let path = p(&format!("/dirs/{name}"));
        fs::create_dir_all(&path).expect("mkdir");
        chmod(&path, mode).expect("chmod");
    }
    write("/dirs/sticky/inside", b"in a sticky directory");

    // Names.
    mkdir("/names");
    for name in [
        "a".repeat(255).into_bytes(),
        "€".repeat(85).into_bytes(),
        b"latin1-\xe9t\xe9".to_vec(),
        b"with space".to_vec(),
        b".hidden".to_vec(),
        b"-dash".to_vec(),
        b"UPPER-lower".to_vec(),
    ] {
        assert!(name.len() <= 255);
        fs::write(root.join("names").join(os(&name)), &name).expect("write named file");
    }
    let long_dir = root.join("names").join("d".repeat(255));
    fs::create_dir(&long_dir).expect("mkdir long name");
    fs::write(long_dir.join("e".repeat(255)), b"long/long").expect("write");

    // A deep path.
    let mut deep = String::from("/deep");
    for level in 0..64 {
        deep.push_str(&format!("/level-{level:02}"));
    }
    mkdir(&deep);
    let deep_leaf = format!("{deep}/leaf");
    write(&deep_leaf, b"at the bottom");

    // Hard links across directories, and symlinks.
    mkdir("/links/a");
    mkdir("/links/b/c");
    write("/links/a/orig", b"one inode, three names");
    fs::hard_link(p("/links/a/orig"), p("/links/b/second")).expect("link");
    fs::hard_link(p("/links/a/orig"), p("/links/b/c/third")).expect("link");
    write("/links/a/pair", b"two names");
    fs::hard_link(p("/links/a/pair"), p("/links/pair-too")).expect("link");
    let lens: std::collections::BTreeSet<usize> = [1, 59, 60, 61, opts.long_symlink]
        .into_iter()
        .filter(|&len| len > 0)
        .collect();
    for len in lens {
        let target = target_of_len(len, len as u64);
        let name = if len == opts.long_symlink && len > 61 {
            "sym-long".to_string()
        } else {
            format!("sym{len}")
        };
        std::os::unix::fs::symlink(os(&target), p(&format!("/links/{name}"))).expect("symlink");
    }
    std::os::unix::fs::symlink("a/orig", p("/links/to-file")).expect("symlink");
    std::os::unix::fs::symlink("../dirs", p("/links/to-dir")).expect("symlink");
    std::os::unix::fs::symlink("no/such/target", p("/links/dangling")).expect("symlink");

    // Special files.
    let mut has_socket = false;
    let mut has_devices = false;
    if opts.special_files {
        mkdir("/special");
        mkfifo(&p("/special/fifo"), 0o640).expect("mkfifo");
        let sock = p("/special/socket");
        if sock.as_os_str().len() < 100 {
            make_socket(&sock).expect("socket");
            has_socket = true;
        } else {
            eprintln!(
                "NOTE: {} is too long for a socket address; no socket in the fixture",
                sock.display()
            );
        }
        if opts.devices && is_root() {
            mknod(&p(DEV_NULL), false, 0o666, 1, 3).expect("mknod");
            mknod(&p(DEV_BLOCK), true, 0o660, 7, 0).expect("mknod");
            let (major, minor) = DEV_HUGE_NUMBERS;
            mknod(&p(DEV_HUGE), false, 0o600, major, minor).expect("mknod");
            has_devices = true;
        } else if opts.devices {
            eprintln!("NOTE: not root; the fixture has no device nodes");
        }
    }

    // Owners.
    let mut has_owners = false;
    if opts.owners && is_root() {
        mkdir("/owners/dir");
        for (name, uid, gid) in [
            ("/owners/u1000", 1000, 100),
            ("/owners/nobody", 65534, 65534),
            ("/owners/big-ids", 70_000, 70_001),
            ("/owners/dir/file", 4321, 8765),
        ] {
            write(name, name.as_bytes());
            std::os::unix::fs::lchown(p(name), Some(uid), Some(gid)).expect("chown");
        }
        std::os::unix::fs::symlink("u1000", p("/owners/link")).expect("symlink");
        std::os::unix::fs::lchown(p("/owners/link"), Some(1000), Some(1000)).expect("lchown");
        std::os::unix::fs::lchown(p("/owners/dir"), Some(1234), Some(5678)).expect("chown");
        // chown clears setuid/setgid: set them afterwards.
        write("/owners/setuid-1000", b"setuid");
        std::os::unix::fs::lchown(p("/owners/setuid-1000"), Some(1000), Some(1000)).expect("chown");
        chmod(&p("/owners/setuid-1000"), 0o4750).expect("chmod");
        has_owners = true;
    } else if opts.owners {
        eprintln!("NOTE: not root; every node in the fixture has the caller's owner");
    }

    // Extended attributes.
    if has_xattrs {
        mkdir("/xattr");
        write(XATTR_SMALL, b"small xattrs");
        set_xattr(&p(XATTR_SMALL), "user.small", b"v").expect("xattr");
        set_xattr(
            &p(XATTR_SMALL),
            "user.another",
            b"thirty-two bytes of value here!!",
        )
        .expect("xattr");
        set_xattr(&p(XATTR_SMALL), "user.empty", b"").expect("xattr");
        write(XATTR_LARGE, b"a large xattr");
        set_xattr(&p(XATTR_LARGE), "user.large", &pseudo_random_bytes(6, 2000)).expect("xattr");
        write("/xattr/mixed", b"mixed xattrs");
        for (name, len) in [
            ("user.a", 10),
            ("user.b", 1500),
            ("user.c", 100),
            ("user.d", 3),
        ] {
            set_xattr(
                &p("/xattr/mixed"),
                name,
                &pseudo_random_bytes(len as u64, len),
            )
            .expect("xattr");
        }
        set_xattr(&p("/xattr"), "user.on-a-directory", b"dir value").expect("xattr");
        write("/links/a/xattr-linked", b"hard-linked with xattrs");
        set_xattr(&p("/links/a/xattr-linked"), "user.shared", b"same inode").expect("xattr");
        fs::hard_link(p("/links/a/xattr-linked"), p("/links/b/xattr-linked")).expect("link");
    }

    // The big directory.
    if opts.big_dir_entries > 0 {
        mkdir(BIG_DIR);
        for i in 0..opts.big_dir_entries {
            let name = format!("entry-{i:05}-{}", "x".repeat(i % 37));
            fs::write(root.join("many").join(name), b"").expect("write entry");
        }
    }

    // Times: distinct, with nanoseconds, set last (creating entries changes
    // a directory's mtime).
    mkdir("/times");
    write(TIMES_NS, b"nanoseconds");
    write(TIMES_FUTURE, b"year 2106");
    write("/times/epoch", b"1970");
    stamp_times(&root);
    let ns_atime = (1_700_000_100, 123_456_789);
    let ns_mtime = (1_700_000_000, 999_999_999);
    set_times(&p(TIMES_NS), ns_atime, ns_mtime).expect("times");
    set_times(&p(TIMES_FUTURE), (4_300_000_000, 1), FUTURE_MTIME).expect("times");
    set_times(&p("/times/epoch"), (0, 0), (0, 0)).expect("times");

    Fixture {
        root,
        has_xattrs,
        has_devices,
        has_owners,
        has_socket,
        big_dir_entries: opts.big_dir_entries,
        deep_leaf,
        ns_atime,
        ns_mtime,
    }
}

/// Gives every node under `root` (and `root` itself) a distinct access and
/// modification time with nanoseconds, in a deterministic order.
pub fn stamp_times(root: &Path) {
    let mut paths = Vec::new();
    collect(root, &mut paths);
    paths.sort();
    for (i, path) in paths.iter().enumerate() {
        let i = i as i64;
        let mtime = (
            1_600_000_000 + i * 1000,
            ((i * 7_654_321 + 13) % 1_000_000_000) as u32,
        );
        let atime = (mtime.0 + 17, ((i * 1_234_567 + 7) % 1_000_000_000) as u32);
        set_times(path, atime, mtime).expect("set times");
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) {
    out.push(path.to_path_buf());
    let meta = fs::symlink_metadata(path).expect("lstat");
    if meta.is_dir() {
        for entry in fs::read_dir(path).expect("read_dir") {
            collect(&entry.expect("entry").path(), out);
        }
    }
}
