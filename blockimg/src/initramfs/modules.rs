//! Kernel modules: the dependency closure and load order of the modules
//! asked for, from a modules tree (`/lib/modules/VERSION`) and its
//! `modules.dep`, and the index files regenerated for that subset.
//!
//! `modules.dep` lists, for each module file, every module it needs
//! (depmod writes the whole transitive list, ordered so that loading it from
//! last to first works). Names are file names without `.ko` and a
//! compression suffix, with `-` and `_` equivalent. Modules named in
//! `modules.softdep` (`pre:` and `post:`, through `modules.alias` when they
//! are aliases) come along and load before or after their module; they are
//! optional, as for modprobe. Compressed modules (`.ko.xz`, `.ko.zst`,
//! `.ko.gz`) are kept as they are.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::InitramfsError;
use crate::error::{Error, Result};

/// Index files copied unchanged: they describe the kernel's built-in
/// modules, which a subset does not change.
const COPIED: &[&str] = &[
    "modules.builtin",
    "modules.builtin.modinfo",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
];

/// Decides whether a line of an index file is kept.
type LineFilter<'a> = dyn Fn(&str) -> bool + 'a;

/// One line of `modules.dep`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleDep {
    /// Path of the module file relative to the modules directory.
    pub path: String,
    /// Paths of the modules it needs, in the file's order.
    pub deps: Vec<String>,
    /// Line number in the file, from 1.
    pub line: usize,
}

/// Parses `modules.dep`. `file` names it in errors.
///
/// # Errors
///
/// [`InitramfsError::ModuleIndex`](crate::error::InitramfsError::ModuleIndex) for a line that is not UTF-8, has no `:`, names
/// no module, names a path that is absolute or contains `..`, or lists a
/// module twice.
pub fn parse_modules_dep(text: &[u8], file: &Path) -> Result<Vec<ModuleDep>> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (index, raw) in text.split(|&b| b == b'\n').enumerate() {
        let line = index + 1;
        let bad = |reason: String| {
            Error::from(InitramfsError::ModuleIndex {
                path: file.to_path_buf(),
                line,
                reason,
            })
        };
        let text = std::str::from_utf8(raw).map_err(|_| bad("not UTF-8".into()))?;
        let text = text.trim();
        if text.is_empty() || text.starts_with('#') {
            continue;
        }
        let (path, deps) = text
            .split_once(':')
            .ok_or_else(|| bad(format!("{text:?} has no ':'")))?;
        let path = path.trim();
        check_module_path(path).map_err(&bad)?;
        let deps: Vec<String> = deps.split_whitespace().map(str::to_owned).collect();
        for dep in &deps {
            check_module_path(dep).map_err(&bad)?;
        }
        if !seen.insert(path.to_owned()) {
            return Err(bad(format!("{path} is listed twice")));
        }
        out.push(ModuleDep {
            path: path.to_owned(),
            deps,
            line,
        });
    }
    Ok(out)
}

/// Checks that a module path stays inside the modules directory.
fn check_module_path(path: &str) -> std::result::Result<(), String> {
    if path.is_empty() {
        return Err("empty module path".into());
    }
    if path.starts_with('/') || path.split('/').any(|c| c == ".." || c.is_empty()) {
        return Err(format!(
            "module path {path:?} must be relative, without '..' or empty components"
        ));
    }
    if path.contains('\0') {
        return Err(format!("module path {path:?} contains NUL"));
    }
    Ok(())
}

/// The module name of a module path: its file name up to `.ko`, with `-`
/// written as `_`.
pub fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    let stem = match file.find(".ko") {
        Some(at) => &file[..at],
        None => file,
    };
    normalize(stem)
}

/// A module name with `-` written as `_` (the kernel treats them alike).
pub fn normalize(name: &str) -> String {
    name.replace('-', "_")
}

/// `alias PATTERN MODULE` lines (of `modules.alias` or `modules.symbols`):
/// pattern and normalized module name. Other lines are skipped.
pub fn parse_aliases(text: &[u8]) -> Vec<(String, String)> {
    lines(text)
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            match (words.next(), words.next(), words.next()) {
                (Some("alias"), Some(alias), Some(module)) => {
                    Some((alias.to_owned(), normalize(module)))
                }
                _ => None,
            }
        })
        .collect()
}

/// Soft dependencies of one module.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SoftDep {
    /// Modules or aliases to load before it.
    pub pre: Vec<String>,
    /// Modules or aliases to load after it.
    pub post: Vec<String>,
}

/// `softdep MODULE pre: ... post: ...` lines of `modules.softdep`, by
/// normalized module name; words outside `pre:`/`post:` are ignored.
pub fn parse_softdeps(text: &[u8]) -> HashMap<String, SoftDep> {
    let mut out: HashMap<String, SoftDep> = HashMap::new();
    for line in lines(text) {
        let mut words = line.split_whitespace();
        let (Some("softdep"), Some(module)) = (words.next(), words.next()) else {
            continue;
        };
        let entry = out.entry(normalize(module)).or_default();
        let mut list: Option<&mut Vec<String>> = None;
        for word in words {
            match word {
                "pre:" => list = Some(&mut entry.pre),
                "post:" => list = Some(&mut entry.post),
                _ => {
                    if let Some(list) = list.as_deref_mut() {
                        list.push(word.to_owned());
                    }
                }
            }
        }
    }
    out
}

/// The non-comment lines of a text index, lossily decoded.
fn lines(text: &[u8]) -> impl Iterator<Item = String> + '_ {
    text.split(|&b| b == b'\n')
        .map(|l| String::from_utf8_lossy(l).trim().to_owned())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// A kernel modules directory, as its index files describe it.
#[derive(Clone, Debug)]
pub struct ModuleTree {
    dir: PathBuf,
    modules: Vec<ModuleDep>,
    by_name: HashMap<String, usize>,
    by_path: HashMap<String, usize>,
    aliases: Vec<(String, String)>,
    softdeps: HashMap<String, SoftDep>,
    builtin: HashSet<String>,
}

/// One module to load.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Load {
    /// Its name.
    pub name: String,
    /// Its path relative to the modules directory.
    pub path: String,
    /// True when it comes only as a soft dependency: failing to load it is
    /// not an error.
    pub optional: bool,
}

/// The modules selected from a tree.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// Modules in an order in which each loads after what it needs.
    pub load: Vec<Load>,
    /// Names asked for that are built into the kernel (nothing to load).
    pub builtin: Vec<String>,
}

impl ModuleTree {
    /// Reads the index files of the modules directory `dir`: `modules.dep`
    /// (required), `modules.alias`, `modules.softdep` and `modules.builtin`
    /// (when present).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `modules.dep` cannot be read; the errors of
    /// [`parse_modules_dep`]; [`InitramfsError::ModuleIndex`](crate::error::InitramfsError::ModuleIndex) when a dependency has
    /// no line of its own.
    pub fn open(dir: &Path) -> Result<Self> {
        let dep_file = dir.join("modules.dep");
        let text = fs::read(&dep_file).map_err(|e| Error::io(&dep_file, e))?;
        let optional = |name: &str| -> Result<Vec<u8>> {
            let path = dir.join(name);
            match fs::read(&path) {
                Ok(bytes) => Ok(bytes),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(Error::io(&path, e)),
            }
        };
        let builtin = lines(&optional("modules.builtin")?)
            .map(|path| module_name(&path))
            .collect();
        Self::from_parts(
            dir,
            parse_modules_dep(&text, &dep_file)?,
            parse_aliases(&optional("modules.alias")?),
            parse_softdeps(&optional("modules.softdep")?),
            builtin,
        )
    }

    /// A tree from already parsed index files.
    ///
    /// # Errors
    ///
    /// [`InitramfsError::ModuleIndex`](crate::error::InitramfsError::ModuleIndex) when a dependency has no line of its own or
    /// two lines name modules of the same name.
    pub fn from_parts(
        dir: &Path,
        modules: Vec<ModuleDep>,
        aliases: Vec<(String, String)>,
        softdeps: HashMap<String, SoftDep>,
        builtin: HashSet<String>,
    ) -> Result<Self> {
        let dep_file = dir.join("modules.dep");
        let mut by_name = HashMap::new();
        let mut by_path = HashMap::new();
        for (index, module) in modules.iter().enumerate() {
            by_path.insert(module.path.clone(), index);
            if by_name.insert(module_name(&module.path), index).is_some() {
                return Err(Error::from(InitramfsError::ModuleIndex {
                    path: dep_file,
                    line: module.line,
                    reason: format!("a second module named {}", module_name(&module.path)),
                }));
            }
        }
        for module in &modules {
            if let Some(dep) = module.deps.iter().find(|d| !by_path.contains_key(*d)) {
                return Err(Error::from(InitramfsError::ModuleIndex {
                    path: dep_file,
                    line: module.line,
                    reason: format!("{} needs {dep}, which has no line of its own", module.path),
                }));
            }
        }
        Ok(ModuleTree {
            dir: dir.to_path_buf(),
            modules,
            by_name,
            by_path,
            aliases,
            softdeps,
            builtin,
        })
    }

    /// The modules directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The kernel version the tree is for: the directory's name.
    pub fn version(&self) -> String {
        self.dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    /// The modules a name stands for: the module of that name, or those an
    /// exact alias names.
    fn lookup(&self, name: &str) -> Vec<usize> {
        if let Some(&index) = self.by_name.get(&normalize(name)) {
            return vec![index];
        }
        let mut found: Vec<usize> = self
            .aliases
            .iter()
            .filter(|(alias, _)| alias == name)
            .filter_map(|(_, module)| self.by_name.get(module).copied())
            .collect();
        found.sort_unstable();
        found.dedup();
        found
    }

    /// The modules `names` need, in load order.
    ///
    /// # Errors
    ///
    /// [`InitramfsError::ModuleNotFound`](crate::error::InitramfsError::ModuleNotFound) for a name that is neither a module, an
    /// alias of one, nor built in; [`InitramfsError::ModuleCycle`](crate::error::InitramfsError::ModuleCycle) naming the cycle
    /// when modules need each other.
    pub fn select(&self, names: &[String]) -> Result<Selection> {
        let mut selection = Selection::default();
        let mut roots = Vec::new();
        for name in names {
            let found = self.lookup(name);
            if !found.is_empty() {
                roots.extend(found);
            } else if self.builtin.contains(&normalize(name)) {
                selection.builtin.push(name.clone());
            } else {
                return Err(Error::from(InitramfsError::ModuleNotFound {
                    name: name.clone(),
                    dir: self.dir.clone(),
                }));
            }
        }
        let required = self.required(&roots);
        for index in self.order(&roots)? {
            let path = &self.modules[index].path;
            selection.load.push(Load {
                name: module_name(path),
                path: path.clone(),
                optional: !required.contains(&index),
            });
        }
        Ok(selection)
    }

    /// The modules `roots` need through `modules.dep`, themselves included.
    fn required(&self, roots: &[usize]) -> HashSet<usize> {
        let mut required: HashSet<usize> = roots.iter().copied().collect();
        let mut pending: Vec<usize> = roots.to_vec();
        while let Some(index) = pending.pop() {
            for dep in &self.modules[index].deps {
                if let Some(&dep) = self.by_path.get(dep) {
                    if required.insert(dep) {
                        pending.push(dep);
                    }
                }
            }
        }
        required
    }

    /// Depth-first, post-order walk from `roots`: each module after the
    /// modules it needs (visited from the last listed to the first, the
    /// order modprobe loads them in) and its `pre:` soft dependencies, and
    /// before its `post:` ones.
    fn order(&self, roots: &[usize]) -> Result<Vec<usize>> {
        #[derive(Clone, Copy, PartialEq)]
        enum State {
            New,
            Open,
            Done,
        }
        enum Step {
            Visit { index: usize, soft: bool },
            Emit(usize),
        }
        let mut state = vec![State::New; self.modules.len()];
        let mut order = Vec::new();
        // The walk's stack of pending steps, and the modules being visited
        // (to name a cycle).
        let mut steps: Vec<Step> = roots
            .iter()
            .rev()
            .map(|&index| Step::Visit { index, soft: false })
            .collect();
        let mut open: Vec<usize> = Vec::new();
        while let Some(step) = steps.pop() {
            match step {
                Step::Emit(index) => {
                    state[index] = State::Done;
                    order.push(index);
                    open.retain(|&i| i != index);
                }
                Step::Visit { index, soft } => match state[index] {
                    State::Done => {}
                    State::Open if soft => {}
                    State::Open => return Err(self.cycle(&open, index)),
                    State::New => {
                        state[index] = State::Open;
                        open.push(index);
                        let name = module_name(&self.modules[index].path);
                        let soft_deps = self.softdeps.get(&name);
                        let soft_of = |names: Option<&Vec<String>>| -> Vec<usize> {
                            names
                                .into_iter()
                                .flatten()
                                .flat_map(|n| self.lookup(n))
                                .filter(|&i| i != index)
                                .collect()
                        };
                        // Pushed in reverse: post soft deps run last.
                        for i in soft_of(soft_deps.map(|s| &s.post)).into_iter().rev() {
                            steps.push(Step::Visit {
                                index: i,
                                soft: true,
                            });
                        }
                        steps.push(Step::Emit(index));
                        for dep in &self.modules[index].deps {
                            if let Some(&i) = self.by_path.get(dep) {
                                steps.push(Step::Visit {
                                    index: i,
                                    soft: false,
                                });
                            }
                        }
                        for i in soft_of(soft_deps.map(|s| &s.pre)).into_iter().rev() {
                            steps.push(Step::Visit {
                                index: i,
                                soft: true,
                            });
                        }
                    }
                },
            }
        }
        Ok(order)
    }

    /// The error for a cycle closing at `index`, with the modules being
    /// visited.
    fn cycle(&self, open: &[usize], index: usize) -> Error {
        let start = open.iter().position(|&i| i == index).unwrap_or(0);
        let mut names: Vec<String> = open[start..]
            .iter()
            .map(|&i| module_name(&self.modules[i].path))
            .collect();
        names.push(module_name(&self.modules[index].path));
        Error::from(InitramfsError::ModuleCycle {
            path: self.dir.join("modules.dep"),
            cycle: names.join(" -> "),
        })
    }

    /// The index files for a modules directory holding only the selected
    /// modules: `modules.dep`, `modules.alias`, `modules.softdep`,
    /// `modules.symbols`, `modules.order` and `modules.devname` filtered to
    /// them, and the built-in lists copied. Files the tree lacks are left
    /// out. `stored` gives the path each module file has in the image (its
    /// path here, or another when it is stored decompressed).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when an existing index file cannot be read.
    pub fn index_files(
        &self,
        selection: &Selection,
        stored: &dyn Fn(&str) -> String,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let paths: BTreeSet<&str> = selection.load.iter().map(|l| l.path.as_str()).collect();
        let names: HashSet<String> = selection.load.iter().map(|l| l.name.clone()).collect();
        let mut dep = Vec::new();
        for module in self
            .modules
            .iter()
            .filter(|m| paths.contains(m.path.as_str()))
        {
            dep.extend_from_slice(stored(&module.path).as_bytes());
            dep.push(b':');
            for d in &module.deps {
                dep.push(b' ');
                dep.extend_from_slice(stored(d).as_bytes());
            }
            dep.push(b'\n');
        }
        let mut files = vec![("modules.dep".to_owned(), dep)];
        let word = |line: &str, n: usize| line.split_whitespace().nth(n).map(normalize);
        let filters: [(&str, &LineFilter); 5] = [
            ("modules.alias", &|l| {
                word(l, 2).is_some_and(|m| names.contains(&m))
            }),
            ("modules.softdep", &|l| {
                word(l, 1).is_some_and(|m| names.contains(&m))
            }),
            ("modules.symbols", &|l| {
                word(l, 2).is_some_and(|m| names.contains(&m))
            }),
            ("modules.order", &|l| paths.contains(l.trim())),
            ("modules.devname", &|l| {
                word(l, 0).is_some_and(|m| names.contains(&m))
            }),
        ];
        for (file, keep) in filters {
            if let Some(text) = self.read_index(file)? {
                let mut kept = Vec::new();
                for line in text.split_inclusive(|&b| b == b'\n') {
                    let text = String::from_utf8_lossy(line);
                    if file == "modules.order" && keep(&text) {
                        kept.extend_from_slice(stored(text.trim()).as_bytes());
                        kept.push(b'\n');
                    } else if text.trim_start().starts_with('#') || keep(&text) {
                        kept.extend_from_slice(line);
                    }
                }
                files.push((file.to_owned(), kept));
            }
        }
        for file in COPIED {
            if let Some(bytes) = self.read_index(file)? {
                files.push(((*file).to_owned(), bytes));
            }
        }
        Ok(files)
    }

    fn read_index(&self, name: &str) -> Result<Option<Vec<u8>>> {
        let path = self.dir.join(name);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(dep: &str, softdep: &str, alias: &str, builtin: &[&str]) -> ModuleTree {
        let dir = Path::new("/m/6.1.0-test");
        ModuleTree::from_parts(
            dir,
            parse_modules_dep(dep.as_bytes(), &dir.join("modules.dep")).unwrap(),
            parse_aliases(alias.as_bytes()),
            parse_softdeps(softdep.as_bytes()),
            builtin.iter().map(|s| s.to_string()).collect(),
        )
        .unwrap()
    }

    fn names(sel: &Selection) -> Vec<String> {
        sel.load
            .iter()
            .map(|l| format!("{}{}", l.name, if l.optional { "?" } else { "" }))
            .collect()
    }

    const DEP: &str = "kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.zst kernel/fs/mbcache.ko kernel/fs/jbd2/jbd2.ko.gz\n\
kernel/fs/jbd2/jbd2.ko.gz:\n\
kernel/fs/mbcache.ko:\n\
kernel/lib/crc16.ko.zst:\n\
kernel/crypto/crc32c_generic.ko:\n\
kernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\n\
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\n\
kernel/drivers/virtio/virtio_ring.ko:\n";

    #[test]
    fn closure_in_load_order_with_soft_dependencies_through_aliases() {
        let t = tree(
            DEP,
            "softdep ext4 pre: crypto-crc32c\nsoftdep jbd2 pre: crypto-crc32c\n",
            "alias crypto-crc32c crc32c_generic\nalias fs-ext4 ext4\n",
            &["unix"],
        );
        let sel = t
            .select(&["virtio-blk".into(), "fs-ext4".into(), "unix".into()])
            .unwrap();
        assert_eq!(
            names(&sel),
            [
                "virtio_ring",
                "virtio",
                "virtio_blk",
                "crc32c_generic?",
                "jbd2",
                "mbcache",
                "crc16",
                "ext4"
            ]
        );
        assert_eq!(sel.builtin, ["unix"]);
        assert_eq!(sel.load[7].path, "kernel/fs/ext4/ext4.ko.xz");
    }

    #[test]
    fn missing_modules_and_cycles_are_errors_naming_them() {
        let t = tree(DEP, "", "", &[]);
        let err = t.select(&["nosuch".into()]).unwrap_err();
        assert!(err.to_string().contains("\"nosuch\""), "{err}");
        let t = tree("a.ko: b.ko\nb.ko: c.ko\nc.ko: a.ko\n", "", "", &[]);
        let err = t.select(&["a".into()]).unwrap_err();
        assert!(err.to_string().contains("a -> b -> c -> a"), "{err}");
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let file = Path::new("modules.dep");
        for (text, want) in [
            ("a.ko: b.ko\nno colon here\n", ":2:"),
            ("/abs.ko:\n", ":1:"),
            ("x/../../etc.ko:\n", ":1:"),
            ("a.ko:\na.ko:\n", ":2:"),
        ] {
            let err = parse_modules_dep(text.as_bytes(), file).unwrap_err();
            assert!(err.to_string().contains(want), "{text:?}: {err}");
        }
        let dir = Path::new("/m");
        let deps = parse_modules_dep(b"a.ko: missing.ko\n", file).unwrap();
        let err =
            ModuleTree::from_parts(dir, deps, vec![], HashMap::new(), HashSet::new()).unwrap_err();
        assert!(err.to_string().contains("missing.ko"), "{err}");
    }

    #[test]
    fn names_strip_compression_and_unify_dashes() {
        assert_eq!(module_name("kernel/x/virtio-rng.ko.zst"), "virtio_rng");
        assert_eq!(module_name("a.ko"), "a");
        assert_eq!(module_name("kernel/b.ko.xz"), "b");
    }

    #[test]
    fn index_files_keep_only_the_subset() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        fs::write(d.join("modules.dep"), DEP).unwrap();
        fs::write(
            d.join("modules.alias"),
            "# Aliases\nalias fs-ext4 ext4\nalias virtio:d00000002v* virtio_blk\nalias pci:v1AF4* virtio_pci\n",
        )
        .unwrap();
        fs::write(
            d.join("modules.order"),
            "kernel/fs/mbcache.ko\nkernel/other.ko\n",
        )
        .unwrap();
        fs::write(d.join("modules.builtin"), "kernel/net/unix/unix.ko\n").unwrap();
        let t = ModuleTree::open(d).unwrap();
        let sel = t.select(&["mbcache".into(), "virtio_blk".into()]).unwrap();
        let stored = |p: &str| p.replace("mbcache.ko", "mbcache.ko.zst");
        let files: HashMap<String, Vec<u8>> =
            t.index_files(&sel, &stored).unwrap().into_iter().collect();
        assert_eq!(
            String::from_utf8_lossy(&files["modules.dep"]),
            "kernel/fs/mbcache.ko.zst:\nkernel/drivers/block/virtio_blk.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko\nkernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko\nkernel/drivers/virtio/virtio_ring.ko:\n"
        );
        assert_eq!(
            String::from_utf8_lossy(&files["modules.alias"]),
            "# Aliases\nalias virtio:d00000002v* virtio_blk\n"
        );
        assert_eq!(files["modules.order"], b"kernel/fs/mbcache.ko.zst\n");
        assert_eq!(files["modules.builtin"], b"kernel/net/unix/unix.ko\n");
        assert!(!files.contains_key("modules.softdep"));
    }
}
