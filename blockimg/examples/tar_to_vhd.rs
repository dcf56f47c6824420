//! A tar snapshot of a root filesystem, read from standard input (any
//! reader will do), becomes a bootable GPT disk (GRUB for BIOS and UEFI)
//! in a fixed VHD written to standard output (any writer will do): one
//! pass, no temporary file.
//!
//! tar cf - -C rootfs . | cargo run --example tar_to_vhd -- vmlinuz [initrd] > disk.vhd

use std::path::PathBuf;

use blockimg::boot::{BootMode, BootOptions};
use blockimg::image::{DiskSize, PartitionTable};
use blockimg::sink::OutputFormat;
use blockimg::source::root::TreeAdjust;
use blockimg::{DiskBuilder, Output, Silent, Source};

fn main() -> blockimg::Result<()> {
    let mut args = std::env::args_os().skip(1).map(PathBuf::from);
    let (Some(kernel), initrd) = (args.next(), args.next()) else {
        eprintln!("usage: tar_to_vhd VMLINUZ [INITRD] < snapshot.tar > disk.vhd");
        std::process::exit(2);
    };
    let snapshot = Source::reader(std::io::stdin(), "standard input");
    let vhd = Output::writer(std::io::stdout(), "standard output").format(OutputFormat::VhdFixed);
    let boot = BootOptions::default().kernel(Some(kernel)).initrd(initrd);
    let built = DiskBuilder::new(snapshot)
        .size(DiskSize::Exact(1 << 30)) // a stream's size is unknown up front
        .table(PartitionTable::Gpt)
        .adjust(TreeAdjust::default().base_layout(true))
        .boot(BootMode::Hybrid, boot)
        .timestamp(Some(1_700_000_000)) // reproducible: same input, same bytes
        .write(vhd, &mut Silent)?;
    eprintln!(
        "{} bytes of VHD, disk of {} bytes",
        built.output_bytes.unwrap_or(0),
        built.virtual_size
    );
    Ok(())
}
