//! The TUF client update (TUF spec 5.3–5.6, notary `tuf/client`): trust-on-first-use root pinned
//! in the cache, root rotation only through roots signed by the old *and* new root keys,
//! timestamp → snapshot → targets → delegations with hashes and lengths checked, no version
//! ever lower than the cached one (rollback), and no expired metadata (freeze). The cache is
//! written only once everything verified, so a failed update changes nothing.

use std::collections::BTreeMap;

use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use super::error::{ClientError, ClientResult};
use super::remote::{NotaryRemote, MAX_METADATA, MAX_TIMESTAMP};
use super::trust_dir::MetadataCache;
use crate::names::{Gun, RoleName};
use crate::schema::{
    check_expiry, root_leaf_keys, verify_role, ExpirationEnforcement, FileMeta, Role, Root, Signed, Snapshot, Targets,
    Timestamp,
};

/// Most delegated roles followed in one repository (a malicious targets cannot make us fetch
/// without bound).
const MAX_DELEGATIONS: usize = 256;

/// A verified view of a repository's metadata.
#[derive(Clone, Debug)]
pub struct TrustedRepo {
    /// root.json.
    pub root: Signed<Root>,
    /// timestamp.json.
    pub timestamp: Signed<Timestamp>,
    /// snapshot.json.
    pub snapshot: Signed<Snapshot>,
    /// targets.json.
    pub targets: Signed<Targets>,
    /// Delegated targets roles that have metadata, by role name, in walk order (breadth first).
    pub delegations: Vec<(RoleName, Signed<Targets>)>,
    /// The path prefixes each delegation was given by its parent (TUF 4.5 `paths`).
    paths: Vec<(RoleName, Vec<String>)>,
}

impl TrustedRepo {
    /// A delegated role's metadata.
    pub fn delegation(&self, role: &RoleName) -> Option<&Signed<Targets>> {
        self.delegations.iter().find(|(r, _)| r == role).map(|(_, m)| m)
    }

    /// Whether `role` may sign target `name`: `targets` always; a delegation only for names
    /// under one of the path prefixes its parent gave it (notary: `""` allows every name).
    pub fn may_sign(&self, role: &RoleName, name: &str) -> bool {
        match role {
            RoleName::Targets => true,
            _ => self
                .paths
                .iter()
                .find(|(r, _)| r == role)
                .is_some_and(|(_, prefixes)| prefixes.iter().any(|p| name.starts_with(p.as_str()))),
        }
    }

    /// What `tag` is released as, looked up as docker's trusted pull does (notary
    /// `GetTargetByName(tag, "targets/releases", "targets")`): in `targets/releases` first, then
    /// in `targets`. Other signers' delegations do not release a tag.
    pub fn released_target(&self, tag: &str) -> Option<&FileMeta> {
        let releases = RoleName::new(super::repo::RELEASES_ROLE).ok()?;
        let from_releases = self
            .delegation(&releases)
            .filter(|_| self.may_sign(&releases, tag))
            .and_then(|m| m.signed().targets.get(tag));
        from_releases.or_else(|| self.targets.signed().targets.get(tag))
    }

    /// hex(sha256) of a target's metadata (the manifest digest docker signs).
    pub fn sha256_hex(meta: &FileMeta) -> Option<String> {
        meta.hashes.get("sha256").filter(|h| h.len() == 32).map(hex::encode)
    }

    /// The roles that signed the manifest whose sha256 is `digest_hex` under some name they
    /// may sign (`targets`, then delegations in walk order), each once.
    pub fn signers_of(&self, digest_hex: &str) -> Vec<RoleName> {
        let walk = std::iter::once((&RoleName::Targets, &self.targets)).chain(self.delegations.iter().map(|(r, m)| (r, m)));
        walk.filter(|(role, meta)| {
            meta.signed()
                .targets
                .iter()
                .any(|(name, target)| Self::sha256_hex(target).as_deref() == Some(digest_hex) && self.may_sign(role, name))
        })
        .map(|(role, _)| role.clone())
        .collect()
    }

    /// All delegation roles declared in `targets` (direct children) with their declaration.
    pub fn declared_delegations(&self) -> &[crate::schema::DelegatedRole] {
        &self.targets.signed().delegations.roles
    }
}

fn role_keys(root: &Root, role: &str) -> (Vec<String>, u64) {
    root.roles.get(role).map(|k| (k.keyids.clone(), k.threshold.get())).unwrap_or_default()
}

/// A root must be signed by a threshold of its own root certificates for this GUN.
fn verify_root_self(gun: &Gun, root: &Signed<Root>, now: OffsetDateTime) -> ClientResult<()> {
    let r = root.signed();
    let leaf = root_leaf_keys(gun, r, now);
    let (ids, t) = role_keys(r, "root");
    verify_role("root", root, &leaf, &ids, t).map_err(|e| ClientError::RootRotation {
        version: r.version.get(),
        reason: format!("not signed by its own root certificates for {gun}: {e}"),
    })
}

fn check_version(role: &str, got: u64, cached: Option<u64>) -> ClientResult<()> {
    match cached {
        Some(have) if got < have => Err(ClientError::Rollback { role: role.to_owned(), got, have }),
        _ => Ok(()),
    }
}

fn cached_version<T: Role>(cache: &MetadataCache, role: &RoleName) -> ClientResult<Option<u64>> {
    // A cache file we cannot parse gives no floor; the pinned root is handled separately.
    Ok(cache.read(role)?.and_then(|b| Signed::<T>::from_bytes(role.as_str(), &b).ok()).map(|m| m.signed().version().get()))
}

/// Parses `bytes` as `role` and accepts it only if a threshold of `keyids` (from `keys`) signed
/// it, it has not expired (freeze) and its version is not below the cached one (rollback).
#[allow(clippy::too_many_arguments)]
fn accept<T: Role>(
    cache: &MetadataCache,
    role: &RoleName,
    bytes: &[u8],
    keys: &BTreeMap<String, crate::key::Key>,
    keyids: &[String],
    threshold: u64,
    now: OffsetDateTime,
) -> ClientResult<Signed<T>> {
    let name = role.as_str();
    let meta: Signed<T> = Signed::from_bytes(name, bytes)?;
    verify_role(name, &meta, keys, keyids, threshold)?;
    check_expiry(name, &meta, now, ExpirationEnforcement::Safe)?;
    check_version(name, meta.signed().version().get(), cached_version::<T>(cache, role)?)?;
    Ok(meta)
}

/// [`accept`] for a top-level role, whose keys root lists.
fn accept_top<T: Role>(cache: &MetadataCache, root: &Root, role: &RoleName, bytes: &[u8], now: OffsetDateTime) -> ClientResult<Signed<T>> {
    let (ids, t) = role_keys(root, role.as_str());
    accept(cache, role, bytes, &root.keys, &ids, t, now)
}

/// Fetches `role` by the checksum its parent lists and checks bytes, signature and expiry.
async fn fetch_listed(
    remote: &NotaryRemote,
    role: &RoleName,
    meta: &FileMeta,
    parent: &str,
) -> ClientResult<Vec<u8>> {
    let file = match meta.hashes.get("sha256") {
        Some(sum) => format!("{role}.{}.json", hex::encode(sum)),
        None => format!("{role}.json"),
    };
    let bytes = remote
        .metadata(&file, meta.length.min(MAX_METADATA))
        .await?
        .ok_or_else(|| ClientError::HashMismatch { role: role.to_string(), parent: parent.to_owned() })?;
    if !meta.matches(&bytes) {
        return Err(ClientError::HashMismatch { role: role.to_string(), parent: parent.to_owned() });
    }
    Ok(bytes)
}

/// Root keys chosen out of band (an admission policy's trust roots): a root is trusted only
/// when one of them signed it, whatever the cache pinned on first use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootPin {
    key_ids: Vec<String>,
}

impl RootPin {
    /// Pins root keys by ID: the certificate key IDs root.json lists (what `docker trust
    /// inspect` shows as the repository's `Root` keys), or the canonical IDs of the keys
    /// inside those certificates (what `notary key list` shows).
    pub fn new(key_ids: Vec<String>) -> Self {
        Self { key_ids }
    }

    /// A root is acceptable when it is consistent with itself and one of the pinned keys,
    /// listed among its root keys, signed it.
    fn check(&self, gun: &Gun, root: &Signed<Root>, now: OffsetDateTime) -> ClientResult<()> {
        verify_root_self(gun, root, now)?;
        let (listed, _) = role_keys(root.signed(), "root");
        let keys = &root.signed().keys;
        let is_pinned = |id: &String| {
            self.key_ids.contains(id) || keys.get(id).is_some_and(|k| self.key_ids.iter().any(|p| p == k.canonical_id()))
        };
        let pinned: Vec<String> = listed.into_iter().filter(is_pinned).collect();
        verify_role("root", root, &root.signed().keys, &pinned, 1).map_err(|_| ClientError::RootRotation {
            version: root.signed().version.get(),
            reason: format!("not signed by a pinned root key of {gun}"),
        })
    }
}

/// Runs a full update of `gun` against `remote`. `Ok(None)` when the server has no trust data
/// and nothing is cached (a new repository). With a `pin`, the served root must satisfy it
/// (and the cached root is not consulted); without, the cached root is trusted on first use.
pub(crate) async fn update(
    gun: &Gun,
    remote: &NotaryRemote,
    cache: &MetadataCache,
    pin: Option<&RootPin>,
    now: OffsetDateTime,
) -> ClientResult<Option<TrustedRepo>> {
    let no_data = || ClientError::NoTrustData { server: remote.server().to_owned(), gun: gun.to_string() };
    let cached_root = cache.read(&RoleName::Root)?;
    let Some(remote_root) = remote.metadata("root.json", MAX_METADATA).await? else {
        return match (cached_root, pin) {
            (None, _) | (Some(_), Some(_)) => Ok(None),
            (Some(_), None) => Err(no_data()),
        };
    };
    let served: Signed<Root> = Signed::from_bytes("root", &remote_root)?;
    let root = match (pin, cached_root) {
        (Some(pin), _) => {
            pin.check(gun, &served, now)?;
            served
        }
        (None, None) => {
            // Trust on first use: the root must at least be consistent with itself.
            verify_root_self(gun, &served, now)?;
            served
        }
        (None, Some(bytes)) => {
            let mut trusted: Signed<Root> = Signed::from_bytes("root", &bytes)?;
            let (have, got) = (trusted.signed().version.get(), served.signed().version.get());
            if got < have {
                return Err(ClientError::Rollback { role: "root".into(), got, have });
            }
            if got == have && served.bytes() != trusted.bytes() {
                return Err(ClientError::RootRotation {
                    version: got,
                    reason: "the server's root differs from the pinned root of the same version".into(),
                });
            }
            for v in have + 1..=got {
                let next = if v == got {
                    served.clone()
                } else {
                    let b = remote
                        .metadata(&format!("{v}.root.json"), MAX_METADATA)
                        .await?
                        .ok_or_else(|| ClientError::RootRotation { version: v, reason: "intermediate root missing".into() })?;
                    Signed::from_bytes("root", &b)?
                };
                if next.signed().version.get() != v {
                    return Err(ClientError::RootRotation { version: v, reason: "unexpected version".into() });
                }
                let (ids, t) = role_keys(trusted.signed(), "root");
                verify_role("root", &next, &trusted.signed().keys, &ids, t).map_err(|e| ClientError::RootRotation {
                    version: v,
                    reason: format!("not signed by the previous root keys: {e}"),
                })?;
                verify_root_self(gun, &next, now)?;
                trusted = next;
            }
            trusted
        }
    };
    check_expiry("root", &root, now, ExpirationEnforcement::Safe)?;
    let r = root.signed();

    let ts_bytes = remote.metadata("timestamp.json", MAX_TIMESTAMP).await?.ok_or_else(no_data)?;
    let timestamp: Signed<Timestamp> = accept_top(cache, r, &RoleName::Timestamp, &ts_bytes, now)?;

    let snap_meta = timestamp
        .signed()
        .meta
        .get("snapshot")
        .ok_or_else(|| ClientError::Tuf(crate::Error::BadRole("timestamp lists no snapshot".into())))?;
    let snap_bytes = fetch_listed(remote, &RoleName::Snapshot, snap_meta, "timestamp").await?;
    let snapshot: Signed<Snapshot> = accept_top(cache, r, &RoleName::Snapshot, &snap_bytes, now)?;
    if let Some(listed_root) = snapshot.signed().meta.get("root") {
        if !listed_root.matches(root.bytes()) {
            return Err(ClientError::HashMismatch { role: "root".into(), parent: "snapshot".into() });
        }
    }

    let targets_meta = snapshot
        .signed()
        .meta
        .get("targets")
        .ok_or_else(|| ClientError::Tuf(crate::Error::BadRole("snapshot lists no targets".into())))?;
    let targets_bytes = fetch_listed(remote, &RoleName::Targets, targets_meta, "snapshot").await?;
    let targets: Signed<Targets> = accept_top(cache, r, &RoleName::Targets, &targets_bytes, now)?;

    // Delegations, breadth first; only roles the snapshot lists have metadata.
    let mut delegations: Vec<(RoleName, Signed<Targets>)> = Vec::new();
    let mut paths: Vec<(RoleName, Vec<String>)> = Vec::new();
    let mut queue: Vec<(RoleName, Signed<Targets>)> = vec![(RoleName::Targets, targets.clone())];
    let mut i = 0;
    while i < queue.len() {
        let (parent_role, parent) = queue[i].clone();
        i += 1;
        let d = &parent.signed().delegations;
        for entry in &d.roles {
            let role = RoleName::new(&entry.name)?;
            if role.parent().as_ref() != Some(&parent_role) || delegations.iter().any(|(r, _)| r == &role) {
                continue;
            }
            let Some(meta) = snapshot.signed().meta.get(role.as_str()) else { continue };
            if delegations.len() >= MAX_DELEGATIONS {
                return Err(ClientError::Tuf(crate::Error::BadRole("too many delegations".into())));
            }
            let bytes = fetch_listed(remote, &role, meta, "snapshot").await?;
            let m: Signed<Targets> = accept(cache, &role, &bytes, &d.keys, &entry.keyids, entry.threshold.get(), now)?;
            delegations.push((role.clone(), m.clone()));
            paths.push((role.clone(), entry.paths.clone()));
            queue.push((role, m));
        }
    }

    // Everything verified: persist.
    cache.write(&RoleName::Root, root.bytes())?;
    cache.write(&RoleName::Timestamp, timestamp.bytes())?;
    cache.write(&RoleName::Snapshot, snapshot.bytes())?;
    cache.write(&RoleName::Targets, targets.bytes())?;
    for (role, m) in &delegations {
        cache.write(role, m.bytes())?;
    }
    tracing::debug!(gun = gun.as_str(), root = r.version.get(), timestamp = timestamp.signed().version.get(), "trust data verified");
    Ok(Some(TrustedRepo { root, timestamp, snapshot, targets, delegations, paths }))
}

/// hex(sha256) of a target's hashes, as docker shows digests.
pub(crate) fn sha256_hex(meta: &FileMeta) -> String {
    meta.hashes.get("sha256").map(hex::encode).unwrap_or_default()
}

/// sha256 + length of bytes as docker signs a manifest (sha256 only).
pub fn target_meta(bytes: &[u8]) -> FileMeta {
    let mut hashes = BTreeMap::new();
    hashes.insert("sha256".to_owned(), Sha256::digest(bytes).to_vec());
    FileMeta { hashes, length: bytes.len() as u64, extra: Default::default() }
}
