//! Builder-style setters for the option structs an embedder fills in
//! (`Ext4Options::default().label("root".into())`): the structs are
//! `#[non_exhaustive]`, so a new field is not a breaking change, and these
//! setters are how code outside the crate sets their fields.

/// Implements, for each listed field of `$ty` (whose public path is
/// `$path`), a method of the field's name that returns the struct with that
/// field set.
macro_rules! setters {
    ($ty:ident at $path:literal { $($field:ident: $t:ty),* $(,)? }) => {
        impl $ty {
            $(
                #[doc = concat!(
                    "Returns the options with [`", stringify!($field), "`](",
                    stringify!($ty), "::", stringify!($field), ") set to `", stringify!($field), "`.\n\n",
                    "# Examples\n\n```\n",
                    "let defaults = ", $path, "::default();\n",
                    "let options = defaults.clone().", stringify!($field), "(defaults.", stringify!($field), ".clone());\n",
                    "assert_eq!(format!(\"{:?}\", options), format!(\"{:?}\", defaults));\n",
                    "```"
                )]
                #[must_use]
                pub fn $field(mut self, $field: $t) -> Self {
                    self.$field = $field;
                    self
                }
            )*
        }
    };
}
