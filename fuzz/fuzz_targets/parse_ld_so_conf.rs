//! `ld.so.conf` files are read from the system whose executables are
//! copied: parsing any bytes must not panic, and every directory parsed is a
//! non-empty word without separators.
#![no_main]

use blockimg::glob::glob_match;
use blockimg::initramfs::ldconf::{parse, Directive};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for directive in parse(data) {
        match directive {
            Directive::Dir(dir) => {
                assert!(!dir.is_empty());
                assert!(!dir
                    .iter()
                    .any(|b| b":,#=".contains(b) || b.is_ascii_whitespace()));
            }
            Directive::Include(pattern) => {
                // A pattern matches itself when it has no special characters.
                if !pattern.iter().any(|b| b"*?[".contains(b)) {
                    assert!(glob_match(&pattern, &pattern));
                }
                let _ = glob_match(&pattern, data);
            }
        }
    }
});
