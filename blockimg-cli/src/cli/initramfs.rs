//! `blockimg initramfs`: a newc cpio initramfs with executables and their
//! libraries, kernel modules and their dependencies, and an `/init`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use blockimg::initramfs::compress::Compression;
use blockimg::initramfs::hostfs::HostFs;
use blockimg::initramfs::{assemble, write_archive, InitKind, InitramfsOptions};
use blockimg::size::format_size;
use blockimg::source::root::{build_timestamp, load_root};
use blockimg::{Error, Result};
use clap::ValueEnum;

use super::common::{parse_owner, ArchArg};

#[derive(Clone, Copy, ValueEnum)]
enum CompressArg {
    /// gzip, level 9 (every kernel unpacks it).
    Gzip,
    /// zstd, level 19.
    Zstd,
    /// xz with CRC32 checks, as the kernel requires.
    Xz,
    /// No compression.
    None,
}

/// Arguments of `blockimg initramfs`.
#[derive(clap::Args)]
pub struct InitramfsArgs {
    /// The initramfs file to write.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Directory whose contents start the archive.
    #[arg(short, long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Executable to copy with its ELF interpreter and shared libraries, at
    /// their paths on this system (repeatable).
    #[arg(long = "bin", value_name = "PATH")]
    binaries: Vec<PathBuf>,
    /// The architecture of the kernel that boots the archive (default:
    /// this machine's): every executable, library, busybox and module must
    /// be built for it, and libraries are searched in its multiarch
    /// directories (/lib/aarch64-linux-gnu, ...).
    #[arg(long, value_enum)]
    arch: Option<ArchArg>,
    /// Look up --bin paths, their ELF interpreter and libraries, and the
    /// default busybox inside DIR instead of / (another architecture's
    /// system unpacked on this host, say); they keep their paths.
    #[arg(long, value_name = "DIR")]
    sysroot: Option<PathBuf>,
    /// Directories searched for libraries first, like LD_LIBRARY_PATH
    /// (colon-separated, repeatable; paths inside --sysroot when given).
    #[arg(long, value_name = "DIRS", value_delimiter = ':')]
    library_path: Vec<PathBuf>,
    /// Kernel module to copy and load at boot, with the modules it needs
    /// (name or alias, repeatable).
    #[arg(long = "module", value_name = "NAME")]
    modules: Vec<String>,
    /// The kernel's modules directory (default: /lib/modules/$(uname -r)).
    #[arg(long, value_name = "DIR")]
    kernel_modules: Option<PathBuf>,
    /// File to use as /init instead of the generated script.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["run", "busybox"])]
    init: Option<PathBuf>,
    /// Shell command the generated /init runs (then it powers off) instead
    /// of mounting the root= filesystem and switching to it.
    #[arg(long, value_name = "CMD")]
    run: Option<String>,
    /// Busybox executable for the generated /init (default: /bin/busybox if
    /// it is statically linked; inside --sysroot when given).
    #[arg(long, value_name = "PATH")]
    busybox: Option<PathBuf>,
    /// Compression of the archive.
    #[arg(long, value_enum, default_value = "gzip")]
    compress: CompressArg,
    /// Owner of every file, as UID:GID.
    #[arg(long, value_parser = parse_owner, default_value = "0:0", conflicts_with = "keep_owners")]
    owner: (u32, u32),
    /// Keep the owners files have in their sources instead of --owner.
    #[arg(long)]
    keep_owners: bool,
    /// Time of generated files, in seconds since the epoch; newer file times
    /// are clamped to it, so the build is reproducible. Defaults to
    /// SOURCE_DATE_EPOCH when set.
    #[arg(long)]
    timestamp: Option<i64>,
    /// Replace the output if it exists.
    #[arg(short, long)]
    force: bool,
    /// Print nothing but errors.
    #[arg(short, long)]
    quiet: bool,
}

/// Runs `blockimg initramfs`.
pub fn run(args: InitramfsArgs) -> Result<()> {
    let started = Instant::now();
    if !args.force && args.output.symlink_metadata().is_ok() {
        return Err(Error::OutputExists { path: args.output });
    }
    let timestamp = build_timestamp(args.timestamp)?;
    let root = load_root(args.root.as_deref(), timestamp)?;
    let options = InitramfsOptions::default()
        .binaries(
            args.binaries
                .iter()
                .map(|p| absolute(p))
                .collect::<Result<_>>()?,
        )
        .library_path(args.library_path.clone())
        .modules(args.modules.clone())
        .kernel_modules(args.kernel_modules.clone())
        .init(args.init.clone())
        .run(args.run.clone())
        .busybox(args.busybox.as_deref().map(absolute).transpose()?)
        .owner((!args.keep_owners).then_some(args.owner))
        .timestamp(timestamp)
        .arch(args.arch.map(Into::into));
    let host = match &args.sysroot {
        Some(dir) => HostFs::new(absolute(dir)?),
        None => HostFs::new("/"),
    };
    let built = assemble(root, host, &options)?;
    let compression = match args.compress {
        CompressArg::Gzip => Compression::Gzip,
        CompressArg::Zstd => Compression::Zstd,
        CompressArg::Xz => Compression::Xz,
        CompressArg::None => Compression::None,
    };
    let written = write_archive(
        &built.tree,
        compression,
        timestamp,
        &args.output,
        args.force,
    )?;
    if args.quiet {
        return Ok(());
    }
    println!(
        "{}: {} ({} bytes; {} uncompressed)",
        args.output.display(),
        format_size(written.bytes),
        written.bytes,
        format_size(written.archive_bytes)
    );
    match &built.init {
        InitKind::Generated { busybox } => {
            let then = match &args.run {
                Some(cmd) => format!("runs {cmd:?}"),
                None => "mounts root= and switches to it".into(),
            };
            println!(
                "  /init: generated, busybox from {}; {then}",
                busybox.display()
            );
        }
        InitKind::File(file) => println!("  /init: {}", file.display()),
        InitKind::Kept => println!("  /init: from the root tree"),
    }
    if !args.binaries.is_empty() {
        println!(
            "  {} executables, {} files with their interpreters and libraries",
            args.binaries.len(),
            built.binary_files
        );
    }
    if let Some(version) = &built.kernel_version {
        let names: Vec<&str> = built.modules.load.iter().map(|l| l.name.as_str()).collect();
        println!(
            "  kernel {version}: {} modules in load order: {}",
            names.len(),
            names.join(" ")
        );
        if !built.modules.builtin.is_empty() {
            println!(
                "  built into the kernel: {}",
                built.modules.builtin.join(" ")
            );
        }
    }
    println!(
        "  {} entries written in {:.2} s",
        written.entries,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `path` made absolute against the current directory (binaries keep their
/// place in the file hierarchy).
fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path).map_err(|e| Error::io(path, e))
}
