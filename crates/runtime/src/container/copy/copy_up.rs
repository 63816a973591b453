//! Copy-up: what an image holds at a volume's mount point, copied into the volume before
//! the container first runs (dockerd's default for volumes, which `nocopy` turns off).
//!
//! The source is the image's prepared rootfs, the read-only lower layer of every container
//! made from it, opened as a [`ContainerRoot`]: the mount point is resolved by the kernel
//! inside it (see the module docs of `copy`). Below it every step is an `*at` call with
//! `O_NOFOLLOW`: symlinks are copied as symlinks, never followed. Device nodes are refused,
//! sockets and fifos left out; hard links become separate files.
//!
//! The destination is written only when it is empty, and every entry is made with
//! `O_EXCL`/`mkdirat`/`symlinkat`, which fail rather than reuse a name: nothing in the volume
//! is ever overwritten, and no write goes through a link.

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Stat, Uid};
use rustix::io::Errno;

use super::extract::set_metadata;
use super::{entry_names, lookup_error, ContainerRoot};
use crate::bundle::RunOptions;
use crate::container::{id_shift, ContainerRuntime};
use crate::error::{Error, Result};
use crate::image::Image;

impl ContainerRuntime {
    /// The read-only root a container made from `img` with `opts` has below its writable
    /// layer: the image's prepared rootfs (owners shifted for `opts`' user namespace).
    pub fn image_root(&self, img: &Image, opts: &RunOptions) -> Result<ContainerRoot> {
        let path = self.images.prepared_rootfs(img, id_shift(opts))?;
        let fd = rustix::fs::open(&path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| Error::io("open", &path)(e.into()))?;
        Ok(ContainerRoot { fd, id_shift: None })
    }
}

impl ContainerRoot {
    /// Copies the directory `path` of this root (its owner and mode, and everything in it)
    /// into the host directory `dest`, if `dest` is empty. Returns the number of entries
    /// copied: 0 when `dest` holds anything or `path` is not a directory here.
    pub fn copy_up(&self, path: &str, dest: &Path) -> Result<u64> {
        let source = match self.open(path, OFlags::RDONLY | OFlags::DIRECTORY) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(0),
            Err(e) => return Err(lookup_error(path)(e)),
        };
        let dest_io = |e: std::io::Error| Error::io("copy up into", dest)(e);
        let target = rustix::fs::open(dest, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
            .map_err(|e| dest_io(e.into()))?;
        if !entry_names(&target).map_err(dest_io)?.is_empty() {
            return Ok(0);
        }
        let copied = copy_dir(&source, &target, path)?;
        let st = rustix::fs::fstat(&source).map_err(lookup_error(path))?;
        set_metadata(&target, owner(&st), mode(&st), mtime(&st)).map_err(|e| refused(path, e))?;
        Ok(copied)
    }
}

/// Copies what the directory `source` (at `path` in the root) holds into `target`.
fn copy_dir(source: &OwnedFd, target: &OwnedFd, path: &str) -> Result<u64> {
    let mut copied = 0;
    for name in entry_names(source).map_err(|e| Error::CopyRefused { path: path.to_owned(), reason: e.to_string() })? {
        let at = format!("{path}/{}", name.to_string_lossy());
        copied += copy_entry(source, target, &name, &at).map_err(|e| match e {
            Copy::Refused(reason) => Error::CopyRefused { path: at.clone(), reason },
            Copy::Errno(e) => refused(&at, e),
            Copy::Nested(e) => e,
        })?;
    }
    Ok(copied)
}

/// Why one entry was not copied.
enum Copy {
    Refused(String),
    Errno(Errno),
    /// From an entry below it, already naming its path.
    Nested(Error),
}

impl From<Errno> for Copy {
    fn from(e: Errno) -> Self {
        Self::Errno(e)
    }
}

/// Copies the entry `name` of `source` (at `at` in the root) into `target`.
fn copy_entry(source: &OwnedFd, target: &OwnedFd, name: &CStr, at: &str) -> std::result::Result<u64, Copy> {
    let st = rustix::fs::statat(source, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let (owner, mode, mtime) = (owner(&st), mode(&st), mtime(&st));
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {
            let from = rustix::fs::openat(source, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())?;
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY;
            let to = rustix::fs::openat(target, name, flags, Mode::from_raw_mode(0o600))?;
            let mut to = File::from(to);
            std::io::copy(&mut File::from(from), &mut to).map_err(|e| Copy::Refused(e.to_string()))?;
            set_metadata(&OwnedFd::from(to), owner, mode, mtime)?;
        }
        FileType::Directory => {
            rustix::fs::mkdirat(target, name, Mode::from_raw_mode(0o700))?;
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let from = rustix::fs::openat(source, name, flags, Mode::empty())?;
            let to = rustix::fs::openat(target, name, flags, Mode::empty())?;
            let below = copy_dir(&from, &to, at).map_err(Copy::Nested)?;
            set_metadata(&to, owner, mode, mtime)?;
            return Ok(below + 1);
        }
        FileType::Symlink => {
            let link = rustix::fs::readlinkat(source, name, Vec::new())?;
            rustix::fs::symlinkat(link.as_c_str(), target, name)?;
            rustix::fs::chownat(target, name, Some(owner.0), Some(owner.1), AtFlags::SYMLINK_NOFOLLOW)?;
        }
        FileType::CharacterDevice | FileType::BlockDevice => return Err(Copy::Refused("device nodes are refused".into())),
        _ => return Ok(0),
    }
    Ok(1)
}

fn owner(st: &Stat) -> (Uid, Gid) {
    (Uid::from_raw(st.st_uid), Gid::from_raw(st.st_gid))
}

fn mode(st: &Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode & 0o7777)
}

fn mtime(st: &Stat) -> u64 {
    u64::try_from(st.st_mtime).unwrap_or(0)
}

fn refused(path: &str, e: Errno) -> Error {
    Error::CopyRefused { path: path.to_owned(), reason: std::io::Error::from(e).to_string() }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};

    use super::*;

    fn root_at(path: &Path) -> ContainerRoot {
        let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        ContainerRoot { fd, id_shift: None }
    }

    /// A temporary directory holding `rootfs/data/` and an empty `dest/`.
    fn image_and_volume() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let (rootfs, dest) = (tmp.path().join("rootfs"), tmp.path().join("dest"));
        std::fs::create_dir_all(rootfs.join("data")).unwrap();
        std::fs::create_dir_all(&dest).unwrap();
        (tmp, rootfs, dest)
    }

    #[test]
    fn the_tree_is_copied_with_modes_and_links_as_links() {
        let tmp = tempfile::tempdir().unwrap();
        let (rootfs, outside, dest) = (tmp.path().join("rootfs"), tmp.path().join("outside"), tmp.path().join("dest"));
        for d in [rootfs.join("data/sub"), outside.clone(), dest.clone()] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(rootfs.join("data/f"), b"image").unwrap();
        std::fs::set_permissions(rootfs.join("data/f"), std::fs::Permissions::from_mode(0o4750)).unwrap();
        std::fs::set_permissions(rootfs.join("data"), std::fs::Permissions::from_mode(0o711)).unwrap();
        std::fs::write(rootfs.join("data/sub/g"), b"deep").unwrap();
        std::fs::write(outside.join("secret"), b"host").unwrap();
        symlink(&outside, rootfs.join("data/out")).unwrap();
        // The mount point itself a symlink climbing out: resolved inside the root.
        symlink("../../../../../data", rootfs.join("link")).unwrap();

        let copied = root_at(&rootfs).copy_up("/link", &dest).unwrap();
        assert_eq!(copied, 4, "f, sub, sub/g, out");
        assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"image");
        assert_eq!(std::fs::metadata(dest.join("f")).unwrap().mode() & 0o7777, 0o4750);
        assert_eq!(std::fs::metadata(&dest).unwrap().mode() & 0o7777, 0o711, "the mount point's mode");
        assert_eq!(std::fs::read(dest.join("sub/g")).unwrap(), b"deep");
        assert_eq!(std::fs::read_link(dest.join("out")).unwrap(), outside, "a symlink stays a symlink");
        assert!(!dest.join("secret").exists());
    }

    #[test]
    fn a_volume_holding_anything_is_left_alone() {
        let (tmp, rootfs, dest) = image_and_volume();
        std::fs::write(rootfs.join("data/f"), b"image").unwrap();
        std::fs::write(dest.join("f"), b"mine").unwrap();
        assert_eq!(root_at(&rootfs).copy_up("/data", &dest).unwrap(), 0);
        assert_eq!(std::fs::read(dest.join("f")).unwrap(), b"mine");
        assert_eq!(root_at(&rootfs).copy_up("/missing", &tmp.path().join("rootfs")).unwrap(), 0, "nothing at the path");
    }

    #[test]
    fn device_nodes_are_refused() {
        let (_tmp, rootfs, dest) = image_and_volume();
        let made = rustix::fs::mknodat(
            rustix::fs::CWD,
            rootfs.join("data/null"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        );
        if made.is_err() {
            eprintln!("skipped: making a device node needs CAP_MKNOD");
            return;
        }
        let err = root_at(&rootfs).copy_up("/data", &dest).unwrap_err();
        assert!(matches!(&err, Error::CopyRefused { path, .. } if path == "/data/null"), "{err}");
        assert!(!dest.join("null").exists());
    }
}
