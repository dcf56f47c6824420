//! The one error type of the blockimg library.

use std::io;
use std::path::PathBuf;

/// Result with the library's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while building an image. Each variant carries
/// what a user needs to find the problem: paths, sizes, offending values.
///
/// # Examples
///
/// ```
/// use blockimg::Error;
///
/// // Every error names what a user needs to fix it; match on the variant
/// // to handle one case.
/// let error = blockimg::size::parse_size("6X").unwrap_err();
/// assert!(matches!(&error, Error::InvalidSize { text, .. } if text == "6X"));
/// assert!(error.to_string().contains("6X"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An I/O operation on a named path failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing the output failed at a given byte offset.
    #[error("writing {path} at byte offset {offset}: {source}")]
    Write {
        /// The output being written.
        path: PathBuf,
        /// Offset of the failed write within the output.
        offset: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// A size given by the user could not be understood.
    #[error("invalid size {text:?}: {reason}")]
    InvalidSize {
        /// The text as given.
        text: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The image is too small for what it has to hold.
    #[error("{what} needs {needed} bytes but only {available} bytes are available")]
    TooSmall {
        /// What does not fit.
        what: String,
        /// Bytes needed.
        needed: u64,
        /// Bytes available.
        available: u64,
    },
    /// The image is larger than the format allows.
    #[error("{what} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// What is too large.
        what: String,
        /// Requested size.
        size: u64,
        /// The largest size allowed.
        limit: u64,
    },
    /// The output exists and overwriting it was not asked for.
    #[error("{path} already exists (use --force to replace it)")]
    OutputExists {
        /// The existing output.
        path: PathBuf,
    },
    /// A file name longer than a directory entry can hold.
    #[error("file name {name:?} is {len} bytes long; ext4 allows at most 255")]
    NameTooLong {
        /// The name (lossily decoded).
        name: String,
        /// Its length in bytes.
        len: usize,
    },
    /// A file name that cannot be a directory entry.
    #[error("invalid file name {name:?}")]
    InvalidName {
        /// The name (lossily decoded).
        name: String,
    },
    /// An entry was added to something that is not a directory.
    #[error("cannot add {name:?}: its parent is not a directory")]
    NotADirectory {
        /// The entry's name.
        name: String,
    },
    /// The tree has more nodes than can be numbered.
    #[error("the tree has {count} nodes, more than can be stored")]
    TooManyNodes {
        /// Number of nodes.
        count: u64,
    },
    /// A source file changed between scanning the tree and copying it.
    #[error("{path} changed while the image was being built ({detail})")]
    SourceChanged {
        /// The file that changed.
        path: PathBuf,
        /// What was seen to differ.
        detail: String,
    },
    /// A source path has a type that cannot be stored.
    #[error("{path}: unsupported file type")]
    UnsupportedFileType {
        /// The offending path.
        path: PathBuf,
    },
    /// A symlink target too long for the filesystem's block size.
    #[error("symlink {path} has a {len}-byte target; at most {limit} bytes fit")]
    SymlinkTooLong {
        /// Path of the link within the tree.
        path: String,
        /// Length of its target.
        len: usize,
        /// Largest target length allowed.
        limit: usize,
    },
    /// Extended attributes that do not fit in an inode plus one block.
    #[error("extended attributes of {path} need {needed} bytes; at most {limit} fit")]
    XattrsTooLarge {
        /// Path within the tree.
        path: String,
        /// Bytes the attributes need.
        needed: usize,
        /// Bytes available.
        limit: usize,
    },
    /// An extended attribute that cannot be stored.
    #[error("{path}: extended attribute {name:?}: {reason}")]
    InvalidXattr {
        /// Path within the tree.
        path: String,
        /// The attribute's full name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A directory reachable under two names.
    #[error("{path}: directories cannot be hard links")]
    DirectoryHardLink {
        /// The second name of the directory.
        path: String,
    },
    /// A file with more hard links than ext4 can count.
    #[error("{path} has {links} hard links; ext4 allows at most 65000")]
    TooManyLinks {
        /// One name of the file.
        path: String,
        /// Its number of links.
        links: u32,
    },
    /// An archive member that cannot be read or stored.
    #[error("{archive}: {}{reason}", member_prefix(member))]
    BadArchive {
        /// The archive.
        archive: String,
        /// The member's path as stored (empty when the archive itself is
        /// unreadable).
        member: String,
        /// What is wrong.
        reason: String,
    },
    /// A manifest line that does not parse or cannot be applied.
    #[error("{manifest}: line {line}: {reason}")]
    BadManifest {
        /// The manifest.
        manifest: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An option value that is out of range or contradicts another.
    #[error("invalid {option}: {reason}")]
    InvalidOption {
        /// The option's name.
        option: String,
        /// What is wrong.
        reason: String,
    },
    /// An entry of a source (a host directory, an archive) that cannot be
    /// stored in the tree, with the path it came from.
    #[error("{path}: {source}")]
    SourceEntry {
        /// Path of the entry in its source.
        path: PathBuf,
        /// Why the entry cannot be stored.
        source: Box<Error>,
    },
    /// Reading an input failed at a given byte offset.
    #[error("reading {path} at byte offset {offset}: {source}")]
    Read {
        /// The input being read.
        path: PathBuf,
        /// Offset of the failed read within the input.
        offset: u64,
        /// The underlying error.
        source: io::Error,
    },
    /// A disk image whose contents break its format's rules.
    #[error("{path}: {format} {field} is {value}: {reason}")]
    CorruptImage {
        /// The image file.
        path: PathBuf,
        /// Its format (VHD, VMDK).
        format: String,
        /// The structure and field at fault.
        field: String,
        /// The offending value, as found.
        value: String,
        /// What the value should be or why it cannot be used.
        reason: String,
    },
    /// An ext4 filesystem that uses a feature the reader cannot handle (or
    /// must not ignore, such as a journal waiting for recovery).
    #[error("{path}: the ext4 filesystem uses {feature}: {reason}")]
    UnsupportedFeature {
        /// The image file.
        path: PathBuf,
        /// The feature's name as e2fsprogs spells it (`inline_data`, ...),
        /// or the unknown bit.
        feature: String,
        /// Why it cannot be read, and what to do.
        reason: String,
    },
    /// A metadata_csum checksum that does not match the structure it covers.
    #[error("{path}: ext4 {structure}: stored checksum {stored:#010x}, computed {computed:#010x}")]
    ChecksumMismatch {
        /// The image file.
        path: PathBuf,
        /// The structure (`superblock`, `group descriptor 3`, `inode 12`,
        /// `directory block 0 of inode 2`, ...).
        structure: String,
        /// The checksum stored in the structure.
        stored: u32,
        /// The checksum its contents give.
        computed: u32,
    },
    /// A path the filesystem of an image does not hold.
    #[error("{image}: no {path} in the filesystem")]
    NoSuchPath {
        /// The image file.
        image: PathBuf,
        /// The path looked up.
        path: String,
    },
    /// An inode of a filesystem image used as a type it is not (a path
    /// through a file, a symlink read as a file, ...).
    #[error("{image}: {what} is not {expected}")]
    WrongFileType {
        /// The image file.
        image: PathBuf,
        /// The path or inode (`inode 12`) concerned.
        what: String,
        /// The type the operation needs.
        expected: crate::ext4::read::FileType,
    },
    /// A path whose resolution follows too many symlinks.
    #[error("{image}: {path}: too many levels of symbolic links")]
    SymlinkLoop {
        /// The image file.
        image: PathBuf,
        /// The path being resolved.
        path: String,
    },
    /// A partition number the disk's table does not have.
    #[error("{image} has no partition {partition} (partitions: {available})")]
    NoSuchPartition {
        /// The disk image.
        image: PathBuf,
        /// The partition asked for, from 1.
        partition: u32,
        /// The partitions it has (`1, 2`, or `none`).
        available: String,
    },
    /// A disk image, or a partition of one, without an ext4 filesystem.
    #[error("{image}: {location} holds no ext4 filesystem ({reason})")]
    NoExt4 {
        /// The disk image.
        image: PathBuf,
        /// `partition 2`, `the image`, ...
        location: String,
        /// What was found instead.
        reason: String,
    },
    /// A filesystem that a rewrite would change the nature of.
    #[error("{image}: cannot write into this filesystem: {reason}")]
    NotRewritable {
        /// The image file.
        image: PathBuf,
        /// What a rewrite would change.
        reason: String,
    },
    /// Rewriting the filesystem of an image failed; the image is as it was.
    #[error("{image} was not changed: {source}")]
    Unchanged {
        /// The image file.
        image: PathBuf,
        /// Why the rewrite failed.
        source: Box<Error>,
    },
    /// An image format that is recognized but not supported.
    #[error("{path}: {reason}")]
    UnsupportedFormat {
        /// The image file.
        path: PathBuf,
        /// What the file is and what to do instead.
        reason: String,
    },
    /// A format named by the user contradicts a file's name or contents.
    #[error("{path}: {reason}")]
    FormatMismatch {
        /// The file concerned.
        path: PathBuf,
        /// What contradicts what.
        reason: String,
    },
    /// The target of a write is mounted or held by another device.
    #[error("{path} is in use: {reason}")]
    TargetInUse {
        /// The target device or file.
        path: PathBuf,
        /// Where it is mounted or what holds it.
        reason: String,
    },
    /// The target of a write holds data and overwriting it was not asked for.
    #[error("{path} is not blank ({reason}); use --force to overwrite it")]
    TargetNotBlank {
        /// The target device or file.
        path: PathBuf,
        /// What was found on it.
        reason: String,
    },
    /// Reading back a written target found bytes that differ from the image.
    #[error("verifying {path}: byte offset {offset} differs from the image")]
    VerifyFailed {
        /// The target device or file.
        path: PathBuf,
        /// Offset of the first differing byte.
        offset: u64,
    },
    /// A file that should be an ELF executable or library is not one.
    #[error("{path}: not an ELF executable or library")]
    NotElf {
        /// The file.
        path: PathBuf,
    },
    /// An ELF file whose headers cannot be read.
    #[error("{path}: invalid ELF file: {reason}")]
    InvalidElf {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// An ELF file built for another architecture than the one asked for.
    #[error("{path}: ELF file for {found}, but the target is {expected}")]
    ElfArchitecture {
        /// The file.
        path: PathBuf,
        /// Its class and machine.
        found: String,
        /// The target's class and machine.
        expected: String,
    },
    /// A shared library needed by a binary that the search did not find.
    #[error(
        "{binary}: library {library} (needed by {needed_by}) not found; searched {}",
        if searched.is_empty() { "nothing".to_string() } else { searched.join(", ") }
    )]
    LibraryNotFound {
        /// The binary whose dependencies were being resolved.
        binary: PathBuf,
        /// The library's name (its `DT_NEEDED` entry).
        library: String,
        /// The binary or library that needs it.
        needed_by: PathBuf,
        /// The directories searched, in order.
        searched: Vec<String>,
    },
    /// A kernel module asked for that the modules tree does not have.
    #[error("kernel module {name:?} is not in {dir} (not in modules.dep, modules.alias or modules.builtin)")]
    ModuleNotFound {
        /// The name as given.
        name: String,
        /// The modules directory searched.
        dir: PathBuf,
    },
    /// Kernel modules that depend on each other in a circle.
    #[error("{path}: dependency cycle between kernel modules: {cycle}")]
    ModuleCycle {
        /// The `modules.dep` file.
        path: PathBuf,
        /// The modules of the cycle, `a -> b -> a`.
        cycle: String,
    },
    /// A malformed line of a kernel modules index (`modules.dep`, ...).
    #[error("{path}:{line}: {reason}")]
    ModuleIndex {
        /// The index file.
        path: PathBuf,
        /// Line number, from 1.
        line: usize,
        /// What is wrong with the line.
        reason: String,
    },
    /// A partition that cannot be placed as asked.
    #[error("partition {number} ({}): {field}: {reason}", role.description())]
    Partition {
        /// Its number in the table, from 1.
        number: u32,
        /// What it was to hold.
        role: crate::disk::PartitionRole,
        /// The setting at fault (`size`, `start`, `role`, `type`, `name`,
        /// `uuid`).
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A recipe that cannot be read or built, with where in it the problem
    /// is.
    #[error("{}{}{reason}", recipe_place(path, *line, *column), key_prefix(key))]
    Recipe {
        /// The recipe file.
        path: PathBuf,
        /// 1-based line of the key at fault (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// The key at fault, as a dotted path (`partition[2].size`).
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A partition table that cannot be written.
    #[error("{table} partition table: {reason}")]
    PartitionTable {
        /// The kind of table (MBR, GPT).
        table: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// Building the FAT32 EFI system partition failed.
    #[error("EFI system partition: {what}: {source}")]
    Fat {
        /// What was being done (formatting, a file's path).
        what: String,
        /// The error fatfs returned.
        source: io::Error,
    },
    /// GRUB could not be made or installed.
    #[error("boot loader: {0}")]
    Boot(#[from] grub_embed::Error),
    /// A host file cannot be placed in the tree at the path it needs.
    #[error("cannot place {path} in the image: {reason}")]
    PlacementConflict {
        /// Path inside the image.
        path: String,
        /// What is in the way.
        reason: String,
    },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    ///
    /// # Examples
    ///
    /// ```
    /// fn read_kernel(path: &std::path::Path) -> blockimg::Result<Vec<u8>> {
    ///     std::fs::read(path).map_err(|e| blockimg::Error::io(path, e))
    /// }
    ///
    /// let error = read_kernel("/nonexistent/vmlinuz".as_ref()).unwrap_err();
    /// assert!(error.to_string().contains("/nonexistent/vmlinuz"));
    /// ```
    pub fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

/// `member "PATH": ` for messages about an archive member, nothing for the
/// archive as a whole.
fn member_prefix(member: &str) -> String {
    if member.is_empty() {
        String::new()
    } else {
        format!("member {member:?}: ")
    }
}

/// `PATH:LINE:COLUMN: ` before a message about a recipe.
fn recipe_place(path: &std::path::Path, line: usize, column: usize) -> String {
    match (line, column) {
        (0, _) => format!("{}: ", path.display()),
        (line, 0) => format!("{}:{line}: ", path.display()),
        (line, column) => format!("{}:{line}:{column}: ", path.display()),
    }
}

/// `KEY: ` before a message about a recipe key, nothing without one.
fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}
