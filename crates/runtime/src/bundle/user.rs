//! Resolving docker's `--user` (`name`, `uid`, `name:group`, `uid:gid`) against the image's own
//! `/etc/passwd` and `/etc/group`, read through the rootfs without following links out of it.

use std::ffi::OsString;
use std::fs;
use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::unpack::resolve_in_root;

const MAX_DB_BYTES: u64 = 4 << 20;

/// The process identity a user spec resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups: `/etc/group` membership, or the primary group when there is none
    /// (as docker).
    pub additional_gids: Vec<u32>,
    /// Home directory from `/etc/passwd`, if the user has an entry.
    pub home: Option<String>,
}

struct PasswdEntry {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct GroupEntry {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn read_db(rootfs: &Path, file: &str) -> String {
    let comps: Vec<OsString> = vec!["etc".into(), file.into()];
    let Ok(path) = resolve_in_root(rootfs, &comps, file) else { return String::new() };
    let mut out = String::new();
    match fs::symlink_metadata(&path) {
        Ok(md) if md.is_file() => {
            if let Ok(f) = fs::File::open(&path) {
                let _ = f.take(MAX_DB_BYTES).read_to_string(&mut out);
            }
        }
        _ => {}
    }
    out
}

fn passwd(rootfs: &Path) -> Vec<PasswdEntry> {
    read_db(rootfs, "passwd")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(PasswdEntry {
                name: (*f.first()?).to_owned(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).map(|s| (*s).to_owned()).unwrap_or_default(),
            })
        })
        .collect()
}

fn groups(rootfs: &Path) -> Vec<GroupEntry> {
    read_db(rootfs, "group")
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(GroupEntry {
                name: (*f.first()?).to_owned(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| m.split(',').filter(|s| !s.is_empty()).map(str::to_owned).collect())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// Resolves `spec` as docker does. An empty spec is root.
pub fn resolve_user(rootfs: &Path, spec: &str) -> Result<ResolvedUser> {
    let not_found = |reason: String| Error::UserNotFound { user: spec.to_owned(), reason };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "0" } else { user };
    let pw = passwd(rootfs);
    let entry = match user.parse::<u32>() {
        Ok(uid) => pw.iter().find(|e| e.uid == uid),
        Err(_) => Some(
            pw.iter()
                .find(|e| e.name == user)
                .ok_or_else(|| not_found(format!("no matching entries in passwd file for {user:?}")))?,
        ),
    };
    let uid = match (user.parse::<u32>(), entry) {
        (Ok(uid), _) => uid,
        (Err(_), Some(e)) => e.uid,
        (Err(_), None) => return Err(not_found("no passwd entry".into())),
    };
    let grp = groups(rootfs);
    let gid = match group {
        None => entry.map(|e| e.gid).unwrap_or(0),
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => grp
                .iter()
                .find(|e| e.name == g)
                .map(|e| e.gid)
                .ok_or_else(|| not_found(format!("no matching entries in group file for {g:?}")))?,
        },
    };
    // As libcontainer's GetExecUser (what docker uses): the groups listing the user as a
    // member, or else just the primary group.
    let mut additional_gids = Vec::new();
    if group.is_none() {
        if let Some(e) = entry {
            for g in grp.iter().filter(|g| g.members.iter().any(|m| m == &e.name)) {
                if !additional_gids.contains(&g.gid) {
                    additional_gids.push(g.gid);
                }
            }
        }
    }
    if additional_gids.is_empty() {
        additional_gids.push(gid);
    }
    Ok(ResolvedUser { uid, gid, additional_gids, home: entry.map(|e| e.home.clone()).filter(|h| !h.is_empty()) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rootfs() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        fs::create_dir(d.path().join("etc")).unwrap();
        fs::write(d.path().join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n").unwrap();
        fs::write(d.path().join("etc/group"), "root:x:0:\napp:x:1001:\nstaff:x:50:app,other\n").unwrap();
        d
    }

    #[test]
    fn names_and_ids_resolve_like_docker() {
        let r = rootfs();
        assert_eq!(resolve_user(r.path(), "").unwrap().uid, 0);
        let app = resolve_user(r.path(), "app").unwrap();
        assert_eq!((app.uid, app.gid, app.additional_gids.clone()), (1000, 1001, vec![50]));
        assert_eq!(app.home.as_deref(), Some("/home/app"));
        let n = resolve_user(r.path(), "4242").unwrap();
        assert_eq!((n.uid, n.gid), (4242, 0));
        let g = resolve_user(r.path(), "app:staff").unwrap();
        assert_eq!((g.uid, g.gid), (1000, 50));
        assert_eq!(resolve_user(r.path(), "1000:7").unwrap().gid, 7);
        assert!(matches!(resolve_user(r.path(), "ghost"), Err(Error::UserNotFound { .. })));
        assert!(matches!(resolve_user(r.path(), "app:ghosts"), Err(Error::UserNotFound { .. })));
    }

    #[test]
    fn passwd_symlink_out_of_rootfs_is_not_followed() {
        let r = tempfile::tempdir().unwrap();
        fs::create_dir(r.path().join("etc")).unwrap();
        // Points at the host's passwd by relative escape; must not be read.
        std::os::unix::fs::symlink("../../../../../../../../etc/passwd", r.path().join("etc/passwd")).unwrap();
        assert!(matches!(resolve_user(r.path(), "root"), Err(Error::UserNotFound { .. })));
    }
}
