//! What the engine keeps of each container across daemon restarts:
//! `<root>/engine/containers/<id>.json` (directory 0700, files 0600, written whole through a
//! rename). Together with the writable layer and logs the runtime keeps in
//! `<root>/containers/<id>/`, it is enough to list, inspect, read the logs of, and start the
//! container again after the daemon (or the host) restarted.
//!
//! Service tasks have no record: the cluster recreates them, with their secrets, from its store.
//! A record holds the create request as the client sent it; secret values never reach it
//! (they go to tasks as files, not as part of the request).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use palisade_engine_api::containers::types::ContainerCreateRequest;
use palisade_runtime::{ContainerId, OciRuntimeKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::mounts::UsedVolume;
use crate::state::io;

/// One container's record.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Record {
    pub(crate) id: ContainerId,
    pub(crate) name: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created: OffsetDateTime,
    pub(crate) image_id: String,
    pub(crate) request: ContainerCreateRequest,
    pub(crate) path: String,
    pub(crate) args: Vec<String>,
    pub(crate) runtime: Runtime,
    pub(crate) volumes: Vec<UsedVolume>,
    pub(crate) restart_count: u32,
    /// `docker stop`ped (not merely exited): `unless-stopped` keeps it stopped.
    pub(crate) stopped_by_user: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub(crate) finished_at: Option<OffsetDateTime>,
    pub(crate) exit_code: i64,
    pub(crate) oom_killed: bool,
    pub(crate) error: String,
    /// The networks the container is on as they stand, after any `docker network connect` or
    /// `disconnect` (first: the one it joins first); `None` for a host or none container, and
    /// in records written before they were kept (the create request's networks then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) networks: Option<Vec<RecordedEndpoint>>,
    /// The swarm networks it joins while running (not in `networks`, which are local).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) cluster_networks: Vec<crate::cluster_networks::ClusterEndpoint>,
}

/// One network of a container's record, by name (the default bridge is made anew, with a new
/// id, when its settings change), with what the container asked of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordedEndpoint {
    pub(crate) network: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ipv4: Option<Ipv4Addr>,
}

/// [`OciRuntimeKind`] as records spell it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Runtime {
    Crun,
    Runc,
}

impl From<OciRuntimeKind> for Runtime {
    fn from(kind: OciRuntimeKind) -> Self {
        match kind {
            OciRuntimeKind::Runc => Self::Runc,
            _ => Self::Crun,
        }
    }
}

impl From<Runtime> for OciRuntimeKind {
    fn from(runtime: Runtime) -> Self {
        match runtime {
            Runtime::Crun => Self::Crun,
            Runtime::Runc => Self::Runc,
        }
    }
}

/// The records directory.
#[derive(Clone, Debug)]
pub(crate) struct Records {
    dir: PathBuf,
}

impl Records {
    /// Opens (creating, 0700) `dir`.
    pub(crate) fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(format!("chmod {}", dir.display())))?;
        Ok(Self { dir: dir.to_owned() })
    }

    fn path(&self, id: &ContainerId) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Writes `record`, replacing the previous one.
    pub(crate) fn save(&self, record: &Record) -> Result<()> {
        let json = serde_json::to_vec(record).map_err(|e| Error::Internal(format!("encoding container record: {e}")))?;
        palisade_runtime::write_atomic(&self.path(&record.id), &json)?;
        Ok(())
    }

    /// Deletes the record of `id` (absent is fine).
    pub(crate) fn remove(&self, id: &ContainerId) -> Result<()> {
        match std::fs::remove_file(self.path(id)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(format!("removing the record of {id}"))(e)),
            _ => Ok(()),
        }
    }

    /// Every readable record; an unreadable one is reported and left for inspection.
    pub(crate) fn load_all(&self) -> Result<Vec<Record>> {
        let mut out = Vec::new();
        let entries = std::fs::read_dir(&self.dir).map_err(io(format!("reading {}", self.dir.display())))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let parsed = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|bytes| serde_json::from_slice::<Record>(&bytes).map_err(|e| e.to_string()));
            match parsed {
                Ok(r) if path.file_stem().is_some_and(|s| s == r.id.as_str()) => out.push(r),
                Ok(_) => tracing::warn!("container record {} names another container: ignored", path.display()),
                Err(e) => tracing::warn!("container record {} is unreadable ({e}): ignored", path.display()),
            }
        }
        out.sort_by_key(|r| r.created);
        Ok(out)
    }
}
