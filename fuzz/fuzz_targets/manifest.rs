//! Manifests are user input: parsing any bytes gives a manifest or an error
//! naming the line, and applying a manifest to a tree gives a tree or an
//! error, never a panic or a hang (globs included).
#![no_main]

use std::path::PathBuf;

use blockimg::source::manifest::parse;
use blockimg::tree::{Metadata, Node, NodeKind, Timestamp, Tree};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(manifest) = parse(bytes, "fuzz.manifest", PathBuf::from("/nonexistent")) else {
        return;
    };
    let time = Timestamp::from_secs(0);
    let mut tree = Tree::new(Metadata::directory(time));
    let dir = || Node::new(Metadata::directory(time), NodeKind::Directory(Default::default()));
    if let Ok(etc) = tree.add(Tree::ROOT, b"etc", dir()) {
        let _ = tree.add(etc, b"passwd", Node::new(Metadata::directory(time), NodeKind::Fifo));
    }
    let _ = manifest.apply(&mut tree, time);
});
