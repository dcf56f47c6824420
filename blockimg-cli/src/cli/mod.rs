//! One module per subcommand of the `blockimg` command line.

pub mod add;
pub mod browse;
pub mod common;
pub mod convert;
pub mod initramfs;
pub mod inspect;
pub mod mkdisk;
pub mod output_args;
pub mod write;
