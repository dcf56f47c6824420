//! One module per subcommand of the `blockimg` command line.

pub mod mkdisk;
