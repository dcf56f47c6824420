//! Owners given by name only, resolved against the archive's own
//! `/etc/passwd` and `/etc/group` once the whole archive is read.

use std::io::Read;

use crate::tree::{NodeId, Tree};

/// Owners given by name only (headers whose numeric uid or gid is blank),
/// resolved when the whole archive has been read against the archive's own
/// `/etc/passwd` and `/etc/group`: the accounts of the system being built,
/// not the host's. `root` is 0 even without those files.
#[derive(Default)]
pub(super) struct OwnerNames {
    /// Nodes whose owner is still to resolve.
    pending: Vec<NamedOwner>,
    passwd: Vec<u8>,
    group: Vec<u8>,
}

/// A node whose user or group is known only by name.
struct NamedOwner {
    node: NodeId,
    member: String,
    user: Option<Vec<u8>>,
    group: Option<Vec<u8>>,
}

/// Most of `/etc/passwd` or `/etc/group` kept for resolving names.
const ACCOUNTS_LIMIT: u64 = 4 << 20;

impl OwnerNames {
    /// Wraps a member's data so that `/etc/passwd` and `/etc/group` are
    /// kept as they stream past.
    pub(super) fn watch<'a>(
        &'a mut self,
        components: &[Vec<u8>],
        body: impl Read + 'a,
    ) -> impl Read + 'a {
        let mut kept = match components {
            [etc, file] if etc == b"etc" && file == b"passwd" => Some(&mut self.passwd),
            [etc, file] if etc == b"etc" && file == b"group" => Some(&mut self.group),
            _ => None,
        };
        if let Some(kept) = kept.as_deref_mut() {
            // A later member of the same path replaces the earlier one.
            kept.clear();
        }
        Watched { body, kept }
    }

    /// Records the names of a member added as `id` (replacing what an
    /// earlier member of the same path left).
    pub(super) fn note(
        &mut self,
        id: NodeId,
        member: &str,
        user: Option<Vec<u8>>,
        group: Option<Vec<u8>>,
    ) {
        self.pending.retain(|named| named.node != id);
        if user.is_some() || group.is_some() {
            self.pending.push(NamedOwner {
                node: id,
                member: member.to_string(),
                user,
                group,
            });
        }
    }

    /// Sets the owners given by name, or says which name is unknown.
    pub(super) fn resolve(&self, tree: &mut Tree) -> std::result::Result<(), (String, String)> {
        for NamedOwner {
            node,
            member,
            user,
            group,
        } in &self.pending
        {
            let meta = &mut tree.node_mut(*node).meta;
            if let Some(user) = user {
                meta.uid = account_id(&self.passwd, user)
                    .ok_or_else(|| (member.clone(), unknown_name("user", user, "/etc/passwd")))?;
            }
            if let Some(group) = group {
                meta.gid = account_id(&self.group, group)
                    .ok_or_else(|| (member.clone(), unknown_name("group", group, "/etc/group")))?;
            }
        }
        Ok(())
    }
}

fn unknown_name(what: &str, name: &[u8], file: &str) -> String {
    format!(
        "the header has no numeric {what} id and the {what} name {:?} is not in the archive's {file}",
        String::from_utf8_lossy(name)
    )
}

/// The id of `name` in a passwd or group file (`name:x:id:...`); `root` is
/// 0 when the file does not list it.
fn account_id(file: &[u8], name: &[u8]) -> Option<u32> {
    let listed = file.split(|&b| b == b'\n').find_map(|line| {
        let mut fields = line.split(|&b| b == b':');
        (fields.next()? == name)
            .then(|| {
                std::str::from_utf8(fields.nth(1)?)
                    .ok()?
                    .trim()
                    .parse()
                    .ok()
            })
            .flatten()
    });
    listed.or((name == b"root").then_some(0))
}

/// A member's data reader that keeps a copy of what passes (up to
/// [`ACCOUNTS_LIMIT`]) when `kept` is set.
struct Watched<'a, R> {
    body: R,
    kept: Option<&'a mut Vec<u8>>,
}

impl<R: Read> Read for Watched<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.body.read(buf)?;
        if let Some(kept) = self.kept.as_deref_mut() {
            let room = (ACCOUNTS_LIMIT as usize).saturating_sub(kept.len());
            kept.extend_from_slice(&buf[..n.min(room)]);
        }
        Ok(n)
    }
}
