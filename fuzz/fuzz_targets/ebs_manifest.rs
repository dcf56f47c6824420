//! Block manifests are files users keep between uploads: parsing any bytes
//! gives a manifest or an error naming the line, never a panic, and a
//! manifest parsed prints and parses back to itself.
#![no_main]

use std::path::Path;

use blockimg::ebs::Manifest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let Ok(manifest) = Manifest::parse(bytes, Path::new("fuzz.blocks")) else {
        return;
    };
    let again = Manifest::parse(manifest.to_text().as_bytes(), Path::new("again"));
    assert_eq!(again.ok(), Some(manifest));
});
