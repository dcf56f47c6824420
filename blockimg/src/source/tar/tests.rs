//! Tests of reading archives into trees.

use super::*;

/// A member of a test archive: a file with data, a directory, or a hard
/// link to an earlier path.
enum M<'a> {
    File(&'a str, &'a [u8], u32),
    Dir(&'a str, u32),
    Link(&'a str, &'a str),
}

fn archive(members: &[M]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for m in members {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        match *m {
            M::File(path, data, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(data.len() as u64);
                h.set_mode(mode);
                b.append_data(&mut h, path, data).unwrap();
            }
            M::Dir(path, mode) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_size(0);
                h.set_mode(mode);
                b.append_data(&mut h, path, &b""[..]).unwrap();
            }
            M::Link(path, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_size(0);
                h.set_mode(0o644);
                b.append_link(&mut h, path, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

fn read(bytes: &[u8], outside: OutsideRoot) -> Result<Tree> {
    read_archive(
        bytes,
        "t.tar",
        &mut InMemory::new(1 << 20),
        outside,
        Timestamp::from_secs(0),
    )
}

/// `bytes` with the member at header `index` given blank numeric
/// uid and gid fields and the names `user` and `group`.
fn names_only(mut bytes: Vec<u8>, index: usize, user: &str, group: &str) -> Vec<u8> {
    let header = &mut bytes[index * 512..(index + 1) * 512];
    header[108..124].fill(0);
    header[265..329].fill(0);
    header[265..265 + user.len()].copy_from_slice(user.as_bytes());
    header[297..297 + group.len()].copy_from_slice(group.as_bytes());
    let mut fixed = tar::Header::from_byte_slice(header).clone();
    fixed.set_cksum();
    header.copy_from_slice(fixed.as_bytes());
    bytes
}

#[test]
fn owners_given_only_by_name_come_from_the_archives_own_accounts() {
    let passwd = b"root:x:0:0::/root:/bin/sh\nlfs:x:1001:1001::/home/lfs:/bin/bash\n";
    let group = b"root:x:0:\nstaff:x:50:\n";
    // The named member comes first: names resolve once all is read.
    let bytes = archive(&[
        M::File("home/lfs/notes", b"n", 0o644),
        M::File("etc/passwd", passwd, 0o644),
        M::File("etc/group", group, 0o644),
        M::File("etc/motd", b"m", 0o644),
    ]);
    // Headers: notes at 0, passwd at 2 (after 1 data block), group at
    // 4, motd at 6.
    let bytes = names_only(bytes, 0, "lfs", "staff");
    let bytes = names_only(bytes, 6, "root", "root");
    let tree = read(&bytes, OutsideRoot::Refuse).unwrap();
    let notes = &tree.node(tree.lookup(b"home/lfs/notes").unwrap()).meta;
    assert_eq!((notes.uid, notes.gid), (1001, 50));
    let motd = &tree.node(tree.lookup(b"etc/motd").unwrap()).meta;
    assert_eq!((motd.uid, motd.gid), (0, 0));

    let unknown = names_only(archive(&[M::File("f", b"x", 0o644)]), 0, "nobody", "root");
    let err = read(&unknown, OutsideRoot::Refuse).unwrap_err().to_string();
    assert!(
        err.contains("\"f\"") && err.contains("\"nobody\"") && err.contains("/etc/passwd"),
        "{err}"
    );
}

#[test]
fn later_members_replace_and_missing_parents_appear() {
    let bytes = archive(&[
        M::File("./a/b/f", b"one", 0o644),
        M::File("a/b/f", b"two", 0o600),
        M::Dir("a/", 0o700),
    ]);
    let tree = read(&bytes, OutsideRoot::Refuse).unwrap();
    let f = tree.lookup(b"a/b/f").unwrap();
    assert_eq!(tree.node(f).meta.permissions, 0o600);
    let a = tree.lookup(b"a").unwrap();
    assert_eq!(tree.node(a).meta.permissions, 0o700);
    assert!(
        tree.lookup(b"a/b").is_some(),
        "contents kept when the directory comes later"
    );
}

#[test]
fn dotdot_members_are_refused_or_skipped() {
    let mut raw = archive(&[M::File("ok", b"x", 0o644)]);
    // Write a `..` path directly into the header (the builder refuses it).
    let name = b"../evil";
    raw[..100].fill(0);
    raw[..name.len()].copy_from_slice(name);
    let mut fixed = tar::Header::from_byte_slice(&raw[..512]).clone();
    fixed.set_cksum();
    raw[..512].copy_from_slice(fixed.as_bytes());
    let err = read(&raw, OutsideRoot::Refuse).unwrap_err();
    assert!(err.to_string().contains("../evil"), "{err}");
    assert!(read(&raw, OutsideRoot::Skip).unwrap().is_empty());
}

#[test]
fn hard_links_share_a_node_and_missing_targets_are_errors() {
    let bytes = archive(&[M::File("f", b"hi", 0o644), M::Link("d/g", "f")]);
    let tree = read(&bytes, OutsideRoot::Refuse).unwrap();
    assert_eq!(tree.lookup(b"f"), tree.lookup(b"d/g"));
    let err = read(&archive(&[M::Link("g", "missing")]), OutsideRoot::Refuse).unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
}

#[test]
fn a_file_as_parent_is_an_error() {
    let bytes = archive(&[M::File("f", b"x", 0o644), M::File("f/g", b"y", 0o644)]);
    let err = read(&bytes, OutsideRoot::Refuse).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn in_memory_data_has_a_limit() {
    let bytes = archive(&[M::File("big", &[7u8; 5000], 0o644)]);
    let mut small = InMemory::new(4096);
    let err = read_archive(
        &bytes[..],
        "t.tar",
        &mut small,
        OutsideRoot::Refuse,
        Timestamp::from_secs(0),
    )
    .unwrap_err();
    assert!(err.to_string().contains("4096"), "{err}");
}

#[test]
fn compression_is_recognised_from_bytes() {
    assert_eq!(Compression::detect(&[0x1f, 0x8b, 8]), Compression::Gzip);
    assert_eq!(Compression::detect(b"\xfd7zXZ\0"), Compression::Xz);
    assert_eq!(
        Compression::detect(&[0x28, 0xb5, 0x2f, 0xfd]),
        Compression::Zstd
    );
    assert_eq!(Compression::detect(b"ustar"), Compression::None);
}
