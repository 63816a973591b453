//! `palisade push` / `palisade pull` against Palisade's registry and distribution 2.8.2, checked
//! byte for byte with skopeo on the other side: push with palisade and pull with skopeo, and
//! the reverse; plus docker-archive tarballs, htpasswd, token auth over TLS, and S3 storage.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "registry_support.rs"]
#[macro_use]
mod support;

use std::path::Path;
use std::process::Command;

use support::{build_image, skopeo, start, Image, Kind, Opts, Server};

/// Run `palisade push|pull SRC DEST` with the flags the server needs; (success, stdout+stderr).
fn palisade(s: &Server, verb: &str, src: &str, dest: &str, creds: Option<&str>) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_palisade"));
    cmd.args([verb, src, dest, "--quiet"]).env_remove("PALISADE_REGISTRY_AUTH");
    match &s.tls {
        Some(t) => {
            cmd.arg("--tls-ca").arg(t.cert_dir.join("ca.crt"));
        }
        None => {
            cmd.arg("--insecure");
        }
    }
    if let Some(c) = creds {
        cmd.args(["--creds", c]);
    }
    let out = cmd.output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn skopeo_copy(s: &Server, src: &str, dest: &str, creds: Option<&str>, pulling: bool) -> (bool, String) {
    let side = if pulling { "src" } else { "dest" };
    let mut args: Vec<String> = vec!["copy".into()];
    match &s.tls {
        Some(t) => args.extend([format!("--{side}-cert-dir"), t.cert_dir.display().to_string()]),
        None => args.push(format!("--{side}-tls-verify=false")),
    }
    if let Some(c) = creds {
        args.extend([format!("--{side}-creds"), c.to_owned()]);
    }
    args.extend([src.to_owned(), dest.to_owned()]);
    skopeo(&args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The layout at `dir` holds `img`'s manifest (by digest) and every blob, byte-identical.
fn assert_same(dir: &Path, img: &Image) {
    let index: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let digests: Vec<&str> =
        index["manifests"].as_array().unwrap().iter().map(|m| m["digest"].as_str().unwrap()).collect();
    assert!(digests.contains(&img.manifest_digest.as_str()), "{digests:?} vs {}", img.manifest_digest);
    for d in img.blobs.iter().chain([&img.manifest_digest]) {
        let pulled = std::fs::read(dir.join("blobs/sha256").join(d.trim_start_matches("sha256:"))).unwrap();
        assert_eq!(pulled, img.blob(d), "blob {d} differs");
    }
}

/// palisade push → skopeo pull, then skopeo push → palisade pull, all byte-identical.
fn interop(s: &Server, creds: Option<&str>) {
    let img = build_image("v1");
    let remote = format!("{}/e2e/client:v1", s.addr);
    let (ok, out) = palisade(s, "push", &format!("oci:{}:v1", img.layout().display()), &remote, creds);
    assert!(ok, "palisade push: {out}");
    assert!(out.contains(&img.manifest_digest), "{out}");
    let pulled = tempfile::tempdir().unwrap();
    let (ok, err) = skopeo_copy(s, &format!("docker://{remote}"), &format!("oci:{}:v1", pulled.path().display()), creds, true);
    assert!(ok, "skopeo pull: {err}");
    assert_same(pulled.path(), &img);

    let img2 = build_image("v2");
    let remote2 = format!("{}/e2e/client:v2", s.addr);
    let (ok, err) = skopeo_copy(s, &format!("oci:{}:v2", img2.layout().display()), &format!("docker://{remote2}"), creds, false);
    assert!(ok, "skopeo push: {err}");
    let out_dir = tempfile::tempdir().unwrap();
    let (ok, out) = palisade(s, "pull", &remote2, &format!("oci:{}:v2", out_dir.path().display()), creds);
    assert!(ok, "palisade pull: {out}");
    assert_same(out_dir.path(), &img2);
    // By digest too, into a layout that already has the blobs.
    let by_digest = format!("{}/e2e/client@{}", s.addr, img2.manifest_digest);
    let (ok, out) = palisade(s, "pull", &by_digest, &format!("oci:{}", out_dir.path().display()), creds);
    assert!(ok, "palisade pull by digest: {out}");
}

fn client_interop_anonymous(kind: Kind) {
    interop(&start(kind, &Opts::default()), None);
}

fn client_interop_htpasswd_tls(kind: Kind) {
    let s = start(kind, &Opts { tls: true, users: vec![("alice".into(), "pw".into())], ..Opts::default() });
    interop(&s, Some("alice:pw"));
    let img = build_image("v3");
    let (ok, _) = palisade(&s, "push", &format!("oci:{}:v3", img.layout().display()), &format!("{}/e2e/nope:v3", s.addr), Some("alice:bad"));
    assert!(!ok, "a wrong password must fail");
    let (ok, _) = palisade(&s, "push", &format!("oci:{}:v3", img.layout().display()), &format!("{}/e2e/nope:v3", s.addr), None);
    assert!(!ok, "no credentials must fail");
}

/// docker-archive → registry (palisade) → docker-archive (palisade) → skopeo reads it back.
fn client_docker_archive(kind: Kind) {
    let s = start(kind, &Opts::default());
    let img = build_image("v1");
    let work = tempfile::tempdir().unwrap();
    let tarball = work.path().join("in.tar");
    let (ok, err) = skopeo(&["copy", &format!("oci:{}:v1", img.layout().display()), &format!("docker-archive:{}:e2e/arch:v1", tarball.display())]);
    assert!(ok, "skopeo docker-archive: {err}");
    let remote = format!("{}/e2e/arch:v1", s.addr);
    let (ok, out) = palisade(&s, "push", &format!("docker-archive:{}", tarball.display()), &remote, None);
    assert!(ok, "push docker-archive: {out}");
    let out_tar = work.path().join("out.tar");
    let (ok, out) = palisade(&s, "pull", &remote, &format!("docker-archive:{}", out_tar.display()), None);
    assert!(ok, "pull docker-archive: {out}");
    // skopeo reads our tarball; its layers are the ones we pushed.
    let back = work.path().join("back");
    let (ok, err) = skopeo(&["copy", &format!("docker-archive:{}", out_tar.display()), &format!("oci:{}:x", back.display())]);
    assert!(ok, "skopeo reads palisade's docker-archive: {err}");
    let (ok, err) = skopeo_copy(&s, &format!("docker://{remote}"), &format!("oci:{}:y", back.display()), None, true);
    assert!(ok, "skopeo pull: {err}");
}

both_kinds!(client_interop_anonymous, client_interop_htpasswd_tls, client_docker_archive);

#[test]
fn client_token_auth_palisade() {
    let s = start(
        Kind::Palisade,
        &Opts {
            tls: true,
            users: vec![("alice".into(), "pw".into()), ("bob".into(), "pw2".into())],
            palisade_config: Some(
                "[auth]\nmode = \"token\"\n[[repository]]\nname = \"e2e/*\"\npull = [\"bob\"]\npush = [\"alice\"]\n".into(),
            ),
            ..Opts::default()
        },
    );
    interop(&s, Some("alice:pw"));
    let out = tempfile::tempdir().unwrap();
    let (ok, text) = palisade(&s, "pull", &format!("{}/e2e/client:v1", s.addr), &format!("oci:{}:v1", out.path().display()), Some("bob:pw2"));
    assert!(ok, "bob may pull: {text}");
    let img = build_image("v9");
    let (ok, _) = palisade(&s, "push", &format!("oci:{}:v9", img.layout().display()), &format!("{}/e2e/bobs:v9", s.addr), Some("bob:pw2"));
    assert!(!ok, "bob must not push");
}

/// skopeo round trip through a Palisade registry whose storage is an S3 bucket (moto).
#[test]
fn skopeo_and_client_roundtrip_s3_storage_palisade() {
    let moto = palisade_registry::testing::Moto::start();
    let bucket = moto.bucket();
    let config = format!(
        "[storage]\nkind = \"s3\"\nbucket = \"{bucket}\"\nregion = \"us-east-1\"\nendpoint = \"{}\"\nprefix = \"reg\"\naccess_key_id = \"testing\"\nsecret_access_key = \"testing\"\n",
        moto.endpoint
    );
    let s = start(Kind::Palisade, &Opts { palisade_config: Some(config), ..Opts::default() });
    assert!(!s.dir.path().join("data").exists(), "S3 storage must not write the local root");
    let img = build_image("v1");
    let remote = format!("{}/e2e/s3:v1", s.addr);
    let (ok, err) = skopeo_copy(&s, &format!("oci:{}:v1", img.layout().display()), &format!("docker://{remote}"), None, false);
    assert!(ok, "skopeo push: {err}");
    let back = tempfile::tempdir().unwrap();
    let (ok, err) = skopeo_copy(&s, &format!("docker://{remote}"), &format!("oci:{}:v1", back.path().display()), None, true);
    assert!(ok, "skopeo pull: {err}");
    assert_same(back.path(), &img);
    interop(&s, None);
}
