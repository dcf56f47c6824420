//! `blockimg build`: a disk from a recipe (docs/RECIPES.md).

use std::path::PathBuf;
use std::time::Instant;

use blockimg::recipe::{self, OutputSpec};
use blockimg::sink::{Destination, OutputFormat};
use blockimg::size::format_size;
use blockimg::Result;

use super::ebs::{print_image, print_snapshot, ToSnapshotArgs};
use super::output_args::{describe, OutputArgs};
use super::terminal::Terminal;

/// Arguments of `blockimg build`.
#[derive(clap::Args)]
pub struct BuildArgs {
    /// The recipe (TOML).
    recipe: PathBuf,
    /// Write this one output instead of the recipe's [[output]] list.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    out: Option<PathBuf>,
    #[command(flatten)]
    format: OutputArgs,
    /// Print the plan (partitions, files added, kernel command line,
    /// outputs) and write nothing.
    #[arg(long)]
    dry_run: bool,
    /// Replace outputs that exist.
    #[arg(short, long)]
    force: bool,
    /// Print nothing but errors (and the snapshot's and image's ids).
    #[arg(short, long)]
    quiet: bool,
    /// With --to-snapshot, the snapshot is written instead of the
    /// recipe's [[output]] list (with -o, as well as that file).
    #[command(flatten)]
    ebs: ToSnapshotArgs,
}

/// Runs `blockimg build`.
pub fn run(args: BuildArgs) -> Result<()> {
    let started = Instant::now();
    let mut recipe = recipe::load(&args.recipe)?;
    if let Some(out) = &args.out {
        let dest = Destination::File(out.clone());
        let format = OutputFormat::resolve(args.format.format.map(Into::into), &dest)?;
        recipe.outputs = vec![OutputSpec {
            path: out.clone(),
            format,
            azure: args.format.azure,
            snapshot: None,
        }];
    }
    let has_snapshot = recipe.outputs.iter().any(|o| o.snapshot.is_some());
    args.ebs
        .check(recipe.boot.mode, recipe.arch, has_snapshot)?;
    if args.ebs.to_snapshot {
        if args.out.is_none() {
            recipe.outputs.clear();
        }
        recipe.outputs.push(OutputSpec {
            path: PathBuf::new(),
            format: OutputFormat::EbsSnapshot,
            azure: false,
            snapshot: Some(args.ebs.snapshot.options()?),
        });
    }
    if let Some(register) = args.ebs.register_options(recipe.boot.mode, recipe.arch)? {
        recipe.register = Some(register);
    }
    let mut terminal = Terminal::new(args.quiet);
    let prepared = recipe::prepare(&recipe, &mut terminal)?;
    if args.dry_run {
        // Plan everything, so what does not fit is found, then say it.
        prepared.plan()?;
        print!("{}", prepared.describe());
        return Ok(());
    }
    let written = prepared.write(args.force, &mut terminal)?;
    for w in &written {
        match (&w.snapshot, &recipe.register) {
            (Some(snapshot), register) => {
                print_snapshot(snapshot, args.quiet);
                if let (Some(image), Some(options)) = (&w.image, register) {
                    print_image(image, options, snapshot, args.quiet);
                }
            }
            (None, _) if args.quiet => {}
            (None, _) => {
                println!("{}: {}", w.path.display(), format_size(w.disk_size));
                println!("{}", describe(w.format, w.disk_size, w.file_bytes));
            }
        }
    }
    if !args.quiet {
        println!(
            "  built from {} in {:.2} s",
            args.recipe.display(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}
