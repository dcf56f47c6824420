//! The library directories named by `/etc/ld.so.conf` and the files it
//! includes, as `ldconfig` reads them (the dynamic loader finds libraries
//! through the cache `ldconfig` builds from these directories).

use std::fs;

use super::hostfs::{components, split_last, HostFs};
use crate::error::{Error, Result};
use crate::glob::Glob;

/// Includes nested deeper than this are ignored.
const MAX_INCLUDE_DEPTH: usize = 16;

/// One meaningful line of an `ld.so.conf` file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Directive {
    /// A directory to search.
    Dir(Vec<u8>),
    /// `include PATTERN`: files whose directories are read too.
    Include(Vec<u8>),
}

/// Parses the text of an `ld.so.conf` file: `#` starts a comment, `include`
/// names glob patterns of further files, `hwcap` lines are ignored, and any
/// other line lists directories separated by blanks, `:` or `,` (an old
/// `=TYPE` suffix is dropped).
pub fn parse(text: &[u8]) -> Vec<Directive> {
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let line = match line.iter().position(|&b| b == b'#') {
            Some(hash) => &line[..hash],
            None => line,
        };
        let mut words = line
            .split(|b| b.is_ascii_whitespace())
            .filter(|w| !w.is_empty());
        let Some(first) = words.next() else {
            continue;
        };
        match first {
            b"include" => out.extend(words.map(|w| Directive::Include(w.to_vec()))),
            b"hwcap" => {}
            _ => {
                for word in std::iter::once(first).chain(words) {
                    for dir in word.split(|&b| b == b':' || b == b',') {
                        let dir = match dir.iter().position(|&b| b == b'=') {
                            Some(eq) => &dir[..eq],
                            None => dir,
                        };
                        if !dir.is_empty() {
                            out.push(Directive::Dir(dir.to_vec()));
                        }
                    }
                }
            }
        }
    }
    out
}

/// The directories listed by `/etc/ld.so.conf` of `host` and its includes,
/// in order, without repeats. A missing `ld.so.conf` lists none.
///
/// # Errors
///
/// [`Error::Io`] when a file exists but cannot be read.
pub fn directories(host: &HostFs) -> Result<Vec<Vec<u8>>> {
    let mut dirs = Vec::new();
    read_conf(host, b"/etc/ld.so.conf", &mut Vec::new(), &mut dirs)?;
    Ok(dirs)
}

/// Reads `file` and what it includes; `open` holds the files being read,
/// so a file including itself (directly or not) is not read again.
fn read_conf(
    host: &HostFs,
    file: &[u8],
    open: &mut Vec<Vec<u8>>,
    dirs: &mut Vec<Vec<u8>>,
) -> Result<()> {
    if open.len() > MAX_INCLUDE_DEPTH || open.iter().any(|f| f == file) {
        return Ok(());
    }
    let path = host.host_path(file);
    let text = match fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(&path, e)),
    };
    let base = split_last(file)
        .map(|(parent, _)| parent)
        .unwrap_or_default();
    for directive in parse(&text) {
        match directive {
            Directive::Dir(dir) => {
                if !dirs.contains(&dir) {
                    dirs.push(dir);
                }
            }
            Directive::Include(pattern) => {
                let pattern = if pattern.starts_with(b"/") {
                    pattern
                } else {
                    [&base[..], b"/", &pattern[..]].concat()
                };
                open.push(file.to_vec());
                for included in glob(host, &pattern) {
                    read_conf(host, &included, open, dirs)?;
                }
                open.pop();
            }
        }
    }
    Ok(())
}

/// The image paths matching `pattern` (`*`, `?` and `[...]` in any
/// component), sorted.
fn glob(host: &HostFs, pattern: &[u8]) -> Vec<Vec<u8>> {
    let mut matches = vec![Vec::new()];
    for component in components(pattern) {
        let wildcard = Glob::new(component);
        let mut next = Vec::new();
        for prefix in &matches {
            if !component.iter().any(|b| b"*?[".contains(b)) {
                next.push([&prefix[..], b"/", component].concat());
                continue;
            }
            let Ok(listing) = fs::read_dir(host.host_path(prefix)) else {
                continue;
            };
            let mut names: Vec<Vec<u8>> = listing
                .filter_map(|e| e.ok())
                .map(|e| std::os::unix::ffi::OsStrExt::as_bytes(e.file_name().as_os_str()).to_vec())
                .filter(|name| !name.starts_with(b".") && wildcard.matches(name))
                .collect();
            names.sort();
            next.extend(
                names
                    .into_iter()
                    .map(|n| [&prefix[..], b"/", &n[..]].concat()),
            );
        }
        matches = next;
    }
    matches.retain(|m| host.host_path(m).is_file());
    matches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_directories_includes_and_comments() {
        let text = b"# comment\ninclude /etc/ld.so.conf.d/*.conf\n/usr/local/lib # local\n/opt/a:/opt/b,/opt/c=libc6\nhwcap 0 nosegneg\n";
        assert_eq!(
            parse(text),
            vec![
                Directive::Include(b"/etc/ld.so.conf.d/*.conf".to_vec()),
                Directive::Dir(b"/usr/local/lib".to_vec()),
                Directive::Dir(b"/opt/a".to_vec()),
                Directive::Dir(b"/opt/b".to_vec()),
                Directive::Dir(b"/opt/c".to_vec()),
            ]
        );
    }

    #[test]
    fn includes_are_read_in_order_relative_to_the_including_file() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc");
        fs::create_dir_all(etc.join("ld.so.conf.d")).unwrap();
        fs::write(
            etc.join("ld.so.conf"),
            "include ld.so.conf.d/*.conf\n/first\n",
        )
        .unwrap();
        fs::write(etc.join("ld.so.conf.d/b.conf"), "/b\n/first\n").unwrap();
        fs::write(
            etc.join("ld.so.conf.d/a.conf"),
            "/a\ninclude /etc/ld.so.conf\n",
        )
        .unwrap();
        let dirs = directories(&HostFs::new(dir.path())).unwrap();
        assert_eq!(
            dirs,
            vec![b"/a".to_vec(), b"/b".to_vec(), b"/first".to_vec()]
        );
    }
}
