//! Interop with the real `skopeo`: push an OCI-layout image to the registry and pull it back,
//! byte-identical, anonymously, with htpasswd credentials, with token auth and over TLS.
//! Each scenario runs against Palisade and (where it applies) distribution 2.8.2.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "registry_support.rs"]
#[macro_use]
mod support;

use support::{build_image, skopeo_pull as pull, skopeo_push as push, start, Kind, Opts, Server};

/// Push, pull back, and check the manifest digest and every blob are byte-identical.
fn roundtrip(s: &Server, creds: Option<&str>) {
    let img = build_image("v1");
    let dest = format!("docker://{}/e2e/busybox:v1", s.addr);
    let (ok, err) = push(s, &format!("oci:{}:v1", img.layout().display()), &dest, creds);
    assert!(ok, "skopeo push failed: {err}");
    let out = tempfile::tempdir().unwrap();
    let (ok, err) = pull(s, &dest, &format!("oci:{}:v1", out.path().display()), creds);
    assert!(ok, "skopeo pull failed: {err}");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"][0]["digest"].as_str().unwrap(), img.manifest_digest);
    for d in img.blobs.iter().chain([&img.manifest_digest]) {
        let pulled = std::fs::read(out.path().join("blobs/sha256").join(d.trim_start_matches("sha256:"))).unwrap();
        assert_eq!(pulled, img.blob(d), "blob {d} differs");
    }
}

fn skopeo_roundtrip_anonymous(kind: Kind) {
    let s = start(kind, &Opts::default());
    roundtrip(&s, None);
}

fn skopeo_roundtrip_htpasswd(kind: Kind) {
    let s = start(kind, &Opts { users: vec![("alice".into(), "s3cret".into())], ..Opts::default() });
    roundtrip(&s, Some("alice:s3cret"));
    // Wrong password: the push fails and stores nothing new.
    let img = build_image("v2");
    let (ok, _) = push(&s, &format!("oci:{}:v2", img.layout().display()), &format!("docker://{}/e2e/other:v2", s.addr), Some("alice:wrong"));
    assert!(!ok, "push with a wrong password must fail");
    assert!(!s.storage_root_contains("other"));
}

fn skopeo_roundtrip_tls(kind: Kind) {
    let s = start(kind, &Opts { tls: true, users: vec![("alice".into(), "pw".into())], ..Opts::default() });
    roundtrip(&s, Some("alice:pw"));
}

both_kinds!(skopeo_roundtrip_anonymous, skopeo_roundtrip_htpasswd, skopeo_roundtrip_tls);

const TOKEN_CONFIG: &str = r#"
[auth]
mode = "token"

[[repository]]
name = "e2e/*"
pull = ["bob"]
push = ["alice"]
"#;

#[test]
fn skopeo_roundtrip_token_auth_palisade() {
    let s = start(
        Kind::Palisade,
        &Opts {
            users: vec![("alice".into(), "pw".into()), ("bob".into(), "pw2".into())],
            palisade_config: Some(TOKEN_CONFIG.into()),
            ..Opts::default()
        },
    );
    roundtrip(&s, Some("alice:pw"));
    // bob may pull but not push.
    let out = tempfile::tempdir().unwrap();
    let (ok, err) = pull(&s, &format!("docker://{}/e2e/busybox:v1", s.addr), &format!("oci:{}:v1", out.path().display()), Some("bob:pw2"));
    assert!(ok, "bob pull: {err}");
    let img = build_image("v3");
    let (ok, err) = push(&s, &format!("oci:{}:v3", img.layout().display()), &format!("docker://{}/e2e/bobs:v3", s.addr), Some("bob:pw2"));
    assert!(!ok, "bob must not be able to push");
    // skopeo reports the 403 DENIED error code as "denied".
    assert!(err.contains("denied"), "{err}");
    assert!(!s.storage_root_contains("bobs"));
}

#[test]
fn skopeo_roundtrip_token_auth_over_tls_palisade() {
    let s = start(
        Kind::Palisade,
        &Opts {
            tls: true,
            users: vec![("alice".into(), "pw".into())],
            palisade_config: Some(TOKEN_CONFIG.into()),
            ..Opts::default()
        },
    );
    roundtrip(&s, Some("alice:pw"));
}
