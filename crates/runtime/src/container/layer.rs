//! A container's writable layer, made and mounted in the background.
//!
//! The layer is `upper/` and `work/` in `<root>/containers/<id>/`, and the overlay at the
//! bundle's `rootfs/` that puts `upper/` over the image's prepared rootfs. That is kernel
//! work on the data root's disk (on a busy ext4 without a journal every new inode costs a scan
//! past the recently freed ones, and the overlay mount makes a few more), and nothing in
//! `create` needs its result: the bundle only names `rootfs/`. So `create` starts it on a
//! thread and returns, and `start` waits for it — dockerd, too, mounts a container's root
//! file system at start. A failure is reported by `start`.
//!
//! Invariants: `<root>/containers/<id>/` and its two (empty) logs exist when `create` returns,
//! so that readers can attach before the start. A container whose layer is pending has an
//! entry in [`PendingLayers`] until `start` or `remove` settles it; once settled, the record's
//! `rootfs_mounted` says whether the overlay is in place, and `start` refuses to run a
//! container whose overlay is not.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use crate::error::{Error, Result};
use crate::ids::ContainerId;
use crate::image::set_mode;
use crate::syscall::Syscall;

/// The container's stdout and stderr files in its directory `data` (`<root>/containers/<id>`).
pub(crate) fn log_paths(data: &Path) -> [PathBuf; 2] {
    [data.join("stdout.log"), data.join("stderr.log")]
}

/// Opens (creating, mode 0600) a log file for appending.
pub(crate) fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new().create(true).append(true).mode(0o600).open(path).map_err(Error::io("open log", path))
}

/// Makes `<root>/containers/<id>/` (`data`, which must not exist yet) with mode `mode` and
/// its two empty logs.
pub(crate) fn make_container_dir(data: &Path, mode: u32) -> Result<()> {
    fs::create_dir(data).map_err(Error::io("create", data))?;
    set_mode(data, mode)?;
    for log in log_paths(data) {
        open_log(&log)?;
    }
    Ok(())
}

/// What making one container's layer needs.
pub(crate) struct LayerJob {
    /// `<root>/containers/<id>`: exists (see [`make_container_dir`]).
    pub(crate) data: PathBuf,
    /// The image's prepared rootfs: the overlay's lower layer, whose root's owner and mode
    /// the merged root takes.
    pub(crate) lower: PathBuf,
    /// The bundle's `rootfs/` mount point (exists).
    pub(crate) rootfs: PathBuf,
    /// `upper/` and `work/` exist from an earlier run of the container (a restore): they are
    /// mounted as they are.
    pub(crate) existing: bool,
    pub(crate) sys: Arc<dyn Syscall>,
}

impl LayerJob {
    /// Makes `upper/` and `work/` (unless they exist) and mounts the overlay; blocking.
    pub(crate) fn run(self) -> Result<()> {
        let (upper, work) = (self.data.join("upper"), self.data.join("work"));
        if self.existing {
            // The overlay is mounted `volatile` (see the syscall layer): overlayfs leaves a
            // marker in work/ and refuses a second mount over it, since an unsynced upper
            // layer may have lost writes in a host crash. work/ holds nothing else of
            // value: make it anew.
            fs::remove_dir_all(&work).map_err(Error::io("remove", &work))?;
            fs::create_dir(&work).map_err(Error::io("create", &work))?;
        } else {
            for d in [&upper, &work] {
                fs::create_dir(d).map_err(Error::io("create", d))?;
            }
            // The merged root takes its owner and mode from upper/'s root: make them the image's.
            let root = fs::metadata(&self.lower).map_err(Error::io("stat", &self.lower))?;
            std::os::unix::fs::chown(&upper, Some(root.uid()), Some(root.gid())).map_err(Error::io("chown", &upper))?;
            set_mode(&upper, root.mode() & 0o7777)?;
        }
        self.sys.mount_overlay(&self.rootfs, &self.lower, &upper, &work)
    }
}

/// Layers being made, by container. Shared by every [`super::Container`] of one runtime.
#[derive(Clone, Debug, Default)]
pub(crate) struct PendingLayers(Arc<Mutex<HashMap<ContainerId, JoinHandle<Result<()>>>>>);

impl PendingLayers {
    fn jobs(&self) -> MutexGuard<'_, HashMap<ContainerId, JoinHandle<Result<()>>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts making `id`'s layer on a thread.
    pub(crate) fn begin(&self, id: &ContainerId, job: LayerJob) -> Result<()> {
        let mut jobs = self.jobs();
        if jobs.contains_key(id) {
            return Err(Error::ContainerExists(id.to_string()));
        }
        let handle = std::thread::Builder::new()
            .name("palisade-layer".into())
            .spawn(move || job.run())
            .map_err(Error::io("start a thread for the layer of", Path::new(id.as_str())))?;
        jobs.insert(id.clone(), handle);
        Ok(())
    }

    /// Waits for `id`'s layer if it is being made: `None` when nothing is pending (it was
    /// settled before).
    pub(crate) fn settle(&self, id: &ContainerId) -> Option<Result<()>> {
        let handle = self.jobs().remove(id)?;
        Some(handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
    }
}
