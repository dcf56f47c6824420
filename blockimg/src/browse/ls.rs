//! Listing a directory or one entry of an image's filesystem as
//! `ls -lan --time-style=full-iso` does (numeric owners, times in UTC).

use super::resolve;
use crate::error::Result;
use crate::ext4::read::{Ext4Reader, FileType, Stat};
use crate::tree::Timestamp;

/// One entry of a listing.
///
/// # Examples
///
/// ```
/// use blockimg::browse::ls::{list, long_lines};
/// use blockimg::disk::found::ImageSpec;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// let fs = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?.open_ext4()?;
/// let entries = list(&fs, b"/etc/name")?; // the symlink itself
/// assert_eq!((entries[0].name.as_slice(), entries[0].target.as_deref()), (&b"/etc/name"[..], Some(&b"hostname"[..]))); // named as asked
/// assert_eq!(entries[0].stat.meta.uid, 0);
/// # let _ = long_lines;
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListEntry {
    /// Its name (`.` and `..` for the directory and its parent; the path
    /// as given when a single entry is listed).
    pub name: Vec<u8>,
    /// What its inode says.
    pub stat: Stat,
    /// The target, for a symlink.
    pub target: Option<Vec<u8>>,
}

/// The entries `ls -a` shows for `path`: a directory's `.`, `..` and
/// entries sorted by name (byte order, as `LC_ALL=C ls`), or the single
/// entry `path` names (a final symlink is not followed).
///
/// # Examples
///
/// ```
/// use blockimg::browse::ls::{list, long_lines};
/// use blockimg::disk::found::ImageSpec;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\ntable = \"gpt\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[text]]\npath = \"/etc/hostname\"\ncontent = \"appliance\\n\"\n\
/// #             [[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// # let image = dir.path().join("disk.img");
/// let fs = ImageSpec::parse(image.as_os_str())?.open_ext4()?;
/// let entries = list(&fs, b"/etc")?;
/// let names: Vec<&[u8]> = entries.iter().map(|e| &e.name[..]).collect();
/// assert_eq!(names, [&b"."[..], b"..", b"hostname", b"name"]);
/// assert_eq!(entries[3].target.as_deref(), Some(&b"hostname"[..]));
/// for line in long_lines(&entries) {
///     println!("{}", String::from_utf8_lossy(&line)); // as `ls -lan --time-style=full-iso`
/// }
/// # Ok(())
/// # }
/// ```
pub fn list(reader: &Ext4Reader, path: &[u8]) -> Result<Vec<ListEntry>> {
    let ino = resolve(reader, path, false)?;
    let stat = reader.stat(ino)?;
    if stat.file_type != FileType::Directory {
        return Ok(vec![entry(reader, path.to_vec(), stat)?]);
    }
    let mut parent_path = path.to_vec();
    parent_path.extend_from_slice(b"/..");
    let parent = resolve(reader, &parent_path, false)?;
    let mut entries = vec![
        entry(reader, b".".to_vec(), stat)?,
        entry(reader, b"..".to_vec(), reader.stat(parent)?)?,
    ];
    let mut children = reader.read_dir(ino)?;
    children.sort_by(|a, b| a.name.cmp(&b.name));
    for child in children {
        let stat = reader.stat(child.ino)?;
        entries.push(entry(reader, child.name, stat)?);
    }
    Ok(entries)
}

fn entry(reader: &Ext4Reader, name: Vec<u8>, stat: Stat) -> Result<ListEntry> {
    let target = match stat.file_type {
        FileType::Symlink => Some(reader.readlink(stat.ino)?),
        _ => None,
    };
    Ok(ListEntry { name, stat, target })
}

/// The lines of `ls -lan --time-style=full-iso` for `entries`, columns
/// aligned as `ls` aligns them: mode, links, uid, gid, size (or
/// `major, minor`), modification time with nanoseconds, name and
/// `-> target`.
///
/// # Examples
///
/// ```
/// use blockimg::browse::ls::{list, long_lines};
/// use blockimg::disk::found::ImageSpec;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let text = "timestamp = 1700000000\n[disk]\nsize = \"8M\"\n[[output]]\npath = \"disk.img\"\n\
/// #             [[symlink]]\npath = \"/etc/name\"\ntarget = \"hostname\"\n";
/// # blockimg::recipe::build(&blockimg::recipe::parse(text, &dir.path().join("image.toml"))?, false, &mut blockimg::Silent)?;
/// let fs = ImageSpec::parse(dir.path().join("disk.img").as_os_str())?.open_ext4()?;
/// let lines = long_lines(&list(&fs, b"/etc")?);
/// let last = String::from_utf8(lines.last().cloned().unwrap_or_default())?;
/// assert!(last.starts_with("lrwxrwxrwx 1 0 0"));
/// assert!(last.ends_with("name -> hostname"));
/// # Ok(())
/// # }
/// ```
pub fn long_lines(entries: &[ListEntry]) -> Vec<Vec<u8>> {
    let cells: Vec<[String; 4]> = entries
        .iter()
        .map(|e| {
            let size = match e.stat.rdev {
                Some((major, minor)) if is_device(e.stat.file_type) => {
                    format!("{major}, {minor}")
                }
                _ => e.stat.size.to_string(),
            };
            [
                e.stat.links.to_string(),
                e.stat.meta.uid.to_string(),
                e.stat.meta.gid.to_string(),
                size,
            ]
        })
        .collect();
    let width = |i: usize| cells.iter().map(|c| c[i].len()).max().unwrap_or(0);
    let (links_w, uid_w, gid_w, size_w) = (width(0), width(1), width(2), width(3));
    entries
        .iter()
        .zip(&cells)
        .map(|(e, [links, uid, gid, size])| {
            let mut line = format!(
                "{} {links:>links_w$} {uid:>uid_w$} {gid:>gid_w$} {size:>size_w$} {} ",
                mode_string(e.stat.mode()),
                full_iso(e.stat.meta.mtime),
            )
            .into_bytes();
            line.extend_from_slice(&e.name);
            if let Some(target) = &e.target {
                line.extend_from_slice(b" -> ");
                line.extend_from_slice(target);
            }
            line
        })
        .collect()
}

fn is_device(file_type: FileType) -> bool {
    matches!(file_type, FileType::CharDevice | FileType::BlockDevice)
}

/// `drwxr-xr-x`, `-rwsr-x---`, `crw-rw-rw-`, ... as `ls -l` shows `mode`.
///
/// # Examples
///
/// ```
/// use blockimg::browse::ls::mode_string;
///
/// assert_eq!(mode_string(0o040755), "drwxr-xr-x");
/// assert_eq!(mode_string(0o104750), "-rwsr-x---");
/// assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
/// ```
pub fn mode_string(mode: u16) -> String {
    let kind = match FileType::from_mode(mode) {
        Some(FileType::RegularFile) => '-',
        Some(FileType::Directory) => 'd',
        Some(FileType::Symlink) => 'l',
        Some(FileType::CharDevice) => 'c',
        Some(FileType::BlockDevice) => 'b',
        Some(FileType::Fifo) => 'p',
        Some(FileType::Socket) => 's',
        None => '?',
    };
    let bit = |mask: u16, c: char| if mode & mask != 0 { c } else { '-' };
    // The execute slot shows the special bit: lowercase when executable.
    let special = |exec: u16, special: u16, lower: char, upper: char| match (
        mode & exec != 0,
        mode & special != 0,
    ) {
        (true, true) => lower,
        (false, true) => upper,
        (true, false) => 'x',
        (false, false) => '-',
    };
    [
        kind,
        bit(0o400, 'r'),
        bit(0o200, 'w'),
        special(0o100, 0o4000, 's', 'S'),
        bit(0o040, 'r'),
        bit(0o020, 'w'),
        special(0o010, 0o2000, 's', 'S'),
        bit(0o004, 'r'),
        bit(0o002, 'w'),
        special(0o001, 0o1000, 't', 'T'),
    ]
    .iter()
    .collect()
}

/// `2024-01-02 03:04:05.123456789 +0000`, as `--time-style=full-iso` shows
/// a time in UTC.
///
/// # Examples
///
/// ```
/// use blockimg::browse::ls::full_iso;
/// use blockimg::tree::Timestamp;
///
/// let time = Timestamp { secs: 1_700_000_000, nanos: 5 };
/// assert_eq!(full_iso(time), "2023-11-14 22:13:20.000000005 +0000");
/// ```
pub fn full_iso(time: Timestamp) -> String {
    let t = time.utc();
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:09} +0000",
        t.year, t.month, t.day, t.hour, t.minute, t.second, time.nanos
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_strings_match_ls() {
        assert_eq!(mode_string(0o040755), "drwxr-xr-x");
        assert_eq!(mode_string(0o104755), "-rwsr-xr-x");
        assert_eq!(mode_string(0o102644), "-rw-r-Sr--");
        assert_eq!(mode_string(0o041777), "drwxrwxrwt");
        assert_eq!(mode_string(0o041776), "drwxrwxrwT");
        assert_eq!(mode_string(0o120777), "lrwxrwxrwx");
        assert_eq!(mode_string(0o020620), "crw--w----");
    }

    #[test]
    fn times_print_in_utc_with_nanoseconds() {
        let t = Timestamp {
            secs: 1_700_000_000,
            nanos: 5,
        };
        assert_eq!(full_iso(t), "2023-11-14 22:13:20.000000005 +0000");
        assert_eq!(
            full_iso(Timestamp::from_secs(-1)),
            "1969-12-31 23:59:59.000000000 +0000"
        );
    }
}
