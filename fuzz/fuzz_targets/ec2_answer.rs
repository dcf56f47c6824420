//! EC2's XML answers come from a server: reading any element of any text
//! gives its text or nothing, never a panic.
#![no_main]

use blockimg::ebs::query::field;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    for name in ["status", "imageState", "imageId", "Code", "Message", "statusMessage"] {
        if let Some(value) = field(text, name) {
            assert!(value.len() <= text.len());
        }
    }
});
