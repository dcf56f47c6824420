//! Tests of the mount's state.

use super::*;
use blockimg::tree::{Metadata, Tree};
use fuser::RenameFlags;

fn fs() -> Fs {
    let dir = tempfile::tempdir().unwrap();
    let image = tempfile::tempfile().unwrap();
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
    Fs::new(&tree, files, spill, space, Config::default()).unwrap()
}

const ME: Caller = Caller { uid: 7, gid: 8 };
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
