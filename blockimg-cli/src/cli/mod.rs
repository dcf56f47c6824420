//! One module per subcommand of the `blockimg` command line.

pub mod add;
pub mod browse;
pub mod build;
pub mod common;
pub mod convert;
pub mod ebs;
pub mod initramfs;
pub mod inspect;
pub mod install_grub;
pub mod message;
pub mod mkdisk;
pub mod mount;
pub mod output_args;
pub mod terminal;
pub mod write;
