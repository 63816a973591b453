//! Named volumes of the `local` driver: a directory per volume, outliving the containers that
//! mount it.
//!
//! ```text
//! <root>/volumes/              0700
//!   <name>/volume.json         name, creation time, labels (0600)
//!   <name>/_data/              the data, bind-mounted into containers (0755, as dockerd makes it)
//! ```
//!
//! Invariants: a volume exists exactly when its `volume.json` does (it is written last on
//! create and removed first on remove, so a crash in between leaves a directory that the next
//! create of that name completes); names are checked before they become paths, so a name can
//! never reach outside `<root>/volumes`. Which containers use a volume is the engine's
//! knowledge, not the store's.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use palisade_engine_api::types::timestamp;
use palisade_engine_api::volumes::types::Volume;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::state::{io, valid_name};

/// The label dockerd gives anonymous volumes (`-v /path`), which `volume prune` removes by
/// default.
pub(crate) const ANONYMOUS_LABEL: &str = "com.docker.volume.anonymous";

const META_FILE: &str = "volume.json";
const DATA_DIR: &str = "_data";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Meta {
    name: String,
    #[serde(with = "time::serde::rfc3339")]
    created: OffsetDateTime,
    labels: BTreeMap<String, String>,
}

/// The volumes under one data root.
#[derive(Debug)]
pub(crate) struct Volumes {
    dir: PathBuf,
    /// Serialises create and remove, so that two creates of one name make one volume.
    lock: Mutex<()>,
}

impl Volumes {
    /// Opens (creating) `<root>/volumes`.
    pub(crate) fn open(root: &Path) -> Result<Self> {
        let dir = root.join("volumes");
        std::fs::create_dir_all(&dir).map_err(io(format!("creating {}", dir.display())))?;
        set_mode(&dir, 0o700)?;
        Ok(Self { dir, lock: Mutex::new(()) })
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, ()> {
        self.lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn checked_dir(&self, name: &str) -> Result<PathBuf> {
        if !valid_volume_name(name) {
            return Err(Error::InvalidArgument(format!(
                "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" \
                 are allowed. If you intended to pass a host directory, use absolute path"
            )));
        }
        Ok(self.dir.join(name))
    }

    /// Creates the volume `name` (a random anonymous one when `None`), or returns the existing
    /// one of that name unchanged, as dockerd does.
    pub(crate) fn create(&self, name: Option<&str>, labels: BTreeMap<String, String>) -> Result<Volume> {
        let (name, mut labels) = match name {
            Some(n) => (n.to_owned(), labels),
            None => {
                let mut labels = labels;
                labels.insert(ANONYMOUS_LABEL.to_owned(), String::new());
                (palisade_runtime::ContainerId::random().to_string(), labels)
            }
        };
        let dir = self.checked_dir(&name)?;
        let _guard = self.guard();
        if let Ok(existing) = self.read(&name) {
            return Ok(existing);
        }
        let data = dir.join(DATA_DIR);
        std::fs::create_dir_all(&data).map_err(io(format!("creating {}", data.display())))?;
        set_mode(&data, 0o755)?;
        labels.retain(|k, _| !k.is_empty());
        let meta = Meta { name, created: OffsetDateTime::now_utc(), labels };
        let json = serde_json::to_vec_pretty(&meta).map_err(|e| Error::Internal(e.to_string()))?;
        palisade_runtime::write_atomic(&dir.join(META_FILE), &json)?;
        Ok(self.view(meta))
    }

    /// The volume `name`.
    pub(crate) fn read(&self, name: &str) -> Result<Volume> {
        if !valid_volume_name(name) {
            return Err(Error::NoSuchVolume(name.to_owned()));
        }
        let path = self.dir.join(name).join(META_FILE);
        let bytes = std::fs::read(&path).map_err(|_| Error::NoSuchVolume(name.to_owned()))?;
        let meta: Meta = serde_json::from_slice(&bytes)
            .map_err(|e| Error::Internal(format!("volume {name}: unreadable {}: {e}", path.display())))?;
        Ok(self.view(meta))
    }

    /// Every volume, by name.
    pub(crate) fn list(&self) -> Result<Vec<Volume>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(io(format!("reading {}", self.dir.display())))?;
        for entry in entries.flatten() {
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else { continue };
            match self.read(&name) {
                Ok(v) => out.push(v),
                Err(Error::NoSuchVolume(_)) => {}
                Err(e) => tracing::warn!("{e}"),
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Deletes the volume and its data; returns the bytes freed. The caller has checked that
    /// no container uses it.
    pub(crate) fn remove(&self, name: &str) -> Result<u64> {
        let _guard = self.guard();
        self.read(name)?;
        let dir = self.dir.join(name);
        let size = disk_usage(&dir.join(DATA_DIR));
        std::fs::remove_file(dir.join(META_FILE)).map_err(io(format!("removing volume {name}")))?;
        std::fs::remove_dir_all(&dir).map_err(io(format!("removing {}", dir.display())))?;
        Ok(size)
    }

    /// The host directory a container mounts for volume `name`.
    pub(crate) fn data_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join(DATA_DIR)
    }

    fn view(&self, meta: Meta) -> Volume {
        Volume {
            mountpoint: self.data_path(&meta.name).display().to_string(),
            name: meta.name,
            driver: "local".to_owned(),
            created_at: timestamp(meta.created),
            labels: meta.labels,
            scope: "local".to_owned(),
            options: BTreeMap::new(),
        }
    }
}

/// A volume to fill with what the image holds at its mount point (dockerd's copy-up, which
/// `nocopy` turns off).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CopyUp {
    /// The mount point in the container.
    pub(crate) target: String,
    /// The volume's data directory.
    pub(crate) data: PathBuf,
}

/// Fills each of `wanted` that is empty from `image`, the read-only root of the container's
/// image, before the container first runs; a volume holding anything is left as it is
/// (see `palisade_runtime::ContainerRoot::copy_up`).
pub(crate) fn copy_up(image: &palisade_runtime::ContainerRoot, wanted: &[CopyUp]) -> Result<()> {
    for w in wanted {
        let copied = image.copy_up(&w.target, &w.data)?;
        tracing::debug!("copied {copied} entries of the image's {} into {}", w.target, w.data.display());
    }
    Ok(())
}

/// Whether `volume` was made for a `-v /path` (dockerd's label).
pub(crate) fn is_anonymous(volume: &Volume) -> bool {
    volume.labels.contains_key(ANONYMOUS_LABEL)
}

/// dockerd's rule for local volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub(crate) fn valid_volume_name(name: &str) -> bool {
    valid_name(name)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(format!("chmod {}", path.display())))
}

/// Bytes in the regular files under `dir`, symlinks not followed.
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_owned()];
    while let Some(d) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            match entry.metadata() {
                Ok(m) if m.is_dir() => pending.push(entry.path()),
                Ok(m) if m.is_file() => total += m.len(),
                _ => {}
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_created_once_listed_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let volumes = Volumes::open(tmp.path()).unwrap();
        let v = volumes.create(Some("data"), [("k".to_owned(), "v".to_owned())].into()).unwrap();
        assert_eq!(v.mountpoint, tmp.path().join("volumes/data/_data").display().to_string());
        std::fs::write(volumes.data_path("data").join("f"), b"12345").unwrap();
        let again = volumes.create(Some("data"), BTreeMap::new()).unwrap();
        assert_eq!(again.labels.get("k").map(String::as_str), Some("v"), "the existing volume is returned unchanged");
        let anonymous = volumes.create(None, BTreeMap::new()).unwrap();
        assert!(is_anonymous(&anonymous) && anonymous.name.len() == 64);
        assert_eq!(volumes.list().unwrap().len(), 2);
        assert_eq!(volumes.remove("data").unwrap(), 5);
        assert!(matches!(volumes.read("data"), Err(Error::NoSuchVolume(_))));
        assert!(!tmp.path().join("volumes/data").exists());
    }

    #[test]
    fn names_cannot_leave_the_volume_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let volumes = Volumes::open(tmp.path()).unwrap();
        for bad in ["../x", "a/b", ".hidden", "x", "", "a b"] {
            assert!(matches!(volumes.create(Some(bad), BTreeMap::new()), Err(Error::InvalidArgument(_))), "{bad}");
            assert!(matches!(volumes.read(bad), Err(Error::NoSuchVolume(_))), "{bad}");
        }
        assert!(volumes.list().unwrap().is_empty());
    }
}
