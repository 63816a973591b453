//! `GET /containers/{id}/archive`: a tar of one path of the container, its entries named
//! from the path's last component (as dockerd names them). Directories are walked by
//! descriptor (`openat` with `O_NOFOLLOW`): symlinks are archived as links, never followed;
//! sockets and device nodes are left out.

use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};

use super::{base_name, entry_names, lookup_error, ContainerRoot};
use crate::error::{Error, Result};

impl ContainerRoot {
    /// Writes the tar of `path` to `out`.
    pub fn archive(&self, path: &str, out: impl Write) -> Result<()> {
        let (dir, last) = self.parent_of(path)?;
        let mut tar = tar::Builder::new(out);
        tar.follow_symlinks(false);
        let name = last.map_or_else(|| base_name(path), str::to_owned);
        let name = if name == "/" { ".".to_owned() } else { name };
        let io = |e: std::io::Error| Error::CopyRefused { path: path.to_owned(), reason: e.to_string() };
        match last {
            Some(last) => append_at(&mut tar, &dir, last, &name).map_err(io)?,
            None => {
                let st = rustix::fs::fstat(&dir).map_err(lookup_error(path))?;
                append_dir(&mut tar, dir, &st, &name).map_err(io)?;
            }
        }
        tar.into_inner().map_err(io)?.flush().map_err(io)
    }
}

fn header(st: &Stat, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(st.st_mode & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(u64::try_from(st.st_mtime).unwrap_or_default());
    h.set_size(size);
    h
}

/// Appends the entry `name` of `dir` as `as_name` (and, for a directory, what it holds).
fn append_at<W: Write>(tar: &mut tar::Builder<W>, dir: &OwnedFd, name: &str, as_name: &str) -> std::io::Result<()> {
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {
            let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY, Mode::empty())?;
            // Sized as it is now: a file growing meanwhile is cut, one shrinking is an error.
            let size = u64::try_from(rustix::fs::fstat(&fd)?.st_size).unwrap_or_default();
            let mut h = header(&st, tar::EntryType::Regular, size);
            tar.append_data(&mut h, as_name, std::io::Read::take(File::from(fd), size))
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(dir, name, Vec::new())?;
            let mut h = header(&st, tar::EntryType::Symlink, 0);
            tar.append_link(&mut h, as_name, target.to_string_lossy().as_ref())
        }
        FileType::Directory => {
            let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
            append_dir(tar, fd, &st, as_name)
        }
        FileType::Fifo => {
            let mut h = header(&st, tar::EntryType::Fifo, 0);
            tar.append_data(&mut h, as_name, std::io::empty())
        }
        _ => Ok(()),
    }
}

fn append_dir<W: Write>(tar: &mut tar::Builder<W>, fd: OwnedFd, st: &Stat, as_name: &str) -> std::io::Result<()> {
    let mut h = header(st, tar::EntryType::Directory, 0);
    tar.append_data(&mut h, format!("{as_name}/"), std::io::empty())?;
    for name in entry_names(&fd)? {
        let name = name.to_string_lossy();
        append_at(tar, &fd, &name, &format!("{as_name}/{name}"))?;
    }
    Ok(())
}
