#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Fuzzing content trust's untrusted inputs: TUF metadata as `POST /v2/<gun>/_trust/tuf/`
//! receives it (the server's whole update validation), each role's parser and signature
//! check, canonical JSON, and GUN and role names. Every case must return (no panic) within the
//! allocation bound; see `palisade_fuzzing`.

use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::sync::Arc;

use p256::pkcs8::EncodePrivateKey as _;
use palisade_fuzzing::json::{documents, hostile_string, hostile_value};
use palisade_fuzzing::{bounded, fuzz, fuzz_cases, CountingAlloc};
use palisade_pki::FixedClock;
use palisade_trust::schema::{
    check_expiry, verify_role, Delegations, ExpirationEnforcement, FileMeta, Role, RoleKeys, Root, Signed, Snapshot, Targets,
    Timestamp, ROOT_EXPIRY, TARGETS_EXPIRY,
};
use palisade_trust::server::TrustServer;
use palisade_trust::{canonical_json, Gun, Key, KeyType, PrivateKey, RoleName, TufSigner};
use proptest::prelude::*;
use serde_json::Value;
use time::OffsetDateTime;

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

const GUN: &str = "example.com/app";

fn nz(v: u64) -> NonZeroU64 {
    NonZeroU64::new(v).unwrap()
}

fn role_keys(ids: &[&str]) -> RoleKeys {
    RoleKeys { keyids: ids.iter().map(|s| s.to_string()).collect(), threshold: nz(1), extra: Default::default() }
}

/// A trust server holding a published repository (root v1, targets v1), the targets key, and
/// the wire bytes of a correctly signed targets v2 and root v1.
struct Published {
    server: TrustServer,
    _dir: tempfile::TempDir,
    gun: Gun,
    targets_key: Key,
    targets_v2: Signed<Targets>,
    root_v1: Vec<u8>,
}

fn targets(now: OffsetDateTime, version: u64, names: &[&str]) -> Targets {
    Targets {
        type_: "Targets".into(),
        delegations: Delegations::default(),
        expires: now + TARGETS_EXPIRY,
        targets: names.iter().map(|n| (n.to_string(), FileMeta::of(n.as_bytes()))).collect(),
        version: nz(version),
        extra: Default::default(),
    }
}

fn publish() -> Published {
    let dir = tempfile::tempdir().unwrap();
    let now = OffsetDateTime::now_utc();
    let server = TrustServer::open(&dir.path().join("trust"), Arc::new(FixedClock::new(now))).unwrap();
    let gun = Gun::new(GUN).unwrap();
    // The root key: P-256 with a self-signed leaf certificate whose CN is the GUN (notary init).
    let root_key = PrivateKey::generate_ecdsa();
    let PrivateKey::Ecdsa(sk) = &root_key else { unreachable!() };
    let kp = rcgen::KeyPair::try_from(sk.to_pkcs8_der().unwrap().as_bytes()).unwrap();
    let mut params = rcgen::CertificateParams::new(vec![]).unwrap();
    params.distinguished_name.push(rcgen::DnType::CommonName, GUN);
    let cert_key = Key::new(KeyType::EcdsaX509, params.self_signed(&kp).unwrap().pem().into_bytes()).unwrap();
    let targets_private = PrivateKey::generate_ecdsa();
    let targets_key = targets_private.public().unwrap();
    let snapshot = server.public_key(&gun, &RoleName::Snapshot).unwrap();
    let timestamp = server.public_key(&gun, &RoleName::Timestamp).unwrap();
    let keys = [&cert_key, &targets_key, &snapshot, &timestamp].map(|k| (k.id().to_owned(), k.clone()));
    let root = Root {
        type_: "Root".into(),
        consistent_snapshot: false,
        expires: now + ROOT_EXPIRY,
        keys: BTreeMap::from(keys),
        roles: BTreeMap::from([
            ("root".to_owned(), role_keys(&[cert_key.id()])),
            ("targets".to_owned(), role_keys(&[targets_key.id()])),
            ("snapshot".to_owned(), role_keys(&[snapshot.id()])),
            ("timestamp".to_owned(), role_keys(&[timestamp.id()])),
        ]),
        version: nz(1),
        extra: Default::default(),
    };
    let root_v1 = Signed::sign_as(root, &[(&cert_key, &root_key as &dyn TufSigner)]).unwrap().bytes().to_vec();
    let targets_v1 = Signed::sign(targets(now, 1, &["v1"]), &[&targets_private]).unwrap();
    server.update(&gun, vec![(Some("root".into()), root_v1.clone()), (Some("targets".into()), targets_v1.bytes().to_vec())]).unwrap();
    let targets_v2 = Signed::sign(targets(now, 2, &["v1", "v2"]), &[&targets_private]).unwrap();
    Published { server, _dir: dir, gun, targets_key, targets_v2, root_v1 }
}

fn seeds(bytes: &[&[u8]]) -> Vec<Value> {
    bytes.iter().map(|b| serde_json::from_slice(b).unwrap()).collect()
}

/// One update's parts: mostly a (mutated) targets v2, sometimes with a (mutated) root, a
/// hostile file name, or a duplicate.
fn parts(targets_v2: &[u8], root_v1: &[u8]) -> impl Strategy<Value = Vec<(Option<String>, Vec<u8>)>> {
    let name = prop_oneof![
        8 => proptest::sample::select(vec!["targets", "targets.json", "root", "snapshot", "timestamp", "targets/releases"])
            .prop_map(|n| Some(n.to_owned())),
        1 => Just(None),
        1 => hostile_string().prop_map(Some),
    ];
    let part = (name, documents(seeds(&[targets_v2, root_v1])));
    proptest::collection::vec(part, 1..4)
}

/// The server's update validation (`TrustServer::update`, what the upload route calls) on
/// mutated targets and root documents: no panic, bounded allocation, and whatever it accepts
/// is signed content the targets key really signed — a mutation of the signed part never
/// passes.
#[test]
fn fuzz_tuf_update() {
    let repo = publish();
    let signed_v2 = repo.targets_v2.canonical_signed().unwrap();
    fuzz_cases("trust_tuf_update", 128, parts(repo.targets_v2.bytes(), &repo.root_v1), |parts| {
        let size = parts.iter().map(|(n, b)| b.len() + n.as_ref().map_or(0, String::len)).sum();
        let targets = parts.iter().rev().find(|(n, _)| matches!(n.as_deref(), Some("targets" | "targets.json")));
        let targets = targets.map(|(_, b)| b.clone());
        let result = bounded(size, || repo.server.update(&repo.gun, parts))?;
        if let (Ok(()), Some(bytes)) = (result, targets) {
            let accepted = Signed::<Targets>::from_bytes("targets", &bytes).unwrap();
            prop_assert_eq!(accepted.canonical_signed().unwrap(), signed_v2.clone(), "only what the key signed is accepted");
        }
        Ok(())
    });
}

fn parse_and_verify<T: Role>(role: &str, bytes: &[u8], keys: &BTreeMap<String, Key>, ids: &[String]) -> bool {
    let Ok(meta) = Signed::<T>::from_bytes(role, bytes) else { return false };
    let _ = check_expiry(role, &meta, OffsetDateTime::now_utc(), ExpirationEnforcement::Safe);
    verify_role(role, &meta, keys, ids, 1).is_ok()
}

/// Each role's parser, signature check and expiry check on mutated signed documents: no panic,
/// bounded; a targets document verifies only if its signed part is what the key signed.
#[test]
fn fuzz_tuf_schema() {
    let repo = publish();
    let signed_v2 = repo.targets_v2.canonical_signed().unwrap();
    let keys = BTreeMap::from([(repo.targets_key.id().to_owned(), repo.targets_key.clone())]);
    let ids = vec![repo.targets_key.id().to_owned()];
    fuzz("trust_tuf_schema", documents(seeds(&[repo.targets_v2.bytes(), &repo.root_v1])), |bytes| {
        let targets_ok = bounded(bytes.len(), || {
            parse_and_verify::<Root>("root", &bytes, &keys, &ids);
            parse_and_verify::<Snapshot>("snapshot", &bytes, &keys, &ids);
            parse_and_verify::<Timestamp>("timestamp", &bytes, &keys, &ids);
            parse_and_verify::<Targets>("targets", &bytes, &keys, &ids)
        })?;
        if targets_ok {
            let meta = Signed::<Targets>::from_bytes("targets", &bytes).unwrap();
            prop_assert_eq!(meta.canonical_signed().unwrap(), signed_v2.clone());
        }
        Ok(())
    });
}

/// Canonical JSON of any value: no panic, bounded, and one encoding per value (the value
/// re-read from ordinary JSON encodes to the same bytes). Its output is not always JSON that
/// serde_json reads back: control characters are written raw, as notary does.
#[test]
fn fuzz_canonical_json() {
    fuzz("trust_canonical_json", hostile_value(), |value| {
        let size = serde_json::to_vec(&value).unwrap().len();
        if let Ok(bytes) = bounded(size, || canonical_json(&value))? {
            let again: Value = serde_json::from_slice(&serde_json::to_vec(&value).unwrap()).unwrap();
            prop_assert_eq!(canonical_json(&again).unwrap(), bytes);
        }
        Ok(())
    });
}

/// GUNs and role names from URLs and file names: no panic, bounded; what parses has no
/// empty, `.` or `..` segment.
#[test]
fn fuzz_gun_and_role_names() {
    let name = prop_oneof![hostile_string(), "(targets|root|snapshot|timestamp)(/[a-z._]{0,12}){0,4}", "[a-z.]{1,12}(/[a-z._*]{0,12}){0,4}"];
    fuzz("trust_names", name, |name| {
        let (gun, role) = bounded(name.len(), || (Gun::new(&name), RoleName::new(&name)))?;
        if let Ok(gun) = gun {
            prop_assert!(gun.as_str().split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
        }
        if let Ok(role) = role {
            prop_assert!(role.as_str().split('/').all(|s| !s.is_empty() && s != "." && s != ".."));
        }
        Ok(())
    });
}
