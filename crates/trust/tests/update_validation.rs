//! The server refuses forged, replayed, expired and wrongly-signed updates with notary's error
//! codes, and leaves the stored state unchanged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use p256::pkcs8::EncodePrivateKey as _;
use palisade_pki::FixedClock;
use palisade_trust::schema::{
    Delegations, FileMeta, RoleKeys, Root, Signed, Snapshot, Targets, ROOT_EXPIRY, SNAPSHOT_EXPIRY, TARGETS_EXPIRY,
};
use palisade_trust::server::{InvalidKind, ServerError, TrustServer};
use palisade_trust::{Gun, Key, KeyType, PrivateKey, RoleName, TufSigner};
use time::OffsetDateTime;

const GUN: &str = "example.com/app";

/// A P-256 key plus a self-signed leaf certificate with CN = GUN (what `notary init` makes).
struct RootKey {
    key: PrivateKey,
    cert_key: Key,
}

/// Signs `meta` with root keys, naming each by its certificate key ID (as notary does).
fn sign_root(meta: Root, keys: &[&RootKey]) -> Signed<Root> {
    let pairs: Vec<(&Key, &dyn TufSigner)> = keys.iter().map(|k| (&k.cert_key, &k.key as &dyn TufSigner)).collect();
    Signed::sign_as(meta, &pairs).unwrap()
}

fn root_key(cn: &str) -> RootKey {
    let key = PrivateKey::generate_ecdsa();
    let PrivateKey::Ecdsa(sk) = &key else { unreachable!() };
    let der = sk.to_pkcs8_der().unwrap();
    let kp = rcgen::KeyPair::try_from(der.as_bytes()).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, cn);
    let cert = params.self_signed(&kp).unwrap();
    let cert_key = Key::new(KeyType::EcdsaX509, cert.pem().into_bytes()).unwrap();
    RootKey { key, cert_key }
}

struct Repo {
    server: Arc<TrustServer>,
    _dir: Arc<tempfile::TempDir>,
    gun: Gun,
    clock: Arc<FixedClock>,
    root: RootKey,
    targets: PrivateKey,
    /// Client-held snapshot key; `None` = server-managed snapshot.
    snapshot: Option<PrivateKey>,
    timestamp_key: Key,
    server_snapshot_key: Key,
}

fn nz(v: u64) -> NonZeroU64 {
    NonZeroU64::new(v).unwrap()
}

fn role_keys(ids: &[&str]) -> RoleKeys {
    RoleKeys { keyids: ids.iter().map(|s| s.to_string()).collect(), threshold: nz(1), extra: Default::default() }
}

impl Repo {
    fn new(client_snapshot: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::new(OffsetDateTime::now_utc()));
        let server = Arc::new(TrustServer::open(&dir.path().join("trust"), clock.clone()).unwrap());
        Self::on(server, Arc::new(dir), clock, GUN, client_snapshot)
    }

    /// Another GUN on the same server as `self`.
    fn sibling(&self, gun: &str) -> Self {
        Self::on(self.server.clone(), self._dir.clone(), self.clock.clone(), gun, false)
    }

    fn on(
        server: Arc<TrustServer>,
        dir: Arc<tempfile::TempDir>,
        clock: Arc<FixedClock>,
        gun: &str,
        client_snapshot: bool,
    ) -> Self {
        let cn = gun;
        let gun = Gun::new(gun).unwrap();
        let timestamp_key = server.public_key(&gun, &RoleName::Timestamp).unwrap();
        let server_snapshot_key = server.public_key(&gun, &RoleName::Snapshot).unwrap();
        Repo {
            server,
            _dir: dir,
            gun,
            clock,
            root: root_key(cn),
            targets: PrivateKey::generate_ecdsa(),
            snapshot: client_snapshot.then(PrivateKey::generate_ecdsa),
            timestamp_key,
            server_snapshot_key,
        }
    }

    fn now(&self) -> OffsetDateTime {
        use palisade_pki::Clock as _;
        self.clock.now()
    }

    fn root_meta(&self, version: u64, root_keys: &[&Key], targets: &Key) -> Root {
        let snapshot = match &self.snapshot {
            Some(k) => k.public().unwrap(),
            None => self.server_snapshot_key.clone(),
        };
        let mut keys = BTreeMap::new();
        for k in root_keys.iter().copied().chain([targets, &snapshot, &self.timestamp_key]) {
            keys.insert(k.id().to_owned(), k.clone());
        }
        let roles = BTreeMap::from([
            ("root".to_owned(), role_keys(&root_keys.iter().map(|k| k.id()).collect::<Vec<_>>())),
            ("targets".to_owned(), role_keys(&[targets.id()])),
            ("snapshot".to_owned(), role_keys(&[snapshot.id()])),
            ("timestamp".to_owned(), role_keys(&[self.timestamp_key.id()])),
        ]);
        Root {
            type_: "Root".into(),
            consistent_snapshot: false,
            expires: self.now() + ROOT_EXPIRY,
            keys,
            roles,
            version: nz(version),
            extra: Default::default(),
        }
    }

    fn targets_meta(&self, version: u64, names: &[&str]) -> Targets {
        Targets {
            type_: "Targets".into(),
            delegations: Delegations::default(),
            expires: self.now() + TARGETS_EXPIRY,
            targets: names.iter().map(|n| (n.to_string(), FileMeta::of(n.as_bytes()))).collect(),
            version: nz(version),
            extra: Default::default(),
        }
    }

    fn snapshot_meta(&self, version: u64, roles: &[(&str, &[u8])]) -> Vec<u8> {
        let snap = Snapshot {
            type_: "Snapshot".into(),
            expires: self.now() + SNAPSHOT_EXPIRY,
            meta: roles.iter().map(|(r, b)| (r.to_string(), FileMeta::of(b))).collect(),
            version: nz(version),
            extra: Default::default(),
        };
        Signed::sign(snap, &[self.snapshot.as_ref().unwrap()]).unwrap().bytes().to_vec()
    }

    fn post(&self, parts: &[(&str, &[u8])]) -> Result<(), ServerError> {
        self.server.update(&self.gun, parts.iter().map(|(r, b)| (Some(r.to_string()), b.to_vec())).collect())
    }

    /// init + publish: root v1, targets v1 (+ client snapshot v1).
    fn publish_initial(&self) -> (Vec<u8>, Vec<u8>) {
        let root = self.root_meta(1, &[&self.root.cert_key], &self.targets.public().unwrap());
        let root = sign_root(root, &[&self.root]).bytes().to_vec();
        let targets = Signed::sign(self.targets_meta(1, &["v1"]), &[&self.targets]).unwrap().bytes().to_vec();
        if self.snapshot.is_some() {
            let snap = self.snapshot_meta(1, &[("root", &root), ("targets", &targets)]);
            self.post(&[("root", &root), ("targets", &targets), ("snapshot", &snap)]).unwrap();
        } else {
            self.post(&[("root", &root), ("targets", &targets)]).unwrap();
        }
        (root, targets)
    }

    fn state(&self) -> BTreeMap<String, u64> {
        self.server.stored_versions(&self.gun).unwrap()
    }
}

fn assert_invalid(result: Result<(), ServerError>, kind: InvalidKind) -> String {
    match result {
        Err(e @ ServerError::Invalid { .. }) => {
            let (status, code, _, detail) = e.wire();
            assert_eq!((status, code), (400, "INVALID_UPDATE"));
            assert_eq!(detail.unwrap()["Name"], kind.name(), "{e}");
            e.to_string()
        }
        other => panic!("expected INVALID_UPDATE {kind:?}, got {other:?}"),
    }
}

#[test]
fn publish_then_server_generates_snapshot_and_timestamp() {
    let repo = Repo::new(false);
    repo.publish_initial();
    let state = repo.state();
    assert_eq!(state.get("root"), Some(&1));
    assert_eq!(state.get("snapshot"), Some(&1));
    assert_eq!(state.get("timestamp"), Some(&1));
    let ts = repo
        .server
        .metadata(&repo.gun, &palisade_trust::server::MetaRequest::parse("timestamp.json").unwrap())
        .unwrap();
    let ts: Signed<palisade_trust::schema::Timestamp> = Signed::from_bytes("timestamp", &ts).unwrap();
    assert_eq!(ts.signatures()[0].method, "eddsa");
    // the snapshot named by the timestamp is addressable by its checksum
    let sum = hex_sha256(&ts.signed().meta["snapshot"]);
    repo.server
        .metadata(&repo.gun, &palisade_trust::server::MetaRequest::parse(&format!("snapshot.{sum}.json")).unwrap())
        .unwrap();
}

fn hex_sha256(fm: &FileMeta) -> String {
    fm.hashes["sha256"].iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn forged_targets_signature_is_refused() {
    let repo = Repo::new(false);
    repo.publish_initial();
    let before = repo.state();
    let targets = Signed::sign(repo.targets_meta(2, &["v1", "v2"]), &[&repo.targets]).unwrap();
    let forged = String::from_utf8(targets.bytes().to_vec()).unwrap().replace("\"v2\"", "\"evil\"");
    let msg = assert_invalid(repo.post(&[("targets", forged.as_bytes())]), InvalidKind::BadTargets);
    assert!(msg.contains("valid signatures did not meet threshold for targets"), "{msg}");
    // a signature made by an unrelated key is just as useless
    let stranger = PrivateKey::generate_ecdsa();
    let other = Signed::sign(repo.targets_meta(2, &["v2"]), &[&stranger]).unwrap();
    assert_invalid(repo.post(&[("targets", other.bytes())]), InvalidKind::BadTargets);
    assert_eq!(repo.state(), before);
}

#[test]
fn replayed_older_targets_and_snapshot_are_refused() {
    let repo = Repo::new(true);
    let (root, _) = repo.publish_initial();
    let t2 = Signed::sign(repo.targets_meta(2, &["v1", "v2"]), &[&repo.targets]).unwrap().bytes().to_vec();
    let s2 = repo.snapshot_meta(2, &[("root", &root), ("targets", &t2)]);
    repo.post(&[("targets", &t2), ("snapshot", &s2)]).unwrap();
    let t3 = Signed::sign(repo.targets_meta(3, &["v1"]), &[&repo.targets]).unwrap().bytes().to_vec();
    let s3 = repo.snapshot_meta(3, &[("root", &root), ("targets", &t3)]);
    repo.post(&[("targets", &t3), ("snapshot", &s3)]).unwrap();
    let before = repo.state();
    let err = repo.post(&[("targets", &t2), ("snapshot", &s2)]).unwrap_err();
    assert!(matches!(err, ServerError::Version), "{err:?}");
    assert_eq!(err.wire().1, "VERSION");
    // the identical current version is refused too
    assert!(matches!(repo.post(&[("targets", &t3), ("snapshot", &s3)]), Err(ServerError::Version)));
    // an older snapshot alone no longer matches the current targets
    assert_invalid(repo.post(&[("snapshot", &s2)]), InvalidKind::BadSnapshot);
    assert_eq!(repo.state(), before);
    let current =
        repo.server.metadata(&repo.gun, &palisade_trust::server::MetaRequest::parse("targets.json").unwrap()).unwrap();
    assert_eq!(current, t3);
}

#[test]
fn expired_metadata_is_refused() {
    let repo = Repo::new(false);
    repo.publish_initial();
    let before = repo.state();
    let mut meta = repo.targets_meta(2, &["v2"]);
    meta.expires = repo.now() - time::Duration::seconds(1);
    let t = Signed::sign(meta, &[&repo.targets]).unwrap();
    let msg = assert_invalid(repo.post(&[("targets", t.bytes())]), InvalidKind::BadTargets);
    assert!(msg.contains("expired"), "{msg}");
    // metadata valid now is refused once the clock passes its expiry
    let t = Signed::sign(repo.targets_meta(2, &["v2"]), &[&repo.targets]).unwrap();
    repo.clock.set(repo.now() + TARGETS_EXPIRY + time::Duration::days(1));
    assert_invalid(repo.post(&[("targets", t.bytes())]), InvalidKind::BadTargets);
    assert_eq!(repo.state(), before);
}

#[test]
fn targets_signed_by_removed_key_is_refused() {
    let repo = Repo::new(false);
    repo.publish_initial();
    let new_targets = PrivateKey::generate_ecdsa();
    let root2 = repo.root_meta(2, &[&repo.root.cert_key], &new_targets.public().unwrap());
    let root2 = sign_root(root2, &[&repo.root]);
    let t2 = Signed::sign(repo.targets_meta(2, &["v1"]), &[&new_targets]).unwrap();
    repo.post(&[("root", root2.bytes()), ("targets", t2.bytes())]).unwrap();
    let before = repo.state();
    let old_signer = Signed::sign(repo.targets_meta(3, &["evil"]), &[&repo.targets]).unwrap();
    assert_invalid(repo.post(&[("targets", old_signer.bytes())]), InvalidKind::BadTargets);
    assert_eq!(repo.state(), before);
}

#[test]
fn root_rotation_requires_old_and_new_root_signatures() {
    let repo = Repo::new(false);
    repo.publish_initial();
    let before = repo.state();
    let new_root = root_key(GUN);
    let targets = repo.targets.public().unwrap();
    let meta = || repo.root_meta(2, &[&new_root.cert_key], &targets);

    let only_new = sign_root(meta(), &[&new_root]);
    let msg = assert_invalid(repo.post(&[("root", only_new.bytes())]), InvalidKind::BadRoot);
    assert!(msg.contains("could not rotate trust to a new trusted root"), "{msg}");

    let only_old = sign_root(meta(), &[&repo.root]);
    let msg = assert_invalid(repo.post(&[("root", only_old.bytes())]), InvalidKind::BadRoot);
    assert!(msg.contains("failed to validate integrity of roots"), "{msg}");

    let skip = sign_root(repo.root_meta(3, &[&new_root.cert_key], &targets), &[&repo.root, &new_root]);
    let msg = assert_invalid(repo.post(&[("root", skip.bytes())]), InvalidKind::BadRoot);
    assert!(msg.contains("Current 1, new 3"), "{msg}");

    let wrong_cn = root_key("other.example/app");
    let m = repo.root_meta(2, &[&wrong_cn.cert_key], &targets);
    let bad_cn = sign_root(m, &[&repo.root, &wrong_cn]);
    let msg = assert_invalid(repo.post(&[("root", bad_cn.bytes())]), InvalidKind::BadRoot);
    assert!(msg.contains("unable to retrieve valid leaf certificates"), "{msg}");
    assert_eq!(repo.state(), before);

    let both = sign_root(meta(), &[&repo.root, &new_root]);
    repo.post(&[("root", both.bytes())]).unwrap();
    assert_eq!(repo.state()["root"], 2);
}

#[test]
fn update_without_root_or_snapshot_key_is_refused() {
    let repo = Repo::new(false);
    let t = Signed::sign(repo.targets_meta(1, &["v1"]), &[&repo.targets]).unwrap();
    let msg = assert_invalid(repo.post(&[("targets", t.bytes())]), InvalidKind::Validation);
    assert!(msg.contains("no pre-existing root"), "{msg}");
    // client-held snapshot key but no snapshot uploaded
    let repo = Repo::new(true);
    repo.publish_initial();
    let t = Signed::sign(repo.targets_meta(2, &["v1"]), &[&repo.targets]).unwrap();
    let err = repo.post(&[("targets", t.bytes())]).unwrap_err();
    assert!(matches!(err, ServerError::BadHierarchy { .. }), "{err:?}");
    assert!(repo.server.update(&repo.gun, vec![(None, b"{}".to_vec())]).is_err_and(|e| e.wire().1 == "NO_FILENAME"));
    assert!(repo.post(&[("foo", b"{}")]).is_err_and(|e| e.wire().1 == "INVALID_ROLE"));
    assert!(repo.post(&[("targets", b"{\"signed\":1}")]).is_err_and(|e| e.wire().1 == "MALFORMED_JSON"));
}

#[test]
fn expired_timestamp_is_resigned_on_read() {
    let repo = Repo::new(false);
    repo.publish_initial();
    let req = palisade_trust::server::MetaRequest::parse("timestamp.json").unwrap();
    let ts1 = repo.server.metadata(&repo.gun, &req).unwrap();
    repo.clock.set(repo.now() + time::Duration::days(15));
    let ts2 = repo.server.metadata(&repo.gun, &req).unwrap();
    assert_ne!(ts1, ts2);
    let ts2: Signed<palisade_trust::schema::Timestamp> = Signed::from_bytes("timestamp", &ts2).unwrap();
    assert_eq!(ts2.signed().version.get(), 2);
    assert!(ts2.signed().expires > repo.now());
}

#[test]
fn expired_root_is_refused() {
    let repo = Repo::new(false);
    let mut root = repo.root_meta(1, &[&repo.root.cert_key], &repo.targets.public().unwrap());
    root.expires = repo.now() - time::Duration::seconds(1);
    let root = sign_root(root, &[&repo.root]);
    let t = Signed::sign(repo.targets_meta(1, &["v1"]), &[&repo.targets]).unwrap();
    let msg = assert_invalid(repo.post(&[("root", root.bytes()), ("targets", t.bytes())]), InvalidKind::BadRoot);
    assert!(msg.contains("expired"), "{msg}");
    assert!(repo.state().is_empty());
}

#[test]
fn one_key_signing_twice_does_not_meet_threshold_two() {
    let repo = Repo::new(false);
    let mut root = repo.root_meta(1, &[&repo.root.cert_key], &repo.targets.public().unwrap());
    root.roles.get_mut("targets").unwrap().threshold = nz(2);
    let root = sign_root(root, &[&repo.root]);
    let t = Signed::sign(repo.targets_meta(1, &["v1"]), &[&repo.targets, &repo.targets]).unwrap();
    assert_eq!(t.signatures().len(), 2);
    let msg = assert_invalid(repo.post(&[("root", root.bytes()), ("targets", t.bytes())]), InvalidKind::BadTargets);
    assert!(msg.contains("did not meet threshold"), "{msg}");
    assert!(repo.state().is_empty());
}

#[test]
fn delegation_must_exist_in_parent() {
    let repo = Repo::new(false);
    repo.publish_initial();
    let before = repo.state();
    let bob = PrivateKey::generate_ecdsa();
    let d = Signed::sign(repo.targets_meta(1, &["x"]), &[&bob]).unwrap();
    let msg = assert_invalid(repo.post(&[("targets/bob", d.bytes())]), InvalidKind::BadTargets);
    assert!(msg.contains("tuf: invalid role targets/bob. delegation does not exist"), "{msg}");
    assert_eq!(repo.state(), before);
}

/// Issue #21 item 8: a root certificate must name the GUN exactly, as notary-server's
/// `validRootLeafCerts` demands; wildcard and prefix common names are refused and nothing is stored.
#[test]
fn root_certificate_must_name_the_gun_exactly() {
    for cn in ["*", "example.com/*", "example.com/ap*", "example.com/app/x", "Example.com/app"] {
        let mut repo = Repo::new(false);
        repo.root = root_key(cn);
        let root = repo.root_meta(1, &[&repo.root.cert_key], &repo.targets.public().unwrap());
        let root = sign_root(root, &[&repo.root]).bytes().to_vec();
        let targets = Signed::sign(repo.targets_meta(1, &["v1"]), &[&repo.targets]).unwrap().bytes().to_vec();
        let msg = assert_invalid(repo.post(&[("root", &root), ("targets", &targets)]), InvalidKind::BadRoot);
        assert!(msg.contains("valid leaf certificates"), "CN={cn}: {msg}");
        assert!(repo.state().is_empty(), "CN={cn}: stored {:?}", repo.state());
    }
}

/// Issue #21 item 1: a publisher uploads targets with a version near `i64::MAX`, then deletes the
/// GUN. The delete must not cost anything that depends on the version (it counted versions one
/// by one under the one global lock, freezing every update of every GUN); meanwhile another
/// GUN is published and read.
#[test]
fn delete_after_a_huge_version_finishes_and_blocks_no_other_gun() {
    use std::sync::mpsc;
    use std::time::Duration;
    let attacker = Repo::new(false);
    let huge = i64::MAX as u64 - 1;
    let root = attacker.root_meta(1, &[&attacker.root.cert_key], &attacker.targets.public().unwrap());
    let root = sign_root(root, &[&attacker.root]).bytes().to_vec();
    let targets = Signed::sign(attacker.targets_meta(huge, &["v1"]), &[&attacker.targets]).unwrap().bytes().to_vec();
    attacker.post(&[("root", &root), ("targets", &targets)]).unwrap();
    assert_eq!(attacker.state()["targets"], huge);

    let victim = attacker.sibling("example.com/victim");
    let (done, finished) = mpsc::channel();
    let server = attacker.server.clone();
    let gun = attacker.gun.clone();
    let deleter = done.clone();
    std::thread::spawn(move || deleter.send(("delete", server.delete(&gun).is_ok())).unwrap());
    std::thread::spawn(move || {
        victim.publish_initial();
        let req = palisade_trust::server::MetaRequest::parse("targets.json").unwrap();
        done.send(("other GUN", victim.server.metadata(&victim.gun, &req).is_ok())).unwrap();
    });
    for _ in 0..2 {
        let (what, ok) = finished.recv_timeout(Duration::from_secs(20)).expect("an operation hung");
        assert!(ok, "{what} failed");
    }
    assert!(attacker.state().is_empty());
}

/// Versions a client chooses are bounded: at most `i64::MAX` (notary's Go `int`; more is
/// malformed) and, for a role already stored, at most a bounded step above it (root: one).
#[test]
fn version_jumps_are_bounded() {
    let repo = Repo::new(false);
    repo.publish_initial();
    let before = repo.state();
    let t = Signed::sign(repo.targets_meta(u64::MAX, &["v2"]), &[&repo.targets]).unwrap();
    assert!(repo.post(&[("targets", t.bytes())]).is_err_and(|e| e.wire().1 == "MALFORMED_JSON"));
    let t = Signed::sign(repo.targets_meta(1 + 1_000_000, &["v2"]), &[&repo.targets]).unwrap();
    let msg = assert_invalid(repo.post(&[("targets", t.bytes())]), InvalidKind::BadTargets);
    assert!(msg.contains("version"), "{msg}");
    assert_eq!(repo.state(), before);
    let t = Signed::sign(repo.targets_meta(1 + 1000, &["v2"]), &[&repo.targets]).unwrap();
    repo.post(&[("targets", t.bytes())]).unwrap();
    assert_eq!(repo.state()["targets"], 1001);
}
