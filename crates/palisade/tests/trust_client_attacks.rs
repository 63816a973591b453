//! Client-side TUF attacks: `palisade trust inspect` against a small tampering Notary server
//! (an axum server in the test serving metadata the test signs with keys it holds). Each attack
//! is refused with a clear error and leaves the client's trusted cache unchanged. The same
//! server, put behind Docker token auth, checks the client's 401 → token → retry path.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use palisade_trust::schema::{
    Delegations, FileMeta, RoleKeys, Root, Signed, Snapshot, Targets, Timestamp, TIMESTAMP_EXPIRY,
};
use palisade_trust::{self_signed_root_certificate, Gun, Key, PrivateKey, TufSigner};
use sha2::{Digest as _, Sha256};
use time::{Duration, OffsetDateTime};

use common::{make_server_cert, stderr, stdout, TrustEnv};

const GUN: &str = "127.0.0.1:5000/attack";

type Files = Arc<Mutex<HashMap<String, Vec<u8>>>>;

/// The token the fake token service issues, and the Basic credentials it wants.
const TOKEN: &str = "test-token-for-attack-repo";
const BASIC: &str = "Basic YWxpY2U6cHc="; // alice:pw

#[derive(Clone)]
struct AppState {
    files: Files,
    /// When set, metadata needs `Bearer TOKEN`; the challenge names this token realm.
    realm: Option<String>,
    /// Token requests seen (query strings).
    token_requests: Arc<Mutex<Vec<String>>>,
    /// Bytes of endless bodies produced (see [`ENDLESS_ERROR`]).
    sent: Arc<std::sync::atomic::AtomicU64>,
}

/// A file name whose presence makes every metadata GET answer 500 with an endless body.
const ENDLESS_ERROR: &str = "!endless-error";

/// 512 MiB of spaces, produced 64 KiB at a time and counted in `sent`.
fn endless(sent: Arc<std::sync::atomic::AtomicU64>) -> axum::body::Body {
    let chunk = axum::body::Bytes::from(vec![b' '; 64 << 10]);
    let stream = futures::stream::unfold(0u64, move |n| {
        let (sent, chunk) = (sent.clone(), chunk.clone());
        async move {
            if n >= 512 << 20 {
                return None;
            }
            sent.fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
            Some((Ok::<_, std::io::Error>(chunk.clone()), n + chunk.len() as u64))
        }
    });
    axum::body::Body::from_stream(stream)
}

async fn get_file(
    State(st): State<AppState>,
    UrlPath(path): UrlPath<String>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    if let Some(realm) = &st.realm {
        let ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"));
        if !ok {
            let challenge = format!("Bearer realm=\"{realm}\",service=\"notary-test\"");
            return (StatusCode::UNAUTHORIZED, [("www-authenticate", challenge)], "{}").into_response();
        }
    }
    let tail = path.strip_prefix(&format!("{GUN}/_trust/tuf/")).unwrap_or_default();
    if st.files.lock().unwrap().contains_key(ENDLESS_ERROR) {
        return (StatusCode::INTERNAL_SERVER_ERROR, endless(st.sent.clone())).into_response();
    }
    match st.files.lock().unwrap().get(tail) {
        Some(b) => (StatusCode::OK, b.clone()).into_response(),
        None => (StatusCode::NOT_FOUND, br#"{"errors":[{"code":"METADATA_NOT_FOUND"}]}"#.to_vec()).into_response(),
    }
}

async fn token(
    State(st): State<AppState>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: axum::http::HeaderMap,
) -> (StatusCode, String) {
    st.token_requests.lock().unwrap().push(query.unwrap_or_default());
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(BASIC) {
        return (StatusCode::UNAUTHORIZED, "{}".into());
    }
    (StatusCode::OK, serde_json::json!({"token": TOKEN}).to_string())
}

/// A static Notary server over TLS whose files the test replaces at will.
struct Tamper {
    dir: tempfile::TempDir,
    port: u16,
    files: Files,
    token_requests: Arc<Mutex<Vec<String>>>,
    sent: Arc<std::sync::atomic::AtomicU64>,
    env: TrustEnv,
}

impl Tamper {
    fn start() -> Self {
        Self::start_with(false)
    }

    /// With `auth`, metadata needs a token from `/token` (Basic alice:pw).
    fn start_with(auth: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        make_server_cert(dir.path());
        let files: Files = Arc::default();
        let tls = palisade_trust::server::tls_config(&dir.path().join("server.crt"), &dir.path().join("server.key")).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let token_requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let sent: Arc<std::sync::atomic::AtomicU64> = Arc::default();
        let state = AppState {
            files: files.clone(),
            realm: auth.then(|| format!("https://127.0.0.1:{port}/token")),
            token_requests: token_requests.clone(),
            sent: sent.clone(),
        };
        let app = axum::Router::new()
            .route("/v2/{*path}", axum::routing::get(get_file))
            .route("/token", axum::routing::get(token))
            .with_state(state);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let _ = palisade_trust::server::serve(listener, app, Some(tls)).await;
            });
        });
        let url = format!("https://127.0.0.1:{port}");
        let env = TrustEnv::new(dir.path().join("docker"), &url, &dir.path().join("ca.crt"));
        Tamper { dir, port, files, token_requests, sent, env }
    }

    /// Serves `meta` as the current repository (by name, checksum and version).
    fn serve(&self, meta: &Published) {
        let mut files = self.files.lock().unwrap();
        files.clear();
        for (role, bytes) in [("root", &meta.root), ("targets", &meta.targets), ("snapshot", &meta.snapshot), ("timestamp", &meta.timestamp)] {
            files.insert(format!("{role}.json"), bytes.clone());
            files.insert(format!("{role}.{}.json", hex::encode(Sha256::digest(bytes))), bytes.clone());
        }
        for (role, bytes) in &meta.delegations {
            files.insert(format!("{role}.{}.json", hex::encode(Sha256::digest(bytes))), bytes.clone());
        }
        for (v, bytes) in &meta.old_roots {
            files.insert(format!("{v}.root.json"), bytes.clone());
        }
    }

    /// `palisade trust inspect GUN`: (success, stdout + stderr).
    fn inspect(&self) -> (bool, String) {
        let out = self.env.palisade_env(&["inspect", GUN], &[]);
        (out.status.success(), format!("{}{}", stdout(&out), stderr(&out)))
    }

    fn cached(&self, role: &str) -> Option<Vec<u8>> {
        std::fs::read(self.env.trust_dir().join("tuf").join(GUN).join("metadata").join(format!("{role}.json"))).ok()
    }

    fn inspect_ok(&self) -> serde_json::Value {
        let (ok, out) = self.inspect();
        assert!(ok, "{out}");
        serde_json::from_str(out.trim()).unwrap()
    }

    /// Inspect must fail with `needle` in the message and change no cached file.
    fn refused(&self, needle: &str) {
        let before: Vec<_> = ["root", "timestamp", "snapshot", "targets"].iter().map(|r| self.cached(r)).collect();
        let (ok, out) = self.inspect();
        assert!(!ok, "attack accepted: {out}");
        assert!(out.contains(needle), "expected {needle:?} in: {out}");
        let after: Vec<_> = ["root", "timestamp", "snapshot", "targets"].iter().map(|r| self.cached(r)).collect();
        assert_eq!(before, after, "a refused update changed the cache");
        let _ = (&self.dir, self.port);
    }
}

/// One repository's signing keys, all held by the test.
struct Keys {
    /// root.json v1, signed once (signatures and expiry make every signing distinct).
    root_v1: Vec<u8>,
    root: Arc<PrivateKey>,
    root_cert: Key,
    targets: PrivateKey,
    snapshot: PrivateKey,
    timestamp: PrivateKey,
}

/// Serialised metadata of one state of the repository.
#[derive(Clone)]
struct Published {
    root: Vec<u8>,
    targets: Vec<u8>,
    snapshot: Vec<u8>,
    timestamp: Vec<u8>,
    old_roots: Vec<(u64, Vec<u8>)>,
    /// Delegated roles (`targets/x`) and their bytes.
    delegations: Vec<(String, Vec<u8>)>,
}

/// Notary's self-signed root certificate for GUN, made with `key`.
fn root_cert(key: &Arc<PrivateKey>) -> Key {
    let signer: Arc<dyn TufSigner> = key.clone();
    self_signed_root_certificate(signer, &Gun::new(GUN).unwrap(), &palisade_pki::SystemClock).unwrap()
}

fn v(n: u64) -> NonZeroU64 {
    NonZeroU64::new(n).unwrap()
}

fn sign<T: palisade_trust::schema::Role>(meta: T, keys: &[(&Key, &PrivateKey)]) -> Vec<u8> {
    let pairs: Vec<(&Key, &dyn TufSigner)> = keys.iter().map(|(k, p)| (*k, *p as &dyn TufSigner)).collect();
    Signed::sign_as(meta, &pairs).unwrap().bytes().to_vec()
}

fn root_meta(version: u64, root_cert: &Key, others: &Keys) -> Root {
    let now = OffsetDateTime::now_utc();
    let mut keys = BTreeMap::new();
    let mut roles = BTreeMap::new();
    for (role, key) in [
        ("root", root_cert.clone()),
        ("targets", others.targets.public().unwrap()),
        ("snapshot", others.snapshot.public().unwrap()),
        ("timestamp", others.timestamp.public().unwrap()),
    ] {
        keys.insert(key.id().to_owned(), key.clone());
        roles.insert(role.to_owned(), RoleKeys { keyids: vec![key.id().to_owned()], threshold: v(1), extra: Default::default() });
    }
    Root { type_: "Root".into(), consistent_snapshot: false, expires: now + Duration::days(365), keys, roles, version: v(version), extra: Default::default() }
}

impl Keys {
    fn new() -> Self {
        let root = Arc::new(PrivateKey::generate_ecdsa());
        let root_cert = root_cert(&root);
        let mut keys = Keys {
            root_v1: Vec::new(),
            root,
            root_cert,
            targets: PrivateKey::generate_ecdsa(),
            snapshot: PrivateKey::generate_ed25519(),
            timestamp: PrivateKey::generate_ed25519(),
        };
        keys.root_v1 = sign(root_meta(1, &keys.root_cert, &keys), &[(&keys.root_cert, &*keys.root)]);
        keys
    }

    fn targets(&self, version: u64, tag: &str, signer: &PrivateKey) -> Vec<u8> {
        let mut targets = BTreeMap::new();
        targets.insert(tag.to_owned(), FileMeta::of(tag.as_bytes()));
        let t = Targets {
            type_: "Targets".into(),
            delegations: Delegations::default(),
            expires: OffsetDateTime::now_utc() + Duration::days(365),
            targets,
            version: v(version),
            extra: Default::default(),
        };
        // A signature by any other key is presented under the targets key's ID (a forgery).
        let real = self.targets.public().unwrap();
        let used = signer.public().unwrap();
        let bytes = sign(t, &[(&used, signer)]);
        String::from_utf8(bytes).unwrap().replace(used.id(), real.id()).into_bytes()
    }

    fn snapshot(&self, version: u64, root: &[u8], targets: &[u8]) -> Vec<u8> {
        let meta = BTreeMap::from([("root".to_owned(), FileMeta::of(root)), ("targets".to_owned(), FileMeta::of(targets))]);
        let s = Snapshot {
            type_: "Snapshot".into(),
            expires: OffsetDateTime::now_utc() + Duration::days(365),
            meta,
            version: v(version),
            extra: Default::default(),
        };
        sign(s, &[(&self.snapshot.public().unwrap(), &self.snapshot)])
    }

    fn timestamp(&self, version: u64, snapshot: &[u8], expires: OffsetDateTime) -> Vec<u8> {
        let t = Timestamp {
            type_: "Timestamp".into(),
            expires,
            meta: BTreeMap::from([("snapshot".to_owned(), FileMeta::of(snapshot))]),
            version: v(version),
            extra: Default::default(),
        };
        sign(t, &[(&self.timestamp.public().unwrap(), &self.timestamp)])
    }

    /// A consistent state: root v1, targets `version` holding `tag`, snapshot and timestamp
    /// versions derived from it.
    fn state(&self, version: u64, tag: &str) -> Published {
        let root = self.root_v1.clone();
        let targets = self.targets(version, tag, &self.targets);
        let snapshot = self.snapshot(version, &root, &targets);
        let timestamp = self.timestamp(version, &snapshot, OffsetDateTime::now_utc() + TIMESTAMP_EXPIRY);
        Published { root, targets, snapshot, timestamp, old_roots: Vec::new(), delegations: Vec::new() }
    }
}

fn tags(json: &serde_json::Value) -> Vec<String> {
    json[0]["SignedTags"].as_array().unwrap().iter().map(|t| t["SignedTag"].as_str().unwrap().to_owned()).collect()
}

#[test]
fn replayed_older_timestamp_is_refused() {
    let (server, keys) = (Tamper::start(), Keys::new());
    let old = keys.state(1, "v1");
    server.serve(&old);
    assert_eq!(tags(&server.inspect_ok()), ["v1"]);
    server.serve(&keys.state(2, "v2"));
    assert_eq!(tags(&server.inspect_ok()), ["v2"]);
    // a network attacker replays the (validly signed, unexpired) state of before
    server.serve(&old);
    server.refused("timestamp version 1 is lower than the trusted version 2");
}

#[test]
fn replayed_older_snapshot_is_refused() {
    let (server, keys) = (Tamper::start(), Keys::new());
    let old = keys.state(1, "v1");
    server.serve(&keys.state(2, "v2"));
    assert_eq!(tags(&server.inspect_ok()), ["v2"]);
    // a fresh timestamp, but it points at the old snapshot (a compromised timestamp key)
    let mut replay = old.clone();
    replay.timestamp = keys.timestamp(3, &old.snapshot, OffsetDateTime::now_utc() + TIMESTAMP_EXPIRY);
    server.serve(&replay);
    server.refused("snapshot version 1 is lower than the trusted version 2");
}

#[test]
fn expired_timestamp_is_refused() {
    let (server, keys) = (Tamper::start(), Keys::new());
    let mut state = keys.state(1, "v1");
    server.serve(&state);
    server.inspect_ok();
    // the freshest metadata the attacker can show has expired (freeze attack)
    state.timestamp = keys.timestamp(2, &state.snapshot, OffsetDateTime::now_utc() - Duration::hours(1));
    server.serve(&state);
    server.refused("timestamp expired at");
}

#[test]
fn forged_targets_signature_is_refused() {
    let (server, keys) = (Tamper::start(), Keys::new());
    server.serve(&keys.state(1, "v1"));
    server.inspect_ok();
    // targets signed by a key the root does not list, with snapshot and timestamp consistent
    let attacker = PrivateKey::generate_ecdsa();
    let root = keys.root_v1.clone();
    let targets = keys.targets(2, "evil", &attacker);
    let forged = Published {
        snapshot: keys.snapshot(2, &root, &targets),
        timestamp: Vec::new(),
        root,
        targets,
        old_roots: Vec::new(),
        delegations: Vec::new(),
    };
    let forged = Published {
        timestamp: keys.timestamp(2, &forged.snapshot, OffsetDateTime::now_utc() + TIMESTAMP_EXPIRY),
        ..forged
    };
    server.serve(&forged);
    server.refused("valid signatures did not meet threshold for targets");
}

#[test]
fn root_rotation_must_be_signed_by_the_old_root() {
    let (server, keys) = (Tamper::start(), Keys::new());
    server.serve(&keys.state(1, "v1"));
    server.inspect_ok();
    let new_root = Arc::new(PrivateKey::generate_ecdsa());
    let new_cert = root_cert(&new_root);
    let rotated = |signers: &[(&Key, &PrivateKey)]| {
        let root = sign(root_meta(2, &new_cert, &keys), signers);
        let targets = keys.targets(2, "v2", &keys.targets);
        let snapshot = keys.snapshot(2, &root, &targets);
        let timestamp = keys.timestamp(2, &snapshot, OffsetDateTime::now_utc() + TIMESTAMP_EXPIRY);
        Published { root, targets, snapshot, timestamp, old_roots: vec![(1, keys.root_v1.clone())], delegations: Vec::new() }
    };
    // signed by the new root key only: refused, the client keeps the pinned root
    server.serve(&rotated(&[(&new_cert, &*new_root)]));
    server.refused("root rotation to version 2 rejected: not signed by the previous root keys");
    // signed by the old and the new root keys: followed
    server.serve(&rotated(&[(&keys.root_cert, &*keys.root), (&new_cert, &*new_root)]));
    assert_eq!(tags(&server.inspect_ok()), ["v2"]);
    let pinned: serde_json::Value = serde_json::from_slice(&server.cached("root").unwrap()).unwrap();
    assert_eq!(pinned["signed"]["version"], 2);
}

/// A trust server behind Docker token auth: the client answers the 401 Bearer challenge with
/// a token fetched using Basic credentials (`--creds`), scoped to the repository, pull only.
#[test]
fn token_auth_with_basic_credentials() {
    let (server, keys) = (Tamper::start_with(true), Keys::new());
    server.serve(&keys.state(1, "v1"));
    let (ok, out) = server.inspect();
    assert!(!ok, "no credentials must fail: {out}");
    assert!(out.contains("token endpoint"), "{out}");
    let out = server.env.palisade_env(&["inspect", GUN, "--creds", "alice:pw"], &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let json: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(tags(&json), ["v1"]);
    let seen = server.token_requests.lock().unwrap().clone();
    let scope = format!("scope=repository%3A{}%3Apull", GUN.replace(':', "%3A").replace('/', "%2F"));
    assert!(seen.iter().any(|q| q.contains(&scope) && q.contains("service=notary-test")), "{seen:?}");
}

/// Targets bytes that differ from what the snapshot lists (same length, one tag renamed) are
/// refused before anything else is looked at: the snapshot pins the exact bytes.
#[test]
fn targets_not_matching_the_snapshot_are_refused() {
    let (server, keys) = (Tamper::start(), Keys::new());
    let state = keys.state(1, "v1");
    server.serve(&state);
    server.inspect_ok();
    let mut newer = keys.state(2, "v2");
    server.serve(&newer);
    let swapped = String::from_utf8(newer.targets.clone()).unwrap().replace("\"v2\"", "\"zz\"").into_bytes();
    assert_eq!(swapped.len(), newer.targets.len());
    let listed = format!("targets.{}.json", hex::encode(Sha256::digest(&newer.targets)));
    server.files.lock().unwrap().insert(listed, swapped.clone());
    newer.targets = swapped;
    server.refused("targets does not match the hashes and length listed in snapshot");
}

/// On first use the root must be a certificate for this repository: a root whose certificate
/// names another GUN is not trusted, and nothing is pinned.
#[test]
fn first_root_for_another_repository_is_refused() {
    let (server, keys) = (Tamper::start(), Keys::new());
    let mut state = keys.state(1, "v1");
    let signer: Arc<dyn TufSigner> = keys.root.clone();
    let other = self_signed_root_certificate(signer, &Gun::new("127.0.0.1:5000/other").unwrap(), &palisade_pki::SystemClock).unwrap();
    state.root = sign(root_meta(1, &other, &keys), &[(&other, &*keys.root)]);
    server.serve(&state);
    server.refused("not signed by its own root certificates for 127.0.0.1:5000/attack");
    assert!(server.cached("root").is_none(), "a refused first root was pinned");
}

/// A delegation counts only for the paths its parent gave it: `targets/alice` limited to
/// `prod/` cannot vouch for tag `v1`, however validly it signed it.
#[test]
fn delegation_outside_its_paths_is_ignored() {
    use palisade_trust::schema::DelegatedRole;
    let signers_of_v1 = |alice_paths: &[&str]| {
        let (server, keys) = (Tamper::start(), Keys::new());
        let alice = PrivateKey::generate_ecdsa();
        let alice_pub = alice.public().unwrap();
        let now = OffsetDateTime::now_utc();
        let role = |name: &str, paths: Vec<String>| DelegatedRole {
            name: name.into(),
            keyids: vec![alice_pub.id().to_owned()],
            threshold: v(1),
            paths,
            extra: Default::default(),
        };
        let delegated = |tag: &str| {
            let t = Targets {
                type_: "Targets".into(),
                delegations: Delegations::default(),
                expires: now + Duration::days(30),
                targets: BTreeMap::from([(tag.to_owned(), FileMeta::of(b"manifest"))]),
                version: v(1),
                extra: Default::default(),
            };
            sign(t, &[(&alice_pub, &alice)])
        };
        let targets = Targets {
            type_: "Targets".into(),
            delegations: Delegations {
                keys: BTreeMap::from([(alice_pub.id().to_owned(), alice_pub.clone())]),
                roles: vec![
                    role("targets/releases", vec![String::new()]),
                    role("targets/alice", alice_paths.iter().map(|p| (*p).to_owned()).collect()),
                ],
                extra: Default::default(),
            },
            expires: now + Duration::days(30),
            targets: BTreeMap::new(),
            version: v(1),
            extra: Default::default(),
        };
        let targets = sign(targets, &[(&keys.targets.public().unwrap(), &keys.targets)]);
        let releases = delegated("v1");
        let alice_meta = delegated("v1");
        let snapshot = Snapshot {
            type_: "Snapshot".into(),
            expires: now + Duration::days(30),
            meta: BTreeMap::from([
                ("root".to_owned(), FileMeta::of(&keys.root_v1)),
                ("targets".to_owned(), FileMeta::of(&targets)),
                ("targets/releases".to_owned(), FileMeta::of(&releases)),
                ("targets/alice".to_owned(), FileMeta::of(&alice_meta)),
            ]),
            version: v(1),
            extra: Default::default(),
        };
        let snapshot = sign(snapshot, &[(&keys.snapshot.public().unwrap(), &keys.snapshot)]);
        let timestamp = keys.timestamp(1, &snapshot, now + TIMESTAMP_EXPIRY);
        server.serve(&Published {
            root: keys.root_v1.clone(),
            targets,
            snapshot,
            timestamp,
            old_roots: Vec::new(),
            delegations: vec![("targets/releases".into(), releases), ("targets/alice".into(), alice_meta)],
        });
        server.inspect_ok()[0]["SignedTags"][0]["Signers"].clone()
    };
    assert_eq!(signers_of_v1(&[""]), serde_json::json!(["alice"]));
    assert_eq!(signers_of_v1(&["prod/"]), serde_json::json!(["Repo Admin"]));
}

/// Issue #21 item 5: a trust server answering an error with an endless body. The client reads
/// only the start of it for the message (a few KiB), fails, and changes nothing.
#[test]
fn endless_error_body_is_cut() {
    let (server, keys) = (Tamper::start(), Keys::new());
    server.serve(&keys.state(1, "v1"));
    server.inspect_ok();
    server.files.lock().unwrap().insert(ENDLESS_ERROR.into(), Vec::new());
    server.refused("HTTP 500");
    let sent = server.sent.load(std::sync::atomic::Ordering::Relaxed);
    assert!(sent < 48 << 20, "the client read {sent} bytes of an error body");
}
