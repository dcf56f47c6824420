//! The `mount` and `umount` commands: load the image, mount it, serve it
//! until it is unmounted, commit; and unmount, then wait for that commit.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use blockimg::disk::ImageSpec;
use fuser::{Config as FuseConfig, MountOption, Session};

use crate::commit::{commit, Outcome};
use crate::error::{Error, Result};
use crate::fs::FuseFs;
use crate::image::Image;
use crate::runtime::Runtime;
use crate::signals;
use crate::spill::Spill;
use crate::state::{Config, Fs};
use crate::unmount::unmount;

/// What the daemon says through the readiness pipe once the mount is live.
const READY: &[u8] = b"ready";

/// `blockimg mount`.
///
/// # Examples
///
/// ```
/// use clap::Parser;
/// use fuse_mount::command::MountArgs;
///
/// /// A program's own command line, with `blockimg mount`'s arguments.
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     mount: MountArgs,
/// }
///
/// let cli = Cli::parse_from(["mytool", "disk.img:2", "/mnt/image", "--ro"]);
/// assert_eq!(cli.mount.image, "disk.img:2");
/// assert!(cli.mount.ro && !cli.mount.foreground);
/// assert_eq!(cli.mount.threads, 1);
/// ```
#[derive(Debug, clap::Args)]
pub struct MountArgs {
    /// The image, and optionally the partition holding the filesystem:
    /// `disk.img` (a bare filesystem, or the first Linux partition with
    /// ext4) or `disk.img:2`.
    pub image: OsString,
    /// An existing directory to mount the filesystem on.
    pub mountpoint: PathBuf,
    /// Stay in the foreground until the filesystem is unmounted (the
    /// commit's outcome is then this command's exit status).
    #[arg(short, long)]
    pub foreground: bool,
    /// Mount read-only; the image is never rewritten.
    #[arg(long)]
    pub ro: bool,
    /// Owner and group (numeric `UID:GID`) of everything created through
    /// the mount, whoever creates it. The mount shows these ids as those of
    /// the user who mounted (so that user may write where they own), and a
    /// chown to that user's ids records these.
    #[arg(long, value_name = "UID:GID")]
    pub owner: Option<String>,
    /// Let every caller act as root: no permission checks, and chown/chmod
    /// recorded as asked (device nodes still need CAP_MKNOD).
    #[arg(long)]
    pub fakeroot: bool,
    /// Threads serving requests. One is fastest for a single client
    /// (`cp -a`, `tar -x`): the kernel hands each request to the thread
    /// that waited longest, a cold one when there are several. More help
    /// several clients working at once.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub threads: u16,
}

/// `blockimg umount`.
///
/// # Examples
///
/// ```
/// use clap::Parser;
/// use fuse_mount::command::UmountArgs;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     umount: UmountArgs,
/// }
/// let cli = Cli::parse_from(["mytool", "/mnt/image"]);
/// assert_eq!(cli.umount.mountpoint, std::path::Path::new("/mnt/image"));
/// ```
#[derive(Debug, clap::Args)]
pub struct UmountArgs {
    /// The mountpoint given to `blockimg mount`.
    pub mountpoint: PathBuf,
}

/// Mounts the image; returns once the mount is live (or, with
/// `--foreground`, once it was unmounted and committed).
///
/// # Examples
///
/// ```no_run
/// // Needs FUSE (/dev/fuse and fusermount3), which a doctest cannot count on.
/// use fuse_mount::command::{run_mount, run_umount, MountArgs, UmountArgs};
///
/// # fn main() -> fuse_mount::Result<()> {
/// run_mount(MountArgs {
///     image: "disk.img:2".into(),
///     mountpoint: "mnt".into(),
///     foreground: false, // return once the mount is live
///     ro: false,
///     owner: Some("0:0".into()), // files created through the mount belong to root
///     fakeroot: false,
///     threads: 1,
/// })?;
/// std::fs::write("mnt/etc/hostname", "appliance\n").map_err(|e| fuse_mount::Error::io("mnt/etc/hostname", e))?;
/// // Unmounting commits: disk.img now holds the new /etc/hostname.
/// run_umount(UmountArgs { mountpoint: "mnt".into() })?;
/// # Ok(())
/// # }
/// ```
pub fn run_mount(args: MountArgs) -> Result<()> {
    let spec = ImageSpec::parse(&args.image)?;
    let owner = args.owner.as_deref().map(parse_owner).transpose()?;
    let mountpoint = absolute(&args.mountpoint)?;
    if !mountpoint.is_dir() {
        return Err(Error::InvalidOption {
            option: "mountpoint".into(),
            reason: format!("{} is not a directory", mountpoint.display()),
        });
    }
    let (image, tree) = Image::open(&spec, args.ro)?;
    let runtime = Runtime::for_mountpoint(&mountpoint)?;
    let lock = runtime.try_lock()?.ok_or_else(|| Error::Unmount {
        mountpoint: mountpoint.clone(),
        reason: "a blockimg daemon already serves this mountpoint".into(),
    })?;
    runtime.clear_status()?;
    let spill_dir = match (args.ro, image.path.parent()) {
        (false, Some(dir)) => dir.to_path_buf(),
        _ => std::env::temp_dir(),
    };
    let spill = Spill::create(&spill_dir)?;
    let image_file = image
        .file
        .try_clone()
        .map_err(|e| Error::io(&image.path, e))?;
    let spill_file = spill.try_clone().map_err(|e| Error::io(&spill_dir, e))?;
    // SAFETY: geteuid and getegid have no preconditions.
    let mounter = unsafe { (libc::geteuid(), libc::getegid()) };
    let config = Config {
        read_only: args.ro,
        owner: owner.map(|ids| (ids, mounter)),
        fakeroot: args.fakeroot,
    };
    let fs = Fs::new(
        &tree,
        vec![image_file, spill_file].into(),
        spill,
        image.space,
        config,
    )
    .ok_or_else(|| Error::InvalidOption {
        option: "image".into(),
        reason: "a file's data is not in the image".into(),
    })?;
    drop(tree);
    let state = Arc::new(Mutex::new(fs));
    let front = FuseFs::new(Arc::clone(&state), kernel_permissions(&args));
    let fuse_config = fuse_config(&image, &args);

    let ready = if args.foreground {
        None
    } else {
        match daemonize()? {
            Fork::Parent(pipe) => return wait_ready(pipe, &mountpoint),
            Fork::Child(pipe) => Some(pipe),
        }
    };
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
        Ok(()) => commit(&fs, &image),
    };
    let status = match &result {
        Ok(Outcome::Written) => "committed".to_string(),
        Ok(Outcome::Unchanged) => "unchanged".to_string(),
        Err(e) => format!("failed: {e}"),
    };
    runtime.write_status(&status)?;
    drop(lock);
    result.map(|_| ())
}

/// Mounts `front` on `mountpoint` and starts the thread that unmounts it
/// at a stop signal; the signals are blocked first, so that the session's
/// threads inherit the mask.
fn start(front: FuseFs, mountpoint: &Path, config: &FuseConfig) -> Result<Session<FuseFs>> {
    let blocked = signals::block()?;
    let session = Session::new(front, mountpoint, config).map_err(|source| Error::Mount {
        mountpoint: mountpoint.to_path_buf(),
        source,
    })?;
    blocked.unmount_on_signal(mountpoint.to_path_buf())?;
    Ok(session)
}

/// Unmounts `mountpoint` and waits for its daemon's commit.
///
/// # Examples
///
/// ```
/// use fuse_mount::command::{run_umount, UmountArgs};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// // A directory nothing is mounted on: nothing to unmount, nothing committed.
/// assert!(run_umount(UmountArgs { mountpoint: dir.path().into() }).is_err());
/// # Ok(())
/// # }
/// ```
pub fn run_umount(args: UmountArgs) -> Result<()> {
    let mountpoint = absolute(&args.mountpoint)?;
    let runtime = Runtime::for_mountpoint(&mountpoint)?;
    let unmount_error = |reason: String| Error::Unmount {
        mountpoint: mountpoint.clone(),
        reason,
    };
    if let Some(lock) = runtime.try_lock()? {
        drop(lock);
        if let Err(e) = unmount(&mountpoint, false) {
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
    unmount(&mountpoint, false).map_err(unmount_error)?;
    runtime.wait_unlocked()?;
    match runtime.read_status()? {
        Some(status) if status == "committed" || status == "unchanged" => Ok(()),
        Some(status) => Err(unmount_error(
            status.strip_prefix("failed: ").unwrap_or(&status).into(),
        )),
        None => Err(unmount_error(
            "the daemon ended without committing (was it killed?); the image is as it was before the mount".into(),
        )),
    }
}

/// The mount options: the image as the source, the kernel checking
/// permissions from our attributes (see [`kernel_permissions`]), the
/// threads asked for (each reading from its own clone of the device).
fn fuse_config(image: &Image, args: &MountArgs) -> FuseConfig {
    let mut options = vec![
        MountOption::FSName(image.path.display().to_string()),
        MountOption::Subtype("blockimg".into()),
        MountOption::NoAtime,
    ];
    if kernel_permissions(args) {
        options.push(MountOption::DefaultPermissions);
    }
    options.push(if args.ro {
        MountOption::RO
    } else {
        MountOption::RW
    });
    let mut config = FuseConfig::default();
    config.mount_options = options;
    config.n_threads = Some(usize::from(args.threads));
    config.clone_fd = true;
    config
}

/// Whether the kernel checks permissions against the owners and modes the
/// mount shows: not with `--fakeroot`, where callers act as root (only the
/// user who mounted reaches the mount, and may do anything in it).
fn kernel_permissions(args: &MountArgs) -> bool {
    !args.fakeroot
}

/// `UID:GID`, both numeric.
fn parse_owner(value: &str) -> Result<(u32, u32)> {
    let invalid = || Error::InvalidOption {
        option: "--owner".into(),
        reason: format!("{value:?} is not UID:GID (numeric)"),
    };
    let (uid, gid) = value.split_once(':').ok_or_else(invalid)?;
    Ok((
        uid.parse().map_err(|_| invalid())?,
        gid.parse().map_err(|_| invalid())?,
    ))
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
    /// The command: reads the daemon's readiness from the pipe.
    Parent(File),
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
    // SAFETY: the process has a single thread here (nothing has spawned
    // one yet), so the child may go on running Rust code.
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
        _ => {
            drop(write);
            Ok(Fork::Parent(File::from(read)))
        }
    }
}

/// The command's side: waits for the daemon to say the mount is live.
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
/// started `blockimg mount` is not kept waiting on them.
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
