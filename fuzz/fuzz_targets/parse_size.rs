//! Size strings come from users: parsing any of them must not panic, and a
//! parsed size must print and parse back to a size.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    if let Ok(bytes) = blockimg::size::parse_size(text) {
        assert!(bytes > 0);
        let _ = blockimg::size::format_size(bytes);
        assert_eq!(blockimg::size::parse_size(&bytes.to_string()).ok(), Some(bytes));
    }
});
