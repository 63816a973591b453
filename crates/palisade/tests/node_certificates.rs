#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Node certificates are exactly what the docs describe, as openssl reads them.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{openssl, x509, Node};

/// `openssl x509 -text` of a PEM file.
fn x509_text(path: &std::path::Path) -> String {
    x509(path, &["-text"])
}

fn validity_days(path: &std::path::Path) -> i64 {
    let (start, end) = (x509(path, &["-startdate"]), x509(path, &["-enddate"]));
    let parse = |line: &str| {
        let value = line.trim().split_once('=').unwrap().1.to_owned();
        let out = std::process::Command::new("date").args(["-u", "-d", &value, "+%s"]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse::<i64>().unwrap()
    };
    // Validity starts one hour before issuance (clock-drift backdate).
    (parse(&end) - parse(&start) - 3600) / 86_400
}

#[test]
fn manager_and_worker_certificates_match_the_documented_policy() {
    let manager = Node::start();
    let worker = Node::start();
    let addr = manager.init(&[]);
    assert!(worker.join(&manager.join_token("worker"), &addr).status.success());
    let cluster_id = manager.info("{{.Swarm.Cluster.ID}}");

    for (node, ou) in [(&manager, "swarm-manager"), (&worker, "swarm-worker")] {
        let cert = node.node_dir().join("node.crt");
        let text = x509_text(&cert);
        let node_id = node.node_id();
        assert!(text.contains(&format!("Subject: CN={node_id},OU={ou},O={cluster_id}")), "{text}");
        assert!(text.contains("Issuer: CN=swarm-ca"), "{text}");
        assert!(text.contains("Signature Algorithm: ecdsa-with-SHA256"), "{text}");
        assert!(text.contains("ASN1 OID: prime256v1") && text.contains("NIST CURVE: P-256"), "{text}");
        assert!(text.contains(&format!("DNS:{ou}")) && text.contains(&format!("DNS:{node_id}")), "{text}");
        assert_eq!(text.contains("DNS:swarm-ca"), ou == "swarm-manager", "only managers carry swarm-ca: {text}");
        assert!(text.contains("TLS Web Server Authentication, TLS Web Client Authentication"), "{text}");
        assert_eq!(validity_days(&cert), 90);

        let (ok, out) = openssl(&["verify", "-CAfile", node.node_dir().join("root-ca.crt").to_str().unwrap(), cert.to_str().unwrap()], None);
        assert!(ok && out.contains(": OK"), "{out}");

        let key_mode = std::fs::metadata(node.node_dir().join("node.key")).unwrap().permissions().mode() & 0o777;
        assert_eq!(key_mode, 0o600);
        let dir_mode = std::fs::metadata(node.data_root()).unwrap().permissions().mode() & 0o777;
        assert_eq!(dir_mode, 0o700);
    }

    let root = manager.node_dir().join("root-ca.crt");
    let text = x509_text(&root);
    assert!(text.contains("Subject: CN=swarm-ca") && text.contains("CA:TRUE"), "{text}");
    assert!(validity_days(&root) >= 20 * 365, "the root CA is long-lived");
    assert_eq!(manager.docker_ok(&["swarm", "ca"]).trim(), std::fs::read_to_string(&root).unwrap().trim());
}

#[test]
fn cert_expiry_at_init_is_honoured_and_shown() {
    let manager = Node::start();
    manager.init(&["--cert-expiry", "48h"]);
    assert_eq!(validity_days(&manager.node_dir().join("node.crt")), 2);
    let info = manager.docker_ok(&["info"]);
    assert!(info.contains("Expiry Duration: 2 days"), "{info}");
}

#[test]
fn private_material_is_never_stored_in_plaintext() {
    let manager = Node::start();
    manager.init(&[]);
    let token = manager.join_token("worker");
    let secret = token.rsplit('-').next().unwrap().to_owned();
    for entry in walk(&manager.data_root().join("raft")) {
        let bytes = std::fs::read(&entry).unwrap();
        let haystack = String::from_utf8_lossy(&bytes);
        assert!(!haystack.contains(&secret), "join token secret in plaintext in {}", entry.display());
        assert!(!haystack.contains("PRIVATE KEY"), "CA key in plaintext in {}", entry.display());
    }
    assert!(!manager.log().contains(&secret), "join token secret in the log");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
