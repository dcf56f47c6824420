//! Parses and checks arbitrary bytes as a recipe: every input is either a
//! recipe or an error naming a line, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = std::path::Path::new("/nonexistent-fuzz-dir/image.toml");
    if let Ok(recipe) = blockimg::recipe::parse(text, path) {
        // A parsed recipe describes itself without panicking either.
        let _ = recipe.partitions.len();
    }
});
