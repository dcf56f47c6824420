//! `blockimg mount` and `blockimg umount`: the command line of
//! [`fuse_mount::mount`] and [`fuse_mount::unmount`].

use std::ffi::OsString;
use std::path::PathBuf;

use blockimg::disk::ImageSpec;
use blockimg::image::ExistingFilesystem;
use fuse_mount::{Access, Error, MountOptions, Result};

use super::common::commit_steps;

/// `blockimg mount`.
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
    /// Mount options in FUSE's form, comma-separated, repeatable:
    /// `allow_other` (every user may use the mount, held to the image's
    /// owners and modes; the default when root mounts without fakeroot),
    /// `allow_root` (only the user who mounted and root),
    /// `default_permissions` (the kernel checks owners and modes: always,
    /// except with fakeroot), `ro`, `rw`, `fakeroot`, `owner=UID:GID`.
    /// A user other than root needs `user_allow_other` in /etc/fuse.conf
    /// for `allow_other` and `allow_root`.
    #[arg(short = 'o', value_name = "OPT[,OPT...]")]
    pub options: Vec<String>,
}

/// `blockimg umount`.
#[derive(Debug, clap::Args)]
pub struct UmountArgs {
    /// The mountpoint given to `blockimg mount`.
    pub mountpoint: PathBuf,
}

impl MountArgs {
    /// The library's options for these arguments: the image spec parsed,
    /// then `--owner` and the `-o` options (so that a bad image spec is
    /// reported first).
    pub fn options(self) -> Result<MountOptions> {
        let image = ImageSpec::parse(&self.image)?;
        let owner = self
            .owner
            .as_deref()
            .map(|value| parse_owner("--owner", value))
            .transpose()?;
        let mut o = OptionList {
            read_only: self.ro.then_some("--ro"),
            owner,
            fakeroot: self.fakeroot,
            ..OptionList::default()
        };
        for option in self.options.iter().flat_map(|list| list.split(',')) {
            o.add(option)?;
        }
        if o.fakeroot && o.default_permissions {
            return Err(invalid(
                "default_permissions",
                "fakeroot turns permission checks off".into(),
            ));
        }
        Ok(MountOptions::new(image, self.mountpoint)
            .foreground(self.foreground)
            .read_only(o.read_only.is_some())
            .owner(o.owner)
            .fakeroot(o.fakeroot)
            .threads(self.threads)
            .access(o.access))
    }
}

/// The flags and `-o` options, as they are added.
#[derive(Default)]
struct OptionList {
    /// `ro` or `rw`, and which (the first given).
    read_only: Option<&'static str>,
    read_write: bool,
    owner: Option<(u32, u32)>,
    fakeroot: bool,
    default_permissions: bool,
    access: Option<Access>,
}

impl OptionList {
    /// Adds option `option` of a `-o` list.
    fn add(&mut self, option: &str) -> Result<()> {
        match option.split_once('=') {
            Some(("owner", value)) => self.owner = Some(parse_owner("-o owner", value)?),
            Some(_) => return Err(invalid(option, "not a known option".into())),
            None => match option {
                "" => {}
                "ro" => self.read_only = Some("ro"),
                "rw" => self.read_write = true,
                "fakeroot" => self.fakeroot = true,
                "default_permissions" => self.default_permissions = true,
                "allow_other" => self.allow(Access::Everyone)?,
                "allow_root" => self.allow(Access::MounterAndRoot)?,
                _ => return Err(invalid(option, format!("not a known option ({KNOWN})"))),
            },
        }
        if let (Some(ro), true) = (self.read_only, self.read_write) {
            return Err(invalid("rw", format!("{ro} asks for the opposite")));
        }
        Ok(())
    }

    /// `allow_other` or `allow_root`: one of them.
    fn allow(&mut self, access: Access) -> Result<()> {
        match self.access {
            Some(other) if other != access => Err(invalid(
                "allow_other",
                "allow_other and allow_root exclude each other".into(),
            )),
            _ => {
                self.access = Some(access);
                Ok(())
            }
        }
    }
}

/// The `-o` options `blockimg mount` takes.
const KNOWN: &str = "allow_other, allow_root, default_permissions, ro, rw, fakeroot, owner=UID:GID";

fn invalid(option: &str, reason: String) -> Error {
    Error::InvalidOption {
        option: format!("-o {option}"),
        reason,
    }
}

/// Mounts the image; returns once the mount is live (or, with
/// `--foreground`, once it was unmounted and committed).
/// Read-write, a journal holding changes not yet applied is replayed into
/// the image first, with a note.
pub fn run_mount(args: MountArgs) -> Result<()> {
    let options = args.options()?;
    if !options.read_only {
        if let Some(replayed) = ExistingFilesystem::replay_journal(&options.image)? {
            eprintln!(
                "blockimg: note: {}: journal replayed into the image: {replayed}",
                options.image.path.display()
            );
        }
    }
    fuse_mount::mount_observed(&options, Box::new(commit_steps())).map(drop)
}

/// Unmounts the mountpoint and waits for its daemon's commit.
pub fn run_umount(args: UmountArgs) -> Result<()> {
    if let fuse_mount::Commit::Written { how } = fuse_mount::unmount(&args.mountpoint)? {
        eprintln!("{}: image {how}", args.mountpoint.display());
    }
    Ok(())
}

/// `UID:GID`, both numeric, the value of `flag`. Checked after the
/// command line is parsed, as an error of the command (exit status 1)
/// rather than one of its usage.
fn parse_owner(flag: &str, value: &str) -> Result<(u32, u32)> {
    let invalid = || Error::InvalidOption {
        option: flag.into(),
        reason: format!("{value:?} is not UID:GID (numeric)"),
    };
    let (uid, gid) = value.split_once(':').ok_or_else(invalid)?;
    Ok((
        uid.parse().map_err(|_| invalid())?,
        gid.parse().map_err(|_| invalid())?,
    ))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// A command line with `blockimg mount`'s arguments.
    #[derive(Parser)]
    struct Mount {
        #[command(flatten)]
        mount: MountArgs,
    }

    /// A command line with `blockimg umount`'s arguments.
    #[derive(Parser)]
    struct Umount {
        #[command(flatten)]
        umount: UmountArgs,
    }

    fn mount_args(args: &[&str]) -> std::result::Result<MountArgs, clap::Error> {
        Mount::try_parse_from(std::iter::once("blockimg-mount").chain(args.iter().copied()))
            .map(|cli| cli.mount)
    }

    #[test]
    fn defaults_and_flags_become_options() {
        let args = mount_args(&["disk.img:2", "/mnt/image", "--ro"]).unwrap();
        assert_eq!(args.image, "disk.img:2");
        assert!(args.ro && !args.foreground);
        assert_eq!(args.threads, 1);
        let options = args.options().unwrap();
        assert_eq!(options.image.path, std::path::Path::new("disk.img"));
        assert_eq!(options.image.partition, Some(2));
        assert_eq!(options.mountpoint, std::path::Path::new("/mnt/image"));
        assert!(options.read_only && !options.foreground && !options.fakeroot);
        assert_eq!((options.owner, options.threads), (None, 1));

        let all = [
            "disk.img",
            "mnt",
            "-f",
            "--owner",
            "1000:100",
            "--fakeroot",
            "--threads",
            "64",
        ];
        let options = mount_args(&all).unwrap().options().unwrap();
        assert!(options.foreground && options.fakeroot && !options.read_only);
        assert_eq!((options.owner, options.threads), (Some((1000, 100)), 64));
    }

    #[test]
    fn fuse_options_are_aliases_of_the_flags() {
        let args = [
            "disk.img",
            "mnt",
            "-o",
            "ro,fakeroot",
            "-o",
            "owner=1000:100",
        ];
        let options = mount_args(&args).unwrap().options().unwrap();
        assert!(options.read_only && options.fakeroot);
        assert_eq!((options.owner, options.access), (Some((1000, 100)), None));
        let args = [
            "disk.img",
            "mnt",
            "-o",
            "allow_other,default_permissions,rw",
        ];
        let options = mount_args(&args).unwrap().options().unwrap();
        assert_eq!(options.access, Some(Access::Everyone));
        assert!(!options.read_only);
        let args = ["disk.img", "mnt", "-oallow_root"];
        let options = mount_args(&args).unwrap().options().unwrap();
        assert_eq!(options.access, Some(Access::MounterAndRoot));
    }

    #[test]
    fn contradicting_or_unknown_fuse_options_are_refused() {
        for (list, message) in [
            (
                "allow_other,allow_root",
                "invalid -o allow_other: allow_other and allow_root exclude each other",
            ),
            ("ro,rw", "invalid -o rw: ro asks for the opposite"),
            (
                "fakeroot,default_permissions",
                "invalid -o default_permissions: fakeroot turns permission checks off",
            ),
            (
                "owner=1",
                "invalid -o owner: \"1\" is not UID:GID (numeric)",
            ),
            ("size=1", "invalid -o size=1: not a known option"),
        ] {
            let args = mount_args(&["disk.img", "mnt", "-o", list]).unwrap();
            assert_eq!(args.options().unwrap_err().to_string(), message, "{list}");
        }
        let args = mount_args(&["disk.img", "mnt", "--ro", "-o", "rw"]).unwrap();
        let err = args.options().unwrap_err().to_string();
        assert_eq!(err, "invalid -o rw: --ro asks for the opposite");
        let args = mount_args(&["disk.img", "mnt", "-o", "noexec"]).unwrap();
        let err = args.options().unwrap_err().to_string();
        assert!(
            err.contains("not a known option (allow_other, allow_root"),
            "{err}"
        );
    }

    #[test]
    fn threads_are_1_to_64() {
        for bad in ["0", "65", "x"] {
            assert!(mount_args(&["disk.img", "mnt", "--threads", bad]).is_err());
        }
    }

    #[test]
    fn owner_must_be_numeric_uid_gid() {
        for bad in ["x", "1000", "a:1", "1:b", "1:2:3", "-1:0"] {
            let owner = format!("--owner={bad}");
            let args = mount_args(&["disk.img", "mnt", &owner]).unwrap();
            let err = args.options().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("invalid --owner: {bad:?} is not UID:GID (numeric)")
            );
        }
    }

    #[test]
    fn a_bad_partition_is_reported_before_a_bad_owner() {
        let args = mount_args(&["disk.img:0", "mnt", "--owner", "x"]).unwrap();
        let err = args.options().unwrap_err().to_string();
        assert!(err.contains("partitions are numbered from 1"), "{err}");
    }

    #[test]
    fn umount_takes_the_mountpoint() {
        let cli = Umount::try_parse_from(["blockimg-umount", "/mnt/image"]).unwrap();
        assert_eq!(cli.umount.mountpoint, std::path::Path::new("/mnt/image"));
    }
}
