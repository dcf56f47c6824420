//! What an ELF executable needs to run: its program interpreter and the
//! shared libraries it loads, found the way glibc's dynamic loader finds
//! them.
//!
//! For each `DT_NEEDED` name of an object, in order: a name with a `/` is a
//! path; otherwise, when the object has no `DT_RUNPATH`, the `DT_RPATH`s of
//! the object and of the objects that loaded it up to the executable; the
//! explicit library path (what `LD_LIBRARY_PATH` would be); the object's
//! `DT_RUNPATH`; the directories of `/etc/ld.so.conf` (what `ldconfig`
//! caches); then the default directories: the multiarch ones
//! (`/lib/x86_64-linux-gnu`, ...), `/lib64` and `/usr/lib64` for 64-bit
//! targets, `/lib` and `/usr/lib`. `$ORIGIN`, `$LIB` and `$PLATFORM` are
//! expanded. Candidates that are not ELF files of the target's class,
//! byte order and machine are skipped, as the loader skips them. A name
//! already found for one object is not searched again for another.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::path::PathBuf;
use std::rc::Rc;

use goblin::elf::Elf;

use super::hostfs::{show, split_last, HostFs};
use super::ldconf;
use crate::arch::Arch;
use crate::error::InitramfsError;
use crate::error::{Error, Result};

/// `e_machine` values used to name targets and pick multiarch directories.
mod machine {
    pub const I386: u16 = 3;
    pub const ARM: u16 = 40;
    pub const X86_64: u16 = 62;
    pub const AARCH64: u16 = 183;
    pub const RISCV: u16 = 243;
    pub const PPC64: u16 = 21;
    pub const S390: u16 = 22;
    pub const LOONGARCH: u16 = 258;
}

/// The class, byte order and machine of ELF files, which must all match
/// for a library to be loadable into a process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ElfArch {
    /// 64-bit (`ELFCLASS64`) rather than 32-bit.
    pub class64: bool,
    /// Little-endian (`ELFDATA2LSB`).
    pub little_endian: bool,
    /// `e_machine`.
    pub machine: u16,
}

impl From<Arch> for ElfArch {
    /// The ELF files a disk of `arch` runs: 64-bit little-endian x86-64 or
    /// AArch64.
    fn from(arch: Arch) -> Self {
        ElfArch {
            class64: true,
            little_endian: true,
            machine: match arch {
                Arch::X86_64 => machine::X86_64,
                Arch::Arm64 => machine::AARCH64,
            },
        }
    }
}

impl ElfArch {
    /// The architecture this program was built for (the default target).
    pub fn host() -> Self {
        let machine = match std::env::consts::ARCH {
            "x86" => machine::I386,
            "arm" => machine::ARM,
            "aarch64" => machine::AARCH64,
            "riscv64" | "riscv32" => machine::RISCV,
            "powerpc64" => machine::PPC64,
            "s390x" => machine::S390,
            "loongarch64" => machine::LOONGARCH,
            _ => machine::X86_64,
        };
        ElfArch {
            class64: cfg!(target_pointer_width = "64"),
            little_endian: cfg!(target_endian = "little"),
            machine,
        }
    }

    /// Reads the architecture from an ELF header; `None` when `header` does
    /// not start like an ELF file.
    pub fn from_header(header: &[u8]) -> Option<Self> {
        if header.get(..4)? != b"\x7fELF" {
            return None;
        }
        let class64 = match header.get(4)? {
            1 => false,
            2 => true,
            _ => return None,
        };
        let little_endian = match header.get(5)? {
            1 => true,
            2 => false,
            _ => return None,
        };
        let raw = [*header.get(18)?, *header.get(19)?];
        let machine = if little_endian {
            u16::from_le_bytes(raw)
        } else {
            u16::from_be_bytes(raw)
        };
        Some(ElfArch {
            class64,
            little_endian,
            machine,
        })
    }

    /// A description for messages, such as `64-bit little-endian x86_64`.
    pub fn describe(&self) -> String {
        format!(
            "{}-bit {}-endian {}",
            if self.class64 { 64 } else { 32 },
            if self.little_endian { "little" } else { "big" },
            match goblin::elf::header::machine_to_str(self.machine) {
                "UNKNOWN_MACHINE" => format!("machine {}", self.machine),
                name => name.to_lowercase(),
            }
        )
    }

    /// The Debian multiarch triplet of the target.
    fn triplet(&self) -> Option<&'static str> {
        Some(match (self.machine, self.class64, self.little_endian) {
            (machine::X86_64, true, _) => "x86_64-linux-gnu",
            (machine::X86_64, false, _) => "x86_64-linux-gnux32",
            (machine::I386, _, _) => "i386-linux-gnu",
            (machine::AARCH64, _, true) => "aarch64-linux-gnu",
            (machine::ARM, _, true) => "arm-linux-gnueabihf",
            (machine::RISCV, true, _) => "riscv64-linux-gnu",
            (machine::PPC64, true, true) => "powerpc64le-linux-gnu",
            (machine::PPC64, true, false) => "powerpc64-linux-gnu",
            (machine::S390, true, _) => "s390x-linux-gnu",
            (machine::LOONGARCH, true, _) => "loongarch64-linux-gnu",
            _ => return None,
        })
    }

    /// What `$PLATFORM` expands to.
    fn platform(&self) -> &'static str {
        match self.machine {
            machine::X86_64 => "x86_64",
            machine::I386 => "i686",
            machine::AARCH64 => "aarch64",
            machine::ARM => "v7l",
            machine::RISCV => "riscv64",
            machine::PPC64 => "powerpc64le",
            machine::S390 => "s390x",
            _ => "",
        }
    }
}

/// The dynamic-linking facts of one ELF file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ElfInfo {
    /// The program interpreter (`PT_INTERP`), for dynamic executables.
    pub interpreter: Option<Vec<u8>>,
    /// `DT_NEEDED` names, in order.
    pub needed: Vec<Vec<u8>>,
    /// `DT_RPATH` directories.
    pub rpath: Vec<Vec<u8>>,
    /// `DT_RUNPATH` directories.
    pub runpath: Vec<Vec<u8>>,
}

impl ElfInfo {
    /// Parses an ELF executable or shared object.
    ///
    /// # Errors
    ///
    /// [`InitramfsError::InvalidElf`](crate::error::InitramfsError::InvalidElf) naming `path` when the headers cannot be read
    /// or the file is neither an executable nor a shared object.
    pub fn parse(bytes: &[u8], path: &str) -> Result<Self> {
        let invalid = |reason: String| {
            Error::from(InitramfsError::InvalidElf {
                path: PathBuf::from(path),
                reason,
            })
        };
        let elf = Elf::parse(bytes).map_err(|e| invalid(e.to_string()))?;
        let kind = elf.header.e_type;
        if kind != goblin::elf::header::ET_EXEC && kind != goblin::elf::header::ET_DYN {
            return Err(invalid(format!(
                "{} file, not an executable or shared library",
                goblin::elf::header::et_to_str(kind)
            )));
        }
        let split = |lists: &[&str]| -> Vec<Vec<u8>> {
            lists
                .iter()
                .flat_map(|l| l.split(':'))
                .filter(|d| !d.is_empty())
                .map(|d| d.as_bytes().to_vec())
                .collect()
        };
        Ok(ElfInfo {
            interpreter: elf.interpreter.map(|i| i.as_bytes().to_vec()),
            needed: elf
                .libraries
                .iter()
                .map(|l| l.as_bytes().to_vec())
                .collect(),
            rpath: split(&elf.rpaths),
            runpath: split(&elf.runpaths),
        })
    }

    /// True for a statically linked executable: no interpreter and no
    /// libraries.
    pub fn is_static(&self) -> bool {
        self.interpreter.is_none() && self.needed.is_empty()
    }
}

/// Finds the files executables need, in a host filesystem.
#[derive(Clone, Debug)]
pub struct Resolver {
    host: HostFs,
    arch: ElfArch,
    library_path: Vec<Vec<u8>>,
    conf_dirs: Vec<Vec<u8>>,
    default_dirs: Vec<Vec<u8>>,
}

/// An object whose libraries are still to be found.
struct Pending {
    /// The image path it was found at.
    path: Vec<u8>,
    info: ElfInfo,
    /// `DT_RPATH` directories of the object and the objects that loaded it,
    /// expanded.
    rpath_chain: Rc<Vec<Vec<u8>>>,
}

impl Resolver {
    /// A resolver for executables of `arch` in `host`, searching
    /// `library_path` (image paths, as `LD_LIBRARY_PATH` would list them)
    /// before the `ld.so.conf` and default directories.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when an `ld.so.conf` file cannot be read.
    pub fn new(host: HostFs, arch: ElfArch, library_path: Vec<Vec<u8>>) -> Result<Self> {
        let conf_dirs = ldconf::directories(&host)?;
        let mut default_dirs = Vec::new();
        if let Some(triplet) = arch.triplet() {
            default_dirs.push(format!("/lib/{triplet}").into_bytes());
            default_dirs.push(format!("/usr/lib/{triplet}").into_bytes());
        }
        if arch.class64 {
            default_dirs.push(b"/lib64".to_vec());
            default_dirs.push(b"/usr/lib64".to_vec());
        }
        default_dirs.push(b"/lib".to_vec());
        default_dirs.push(b"/usr/lib".to_vec());
        Ok(Resolver {
            host,
            arch,
            library_path,
            conf_dirs,
            default_dirs,
        })
    }

    /// Reads the ELF file at image path `path`, checking that it is one and
    /// for the target.
    ///
    /// # Errors
    ///
    /// [`Error::Io`], [`InitramfsError::NotElf`](crate::error::InitramfsError::NotElf), [`InitramfsError::ElfArchitecture`](crate::error::InitramfsError::ElfArchitecture),
    /// [`InitramfsError::InvalidElf`](crate::error::InitramfsError::InvalidElf), each naming the file.
    pub fn read(&self, path: &[u8]) -> Result<ElfInfo> {
        let host = self.host.host_path(path);
        let file = self.host.host_path(&self.host.resolve(path)?.path);
        let bytes = std::fs::read(&file).map_err(|e| Error::io(&host, e))?;
        match ElfArch::from_header(&bytes) {
            None => Err(Error::from(InitramfsError::NotElf { path: host })),
            Some(arch) if arch != self.arch => Err(Error::from(InitramfsError::ElfArchitecture {
                path: host,
                found: arch.describe(),
                expected: self.arch.describe(),
            })),
            Some(_) => ElfInfo::parse(&bytes, &show(path)),
        }
    }

    /// The image paths of everything the executable at image path `binary`
    /// needs (its interpreter, then its libraries breadth-first), not
    /// including `binary` itself. A static executable needs nothing.
    ///
    /// # Errors
    ///
    /// Those of [`Resolver::read`] for the binary and its interpreter;
    /// [`InitramfsError::LibraryNotFound`](crate::error::InitramfsError::LibraryNotFound) naming the binary, the library and the
    /// object that needs it.
    pub fn dependencies(&self, binary: &[u8]) -> Result<Vec<Vec<u8>>> {
        let info = self.read(binary)?;
        let canonical = self.host.resolve(binary)?.path;
        let mut found: Vec<Vec<u8>> = Vec::new();
        let mut by_name: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
        let mut queue = VecDeque::new();
        if let Some(interp) = &info.interpreter {
            let interp_info = self.read(interp)?;
            found.push(interp.clone());
            if let Some((_, name)) = split_last(interp) {
                by_name.insert(name.to_vec(), interp.clone());
            }
            queue.push_back(Pending {
                path: interp.clone(),
                info: interp_info,
                rpath_chain: Rc::new(Vec::new()),
            });
        }
        let chain = if info.runpath.is_empty() {
            Rc::new(self.expand_all(&info.rpath, &canonical))
        } else {
            Rc::new(Vec::new())
        };
        queue.push_front(Pending {
            path: canonical,
            info,
            rpath_chain: chain,
        });
        while let Some(object) = queue.pop_front() {
            for name in &object.info.needed {
                if by_name.contains_key(name) {
                    continue;
                }
                let (path, searched) = self.search(name, &object);
                let Some(path) = path else {
                    return Err(Error::from(InitramfsError::LibraryNotFound {
                        binary: PathBuf::from(show(binary)),
                        library: show(name),
                        needed_by: PathBuf::from(show(&object.path)),
                        searched: searched.iter().map(|d| show(d)).collect(),
                    }));
                };
                by_name.insert(name.clone(), path.clone());
                if found.contains(&path) {
                    continue;
                }
                let info = self.read(&path)?;
                let mut chain = Vec::new();
                if info.runpath.is_empty() {
                    chain = self.expand_all(&info.rpath, &path);
                }
                chain.extend(object.rpath_chain.iter().cloned());
                found.push(path.clone());
                queue.push_back(Pending {
                    path,
                    info,
                    rpath_chain: Rc::new(chain),
                });
            }
        }
        Ok(found)
    }

    /// Searches for library `name` needed by `object`; returns the image
    /// path found (if any) and the directories searched.
    fn search(&self, name: &[u8], object: &Pending) -> (Option<Vec<u8>>, Vec<Vec<u8>>) {
        if name.contains(&b'/') {
            let found = self.loadable(name).then(|| name.to_vec());
            return (found, Vec::new());
        }
        let mut dirs: Vec<Vec<u8>> = Vec::new();
        if object.info.runpath.is_empty() {
            dirs.extend(object.rpath_chain.iter().cloned());
        }
        dirs.extend(self.library_path.iter().cloned());
        dirs.extend(self.expand_all(&object.info.runpath, &object.path));
        dirs.extend(self.conf_dirs.iter().cloned());
        dirs.extend(self.default_dirs.iter().cloned());
        let mut searched: Vec<Vec<u8>> = Vec::new();
        for dir in dirs {
            if !dir.starts_with(b"/") || searched.contains(&dir) {
                continue;
            }
            let candidate = [&dir[..], b"/", name].concat();
            if self.loadable(&candidate) {
                return (Some(candidate), searched);
            }
            searched.push(dir);
        }
        (None, searched)
    }

    /// True when image path `path` is an ELF file of the target.
    fn loadable(&self, path: &[u8]) -> bool {
        let Ok(resolved) = self.host.resolve(path) else {
            return false;
        };
        let mut header = [0u8; 20];
        File::open(self.host.host_path(&resolved.path))
            .and_then(|mut f| f.read_exact(&mut header))
            .is_ok()
            && ElfArch::from_header(&header) == Some(self.arch)
    }

    /// Expands `$ORIGIN` (the directory of `object`), `$LIB` and
    /// `$PLATFORM` in each directory.
    fn expand_all(&self, dirs: &[Vec<u8>], object: &[u8]) -> Vec<Vec<u8>> {
        let origin = split_last(object).map(|(p, _)| p).unwrap_or_default();
        let lib: Vec<u8> = match self.arch.triplet() {
            Some(t) if self.host.host_path(format!("/lib/{t}").as_bytes()).is_dir() => {
                format!("lib/{t}").into_bytes()
            }
            _ if self.arch.class64 => b"lib64".to_vec(),
            _ => b"lib".to_vec(),
        };
        let platform = self.arch.platform().as_bytes();
        dirs.iter()
            .map(|dir| {
                let mut dir = dir.clone();
                for (token, value) in [
                    (&b"ORIGIN"[..], &origin[..]),
                    (b"LIB", &lib[..]),
                    (b"PLATFORM", platform),
                ] {
                    dir = replace(&dir, &[b"${", token, b"}"].concat(), value);
                    dir = replace(&dir, &[b"$", token].concat(), value);
                }
                dir
            })
            .collect()
    }
}

/// `text` with every `from` replaced by `to`.
fn replace(text: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(text[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_architecture_and_descriptions() {
        let mut h = [0u8; 20];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[18] = 183;
        let a = ElfArch::from_header(&h).unwrap();
        assert_eq!((a.class64, a.little_endian, a.machine), (true, true, 183));
        assert_eq!(a.describe(), "64-bit little-endian aarch64");
        h[4] = 1;
        h[18] = 3;
        assert_eq!(
            ElfArch::from_header(&h).unwrap().describe(),
            "32-bit little-endian 386"
        );
        assert_eq!(ElfArch::from_header(b"#!/bin/sh\n"), None);
        assert_eq!(ElfArch::from_header(b"\x7fEL"), None);
    }

    #[test]
    fn each_disk_architecture_is_its_elf_machine() {
        assert_eq!(
            ElfArch::from(Arch::Arm64).describe(),
            "64-bit little-endian aarch64"
        );
        assert_eq!(
            ElfArch::from(Arch::X86_64).describe(),
            "64-bit little-endian x86_64"
        );
        assert_eq!(
            ElfArch::from(Arch::Arm64).triplet(),
            Some("aarch64-linux-gnu")
        );
        if let Some(host) = Arch::host() {
            assert_eq!(ElfArch::from(host), ElfArch::host());
        }
    }

    #[test]
    fn origin_and_tokens_expand() {
        let r = Resolver {
            host: HostFs::new("/nonexistent"),
            arch: ElfArch {
                class64: true,
                little_endian: true,
                machine: machine::X86_64,
            },
            library_path: Vec::new(),
            conf_dirs: Vec::new(),
            default_dirs: Vec::new(),
        };
        let got = r.expand_all(
            &[
                b"$ORIGIN/../lib".to_vec(),
                b"/opt/${LIB}/$PLATFORM".to_vec(),
            ],
            b"/opt/app/bin/app",
        );
        assert_eq!(
            got,
            vec![
                b"/opt/app/bin/../lib".to_vec(),
                b"/opt/lib64/x86_64".to_vec()
            ]
        );
    }

    #[test]
    fn the_host_shell_needs_its_interpreter_and_libc() {
        let bin: &[u8] = b"/bin/sh";
        let host = HostFs::new("/");
        let Ok(resolved) = host.resolve(bin) else {
            return;
        };
        let resolver = Resolver::new(host, ElfArch::host(), Vec::new()).unwrap();
        let Ok(info) = resolver.read(&resolved.path) else {
            return;
        };
        if info.is_static() {
            return;
        }
        let deps = resolver.dependencies(bin).unwrap();
        assert_eq!(deps.first(), info.interpreter.as_ref());
        assert!(
            deps.iter().any(|d| show(d).contains("libc.so")),
            "{:?}",
            deps.iter().map(|d| show(d)).collect::<Vec<_>>()
        );
    }
}
