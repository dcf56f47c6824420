//! What the command shows while the library works: a progress bar on a
//! terminal (indicatif) and warnings on stderr, worded for the command
//! line.

use std::io::IsTerminal;

use blockimg::{Observer, Phase, Warning};
use indicatif::{ProgressBar, ProgressStyle};

/// The command's observer: a bar per phase when `progress` is on and
/// stderr is a terminal; every warning, always.
pub struct Terminal {
    progress: bool,
    bar: Option<ProgressBar>,
}

impl Terminal {
    /// Shows progress bars unless `quiet`.
    pub fn new(quiet: bool) -> Terminal {
        Terminal {
            progress: !quiet && std::io::stderr().is_terminal(),
            bar: None,
        }
    }
}

impl Observer for Terminal {
    fn start(&mut self, _phase: Phase, total: u64) {
        if !self.progress {
            return;
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
        );
        if let Ok(style) = style {
            bar.set_style(style);
        }
        self.bar = Some(bar);
    }

    fn advance(&mut self, _phase: Phase, done: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(done);
        }
    }

    fn finish(&mut self, _phase: Phase) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    fn warn(&mut self, warning: Warning) {
        let text = match warning {
            Warning::NoKernel => "no kernel in /boot and no --kernel: grub.cfg boots /boot/vmlinuz, which the disk does not have yet".to_string(),
            other => other.to_string(),
        };
        if let Some(bar) = &self.bar {
            bar.suspend(|| eprintln!("blockimg: warning: {text}"));
        } else {
            eprintln!("blockimg: warning: {text}");
        }
    }
}
