//! A directory becomes a bootable GPT disk (GRUB for BIOS and UEFI), with
//! a progress display of the caller's own.
//!
//! cargo run --example bootable_dir -- ROOTFS_DIR VMLINUZ disk.img [INITRD]

use std::path::PathBuf;

use blockimg::boot::{BootMode, BootOptions};
use blockimg::image::PartitionTable;
use blockimg::{DiskBuilder, Observer, Output, Phase, Source, Warning};

/// Prints how many MiB are written, and warnings.
struct Progress;

impl Observer for Progress {
    fn advance(&mut self, _: Phase, done: u64) {
        eprint!("\r{} MiB written", done >> 20);
    }
    fn warn(&mut self, warning: Warning) {
        eprintln!("warning: {warning}");
    }
}

fn main() -> blockimg::Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let (root, kernel, out, initrd) = match args.as_slice() {
        [root, kernel, out] => (root, kernel, out, None),
        [root, kernel, out, initrd] => (root, kernel, out, Some(initrd.clone())),
        _ => {
            eprintln!("usage: bootable_dir ROOTFS_DIR VMLINUZ OUT.img [INITRD]");
            std::process::exit(2);
        }
    };
    let boot = BootOptions::default()
        .kernel(Some(kernel.clone()))
        .initrd(initrd);
    let built = DiskBuilder::new(Source::Directory(root.clone()))
        .table(PartitionTable::Gpt)
        .boot(BootMode::Hybrid, boot)
        .write(Output::file(out), &mut Progress)?;
    let s = built.summary;
    println!(
        "\n{}: {} bytes, root filesystem at byte {}",
        out.display(),
        s.disk_size,
        s.partition_offset
    );
    Ok(())
}
