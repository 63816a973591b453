//! `docker cp`: stat, archive and extract paths of a container's root file system.
//!
//! Invariant: every path is resolved by the kernel *inside* the container's root, with
//! `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` from a descriptor of that root: a
//! symlink in the container (`/x -> /etc`, `../../..`, `/proc/1/root`) resolves as it would
//! in the container, never to a host path. Below the resolved directory, every step is an
//! `*at` call on a descriptor with `O_NOFOLLOW`, so no swapped-in symlink can redirect it.
//!
//! The root is the running init's `/proc/<pid>/root` (the container's own mount namespace:
//! its volumes and tmpfs mounts included), or, for a container that does not run, its
//! overlay root file system, which stays mounted in the daemon's mount namespace.

mod archive;
mod copy_up;
mod extract;

use std::ffi::CString;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

pub use extract::ExtractOptions;

use super::{Container, ContainerStatus};
use crate::error::{Error, Result};

/// Go's `os.FileMode` type bits, as dockerd encodes them in a path stat.
const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;
const GO_MODE_DEVICE: u32 = 1 << 26;
const GO_MODE_NAMED_PIPE: u32 = 1 << 25;
const GO_MODE_SOCKET: u32 = 1 << 24;
const GO_MODE_SETUID: u32 = 1 << 23;
const GO_MODE_SETGID: u32 = 1 << 22;
const GO_MODE_CHAR_DEVICE: u32 = 1 << 21;
const GO_MODE_STICKY: u32 = 1 << 20;

/// What `docker cp` learns of a path before copying (dockerd's `ContainerPathStat`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathStat {
    /// The last component of the path as asked.
    pub name: String,
    /// Size in bytes.
    pub size: i64,
    /// Go `os.FileMode` bits (type bits and permissions).
    pub mode: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    /// For a symlink: the absolute path it points to in the container.
    pub link_target: String,
}

/// A descriptor of a container's root directory; see the module docs.
#[derive(Debug)]
pub struct ContainerRoot {
    fd: OwnedFd,
    /// Host uid and gid of the container's root, under a user namespace.
    id_shift: Option<(u32, u32)>,
}

impl Container {
    /// The root `docker cp` works in: the running init's root, else the mounted overlay.
    pub fn copy_root(&self) -> Result<ContainerRoot> {
        let path = match (self.record.status, self.record.pid) {
            (ContainerStatus::Running, Some(pid)) => PathBuf::from(format!("/proc/{pid}/root")),
            _ if self.record.rootfs_mounted => self.paths().rootfs(),
            _ => return Err(self.invalid_state("copy files without a mounted root file system")),
        };
        let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::io("open", &path)(e.into()))?;
        Ok(ContainerRoot { fd, id_shift: self.record.id_shift })
    }
}

/// The components of an absolute container path; `.` and empty ones dropped. `..` is kept:
/// the kernel resolves it inside the root.
fn components(path: &str) -> Vec<&str> {
    path.split('/').filter(|c| !c.is_empty() && *c != ".").collect()
}

/// The names in the directory `dir`, sorted, without `.` and `..`.
fn entry_names(dir: &OwnedFd) -> std::io::Result<Vec<CString>> {
    let mut names = Vec::new();
    for entry in Dir::read_from(dir.as_fd())? {
        let entry = entry?;
        let name = entry.file_name();
        if name != c"." && name != c".." {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Maps an errno of a lookup of `path` to dockerd's "not found" or an I/O error.
fn lookup_error(path: &str) -> impl FnOnce(Errno) -> Error + '_ {
    move |e| match e {
        Errno::NOENT | Errno::NOTDIR => Error::PathNotFound(path.to_owned()),
        e => Error::CopyRefused { path: path.to_owned(), reason: std::io::Error::from(e).to_string() },
    }
}

impl ContainerRoot {
    /// Opens `path` (relative to the root, symlinks resolved inside it) with `flags`.
    ///
    /// With `RESOLVE_IN_ROOT` the kernel answers `EAGAIN` when any rename or mount happened on
    /// the system during the lookup (openat2(2)), which on a busy host (containers starting)
    /// is common: the lookup is simply tried again, a bounded number of times.
    fn open(&self, path: &str, flags: OFlags) -> std::result::Result<OwnedFd, Errno> {
        const ATTEMPTS: usize = 64;
        let relative = if components(path).is_empty() { ".".to_owned() } else { components(path).join("/") };
        let mut attempt = 0;
        loop {
            let opened = rustix::fs::openat2(
                self.fd.as_fd(),
                relative.as_str(),
                flags | OFlags::CLOEXEC | OFlags::NOCTTY,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            );
            attempt += 1;
            match opened {
                Err(Errno::AGAIN) if attempt < ATTEMPTS => std::thread::yield_now(),
                other => return other,
            }
        }
    }

    /// The directory holding the last component of `path`, and that component (`None` for
    /// the root itself). A trailing `/` or `/.` asks for the last component to be followed:
    /// then it is resolved as a directory itself.
    fn parent_of<'p>(&self, path: &'p str) -> Result<(OwnedFd, Option<&'p str>)> {
        let comps = components(path);
        let follow = path.ends_with('/') || path.ends_with("/.");
        match comps.split_last() {
            Some((last, parents)) if !follow && *last != ".." => {
                let dir = self.open(&parents.join("/"), OFlags::RDONLY | OFlags::DIRECTORY).map_err(lookup_error(path))?;
                Ok((dir, Some(last)))
            }
            _ => Ok((self.open(path, OFlags::RDONLY | OFlags::DIRECTORY).map_err(lookup_error(path))?, None)),
        }
    }

    /// `HEAD /containers/{id}/archive?path=`: the path's stat, its last symlink not followed.
    pub fn stat(&self, path: &str) -> Result<PathStat> {
        let (dir, last) = self.parent_of(path)?;
        let name = last.map_or_else(|| base_name(path), str::to_owned);
        let st = rustix::fs::statat(&dir, last.unwrap_or("."), AtFlags::SYMLINK_NOFOLLOW).map_err(lookup_error(path))?;
        let mut link_target = String::new();
        if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
            let target = rustix::fs::readlinkat(&dir, last.unwrap_or("."), Vec::new()).map_err(lookup_error(path))?;
            let target = target.to_string_lossy().into_owned();
            link_target = if target.starts_with('/') {
                target
            } else {
                let parent: Vec<&str> = components(path).split_last().map(|(_, p)| p.to_vec()).unwrap_or_default();
                format!("/{}", parent.into_iter().chain([target.as_str()]).collect::<Vec<_>>().join("/"))
            };
        }
        Ok(PathStat { name, size: st.st_size, mode: go_mode(st.st_mode), mtime: st.st_mtime, link_target })
    }
}

/// The last component of `path` as the user wrote it (`/` for the root).
fn base_name(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/.").unwrap_or(trimmed);
    match trimmed.rsplit('/').next() {
        Some(b) if !b.is_empty() => b.to_owned(),
        _ => "/".to_owned(),
    }
}

/// A stat mode as Go's `os.FileMode`.
fn go_mode(st_mode: u32) -> u32 {
    let mut mode = st_mode & 0o777;
    mode |= match FileType::from_raw_mode(st_mode) {
        FileType::Directory => GO_MODE_DIR,
        FileType::Symlink => GO_MODE_SYMLINK,
        FileType::Fifo => GO_MODE_NAMED_PIPE,
        FileType::Socket => GO_MODE_SOCKET,
        FileType::CharacterDevice => GO_MODE_DEVICE | GO_MODE_CHAR_DEVICE,
        FileType::BlockDevice => GO_MODE_DEVICE,
        _ => 0,
    };
    for (bit, go) in [(0o4000, GO_MODE_SETUID), (0o2000, GO_MODE_SETGID), (0o1000, GO_MODE_STICKY)] {
        if st_mode & bit != 0 {
            mode |= go;
        }
    }
    mode
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names_are_the_last_component_as_written() {
        assert_eq!(base_name("/etc/passwd"), "passwd");
        assert_eq!(base_name("/etc/"), "etc");
        assert_eq!(base_name("/etc/."), "etc");
        assert_eq!(base_name("/"), "/");
    }

    #[test]
    fn modes_carry_gos_type_bits() {
        assert_eq!(go_mode(0o040755), GO_MODE_DIR | 0o755);
        assert_eq!(go_mode(0o120777), GO_MODE_SYMLINK | 0o777);
        assert_eq!(go_mode(0o104755), GO_MODE_SETUID | 0o755);
    }
}
