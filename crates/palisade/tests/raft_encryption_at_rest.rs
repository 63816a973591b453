#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Encryption at rest on every manager: after a secret, a node label, join tokens and an
//! operator-given root CA key went through raft, no file under any manager's data root holds any
//! of them in plaintext (raw bytes, every file, recursively).

mod common;

use std::path::{Path, PathBuf};

use common::cluster::{scan, token_secret, unique, Cluster, CATCH_UP, ELECTION};
use common::{openssl, stderr};

/// Base64 body lines of a PEM file (the parts that would appear verbatim if it were stored).
fn pem_body_lines(pem: &str) -> Vec<String> {
    pem.lines().filter(|l| !l.starts_with("-----") && l.len() >= 16).map(str::to_owned).collect()
}

/// The 32-byte private scalar inside a SEC1 DER EC key (`02 01 01 04 20 <d>`).
fn ec_scalar(sec1_der: &[u8]) -> Vec<u8> {
    let at = sec1_der.windows(5).position(|w| w == [0x02, 0x01, 0x01, 0x04, 0x20]).expect("SEC1 EC private key");
    sec1_der[at + 5..at + 37].to_vec()
}

/// An operator CA made with openssl: (cert path, key path, canaries for the key).
fn operator_ca(dir: &Path) -> (PathBuf, PathBuf, Vec<(String, Vec<u8>)>) {
    let p = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    for args in [
        vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &p("ca.key")],
        vec!["req", "-x509", "-new", "-key", &p("ca.key"), "-subj", "/CN=Canary Root", "-days", "3650", "-out", &p("ca.crt")],
        vec!["ec", "-in", &p("ca.key"), "-outform", "DER", "-out", &p("ca.sec1.der")],
        vec!["pkcs8", "-topk8", "-nocrypt", "-in", &p("ca.key"), "-out", &p("ca.pk8.pem")],
        vec!["pkcs8", "-topk8", "-nocrypt", "-in", &p("ca.key"), "-outform", "DER", "-out", &p("ca.pk8.der")],
    ] {
        let (ok, out) = openssl(&args, None);
        assert!(ok, "openssl {args:?}: {out}");
    }
    let sec1_der = std::fs::read(p("ca.sec1.der")).unwrap();
    let mut canaries = vec![
        ("CA key: private scalar".to_owned(), ec_scalar(&sec1_der)),
        ("CA key: SEC1 DER".to_owned(), sec1_der),
        ("CA key: PKCS#8 DER".to_owned(), std::fs::read(p("ca.pk8.der")).unwrap()),
    ];
    for file in ["ca.key", "ca.pk8.pem"] {
        for (n, line) in pem_body_lines(&std::fs::read_to_string(p(file)).unwrap()).into_iter().enumerate() {
            canaries.push((format!("CA key: {file} PEM line {n}"), line.into_bytes()));
        }
    }
    (dir.join("ca.crt"), dir.join("ca.key"), canaries)
}

fn no_plaintext_on_any_manager(managers: usize) {
    let mut c = Cluster::start(managers, 0);
    let all: Vec<usize> = (0..managers).collect();
    let leader = c.wait_for_leader(&all, ELECTION);
    let via = if managers > 1 { c.other_manager(leader) } else { leader };
    let tag = unique();

    // An operator root CA whose key bytes we know.
    let dir = tempfile::tempdir().unwrap();
    let (ca_crt, ca_key, mut canaries) = operator_ca(dir.path());
    let out = c[leader].docker_input(
        &["swarm", "ca", "--rotate", "--ca-cert", ca_crt.to_str().unwrap(), "--ca-key", ca_key.to_str().unwrap()],
        None,
        std::time::Duration::from_secs(90),
    );
    assert!(out.status.success(), "swarm ca --rotate: {}", stderr(&out));
    let cert_lines = pem_body_lines(&std::fs::read_to_string(&ca_crt).unwrap());
    c.wait(CATCH_UP, "every manager to hold the operator root", || {
        all.iter().all(|&i| std::fs::read_to_string(c[i].node_dir().join("root-ca.crt")).unwrap_or_default().contains(&cert_lines[1]))
    });

    // A secret (name and value), a node label, and the join tokens' secrets.
    let name = format!("plaintext-canary-name-{tag}");
    let value = format!("plaintext-canary-value-{tag}");
    let label = format!("plaintext-canary-label-{tag}");
    c[via].secret_create_ok(&name, &value);
    let target = c[leader].id.clone();
    c[via].docker_ok_limited(&["node", "update", "--label-add", &format!("canary={label}"), &target]);
    c.wait_secrets_everywhere(&all, &[name.clone()].into_iter().collect(), CATCH_UP);
    c.wait(CATCH_UP, "the label on every manager", || all.iter().all(|&i| c[i].node_label(&target, "canary").as_deref() == Some(label.as_str())));
    let inspect = c[via].docker_ok_limited(&["secret", "inspect", &name]);
    assert!(!inspect.contains(&value), "secret inspect never shows the data: {inspect}");
    let worker = token_secret(&c[leader].join_token("worker"));
    let manager = token_secret(&c[leader].join_token("manager"));
    for m in &all {
        assert_eq!(token_secret(&c[*m].join_token("worker")), worker);
    }
    canaries.extend([
        ("secret name".to_owned(), name.into_bytes()),
        ("secret value".to_owned(), value.into_bytes()),
        ("node label value".to_owned(), label.into_bytes()),
        ("worker join-token secret".to_owned(), worker.into_bytes()),
        ("manager join-token secret".to_owned(), manager.into_bytes()),
    ]);

    for &m in &all {
        c[m].kill();
    }
    let roots: Vec<PathBuf> = all.iter().map(|&m| c[m].data_root()).collect();

    // The scanner finds what is meant to be plaintext: the (public) root certificate.
    let probe = vec![("root certificate".to_owned(), cert_lines[1].clone().into_bytes())];
    assert_eq!(scan(&roots, &probe).iter().filter(|(_, f)| f.ends_with("root-ca.crt")).count(), managers, "the scan sees node/root-ca.crt on every manager");

    let hits = scan(&roots, &canaries);
    let report: Vec<String> = hits.iter().map(|(what, file)| format!("{what} in {}", file.display())).collect();
    assert!(hits.is_empty(), "plaintext at rest:\n{}", report.join("\n"));
}

#[test]
fn a_single_manager_stores_nothing_in_plaintext() {
    no_plaintext_on_any_manager(1);
}

#[test]
fn no_manager_of_three_stores_anything_in_plaintext() {
    no_plaintext_on_any_manager(3);
}
