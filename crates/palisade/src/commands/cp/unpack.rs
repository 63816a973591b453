//! Unpacking the tar of `GET /containers/{ref}/archive` into a host directory, as `docker cp`
//! does, with every entry kept inside that directory.
//!
//! The archive is checked whole before anything is written: an entry named absolutely or with
//! `..`, one outside the archive's top-level entry, one below a symbolic link (of the archive
//! or already on the host), a hard link to anything but a file the archive holds, a device
//! node, or a directory replacing a file (or the reverse) is refused. Symbolic links are
//! written as they are (their targets are not followed when writing). Named pipes are skipped
//! with a warning. Files get the archive's permission bits, not its owners.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use anyhow::Context as _;

/// What the archive's top-level entry becomes in the destination directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Top {
    /// The entry under this name.
    Named(String),
    /// Only what the entry (a directory) holds, straight into the destination.
    Contents,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
    HardLink,
}

/// One entry to write: where (relative to the destination) and, for a hard link, to what.
#[derive(Debug)]
struct Step {
    path: PathBuf,
    kind: Kind,
    link: Option<PathBuf>,
}

/// Unpacks `archive` into the existing directory `dir`, its top-level entry as `top` says.
pub(super) fn unpack(archive: &[u8], dir: &Path, top: &Top) -> anyhow::Result<()> {
    let dir = dir.canonicalize().with_context(|| format!("destination directory {}", dir.display()))?;
    anyhow::ensure!(dir.is_dir(), "destination {} is not a directory", dir.display());
    let steps = plan(archive, &dir, top)?;
    let mut tar = tar::Archive::new(archive);
    for (entry, step) in tar.entries()?.zip(steps) {
        let mut entry = entry?;
        let Some(step) = step else { continue };
        let target = dir.join(&step.path);
        make_parents(&dir, &step.path)?;
        let existing = std::fs::symlink_metadata(&target).ok();
        if step.kind != Kind::Dir && existing.is_some_and(|m| !m.is_dir()) {
            std::fs::remove_file(&target).with_context(|| format!("replacing {}", target.display()))?;
        }
        match (step.kind, &step.link) {
            (Kind::HardLink, Some(link)) => std::fs::hard_link(dir.join(link), &target)
                .with_context(|| format!("linking {} to {}", target.display(), link.display()))?,
            _ => {
                entry.unpack(&target).with_context(|| format!("writing {}", target.display()))?;
            }
        }
    }
    Ok(())
}

/// The steps of `archive` in order (`None`: nothing to write), or why it is refused.
fn plan(archive: &[u8], dir: &Path, top: &Top) -> anyhow::Result<Vec<Option<Step>>> {
    let mut steps = Vec::new();
    // The archive's top-level entry (its first), and every path planned: whether a directory.
    let mut root: Option<PathBuf> = None;
    let mut planned: BTreeMap<PathBuf, bool> = BTreeMap::new();
    for entry in tar::Archive::new(archive).entries()? {
        let entry = entry?;
        let name = entry.path()?.into_owned();
        let refuse = |why: String| anyhow::anyhow!("refusing the archive entry {}: {why}", name.display());
        let kind = match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => Kind::File,
            tar::EntryType::Directory => Kind::Dir,
            tar::EntryType::Symlink => Kind::Symlink,
            tar::EntryType::Link => Kind::HardLink,
            tar::EntryType::XGlobalHeader => {
                steps.push(None);
                continue;
            }
            tar::EntryType::Fifo => {
                eprintln!("palisade cp: {}: named pipes are not copied", name.display());
                steps.push(None);
                continue;
            }
            other => return Err(refuse(format!("{other:?} entries (device nodes and the like) are not copied"))),
        };
        let normal = normalize(&name).map_err(refuse)?;
        let root = root.get_or_insert_with(|| normal.clone());
        let Some(path) = place(&normal, root, top).map_err(refuse)? else {
            if kind != Kind::Dir {
                return Err(refuse("copying a directory's contents, but the archive holds a file".into()));
            }
            steps.push(None);
            continue;
        };
        check(&path, kind == Kind::Dir, dir, &planned).map_err(refuse)?;
        let link = match kind {
            Kind::HardLink => {
                let target = entry.link_name()?.ok_or_else(|| refuse("a hard link without a target".into()))?;
                let placed = normalize(&target).and_then(|t| place(&t, root, top)).map_err(refuse)?;
                match placed {
                    Some(t) if planned.get(&t) == Some(&false) => Some(t),
                    _ => return Err(refuse(format!("a hard link to {}, a file the archive does not hold", target.display()))),
                }
            }
            _ => None,
        };
        planned.insert(path.clone(), kind == Kind::Dir);
        steps.push(Some(Step { path, kind, link }));
    }
    Ok(steps)
}

/// `name` without `.` components; absolute names and `..` are refused.
fn normalize(name: &Path) -> Result<PathBuf, String> {
    let mut out = PathBuf::new();
    for component in name.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::CurDir => {}
            Component::RootDir | Component::ParentDir | Component::Prefix(_) => {
                return Err("it names a place outside the destination (absolute or with ..)".into())
            }
        }
    }
    Ok(out)
}

/// Where `normal` (a normalized archive name) goes, relative to the destination: below the
/// archive's `root` entry, rebased as `top` says; `None` for the root itself with
/// [`Top::Contents`].
fn place(normal: &Path, root: &Path, top: &Top) -> Result<Option<PathBuf>, String> {
    if root.components().count() > 1 {
        return Err("the archive does not start with its top-level entry".into());
    }
    let below = normal.strip_prefix(root).map_err(|_| format!("it is not below the archive's top-level entry {}", root.display()))?;
    // (`join("")` would add a trailing `/`, which makes the host follow a final symlink.)
    Ok(match top {
        Top::Named(name) if below.as_os_str().is_empty() => Some(PathBuf::from(name)),
        Top::Named(name) => Some(Path::new(name).join(below)),
        Top::Contents if below.as_os_str().is_empty() => None,
        Top::Contents => Some(below.to_owned()),
    })
}

/// Refuses writing `path` (a directory or not) into `dir` when one of its parents is, in the
/// archive or on the host, anything but a directory (a symbolic link above all), or when it
/// would replace a directory with a non-directory or the reverse.
fn check(path: &Path, is_dir: bool, dir: &Path, planned: &BTreeMap<PathBuf, bool>) -> Result<(), String> {
    let mut parents: Vec<&Path> = path.ancestors().skip(1).filter(|p| !p.as_os_str().is_empty()).collect();
    parents.reverse();
    for parent in parents {
        let parent_is_dir = match planned.get(parent) {
            Some(planned_dir) => *planned_dir,
            None => std::fs::symlink_metadata(dir.join(parent)).map_or(true, |m| m.is_dir()),
        };
        if !parent_is_dir {
            return Err(format!("{} is not a directory (it would be written through it)", dir.join(parent).display()));
        }
    }
    let existing_dir = match planned.get(path) {
        Some(planned_dir) => Some(*planned_dir),
        None => std::fs::symlink_metadata(dir.join(path)).ok().map(|m| m.is_dir()),
    };
    match existing_dir {
        Some(true) if !is_dir => Err(format!("cannot overwrite directory {} with a non-directory", dir.join(path).display())),
        Some(false) if is_dir => Err(format!("cannot overwrite non-directory {} with a directory", dir.join(path).display())),
        _ => Ok(()),
    }
}

/// Creates the missing parents of `path` in `dir`, refusing any that is not a directory.
fn make_parents(dir: &Path, path: &Path) -> anyhow::Result<()> {
    let mut parents: Vec<&Path> = path.ancestors().skip(1).filter(|p| !p.as_os_str().is_empty()).collect();
    parents.reverse();
    for parent in parents {
        let full = dir.join(parent);
        match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => anyhow::bail!("{} is not a directory", full.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&full).with_context(|| format!("creating {}", full.display()))?;
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", full.display())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tar of `entries` (name, type, link target); names are written into the header as they
    /// are, since the tar crate refuses to write `..` or absolute names itself.
    fn tar_of(entries: &[(&str, tar::EntryType, Option<&str>)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (name, kind, link) in entries {
            let data: &[u8] = if *kind == tar::EntryType::Regular { b"data\n" } else { b"" };
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(*kind);
            h.set_mode(if *kind == tar::EntryType::Directory { 0o755 } else { 0o640 });
            h.set_size(data.len() as u64);
            h.as_gnu_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
            if let Some(link) = link {
                h.set_link_name(link).unwrap();
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut all = Vec::new();
        let mut stack = vec![dir.to_owned()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                all.push(p.strip_prefix(dir).unwrap().display().to_string());
                if std::fs::symlink_metadata(&p).unwrap().is_dir() {
                    stack.push(p);
                }
            }
        }
        all.sort();
        all
    }

    use tar::EntryType::{Directory as D, Link as L, Regular as F, Symlink as S};

    #[test]
    fn a_directory_is_unpacked_renamed_or_as_its_contents() {
        let archive = tar_of(&[("src/", D, None), ("src/a", F, None), ("src/sub/", D, None), ("src/sub/b", F, None), ("src/l", S, Some("a"))]);
        let out = tempfile::tempdir().unwrap();
        unpack(&archive, out.path(), &Top::Named("dst".into())).unwrap();
        assert_eq!(listing(out.path()), ["dst", "dst/a", "dst/l", "dst/sub", "dst/sub/b"]);
        assert_eq!(std::fs::read_to_string(out.path().join("dst/sub/b")).unwrap(), "data\n");
        assert_eq!(std::fs::read_link(out.path().join("dst/l")).unwrap(), Path::new("a"));
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(out.path().join("dst/a")).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o640);

        let contents = tempfile::tempdir().unwrap();
        unpack(&archive, contents.path(), &Top::Contents).unwrap();
        assert_eq!(listing(contents.path()), ["a", "l", "sub", "sub/b"]);
    }

    #[test]
    fn a_file_replaces_a_file_and_may_not_replace_a_directory() {
        let out = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join("f"), "old").unwrap();
        unpack(&tar_of(&[("x", F, None)]), out.path(), &Top::Named("f".into())).unwrap();
        assert_eq!(std::fs::read_to_string(out.path().join("f")).unwrap(), "data\n");
        std::fs::create_dir(out.path().join("d")).unwrap();
        let err = unpack(&tar_of(&[("x", F, None)]), out.path(), &Top::Named("d".into())).unwrap_err();
        assert!(err.to_string().contains("cannot overwrite directory"), "{err}");
    }

    #[test]
    fn entries_that_escape_the_destination_are_refused_before_anything_is_written() {
        let parent = tempfile::tempdir().unwrap();
        let out = parent.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), out.join("hostlink")).unwrap();
        let bad: Vec<(&str, Vec<u8>, &str)> = vec![
            ("dot-dot", tar_of(&[("d/", D, None), ("d/ok", F, None), ("d/../../escaped", F, None)]), "outside the destination"),
            ("absolute", tar_of(&[("d/", D, None), ("d/ok", F, None), ("/tmp/escaped", F, None)]), "outside the destination"),
            ("another top entry", tar_of(&[("d/", D, None), ("d/ok", F, None), ("e/escaped", F, None)]), "not below"),
            ("through an archive symlink", tar_of(&[("d/", D, None), ("d/ok", F, None), ("d/up", S, Some("../..")), ("d/up/escaped", F, None)]), "not a directory"),
            ("hard link out", tar_of(&[("d/", D, None), ("d/ok", F, None), ("d/h", L, Some("../../../etc/passwd"))]), "outside the destination"),
            ("hard link to a non-member", tar_of(&[("d/", D, None), ("d/ok", F, None), ("d/h", L, Some("d/missing"))]), "does not hold"),
            ("device", tar_of(&[("d/", D, None), ("d/ok", F, None), ("d/null", tar::EntryType::Char, None)]), "device nodes"),
        ];
        for (what, archive, message) in bad {
            let err = unpack(&archive, &out, &Top::Named("d".into())).unwrap_err().to_string();
            assert!(err.contains(message), "{what}: {err}");
            assert_eq!(listing(&out), ["hostlink"], "{what}: something was written");
            assert_eq!(listing(parent.path()), ["out", "out/hostlink"], "{what}: something was written beside the destination");
        }
        // Through a symbolic link already in the destination.
        let err = unpack(&tar_of(&[("d/", D, None), ("d/escaped", F, None)]), &out, &Top::Named("hostlink".into())).unwrap_err();
        assert!(err.to_string().contains("cannot overwrite non-directory"), "{err}");
        let err = unpack(&tar_of(&[("x", F, None)]), &out.join("hostlink"), &Top::Named("y".into()));
        assert!(err.is_ok(), "the user's own destination may be a link: {err:?}");
        let err = unpack(&tar_of(&[("d/", D, None), ("d/f", F, None)]), &out, &Top::Contents);
        assert!(err.is_ok(), "{err:?}");
        let err = unpack(&tar_of(&[("d/", D, None), ("d/hostlink/", D, None), ("d/hostlink/x", F, None)]), &out, &Top::Contents).unwrap_err();
        assert!(err.to_string().contains("cannot overwrite non-directory"), "{err}");
        assert!(listing(outside.path()) == ["y"], "{:?}", listing(outside.path()));
    }

    #[test]
    fn a_hard_link_to_a_member_is_made() {
        let out = tempfile::tempdir().unwrap();
        unpack(&tar_of(&[("d/", D, None), ("d/f", F, None), ("d/h", L, Some("d/f"))]), out.path(), &Top::Named("n".into())).unwrap();
        assert_eq!(std::fs::read_to_string(out.path().join("n/h")).unwrap(), "data\n");
    }
}
