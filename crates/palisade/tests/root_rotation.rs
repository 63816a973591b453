#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Root CA rotation with cross-signing, driven by `docker swarm ca`, checked with openssl.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{cluster_request, http_post, openssl, stderr, stdout, wait_for, write, x509, Node};

/// `openssl verify` of a node's certificate file (leaf followed by any intermediates) against `ca`.
fn verifies(ca: &Path, node: &Node) -> (bool, String) {
    let cert = node.node_dir().join("node.crt");
    openssl(&["verify", "-CAfile", ca.to_str().unwrap(), "-untrusted", cert.to_str().unwrap(), cert.to_str().unwrap()], None)
}

fn issuer_cn(node: &Node) -> String {
    x509(&node.node_dir().join("node.crt"), &["-issuer"]).trim().trim_start_matches("issuer=").to_owned()
}

/// A control call over `openssl s_client` with the given identity; what openssl printed.
fn control_call(addr: &str, cert: &Path, key: &Path) -> String {
    cluster_request(addr, &["-cert", cert.to_str().unwrap(), "-key", key.to_str().unwrap()], &http_post("/control/v1", "\"NodeList\""))
}

/// docker CLI with a hard time limit (a rotation that never converges would block forever).
fn docker_limited(node: &Node, args: &[&str]) -> std::process::Output {
    Command::new("timeout")
        .arg("90")
        .arg("docker")
        .args(["-H", &node.host()])
        .args(args)
        .output()
        .unwrap()
}

fn rotation_in_progress(node: &Node) -> bool {
    node.info("{{.Swarm.Cluster.RootRotationInProgress}}") == "true"
}

#[test]
fn full_rotation_waits_for_every_node_then_drops_the_old_root() {
    let manager = Node::start();
    let worker = Node::start();
    let mut sleeper = Node::start();
    let addr = manager.init(&[]);
    let (old_worker_token, old_manager_token) = (manager.join_token("worker"), manager.join_token("manager"));
    for node in [&worker, &sleeper] {
        assert!(node.join(&old_worker_token, &addr).status.success());
    }
    let saved = tempfile::tempdir().unwrap();
    let old_root = write(saved.path(), "old-root.pem", &manager.read_node_file("root-ca.crt"));
    let old_cert = write(saved.path(), "old.crt", &worker.read_node_file("node.crt"));
    let old_key = write(saved.path(), "old.key", &worker.read_node_file("node.key"));
    // Before the rotation the worker's certificate completes the handshake (and, being a
    // worker's, is refused cluster state).
    assert!(control_call(&addr, &old_cert, &old_key).contains("HTTP/1.1 403"));
    for node in [&manager, &worker, &sleeper] {
        assert!(verifies(&old_root, node).0);
    }

    // One node is down: the rotation starts but waits for it.
    sleeper.kill();
    let out = docker_limited(&manager, &["swarm", "ca", "--rotate", "-d"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(rotation_in_progress(&manager));
    assert!(manager.docker_ok(&["info"]).contains("Root Rotation In Progress: true"));
    // Live nodes move to the new root; their chains (leaf + cross-signed root) verify against the old root.
    wait_for(Duration::from_secs(30), "live nodes to renew", || {
        let nodes: serde_json::Value = serde_json::from_str(&manager.docker_ok(&["node", "inspect", &manager.node_id(), &worker.node_id()])).unwrap();
        let cluster_key = manager.info("{{json .Swarm.Cluster.TLSInfo.CertIssuerPublicKey}}");
        nodes.as_array().unwrap().iter().all(|n| format!("\"{}\"", n["Description"]["TLSInfo"]["CertIssuerPublicKey"].as_str().unwrap()) == cluster_key)
    });
    for node in [&manager, &worker] {
        let (ok, out) = verifies(&old_root, node);
        assert!(ok, "during rotation, new certificates chain to the old root: {out}");
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(rotation_in_progress(&manager), "the down node is waited for, not cut off");

    // The sleeper comes back, renews, and the rotation completes.
    sleeper.restart();
    wait_for(Duration::from_secs(40), "rotation to complete", || !rotation_in_progress(&manager));
    let new_root_pem = manager.docker_ok(&["swarm", "ca"]);
    assert_ne!(new_root_pem.trim(), std::fs::read_to_string(&old_root).unwrap().trim());
    let new_root = write(saved.path(), "new-root.pem", &new_root_pem);
    wait_for(Duration::from_secs(20), "nodes to adopt the new root", || {
        [&manager, &worker, &sleeper].iter().all(|n| n.read_node_file("root-ca.crt").trim() == new_root_pem.trim())
    });
    for node in [&manager, &worker, &sleeper] {
        let (ok, out) = verifies(&new_root, node);
        assert!(ok, "after rotation, certificates verify against the new root: {out}");
    }

    // The old root's certificates are refused, the old tokens too; new tokens work.
    let refused = control_call(&addr, &old_cert, &old_key);
    assert!(!refused.contains("HTTP/1.1"), "a certificate from the old root must fail the handshake: {refused}");
    let new_worker_token = manager.join_token("worker");
    assert_ne!(new_worker_token, old_worker_token);
    assert_eq!(new_worker_token.rsplit('-').next(), old_worker_token.rsplit('-').next(), "same secret, new digest");
    let joiner = Node::start();
    for old in [&old_worker_token, &old_manager_token] {
        let err = stderr(&joiner.join(old, &addr));
        assert!(err.contains("remote CA does not match fingerprint"), "{err}");
    }
    assert!(joiner.join(&new_worker_token, &addr).status.success());
    assert!(verifies(&new_root, &joiner).0);
}

#[test]
fn docker_swarm_ca_rotate_waits_and_prints_the_new_root() {
    let manager = Node::start();
    let worker = Node::start();
    let addr = manager.init(&[]);
    assert!(worker.join(&manager.join_token("worker"), &addr).status.success());
    let old_root = manager.read_node_file("root-ca.crt");
    // The worker's audit log signs a head with its certificate from the old root (the 100th
    // entry, after its swarm.join).
    worker.record_refused_calls(99);
    let out = docker_limited(&manager, &["swarm", "ca", "--rotate", "--cert-expiry", "48h"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(printed.contains("desired root digest: sha256:"), "{printed}");
    let new_root = manager.docker_ok(&["swarm", "ca"]);
    assert!(printed.trim_end().ends_with(new_root.trim()), "{printed}");
    assert_ne!(new_root.trim(), old_root.trim());
    assert!(manager.docker_ok(&["info"]).contains("Expiry Duration: 2 days"));
    let (log, intact) = manager.audit_records();
    assert!(intact && log.contains(&("swarm.ca-rotate".into(), "swarm".into(), "success".into())), "{log:?}");

    // The nodes now trust the new root only, for TLS; the worker keeps the old one among its
    // retired roots, so its earlier head still verifies by default.
    wait_for(Duration::from_secs(20), "the worker to adopt the new root", || worker.read_node_file("root-ca.crt").trim() == new_root.trim());
    let retired = worker.read_node_file("retired-roots.pem");
    assert!(retired.contains(old_root.trim()) && !retired.contains(new_root.trim()), "{retired}\n--- old ---\n{old_root}\n--- new ---\n{new_root}");
    let out = worker.audit_verify(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("head 1 (entry 100): signed by node {}", worker.node_id())), "{}", stdout(&out));
    // Given only the new root, that head is refused, by name; with both it verifies.
    let saved = tempfile::tempdir().unwrap();
    let (old, new) = (write(saved.path(), "old.pem", &old_root), write(saved.path(), "new.pem", &new_root));
    let err = stderr(&worker.audit_verify(&["--ca", new.to_str().unwrap()]));
    assert!(err.contains("the signed head on line 1 of heads.jsonl (for entry 100) is not signed by a node of the trusted cluster"), "{err}");
    assert!(err.contains("give the earlier root as well"), "{err}");
    let out = worker.audit_verify(&["--ca", old.to_str().unwrap(), "--ca", new.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn rotation_to_an_operator_supplied_openssl_ca() {
    let manager = Node::start();
    let worker = Node::start();
    let addr = manager.init(&[]);
    assert!(worker.join(&manager.join_token("worker"), &addr).status.success());
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    for args in [
        vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &p("ca.key")],
        vec!["req", "-x509", "-new", "-key", &p("ca.key"), "-subj", "/O=Acme/CN=Acme Swarm Root", "-days", "3650", "-out", &p("ca.crt")],
    ] {
        let (ok, out) = openssl(&args, None);
        assert!(ok, "{out}");
    }
    let out = docker_limited(&manager, &["swarm", "ca", "--rotate", "--ca-cert", &p("ca.crt"), "--ca-key", &p("ca.key")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(manager.docker_ok(&["swarm", "ca"]).trim(), std::fs::read_to_string(p("ca.crt")).unwrap().trim());
    wait_for(Duration::from_secs(20), "nodes to adopt the operator root", || {
        [&manager, &worker].iter().all(|n| issuer_cn(n) == "CN=Acme Swarm Root,O=Acme" && n.read_node_file("root-ca.crt").trim() == std::fs::read_to_string(p("ca.crt")).unwrap().trim())
    });
    let ca = Path::new(&p("ca.crt")).to_owned();
    for node in [&manager, &worker] {
        let (ok, out) = verifies(&ca, node);
        assert!(ok, "{out}");
    }
    assert!(worker.info("{{.Swarm.LocalNodeState}}") == "active");
}

#[test]
fn bad_ca_inputs_are_refused_and_change_nothing() {
    let manager = Node::start();
    manager.init(&[]);
    let root = manager.docker_ok(&["swarm", "ca"]);
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    for args in [
        vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &p("a.key")],
        vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &p("b.key")],
        vec!["req", "-x509", "-new", "-key", &p("a.key"), "-subj", "/CN=A", "-days", "30", "-out", &p("a.crt")],
    ] {
        assert!(openssl(&args, None).0);
    }
    // An expired CA, made with rcgen (openssl's req cannot backdate).
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(30);
    params.not_after = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let expired = params.self_signed(&key).unwrap();
    write(dir.path(), "expired.crt", &expired.pem());
    write(dir.path(), "expired.key", &key.serialize_pem());

    let cases: [(&[&str], &str); 3] = [
        (&["--ca-cert", &p("a.crt"), "--ca-key", &p("b.key")], "does not match the CA certificate"),
        (&["--ca-cert", &p("expired.crt"), "--ca-key", &p("expired.key")], "is not valid now"),
        (&["--cert-expiry", "30m"], "minimum certificate expiry time is: 1h0m0s"),
    ];
    for (flags, message) in cases {
        let mut args = vec!["swarm", "ca", "--rotate", "-d"];
        args.extend_from_slice(flags);
        let err = stderr(&docker_limited(&manager, &args));
        assert!(err.contains(message), "{flags:?}: {err}");
        assert!(!rotation_in_progress(&manager));
        assert_eq!(manager.docker_ok(&["swarm", "ca"]), root);
    }
}
