//! Network namespaces as files: created by us (a thread unshares its network namespace and
//! bind-mounts it onto a file), entered by a thread that `setns()`es into one, removed by
//! unmounting. A namespace lives as long as its bind mount or a process in it.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sched::{setns, unshare, CloneFlags};

use crate::error::{Error, Result};

/// Creates a new, empty network namespace bound at `path` (a new file).
pub fn create(path: &Path) -> Result<()> {
    File::create(path).map_err(Error::io("creating", path))?;
    let target = path.to_owned();
    // Only the spawned thread changes namespace; it exits right after the bind mount.
    let made = std::thread::spawn(move || -> Result<()> {
        unshare(CloneFlags::CLONE_NEWNET).map_err(Error::errno("unsharing a network namespace for", &target))?;
        mount(Some("/proc/thread-self/ns/net"), &target, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(Error::errno("bind-mounting a network namespace at", &target))
    })
    .join()
    .unwrap_or_else(|_| Err(Error::InvalidArgument("the network namespace thread panicked".into())));
    if made.is_err() {
        let _ = std::fs::remove_file(path);
    }
    made
}

/// Unmounts and deletes a namespace file; a missing one is not an error.
pub fn remove(path: &Path) -> Result<()> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL | nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(Error::errno("unmounting", path)(e)),
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing", path)(e)),
    }
}

/// Runs `f` on a thread inside the namespace at `path`. Sockets `f` opens stay in that
/// namespace after the thread ends.
pub fn run_in<T: Send + 'static>(path: &Path, f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    let ns = File::open(path).map_err(Error::io("opening", path))?;
    let path: PathBuf = path.to_owned();
    std::thread::spawn(move || {
        setns(&ns, CloneFlags::CLONE_NEWNET).map_err(Error::errno("entering the network namespace", &path))?;
        f()
    })
    .join()
    .unwrap_or_else(|_| Err(Error::InvalidArgument("the network namespace thread panicked".into())))
}
