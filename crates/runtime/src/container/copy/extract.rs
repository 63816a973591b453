//! `PUT /containers/{id}/archive`: a tar extracted into a directory of the container.
//!
//! The archive is read twice: first every entry is checked (names relative without `..`, no
//! device nodes or other special files, hard links to names inside the archive's
//! destination, no relative symlink climbing above the container's root), and only if all
//! pass is anything written. Then each entry's parent is resolved inside the root (see the
//! module docs of `copy`), missing parents are made, and the entry itself is made with
//! `*at` calls that never follow its last component: a file, link or directory in the way is
//! replaced (a directory only by a directory), so a write can never go through a link.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid};
use rustix::io::Errno;
use tar::EntryType;

use super::{components, ContainerRoot};
use crate::error::{Error, Result};
use crate::unpack::{check_symlink_target, entry_components};

/// How `PUT /containers/{id}/archive` extracts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExtractOptions {
    /// `noOverwriteDirNonDir`: a non-directory does not replace a directory, nor the reverse
    /// (a directory is never replaced by a non-directory in any case).
    pub no_overwrite_dir_non_dir: bool,
    /// `copyUIDGID` (`docker cp -a`): owners as the archive says, else the container's root.
    pub copy_uid_gid: bool,
}

/// One checked entry of the archive.
struct Checked {
    comps: Vec<String>,
    kind: EntryType,
    link: Option<String>,
}

impl ContainerRoot {
    /// Extracts the tar in `archive` into the directory `dir` of the container. Returns the
    /// number of entries written.
    pub fn extract(&self, dir: &str, archive: &mut File, options: ExtractOptions) -> Result<u64> {
        let dest = self.open(dir, OFlags::RDONLY | OFlags::DIRECTORY).map_err(|e| match e {
            Errno::NOTDIR => Error::CopyRefused { path: dir.to_owned(), reason: "extraction point is not a directory".into() },
            e => super::lookup_error(dir)(e),
        })?;
        archive.seek(SeekFrom::Start(0)).map_err(|e| refused(dir, e))?;
        let checked = check_all(dir, archive)?;
        archive.seek(SeekFrom::Start(0)).map_err(|e| refused(dir, e))?;
        let mut tar = tar::Archive::new(&mut *archive);
        let mut written = 0;
        let mut checked = checked.into_iter();
        for entry in tar.entries().map_err(|e| refused(dir, e))? {
            let mut entry = entry.map_err(|e| refused(dir, e))?;
            if skipped(entry.header().entry_type()) {
                continue;
            }
            // INVARIANT: the second read of the same file yields the entries the first did.
            let Some(c) = checked.next() else { break };
            let name = c.comps.join("/");
            let fail = |e: Errno| Error::CopyRefused { path: name.clone(), reason: std::io::Error::from(e).to_string() };
            let Some((last, parents)) = c.comps.split_last() else {
                continue; // the destination itself ("./"): left as it is
            };
            let parent = self.make_parents(&dest, dir, parents).map_err(fail)?;
            let (uid, gid) = if options.copy_uid_gid {
                (entry.header().uid().unwrap_or(0), entry.header().gid().unwrap_or(0))
            } else {
                (0, 0)
            };
            let owner = self.owner(uid, gid);
            let mode = Mode::from_raw_mode(entry.header().mode().unwrap_or(0o644) & 0o7777);
            let mtime = entry.header().mtime().unwrap_or(0);
            let existing = match rustix::fs::statat(&parent, last.as_str(), AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) => Some(FileType::from_raw_mode(st.st_mode)),
                Err(Errno::NOENT) => None,
                Err(e) => return Err(fail(e)),
            };
            let is_dir = c.kind == EntryType::Directory;
            match existing {
                Some(FileType::Directory) if !is_dir => {
                    return Err(Error::CopyRefused { path: name, reason: "cannot overwrite a directory with a non-directory".into() })
                }
                Some(t) if t != FileType::Directory && is_dir && options.no_overwrite_dir_non_dir => {
                    return Err(Error::CopyRefused { path: name, reason: "cannot overwrite a non-directory with a directory".into() })
                }
                Some(t) if t != FileType::Directory => rustix::fs::unlinkat(&parent, last.as_str(), AtFlags::empty()).map_err(fail)?,
                _ => {}
            }
            match (c.kind, c.link) {
                (EntryType::Directory, _) => {
                    if existing != Some(FileType::Directory) {
                        rustix::fs::mkdirat(&parent, last.as_str(), Mode::from_raw_mode(0o700)).map_err(fail)?;
                    }
                    let fd = rustix::fs::openat(&parent, last.as_str(), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
                        .map_err(fail)?;
                    set_metadata(&fd, owner, mode, mtime).map_err(fail)?;
                }
                (EntryType::Symlink, Some(target)) => {
                    rustix::fs::symlinkat(target.as_str(), &parent, last.as_str()).map_err(fail)?;
                    rustix::fs::chownat(&parent, last.as_str(), Some(owner.0), Some(owner.1), AtFlags::SYMLINK_NOFOLLOW).map_err(fail)?;
                }
                (EntryType::Link, Some(target)) => {
                    let target_comps = entry_components(&target).map_err(|e| Error::CopyRefused { path: name.clone(), reason: e.to_string() })?;
                    let target_comps: Vec<String> = target_comps.iter().map(|c| c.to_string_lossy().into_owned()).collect();
                    let Some((target_last, target_parents)) = target_comps.split_last() else {
                        return Err(Error::CopyRefused { path: name, reason: "hard link without a target".into() });
                    };
                    let source_dir = self.open(&join(dir, target_parents), OFlags::RDONLY | OFlags::DIRECTORY).map_err(fail)?;
                    // linkat(2) without AT_SYMLINK_FOLLOW: links the entry itself, never what a
                    // symlink points to.
                    rustix::fs::linkat(&source_dir, target_last.as_str(), &parent, last.as_str(), AtFlags::empty()).map_err(fail)?;
                }
                _ => {
                    let fd = rustix::fs::openat(
                        &parent,
                        last.as_str(),
                        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY,
                        Mode::from_raw_mode(0o600),
                    )
                    .map_err(fail)?;
                    let mut file = File::from(fd);
                    std::io::copy(&mut entry, &mut file).map_err(|e| refused(&name, e))?;
                    set_metadata(&OwnedFd::from(file), owner, mode, mtime).map_err(fail)?;
                }
            }
            written += 1;
        }
        Ok(written)
    }

    /// The directory `dir/parents` (inside the root), made where missing.
    fn make_parents(&self, dest: &OwnedFd, dir: &str, parents: &[String]) -> std::result::Result<OwnedFd, Errno> {
        let mut current = rustix::io::dup(dest)?;
        for (i, comp) in parents.iter().enumerate() {
            let path = join(dir, &parents[..=i]);
            current = match self.open(&path, OFlags::RDONLY | OFlags::DIRECTORY) {
                Ok(fd) => fd,
                Err(Errno::NOENT) => {
                    rustix::fs::mkdirat(&current, comp.as_str(), Mode::from_raw_mode(0o755))?;
                    rustix::fs::openat(&current, comp.as_str(), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?
                }
                Err(e) => return Err(e),
            };
        }
        Ok(current)
    }

    /// The host owner of container ids `uid:gid` (shifted for a user namespace).
    fn owner(&self, uid: u64, gid: u64) -> (Uid, Gid) {
        let (su, sg) = self.id_shift.unwrap_or((0, 0));
        let uid = u32::try_from(uid).unwrap_or(0).saturating_add(su);
        let gid = u32::try_from(gid).unwrap_or(0).saturating_add(sg);
        (Uid::from_raw(uid), Gid::from_raw(gid))
    }
}

/// Owner first (chown clears setuid/setgid), then the mode, then the modification time.
pub(super) fn set_metadata(fd: &OwnedFd, owner: (Uid, Gid), mode: Mode, mtime: u64) -> std::result::Result<(), Errno> {
    rustix::fs::fchown(fd, Some(owner.0), Some(owner.1))?;
    rustix::fs::fchmod(fd, mode)?;
    let t = Timespec { tv_sec: i64::try_from(mtime).unwrap_or(0), tv_nsec: 0 };
    rustix::fs::futimens(fd, &Timestamps { last_access: t, last_modification: t })
}

fn join(dir: &str, comps: &[String]) -> String {
    std::iter::once(dir).chain(comps.iter().map(String::as_str)).collect::<Vec<_>>().join("/")
}

fn refused(path: &str, e: std::io::Error) -> Error {
    Error::CopyRefused { path: path.to_owned(), reason: e.to_string() }
}

/// Header-only entries the tar reader applies to the next entry itself.
fn skipped(kind: EntryType) -> bool {
    matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader | EntryType::GNULongName | EntryType::GNULongLink)
}

/// The first pass: every entry checked, nothing written.
fn check_all(dir: &str, archive: &mut File) -> Result<Vec<Checked>> {
    let dir_depth = components(dir).iter().filter(|c| **c != "..").count();
    let mut out = Vec::new();
    let mut tar = tar::Archive::new(archive);
    for entry in tar.entries().map_err(|e| refused(dir, e))? {
        let entry = entry.map_err(|e| refused(dir, e))?;
        let kind = entry.header().entry_type();
        if skipped(kind) {
            continue;
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let bad = |reason: String| Error::CopyRefused { path: raw.clone(), reason };
        let comps: Vec<String> =
            entry_components(&raw).map_err(|e| bad(e.to_string()))?.iter().map(|c| c.to_string_lossy().into_owned()).collect();
        let link = entry.link_name_bytes().map(|b| String::from_utf8_lossy(&b).into_owned());
        match kind {
            EntryType::Directory | EntryType::Regular | EntryType::Continuous => {}
            EntryType::Symlink => {
                let target = link.as_deref().unwrap_or_default();
                let depth = dir_depth + comps.len().saturating_sub(1);
                check_symlink_target(depth, target, &raw).map_err(|e| bad(e.to_string()))?;
            }
            EntryType::Link => {
                let target = link.as_deref().unwrap_or_default();
                if target.starts_with('/') || entry_components(target).map_or(true, |c| c.is_empty()) {
                    return Err(bad(format!("hard link to {target:?} leaves the extracted archive")));
                }
            }
            EntryType::Char | EntryType::Block => return Err(bad("device nodes are refused".into())),
            other => return Err(bad(format!("entries of type {other:?} are refused"))),
        }
        out.push(Checked { comps, kind, link });
    }
    Ok(out)
}
