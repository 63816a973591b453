//! Where containers' run-time state lives: on tmpfs, as containerd and runc keep theirs in
//! `/run`.
//!
//! Bundles (`config.json`, `hostname`, `hosts`, the record, the `rootfs/` and `secrets/`
//! mount points) and the OCI runtimes' own state describe processes, which do not outlive a
//! reboot: a tmpfs holds them. Creating and deleting some twenty files per container on the
//! data root's disk file system costs milliseconds per start (ext4 searches past recently
//! freed inodes on every create); on tmpfs it costs microseconds. What must survive — the
//! container's writable layer and its logs — stays on the data root.
//!
//! `/run/palisade/<16 hex of sha256(data root)>/` per data root, so that several daemons (and
//! tests) never share state. `/run/palisade` is made a tmpfs when `/run` is not one (systemd
//! hosts mount it so); the mount is made in the host's mount namespace, before the daemon
//! isolates its own, so that the state outlives a crashed daemon and its successor can clean
//! up what it left.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use nix::mount::{mount, MsFlags};
use nix::sys::statfs::{statfs, TMPFS_MAGIC};
use sha2::{Digest as _, Sha256};

use crate::error::{Error, Result};

/// The parent of every data root's state directory.
pub const RUN_DIR: &str = "/run/palisade";
/// Serialises [`prepare_run_dir`] between processes.
const LOCK_FILE: &str = "/run/palisade.lock";

/// Makes [`RUN_DIR`] a root-owned directory on tmpfs (mounting one unless it already is on
/// tmpfs). Idempotent. Call it before `isolate_mount_namespace`, so that the mount is the
/// host's.
pub fn prepare_run_dir() -> Result<()> {
    tmpfs_dir(Path::new(RUN_DIR), Path::new(LOCK_FILE))
}

/// Makes `dir` a directory owned by us on tmpfs, mode 0711; `lock` serialises this between
/// processes.
fn tmpfs_dir(dir: &Path, lock: &Path) -> Result<()> {
    fs::create_dir_all(dir).map_err(Error::io("create", dir))?;
    let meta = fs::symlink_metadata(dir).map_err(Error::io("stat", dir))?;
    // Whoever controls this directory controls every container's bundle.
    if !meta.is_dir() || meta.uid() != nix::unistd::geteuid().as_raw() {
        return Err(Error::Io {
            op: "use as the state directory",
            path: dir.to_owned(),
            source: std::io::Error::other("it is not a directory owned by this user"),
        });
    }
    // Processes starting at once must not stack one tmpfs on another (each would see only
    // its own): check and mount under one lock.
    let lock_file = fs::OpenOptions::new().create(true).truncate(false).write(true).open(lock).map_err(Error::io("open", lock))?;
    let _held = Flock::lock(lock_file, FlockArg::LockExclusive).map_err(|(_, source)| Error::Syscall { op: "flock", source })?;
    let on_tmpfs = statfs(dir).is_ok_and(|s| s.filesystem_type() == TMPFS_MAGIC);
    if !on_tmpfs {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("tmpfs"), dir, Some("tmpfs"), flags, Some("mode=0711"))
            .map_err(|source| Error::Syscall { op: "mount tmpfs for run-time state", source })?;
    }
    // Traversable, not listable: user-namespaced container roots reach their bundle.
    fs::set_permissions(dir, fs::Permissions::from_mode(0o711)).map_err(Error::io("chmod", dir))
}

/// The state directory of the runtime whose data root is `root` (created, mode 0711).
pub fn state_dir_for(root: &Path) -> Result<PathBuf> {
    prepare_run_dir()?;
    fs::create_dir_all(root).map_err(Error::io("create", root))?;
    let canonical = fs::canonicalize(root).map_err(Error::io("resolve", root))?;
    let hash = Sha256::digest(canonical.as_os_str().as_encoded_bytes());
    let name: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let dir = Path::new(RUN_DIR).join(name);
    fs::create_dir_all(&dir).map_err(Error::io("create", &dir))?;
    fs::set_permissions(&dir, fs::Permissions::from_mode(0o711)).map_err(Error::io("chmod", &dir))?;
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_data_root_has_its_own_state_directory_on_tmpfs() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (sa, sb) = (state_dir_for(a.path()).unwrap(), state_dir_for(b.path()).unwrap());
        assert_ne!(sa, sb);
        assert_eq!(sa, state_dir_for(a.path()).unwrap(), "stable for one root");
        // The same root named through a symlink is the same root.
        let link = b.path().join("alias");
        std::os::unix::fs::symlink(a.path(), &link).unwrap();
        assert_eq!(state_dir_for(&link).unwrap(), sa);
        assert_eq!(statfs(&sa).unwrap().filesystem_type(), TMPFS_MAGIC);
        assert_eq!(fs::metadata(RUN_DIR).unwrap().permissions().mode() & 0o7777, 0o711);
    }

    #[test]
    fn processes_starting_at_once_mount_one_tmpfs() {
        let parent = tempfile::tempdir().unwrap();
        let (dir, lock) = (parent.path().join("run"), parent.path().join("run.lock"));
        let start = std::sync::Barrier::new(16);
        std::thread::scope(|s| {
            for _ in 0..16 {
                s.spawn(|| {
                    start.wait();
                    tmpfs_dir(&dir, &lock).unwrap();
                });
            }
        });
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap();
        let target = format!(" {} ", dir.display());
        let mounts = mountinfo.lines().filter(|l| l.contains(&target)).count();
        nix::mount::umount2(&dir, nix::mount::MntFlags::MNT_DETACH).unwrap();
        assert_eq!(mounts, 1, "{mountinfo}");
    }
}
