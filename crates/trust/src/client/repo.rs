//! A repository's trust data seen from a client: fetch and verify, initialise, add and remove
//! signers, sign and revoke tags, rotate keys, each published at once (no changelist) as the
//! notary CLI's `publish` does: one multipart POST of the changed roles; the server signs the
//! snapshot and timestamp.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use palisade_pki::Clock;
use serde_json::Map;

use super::error::{ClientError, ClientResult};
use super::keystore::KeyStore;
use super::remote::{NotaryRemote, RemoteOptions};
use super::trust_dir::{MetadataCache, TrustDir};
use super::update::{update, TrustedRepo};
use crate::key::{Key, TufSigner};
use crate::root_cert::self_signed_root_certificate;
use crate::names::{Gun, RoleName};
use crate::schema::{
    DelegatedRole, Delegations, FileMeta, Role, RoleKeys, Root, Signed, Targets, ROOT_EXPIRY, TARGETS_EXPIRY,
};

/// docker's role for released tags.
pub const RELEASES_ROLE: &str = "targets/releases";

/// Checks a signer or key name as docker does (`^[a-z0-9][a-z0-9\_\-]*$`).
pub fn validate_signer_name(name: &str) -> ClientResult<()> {
    let ok = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !ok {
        return Err(ClientError::Invalid(format!(
            "signer name \"{name}\" must start with lowercase alphanumeric characters and can include \"-\" or \"_\" after the first character"
        )));
    }
    Ok(())
}

/// One GUN on one trust server, with the local trust directory.
pub struct Repository {
    gun: Gun,
    cache: MetadataCache,
    keys: KeyStore,
    remote: NotaryRemote,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository").field("gun", &self.gun).finish_non_exhaustive()
    }
}

/// A signing key: the public key as the role lists it (an x509 key for root), and the signer
/// (a key file today; any [`TufSigner`], e.g. a hardware token, fits).
struct RoleSigner {
    public: Key,
    private: Arc<dyn TufSigner>,
}

fn sign<T: Role>(meta: T, signers: &[RoleSigner]) -> ClientResult<Signed<T>> {
    let pairs: Vec<(&Key, &dyn TufSigner)> = signers.iter().map(|s| (&s.public, s.private.as_ref())).collect();
    Ok(Signed::sign_as(meta, &pairs)?)
}

fn next_version(v: NonZeroU64) -> NonZeroU64 {
    v.saturating_add(1)
}

fn empty_targets(expires: time::OffsetDateTime) -> Targets {
    Targets {
        type_: "Targets".into(),
        delegations: Delegations::default(),
        expires,
        targets: BTreeMap::new(),
        version: NonZeroU64::MIN,
        extra: Map::new(),
    }
}

fn role_keys(keyids: Vec<String>) -> RoleKeys {
    RoleKeys { keyids, threshold: NonZeroU64::MIN, extra: Map::new() }
}

impl Repository {
    /// A client for `gun`; `push` asks the token service for write access.
    pub fn new(
        gun: Gun,
        trust_dir: &TrustDir,
        keys: KeyStore,
        remote: &RemoteOptions,
        push: bool,
        clock: Arc<dyn Clock>,
    ) -> ClientResult<Self> {
        let remote = NotaryRemote::new(&gun, remote, push)?;
        Ok(Self { cache: trust_dir.metadata(&gun), gun, keys, remote, clock })
    }

    /// The GUN.
    pub fn gun(&self) -> &Gun {
        &self.gun
    }

    /// Fetches and verifies the repository; `None` if the server has no trust data for it.
    pub async fn fetch(&self) -> ClientResult<Option<TrustedRepo>> {
        update(&self.gun, &self.remote, &self.cache, None, self.clock.now()).await
    }

    /// Like [`Self::fetch`], but a repository without trust data is an error.
    pub async fn fetch_existing(&self) -> ClientResult<TrustedRepo> {
        self.fetch().await?.ok_or_else(|| ClientError::NoTrustData {
            server: self.remote.server().to_owned(),
            gun: self.gun.to_string(),
        })
    }

    async fn publish(&self, parts: Vec<(RoleName, Vec<u8>)>) -> ClientResult<TrustedRepo> {
        self.remote.publish(&parts).await?;
        self.fetch_existing().await
    }

    /// Private keys we hold among `keyids` (looked up in `keys`, files named by canonical ID).
    fn signers(&self, keyids: &[String], keys: &BTreeMap<String, Key>) -> ClientResult<Vec<RoleSigner>> {
        let mut out = Vec::new();
        for id in keyids {
            let Some(public) = keys.get(id) else { continue };
            if self.keys.contains(public.canonical_id())? {
                out.push(RoleSigner { public: public.clone(), private: self.keys.load(public.canonical_id())? });
            }
        }
        if out.is_empty() {
            return Err(ClientError::KeyNotFound(keyids.join(", ")));
        }
        Ok(out)
    }

    fn root_signers(&self, root: &Root) -> ClientResult<Vec<RoleSigner>> {
        let ids = root.roles.get("root").map(|r| r.keyids.clone()).unwrap_or_default();
        self.signers(&ids, &root.keys)
    }

    fn targets_signers(&self, root: &Root) -> ClientResult<Vec<RoleSigner>> {
        let ids = root.roles.get("targets").map(|r| r.keyids.clone()).unwrap_or_default();
        self.signers(&ids, &root.keys)
    }

    /// Initialises a new repository: root key (an existing one is reused, as notary does) with
    /// a certificate for the GUN, a new targets key, and the server-held snapshot and timestamp
    /// keys; publishes root and an empty targets.
    pub async fn initialize(&self) -> ClientResult<TrustedRepo> {
        let now = self.clock.now();
        let timestamp = self.remote.server_key(&RoleName::Timestamp, false).await?;
        let snapshot = self.remote.server_key(&RoleName::Snapshot, false).await?;
        let root_key: Arc<dyn TufSigner> = match self.keys.find("root", None)? {
            Some(id) => self.keys.load(&id)?,
            None => self.keys.generate("root", None)?.0,
        };
        let cert = self_signed_root_certificate(Arc::clone(&root_key), &self.gun, self.clock.as_ref())?;
        let (targets_key, targets_public) = self.keys.generate("targets", Some(&self.gun))?;
        let mut keys = BTreeMap::new();
        let mut roles = BTreeMap::new();
        for (role, key) in [("root", &cert), ("snapshot", &snapshot), ("targets", &targets_public), ("timestamp", &timestamp)] {
            keys.insert(key.id().to_owned(), key.clone());
            roles.insert(role.to_owned(), role_keys(vec![key.id().to_owned()]));
        }
        let root = Root {
            type_: "Root".into(),
            consistent_snapshot: false,
            expires: now + ROOT_EXPIRY,
            keys,
            roles,
            version: NonZeroU64::MIN,
            extra: Map::new(),
        };
        let root = sign(root, &[RoleSigner { public: cert, private: root_key }])?;
        let targets = sign(
            empty_targets(now + TARGETS_EXPIRY),
            &[RoleSigner { public: targets_public, private: targets_key }],
        )?;
        self.remote.publish(&[(RoleName::Root, root.bytes().to_vec()), (RoleName::Targets, targets.bytes().to_vec())]).await?;
        // Pin the root we made ourselves; metadata cached for an earlier repository of this name
        // (deleted on the server) must not serve as rollback floors for the new one.
        self.cache.clear()?;
        self.cache.write(&RoleName::Root, root.bytes())?;
        self.fetch_existing().await
    }

    /// Re-signs `targets` (new version and expiry) with our targets key.
    fn signed_targets(&self, repo: &TrustedRepo, mut targets: Targets) -> ClientResult<Signed<Targets>> {
        targets.version = next_version(repo.targets.signed().version);
        targets.expires = self.clock.now() + TARGETS_EXPIRY;
        sign(targets, &self.targets_signers(repo.root.signed())?)
    }

    /// `docker trust signer add`: delegation `targets/<name>` with `keys` (all paths), and the
    /// same keys added to `targets/releases`.
    pub async fn add_signer(&self, repo: &TrustedRepo, name: &str, keys: &[Key]) -> ClientResult<TrustedRepo> {
        validate_signer_name(name)?;
        if name == "releases" {
            return Err(ClientError::Invalid("releases is a reserved keyword, use a different signer name".into()));
        }
        if keys.is_empty() {
            return Err(ClientError::Invalid("path to a public key must be provided using the `--key` flag".into()));
        }
        let mut targets = repo.targets.signed().clone();
        let ids: Vec<String> = keys.iter().map(|k| k.id().to_owned()).collect();
        for key in keys {
            targets.delegations.keys.insert(key.id().to_owned(), key.clone());
        }
        for role in [format!("targets/{name}"), RELEASES_ROLE.to_owned()] {
            match targets.delegations.roles.iter_mut().find(|r| r.name == role) {
                Some(existing) => {
                    for id in &ids {
                        if !existing.keyids.contains(id) {
                            existing.keyids.push(id.clone());
                        }
                    }
                }
                None => targets.delegations.roles.push(DelegatedRole {
                    name: role,
                    keyids: ids.clone(),
                    threshold: NonZeroU64::MIN,
                    paths: vec![String::new()],
                    extra: Map::new(),
                }),
            }
        }
        let signed = self.signed_targets(repo, targets)?;
        self.publish(vec![(RoleName::Targets, signed.bytes().to_vec())]).await
    }

    /// Whether removing signer `name` leaves `targets/releases` without a threshold of
    /// signatures (docker `isLastSignerForReleases`). Fails, as docker does, when releases
    /// carries no signatures at all.
    pub fn is_last_releases_signer(&self, repo: &TrustedRepo, name: &str) -> ClientResult<bool> {
        let role = format!("targets/{name}");
        let d = &repo.targets.signed().delegations;
        let signer_keys: Vec<String> = d.roles.iter().filter(|r| r.name == role).flat_map(|r| r.keyids.clone()).collect();
        let releases = RoleName::new(RELEASES_ROLE)?;
        let sigs = repo.delegation(&releases).map(|m| m.signatures().to_vec()).unwrap_or_default();
        if sigs.is_empty() {
            return Err(ClientError::Invalid("all signed tags are currently revoked, use docker trust sign to fix".into()));
        }
        let threshold = d.roles.iter().find(|r| r.name == RELEASES_ROLE).map_or(1, |r| r.threshold.get());
        let remaining = sigs.iter().filter(|s| !signer_keys.contains(&s.keyid)).count() as u64;
        Ok(remaining < threshold)
    }

    /// `docker trust signer remove`: drops `targets/<name>` and its keys from `targets/releases`.
    pub async fn remove_signer(&self, repo: &TrustedRepo, name: &str) -> ClientResult<TrustedRepo> {
        if name == "releases" {
            return Err(ClientError::Invalid("releases is a reserved keyword and cannot be removed".into()));
        }
        let role = format!("targets/{name}");
        let mut targets = repo.targets.signed().clone();
        let Some(pos) = targets.delegations.roles.iter().position(|r| r.name == role) else {
            return Err(ClientError::Invalid(format!("no signer {name} for repository {}", self.gun)));
        };
        let removed = targets.delegations.roles.remove(pos);
        if let Some(releases) = targets.delegations.roles.iter_mut().find(|r| r.name == RELEASES_ROLE) {
            releases.keyids.retain(|id| !removed.keyids.contains(id));
        }
        targets.delegations.roles.retain(|r| r.name != RELEASES_ROLE || !r.keyids.is_empty());
        let used: Vec<String> = targets.delegations.roles.iter().flat_map(|r| r.keyids.clone()).collect();
        targets.delegations.keys.retain(|id, _| used.contains(id));
        let signed = self.signed_targets(repo, targets)?;
        self.publish(vec![(RoleName::Targets, signed.bytes().to_vec())]).await
    }

    /// The roles a tag is signed into (docker `GetSignableRoles`): every direct delegation of
    /// `targets` whose paths allow `tag` and for which we hold a key; `targets` itself when the
    /// repository has no delegations.
    pub fn signable_roles(&self, repo: &TrustedRepo, tag: &str) -> ClientResult<Vec<RoleName>> {
        let declared = repo.declared_delegations();
        if declared.is_empty() {
            return Ok(vec![RoleName::Targets]);
        }
        let keys = &repo.targets.signed().delegations.keys;
        let mut out = Vec::new();
        for d in declared {
            let Ok(role) = RoleName::new(&d.name) else { continue };
            if role.parent() != Some(RoleName::Targets) || !d.paths.iter().any(|p| tag.starts_with(p.as_str())) {
                continue;
            }
            for k in d.keyids.iter().filter_map(|id| keys.get(id)) {
                if self.keys.contains(k.canonical_id())? {
                    out.push(role);
                    break;
                }
            }
        }
        if out.is_empty() {
            return Err(ClientError::Invalid("no valid signing keys for delegation roles".into()));
        }
        Ok(out)
    }

    /// Applies `edit` to each role in `roles` (current metadata, or a new empty one) and returns
    /// the re-signed roles that changed.
    fn edit_roles(
        &self,
        repo: &TrustedRepo,
        roles: &[RoleName],
        edit: impl Fn(&mut Targets) -> bool,
    ) -> ClientResult<Vec<(RoleName, Vec<u8>)>> {
        let now = self.clock.now();
        let mut parts = Vec::new();
        for role in roles {
            let (mut meta, version, signers) = match role {
                RoleName::Targets => {
                    let t = repo.targets.signed().clone();
                    let v = t.version;
                    (t, Some(v), None)
                }
                _ => {
                    let d = repo.targets.signed().delegations.clone();
                    let entry = d
                        .roles
                        .iter()
                        .find(|r| r.name == role.as_str())
                        .ok_or_else(|| ClientError::Invalid(format!("no delegation {role}")))?;
                    let signers = self.signers(&entry.keyids, &d.keys)?;
                    match repo.delegation(role) {
                        Some(m) => (m.signed().clone(), Some(m.signed().version), Some(signers)),
                        None => (empty_targets(now + TARGETS_EXPIRY), None, Some(signers)),
                    }
                }
            };
            if !edit(&mut meta) {
                continue;
            }
            meta.version = version.map_or(NonZeroU64::MIN, next_version);
            meta.expires = now + TARGETS_EXPIRY;
            let signers = match signers {
                Some(s) => s,
                None => self.targets_signers(repo.root.signed())?,
            };
            parts.push((role.clone(), sign(meta, &signers)?.bytes().to_vec()));
        }
        Ok(parts)
    }

    /// Signs `tag` → `meta` into every signable role and publishes.
    pub async fn sign(&self, repo: &TrustedRepo, tag: &str, meta: &FileMeta) -> ClientResult<TrustedRepo> {
        if tag.is_empty() {
            return Err(ClientError::Invalid("no tag specified".into()));
        }
        let roles = self.signable_roles(repo, tag)?;
        let parts = self.edit_roles(repo, &roles, |t| {
            t.targets.insert(tag.to_owned(), meta.clone());
            true
        })?;
        self.publish(parts).await
    }

    /// Removes the signature for `tag` (or for every released tag) from the roles we can sign.
    pub async fn revoke(&self, repo: &TrustedRepo, tag: Option<&str>) -> ClientResult<TrustedRepo> {
        let releases = RoleName::new(RELEASES_ROLE)?;
        let released = |name: &str| {
            (repo.may_sign(&releases, name) && repo.delegation(&releases).is_some_and(|m| m.signed().targets.contains_key(name)))
                || repo.targets.signed().targets.contains_key(name)
        };
        let tags: Vec<String> = match tag {
            Some(t) => {
                if !released(t) {
                    return Err(ClientError::Invalid(format!("No valid trust data for {t}")));
                }
                vec![t.to_owned()]
            }
            None => {
                let mut all: Vec<String> = repo
                    .delegation(&releases)
                    .map(|m| m.signed().targets.keys().cloned().collect())
                    .unwrap_or_default();
                all.extend(repo.targets.signed().targets.keys().cloned());
                all.sort();
                all.dedup();
                if all.is_empty() {
                    return Err(ClientError::Invalid("no signed tags to remove".into()));
                }
                all
            }
        };
        let mut roles: Vec<RoleName> = Vec::new();
        for t in &tags {
            for r in self.signable_roles(repo, t)? {
                if !roles.contains(&r) {
                    roles.push(r);
                }
            }
        }
        let parts = self.edit_roles(repo, &roles, |meta| {
            let before = meta.targets.len();
            meta.targets.retain(|name, _| !tags.contains(name));
            meta.targets.len() != before
        })?;
        if parts.is_empty() {
            return Err(ClientError::Invalid("no signed tags to remove".into()));
        }
        self.publish(parts).await
    }

    /// Rotates the key of `role` (`root`, `targets`; `snapshot`/`timestamp` are rotated on the
    /// server) and publishes a new root (plus targets, re-signed with a new targets key). A new
    /// root is signed by the old and the new root keys. Returns the new public key.
    pub async fn rotate_key(&self, repo: &TrustedRepo, role: &RoleName) -> ClientResult<Key> {
        let now = self.clock.now();
        let old = repo.root.signed();
        let mut root = old.clone();
        let mut root_signers = self.root_signers(old)?;
        let mut parts = Vec::new();
        let new_key = match role {
            RoleName::Root => {
                let private = self.keys.generate("root", None)?.0;
                let cert = self_signed_root_certificate(Arc::clone(&private), &self.gun, self.clock.as_ref())?;
                root_signers.push(RoleSigner { public: cert.clone(), private });
                cert
            }
            RoleName::Targets => {
                let (private, public) = self.keys.generate("targets", Some(&self.gun))?;
                let mut t = repo.targets.signed().clone();
                t.version = next_version(t.version);
                t.expires = now + TARGETS_EXPIRY;
                let signer = RoleSigner { public: public.clone(), private };
                parts.push((RoleName::Targets, sign(t, &[signer])?.bytes().to_vec()));
                public
            }
            RoleName::Snapshot | RoleName::Timestamp => self.remote.server_key(role, true).await?,
            RoleName::Delegation(_) => {
                return Err(ClientError::Invalid(format!("cannot rotate {role}: rotate a signer with signer remove/add")))
            }
        };
        root.keys.insert(new_key.id().to_owned(), new_key.clone());
        root.roles.insert(role.as_str().to_owned(), role_keys(vec![new_key.id().to_owned()]));
        if *role != RoleName::Root {
            // Keys no role uses any more go; old root certificates stay, as notary keeps them.
            let used: Vec<String> = root.roles.values().flat_map(|r| r.keyids.clone()).collect();
            let old_root_ids = old.roles.get("root").map(|r| r.keyids.clone()).unwrap_or_default();
            root.keys.retain(|id, _| used.contains(id) || old_root_ids.contains(id));
        }
        root.version = next_version(old.version);
        root.expires = now + ROOT_EXPIRY;
        let signed = sign(root, &root_signers)?;
        parts.insert(0, (RoleName::Root, signed.bytes().to_vec()));
        self.publish(parts).await?;
        Ok(new_key)
    }
}
