//! GRUB's own ext2/ext4 driver reads what blockimg writes: `grub-fstest`
//! runs GRUB's filesystem code in user space against the image, through the
//! MBR partition, as the boot loader would.

use std::fs;
use std::process::Command;

use blockimg_tests::fixture::pseudo_random_bytes;
use blockimg_tests::{e2fsck_clean, mkdisk, require_e2fsprogs, require_tool, PART_OFFSET};

fn grub_fstest(img: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("grub-fstest")
        .arg(img)
        .args(args)
        .output()
        .expect("run grub-fstest")
}

#[test]
fn grub_lists_and_reads_files_in_plain_and_indexed_directories() {
    if !require_e2fsprogs() || !require_tool("grub-fstest") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("root");
    fs::create_dir_all(root.join("boot/grub")).unwrap();
    fs::create_dir_all(root.join("big")).unwrap();
    let kernel = pseudo_random_bytes(7, 5 << 20);
    fs::write(root.join("boot/vmlinuz"), &kernel).unwrap();
    fs::write(root.join("boot/grub/grub.cfg"), "set timeout=1\n").unwrap();
    for i in 0..3000 {
        fs::write(root.join(format!("big/entry-{i:05}")), format!("{i}\n")).unwrap();
    }
    let img = tmp.path().join("disk.img");
    mkdisk([
        "--size".as_ref(),
        "256M".as_ref(),
        "--root".as_ref(),
        root.as_os_str(),
        img.as_os_str(),
    ])
    .assert_success();
    e2fsck_clean(&img, PART_OFFSET);
    let img_str = img.to_str().unwrap();

    let ls = grub_fstest(&img, &["ls", "(loop0,msdos1)/boot/"]);
    let listing = String::from_utf8_lossy(&ls.stdout);
    assert!(ls.status.success(), "grub-fstest ls failed: {ls:?}");
    assert!(
        listing.contains("vmlinuz") && listing.contains("grub/"),
        "{listing}"
    );

    // GRUB's reader must return the kernel byte for byte.
    let copy = tmp.path().join("vmlinuz.copy");
    fs::write(&copy, &kernel).unwrap();
    let cmp = grub_fstest(
        &img,
        &["cmp", "(loop0,msdos1)/boot/vmlinuz", copy.to_str().unwrap()],
    );
    assert!(
        cmp.status.success(),
        "GRUB read a different kernel: {cmp:?}"
    );
    // The comparison is not vacuous: a different file is reported.
    fs::write(&copy, b"not the kernel").unwrap();
    let differs = grub_fstest(
        &img,
        &["cmp", "(loop0,msdos1)/boot/vmlinuz", copy.to_str().unwrap()],
    );
    assert!(
        !differs.status.success(),
        "grub-fstest cmp accepted a different file"
    );

    // A file inside an htree-indexed directory: GRUB scans the leaves.
    let cat = grub_fstest(&img, &["cat", "(loop0,msdos1)/big/entry-02999"]);
    assert!(cat.status.success(), "{cat:?} on {img_str}");
    assert_eq!(String::from_utf8_lossy(&cat.stdout), "2999\n");
}
