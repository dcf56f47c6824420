//! Journal replay against e2fsck and the kernel: images whose journal holds
//! transactions not yet applied (written by debugfs, or left by a kernel
//! mount shut down without checkpointing) read through `blockimg get` as
//! the kernel shows them after its own recovery and as `e2fsck -fy`
//! leaves them; replayed into the image in place they are byte for byte
//! what e2fsck writes; `blockimg add` replays first and leaves a clean
//! filesystem with both the replayed changes and the addition.

use std::fs;
use std::path::{Path, PathBuf};

use blockimg::ext4::read::{replay_in_place, Ext4Reader};
use blockimg_tests::fuse::{require_fuse, FuseMount};
use blockimg_tests::model::{Compare, Model};
use blockimg_tests::mount::LoopMount;
use blockimg_tests::tools::{dumpe2fs_h, run_ok, sha256_file, tool};
use blockimg_tests::{
    blockimg_cmd, e2fsck_clean, host, is_root, mkdisk, require_e2fsprogs, RunOutput,
};

const BS: u64 = 4096;
/// The jbd2 magic, which a block copied into the journal must not begin
/// with (jbd2 escapes it).
const MAGIC: [u8; 4] = [0xC0, 0x3B, 0x39, 0x98];

/// Runs debugfs's commands `cmds` read-write on `img`.
fn debugfs_w(img: &Path, cmds: &str) {
    let file = img.with_extension("cmds");
    fs::write(&file, cmds).unwrap();
    run_ok(tool("debugfs").arg("-w").arg("-f").arg(&file).arg(img));
}

/// The filesystem of the bare filesystem image `img` as `blockimg get`
/// extracts it, walked; and what the extraction says on stderr (whether
/// the journal was replayed).
fn extracted(img: &Path, dir: &Path) -> (Model, String) {
    let holder = tempfile::tempdir_in(dir).unwrap();
    let dest = holder.path().join("root");
    let out = RunOutput::run(blockimg_cmd().arg("get").arg(img).arg("/").arg(&dest));
    out.assert_success();
    (host::walk(&dest), out.stderr.clone())
}

/// A copy of `img` named `name` beside it.
fn copy(img: &Path, name: &str) -> PathBuf {
    let to = img.with_file_name(name);
    fs::copy(img, &to).unwrap();
    to
}

/// `e2fsck -fy` on a copy of `img` (bare filesystem): the copy, replayed
/// and checked.
fn fscked(img: &Path) -> PathBuf {
    let to = copy(img, "e2fsck.img");
    let status = tool("e2fsck").arg("-fy").arg(&to).status().unwrap();
    assert!(
        status.code().is_some_and(|c| c <= 1),
        "e2fsck -fy: {status}"
    );
    to
}

/// Blocks of the bare filesystems `a` and `b` that differ, except
/// `except`.
fn differing_blocks(a: &Path, b: &Path, except: &[u64]) -> Vec<u64> {
    let (a, b) = (fs::read(a).unwrap(), fs::read(b).unwrap());
    a.chunks(BS as usize)
        .zip(b.chunks(BS as usize))
        .enumerate()
        .filter(|(n, (x, y))| x != y && !except.contains(&(*n as u64)))
        .map(|(n, _)| n as u64)
        .collect()
}

/// A filesystem made by mke2fs with `options`, then changed by debugfs
/// only through its journal: the changes debugfs made to a copy (new
/// files, one beginning with the jbd2 magic, a directory, a removal)
/// written as one committed transaction, a block written then revoked by
/// a later transaction, and a transaction never committed. Returns the
/// dirty image and the changed copy (the truth), or `None` when debugfs
/// cannot give the journal `features`.
fn dirty_image(
    dir: &Path,
    options: &[&str],
    open: &str,
    features: &str,
) -> Option<(PathBuf, PathBuf)> {
    let root = dir.join("root");
    fs::create_dir_all(root.join("etc")).unwrap();
    fs::write(root.join("etc/hostname"), "before\n").unwrap();
    fs::write(root.join("old"), vec![b'o'; 10_000]).unwrap();
    let img = dir.join("dirty.img");
    run_ok(
        tool("mke2fs")
            .args(["-q", "-F", "-t", "ext4", "-b", "4096"])
            .args(options)
            .arg("-d")
            .arg(&root)
            .arg(&img)
            .arg("16M"),
    );
    // Open the journal the way the flavour needs once, so its features are
    // set before the copy is taken.
    debugfs_w(&img, &format!("{open}\njc\n"));
    let got = dumpe2fs_h(&img, 0);
    if got.get("Journal features") != features {
        eprintln!(
            "SKIPPED {options:?}: debugfs `{open}` gives journal features {:?}, not {features:?}",
            got.get("Journal features")
        );
        return None;
    }
    let truth = copy(&img, "truth.img");
    let new = dir.join("new.txt");
    fs::write(&new, "after\n").unwrap();
    let mut magic = MAGIC.to_vec();
    magic.extend_from_slice(&[0x55; 5000]);
    let magic_file = dir.join("magic.bin");
    fs::write(&magic_file, &magic).unwrap();
    debugfs_w(
        &truth,
        &format!(
            "write {} new.txt\nmkdir d\nwrite {} d/magic.bin\nrm old\nsymlink d/link ../new.txt\n",
            new.display(),
            magic_file.display()
        ),
    );
    let journal_first = run_ok(tool("debugfs").args(["-R", "bmap <8> 0"]).arg(&img))
        .trim()
        .parse::<u64>()
        .unwrap();
    let blocks = differing_blocks(&img, &truth, &[journal_first]);
    assert!(blocks.len() > 3, "debugfs changed {blocks:?}");
    let truth_bytes = fs::read(&truth).unwrap();
    let data: Vec<u8> = blocks
        .iter()
        .flat_map(|&b| &truth_bytes[(b * BS) as usize..((b + 1) * BS) as usize])
        .copied()
        .collect();
    assert!(
        data.chunks(BS as usize).any(|b| b.starts_with(&MAGIC)),
        "a block to escape"
    );
    let data_file = dir.join("blocks");
    fs::write(&data_file, data).unwrap();
    let junk = dir.join("junk");
    fs::write(&junk, vec![0xEE; BS as usize]).unwrap();
    // A free block: the filesystem's last.
    let last = fs::metadata(&img).unwrap().len() / BS - 1;
    let list: Vec<String> = blocks.iter().map(u64::to_string).collect();
    debugfs_w(
        &img,
        &format!(
            "{open}\njw -b {last} {junk}\njw -b {list} {data}\njw -r {last} /dev/null\njw -c -b {first} {junk}\njc\n",
            junk = junk.display(),
            list = list.join(","),
            data = data_file.display(),
            first = blocks[blocks.len() - 1],
        ),
    );
    let dirty = dumpe2fs_h(&img, 0);
    assert!(dirty.has_feature("needs_recovery"));
    Some((img, truth))
}

/// What blockimg reads, what e2fsck replays and what the kernel recovers
/// agree on an image debugfs made dirty, in each journal flavour; the
/// replay in place writes what e2fsck writes.
#[test]
fn debugfs_journals_read_as_e2fsck_and_the_kernel_replay_them() {
    if !require_e2fsprogs() {
        return;
    }
    let flavours: [(&str, &[&str], &str, &str); 4] = [
        (
            "no checksums, 32-bit",
            &["-O", "^64bit,^metadata_csum"],
            "jo",
            "(none)",
        ),
        (
            "no checksums, 64-bit",
            &["-O", "64bit,^metadata_csum"],
            "jo",
            "journal_64bit",
        ),
        (
            "checksum v2",
            &["-O", "64bit,metadata_csum"],
            "jo -c -v 2",
            "journal_64bit journal_checksum_v2",
        ),
        (
            "checksum v3",
            &["-O", "64bit,metadata_csum"],
            "jo -c",
            "journal_64bit journal_checksum_v3",
        ),
    ];
    let cmp = Compare::default();
    let mut tested = 0;
    for (name, options, open, features) in flavours {
        let tmp = tempfile::tempdir().unwrap();
        let Some((img, truth)) = dirty_image(tmp.path(), options, open, features) else {
            continue;
        };
        let before = fs::read(&img).unwrap();
        let (ours, note) = extracted(&img, tmp.path());
        assert!(note.contains("3 transactions"), "{name}: {note}");
        assert_eq!(
            fs::read(&img).unwrap(),
            before,
            "{name}: reading changed the image"
        );
        let (truth_model, _) = extracted(&truth, tmp.path());
        truth_model.assert_same(
            &ours,
            &cmp,
            &format!("{name}: the changes debugfs made vs blockimg's replay"),
        );
        let reader = Ext4Reader::open(fs::File::open(&img).unwrap(), 0, &img).unwrap();
        let replayed = reader.replayed().unwrap();
        assert_eq!((replayed.transactions, replayed.revoked), (3, 1), "{name}");
        assert!(!reader.info().has_feature("needs_recovery"));

        let e2fsck = fscked(&img);
        let (theirs, note) = extracted(&e2fsck, tmp.path());
        assert!(note.is_empty(), "{name}: {note}");
        theirs.assert_same(&ours, &cmp, &format!("{name}: e2fsck -fy vs blockimg"));

        // In place: e2fsck's blocks, but for the superblock (its check
        // times) and the journal superblock (its sequence); then clean.
        let in_place = copy(&img, "in-place.img");
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&in_place)
            .unwrap();
        assert_eq!(
            replay_in_place(&file, 0, &in_place).unwrap().as_ref(),
            Some(replayed)
        );
        assert_eq!(
            replay_in_place(&file, 0, &in_place).unwrap(),
            None,
            "once is enough"
        );
        drop(file);
        let journal = run_ok(tool("debugfs").args(["-R", "bmap <8> 0"]).arg(&img))
            .trim()
            .parse::<u64>()
            .unwrap();
        assert_eq!(
            differing_blocks(&in_place, &e2fsck, &[0, journal]),
            Vec::<u64>::new(),
            "{name}"
        );
        e2fsck_clean(&in_place, 0);

        if let Some(mount) = kernel_copy(&img, "kernel.img") {
            let seen = host::walk(mount.path());
            seen.assert_same(&ours, &cmp, &format!("{name}: the kernel vs blockimg"));
            mount.unmount();
        }
        tested += 1;
    }
    assert!(tested >= 2, "debugfs made {tested} of the journal flavours");
}

/// A read-write kernel mount of a copy of `img` (the kernel replays its
/// journal), or `None` (printed) when this machine cannot mount.
fn kernel_copy(img: &Path, name: &str) -> Option<LoopMount> {
    if !is_root() {
        eprintln!("SKIPPED the kernel comparison: mounting needs root");
        return None;
    }
    let copy = copy(img, name);
    let len = fs::metadata(&copy).unwrap().len();
    LoopMount::new(&copy, 0, len, false)
}

/// Shuts a mounted ext4 down as `godown` does with
/// `EXT4_GOING_FLAGS_LOGFLUSH`: the journal committed, nothing
/// checkpointed, the filesystem left needing recovery.
fn shut_down(mountpoint: &Path) {
    const EXT4_IOC_SHUTDOWN: libc::c_ulong = 0x8004_587D;
    const EXT4_GOING_FLAGS_LOGFLUSH: u32 = 0x1;
    let dir = fs::File::open(mountpoint).unwrap();
    let flags = EXT4_GOING_FLAGS_LOGFLUSH;
    // SAFETY: the descriptor is open and the argument points to a u32.
    let rc = unsafe {
        libc::ioctl(
            std::os::fd::AsRawFd::as_raw_fd(&dir),
            EXT4_IOC_SHUTDOWN,
            &flags as *const u32,
        )
    };
    assert_eq!(
        rc,
        0,
        "EXT4_IOC_SHUTDOWN: {}",
        std::io::Error::last_os_error()
    );
}

/// A kernel mount of a blockimg image, written to and shut down without
/// checkpointing: blockimg reads it as the kernel recovers it, and
/// `blockimg add` replays it into the image before adding.
#[test]
fn a_kernel_journal_left_dirty_reads_as_the_kernel_recovers_it() {
    if !require_e2fsprogs() {
        return;
    }
    if !is_root() {
        eprintln!("SKIPPED: mounting with the kernel needs root");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("etc")).unwrap();
    fs::write(src.join("etc/hostname"), "image\n").unwrap();
    let img = tmp.path().join("fs.img");
    mkdisk([
        "--size".as_ref(),
        "64M".as_ref(),
        "--table".as_ref(),
        "none".as_ref(),
        "--root".as_ref(),
        src.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    let len = fs::metadata(&img).unwrap().len();
    let Some(mount) = LoopMount::new(&img, 0, len, false) else {
        return;
    };
    let m = mount.path().to_path_buf();
    fs::create_dir(m.join("written")).unwrap();
    for i in 0..50 {
        fs::write(
            m.join(format!("written/file-{i}")),
            format!("{i}\n").repeat(i * 50),
        )
        .unwrap();
    }
    fs::write(m.join("etc/hostname"), "changed\n").unwrap();
    fs::remove_file(m.join("written/file-7")).unwrap();
    let mut escaped = MAGIC.to_vec();
    escaped.resize(8192, 0x33);
    fs::write(m.join("written/magic"), escaped).unwrap();
    run_ok(tool("sync").arg("-f").arg(m.join("written")));
    shut_down(&m);
    drop(mount);
    let dirty = dumpe2fs_h(&img, 0);
    assert!(
        dirty.has_feature("needs_recovery"),
        "the kernel left the journal clean"
    );
    let logdump = run_ok(tool("debugfs").args(["-R", "logdump"]).arg(&img));
    assert!(logdump.contains("commit block"), "{logdump}");

    let (ours, note) = extracted(&img, tmp.path());
    assert!(note.contains("replayed"), "{note}");
    let cmp = Compare::default();
    if let Some(kernel) = kernel_copy(&img, "kernel.img") {
        host::walk(kernel.path()).assert_same(&ours, &cmp, "the kernel's recovery vs blockimg");
        kernel.unmount();
    }
    let (theirs, _) = extracted(&fscked(&img), tmp.path());
    theirs.assert_same(&ours, &cmp, "e2fsck -fy vs blockimg");

    // A read-only mount shows the filesystem as replayed and leaves the
    // image as it was.
    if require_fuse() {
        let before = sha256_file(&img);
        let mnt = tmp.path().join("mnt");
        fs::create_dir(&mnt).unwrap();
        let mount = FuseMount::new(img.as_os_str(), &mnt, &["--ro"]);
        host::walk(mount.path()).assert_same(&ours, &cmp, "a read-only mount vs blockimg get");
        mount.umount().assert_success();
        assert_eq!(
            sha256_file(&img),
            before,
            "a read-only mount changed the image"
        );
    }

    // add replays into the image first.
    let added = tmp.path().join("added.txt");
    fs::write(&added, "added\n").unwrap();
    let out = RunOutput::run(
        blockimg_cmd()
            .arg("add")
            .arg(&img)
            .arg(&added)
            .arg("/added.txt"),
    );
    out.assert_success()
        .assert_stderr_contains("journal replayed into the image");
    e2fsck_clean(&img, 0);
    assert!(!dumpe2fs_h(&img, 0).has_feature("needs_recovery"));
    let cat = RunOutput::run(blockimg_cmd().arg("cat").arg(&img).arg("/etc/hostname"));
    cat.assert_success();
    assert_eq!(cat.stdout, "changed\n");
    let (after, note) = extracted(&img, tmp.path());
    assert!(note.is_empty(), "{note}");
    assert_eq!(after.entries.len(), ours.entries.len() + 1);
}
