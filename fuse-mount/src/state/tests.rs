//! Tests of the mount's state.

use super::*;
use crate::place::Placer;
use blockimg::tree::{Metadata, Tree};
use fuser::RenameFlags;

fn fs() -> Fs {
    fs_placing(None)
}

/// A state whose image (returned too) has the blocks `free` free for
/// placement, when given.
fn fs_placing(free: Option<&[(u64, u64)]>) -> Fs {
    let dir = tempfile::tempdir().unwrap();
    let image = tempfile::tempfile().unwrap();
    let placer = free.map(|free| Placer::new(image.try_clone().unwrap(), 0, 4096, free));
    let spill = Spill::create(dir.path()).unwrap();
    let files: Arc<[File]> = vec![image, spill.try_clone().unwrap()].into();
    let tree = Tree::new(Metadata::directory(Timestamp::from_secs(1)));
    let space = Space {
        block_size: 4096,
        blocks_count: 1000,
        reserved_blocks: 50,
        free_blocks: 899,
        inodes_count: 64,
        free_inodes: 49,
    };
    Fs::new(&tree, files, spill, placer, space, Config::default()).unwrap()
}

/// A caller whose process is gone: no supplementary groups.
const ME: Caller = Caller {
    uid: 7,
    gid: 8,
    pid: 0,
};
const FILE: NewKind = NewKind::Special {
    mode: libc::S_IFREG,
    rdev: 0,
};

#[test]
fn rename_rules() {
    let mut fs = fs();
    let a = fs
        .create(ME, ROOT, b"a", NewKind::Dir, 0o755)
        .unwrap()
        .ino
        .0;
    fs.create(ME, a, b"sub", NewKind::Dir, 0o755).unwrap();
    fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap();
    let flags = RenameFlags::empty();
    assert_eq!(fs.rename(ROOT, b"a", a, b"x", flags), Err(Errno::EINVAL));
    assert_eq!(fs.rename(ROOT, b"f", ROOT, b"a", flags), Err(Errno::EISDIR));
    assert_eq!(
        fs.rename(ROOT, b"a", ROOT, b"f", flags),
        Err(Errno::ENOTDIR)
    );
    fs.create(ME, ROOT, b"e", NewKind::Dir, 0o755).unwrap();
    assert_eq!(
        fs.rename(ROOT, b"e", ROOT, b"a", flags),
        Err(errno(libc::ENOTEMPTY))
    );
    assert_eq!(
        fs.rename(ROOT, b"f", ROOT, b"e", RenameFlags::RENAME_NOREPLACE),
        Err(Errno::EEXIST)
    );
    fs.rename(ROOT, b"f", ROOT, b"e", RenameFlags::RENAME_EXCHANGE)
        .unwrap();
    assert_eq!(fs.attr(ROOT).unwrap().nlink, 4); // ., .., a, e (now at f)
    fs.rename(ROOT, b"a", ROOT, b"f", flags).unwrap();
    assert_eq!(fs.attr(ROOT).unwrap().nlink, 3);
    assert_eq!(fs.statfs().free_files, 50 - 4); // root, a, a/sub, e
    assert!(fs.mtime(ROOT) > crate::inode::system_time(Timestamp::from_secs(1)));
}

#[test]
fn writes_overlay_and_space_runs_out() {
    let mut fs = fs();
    let f = fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap().ino.0;
    fs.write(f, 10, b"hello").unwrap();
    fs.write(f, 12, b"LL").unwrap();
    assert_eq!(fs.read(f, 0, 100).unwrap()[8..], *b"\0\0heLLo");
    fs.setattr(
        ME,
        f,
        SetAttr {
            size: Some(1 << 40),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(fs.attr(f).unwrap().blocks, 8);
    let big = vec![1u8; 4 << 20];
    assert_eq!(fs.write(f, 0, &big), Err(errno(libc::ENOSPC)));
    fs.fallocate(f, 0, 1 << 20, libc::FALLOC_FL_KEEP_SIZE)
        .unwrap();
    assert_eq!(fs.attr(f).unwrap().blocks, 256 * 8);
    fs.fallocate(
        f,
        0,
        1 << 20,
        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
    )
    .unwrap();
    assert_eq!(fs.attr(f).unwrap().blocks, 0);
    assert_eq!(fs.seek(f, 0, true), Err(errno(libc::ENXIO)));
}

#[test]
fn xattr_flags_and_names() {
    let mut fs = fs();
    let f = fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap().ino.0;
    assert_eq!(
        fs.setxattr(f, b"user.a", b"1", libc::XATTR_REPLACE),
        Err(errno(libc::ENODATA))
    );
    fs.setxattr(f, b"user.a", b"1", libc::XATTR_CREATE).unwrap();
    assert_eq!(
        fs.setxattr(f, b"user.a", b"2", libc::XATTR_CREATE),
        Err(Errno::EEXIST)
    );
    assert_eq!(
        fs.setxattr(f, b"os2.x", b"2", 0),
        Err(errno(libc::EOPNOTSUPP))
    );
    assert_eq!(
        fs.setxattr(f, b"user.big", &vec![0; 8192], 0),
        Err(errno(libc::ENOSPC))
    );
    assert_eq!(fs.listxattr(f).unwrap(), b"user.a\0");
    fs.removexattr(f, b"user.a").unwrap();
    assert_eq!(fs.getxattr(f, b"user.a"), Err(errno(libc::ENODATA)));
    let long = vec![b'x'; 256];
    assert_eq!(fs.lookup(ROOT, &long), Err(Errno::ENAMETOOLONG));
}

impl Fs {
    /// A directory's times for the kernel, after a change.
    fn mtime(&self, ino: u64) -> std::time::SystemTime {
        crate::inode::system_time(self.get(ino).map(|i| i.meta.mtime).unwrap_or_default())
    }
}

/// Another caller, not of `ME`'s group.
const OTHER: Caller = Caller {
    uid: 9,
    gid: 10,
    pid: 0,
};
const ROOT_CALLER: Caller = Caller {
    uid: 0,
    gid: 0,
    pid: 0,
};

/// Directory `name` of the root, made by `ME`.
fn mkdir(fs: &mut Fs, name: &[u8]) -> u64 {
    fs.create(ME, ROOT, name, NewKind::Dir, 0o755)
        .unwrap()
        .ino
        .0
}

fn mode(fs: &Fs, ino: u64) -> u16 {
    fs.attr(ino).unwrap().perm
}

fn set_mode(fs: &mut Fs, ino: u64, mode: u32) {
    let set = SetAttr {
        mode: Some(mode),
        ..Default::default()
    };
    fs.setattr(ROOT_CALLER, ino, set).unwrap();
}

#[test]
fn writes_and_truncations_by_others_clear_the_set_id_bits() {
    let mut fs = fs();
    let f = fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap().ino.0;
    set_mode(&mut fs, f, 0o6777);
    fs.kill_privileges(OTHER, f).unwrap();
    assert_eq!(mode(&fs, f), 0o777);
    // Without group execute, S_ISGID is locking, not set-group-id: kept
    // for a member of the file's group, cleared for anybody else.
    set_mode(&mut fs, f, 0o6766);
    fs.kill_privileges(ME, f).unwrap();
    assert_eq!(mode(&fs, f), 0o2766);
    fs.kill_privileges(OTHER, f).unwrap();
    assert_eq!(mode(&fs, f), 0o766);
    // A truncation by root keeps them, by anybody else clears them.
    set_mode(&mut fs, f, 0o6755);
    let truncate = SetAttr {
        size: Some(1),
        ..Default::default()
    };
    fs.setattr(ROOT_CALLER, f, truncate).unwrap();
    assert_eq!(mode(&fs, f), 0o6755);
    fs.setattr(OTHER, f, truncate).unwrap();
    assert_eq!(mode(&fs, f), 0o755);
    // Directories keep theirs.
    let d = mkdir(&mut fs, b"d");
    set_mode(&mut fs, d, 0o2775);
    fs.kill_privileges(OTHER, d).unwrap();
    assert_eq!(mode(&fs, d), 0o2775);
}

#[test]
fn chown_clears_the_set_id_bits_of_files_only() {
    let mut fs = fs();
    let f = fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap().ino.0;
    let chown = SetAttr {
        uid: Some(5),
        gid: Some(5),
        ..Default::default()
    };
    set_mode(&mut fs, f, 0o6755);
    fs.setattr(ROOT_CALLER, f, chown).unwrap();
    assert_eq!(mode(&fs, f), 0o755);
    set_mode(&mut fs, f, 0o6745); // without group execute too
    fs.setattr(ME, f, chown).unwrap();
    assert_eq!(mode(&fs, f), 0o745);
    let d = mkdir(&mut fs, b"d");
    set_mode(&mut fs, d, 0o2755);
    fs.setattr(ROOT_CALLER, d, chown).unwrap();
    assert_eq!(mode(&fs, d), 0o2755);
    let attr = fs.attr(d).unwrap();
    assert_eq!((attr.uid, attr.gid), (5, 5));
}

#[test]
fn fakeroot_callers_keep_the_set_id_bits() {
    let mut fs = fs();
    fs.config.fakeroot = true;
    let f = fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap().ino.0;
    set_mode(&mut fs, f, 0o6755);
    fs.kill_privileges(OTHER, f).unwrap();
    assert_eq!(mode(&fs, f), 0o6755);
}

#[test]
fn setgid_directories_pass_their_group_and_the_bit_on() {
    let mut fs = fs();
    let d = mkdir(&mut fs, b"d");
    let set = SetAttr {
        mode: Some(0o2777),
        gid: Some(2000),
        ..Default::default()
    };
    fs.setattr(ROOT_CALLER, d, set).unwrap();
    let file = fs.create(OTHER, d, b"f", FILE, 0o644).unwrap();
    assert_eq!((file.uid, file.gid, file.perm), (9, 2000, 0o644));
    let sub = fs.create(OTHER, d, b"s", NewKind::Dir, 0o700).unwrap();
    assert_eq!((sub.uid, sub.gid, sub.perm), (9, 2000, 0o2700));
    let below = fs.create(ME, sub.ino.0, b"t", NewKind::Dir, 0o755).unwrap();
    assert_eq!((below.gid, below.perm), (2000, 0o2755));
    // Outside, a caller's own group.
    let plain = fs.create(OTHER, ROOT, b"p", FILE, 0o644).unwrap();
    assert_eq!(plain.gid, 10);
}

#[test]
fn every_change_of_metadata_moves_ctime() {
    let mut fs = fs();
    let f = fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap().ino.0;
    let d = mkdir(&mut fs, b"d");
    let ctime = |fs: &Fs| fs.attr(f).unwrap().ctime;
    let mut last = ctime(&fs);
    let mut moved = |fs: &mut Fs, what: &str, change: &dyn Fn(&mut Fs)| {
        std::thread::sleep(std::time::Duration::from_millis(2));
        change(fs);
        let now = ctime(fs);
        assert!(now > last, "{what} kept ctime");
        last = now;
    };
    moved(&mut fs, "chmod", &|fs| set_mode(fs, f, 0o600));
    moved(&mut fs, "same mode", &|fs| set_mode(fs, f, 0o600));
    let chown = SetAttr {
        uid: Some(1),
        ..Default::default()
    };
    moved(&mut fs, "chown", &|fs| {
        fs.setattr(ROOT_CALLER, f, chown).unwrap();
    });
    let times = SetAttr {
        mtime: Some(Timestamp::from_secs(5)),
        ..Default::default()
    };
    moved(&mut fs, "utimes", &|fs| {
        fs.setattr(ROOT_CALLER, f, times).unwrap();
    });
    moved(&mut fs, "write", &|fs| {
        fs.write(f, 0, b"x").unwrap();
    });
    let truncate = SetAttr {
        size: Some(0),
        ..Default::default()
    };
    moved(&mut fs, "truncate", &|fs| {
        fs.setattr(ME, f, truncate).unwrap();
    });
    moved(&mut fs, "link", &|fs| {
        fs.link(f, d, b"l").unwrap();
    });
    moved(&mut fs, "unlink", &|fs| fs.unlink(d, b"l").unwrap());
    let flags = RenameFlags::empty();
    moved(&mut fs, "rename", &|fs| {
        fs.rename(ROOT, b"f", d, b"g", flags).unwrap()
    });
    moved(&mut fs, "setxattr", &|fs| {
        fs.setxattr(f, b"user.k", b"v", 0).unwrap()
    });
    moved(&mut fs, "removexattr", &|fs| {
        fs.removexattr(f, b"user.k").unwrap()
    });
}

#[test]
fn supplementary_groups_come_from_the_callers_process() {
    let mut groups = vec![0 as libc::gid_t; 256];
    // SAFETY: getgroups fills at most the buffer's length.
    let n = unsafe { libc::getgroups(groups.len() as i32, groups.as_mut_ptr()) };
    groups.truncate(usize::try_from(n).unwrap());
    assert_eq!(super::supplementary_groups(std::process::id()), groups);
    let me = Caller {
        uid: 1,
        gid: 4_000_000,
        pid: std::process::id(),
    };
    assert!(me.in_group(4_000_000));
    assert!(groups.iter().all(|&g| me.in_group(g)));
    assert!(!me.in_group(4_000_001) || groups.contains(&4_000_001));
    assert!(!OTHER.in_group(2000));
}

/// Bytes `at..at + len` of the image behind `fs`.
fn image_bytes(fs: &Fs, at: u64, len: usize) -> Vec<u8> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len];
    fs.files[crate::data::IMAGE_FILE]
        .read_exact_at(&mut buf, at)
        .unwrap();
    buf
}

const BS: u64 = 4096;

#[test]
fn written_data_is_placed_in_free_blocks_of_the_image_and_changed_there() {
    let mut fs = fs_placing(Some(&[(100, 200)]));
    let f = fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap().ino.0;
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 253) as u8 + 1).collect();
    fs.write(f, 0, &data).unwrap();
    // Three blocks, the rest of the third zero-filled.
    assert_eq!(fs.placed_runs(), vec![(100, 3)]);
    assert_eq!(image_bytes(&fs, 100 * BS, 10_000), data);
    assert_eq!(image_bytes(&fs, 100 * BS + 10_000, 2288), vec![0; 2288]);
    assert_eq!(fs.read(f, 0, 20_000).unwrap(), data);
    // Overwritten in place.
    fs.write(f, 5000, b"xyz").unwrap();
    assert_eq!(fs.placed_runs(), vec![(100, 3)]);
    assert_eq!(image_bytes(&fs, 100 * BS + 5000, 3), b"xyz");
    // A punched hole and a truncation zero what the file no longer maps in
    // the blocks it keeps, and give up the blocks it left.
    fs.fallocate(
        f,
        10,
        20,
        libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
    )
    .unwrap();
    assert_eq!(image_bytes(&fs, 100 * BS + 10, 20), vec![0; 20]);
    let truncate = SetAttr {
        size: Some(4100),
        ..SetAttr::default()
    };
    fs.setattr(ROOT_CALLER, f, truncate).unwrap();
    assert_eq!(fs.placed_runs(), vec![(100, 2)]);
    assert_eq!(image_bytes(&fs, 101 * BS + 4, 8), vec![0; 8]);
    // Growing again reads zeros; a write continues in the block it has.
    fs.write(f, 6000, b"tail").unwrap();
    assert_eq!(fs.placed_runs(), vec![(100, 2)]);
    let read = fs.read(f, 0, 10_000).unwrap();
    assert_eq!(read.len(), 6004);
    assert_eq!(&read[..10], &data[..10]);
    assert!(read[10..30].iter().all(|&b| b == 0));
    assert!(read[4100..6000].iter().all(|&b| b == 0));
    assert_eq!(&read[6000..], b"tail");
    // A second file goes after the first; the first continues after its
    // last block when that is free, else wherever there is room.
    let g = fs.create(ME, ROOT, b"g", FILE, 0o644).unwrap().ino.0;
    fs.write(g, 0, &[5; 4096]).unwrap();
    fs.write(f, 8192, &[6; 100]).unwrap();
    assert_eq!(fs.placed_runs(), vec![(100, 2), (103, 2)]);
    // fallocate over a placed block's hole points into the block.
    fs.fallocate(f, 10, 20, 0).unwrap();
    assert_eq!(fs.read(f, 10, 20).unwrap(), vec![0; 20]);
    // An unlinked file gives its blocks up: never handed out again.
    fs.unlink(ROOT, b"g").unwrap();
    fs.forget(g, 1);
    assert_eq!(fs.placed_runs(), vec![(100, 2), (104, 1)]);
    let h = fs.create(ME, ROOT, b"h", FILE, 0o644).unwrap().ino.0;
    fs.write(h, 0, b"h").unwrap();
    assert_eq!(fs.placed_runs(), vec![(100, 2), (104, 2)]);
}

#[test]
fn when_free_blocks_run_out_data_goes_to_the_spill_file() {
    // 80 free blocks, of which about 68 are kept for the commit.
    let mut fs = fs_placing(Some(&[(100, 80)]));
    let f = fs.create(ME, ROOT, b"f", FILE, 0o644).unwrap().ino.0;
    let data = vec![3u8; 100_000];
    fs.write(f, 0, &data).unwrap();
    assert_eq!(fs.placed_runs(), vec![]);
    assert_eq!(fs.read(f, 0, 200_000).unwrap(), data);
    let g = fs.create(ME, ROOT, b"g", FILE, 0o644).unwrap().ino.0;
    fs.write(g, 0, b"small").unwrap();
    assert_eq!(fs.placed_runs(), vec![(100, 1)]);
    // A partial write into spilled data moves its block into a placed one,
    // the rest of the block copied.
    fs.write(f, 10, b"x").unwrap();
    assert_eq!(fs.placed_runs(), vec![(100, 2)]);
    let mut want = data.clone();
    want[10] = b'x';
    assert_eq!(fs.read(f, 0, 200_000).unwrap(), want);
    assert_eq!(image_bytes(&fs, 101 * BS, 4096), want[..4096]);
}
