//! Writes a disk image (raw, VHD or VMDK) onto a block device, such as an
//! EBS volume attached to the build instance, printing its progress, then
//! reads it back to verify it. The device must not be mounted or in use
//! and must be blank (pass --force to write over data).
//!
//! cargo run --example write_device -- disk.vmdk /dev/nvme1n1 [--force]

use std::path::PathBuf;

use blockimg::disk_format::open;
use blockimg::target::{open_target, write_image, WriteOptions};
use blockimg::{Observer, Phase};

/// Prints a percentage per phase on one line.
struct Percent(u64);

impl Observer for Percent {
    fn start(&mut self, _phase: Phase, total: u64) {
        self.0 = total.max(1);
    }
    fn advance(&mut self, phase: Phase, done: u64) {
        eprint!("\r{phase}: {}%", done * 100 / self.0);
    }
    fn finish(&mut self, _phase: Phase) {
        eprintln!();
    }
}

fn main() -> blockimg::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let force = args.iter().any(|a| a == "--force");
    let paths: Vec<PathBuf> = args
        .iter()
        .filter(|a| *a != "--force")
        .map(PathBuf::from)
        .collect();
    let [image, device] = paths.as_slice() else {
        eprintln!("usage: write_device IMAGE DEVICE [--force]");
        std::process::exit(2);
    };
    let mut disk = open(image)?;
    let target = open_target(device)?;
    println!(
        "writing {} ({}, {} bytes) to {} ({} bytes)",
        image.display(),
        disk.format().name(),
        disk.size(),
        device.display(),
        target.size()
    );
    let options = WriteOptions::default()
        .skip_zeros(false)
        .verify(true)
        .force(force);
    let summary = write_image(disk.as_mut(), image, target, &options, &mut Percent(1))?;
    println!(
        "{} bytes written{}",
        summary.bytes_written,
        if summary.verified {
            ", read back and verified"
        } else {
            ""
        }
    );
    Ok(())
}
