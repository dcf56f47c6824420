//! A tar snapshot of a root filesystem becomes a bootable GPT disk (GRUB for
//! BIOS and UEFI) in a dynamic VHD, with the library alone.
//!
//! cargo run --example tar_to_vhd -- snapshot.tar vmlinuz disk.vhd

use std::path::PathBuf;

use blockimg::boot::{self, BootMode, BootOptions};
use blockimg::ext4::Ext4Options;
use blockimg::image::{plan_disk_fitted, BootPartitions, DiskSize, ImageOptions, PartitionTable};
use blockimg::sink::{open_output, virtual_size, Destination, OutputFormat, OutputOptions};
use blockimg::source::root::{load_root, TreeAdjust};
use blockimg::tree::Timestamp;

fn main() -> blockimg::Result<()> {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let [snapshot, kernel, out] = args.as_slice() else {
        eprintln!("usage: tar_to_vhd SNAPSHOT.tar KERNEL OUT.vhd");
        std::process::exit(2);
    };
    let time = Some(1_700_000_000); // reproducible: same inputs, same bytes
    let mut tree = load_root(Some(snapshot), time)?;
    let adjust = TreeAdjust {
        base_layout: true,
        ..Default::default()
    };
    adjust.apply(&mut tree, time)?;
    let uuid = boot::root_uuid(time, &[b"tar_to_vhd"])?; // grub.cfg names it
    let boot_options = BootOptions {
        kernel: Some(kernel.clone()),
        ..Default::default()
    };
    boot::add_boot_files(&mut tree, &boot_options, &uuid)?;
    let options = ImageOptions {
        size: DiskSize::Auto {
            headroom_percent: 20,
        },
        table: PartitionTable::Gpt,
        boot_partitions: BootPartitions {
            esp: Some(64 << 20),
            bios_boot: Some(1 << 20),
        },
        ext4: Ext4Options {
            uuid: Some(uuid),
            timestamp: time.map(Timestamp::from_secs),
            ..Default::default()
        },
        overwrite: true,
        progress: false,
    };
    // Sized for the VHD's geometry, so the backup GPT ends the disk it holds.
    let mut disk = plan_disk_fitted(&tree, &options, &|size| {
        virtual_size(OutputFormat::Vhd, size, false)
    })?;
    boot::install(&mut disk, BootMode::Hybrid, &boot_options)?;
    let format = OutputOptions::new(OutputFormat::Vhd, true)?;
    let mut output = open_output(&Destination::File(out.clone()), disk.disk_size(), &format)?;
    disk.write_to(output.sink())?;
    let bytes = output.finish()?;
    println!(
        "{}: {} bytes, disk of {} bytes",
        out.display(),
        bytes,
        disk.disk_size()
    );
    Ok(())
}
