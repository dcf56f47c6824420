//! InitramfsError: what an initramfs build refuses: ELF files, libraries and kernel modules that cannot be resolved.

use std::path::PathBuf;

/// What an initramfs build refuses: ELF files, libraries and kernel modules that cannot be resolved.
///
/// # Examples
///
/// ```
/// use blockimg::error::InitramfsError;
///
/// let err = blockimg::Error::from(InitramfsError::NotElf { path: "/etc/hostname".into() });
/// assert_eq!(err.to_string(), "/etc/hostname: not an ELF executable or library");
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum InitramfsError {
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
}
