//! Output format options shared by `mkdisk` and `convert`.

use blockimg::sink::{Destination, OutputFormat, OutputOptions};
use blockimg::size::format_size;
use blockimg::Result;
use clap::ValueEnum;

/// Output formats on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum FormatArg {
    /// Raw disk image; sparse when written to a file.
    Raw,
    /// Dynamic VHD: only the 2 MiB blocks that hold data.
    Vhd,
    /// Fixed VHD: the raw disk followed by a 512-byte footer (Azure).
    VhdFixed,
    /// Stream-optimized VMDK: compressed grains (AWS VM Import, VMware).
    Vmdk,
}

impl From<FormatArg> for OutputFormat {
    fn from(arg: FormatArg) -> OutputFormat {
        match arg {
            FormatArg::Raw => OutputFormat::Raw,
            FormatArg::Vhd => OutputFormat::Vhd,
            FormatArg::VhdFixed => OutputFormat::VhdFixed,
            FormatArg::Vmdk => OutputFormat::Vmdk,
        }
    }
}

/// `--format` and `--azure`.
#[derive(clap::Args)]
pub struct OutputArgs {
    /// Output format. Without it, the output's extension decides: .vhd is a
    /// dynamic VHD, .vmdk a stream-optimized VMDK, anything else raw.
    #[arg(long, value_enum)]
    pub format: Option<FormatArg>,
    /// With --format vhd-fixed: round the virtual size up to a whole MiB
    /// with a consistent CHS geometry, as Azure requires.
    #[arg(long)]
    pub azure: bool,
}

impl OutputArgs {
    /// The output options for `dest`. With `reproducible` (a build time and
    /// the filesystem UUID), the image identity is derived from them, so
    /// the same build gives the same bytes.
    pub fn options(
        &self,
        dest: &Destination,
        overwrite: bool,
        reproducible: Option<(i64, [u8; 16])>,
    ) -> Result<OutputOptions> {
        let format = OutputFormat::resolve(self.format.map(Into::into), dest)?;
        let mut options = OutputOptions::new(format, overwrite)?;
        options.azure = self.azure;
        if let Some((time, fs_uuid)) = reproducible {
            options.reproducible(time, fs_uuid);
        }
        Ok(options)
    }
}

/// One line describing a written output.
pub fn describe(format: OutputFormat, virtual_size: u64, file_bytes: u64) -> String {
    let what = match format {
        OutputFormat::Raw => "raw",
        OutputFormat::Vhd => "dynamic VHD",
        OutputFormat::VhdFixed => "fixed VHD",
        OutputFormat::Vmdk => "stream-optimized VMDK",
        OutputFormat::EbsSnapshot => "EBS snapshot",
    };
    format!(
        "  format: {what}, virtual size {} ({virtual_size} bytes), file {} ({file_bytes} bytes)",
        format_size(virtual_size),
        format_size(file_bytes)
    )
}
