//! Initramfs images: a newc cpio archive (optionally compressed) holding a
//! tree, executables with everything they load, kernel modules with their
//! dependencies, and an `/init`.
//!
//! [`assemble`] builds the tree: it starts from a tree from any source (or
//! an empty one), copies each executable with its ELF interpreter and
//! shared libraries at their host paths, symlinks included
//! ([`hostfs`]), copies the kernel modules asked for with everything they
//! need and index files regenerated for that subset, and adds
//! `/init`: a given file, the tree's own, or a generated busybox script.
//! [`write_archive`] streams the tree as a newc archive
//! ([`cpio`]) through a compressor ([`compress`]) into the output file,
//! which appears only once complete.
//!
//! # Example
//!
//! ```
//! use blockimg::initramfs::compress::Compression;
//! use blockimg::initramfs::hostfs::HostFs;
//! use blockimg::initramfs::{assemble, write_archive, InitKind, InitramfsOptions};
//! use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
//!
//! # fn main() -> blockimg::Result<()> {
//! let time = Timestamp::from_secs(1_700_000_000);
//! let meta = |permissions| Metadata {
//!     permissions,
//!     atime: time,
//!     mtime: time,
//!     ctime: time,
//!     ..Default::default()
//! };
//! let mut root = Tree::new(meta(0o755));
//! let script = FileContent::from_bytes(b"#!/bin/sh\necho hello\n".to_vec());
//! root.add(Tree::ROOT, b"init", Node::new(meta(0o755), NodeKind::File(script)))?;
//!
//! let options = InitramfsOptions::default()
//!     .owner(Some((0, 0)))
//!     .timestamp(Some(time.secs)); // reproducible: same inputs, same bytes
//! let built = assemble(root, HostFs::new("/"), &options)?;
//! assert_eq!(built.init, InitKind::Kept);
//! let dir = tempfile::tempdir().map_err(|e| blockimg::Error::io("tempdir", e))?;
//! let output = dir.path().join("initrd.img");
//! let written = write_archive(&built.tree, Compression::Gzip, options.timestamp, &output, false)?;
//! assert_eq!(std::fs::metadata(&output).map_err(|e| blockimg::Error::io(&output, e))?.len(), written.bytes);
//! # Ok(())
//! # }
//! ```

pub mod compress;
pub mod cpio;
pub(crate) mod elf;
pub mod hostfs;
pub(crate) mod init;

pub use crate::error::InitramfsError;
// Public for the fuzz targets.
#[doc(hidden)]
pub mod ldconf;
// Public for the fuzz targets.
#[doc(hidden)]
pub mod modules;
pub(crate) mod output;

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::arch::Arch;
use crate::error::{Error, Result};
use crate::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};

use compress::Compression;
use elf::{ElfArch, Resolver};
use hostfs::{HostFs, Installer};
use init::{InitScript, ModuleLoad, BUSYBOX_PATH};
use modules::{ModuleTree, Selection};
use output::output_error;

/// Where busybox is looked for when none is given.
pub const DEFAULT_BUSYBOX: &str = "/bin/busybox";

/// What goes into an initramfs besides the starting tree.
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::hostfs::HostFs;
/// use blockimg::initramfs::{assemble, InitramfsOptions};
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let time = Timestamp::from_secs(1_700_000_000);
/// # let mut root = Tree::new(Metadata::directory(time));
/// # let script = FileContent::from_bytes(&b"#!/bin/sh\nexec sh\n"[..]);
/// # root.add(Tree::ROOT, b"init", Node::new(Metadata::directory(time), NodeKind::File(script)))?;
/// // root: a tree holding an executable /init script.
/// # if !std::path::Path::new("/bin/true").exists() { return Ok(()); } // not on this host
/// let options = InitramfsOptions::default()
///     .binaries(vec!["/bin/true".into()]) // with its ELF interpreter and libraries
///     .owner(Some((0, 0)));
/// let before = root.len();
/// let built = assemble(root, HostFs::new("/"), &options)?;
/// assert!(built.tree.len() > before + 1);
/// # Ok(())
/// # }
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default)]
pub struct InitramfsOptions {
    /// Executables to copy, with their interpreter and libraries (absolute
    /// paths in the host filesystem).
    pub binaries: Vec<PathBuf>,
    /// Directories searched for libraries before the system's, as
    /// `LD_LIBRARY_PATH` would list them.
    pub library_path: Vec<PathBuf>,
    /// Kernel modules to copy and load, by name or alias.
    pub modules: Vec<String>,
    /// The modules directory (default `/lib/modules/$(uname -r)`).
    pub kernel_modules: Option<PathBuf>,
    /// A file to use as `/init`.
    pub init: Option<PathBuf>,
    /// A command the generated `/init` runs instead of mounting a root
    /// filesystem.
    pub run: Option<String>,
    /// The busybox executable for the generated `/init` (default
    /// [`DEFAULT_BUSYBOX`] when it is a static executable).
    pub busybox: Option<PathBuf>,
    /// Owner and group given to every file; `None` keeps the sources'.
    pub owner: Option<(u32, u32)>,
    /// Time of generated files, and the latest time any file keeps
    /// (`SOURCE_DATE_EPOCH`); `None` stamps generated files with the
    /// current time and keeps all times.
    pub timestamp: Option<i64>,
    /// The architecture of the kernel that unpacks the archive: every ELF
    /// file (executables, their interpreters and libraries, busybox,
    /// kernel modules) must be built for it, and libraries are searched in
    /// its multiarch directories (`/lib/aarch64-linux-gnu`, ...). `None`:
    /// the architecture this program runs on. Another one needs its own
    /// kernel's [`kernel_modules`](Self::kernel_modules) and busybox.
    pub arch: Option<Arch>,
}

setters!(InitramfsOptions at "blockimg::initramfs::InitramfsOptions" {
    binaries: Vec<PathBuf>,
    library_path: Vec<PathBuf>,
    modules: Vec<String>,
    kernel_modules: Option<PathBuf>,
    init: Option<PathBuf>,
    run: Option<String>,
    busybox: Option<PathBuf>,
    owner: Option<(u32, u32)>,
    timestamp: Option<i64>,
    arch: Option<Arch>,
});

/// Where `/init` came from.
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::hostfs::HostFs;
/// use blockimg::initramfs::{assemble, InitKind, InitramfsOptions};
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let time = Timestamp::from_secs(1_700_000_000);
/// # let mut root = Tree::new(Metadata::directory(time));
/// # let script = FileContent::from_bytes(&b"#!/bin/sh\nexec sh\n"[..]);
/// # root.add(Tree::ROOT, b"init", Node::new(Metadata::directory(time), NodeKind::File(script)))?;
/// // root: a tree holding an executable /init script.
/// let built = assemble(root, HostFs::new("/"), &InitramfsOptions::default())?;
/// assert_eq!(built.init, InitKind::Kept); // the tree had its own /init
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitKind {
    /// The generated busybox script, with this busybox.
    Generated {
        /// The busybox executable copied to `/bin/busybox`.
        busybox: PathBuf,
    },
    /// A file given by the caller.
    File(PathBuf),
    /// The starting tree's own `/init`.
    Kept,
}

/// A tree ready to be archived, and what went into it.
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::hostfs::HostFs;
/// use blockimg::initramfs::{assemble, InitramfsOptions};
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let time = Timestamp::from_secs(1_700_000_000);
/// # let mut root = Tree::new(Metadata::directory(time));
/// # let script = FileContent::from_bytes(&b"#!/bin/sh\nexec sh\n"[..]);
/// # root.add(Tree::ROOT, b"init", Node::new(Metadata::directory(time), NodeKind::File(script)))?;
/// // root: a tree holding an executable /init script.
/// let built = assemble(root, HostFs::new("/"), &InitramfsOptions::default())?;
/// assert!(built.tree.lookup(b"/init").is_some());
/// assert_eq!(built.kernel_version, None); // no modules asked for
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct Assembled {
    /// The tree.
    pub tree: Tree,
    /// Where `/init` came from.
    pub init: InitKind,
    /// The kernel modules copied, in load order, and built-in names.
    pub modules: Selection,
    /// The kernel version the modules are for.
    pub kernel_version: Option<String>,
    /// Files copied for the executables (interpreters and libraries
    /// included, each counted once).
    pub binary_files: usize,
}

/// Builds the tree of an initramfs from `root` and the files `options` ask
/// for, taken from `host`.
///
/// # Errors
///
/// [`InitramfsError::NotElf`], [`InitramfsError::ElfArchitecture`], [`InitramfsError::InvalidElf`] and
/// [`InitramfsError::LibraryNotFound`] for executables; [`InitramfsError::ModuleNotFound`],
/// [`InitramfsError::ModuleCycle`] and [`InitramfsError::ModuleIndex`] for kernel modules;
/// [`Error::InvalidOption`] when the generated `/init` has no busybox;
/// [`Error::PlacementConflict`] when a directory of `root` is where a file
/// must go; [`Error::Io`] for files that cannot be read.
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::hostfs::HostFs;
/// use blockimg::initramfs::{assemble, InitKind, InitramfsOptions};
/// use blockimg::tree::{Metadata, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # if !std::path::Path::new("/bin/true").exists() { return Ok(()) }
/// let dir = tempfile::tempdir()?;
/// let init = dir.path().join("init");
/// std::fs::write(&init, "#!/bin/true\n")?;
///
/// let options = InitramfsOptions::default()
///     .binaries(vec!["/bin/true".into()]) // copied with its loader and libraries
///     .init(Some(init))
///     .owner(Some((0, 0)))
///     .timestamp(Some(1_700_000_000));
/// let root = Tree::new(Metadata::directory(Timestamp::from_secs(1_700_000_000)));
/// let built = assemble(root, HostFs::new("/"), &options)?;
/// assert!(matches!(built.init, InitKind::File(_)));
/// assert!(built.tree.lookup(b"/init").is_some());
/// assert!(built.binary_files >= 1);
/// # Ok(())
/// # }
/// ```
pub fn assemble(root: Tree, host: HostFs, options: &InitramfsOptions) -> Result<Assembled> {
    let now = match options.timestamp {
        Some(t) => Timestamp::from_secs(t),
        None => now(),
    };
    let meta = |permissions| Metadata {
        permissions,
        uid: 0,
        gid: 0,
        atime: now,
        mtime: now,
        ctime: now,
        crtime: None,
    };
    let library_path = options
        .library_path
        .iter()
        .map(|p| p.as_os_str().as_bytes().to_vec())
        .collect();
    let target = options.arch.map_or_else(ElfArch::host, ElfArch::from);
    let foreign = options.arch.filter(|&a| Some(a) != Arch::host());
    let resolver = Resolver::new(host.clone(), target, library_path)?;
    let mut installer = Installer::new(root, host.clone(), meta(0o755));

    let mut copied = std::collections::BTreeSet::new();
    for binary in &options.binaries {
        let path = binary.as_os_str().as_bytes();
        for file in std::iter::once(path.to_vec()).chain(resolver.dependencies(path)?) {
            installer.install(&file)?;
            copied.insert(file);
        }
    }

    // The generated /init loads modules with busybox's insmod, which reads
    // gzip and xz but not zstd: such modules are stored decompressed.
    let generate_init =
        options.init.is_none() && (options.run.is_some() || installer.lookup(b"/init").is_none());
    let stored = |path: &str| -> String {
        match path.strip_suffix(".zst") {
            Some(plain) if generate_init => plain.to_owned(),
            _ => path.to_owned(),
        }
    };
    let (mut selection, kernel_version) = if options.modules.is_empty() {
        (Selection::default(), None)
    } else {
        let dir = match (&options.kernel_modules, foreign) {
            (Some(dir), _) => dir.clone(),
            (None, None) => Path::new("/lib/modules").join(running_kernel()?),
            (None, Some(arch)) => {
                return Err(Error::InvalidOption {
                    option: "kernel modules".into(),
                    reason: format!(
                        "an {arch} initramfs needs the {arch} kernel's modules directory \
                         (/lib/modules/VERSION of that kernel's package); this host's own \
                         kernel is not the one that boots it"
                    ),
                });
            }
        };
        let tree = ModuleTree::open(&dir)?;
        let selection = tree.select(&options.modules)?;
        for load in &selection.load {
            check_module_arch(&dir.join(&load.path), target)?;
        }
        let base = format!("/lib/modules/{}", tree.version());
        for load in &selection.load {
            let source = dir.join(&load.path);
            let dest = format!("{base}/{}", stored(&load.path));
            if stored(&load.path) == load.path {
                installer.install_as(&source, dest.as_bytes())?;
            } else {
                installer.put(dest.as_bytes(), decompressed_zstd(&source)?)?;
            }
        }
        for (name, bytes) in tree.index_files(&selection, &stored)? {
            let dest = format!("{base}/{name}");
            let node = Node::new(meta(0o644), NodeKind::File(FileContent::from_bytes(bytes)));
            installer.put(dest.as_bytes(), node)?;
        }
        (selection, Some(tree.version()))
    };
    for load in &mut selection.load {
        load.path = stored(&load.path);
    }

    let init = if let Some(file) = &options.init {
        let node = installer.install_as(file, b"/init")?;
        installer.tree_mut().node_mut(node).meta.permissions |= 0o555;
        InitKind::File(file.clone())
    } else if !generate_init {
        InitKind::Kept
    } else {
        let busybox = find_busybox(&resolver, options.busybox.as_deref(), foreign)?;
        let path = busybox.as_os_str().as_bytes();
        for file in resolver.dependencies(path)? {
            installer.install(&file)?;
            copied.insert(file);
        }
        // Busybox is an image path of the host filesystem (a sysroot's, say).
        let busybox_file = host.host_path(&host.resolve(path)?.path);
        installer.install_as(&busybox_file, BUSYBOX_PATH.as_bytes())?;
        let base = format!(
            "/lib/modules/{}",
            kernel_version.clone().unwrap_or_default()
        );
        let script = InitScript {
            modules: selection
                .load
                .iter()
                .map(|l| ModuleLoad {
                    name: l.name.clone(),
                    path: format!("{base}/{}", l.path),
                    optional: l.optional,
                })
                .collect(),
            run: options.run.clone(),
        };
        let text = script.render().into_bytes();
        let node = Node::new(meta(0o755), NodeKind::File(FileContent::from_bytes(text)));
        installer.put(b"/init", node)?;
        InitKind::Generated { busybox }
    };

    if installer.lookup(b"/dev/console").is_none() {
        let console = Node::new(meta(0o600), NodeKind::CharDevice { major: 5, minor: 1 });
        installer.put(b"/dev/console", console)?;
    }
    let mut tree = installer.into_tree();
    if let Some((uid, gid)) = options.owner {
        tree.set_owner_all(uid, gid);
    }
    Ok(Assembled {
        tree,
        init,
        modules: selection,
        kernel_version,
        binary_files: copied.len(),
    })
}

/// The host file `path`, a zstd-compressed module, as a node holding its
/// decompressed content (with the file's owner, mode and times).
fn decompressed_zstd(path: &Path) -> Result<Node> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    let mut node = hostfs::host_node(path, &meta)?;
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let bytes = zstd::decode_all(file).map_err(|e| Error::io(path, e))?;
    node.kind = NodeKind::File(FileContent::from_bytes(bytes));
    Ok(node)
}

/// The busybox to use: `given`, which must be an executable of the target,
/// or [`DEFAULT_BUSYBOX`] when it is a static one. For a `foreign` target
/// the refusal says where that architecture's busybox comes from.
fn find_busybox(
    resolver: &Resolver,
    given: Option<&Path>,
    foreign: Option<Arch>,
) -> Result<PathBuf> {
    if let Some(path) = given {
        resolver.read(path.as_os_str().as_bytes())?;
        return Ok(path.to_path_buf());
    }
    match resolver.read(DEFAULT_BUSYBOX.as_bytes()) {
        Ok(info) if info.is_static() => Ok(PathBuf::from(DEFAULT_BUSYBOX)),
        found => {
            let hint = match foreign {
                Some(arch) => format!(
                    " (Debian's busybox-static:{arch}: `apt-get download busybox-static:{arch}` \
                     after `dpkg --add-architecture {arch}`, then `dpkg-deb -x` it and give \
                     its bin/busybox)"
                ),
                None => String::new(),
            };
            Err(Error::InvalidOption {
                option: "busybox".into(),
                reason: format!(
                    "the generated /init needs busybox, and {DEFAULT_BUSYBOX} is {}: \
                     give a static busybox{hint}, or an /init of your own",
                    match found {
                        Ok(_) => "not statically linked".to_string(),
                        Err(e) => format!("not usable ({e})"),
                    }
                ),
            })
        }
    }
}

/// Refuses the kernel module at host path `path` (plain, or compressed
/// with gzip, xz or zstd) unless it is an ELF file for `target`: modules of
/// another architecture's kernel would only fail at boot.
fn check_module_arch(path: &Path, target: ElfArch) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let name = path.to_string_lossy();
    let mut reader: Box<dyn std::io::Read> = if name.ends_with(".zst") {
        Box::new(zstd::stream::read::Decoder::new(file).map_err(|e| Error::io(path, e))?)
    } else if name.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new(file))
    } else if name.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut header = [0u8; 20];
    std::io::Read::read_exact(&mut reader, &mut header).map_err(|e| Error::io(path, e))?;
    match ElfArch::from_header(&header) {
        None => Err(Error::from(InitramfsError::NotElf {
            path: path.to_path_buf(),
        })),
        Some(found) if found != target => Err(Error::from(InitramfsError::ElfArchitecture {
            path: path.to_path_buf(),
            found: found.describe(),
            expected: target.describe(),
        })),
        Some(_) => Ok(()),
    }
}

/// The release of the running kernel (`uname -r`).
fn running_kernel() -> Result<String> {
    // SAFETY: utsname is plain data; uname fills it and cannot overrun it.
    let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: `uts` is a valid, writable utsname.
    if unsafe { libc::uname(&mut uts) } != 0 {
        return Err(Error::io("uname", std::io::Error::last_os_error()));
    }
    let release: Vec<u8> = uts
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    Ok(String::from_utf8_lossy(&release).into_owned())
}

fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        secs: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: d.subsec_nanos(),
    }
}

/// What [`write_archive`] wrote.
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::{compress::Compression, write_archive};
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let time = Timestamp::from_secs(1_700_000_000);
/// # let mut root = Tree::new(Metadata::directory(time));
/// # let script = FileContent::from_bytes(&b"#!/bin/sh\nexec sh\n"[..]);
/// # root.add(Tree::ROOT, b"init", Node::new(Metadata::directory(time), NodeKind::File(script)))?;
/// // root: a tree holding an executable /init script.
/// let dir = tempfile::tempdir()?;
/// let written = write_archive(&root, Compression::Gzip, None, &dir.path().join("initrd.img"), false)?;
/// assert_eq!(written.entries, 2); // the root and /init
/// assert!(written.bytes < written.archive_bytes); // compressed
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Written {
    /// Size of the output file.
    pub bytes: u64,
    /// Size of the archive before compression.
    pub archive_bytes: u64,
    /// Entries in the archive (the trailer not counted).
    pub entries: usize,
}

/// `tree` as a newc archive compressed with `compression`, in memory (to
/// put into another image). Times later than `clamp_mtime` are written as
/// it.
///
/// # Errors
///
/// The errors of [`cpio::write_newc`]; [`Error::Io`] from the compressor.
///
/// # Examples
///
/// ```
/// use std::io::Read;
///
/// use blockimg::initramfs::{archive_bytes, compress::Compression};
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let time = Timestamp::from_secs(1_700_000_000);
/// let mut tree = Tree::new(Metadata::directory(time));
/// let init = FileContent::from_bytes(&b"#!/bin/sh\nexec sh\n"[..]);
/// tree.add(Tree::ROOT, b"init", Node::new(Metadata::directory(time), NodeKind::File(init)))?;
///
/// let gz = archive_bytes(&tree, Compression::Gzip, Some(1_700_000_000))?;
/// let mut cpio = Vec::new();
/// flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut cpio)?;
/// assert!(cpio.starts_with(b"070701")); // newc, as the kernel reads it
/// # Ok(())
/// # }
/// ```
pub fn archive_bytes(
    tree: &Tree,
    compression: Compression,
    clamp_mtime: Option<i64>,
) -> Result<Vec<u8>> {
    let encoder = compression
        .encoder(Vec::new())
        .map_err(|e| Error::io("initramfs", e))?;
    let options = cpio::NewcOptions { clamp_mtime };
    let (encoder, _) = cpio::write_newc(tree, &options, encoder)?;
    encoder.finish().map_err(|e| Error::io("initramfs", e))
}

/// Writes `tree` as a newc archive compressed with `compression` to
/// `output`, atomically: the file appears complete or not at all. Times
/// later than `clamp_mtime` are written as it.
///
/// # Errors
///
/// [`Error::OutputExists`] when `output` exists and not `overwrite`; the
/// errors of [`cpio::write_newc`]; [`Error::Write`] and [`Error::Io`] for
/// the output.
///
/// # Examples
///
/// ```
/// use blockimg::initramfs::{compress::Compression, write_archive};
/// use blockimg::tree::{FileContent, Metadata, Node, NodeKind, Timestamp, Tree};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let time = Timestamp::from_secs(1_700_000_000);
/// # let mut root = Tree::new(Metadata::directory(time));
/// # let script = FileContent::from_bytes(&b"#!/bin/sh\nexec sh\n"[..]);
/// # root.add(Tree::ROOT, b"init", Node::new(Metadata::directory(time), NodeKind::File(script)))?;
/// // root: a tree holding an executable /init script.
/// let dir = tempfile::tempdir()?;
/// let output = dir.path().join("initrd.img");
/// write_archive(&root, Compression::Zstd, Some(1_700_000_000), &output, false)?;
/// assert_eq!(std::fs::read(&output)?[..4], [0x28, 0xb5, 0x2f, 0xfd]); // zstd's magic
/// assert!(write_archive(&root, Compression::Zstd, None, &output, false).is_err()); // exists
/// write_archive(&root, Compression::Zstd, None, &output, true)?; // replaced
/// # Ok(())
/// # }
/// ```
pub fn write_archive(
    tree: &Tree,
    compression: Compression,
    clamp_mtime: Option<i64>,
    output: &Path,
    overwrite: bool,
) -> Result<Written> {
    let entries = cpio::entries(tree)?.len();
    let mut archive_bytes = 0;
    let bytes = output::write_atomically(output, overwrite, |out| {
        let encoder = compression
            .encoder(out)
            .map_err(|e| output_error(e, output, 0))?;
        let options = cpio::NewcOptions { clamp_mtime };
        let (encoder, len) = cpio::write_newc(tree, &options, encoder)?;
        archive_bytes = len;
        encoder.finish().map_err(|e| output_error(e, output, len))?;
        Ok(())
    })?;
    Ok(Written {
        bytes,
        archive_bytes,
        entries,
    })
}
