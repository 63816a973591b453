//! The real `notary` 0.7 CLI works unchanged against `palisade trust-server serve` over TLS.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{write, TrustServerProc};

const GUN: &str = "example.com/app";

/// `init`, then `add v1` + `publish`.
fn published() -> TrustServerProc {
    let server = TrustServerProc::start();
    server.notary_ok(&["init", GUN]);
    let file = write(server.dir.path(), "v1.txt", "version one\n");
    server.notary_ok(&["add", GUN, "v1", file.to_str().unwrap()]);
    server.notary_ok(&["publish", GUN]);
    server
}

fn delegation_cert(server: &TrustServerProc) -> (String, String) {
    let d = server.dir.path();
    let (key, crt) = (d.join("deleg.key"), d.join("deleg.crt"));
    let (ok, out) = common::openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key.to_str().unwrap(),
            "-out",
            crt.to_str().unwrap(),
            "-days",
            "30",
            "-subj",
            "/CN=releases",
        ],
        None,
    );
    assert!(ok, "{out}");
    (key.to_str().unwrap().to_owned(), crt.to_str().unwrap().to_owned())
}

fn list_names(out: &str) -> Vec<(String, String)> {
    out.lines()
        .skip_while(|l| !l.starts_with("----"))
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.len() == 4).then(|| (cols[0].to_owned(), cols[3].to_owned()))
        })
        .collect()
}

#[test]
fn init_add_publish_then_list_shows_target() {
    let server = published();
    let out = server.notary_ok(&["list", GUN]);
    assert_eq!(list_names(&out), vec![("v1".to_owned(), "targets".to_owned())], "{out}");
    // the digest notary lists is the sha256 of the file we added
    let digest: String = palisade_trust::schema::FileMeta::of(b"version one\n").hashes["sha256"]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(out.contains(&digest), "{out}");
    // a second client (fresh trust dir, no cache) sees the same data
    std::fs::remove_dir_all(server.dir.path().join("trust/tuf")).unwrap();
    let out = server.notary_ok(&["list", GUN]);
    assert_eq!(list_names(&out).len(), 1, "{out}");
}

#[test]
fn delegation_add_publish_and_sign_as_delegate() {
    let server = published();
    let (key, crt) = delegation_cert(&server);
    let out = server.notary_ok(&["delegation", "add", GUN, "targets/releases", &crt, "--all-paths"]);
    assert!(out.contains("targets/releases"), "{out}");
    server.notary_ok(&["publish", GUN]);
    let out = server.notary_ok(&["delegation", "list", GUN]);
    assert!(out.contains("targets/releases") && out.contains("<all paths>"), "{out}");
    server.notary_ok(&["key", "import", &key, "--role", "targets/releases"]);
    let file = write(server.dir.path(), "v2.txt", "two\n");
    server.notary_ok(&["add", GUN, "v2", file.to_str().unwrap(), "--roles", "targets/releases"]);
    server.notary_ok(&["publish", GUN]);
    let out = server.notary_ok(&["list", GUN]);
    let names = list_names(&out);
    assert!(names.contains(&("v2".to_owned(), "targets/releases".to_owned())), "{out}");
    assert!(names.contains(&("v1".to_owned(), "targets".to_owned())), "{out}");
}

#[test]
fn key_rotate_snapshot_to_server_then_publish() {
    let server = published();
    let before = server.get_meta(GUN, "snapshot.key");
    let out = server.notary_ok(&["key", "rotate", GUN, "snapshot", "-r"]);
    assert!(out.contains("Successfully rotated snapshot key"), "{out}");
    let after = server.get_meta(GUN, "snapshot.key");
    assert_ne!(before, after, "rotation must switch to a new server key");
    let root = server.get_meta(GUN, "root.json");
    let key: serde_json::Value = serde_json::from_slice(&after).unwrap();
    assert!(String::from_utf8_lossy(&root).contains(key["keyval"]["public"].as_str().unwrap()));
    let file = write(server.dir.path(), "v3.txt", "three\n");
    server.notary_ok(&["add", GUN, "v3", file.to_str().unwrap()]);
    server.notary_ok(&["publish", GUN]);
    // the snapshot the client did not upload is signed by the server (eddsa)
    let snap: serde_json::Value = serde_json::from_slice(&server.get_meta(GUN, "snapshot.json")).unwrap();
    assert_eq!(snap["signatures"][0]["method"], "eddsa");
    let names = list_names(&server.notary_ok(&["list", GUN]));
    assert!(names.iter().any(|(n, _)| n == "v3"), "{names:?}");
}

#[test]
fn witness_republishes_delegation() {
    let server = published();
    let (key, crt) = delegation_cert(&server);
    server.notary_ok(&["delegation", "add", GUN, "targets/releases", &crt, "--all-paths"]);
    server.notary_ok(&["key", "import", &key, "--role", "targets/releases"]);
    let file = write(server.dir.path(), "v2.txt", "two\n");
    server.notary_ok(&["add", GUN, "v2", file.to_str().unwrap(), "--roles", "targets/releases"]);
    server.notary_ok(&["publish", GUN]);
    let v_before: serde_json::Value = serde_json::from_slice(&server.get_meta(GUN, "targets/releases.json")).unwrap();
    let out = server.notary_ok(&["witness", GUN, "targets/releases"]);
    assert!(out.contains("targets/releases"), "{out}");
    server.notary_ok(&["publish", GUN]);
    let v_after: serde_json::Value = serde_json::from_slice(&server.get_meta(GUN, "targets/releases.json")).unwrap();
    assert_eq!(v_after["signed"]["version"].as_u64().unwrap(), v_before["signed"]["version"].as_u64().unwrap() + 1);
}

#[test]
fn delete_remote_then_list_fails() {
    let server = published();
    server.notary_ok(&["delete", GUN, "--remote"]);
    let (ok, out) = server.notary(&["list", GUN]);
    assert!(!ok, "{out}");
    assert!(out.contains("does not have trust data"), "{out}");
    let (status, body) = server.curl(&[&format!("{}/v2/{GUN}/_trust/tuf/root.json", server.url())]);
    assert_eq!(status, 404);
    assert!(body.contains("METADATA_NOT_FOUND"), "{body}");
}

#[test]
fn published_data_survives_a_crash() {
    let mut server = published();
    server.restart();
    let out = server.notary_ok(&["list", GUN]);
    assert_eq!(list_names(&out).len(), 1, "{out}");
    // the sealed server keys still sign after restart
    let file = write(server.dir.path(), "v2.txt", "two\n");
    server.notary_ok(&["add", GUN, "v2", file.to_str().unwrap()]);
    server.notary_ok(&["publish", GUN]);
    assert_eq!(list_names(&server.notary_ok(&["list", GUN])).len(), 2);
}

#[test]
fn root_targets_and_timestamp_key_rotations_are_accepted() {
    let server = published();
    let (ok, out) = server.notary_input(&["key", "rotate", GUN, "root"], "yes\n");
    assert!(ok && out.contains("Successfully rotated root key"), "{out}\n{}", server.log());
    server.notary_ok(&["key", "rotate", GUN, "targets"]);
    server.notary_ok(&["key", "rotate", GUN, "timestamp", "-r"]);
    let root: serde_json::Value = serde_json::from_slice(&server.get_meta(GUN, "root.json")).unwrap();
    assert_eq!(root["signed"]["version"], 4, "root, targets and timestamp rotations each bump root");
    // root v2 carries signatures of the old and the new root key
    let v2: serde_json::Value = serde_json::from_slice(&server.get_meta(GUN, "2.root.json")).unwrap();
    assert_eq!(v2["signatures"].as_array().unwrap().len(), 2, "{v2}");
    let file = write(server.dir.path(), "v2.txt", "two\n");
    server.notary_ok(&["add", GUN, "v2", file.to_str().unwrap()]);
    server.notary_ok(&["publish", GUN]);
    // a client without cache follows the rotated root
    std::fs::remove_dir_all(server.dir.path().join("trust/tuf")).unwrap();
    assert_eq!(list_names(&server.notary_ok(&["list", GUN])).len(), 2);
}
