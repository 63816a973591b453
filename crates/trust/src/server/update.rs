//! Validation of `POST /v2/<gun>/_trust/tuf/` (notary `server/handlers/validation.go`).
//!
//! Order: root (version step, x509 leaf checks, signed by the previous root and by itself),
//! targets and delegations shallow first, snapshot (checked, or generated with a server key),
//! timestamp (always generated). Nothing is written unless everything passes; the versions are
//! then checked inside the storage transaction.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::error::{InvalidKind, ServerError};
use super::TrustServer;
use crate::names::{Gun, RoleName};
use crate::schema::{
    check_expiry, root_leaf_keys, verify_role, ExpirationEnforcement, FileMeta, Role, Root, Signed, Snapshot, Targets, Timestamp,
    SNAPSHOT_EXPIRY, TIMESTAMP_EXPIRY,
};

#[derive(serde::Deserialize)]
#[allow(dead_code)] // fields exist to be checked by the parser, not read
struct Probe {
    signed: ProbeSigned,
    signatures: Vec<serde_json::Value>,
}

#[derive(serde::Deserialize)]
struct ProbeSigned {
    #[allow(dead_code)]
    version: i64,
}

/// Parses multipart parts `(filename, bytes)` into roles (step 1).
pub(crate) fn parse_parts(parts: Vec<(Option<String>, Vec<u8>)>) -> Result<BTreeMap<RoleName, Vec<u8>>, ServerError> {
    let mut out = BTreeMap::new();
    for (filename, bytes) in parts {
        let name = filename.unwrap_or_default();
        let name = name.strip_suffix(".json").unwrap_or(&name);
        if name.is_empty() {
            return Err(ServerError::NoFilename);
        }
        let role = RoleName::new(name).map_err(|_| ServerError::InvalidRole(name.to_owned()))?;
        serde_json::from_slice::<Probe>(&bytes).map_err(|_| ServerError::MalformedJson(name.to_owned()))?;
        out.insert(role, bytes);
    }
    Ok(out)
}

fn parse<T: Role>(kind: InvalidKind, role: &str, bytes: &[u8]) -> Result<Signed<T>, ServerError> {
    Signed::from_bytes(role, bytes).map_err(|e| ServerError::invalid(kind, e))
}

fn enforce<T: Role>(kind: InvalidKind, role: &str, meta: &Signed<T>, now: OffsetDateTime) -> Result<(), ServerError> {
    check_expiry(role, meta, now, ExpirationEnforcement::Safe).map_err(|e| ServerError::invalid(kind, e))
}

/// Checks the structure of a root and returns it with only the root-role keys that are valid
/// leaf certificates for `gun`.
fn check_root(
    gun: &Gun,
    root: &Signed<Root>,
    now: OffsetDateTime,
) -> Result<BTreeMap<String, crate::Key>, ServerError> {
    let bad = |msg: String| ServerError::invalid(InvalidKind::BadRoot, msg);
    let r = root.signed();
    for base in ["root", "snapshot", "targets", "timestamp"] {
        let Some(keys) = r.roles.get(base) else {
            return Err(bad(format!("tuf: invalid root: missing {base} role")));
        };
        if let Some(missing) = keys.keyids.iter().find(|id| !r.keys.contains_key(*id)) {
            return Err(bad(format!("tuf: invalid root: {base} role key {missing} not in keys")));
        }
    }
    let valid = root_leaf_keys(gun, r, now);
    if valid.is_empty() {
        return Err(bad(
            "could not validate the path to a trusted root: unable to retrieve valid leaf certificates".into()
        ));
    }
    Ok(valid)
}

/// How far above its stored version an uploaded targets, delegation or snapshot may go. Clients
/// step a role by one per publish; notary-server bounds root to one step ("Root modifications
/// must increment the version") and we bound the others too, so a client cannot leap a role to
/// the end of the version space. Costs never depend on versions either way (see store.rs).
pub(crate) const MAX_VERSION_STEP: u64 = 1024;

/// The highest version (notary's Go `int`; larger versions do not even parse as an upload).
const MAX_VERSION: u64 = i64::MAX as u64;

/// The version after `prev` for metadata the server signs.
fn next_version(prev: u64) -> Result<std::num::NonZeroU64, ServerError> {
    prev.checked_add(1)
        .filter(|v| *v <= MAX_VERSION)
        .and_then(std::num::NonZeroU64::new)
        .ok_or_else(|| ServerError::invalid(InvalidKind::Validation, "version overflow"))
}

fn threshold(root: &Root, role: &str) -> (Vec<String>, u64) {
    root.roles.get(role).map(|k| (k.keyids.clone(), k.threshold.get())).unwrap_or_default()
}

impl TrustServer {
    /// Refuses `version` of an uploaded `role` more than [`MAX_VERSION_STEP`] above the stored one.
    fn check_step(&self, kind: InvalidKind, gun: &Gun, role: &str, version: u64) -> Result<(), ServerError> {
        match self.store.current_version(gun.as_str(), role)? {
            Some(current) if version > current.saturating_add(MAX_VERSION_STEP) => Err(ServerError::invalid(
                kind,
                format!("{role} version {version} is more than {MAX_VERSION_STEP} above the current version {current}"),
            )),
            _ => Ok(()),
        }
    }

    /// Validates an update and returns every role to write (uploaded plus generated).
    /// Caller holds the update lock.
    pub(crate) fn validate_update(
        &self,
        gun: &Gun,
        mut parts: BTreeMap<RoleName, Vec<u8>>,
    ) -> Result<Vec<(String, u64, Vec<u8>)>, ServerError> {
        let now = self.clock.now();
        let g = gun.as_str();
        // The client never uploads timestamps; notary regenerates it, so an uploaded one is dropped.
        parts.remove(&RoleName::Timestamp);
        let mut writes: Vec<(String, u64, Vec<u8>)> = Vec::new();

        // Step 2: root.
        let current_root = match self.store.current(g, "root")? {
            Some(bytes) => Some(Signed::<Root>::from_bytes("root", &bytes)?),
            None => None,
        };
        let root: Signed<Root> = match parts.get(&RoleName::Root) {
            Some(bytes) => {
                let new: Signed<Root> = parse(InvalidKind::BadRoot, "root", bytes)?;
                let bad = |msg: String| ServerError::invalid(InvalidKind::BadRoot, msg);
                if let Some(cur) = &current_root {
                    let (c, n) = (cur.signed().version.get(), new.signed().version.get());
                    if n != c && n != c + 1 {
                        return Err(bad(format!(
                            "Root modifications must increment the version. Current {c}, new {n}"
                        )));
                    }
                }
                let own_keys = check_root(gun, &new, now)?;
                if let Some(cur) = &current_root {
                    let (ids, t) = threshold(cur.signed(), "root");
                    verify_role("root", &new, &cur.signed().keys, &ids, t).map_err(|_| {
                        bad("could not rotate trust to a new trusted root: failed to validate data with current trusted certificates".into())
                    })?;
                }
                let (ids, t) = threshold(new.signed(), "root");
                verify_role("root", &new, &own_keys, &ids, t)
                    .map_err(|_| bad("failed to validate integrity of roots".into()))?;
                enforce(InvalidKind::BadRoot, "root", &new, now)?;
                writes.push(("root".into(), new.signed().version.get(), bytes.clone()));
                new
            }
            None => current_root.ok_or_else(|| {
                ServerError::invalid(InvalidKind::Validation, "no pre-existing root and no root provided in update.")
            })?,
        };

        // Step 3: targets and delegations, shallow first.
        let mut targets_roles: Vec<&RoleName> = parts.keys().filter(|r| r.is_targets_like()).collect();
        targets_roles.sort_by_key(|r| r.depth());
        let mut loaded: BTreeMap<String, Signed<Targets>> = BTreeMap::new();
        for role in targets_roles {
            let name = role.as_str();
            let bytes = parts.get(role).map(Vec::as_slice).unwrap_or_default();
            let meta: Signed<Targets> = parse(InvalidKind::BadTargets, name, bytes)?;
            self.check_step(InvalidKind::BadTargets, gun, name, meta.signed().version.get())?;
            let bad = |msg: String| ServerError::invalid(InvalidKind::BadTargets, msg);
            let (keys, ids, t) = match role.parent() {
                None => {
                    let (ids, t) = threshold(root.signed(), "targets");
                    (root.signed().keys.clone(), ids, t)
                }
                Some(parent) => {
                    let parent_meta = match loaded.get(parent.as_str()) {
                        Some(p) => p.clone(),
                        None => match self.store.current(g, parent.as_str())? {
                            Some(b) => Signed::<Targets>::from_bytes(parent.as_str(), &b)?,
                            None => return Err(bad(format!("tuf: invalid role {name}. delegation does not exist"))),
                        },
                    };
                    let d = &parent_meta.signed().delegations;
                    let Some(entry) = d.roles.iter().find(|r| r.name == name) else {
                        return Err(bad(format!("tuf: invalid role {name}. delegation does not exist")));
                    };
                    (d.keys.clone(), entry.keyids.clone(), entry.threshold.get())
                }
            };
            verify_role(name, &meta, &keys, &ids, t).map_err(|e| bad(e.to_string()))?;
            enforce(InvalidKind::BadTargets, name, &meta, now)?;
            for child in &meta.signed().delegations.roles {
                let direct = RoleName::new(&child.name).ok().and_then(|c| c.parent()).is_some_and(|p| &p == role);
                if !direct {
                    return Err(bad(format!("tuf: invalid role {}. not a direct child of {name}", child.name)));
                }
            }
            writes.push((name.to_owned(), meta.signed().version.get(), bytes.to_vec()));
            loaded.insert(name.to_owned(), meta);
        }

        // Step 4: snapshot.
        let snapshot_bytes = match parts.get(&RoleName::Snapshot) {
            Some(bytes) => {
                let meta: Signed<Snapshot> = parse(InvalidKind::BadSnapshot, "snapshot", bytes)?;
                self.check_step(InvalidKind::BadSnapshot, gun, "snapshot", meta.signed().version.get())?;
                let bad = |msg: String| ServerError::invalid(InvalidKind::BadSnapshot, msg);
                let (ids, t) = threshold(root.signed(), "snapshot");
                verify_role("snapshot", &meta, &root.signed().keys, &ids, t).map_err(|e| bad(e.to_string()))?;
                enforce(InvalidKind::BadSnapshot, "snapshot", &meta, now)?;
                let listed = &meta.signed().meta;
                for required in ["root", "targets"] {
                    if !listed.get(required).is_some_and(|m| m.hashes.contains_key("sha256")) {
                        return Err(bad(format!("snapshot missing metadata for {required}")));
                    }
                }
                for (role, fm) in listed {
                    let bytes = match writes.iter().find(|(r, _, _)| r == role) {
                        Some((_, _, b)) => Some(b.clone()),
                        None => self.store.current(g, role)?,
                    };
                    match bytes {
                        Some(b) if !fm.matches(&b) => {
                            return Err(bad(format!("snapshot has incorrect hashes for {role}")));
                        }
                        None if role == "root" || role == "targets" => {
                            return Err(bad(format!("snapshot lists {role}, which does not exist")));
                        }
                        _ => {}
                    }
                }
                writes.push(("snapshot".into(), meta.signed().version.get(), bytes.clone()));
                bytes.clone()
            }
            None => {
                let Some(bytes) = self.generate_snapshot(gun, root.signed(), &writes, now)? else {
                    return Err(ServerError::BadHierarchy {
                        missing: "snapshot".into(),
                        msg: "no snapshot was included in update and server does not hold current snapshot key for repository".into(),
                    });
                };
                bytes
            }
        };
        if let Some((_, _, b)) = writes.iter().find(|(r, _, _)| r == "snapshot") {
            debug_assert_eq!(b, &snapshot_bytes);
        } else {
            let v = Signed::<Snapshot>::from_bytes("snapshot", &snapshot_bytes)?.signed().version.get();
            writes.push(("snapshot".into(), v, snapshot_bytes.clone()));
        }

        // Step 5: timestamp.
        let Some((version, ts)) = self.generate_timestamp(gun, root.signed(), &snapshot_bytes, now)? else {
            return Err(ServerError::invalid(InvalidKind::BadRoot, "no  timestamp keys exist on the server"));
        };
        writes.push(("timestamp".into(), version, ts));
        Ok(writes)
    }

    /// A new snapshot from the stored one plus `writes`, signed with the server's snapshot key;
    /// `None` if the server holds no key listed in root's snapshot role.
    pub(crate) fn generate_snapshot(
        &self,
        gun: &Gun,
        root: &Root,
        writes: &[(String, u64, Vec<u8>)],
        now: OffsetDateTime,
    ) -> Result<Option<Vec<u8>>, ServerError> {
        let g = gun.as_str();
        let Some(key) = self.keys.signing_key(&self.store, g, "snapshot", root)? else { return Ok(None) };
        let prev = match self.store.current(g, "snapshot")? {
            Some(b) => Signed::<Snapshot>::from_bytes("snapshot", &b).ok(),
            None => None,
        };
        let (mut meta, version, extra) = match prev {
            Some(p) => (p.signed().meta.clone(), next_version(p.signed().version.get())?, p.signed().extra.clone()),
            None => (BTreeMap::new(), next_version(0)?, Default::default()),
        };
        for (role, _, bytes) in writes {
            if role != "snapshot" && role != "timestamp" {
                meta.insert(role.clone(), FileMeta::of(bytes));
            }
        }
        for required in ["root", "targets"] {
            if !meta.contains_key(required) {
                if let Some(b) = self.store.current(g, required)? {
                    meta.insert(required.to_owned(), FileMeta::of(&b));
                }
            }
        }
        let snapshot = Snapshot {
            type_: Snapshot::TYPE.into(),
            expires: now + SNAPSHOT_EXPIRY,
            meta,
            version,
            extra,
        };
        Ok(Some(Signed::sign(snapshot, &[&key])?.bytes().to_vec()))
    }

    /// A new timestamp over `snapshot`, signed with the server's timestamp key.
    pub(crate) fn generate_timestamp(
        &self,
        gun: &Gun,
        root: &Root,
        snapshot: &[u8],
        now: OffsetDateTime,
    ) -> Result<Option<(u64, Vec<u8>)>, ServerError> {
        let g = gun.as_str();
        let Some(key) = self.keys.signing_key(&self.store, g, "timestamp", root)? else { return Ok(None) };
        let version = next_version(self.store.current_version(g, "timestamp")?.unwrap_or(0))?;
        let ts = Timestamp {
            type_: Timestamp::TYPE.into(),
            expires: now + TIMESTAMP_EXPIRY,
            meta: BTreeMap::from([("snapshot".to_owned(), FileMeta::of(snapshot))]),
            version,
            extra: Default::default(),
        };
        Ok(Some((version.get(), Signed::sign(ts, &[&key])?.bytes().to_vec())))
    }
}
