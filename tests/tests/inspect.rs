//! `blockimg inspect` against the tools that describe images: `sfdisk -d`
//! for the partition table, `dumpe2fs -h` for ext4, `minfo` (mtools) for
//! FAT, the values given to `mkswap` for swap, and the sectors GRUB's
//! installer uses for core.img; on images made by blockimg (MBR, GPT,
//! hybrid boot) and by sfdisk, mke2fs, mkfs.fat and mkswap.

use std::path::Path;

use blockimg_tests::tools::{sfdisk_create, tool, SfdiskDump};
use blockimg_tests::{
    blockimg_cmd, dumpe2fs_h, mkdisk, require_e2fsprogs, require_tool, sfdisk_dump, RunOutput,
};
use serde_json::Value;

/// Runs `blockimg inspect --json IMG` and parses its document.
fn inspect_json(img: &Path) -> Value {
    let out = RunOutput::run(blockimg_cmd().arg("inspect").arg("--json").arg(img));
    out.assert_success();
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{}", out.stdout))
}

/// The partitions of a report by number.
fn partition(report: &Value, number: u64) -> &Value {
    report["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["number"] == number)
        .unwrap_or_else(|| panic!("no partition {number} in {report:#}"))
}

/// Each partition of the report has sfdisk's start, size, type, name and
/// bootable flag, and the table its label id.
fn check_table(report: &Value, dump: &SfdiskDump) {
    match dump.label.as_str() {
        "dos" => {
            assert_eq!(report["table"]["kind"], "mbr");
            assert_eq!(report["table"]["disk_signature"], dump.label_id.as_str());
        }
        "gpt" => {
            assert_eq!(report["table"]["kind"], "gpt");
            assert_eq!(report["table"]["disk_guid"], dump.label_id.as_str());
        }
        other => panic!("sfdisk label {other}"),
    }
    let parts = report["partitions"].as_array().unwrap();
    assert_eq!(parts.len(), dump.partitions.len(), "{report:#}");
    for (part, expected) in parts.iter().zip(&dump.partitions) {
        assert_eq!(part["start"], expected.start * 512, "{part:#}");
        assert_eq!(part["size"], expected.size * 512, "{part:#}");
        let code = part["type_code"].as_str().unwrap();
        if dump.label == "dos" {
            assert_eq!(code, format!("0x{:0>2}", expected.kind), "{part:#}");
            assert_eq!(part["bootable"], expected.bootable, "{part:#}");
        } else {
            assert_eq!(code, expected.kind, "{part:#}");
            assert_eq!(part["name"], expected.name.as_str(), "{part:#}");
        }
    }
}

/// The ext4 part of a report says what `dumpe2fs -h` says.
fn check_ext4(fs: &Value, img: &Path, offset: u64) {
    let dump = dumpe2fs_h(img, offset);
    assert_eq!(fs["type"], "ext4", "{fs:#}");
    assert_eq!(fs["uuid"], dump.get("Filesystem UUID"));
    let label = dump.get("Filesystem volume name");
    assert_eq!(fs["label"], if label == "<none>" { "" } else { label });
    for (field, key) in [
        ("block_size", "Block size"),
        ("blocks", "Block count"),
        ("free_blocks", "Free blocks"),
        ("reserved_blocks", "Reserved block count"),
        ("inodes", "Inode count"),
        ("free_inodes", "Free inodes"),
        ("inode_size", "Inode size"),
    ] {
        assert_eq!(fs[field], dump.number(key), "{field} vs dumpe2fs {key:?}");
    }
    let mut features: Vec<String> = fs["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    let mut expected = dump.features();
    features.sort();
    expected.sort();
    assert_eq!(features, expected);
}

/// `minfo`'s `key: value` (or `key=value`) line.
fn minfo_field(text: &str, key: &str) -> String {
    text.lines()
        .find_map(|l| l.trim().strip_prefix(key))
        .map(|v| {
            v.trim_start_matches([':', '='])
                .trim()
                .trim_matches('"')
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| panic!("minfo printed no {key}:\n{text}"))
}

/// The FAT part of a report says what `minfo` says.
fn check_fat(fs: &Value, img: &Path, offset: u64) {
    let mut spec = img.as_os_str().to_owned();
    spec.push(format!("@@{offset}"));
    let out = tool("minfo")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-i")
        .arg(spec)
        .arg("::")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "minfo: {text}");
    assert_eq!(fs["type"], "fat", "{fs:#}");
    let serial = minfo_field(&text, "serial number");
    assert_eq!(
        fs["volume_id"],
        format!("{}-{}", &serial[..4], &serial[4..])
    );
    assert_eq!(fs["label"], minfo_field(&text, "disk label"));
    assert_eq!(fs["fat_type"], minfo_field(&text, "disk type"));
    let sector: u64 = minfo_field(&text, "sector size")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let cluster_sectors: u64 = minfo_field(&text, "cluster size")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(fs["cluster_size"], sector * cluster_sectors);
    let small: u64 = minfo_field(&text, "small size")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let sectors = if small != 0 {
        small
    } else {
        minfo_field(&text, "big size")
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(fs["size"], sectors * sector);
}

#[test]
fn our_mbr_image_reads_as_sfdisk_and_dumpe2fs_see_it() {
    if !require_e2fsprogs() || !require_tool("sfdisk") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("disk.img");
    mkdisk(
        ["--size", "64M", "--label", "rootfs"]
            .iter()
            .map(|s| s.to_string())
            .chain([img.display().to_string()]),
    )
    .assert_success();
    let report = inspect_json(&img);
    check_table(&report, &sfdisk_dump(&img).unwrap());
    let part = partition(&report, 1);
    assert_eq!(part["type_name"], "Linux");
    check_ext4(&part["filesystem"], &img, part["start"].as_u64().unwrap());
    assert_eq!(part["filesystem"]["label"], "rootfs");
    assert_eq!(report["boot"]["grub_bios"], Value::Null);
    // The text form says the same.
    let text = RunOutput::run(blockimg_cmd().arg("inspect").arg(&img));
    text.assert_success();
    assert!(
        text.stdout.contains("MBR partition table"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("ext4: label \"rootfs\""),
        "{}",
        text.stdout
    );
}

/// The newest kernel in /boot, for images with GRUB.
fn host_kernel() -> Option<String> {
    let mut kernels: Vec<String> = std::fs::read_dir("/boot")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().display().to_string())
        .filter(|p| p.contains("/vmlinuz-"))
        .collect();
    kernels.sort();
    kernels.pop()
}

#[test]
fn gpt_hybrid_and_mbr_bios_images_show_their_boot_code() {
    if !require_e2fsprogs() || !require_tool("sfdisk") || !require_tool("minfo") {
        return;
    }
    let Some(kernel) = host_kernel() else {
        eprintln!("SKIPPED: no kernel in /boot for an image with GRUB");
        return;
    };
    if !Path::new("/usr/lib/grub/i386-pc").is_dir()
        || !Path::new("/usr/lib/grub/x86_64-efi").is_dir()
    {
        eprintln!("SKIPPED: GRUB for i386-pc and x86_64-efi is not installed");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("hybrid.img");
    let args = [
        "--size", "200M", "--table", "gpt", "--boot", "hybrid", "--kernel", &kernel,
    ];
    mkdisk(
        args.iter()
            .map(|s| s.to_string())
            .chain([img.display().to_string()]),
    )
    .assert_success();
    let report = inspect_json(&img);
    let dump = sfdisk_dump(&img).unwrap();
    check_table(&report, &dump);
    let bios_boot = dump
        .partitions
        .iter()
        .position(|p| p.kind == "21686148-6449-6E6F-744E-656564454649")
        .expect("a BIOS boot partition");
    let grub = &report["boot"]["grub_bios"];
    assert_eq!(
        grub["core_lba"], dump.partitions[bios_boot].start,
        "{report:#}"
    );
    assert_eq!(grub["location"], format!("partition {}", bios_boot + 1));
    assert!(grub["core_sectors"].as_u64().unwrap() > 1, "{grub:#}");
    let esp = dump
        .partitions
        .iter()
        .position(|p| p.kind == "C12A7328-F81F-11D2-BA4B-00A0C93EC93B")
        .expect("an ESP");
    let esp_part = partition(&report, esp as u64 + 1);
    assert_eq!(esp_part["type_name"], "EFI System");
    check_fat(
        &esp_part["filesystem"],
        &img,
        esp_part["start"].as_u64().unwrap(),
    );
    let loaders = report["boot"]["efi"].as_array().unwrap();
    assert_eq!(loaders.len(), 1, "{report:#}");
    assert_eq!(loaders[0]["path"], "/EFI/BOOT/BOOTX64.EFI");
    assert_eq!(loaders[0]["partition"], esp as u64 + 1);
    assert!(loaders[0]["size"].as_u64().unwrap() > 0);
    let root = report["partitions"].as_array().unwrap().last().unwrap();
    check_ext4(&root["filesystem"], &img, root["start"].as_u64().unwrap());

    // On an MBR disk, GRUB's installer puts core.img in the gap after the
    // MBR, at sector 1.
    let mbr = tmp.path().join("bios.img");
    let args = ["--size", "100M", "--boot", "bios", "--kernel", &kernel];
    mkdisk(
        args.iter()
            .map(|s| s.to_string())
            .chain([mbr.display().to_string()]),
    )
    .assert_success();
    let report = inspect_json(&mbr);
    check_table(&report, &sfdisk_dump(&mbr).unwrap());
    assert_eq!(report["boot"]["grub_bios"]["core_lba"], 1);
    assert_eq!(report["boot"]["grub_bios"]["location"], "MBR gap");
}

#[test]
fn an_image_made_by_sfdisk_mke2fs_mkfs_fat_and_mkswap() {
    if !require_e2fsprogs() {
        return;
    }
    if !["sfdisk", "mkfs.fat", "minfo", "mkswap"]
        .iter()
        .all(|t| require_tool(t))
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("made.img");
    let table = "label: dos\nlabel-id: 0x12345678\nstart=2048, size=32768, type=e, bootable\nstart=34816, size=163840, type=83\nstart=198656, type=82\n";
    sfdisk_create(&img, 128 << 20, table);
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // mkfs.fat counts 1 KiB blocks; a FAT16 of 16 MiB (FAT32 is on the
    // ESP of the hybrid image).
    run(tool("mkfs.fat")
        .args([
            "-F", "16", "-n", "BOOTFAT", "-i", "1234ABCD", "--offset", "2048",
        ])
        .arg(&img)
        .arg("16384"));
    let part2 = tmp.path().join("p2.img");
    run(tool("mke2fs")
        .args(["-q", "-F", "-t", "ext4", "-L", "made-root", "-b", "1024"])
        .arg(&part2)
        .arg("81920"));
    let part3 = tmp.path().join("p3.img");
    std::fs::File::create(&part3)
        .unwrap()
        .set_len(8 << 20)
        .unwrap();
    run(tool("mkswap")
        .args([
            "-L",
            "swaplabel",
            "-U",
            "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0",
        ])
        .arg(&part3));
    for (part, sector) in [(&part2, 34816u64), (&part3, 198656)] {
        run(tool("dd")
            .arg(format!("if={}", part.display()))
            .arg(format!("of={}", img.display()))
            .args(["bs=512", "conv=notrunc,sparse", "status=none"])
            .arg(format!("seek={sector}")));
    }
    let report = inspect_json(&img);
    check_table(&report, &sfdisk_dump(&img).unwrap());
    assert_eq!(report["table"]["disk_signature"], "0x12345678");
    let fat = partition(&report, 1);
    assert_eq!(fat["type_name"], "W95 FAT16 (LBA)");
    assert_eq!(fat["filesystem"]["fat_type"], "FAT16");
    check_fat(&fat["filesystem"], &img, 2048 * 512);
    assert_eq!(fat["filesystem"]["volume_id"], "1234-ABCD");
    assert_eq!(fat["filesystem"]["label"], "BOOTFAT");
    check_ext4(&partition(&report, 2)["filesystem"], &img, 34816 * 512);
    let swap = &partition(&report, 3)["filesystem"];
    assert_eq!(swap["type"], "swap", "{report:#}");
    assert_eq!(swap["label"], "swaplabel");
    assert_eq!(swap["uuid"], "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
    assert_eq!(swap["size"], (8 << 20) - 4096);
    assert_eq!(report["boot"]["efi"], Value::Array(vec![]));

    // A bare filesystem image has no table.
    let report = inspect_json(&part2);
    assert_eq!(report["table"]["kind"], "none");
    check_ext4(&partition(&report, 0)["filesystem"], &part2, 0);
}

/// Writes `/EFI/BOOT/BOOTX64.EFI` of `size` bytes into the fresh FAT32 at
/// `offset` of `img` by hand (mtools and fatfs refuse a FAT32 this small):
/// directories in clusters 3 and 4, the file from cluster 5, both FATs and
/// the FSInfo free count updated. Returns the clusters it took.
fn add_loader_by_hand(img: &Path, offset: u64, size: u32) -> u32 {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(img)
        .unwrap();
    let mut boot = [0u8; 512];
    file.read_exact_at(&mut boot, offset).unwrap();
    let le16 = |at: usize| u64::from(u16::from_le_bytes([boot[at], boot[at + 1]]));
    let le32 = |at: usize| u32::from_le_bytes([boot[at], boot[at + 1], boot[at + 2], boot[at + 3]]);
    let sector = le16(0x0B);
    let cluster_bytes = sector * u64::from(boot[0x0D]);
    let reserved = le16(0x0E);
    let fat_sectors = u64::from(le32(0x24));
    let fats = u64::from(boot[0x10]);
    let data = offset + (reserved + fats * fat_sectors) * sector;
    let at = |cluster: u32| data + u64::from(cluster - 2) * cluster_bytes;
    let entry = |name: &[u8; 11], attr: u8, cluster: u32, len: u32| {
        let mut e = [0u8; 32];
        e[..11].copy_from_slice(name);
        e[11] = attr;
        e[20..22].copy_from_slice(&((cluster >> 16) as u16).to_le_bytes());
        e[26..28].copy_from_slice(&(cluster as u16).to_le_bytes());
        e[28..32].copy_from_slice(&len.to_le_bytes());
        e
    };
    let write = |pos: u64, entries: &[[u8; 32]]| {
        file.write_all_at(&entries.concat(), pos).unwrap();
    };
    // The root (cluster 2) starts with mkfs.fat's volume label entry.
    write(at(le32(0x2C)) + 32, &[entry(b"EFI        ", 0x10, 3, 0)]);
    write(
        at(3),
        &[
            entry(b".          ", 0x10, 3, 0),
            entry(b"..         ", 0x10, 0, 0),
            entry(b"BOOT       ", 0x10, 4, 0),
        ],
    );
    write(
        at(4),
        &[
            entry(b".          ", 0x10, 4, 0),
            entry(b"..         ", 0x10, 3, 0),
            entry(b"BOOTX64 EFI", 0x20, 5, size),
        ],
    );
    let file_clusters = (u64::from(size).div_ceil(cluster_bytes)) as u32;
    file.write_all_at(&vec![0x5A; size as usize], at(5))
        .unwrap();
    let mut links: Vec<(u32, u32)> = vec![(3, 0x0FFF_FFFF), (4, 0x0FFF_FFFF)];
    for c in 5..5 + file_clusters {
        let next = if c + 1 == 5 + file_clusters {
            0x0FFF_FFFF
        } else {
            c + 1
        };
        links.push((c, next));
    }
    for copy in 0..fats {
        let fat = offset + (reserved + copy * fat_sectors) * sector;
        for (cluster, next) in &links {
            file.write_all_at(&next.to_le_bytes(), fat + u64::from(*cluster) * 4)
                .unwrap();
        }
    }
    let taken = 2 + file_clusters;
    let fsinfo = offset + le16(0x30) * sector;
    let mut free = [0u8; 4];
    file.read_exact_at(&mut free, fsinfo + 488).unwrap();
    let free = u32::from_le_bytes(free) - taken;
    file.write_all_at(&free.to_le_bytes(), fsinfo + 488)
        .unwrap();
    taken
}

/// A FAT32 with fewer clusters than FAT32's minimum, as `mkfs.fat -F 32`
/// makes on a 32 MiB ESP, is still read: its figures agree with minfo's
/// and fsck.fat's, and its boot loader is found.
#[test]
fn a_fat32_smaller_than_the_specification_allows() {
    if !["sfdisk", "mkfs.fat", "minfo", "fsck.fat"]
        .iter()
        .all(|t| require_tool(t))
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let img = tmp.path().join("small.img");
    let table = "label: gpt\nstart=2048, size=65536, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B\n";
    sfdisk_create(&img, 40 << 20, table);
    let out = tool("mkfs.fat")
        .args([
            "-F", "32", "-n", "SMALLESP", "-i", "C0FFEE01", "--offset", "2048",
        ])
        .arg(&img)
        .arg("32768")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offset = 2048 * 512;
    let taken = add_loader_by_hand(&img, offset, 70_000);
    let part = tmp.path().join("esp.fat");
    let (code, report) = blockimg_tests::tools::fsck_fat(&img, offset, 32 << 20, &part);
    assert_eq!(code, 0, "fsck.fat -n: {report}");

    let report = inspect_json(&img);
    let fat = &partition(&report, 1)["filesystem"];
    assert_eq!(fat["fat_type"], "FAT32", "{report:#}");
    assert!(fat["clusters"].as_u64().unwrap() < 65_525, "{fat:#}");
    check_fat(fat, &img, offset);
    assert_eq!(fat["volume_id"], "C0FF-EE01");
    // fsck.fat counts the clusters in use: "N files, USED/TOTAL clusters".
    let (_, text) = blockimg_tests::tools::fsck_fat(&img, offset, 32 << 20, &part);
    let counts = text
        .split_whitespace()
        .find(|w| w.contains('/') && w.chars().next().is_some_and(|c| c.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no cluster counts in {text}"));
    let (used, total) = counts.split_once('/').unwrap();
    assert_eq!(fat["clusters"], total.parse::<u64>().unwrap());
    assert_eq!(
        fat["free_clusters"],
        total.parse::<u64>().unwrap() - used.parse::<u64>().unwrap()
    );
    assert_eq!(
        used.parse::<u32>().unwrap(),
        taken + 1,
        "the root's cluster and ours"
    );
    let efi = &report["boot"]["efi"][0];
    assert_eq!(efi["path"], "/EFI/BOOT/BOOTX64.EFI", "{report:#}");
    assert_eq!(efi["size"], 70_000);
}

#[test]
fn what_is_not_a_disk_image_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let random = tmp.path().join("random.bin");
    std::fs::write(&random, vec![0x5Au8; 1 << 20]).unwrap();
    let cases: [(&Path, &str); 3] = [
        (&random, "not a disk image"),
        (tmp.path(), "directory"),
        (&tmp.path().join("missing.img"), "No such file"),
    ];
    for (path, message) in cases {
        RunOutput::run(blockimg_cmd().arg("inspect").arg(path))
            .assert_failure()
            .assert_stderr_contains(message);
    }
}
