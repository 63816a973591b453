//! Metadata written by the real notary 0.7 CLI and notary-server (tests/data/generate.sh)
//! parses, verifies, and re-encodes to the exact signed bytes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use palisade_trust::canonical_json;
use palisade_trust::schema::{verify_role, Role, Root, Signed, Snapshot, Targets, Timestamp};
use palisade_trust::{Key, KeyType};

fn read(name: &str) -> Vec<u8> {
    // Where the crate is now (cargo and nextest set it when running tests), not where the
    // binary happened to be compiled: a shared target directory can outlive that checkout.
    let crate_dir = std::env::var_os("CARGO_MANIFEST_DIR").map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from);
    let path = crate_dir.join("tests/data/notary-0.7").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The file is `{"signed":<canonical JSON>,"signatures":[…]}`, and our typed role re-encodes to
/// the same canonical bytes (no field or precision lost).
fn assert_round_trip<T: Role>(role: &str, file: &str) -> Signed<T> {
    let bytes = read(file);
    let meta: Signed<T> = Signed::from_bytes(role, &bytes).unwrap();
    let canonical = meta.canonical_signed().unwrap();
    let mut expected = b"{\"signed\":".to_vec();
    expected.extend_from_slice(&canonical);
    assert!(bytes.starts_with(&expected), "{role}: signed part is not canonical JSON");
    let reencoded = canonical_json(&serde_json::to_value(meta.signed()).unwrap()).unwrap();
    assert_eq!(String::from_utf8(reencoded).unwrap(), String::from_utf8(canonical).unwrap(), "{role}");
    meta
}

#[test]
fn notary_metadata_verifies_and_round_trips() {
    let root: Signed<Root> = assert_round_trip("root", "root.json");
    let r = root.signed();
    let threshold = |role: &str| (r.roles[role].keyids.clone(), r.roles[role].threshold.get());
    let (ids, t) = threshold("root");
    verify_role("root", &root, &r.keys, &ids, t).unwrap();
    assert_eq!(r.keys[&ids[0]].keytype(), KeyType::EcdsaX509);
    assert_eq!(root.signatures()[0].method, "ecdsa");

    let targets: Signed<Targets> = assert_round_trip("targets", "targets.json");
    let (ids, t) = threshold("targets");
    verify_role("targets", &targets, &r.keys, &ids, t).unwrap();
    let snapshot: Signed<Snapshot> = assert_round_trip("snapshot", "snapshot.json");
    let (ids, t) = threshold("snapshot");
    verify_role("snapshot", &snapshot, &r.keys, &ids, t).unwrap();
    let timestamp: Signed<Timestamp> = assert_round_trip("timestamp", "timestamp.json");
    let (ids, t) = threshold("timestamp");
    verify_role("timestamp", &timestamp, &r.keys, &ids, t).unwrap();
    assert_eq!(timestamp.signatures()[0].method, "eddsa", "notary-server's local signer uses ed25519");

    // hashes chain: timestamp -> snapshot -> root/targets/delegation
    assert!(timestamp.signed().meta["snapshot"].matches(&read("snapshot.json")));
    for (role, file) in [("root", "root.json"), ("targets", "targets.json"), ("targets/releases", "targets/releases.json")] {
        assert!(snapshot.signed().meta[role].matches(&read(file)), "{role}");
    }

    // delegation: x509 cert key, all paths, canonical ID = bare key of the certificate
    let d = &targets.signed().delegations;
    let role = d.roles.iter().find(|r| r.name == "targets/releases").unwrap();
    assert_eq!(role.paths, vec![String::new()]);
    let key = &d.keys[&role.keyids[0]];
    let cert = Key::new(KeyType::EcdsaX509, read("releases.crt")).unwrap();
    assert_eq!(key.canonical_id(), cert.canonical_id());
    let releases: Signed<Targets> = assert_round_trip("targets/releases", "targets/releases.json");
    verify_role("targets/releases", &releases, &d.keys, &role.keyids, role.threshold.get()).unwrap();
    assert!(releases.signed().targets.contains_key("v2"));
}

#[test]
fn tampered_notary_metadata_fails() {
    let root: Signed<Root> = Signed::from_bytes("root", &read("root.json")).unwrap();
    let r = root.signed();
    let text = String::from_utf8(read("targets.json")).unwrap().replacen("\"v1\"", "\"v9\"", 1);
    let targets: Signed<Targets> = Signed::from_bytes("targets", text.as_bytes()).unwrap();
    let ids = r.roles["targets"].keyids.clone();
    assert!(verify_role("targets", &targets, &r.keys, &ids, 1).is_err());
    // a key map entry under the wrong ID is refused while parsing
    let id = ids[0].clone();
    let bad = String::from_utf8(read("root.json")).unwrap().replacen(&format!("\"{id}\":{{"), "\"00\":{", 1);
    assert!(Signed::<Root>::from_bytes("root", bad.as_bytes()).is_err());
}
