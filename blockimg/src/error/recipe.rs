//! RecipeError: a recipe that cannot be read or built, with where in it the problem is.

use std::path::{Path, PathBuf};

/// A recipe that cannot be read or built, at the key at fault.
///
/// # Examples
///
/// ```
/// use blockimg::error::RecipeError;
///
/// let err = blockimg::Error::from(RecipeError::At {
///     path: "image.toml".into(),
///     line: 3,
///     column: 8,
///     key: "disk.size".into(),
///     reason: "not a size".into(),
/// });
/// assert_eq!(err.to_string(), "image.toml:3:8: disk.size: not a size");
/// ```
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum RecipeError {
    /// A recipe that cannot be read or built, with where in it the problem
    /// is.
    #[error("{}{}{reason}", recipe_place(path, *line, *column), key_prefix(key))]
    At {
        /// The recipe file.
        path: PathBuf,
        /// 1-based line of the key at fault (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// The key at fault, as a dotted path (`partition[2].size`).
        key: String,
        /// What is wrong.
        reason: String,
    },
}

/// `PATH:LINE:COLUMN: ` before a message about a recipe.
fn recipe_place(path: &Path, line: usize, column: usize) -> String {
    match (line, column) {
        (0, _) => format!("{}: ", path.display()),
        (line, 0) => format!("{}:{line}: ", path.display()),
        (line, column) => format!("{}:{line}:{column}: ", path.display()),
    }
}

/// `KEY: ` before a message about a recipe key, nothing without one.
fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}
