//! Kernel module indexes (`modules.dep`, `modules.alias`, `modules.softdep`)
//! come from modules trees users point at: parsing any bytes must not panic,
//! and choosing modules from whatever parsed must end, with a load order in
//! which every module comes after the modules it needs, or with an error.
#![no_main]

use std::collections::{HashMap, HashSet};
use std::path::Path;

use blockimg::initramfs::modules::{
    module_name, parse_aliases, parse_modules_dep, parse_softdeps, ModuleTree,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first part is modules.dep, the rest modules.softdep and
    // modules.alias (split at the first two NULs).
    let mut parts = data.splitn(3, |&b| b == 0);
    let dep = parts.next().unwrap_or_default();
    let softdep = parts.next().unwrap_or_default();
    let alias = parts.next().unwrap_or_default();
    let dir = Path::new("/m/6.0.0");
    let Ok(modules) = parse_modules_dep(dep, &dir.join("modules.dep")) else {
        return;
    };
    let names: Vec<String> = modules.iter().map(|m| module_name(&m.path)).collect();
    let deps: HashMap<String, Vec<String>> = modules
        .iter()
        .map(|m| (m.path.clone(), m.deps.clone()))
        .collect();
    let Ok(tree) = ModuleTree::from_parts(
        dir,
        modules,
        parse_aliases(alias),
        parse_softdeps(softdep),
        HashSet::new(),
    ) else {
        return;
    };
    if let Ok(selection) = tree.select(&names) {
        let mut loaded = HashSet::new();
        for load in &selection.load {
            for dep in &deps[&load.path] {
                assert!(loaded.contains(dep), "{} loads before {dep}", load.path);
            }
            loaded.insert(load.path.clone());
        }
    }
});
