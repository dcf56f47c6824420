//! Random partition layouts (count, roles, sizes, gaps, table) built from
//! recipes through the library: `sfdisk -d` shows exactly the planned
//! partitions (start, size, type) and `sfdisk --verify` finds nothing wrong.

use std::fmt::Write as _;

use blockimg_tests::tools::sfdisk_verify;
use blockimg_tests::{require_tool, sfdisk_dump};
use proptest::prelude::*;

/// One partition of a generated layout: its role word, size in KiB, and a
/// gap in MiB before it (an explicit start).
#[derive(Clone, Debug)]
struct Part {
    role: &'static str,
    kib: u64,
    gap_mib: Option<u64>,
}

fn part() -> impl Strategy<Value = Part> {
    (
        prop_oneof![Just("swap"), Just("data-ext4"), Just("data-raw")],
        64u64..6144,
        prop::option::weighted(0.3, 0u64..4),
    )
        .prop_map(|(role, kib, gap_mib)| Part {
            role,
            kib: if role == "data-ext4" {
                kib.max(2048)
            } else {
                kib
            },
            gap_mib,
        })
}

/// The sfdisk type of a partition of `role` on `table`.
fn sfdisk_type(table: &str, role: &str) -> &'static str {
    match (table, role) {
        ("gpt", "swap") => "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
        ("gpt", _) => "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
        (_, "swap") => "82",
        _ => "83",
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(12),
        ..ProptestConfig::default()
    })]

    #[test]
    fn sfdisk_agrees_with_the_planned_layout(
        gpt in any::<bool>(),
        parts in prop::collection::vec(part(), 0..7),
        root_at in 0usize..7,
        root_mib in 2u64..8,
    ) {
        if !require_tool("sfdisk") {
            return Ok(());
        }
        let table = if gpt { "gpt" } else { "mbr" };
        let mut parts = parts;
        if !gpt {
            parts.truncate(3);
        }
        let root_at = root_at.min(parts.len());
        let dir = tempfile::tempdir().unwrap();
        let mut text = format!("timestamp = 1\n[disk]\nsize = \"auto\"\ntable = \"{table}\"\n[[output]]\npath = \"d.img\"\n");
        let mut roles = Vec::new();
        let mut at_mib = 1u64;
        for (i, p) in parts.iter().enumerate() {
            if i == root_at {
                let _ = write!(text, "[[partition]]\nrole = \"root\"\nsize = \"{root_mib}M\"\n");
                roles.push("root");
                at_mib += root_mib + 1;
            }
            let (role, format) = match p.role {
                "swap" => ("swap", None),
                "data-ext4" => ("data", Some("ext4")),
                _ => ("data", Some("raw")),
            };
            let _ = write!(text, "[[partition]]\nrole = \"{role}\"\nsize = \"{}K\"\n", p.kib);
            if let Some(f) = format {
                let _ = writeln!(text, "format = \"{f}\"");
            }
            if let Some(gap) = p.gap_mib {
                at_mib += gap;
                let _ = writeln!(text, "start = \"{at_mib}M\"");
            }
            at_mib += p.kib.div_ceil(1024) + 1;
            roles.push(role);
        }
        if root_at == parts.len() {
            let _ = write!(text, "[[partition]]\nrole = \"root\"\nsize = \"{root_mib}M\"\n");
            roles.push("root");
        }
        let path = dir.path().join("r.toml");
        let recipe = blockimg::recipe::parse(&text, &path).unwrap();
        let prepared = match blockimg::recipe::prepare(&recipe, &mut blockimg::Silent) {
            Ok(p) => p,
            // Explicit starts may make partitions overlap: refused, named.
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.contains("overlap") && msg.contains("r.toml:"), "{}\n{}", msg, text);
                return Ok(());
            }
        };
        let layout = prepared.layout().clone();
        prepared.write(false, &mut blockimg::Silent).unwrap();
        let img = dir.path().join("d.img");
        sfdisk_verify(&img).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let dump = sfdisk_dump(&img).unwrap();
        prop_assert_eq!(&dump.label, if gpt { "gpt" } else { "dos" });
        let found: Vec<(u64, u64, String)> = dump.partitions.iter().map(|p| (p.start, p.size, p.kind.to_uppercase())).collect();
        let planned: Vec<(u64, u64, String)> = layout
            .partitions
            .iter()
            .zip(&roles)
            .map(|(p, role)| (p.start / 512, p.size / 512, sfdisk_type(table, if *role == "swap" { "swap" } else { "linux" }).to_string()))
            .collect();
        let mut planned_sorted = planned.clone();
        let mut found_sorted = found.clone();
        // sfdisk lists an MBR in slot order and a GPT in entry order: both
        // are table order, which is the plan's.
        planned_sorted.sort();
        found_sorted.sort();
        prop_assert_eq!(found_sorted, planned_sorted, "{}\n{}", dump.text, text);
    }
}
