//! `palisade up` serves the registry and the trust server beside the daemon: TLS with a service
//! certificate from the cluster CA (trusted through the printed root CA file), token auth from
//! the registry's token service (the trust server takes the same tokens), an `admin` user whose
//! password is shown once and stored only as a bcrypt hash. Driven with skopeo, notary, curl
//! and openssl.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[path = "registry_support.rs"]
#[allow(unused_macros)]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine as _;
use common::{openssl, Up};
use support::{build_image, skopeo};

/// skopeo's `--dest-cert-dir`: a directory holding the CA as `ca.crt`.
fn cert_dir(ca: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(ca, dir.path().join("ca.crt")).unwrap();
    dir
}

fn notary(trust_dir: &Path, url: &str, ca: &Path, auth: Option<&str>, args: &[&str]) -> (bool, String) {
    let mut cmd = Command::new("notary");
    cmd.arg("-d").arg(trust_dir).args(["-s", url, "--tlscacert"]).arg(ca).args(args);
    for role in ["ROOT", "TARGETS", "SNAPSHOT"] {
        cmd.env(format!("NOTARY_{role}_PASSPHRASE"), "pass");
    }
    if let Some(auth) = auth {
        cmd.env("NOTARY_AUTH", base64::engine::general_purpose::STANDARD.encode(auth));
    }
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn up_serves_registry_and_trust_server_with_cluster_tls_and_token_auth() {
    let dir = tempfile::tempdir().unwrap();
    let data: PathBuf = dir.path().join("data");
    let up = Up::start(&data);
    let ca = data.join("node/root-ca.crt");
    let registry = up.registry();
    let trust = up.trust_url();
    let password = up.password();
    assert_eq!(password.len(), 24, "{:?}", up.lines);

    // admin is an administrator of the registry's accounts, kept in the cluster store: sealed
    // at rest, so no file of the node holds the password or even its bcrypt hash in clear.
    let (status, me) = up.api("GET", "/api/v1/me", None);
    assert_eq!((status, &me["name"], &me["admin"]), (200, &serde_json::json!("admin"), &serde_json::json!(true)), "{me}");
    let canaries = [("the password".to_owned(), password.clone().into_bytes()), ("a bcrypt hash".to_owned(), b"$2b$10$".to_vec())];
    let hits = common::cluster::scan(std::slice::from_ref(&data), &canaries);
    assert!(hits.is_empty(), "in clear at rest: {hits:?}");

    // TLS: a server-only service certificate from the cluster CA, verified by openssl.
    let (ok, out) = openssl(&["s_client", "-connect", &registry, "-CAfile", ca.to_str().unwrap(), "-verify_return_error", "-showcerts"], Some(""));
    assert!(ok && out.contains("Verify return code: 0 (ok)"), "{out}");
    assert!(out.contains("OU = palisade-service") && out.contains("CN = swarm-ca"), "{out}");
    let trust_hostport = trust.trim_start_matches("https://");
    let (ok, out) = openssl(&["s_client", "-connect", trust_hostport, "-CAfile", ca.to_str().unwrap(), "-verify_return_error"], Some(""));
    assert!(ok && out.contains("Verify return code: 0 (ok)"), "{out}");

    // Registry: token auth; admin pushes and pulls with skopeo, a wrong password is refused.
    let image = build_image("v1");
    let certs = cert_dir(&ca);
    let certs = certs.path().to_str().unwrap();
    let src = format!("oci:{}:v1", image.layout().display());
    let dest = format!("docker://{registry}/app:v1");
    let (ok, err) = skopeo(&["copy", "--dest-cert-dir", certs, "--dest-creds", "admin:wrong", &src, &dest]);
    assert!(!ok && err.to_lowercase().contains("unauthorized"), "{err}");
    let (ok, err) = skopeo(&["copy", "--dest-cert-dir", certs, &src, &dest]);
    assert!(!ok, "anonymous push must be refused: {err}");
    let (ok, err) = skopeo(&["copy", "--dest-cert-dir", certs, "--dest-creds", &format!("admin:{password}"), &src, &dest]);
    assert!(ok, "{err}");
    let back = tempfile::tempdir().unwrap();
    let (ok, err) = skopeo(&["copy", "--src-cert-dir", certs, "--src-creds", &format!("admin:{password}"), &dest, &format!("oci:{}:v1", back.path().display())]);
    assert!(ok, "{err}");
    let index = std::fs::read_to_string(back.path().join("index.json")).unwrap();
    assert!(index.contains(&image.manifest_digest), "{index}");

    // Trust server: the same users and tokens; notary publishes with them, fails without.
    let gun = format!("{registry}/app");
    let notary_dir = dir.path().join("notary");
    let (ok, out) = notary(&notary_dir, &trust, &ca, Some("admin:wrong"), &["init", &gun, "-p"]);
    assert!(!ok && out.contains("unauthorized"), "{out}");
    let (ok, out) = notary(&notary_dir, &trust, &ca, Some(&format!("admin:{password}")), &["init", &gun, "-p"]);
    assert!(ok && out.contains("Successfully published"), "{out}");
    let payload = dir.path().join("payload");
    std::fs::write(&payload, b"signed bytes").unwrap();
    let (ok, out) = notary(&notary_dir, &trust, &ca, Some(&format!("admin:{password}")), &["add", &gun, "v1", payload.to_str().unwrap(), "-p"]);
    assert!(ok, "{out}");
    let (ok, out) = notary(&notary_dir, &trust, &ca, Some(&format!("admin:{password}")), &["list", &gun]);
    assert!(ok && out.contains("v1"), "{out}");
    // Server-side key rotation and deletion need the `*` scope; admin may push, so gets it.
    let (ok, out) = notary(&notary_dir, &trust, &ca, Some(&format!("admin:{password}")), &["key", "rotate", &gun, "snapshot", "-r"]);
    assert!(ok, "{out}");
    // A token for one GUN does not open another's, and a registry token is no trust token.
    let token_url = format!("https://{registry}/token?service=palisade-registry&scope=repository:app:pull,push");
    let out = Command::new("curl").args(["-s", "--cacert", ca.to_str().unwrap(), "-u", &format!("admin:{password}"), &token_url]).output().unwrap();
    let token: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let token = token["token"].as_str().unwrap();
    let meta = format!("{trust}/v2/{gun}/_trust/tuf/root.json");
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", ca.to_str().unwrap(), "-H", &format!("Authorization: Bearer {token}"), &meta])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "401");
    let (ok, out) = notary(&notary_dir, &trust, &ca, Some(&format!("admin:{password}")), &["delete", &gun, "--remote"]);
    assert!(ok, "{out}");
    let (ok, out) = notary(&dir.path().join("fresh"), &trust, &ca, Some(&format!("admin:{password}")), &["list", &gun]);
    assert!(!ok && out.contains("does not have trust data"), "{out}");

    // The node's audit log (shared with its registry and trust server) holds the logins, the
    // publishes and the delete, by admin, and verifies.
    let audit = data.join("audit");
    let entries = common::audit_entries(&audit);
    let has = |action: &str, outcome: &str| entries.iter().any(|e| e["actor"] == "admin" && e["action"] == action && e["target"] == gun && e["outcome"] == outcome);
    assert!(has("trust.publish", "success") && has("trust.delete", "success"), "{entries:#?}");
    assert!(entries.iter().any(|e| e["action"] == "registry.login" && e["actor"] == "admin" && e["outcome"] == "failure"), "the wrong password");
    let out = Command::new(common::PALISADE).args(["audit", "verify", "--data-root"]).arg(&data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_restarted_up_keeps_users_and_images_and_prints_no_new_password() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let first = Up::start(&data);
    let password = first.lines.iter().find(|l| l.contains("Registry user:")).unwrap().split_whitespace().nth(4).unwrap().to_owned();
    let ca = data.join("node/root-ca.crt");
    let certs = cert_dir(&ca);
    let certs = certs.path().to_str().unwrap();
    let image = build_image("v1");
    let dest = format!("docker://{}/kept:v1", first.registry());
    let (ok, err) = skopeo(&["copy", "--dest-cert-dir", certs, "--dest-creds", &format!("admin:{password}"), &format!("oci:{}:v1", image.layout().display()), &dest]);
    assert!(ok, "{err}");
    drop(first);

    let second = Up::start(&data);
    assert!(second.lines.iter().all(|l| !l.contains(&password)), "{:?}", second.lines);
    assert!(second.lines.iter().any(|l| l.contains("Registry users:")), "{:?}", second.lines);
    let dest = format!("docker://{}/kept:v1", second.registry());
    let (ok, err) = skopeo(&["inspect", "--cert-dir", certs, "--creds", &format!("admin:{password}"), &dest]);
    assert!(ok && err.is_empty(), "{err}");
}

/// An earlier `palisade up` kept its users in `registry/htpasswd`: the first start on the
/// cluster store imports them with their passwords unchanged (`admin` as the administrator,
/// so no new password is made). A user whose name is no valid namespace stops the start,
/// named, with nobody imported.
#[test]
fn an_earlier_ups_htpasswd_users_are_imported_with_their_passwords() {
    let line = |user: &str, password: &str| {
        let out = Command::new("htpasswd").args(["-nbB", user, password]).output().expect("htpasswd (apache2-utils)");
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("registry")).unwrap();
    let htpasswd = data.join("registry/htpasswd");

    std::fs::write(&htpasswd, format!("{}\n{}\n", line("admin", "old-admin-password"), line("Carol", "carol-password"))).unwrap();
    let out = common::output_within(
        Command::new(common::PALISADE)
            .args(["up", "--data-root"])
            .arg(&data)
            .args(["--bridge", "none", "-H", &format!("unix://{}", data.with_extension("sock").display())])
            .args(["--listen-addr", &format!("127.0.0.1:{}", common::free_port()), "--registry-addr", "127.0.0.1:0", "--trust-addr", "127.0.0.1:0"]),
        None,
        common::CALL_LIMIT,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("importing Carol from") && err.contains("rename or remove that entry"), "{err}");

    std::fs::write(&htpasswd, format!("{}\n{}\n", line("admin", "old-admin-password"), line("carol", "carol-password"))).unwrap();
    let up = Up::start(&data);
    assert!(up.lines.iter().any(|l| l.contains("imported 2 from the earlier htpasswd file") && l.contains("admin, carol")), "{:?}", up.lines);
    assert!(up.lines.iter().all(|l| !l.contains("Registry user:")), "no new admin password: {:?}", up.lines);
    let (status, me) = up.api_as(("admin", "old-admin-password"), "GET", "/api/v1/me", None);
    assert_eq!((status, &me["admin"]), (200, &serde_json::json!(true)), "{me}");
    let (status, me) = up.api_as(("carol", "carol-password"), "GET", "/api/v1/me", None);
    assert_eq!((status, &me["admin"]), (200, &serde_json::json!(false)), "{me}");
    let (status, _) = up.api_as(("carol", "wrong-password"), "GET", "/api/v1/me", None);
    assert_eq!(status, 401);
}

