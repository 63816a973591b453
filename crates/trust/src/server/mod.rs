//! A Notary v1 compatible trust server (notary-server 0.7 wire protocol).
//!
//! [`TrustServer`] holds the state and the TUF validation; [`router`] exposes it over HTTP with
//! exactly the routes, status codes and error envelopes of notary-server, and [`serve`] runs the
//! router over plain TCP or TLS. [`TokenAuth`] wraps the router with the registry's bearer-token
//! checks, using the access [`required_access`] states for each route (notary `server/server.go`).

mod auth;
mod config;
mod error;
mod http;
mod keys;
mod locks;
mod store;
mod update;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use palisade_pki::Clock;
use serde_json::json;
use sha2::{Digest as _, Sha256};

pub use auth::TokenAuth;
pub use config::{AuthConfig, TrustServerConfig};
pub use error::{InvalidKind, ServerError};
pub use http::{required_access, route_label, router, serve, tls_config, Access, Limits, UPLOAD_WAIT};

use crate::error::{Error, Result};
use crate::key::Key;
use crate::names::{Gun, RoleName};
use crate::schema::{Role as _, Root, Signed, Snapshot, Timestamp};
use keys::{Kek, ServerKeys};
use locks::GunLocks;
use store::{CommitError, RoleWrite, Store};

/// Database file name under the server root.
const DB_FILE: &str = "trust.redb";
/// Key-encryption key file name under the server root (0600).
const KEK_FILE: &str = "server-keys.kek";

/// Which stored version of a role a GET asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MetaRequest {
    /// `<role>.json`: the current version.
    Current(RoleName),
    /// `<role>.<sha256hex>.json`.
    Checksum(RoleName, String),
    /// `<version>.<role>.json`.
    Version(RoleName, u64),
}

impl MetaRequest {
    /// Parses the file part of a metadata URL; `None` if it is not a metadata file name.
    pub fn parse(file: &str) -> Option<Self> {
        let stem = file.strip_suffix(".json")?;
        if let Some((v, rest)) = stem.split_once('.') {
            if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                return Some(Self::Version(RoleName::new(rest).ok()?, v.parse().ok()?));
            }
        }
        if let Some((rest, sum)) = stem.rsplit_once('.') {
            if sum.len() == 64 && sum.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Some(Self::Checksum(RoleName::new(rest).ok()?, sum.to_ascii_lowercase()));
            }
        }
        Some(Self::Current(RoleName::new(stem).ok()?))
    }
}

/// The trust server state: metadata store, sealed server keys, clock.
pub struct TrustServer {
    store: Store,
    keys: ServerKeys,
    clock: Arc<dyn Clock>,
    /// Serialises the writes of each GUN so validation reads and the commit see the same state.
    locks: GunLocks,
    /// Where publishes and deletes of trust data are recorded, if anywhere.
    audit: std::sync::OnceLock<Arc<palisade_audit::AuditLog>>,
}

impl std::fmt::Debug for TrustServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustServer").finish_non_exhaustive()
    }
}

impl TrustServer {
    /// Opens (or creates, mode 0700) the server root `dir`.
    pub fn open(dir: &Path, clock: Arc<dyn Clock>) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt as _;
        let io = |op, source| Error::Io { op, path: dir.display().to_string(), source };
        std::fs::create_dir_all(dir).map_err(|e| io("create", e))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|e| io("chmod", e))?;
        let kek = Kek::load_or_create(&dir.join(KEK_FILE))?;
        let store = Store::open(&dir.join(DB_FILE))?;
        Ok(Self { store, keys: ServerKeys::new(kek), clock, locks: GunLocks::default(), audit: std::sync::OnceLock::new() })
    }

    /// Records publishes and deletes of trust data in `log` from now on. One log per server;
    /// returns `false` if one was already set.
    pub fn set_audit(&self, log: Arc<palisade_audit::AuditLog>) -> bool {
        self.audit.set(log).is_ok()
    }

    /// Appends `event` to the audit log, if one is set. Blocking (an append waits for its
    /// fsync); a failure to record is logged, never the client's error.
    pub(crate) fn record(&self, event: palisade_audit::Event) {
        if let Some(log) = self.audit.get() {
            log.record(event);
        }
    }

    fn current_root(&self, gun: &Gun) -> Result<Option<Signed<Root>>> {
        match self.store.current(gun.as_str(), "root")? {
            Some(b) => Ok(Some(Signed::from_bytes("root", &b)?)),
            None => Ok(None),
        }
    }

    /// `GET …/_trust/tuf/<file>`: the requested metadata bytes. An expired current timestamp
    /// (or snapshot, if the server holds its key) is re-signed first.
    pub fn metadata(&self, gun: &Gun, req: &MetaRequest) -> Result<Vec<u8>, ServerError> {
        let g = gun.as_str();
        let found = match req {
            MetaRequest::Current(role) => {
                if matches!(role, RoleName::Timestamp | RoleName::Snapshot) {
                    self.refresh_expired(gun)?;
                }
                self.store.current(g, role.as_str())?
            }
            MetaRequest::Checksum(role, sum) => self.store.by_checksum(g, role.as_str(), sum)?,
            MetaRequest::Version(role, v) => self.store.by_version(g, role.as_str(), *v)?,
        };
        found.ok_or(ServerError::MetadataNotFound)
    }

    /// Re-signs an expired snapshot (if we hold its key) and timestamp (notary does this on GET).
    fn refresh_expired(&self, gun: &Gun) -> Result<(), ServerError> {
        let g = gun.as_str();
        let now = self.clock.now();
        let expired = |role: &str| -> Result<bool, ServerError> {
            Ok(match self.store.current(g, role)? {
                Some(b) => match role {
                    "timestamp" => Signed::<Timestamp>::from_bytes(role, &b)?.signed().expires() <= now,
                    _ => Signed::<Snapshot>::from_bytes(role, &b)?.signed().expires() <= now,
                },
                None => false,
            })
        };
        if !expired("timestamp")? && !expired("snapshot")? {
            return Ok(());
        }
        self.locks.with(g, || {
            let Some(root) = self.current_root(gun)? else { return Ok(()) };
            let mut writes = Vec::new();
            let mut snapshot = self.store.current(g, "snapshot")?.unwrap_or_default();
            if expired("snapshot")? {
                if let Some(b) = self.generate_snapshot(gun, root.signed(), &[], now)? {
                    let v = Signed::<Snapshot>::from_bytes("snapshot", &b)?.signed().version.get();
                    snapshot = b.clone();
                    writes.push(("snapshot".to_owned(), v, b));
                }
            }
            if !writes.is_empty() || expired("timestamp")? {
                if let Some((v, ts)) = self.generate_timestamp(gun, root.signed(), &snapshot, now)? {
                    writes.push(("timestamp".to_owned(), v, ts));
                }
            }
            self.commit(gun, writes)
        })
    }

    fn commit(&self, gun: &Gun, writes: Vec<(String, u64, Vec<u8>)>) -> Result<(), ServerError> {
        if writes.is_empty() {
            return Ok(());
        }
        let ts = writes.iter().find(|(r, _, _)| r == "timestamp").map(|(_, v, b)| (*v, hex::encode(Sha256::digest(b))));
        let writes: Vec<RoleWrite> =
            writes.into_iter().map(|(role, version, bytes)| RoleWrite { role, version, bytes }).collect();
        let now = self.clock.now();
        let record = |id: u64| change_record(id, now, gun, "update", ts.clone().unwrap_or_default());
        match self.store.commit(gun.as_str(), &writes, record) {
            Ok(()) => Ok(()),
            Err(CommitError::Version) => Err(ServerError::Version),
            Err(CommitError::Storage(e)) => Err(ServerError::Internal(e)),
        }
    }

    /// `POST …/_trust/tuf/`: validates the uploaded roles (reference §5) and stores them with a
    /// server-generated timestamp (and snapshot, when the client did not send one).
    pub fn update(&self, gun: &Gun, parts: Vec<(Option<String>, Vec<u8>)>) -> Result<(), ServerError> {
        let parts = update::parse_parts(parts)?;
        let roles = self.locks.with(gun.as_str(), || {
            let writes = self.validate_update(gun, parts)?;
            let roles: Vec<String> = writes.iter().map(|(r, v, _)| format!("{r}@{v}")).collect();
            self.commit(gun, writes).map(|()| roles)
        })?;
        tracing::info!(gun = gun.as_str(), ?roles, "trust data updated");
        Ok(())
    }

    /// `GET …/<role>.key`: the server-held timestamp/snapshot public key (created if none).
    pub fn public_key(&self, gun: &Gun, role: &RoleName) -> Result<Key, ServerError> {
        check_server_role(role)?;
        self.locks.with(gun.as_str(), || {
            let root = self.current_root(gun)?;
            Ok(self.keys.current_or_create(&self.store, gun.as_str(), role.as_str(), root.as_ref().map(|r| r.signed()))?)
        })
    }

    /// `POST …/<role>.key`: a new pending key, used once a new root lists it.
    pub fn rotate_key(&self, gun: &Gun, role: &RoleName) -> Result<Key, ServerError> {
        check_server_role(role)?;
        self.locks.with(gun.as_str(), || Ok(self.keys.create(&self.store, gun.as_str(), role.as_str())?))
    }

    /// `DELETE …/_trust/tuf/`: removes all trust data of `gun`.
    pub fn delete(&self, gun: &Gun) -> Result<(), ServerError> {
        let now = self.clock.now();
        self.locks.with(gun.as_str(), || {
            self.store.delete(gun.as_str(), |id| change_record(id, now, gun, "deletion", (0, String::new())))
        })?;
        tracing::info!(gun = gun.as_str(), "trust data deleted");
        Ok(())
    }

    /// Changefeed (`GET /v2/_trust/changefeed`, `GET /v2/<gun>/_trust/changefeed`):
    /// `records` changes after `change_id` (or before it, when negative; `0` = the end).
    pub fn changefeed(
        &self,
        gun: Option<&Gun>,
        change_id: &str,
        records: &str,
    ) -> Result<serde_json::Value, ServerError> {
        let bad = |what: &str| ServerError::InvalidParameters(what.to_owned());
        let id: u64 = if change_id.is_empty() { 0 } else { change_id.parse().map_err(|_| bad("change_id"))? };
        let records: i64 = if records.is_empty() { 100 } else { records.parse().map_err(|_| bad("records"))? };
        let want = usize::try_from(records.unsigned_abs()).unwrap_or(usize::MAX).min(1000);
        // An unreadable record is kept, to fail the request below rather than vanish.
        let keep = |bytes: &[u8]| {
            gun.is_none_or(|g| {
                serde_json::from_slice::<serde_json::Value>(bytes)
                    .map_or(true, |rec| rec.get("GUN").and_then(|v| v.as_str()) == Some(g.as_str()))
            })
        };
        let raw = if records >= 0 {
            self.store.changes(id.saturating_add(1)..=u64::MAX, false, want, keep)?
        } else {
            let end = if id == 0 { self.store.last_change_id()? } else { id.saturating_sub(1) };
            let mut raw = self.store.changes(1..=end, true, want, keep)?;
            raw.reverse();
            raw
        };
        let out = raw
            .iter()
            .map(|b| serde_json::from_slice::<serde_json::Value>(b).map_err(|e| Error::Storage(e.to_string())))
            .collect::<Result<Vec<_>>>()?;
        Ok(json!({"count": out.len(), "records": out}))
    }

    /// Roles stored for `gun` with their current versions (for inspection and tests).
    pub fn stored_versions(&self, gun: &Gun) -> Result<BTreeMap<String, u64>> {
        Ok(self.store.roles(gun.as_str())?.into_iter().collect())
    }
}

fn check_server_role(role: &RoleName) -> Result<(), ServerError> {
    match role {
        RoleName::Timestamp | RoleName::Snapshot => Ok(()),
        other => Err(ServerError::InvalidRole(other.as_str().to_owned())),
    }
}

fn change_record(id: u64, now: time::OffsetDateTime, gun: &Gun, category: &str, ts: (u64, String)) -> Vec<u8> {
    let created = now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default();
    serde_json::to_vec(&json!({
        "ID": id.to_string(),
        "CreatedAt": created,
        "GUN": gun.as_str(),
        "Version": ts.0,
        "SHA256": ts.1,
        "Category": category,
    }))
    .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn metadata_file_names() {
        let sum = "ab".repeat(32);
        assert_eq!(MetaRequest::parse("root.json"), Some(MetaRequest::Current(RoleName::Root)));
        assert_eq!(MetaRequest::parse("3.targets.json"), Some(MetaRequest::Version(RoleName::Targets, 3)));
        assert_eq!(
            MetaRequest::parse(&format!("targets/releases.{sum}.json")),
            Some(MetaRequest::Checksum(RoleName::new("targets/releases").unwrap(), sum.clone()))
        );
        assert_eq!(
            MetaRequest::parse("2.targets/releases.json"),
            Some(MetaRequest::Version(RoleName::new("targets/releases").unwrap(), 2))
        );
        for bad in ["root", "x.json", "targets/../root.json", ".json"] {
            assert_eq!(MetaRequest::parse(bad), None, "{bad}");
        }
    }
}
