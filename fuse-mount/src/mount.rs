//! Mounting and unmounting: load the image, mount it, serve it until it is
//! unmounted, commit; and unmount, then wait for that commit.
//!
//! Nothing here prints. Whatever goes wrong before the mount is live is
//! returned to the caller of [`mount`], the daemon's errors included (they
//! come back through the readiness pipe). Once the mount is live, the
//! daemon's standard streams point at /dev/null and how its commit went is
//! recorded in the runtime directory, where [`unmount`] reads it.
//!
//! (The file is over 600 lines so that a mount's life, from the fork and
//! the readiness pipe to the commit and its status, reads in one place;
//! about 160 of its lines are documentation.)

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use blockimg::disk::ImageSpec;
use fuser::{Config as FuseConfig, MountOption, Session, SessionACL};

use crate::commit::{commit, Commit};
use crate::error::{Error, Result};
use crate::fs::FuseFs;
use crate::image::Image;
use crate::place::Placer;
use crate::runtime::Runtime;
use crate::signals;
use crate::spill::Spill;
use crate::state::{Config, Fs};
use blockimg::ext4::update::CommitStep;

/// What the daemon says through the readiness pipe once the mount is live.
const READY: &[u8] = b"ready";
/// The status the daemon records for each [`Commit`] (and `failed: ...`
/// for an error), read back by [`unmount`].
const COMMITTED: &str = "committed";
/// See [`COMMITTED`].
const UNCHANGED: &str = "unchanged";

/// What to mount, where, and how.
///
/// Build it with [`MountOptions::new`] and the setters (or start from
/// [`MountOptions::default`] and assign the fields): the struct is
/// `#[non_exhaustive]`, so that options can be added later.
///
/// # Examples
///
/// ```
/// use blockimg::disk::ImageSpec;
/// use fuse_mount::MountOptions;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// // Partition 2 of disk.img, on /mnt/image, read-only, served by 4 threads.
/// let image = ImageSpec::parse("disk.img:2".as_ref())?;
/// let options = MountOptions::new(image, "/mnt/image").read_only(true).threads(4);
/// assert_eq!(options.image.partition, Some(2));
/// assert!(options.read_only && !options.foreground && !options.fakeroot);
/// assert_eq!((options.owner, options.threads, options.access), (None, 4, None));
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct MountOptions {
    /// The image, and optionally the partition holding the filesystem
    /// (without one: a bare filesystem, or the first Linux partition with
    /// ext4).
    pub image: ImageSpec,
    /// An existing directory to mount the filesystem on.
    pub mountpoint: PathBuf,
    /// Serve the mount in the calling process until the filesystem is
    /// unmounted, then commit, instead of in a daemon forked into the
    /// background.
    pub foreground: bool,
    /// Mount read-only; the image is never rewritten.
    pub read_only: bool,
    /// Owner and group ids `(uid, gid)` of everything created through the
    /// mount, whoever creates it. The mount shows these ids as those of the
    /// user who mounted (so that user may write where they own), and a
    /// chown to that user's ids records these.
    pub owner: Option<(u32, u32)>,
    /// Let every caller act as root: no permission checks, and chown/chmod
    /// recorded as asked (device nodes still need CAP_MKNOD).
    pub fakeroot: bool,
    /// Threads serving requests, at least one. One is fastest for a single
    /// client (`cp -a`, `tar -x`): the kernel hands each request to the
    /// thread that waited longest, a cold one when there are several. More
    /// help several clients working at once.
    pub threads: u16,
    /// Who may use the mount besides the user who mounted; `None` for the
    /// default (see [`Access::default_for`]).
    pub access: Option<Access>,
}

/// Who may use a mount (FUSE's `allow_other` and `allow_root`). Whoever
/// may use it is then held to the owners and modes in the image by the
/// kernel (`default_permissions`), except under
/// [`fakeroot`](MountOptions::fakeroot).
///
/// # Examples
///
/// ```
/// use fuse_mount::Access;
///
/// // Root's mounts serve every user, like a kernel mount; a user's serve that user.
/// assert_eq!(Access::default_for(0, false), Access::Everyone);
/// assert_eq!(Access::default_for(1000, false), Access::Mounter);
/// // Under fakeroot every caller would act as root: only the mounter by default.
/// assert_eq!(Access::default_for(0, true), Access::Mounter);
/// assert_eq!(Access::Everyone.option(), Some("allow_other"));
///
/// // Asked for together, refused before anything is read.
/// let options = fuse_mount::MountOptions::default().fakeroot(true).access(Some(Access::Everyone));
/// let err = fuse_mount::mount(&options).unwrap_err();
/// assert!(err.to_string().contains("every user would act as root"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Only the user who mounted (FUSE's default).
    Mounter,
    /// The user who mounted and root (`allow_root`).
    MounterAndRoot,
    /// Every user (`allow_other`).
    Everyone,
}

impl Access {
    /// Who may use a mount made by user `uid` when not told: every user
    /// when root mounts without `fakeroot` (as with a kernel mount, the
    /// modes in the image decide, so that services and maintainer scripts
    /// in a chroot may drop privileges), else only the user who mounted.
    pub fn default_for(uid: u32, fakeroot: bool) -> Access {
        if uid == 0 && !fakeroot {
            Access::Everyone
        } else {
            Access::Mounter
        }
    }

    /// The FUSE mount option that asks for this access, if any.
    pub fn option(self) -> Option<&'static str> {
        match self {
            Access::Mounter => None,
            Access::MounterAndRoot => Some("allow_root"),
            Access::Everyone => Some("allow_other"),
        }
    }

    fn session_acl(self) -> SessionACL {
        match self {
            Access::Mounter => SessionACL::Owner,
            Access::MounterAndRoot => SessionACL::RootAndOwner,
            Access::Everyone => SessionACL::All,
        }
    }
}

impl Default for MountOptions {
    /// No image and no mountpoint yet (empty paths), in the background,
    /// read-write, no owner override, permission checks on, one thread.
    ///
    /// # Examples
    ///
    /// ```
    /// use fuse_mount::MountOptions;
    ///
    /// let mut options = MountOptions::default();
    /// options.image.path = "disk.img".into();
    /// options.mountpoint = "mnt".into();
    /// assert_eq!(options.threads, 1);
    /// assert!(!options.foreground && !options.read_only);
    /// ```
    fn default() -> MountOptions {
        MountOptions {
            image: ImageSpec {
                path: PathBuf::new(),
                partition: None,
            },
            mountpoint: PathBuf::new(),
            foreground: false,
            read_only: false,
            owner: None,
            fakeroot: false,
            threads: 1,
            access: None,
        }
    }
}

impl MountOptions {
    /// Mounting `image` on `mountpoint`, with the [default](MountOptions::default)
    /// settings otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use blockimg::disk::ImageSpec;
    /// use fuse_mount::MountOptions;
    ///
    /// let image = ImageSpec { path: "disk.img".into(), partition: None };
    /// let options = MountOptions::new(image, "mnt");
    /// assert_eq!(options.mountpoint, std::path::Path::new("mnt"));
    /// assert_eq!(options.threads, 1);
    /// ```
    pub fn new(image: ImageSpec, mountpoint: impl Into<PathBuf>) -> MountOptions {
        MountOptions {
            image,
            mountpoint: mountpoint.into(),
            ..MountOptions::default()
        }
    }

    /// Sets [`foreground`](MountOptions::foreground).
    ///
    /// # Examples
    ///
    /// ```
    /// use fuse_mount::MountOptions;
    ///
    /// assert!(MountOptions::default().foreground(true).foreground);
    /// ```
    pub fn foreground(mut self, foreground: bool) -> MountOptions {
        self.foreground = foreground;
        self
    }

    /// Sets [`read_only`](MountOptions::read_only).
    ///
    /// # Examples
    ///
    /// ```
    /// use fuse_mount::MountOptions;
    ///
    /// assert!(MountOptions::default().read_only(true).read_only);
    /// ```
    pub fn read_only(mut self, read_only: bool) -> MountOptions {
        self.read_only = read_only;
        self
    }

    /// Sets [`owner`](MountOptions::owner): `Some((uid, gid))`, or `None`
    /// for the ids of whoever creates a file.
    ///
    /// # Examples
    ///
    /// ```
    /// use fuse_mount::MountOptions;
    ///
    /// let options = MountOptions::default().owner(Some((0, 0)));
    /// assert_eq!(options.owner, Some((0, 0))); // files created through the mount belong to root
    /// ```
    pub fn owner(mut self, owner: Option<(u32, u32)>) -> MountOptions {
        self.owner = owner;
        self
    }

    /// Sets [`fakeroot`](MountOptions::fakeroot).
    ///
    /// # Examples
    ///
    /// ```
    /// use fuse_mount::MountOptions;
    ///
    /// assert!(MountOptions::default().fakeroot(true).fakeroot);
    /// ```
    pub fn fakeroot(mut self, fakeroot: bool) -> MountOptions {
        self.fakeroot = fakeroot;
        self
    }

    /// Sets [`threads`](MountOptions::threads); [`mount`] refuses 0.
    ///
    /// # Examples
    ///
    /// ```
    /// use fuse_mount::MountOptions;
    ///
    /// assert_eq!(MountOptions::default().threads(8).threads, 8);
    /// ```
    pub fn threads(mut self, threads: u16) -> MountOptions {
        self.threads = threads;
        self
    }

    /// Sets [`access`](MountOptions::access).
    ///
    /// # Examples
    ///
    /// ```
    /// use fuse_mount::{Access, MountOptions};
    ///
    /// let options = MountOptions::default().access(Some(Access::MounterAndRoot));
    /// assert_eq!(options.access, Some(Access::MounterAndRoot));
    /// ```
    pub fn access(mut self, access: Option<Access>) -> MountOptions {
        self.access = access;
        self
    }
}

/// Where a mount stands when [`mount`] returns.
///
/// # Examples
///
/// ```
/// use fuse_mount::{Commit, Mounted};
///
/// fn say(mounted: Mounted) -> String {
///     match mounted {
///         Mounted::Background { pid } => format!("served by process {pid}"),
///         Mounted::Foreground(Commit::Written { how }) => format!("unmounted, image {how}"),
///         Mounted::Foreground(Commit::Unchanged) => "unmounted, nothing had changed".into(),
///     }
/// }
/// assert_eq!(say(Mounted::Background { pid: 42 }), "served by process 42");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mounted {
    /// The mount is live, served by a daemon in the background; [`unmount`]
    /// (or a SIGINT, SIGTERM or SIGHUP to the daemon) ends it and commits.
    Background {
        /// The daemon's process id.
        pid: u32,
    },
    /// With [`MountOptions::foreground`]: the mount was served in this
    /// process until it was unmounted, and then committed.
    Foreground(Commit),
}

/// Mounts the image; returns once the mount is live, served by a daemon in
/// the background, or, with [`MountOptions::foreground`], once it was
/// unmounted and committed.
///
/// The daemon is a child process forked from the caller, in a session of
/// its own, with its working directory at `/`; it writes its commit's
/// outcome where [`unmount`] finds it, then exits (it never returns into
/// the caller's code). Whatever fails before the mount is live, in the
/// daemon too, is this function's error. The mount serves until it is
/// unmounted ([`unmount`], `umount`, `fusermount3 -u`) or the daemon gets
/// SIGINT, SIGTERM or SIGHUP (which unmount it); either way the changes are
/// then committed: the image is replaced, atomically, by one holding them.
///
/// # Threads
///
/// Without `foreground`, call it from a process that runs no other thread:
/// the daemon is forked and goes on running, and a thread of the caller's
/// that held a lock at the fork (of the allocator, of standard output)
/// would leave that lock held forever in the daemon.
///
/// # Errors
///
/// [`Error::InvalidOption`] for zero threads or a mountpoint that is not a
/// directory, [`Error::Image`] or [`Error::ReadOnly`] for an image that
/// cannot be mounted (as asked), [`Error::Unmount`] when a daemon already
/// serves the mountpoint or the daemon failed before the mount was live
/// (its error as the reason), [`Error::Mount`] when the kernel refused the
/// mount, and, in the foreground, [`Error::Commit`] when committing failed
/// (the image is then as it was before the mount).
///
/// # Examples
///
/// ```no_run
/// // Needs FUSE (/dev/fuse and fusermount3), which a doctest cannot count on.
/// use blockimg::disk::ImageSpec;
/// use fuse_mount::{mount, unmount, Commit, MountOptions, Mounted};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let image = ImageSpec::parse("disk.img:2".as_ref())?;
/// // Files created through the mount belong to root.
/// let options = MountOptions::new(image, "mnt").owner(Some((0, 0)));
/// let mounted = mount(&options)?; // returns once the mount is live
/// assert!(matches!(mounted, Mounted::Background { .. }));
/// std::fs::write("mnt/etc/hostname", "appliance\n")?;
/// // Unmounting commits: disk.img now holds the new /etc/hostname.
/// assert!(matches!(unmount("mnt")?, Commit::Written { .. }));
/// # Ok(())
/// # }
/// ```
///
/// The image is read before anything is mounted, so a missing one is
/// refused without FUSE:
///
/// ```
/// use blockimg::disk::ImageSpec;
/// use fuse_mount::{mount, Error, MountOptions};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let image = ImageSpec { path: dir.path().join("missing.img"), partition: None };
/// let err = mount(&MountOptions::new(image, dir.path())).err().ok_or("mounted a missing image")?;
/// assert!(matches!(err, Error::Image(_)));
/// # Ok(())
/// # }
/// ```
pub fn mount(options: &MountOptions) -> Result<Mounted> {
    mount_observed(options, Box::new(|_| {}))
}

/// [`mount`], telling `step` each step of the commit at the end (in the
/// daemon, for a mount in the background): the `blockimg` command's
/// crash tests stop the commit there.
pub fn mount_observed(options: &MountOptions, step: CommitSteps) -> Result<Mounted> {
    if options.threads == 0 {
        return Err(Error::InvalidOption {
            option: "threads".into(),
            reason: "at least one thread must serve the mount".into(),
        });
    }
    // SAFETY: geteuid and getegid have no preconditions.
    let mounter = unsafe { (libc::geteuid(), libc::getegid()) };
    let access = options
        .access
        .unwrap_or_else(|| Access::default_for(mounter.0, options.fakeroot));
    if options.fakeroot && access == Access::Everyone {
        return Err(Error::InvalidOption {
            option: "allow_other".into(),
            reason: "with fakeroot every user would act as root in the image".into(),
        });
    }
    let mountpoint = absolute(&options.mountpoint)?;
    if !mountpoint.is_dir() {
        return Err(Error::InvalidOption {
            option: "mountpoint".into(),
            reason: format!("{} is not a directory", mountpoint.display()),
        });
    }
    let image = Image::open(&options.image, options.read_only, &mountpoint)?;
    let runtime = Runtime::for_mountpoint(&mountpoint)?;
    let lock = runtime.try_lock()?.ok_or_else(|| Error::Unmount {
        mountpoint: mountpoint.clone(),
        reason: "a blockimg daemon already serves this mountpoint".into(),
    })?;
    runtime.clear_status()?;
    let spill_dir = match (options.read_only, image.path.parent()) {
        (false, Some(dir)) => dir.to_path_buf(),
        _ => std::env::temp_dir(),
    };
    let spill = Spill::create(&spill_dir)?;
    let image_file = image
        .file
        .try_clone()
        .map_err(|e| Error::io(&image.path, e))?;
    let spill_file = spill.try_clone().map_err(|e| Error::io(&spill_dir, e))?;
    let config = Config {
        read_only: options.read_only,
        owner: options.owner.map(|ids| (ids, mounter)),
        fakeroot: options.fakeroot,
    };
    let placer = match options.read_only {
        true => None,
        false => placer(&image),
    };
    let fs = Fs::new(
        &image.loaded.tree,
        vec![image_file, spill_file].into(),
        spill,
        placer,
        image.space,
        config,
    )
    .ok_or_else(|| Error::InvalidOption {
        option: "image".into(),
        reason: "a file's data is not in the image".into(),
    })?;
    let state = Arc::new(Mutex::new(fs));
    let front = FuseFs::new(Arc::clone(&state), kernel_permissions(options));
    let fuse_config = fuse_config(&image, options, access);
    let served = Served {
        front,
        state,
        image,
        mountpoint,
        fuse_config,
        runtime,
        lock,
        step,
    };

    if options.foreground {
        let _ = served.runtime.record_daemon();
        return served.serve(None).map(Mounted::Foreground);
    }
    match daemonize()? {
        Fork::Parent { pipe, pid } => {
            wait_ready(pipe, &served.mountpoint)?;
            Ok(Mounted::Background { pid })
        }
        Fork::Child(pipe) => {
            // The daemon holds the image's lock from here on (the parent
            // took it): the holder record names it.
            served.image.lock.claim();
            // The pid only lets `unmount` wait for a daemon that died; a
            // mount goes on without it.
            let _ = served.runtime.record_daemon();
            // The daemon: its errors went to the parent through the pipe
            // (before the mount was live) or into the status file.
            let result = served.serve(Some(pipe));
            std::process::exit(i32::from(result.is_err()))
        }
    }
}

/// Where new file data goes first: the blocks `image`'s filesystem does
/// not use, written through a second handle on the image, open for
/// writing. `None` (all new data goes to the spill file) when the
/// filesystem cannot be changed in place or its bitmaps cannot be read.
fn placer(image: &Image) -> Option<Placer> {
    let free = image.free_block_runs().ok()??;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&image.path)
        .ok()?;
    // The file written is the one locked and loaded.
    image.lock.check_file(&file).ok()?;
    let bs = u64::from(image.space.block_size);
    Some(Placer::new(file, image.partition.start, bs, &free))
}

/// Everything a mount is served with, loaded before the fork.
struct Served {
    front: FuseFs,
    state: Arc<Mutex<Fs>>,
    image: Image,
    mountpoint: PathBuf,
    fuse_config: FuseConfig,
    runtime: Runtime,
    /// The mountpoint's lock, held until the commit's status is written
    /// (after the image's lock is released, so that a program started
    /// once `unmount` returns finds the image free).
    lock: File,
    /// Told each step of the commit.
    step: CommitSteps,
}

/// What [`mount_observed`] tells each step of the commit.
pub type CommitSteps = Box<dyn FnMut(CommitStep) + Send>;

impl Served {
    /// Mounts, tells `ready` (the daemon's readiness pipe) how that went,
    /// serves until unmounted, commits and records the outcome.
    fn serve(self, ready: Option<File>) -> Result<Commit> {
        let Served {
            front,
            state,
            image,
            mountpoint,
            fuse_config,
            runtime,
            lock,
            mut step,
        } = self;
        let session = match start(front, &mountpoint, &fuse_config) {
            Ok(session) => session,
            Err(e) => {
                if let Some(mut pipe) = ready {
                    let _ = pipe.write_all(e.to_string().as_bytes());
                }
                return Err(e);
            }
        };
        if let Some(mut pipe) = ready {
            let _ = pipe.write_all(READY);
            drop(pipe);
            detach_stdio();
        }
        let served = session.run();
        let fs = state.lock().unwrap_or_else(|e| e.into_inner());
        let result = match served {
            Err(e) => Err(Error::Mount {
                mountpoint: mountpoint.clone(),
                source: e,
            }),
            Ok(()) => commit(&fs, &image, &mut step),
        };
        drop(fs);
        drop(state);
        // The image's lock goes with it.
        drop(image);
        let status = match &result {
            Ok(Commit::Written { how }) => format!("{COMMITTED}: {how}"),
            Ok(Commit::Unchanged) => UNCHANGED.to_string(),
            Err(e) => format!("failed: {e}"),
        };
        runtime.write_status(&status)?;
        drop(lock);
        result
    }
}

/// Mounts `front` on `mountpoint` and starts the thread that unmounts it
/// at a stop signal; the signals are blocked first, so that the session's
/// threads inherit the mask.
fn start(front: FuseFs, mountpoint: &Path, config: &FuseConfig) -> Result<Session<FuseFs>> {
    let blocked = signals::block()?;
    let session = Session::new(front, mountpoint, config).map_err(|source| {
        // fusermount3's refusal of allow_other (which fuser also sends for
        // allow_root) to a user: say what would let it through.
        let option = match config.acl {
            SessionACL::All => Access::Everyone.option(),
            SessionACL::RootAndOwner => Access::MounterAndRoot.option(),
            SessionACL::Owner => None,
        };
        match option {
            Some(option) if source.kind() == std::io::ErrorKind::PermissionDenied => {
                Error::UserAllowOther {
                    mountpoint: mountpoint.to_path_buf(),
                    option,
                    refusal: source.to_string().trim().to_string(),
                }
            }
            _ => Error::Mount {
                mountpoint: mountpoint.to_path_buf(),
                source,
            },
        }
    })?;
    blocked.unmount_on_signal(mountpoint.to_path_buf())?;
    Ok(session)
}

/// Unmounts `mountpoint`, a filesystem [`mount`]ed in the background, and
/// waits for its daemon's commit; returns how that went.
///
/// # Errors
///
/// [`Error::Unmount`] when the filesystem cannot be unmounted (it is busy,
/// or nothing is mounted there), when no daemon served it (a mount whose
/// daemon a signal already ended: the reason then quotes that daemon's
/// commit), or with the daemon's error when its commit failed (the image is
/// then as it was before the mount).
///
/// # Examples
///
/// ```
/// use fuse_mount::{unmount, Error};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// // A directory nothing is mounted on: nothing to unmount, nothing committed.
/// let err = unmount(dir.path()).err().ok_or("unmounted an empty directory")?;
/// assert!(matches!(err, Error::Unmount { .. }));
/// # Ok(())
/// # }
/// ```
pub fn unmount(mountpoint: impl AsRef<Path>) -> Result<Commit> {
    let mountpoint = absolute(mountpoint.as_ref())?;
    let runtime = Runtime::for_mountpoint(&mountpoint)?;
    let unmount_error = |reason: String| Error::Unmount {
        mountpoint: mountpoint.clone(),
        reason,
    };
    if let Some(lock) = runtime.try_lock()? {
        drop(lock);
        if let Err(e) = crate::unmount::unmount(&mountpoint, false) {
            // Perhaps a stop signal ended the mount: say how that went.
            let last = match runtime.read_status()? {
                Some(status) => format!(" (the last mount's commit: {status})"),
                None => String::new(),
            };
            return Err(unmount_error(format!(
                "{e}: no blockimg daemon serves it{last}"
            )));
        }
        return Err(unmount_error(
            "unmounted, but no blockimg daemon was serving it: nothing was committed".into(),
        ));
    }
    crate::unmount::unmount(&mountpoint, false).map_err(unmount_error)?;
    runtime.wait_unlocked()?;
    match runtime.read_status()? {
        Some(status) if status.starts_with(COMMITTED) => Ok(Commit::Written {
            how: status
                .strip_prefix(COMMITTED)
                .unwrap_or_default()
                .trim_start_matches(": ")
                .into(),
        }),
        Some(status) if status == UNCHANGED => Ok(Commit::Unchanged),
        Some(status) => Err(unmount_error(
            status.strip_prefix("failed: ").unwrap_or(&status).into(),
        )),
        None => {
            runtime.wait_daemon_gone();
            Err(unmount_error(
                "the daemon ended without committing (was it killed?); the image holds what it held before the mount, or the new state if the daemon died after its commit point".into(),
            ))
        }
    }
}

/// The mount options: the image as the source, the kernel checking
/// permissions from our attributes (see [`kernel_permissions`]), who may
/// use the mount, the threads asked for (each reading from its own clone of the device).
fn fuse_config(image: &Image, options: &MountOptions, access: Access) -> FuseConfig {
    let mut mount_options = vec![
        MountOption::FSName(image.path.display().to_string()),
        MountOption::Subtype("blockimg".into()),
        MountOption::NoAtime,
    ];
    if kernel_permissions(options) {
        mount_options.push(MountOption::DefaultPermissions);
    }
    mount_options.push(if options.read_only {
        MountOption::RO
    } else {
        MountOption::RW
    });
    let mut config = FuseConfig::default();
    config.mount_options = mount_options;
    config.acl = access.session_acl();
    config.n_threads = Some(usize::from(options.threads));
    config.clone_fd = true;
    config
}

/// Whether the kernel checks permissions against the owners and modes the
/// mount shows: not with `fakeroot`, where callers act as root (only the
/// user who mounted reaches the mount, and may do anything in it).
fn kernel_permissions(options: &MountOptions) -> bool {
    !options.fakeroot
}

/// An absolute path naming `path`, symlinks resolved; when the path
/// itself cannot be resolved (a mount whose daemon died answers
/// `ENOTCONN`), its parent is resolved and the name kept.
fn absolute(path: &Path) -> Result<PathBuf> {
    if let Ok(resolved) = std::fs::canonicalize(path) {
        return Ok(resolved);
    }
    let name = path.file_name().ok_or_else(|| Error::InvalidOption {
        option: "mountpoint".into(),
        reason: format!("{} does not name a directory", path.display()),
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent = std::fs::canonicalize(parent).map_err(|e| Error::io(parent, e))?;
    Ok(parent.join(name))
}

/// Which side of the fork this is.
enum Fork {
    /// The caller: reads the daemon's readiness from the pipe.
    Parent {
        /// The pipe's read end.
        pipe: File,
        /// The daemon's process id.
        pid: u32,
    },
    /// The daemon: reports readiness into the pipe.
    Child(File),
}

/// Forks the daemon, in its own session, with a pipe to report readiness.
fn daemonize() -> Result<Fork> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the array with two new descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(Error::io("pipe", std::io::Error::last_os_error()));
    }
    // SAFETY: both descriptors were just created and are owned here only.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the caller runs no other thread here (see `mount`'s
    // documentation; the `blockimg` command has spawned none yet), so the
    // child may go on running Rust code.
    match unsafe { libc::fork() } {
        -1 => Err(Error::io("fork", std::io::Error::last_os_error())),
        0 => {
            drop(read);
            // SAFETY: setsid and chdir have no memory-safety preconditions.
            unsafe {
                libc::setsid();
                libc::chdir(c"/".as_ptr());
            }
            Ok(Fork::Child(File::from(write)))
        }
        pid => {
            drop(write);
            Ok(Fork::Parent {
                pipe: File::from(read),
                pid: pid.unsigned_abs(),
            })
        }
    }
}

/// The caller's side: waits for the daemon to say the mount is live.
fn wait_ready(mut pipe: File, mountpoint: &Path) -> Result<()> {
    let mut said = Vec::new();
    pipe.read_to_end(&mut said)
        .map_err(|e| Error::io("daemon pipe", e))?;
    if said == READY {
        return Ok(());
    }
    let reason = if said.is_empty() {
        "the daemon exited before the mount was live".to_string()
    } else {
        String::from_utf8_lossy(&said).into_owned()
    };
    Err(Error::Unmount {
        mountpoint: mountpoint.to_path_buf(),
        reason,
    })
}

/// Points the daemon's standard streams at /dev/null, so that whoever
/// started it (a `blockimg mount` in a pipeline, say) is not kept waiting
/// on them.
fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
    {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors, which stay open.
            unsafe {
                libc::dup2(null.as_raw_fd(), fd);
            }
        }
    }
}
