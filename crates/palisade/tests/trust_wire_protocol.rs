//! notary-server 0.7 wire behaviour of `palisade trust-server`: metadata produced by the real
//! notary CLI round-trips byte for byte and verifies with `palisade-trust`; forged and replayed
//! uploads get notary's error envelopes and change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{write, TrustServerProc};
use palisade_trust::schema::{verify_role, Root, Signed, Snapshot, Targets, Timestamp};

const GUN: &str = "127.0.0.1:5000/team/app";

fn published(targets: &[&str]) -> TrustServerProc {
    let server = TrustServerProc::start();
    server.notary_ok(&["init", GUN]);
    for t in targets {
        let file = write(server.dir.path(), &format!("{t}.txt"), t);
        server.notary_ok(&["add", GUN, t, file.to_str().unwrap()]);
        server.notary_ok(&["publish", GUN]);
    }
    server.notary_ok(&["list", GUN]);
    server
}

fn errors(body: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON: {body}"));
    v["errors"][0].clone()
}

#[test]
fn notary_metadata_round_trips_and_verifies() {
    let server = published(&["v1"]);
    let cache = server.dir.path().join("trust/tuf").join(GUN).join("metadata");
    let read = |role: &str| std::fs::read(cache.join(format!("{role}.json"))).unwrap();
    for role in ["root", "targets", "snapshot", "timestamp"] {
        assert_eq!(read(role), server.get_meta(GUN, &format!("{role}.json")), "{role} bytes differ");
    }
    let root: Signed<Root> = Signed::from_bytes("root", &read("root")).unwrap();
    let r = root.signed();
    let rk = &r.roles["root"];
    verify_role("root", &root, &r.keys, &rk.keyids, rk.threshold.get()).unwrap();
    let root_key = &r.keys[&rk.keyids[0]];
    assert_eq!(root_key.keytype(), palisade_trust::KeyType::EcdsaX509);
    assert_eq!(root_key.cert().unwrap().common_name.as_deref(), Some(GUN));
    // the CLI names the private root key file by the canonical key ID
    let private = server.dir.path().join("trust/private").join(format!("{}.key", root_key.canonical_id()));
    assert!(private.exists(), "{} missing", private.display());

    let targets: Signed<Targets> = Signed::from_bytes("targets", &read("targets")).unwrap();
    let tk = &r.roles["targets"];
    verify_role("targets", &targets, &r.keys, &tk.keyids, 1).unwrap();
    assert!(targets.signed().targets.contains_key("v1"));
    let snapshot: Signed<Snapshot> = Signed::from_bytes("snapshot", &read("snapshot")).unwrap();
    verify_role("snapshot", &snapshot, &r.keys, &r.roles["snapshot"].keyids, 1).unwrap();
    assert!(snapshot.signed().meta["targets"].matches(&read("targets")));
    let ts: Signed<Timestamp> = Signed::from_bytes("timestamp", &read("timestamp")).unwrap();
    verify_role("timestamp", &ts, &r.keys, &r.roles["timestamp"].keyids, 1).unwrap();
    assert!(ts.signed().meta["snapshot"].matches(&read("snapshot")));
    // headers as notary-server sends them
    let (_, head) = server.curl(&["-D", "-", "-o", "/dev/null", &format!("{}/v2/{GUN}/_trust/tuf/root.json", server.url())]);
    let head = head.to_ascii_lowercase();
    assert!(head.contains("content-type: text/plain; charset=utf-8"), "{head}");
    assert!(head.contains("cache-control: public, max-age=300, s-maxage=300, must-revalidate"), "{head}");
    // version- and checksum-addressed URLs serve the same bytes
    let v = targets.signed().version.get();
    assert_eq!(server.get_meta(GUN, &format!("{v}.targets.json")), read("targets"));
}

#[test]
fn ping_health_and_server_key_format() {
    let server = TrustServerProc::start();
    for path in ["/_notary_server/health", "/v2/"] {
        assert_eq!(server.curl(&[&format!("{}{path}", server.url())]), (200, "{}".to_owned()));
    }
    let key = String::from_utf8(server.get_meta("example.com/new", "timestamp.key")).unwrap();
    assert!(key.starts_with("{\"keytype\":\"ed25519\",\"keyval\":{\"public\":\""), "{key}");
    assert!(key.ends_with("\",\"private\":null}}"), "{key}");
    assert_eq!(String::from_utf8(server.get_meta("example.com/new", "timestamp.key")).unwrap(), key, "GET is stable");
    let (status, body) =
        server.curl(&["-X", "POST", &format!("{}/v2/example.com/new/_trust/tuf/timestamp.key", server.url())]);
    assert_eq!(status, 200);
    assert_ne!(body, key, "POST makes a new pending key");
    let (status, body) = server.curl(&[&format!("{}/v2/example.com/new/_trust/tuf/targets.key", server.url())]);
    assert_eq!((status, errors(&body)["code"].as_str().unwrap()), (400, "INVALID_ROLE"));
    // the sealed key file holds no plaintext key and is private
    use std::os::unix::fs::PermissionsExt as _;
    let kek = server.dir.path().join("root/server-keys.kek");
    assert_eq!(std::fs::metadata(kek).unwrap().permissions().mode() & 0o777, 0o600);
}

#[test]
fn forged_targets_upload_is_refused_over_http() {
    let server = published(&["v1"]);
    let current = server.get_meta(GUN, "targets.json");
    let forged = String::from_utf8(current.clone()).unwrap().replace("\"v1\"", "\"v6\"");
    assert_ne!(forged.as_bytes(), current.as_slice());
    let (status, body) = server.post_meta(GUN, &[("targets", forged.as_bytes())]);
    let e = errors(&body);
    assert_eq!((status, e["code"].as_str().unwrap()), (400, "INVALID_UPDATE"), "{body}");
    assert_eq!(e["message"], "Update sent by the client is invalid.");
    assert_eq!(e["detail"]["Name"], "ErrBadTargets", "{body}");
    assert_eq!(server.get_meta(GUN, "targets.json"), current);
    server.notary_ok(&["list", GUN]);
}

#[test]
fn replayed_older_update_is_refused_over_http() {
    let server = published(&["v1", "v2"]);
    let targets: Signed<Targets> = Signed::from_bytes("targets", &server.get_meta(GUN, "targets.json")).unwrap();
    let snapshot: Signed<Snapshot> = Signed::from_bytes("snapshot", &server.get_meta(GUN, "snapshot.json")).unwrap();
    let (tv, sv) = (targets.signed().version.get(), snapshot.signed().version.get());
    let old_t = server.get_meta(GUN, &format!("{}.targets.json", tv - 1));
    let old_s = server.get_meta(GUN, &format!("{}.snapshot.json", sv - 1));
    let before_ts = server.get_meta(GUN, "timestamp.json");
    let (status, body) = server.post_meta(GUN, &[("targets", &old_t), ("snapshot", &old_s)]);
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&body).unwrap(),
        serde_json::json!({"errors":[{"code":"VERSION","message":"A newer version of metadata is already available.","detail":{}}]})
    );
    assert_eq!(server.get_meta(GUN, "targets.json"), targets.bytes());
    assert_eq!(server.get_meta(GUN, "timestamp.json"), before_ts);
    let out = server.notary_ok(&["list", GUN]);
    assert!(out.contains("v2"), "{out}");
}

#[test]
fn malformed_uploads_get_notary_codes() {
    let server = published(&["v1"]);
    let url = format!("{}/v2/{GUN}/_trust/tuf/", server.url());
    let (status, body) = server.curl(&["-X", "POST", "-d", "x", &url]);
    assert_eq!((status, errors(&body)["code"].as_str().unwrap()), (400, "MALFORMED_UPLOAD"), "{body}");
    let (status, body) = server.post_meta(GUN, &[("bogus", b"{}")]);
    assert_eq!((status, errors(&body)["code"].as_str().unwrap()), (400, "INVALID_ROLE"), "{body}");
    let (status, body) = server.post_meta(GUN, &[("targets", b"not json")]);
    assert_eq!((status, errors(&body)["code"].as_str().unwrap()), (400, "MALFORMED_JSON"), "{body}");
    let (status, body) = server.curl(&[&format!("{}/v2/nope/x/_trust/tuf/root.json", server.url())]);
    assert_eq!((status, errors(&body)["code"].as_str().unwrap()), (404, "METADATA_NOT_FOUND"), "{body}");
}

#[test]
fn changefeed_lists_updates_and_deletions() {
    let server = published(&["v1"]);
    server.notary_ok(&["delete", GUN, "--remote"]);
    let (status, body) = server.curl(&[&format!("{}/v2/_trust/changefeed?change_id=0&records=10", server.url())]);
    assert_eq!(status, 200, "{body}");
    let feed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let records = feed["records"].as_array().unwrap();
    assert_eq!(feed["count"].as_u64().unwrap() as usize, records.len());
    assert_eq!(records.first().unwrap()["Category"], "update");
    assert_eq!(records.last().unwrap()["Category"], "deletion");
    assert!(records.iter().all(|r| r["GUN"] == GUN));
    let (status, body) = server.curl(&[&format!("{}/v2/other/_trust/changefeed?records=10", server.url())]);
    assert_eq!(status, 200);
    assert_eq!(serde_json::from_str::<serde_json::Value>(&body).unwrap()["count"], 0);
    let (status, body) = server.curl(&[&format!("{}/v2/_trust/changefeed?records=abc", server.url())]);
    assert_eq!((status, errors(&body)["code"].as_str().unwrap()), (400, "INVALID_PARAMETERS"));
}
