//! What the library tells its caller while it works: progress through long
//! phases and warnings about things it did not stop for. The library never
//! prints or draws; a caller that wants a progress bar or a log passes an
//! [`Observer`] and shows what it receives.
//!
//! # Examples
//!
//! ```
//! use blockimg::{Observer, Phase, Warning};
//!
//! /// Counts what it is told.
//! #[derive(Default)]
//! struct Log {
//!     lines: Vec<String>,
//! }
//!
//! impl Observer for Log {
//!     fn start(&mut self, phase: Phase, total: u64) {
//!         self.lines.push(format!("{phase}: {total} bytes"));
//!     }
//!     fn warn(&mut self, warning: Warning) {
//!         self.lines.push(format!("warning: {warning}"));
//!     }
//! }
//!
//! let mut log = Log::default();
//! log.start(Phase::Writing, 4096);
//! log.advance(Phase::Writing, 4096); // the default ignores it
//! log.warn(Warning::NoKernel);
//! assert_eq!(log.lines.len(), 2);
//! assert!(log.lines[1].contains("no kernel"));
//! ```

use std::fmt;

/// A long piece of work whose progress is reported in bytes.
///
/// # Examples
///
/// ```
/// use blockimg::Phase;
/// assert_eq!(Phase::Writing.to_string(), "writing");
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Writing a disk: the data of its filesystems and copied partitions.
    Writing,
    /// Reading a written target back and comparing it with the image.
    Verifying,
    /// Copying a disk image into another format.
    Converting,
    /// Reading a disk image and sending its blocks into an EBS snapshot.
    Uploading,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Writing => "writing",
            Phase::Verifying => "verifying",
            Phase::Converting => "converting",
            Phase::Uploading => "uploading",
        })
    }
}

/// Something the caller should hear about that did not stop the work.
///
/// # Examples
///
/// ```
/// use blockimg::Warning;
///
/// let skipped = Warning::SkippedOutsideRoot {
///     archive: "root.tar".into(),
///     member: "../etc/passwd".into(),
/// };
/// assert_eq!(
///     skipped.to_string(),
///     "root.tar: skipping \"../etc/passwd\": the path leaves the root"
/// );
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Warning {
    /// An archive member whose path leaves the archive's root was left out
    /// (the caller asked for [`OutsideRoot::Skip`](crate::source::tar::OutsideRoot)).
    SkippedOutsideRoot {
        /// The archive, as the caller named it.
        archive: String,
        /// The member's path, lossily decoded.
        member: String,
    },
    /// A boot loader was asked for, but neither a kernel was given nor does
    /// the root hold one in /boot: the menu boots `/boot/vmlinuz`, which
    /// the disk does not have yet.
    NoKernel,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::SkippedOutsideRoot { archive, member } => {
                write!(f, "{archive}: skipping {member:?}: the path leaves the root")
            }
            Warning::NoKernel => f.write_str(
                "no kernel given and none in /boot: the boot menu boots /boot/vmlinuz, which the disk does not have yet",
            ),
        }
    }
}

/// Receives progress and warnings from long library calls. Every method
/// has a default that ignores what it is told, so an observer implements
/// only what it shows.
///
/// For a phase, [`Observer::start`] comes first with the total number of
/// bytes, then [`Observer::advance`] with the bytes done so far (never
/// more than the total), then [`Observer::finish`].
///
/// # Examples
///
/// ```
/// use blockimg::{Observer, Phase, Silent};
///
/// // Silent ignores everything: for callers that want no reports.
/// let mut quiet = Silent;
/// quiet.start(Phase::Writing, 100);
/// quiet.finish(Phase::Writing);
/// ```
pub trait Observer {
    /// A phase begins; `total` bytes are to be done.
    fn start(&mut self, phase: Phase, total: u64) {
        let _ = (phase, total);
    }

    /// `done` bytes of the phase are done.
    fn advance(&mut self, phase: Phase, done: u64) {
        let _ = (phase, done);
    }

    /// The phase is over (also when it failed).
    fn finish(&mut self, phase: Phase) {
        let _ = phase;
    }

    /// Something the caller should know about.
    fn warn(&mut self, warning: Warning) {
        let _ = warning;
    }
}

/// An observer that ignores everything.
///
/// # Examples
///
/// ```
/// use blockimg::{Observer, Silent, Warning};
/// Silent.warn(Warning::NoKernel); // goes nowhere
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct Silent;

impl Observer for Silent {}

/// Runs `work` as `phase` of `total` bytes, passing it a callback that
/// reports the bytes done; `finish` follows whether `work` succeeded or not.
pub(crate) fn phase<T, E>(
    observer: &mut dyn Observer,
    phase: Phase,
    total: u64,
    work: impl FnOnce(&mut dyn FnMut(u64)) -> Result<T, E>,
) -> Result<T, E> {
    observer.start(phase, total);
    let result = work(&mut |done| observer.advance(phase, done.min(total)));
    observer.finish(phase);
    result
}
