//! What the command prints for an error: the library's text, which
//! describes the problem, with the flag that fixes it where there is one.

use blockimg::error::TargetError;

/// The line printed after `blockimg: error: ` for `error`.
pub fn error_message(error: &(dyn std::error::Error + 'static)) -> String {
    if let Some(error) = error.downcast_ref::<blockimg::Error>() {
        return library_message(error);
    }
    if let Some(error) = error.downcast_ref::<fuse_mount::Error>() {
        return match error {
            fuse_mount::Error::ReadOnly { .. } => format!("{error} (--ro)"),
            fuse_mount::Error::InvalidOption { option, reason } => match flag(option) {
                Some(flag) => format!("invalid {flag}: {reason}"),
                None => error.to_string(),
            },
            _ => error.to_string(),
        };
    }
    error.to_string()
}

fn library_message(error: &blockimg::Error) -> String {
    match error {
        blockimg::Error::OutputExists { .. } => format!("{error} (use --force to replace it)"),
        blockimg::Error::Target(TargetError::NotBlank { .. }) => {
            format!("{error}; use --force to overwrite it")
        }
        blockimg::Error::InvalidOption { option, reason } => match (flag(option), hint(option)) {
            (Some(flag), hint) => format!("invalid {flag}: {reason}{hint}"),
            (None, _) => error.to_string(),
        },
        _ => error.to_string(),
    }
}

/// The command-line flag of a setting the library names.
fn flag(option: &str) -> Option<&'static str> {
    Some(match option {
        "format" => "--format",
        "azure" => "--azure",
        "busybox" => "--busybox",
        "size" => "--size",
        "boot" => "--boot",
        "label" => "--label",
        "block size" => "--block-size",
        "UUID" => "--uuid",
        "threads" => "--threads",
        "allow_other" => "-o allow_other",
        "ESP size" => "--esp-size",
        _ => return None,
    })
}

/// What to give instead, for settings with more than one way out.
fn hint(option: &str) -> &'static str {
    match option {
        "busybox" => " (--busybox PATH, or --init FILE)",
        "azure" => " (--format vhd-fixed)",
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn the_flags_are_added_to_the_library_texts() {
        let exists = blockimg::Error::OutputExists {
            path: PathBuf::from("disk.img"),
        };
        assert_eq!(
            error_message(&exists),
            "disk.img already exists (use --force to replace it)"
        );
        let format = blockimg::Error::InvalidOption {
            option: "format".into(),
            reason: "a block device takes the raw disk, not VHD".into(),
        };
        assert_eq!(
            error_message(&format),
            "invalid --format: a block device takes the raw disk, not VHD"
        );
        let other = blockimg::Error::InvalidOption {
            option: "partition contents".into(),
            reason: "r".into(),
        };
        assert_eq!(error_message(&other), "invalid partition contents: r");
    }
}
