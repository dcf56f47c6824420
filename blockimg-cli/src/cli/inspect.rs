//! `blockimg inspect`: what a disk image holds.

use std::io::Write;
use std::path::PathBuf;

use blockimg::{Error, Result};

/// Arguments of `blockimg inspect`.
#[derive(clap::Args)]
pub struct InspectArgs {
    /// The raw disk image (or bare filesystem image).
    pub image: PathBuf,
    /// Print a JSON document instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Prints the report of the image.
pub fn run(args: InspectArgs) -> Result<()> {
    // A reader's lock: refused while a program changes the image.
    let lock = blockimg::lock::ImageLock::read(&args.image)?;
    let report = blockimg::inspect::inspect(&args.image)?;
    drop(lock);
    let text = if args.json {
        let mut json = serde_json::to_string_pretty(&report).map_err(|e| Error::InvalidOption {
            option: "--json".into(),
            reason: e.to_string(),
        })?;
        json.push('\n');
        json
    } else {
        report.to_string()
    };
    std::io::stdout()
        .write_all(text.as_bytes())
        .map_err(|e| Error::io("standard output", e))
}
