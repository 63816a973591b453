#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The cluster port speaks mutual TLS ≥ 1.2 only; without a cluster certificate only the join
//! calls are served. Probed with `openssl s_client`.

mod common;

use common::{cluster_request, http_post as post, openssl, Node};

/// Sends one HTTP request through `openssl s_client`; whether openssl succeeded, and its output.
fn request(addr: &str, extra: &[&str], http: &str) -> (bool, String) {
    let mut args = vec!["s_client", "-connect", addr, "-servername", "swarm-manager", "-ign_eof"];
    args.extend_from_slice(extra);
    openssl(&args, Some(http))
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: swarm-manager\r\nConnection: close\r\n\r\n")
}

#[test]
fn without_a_client_certificate_only_join_calls_are_served() {
    let manager = Node::start();
    let addr = manager.init(&[]);

    let (_, out) = request(&addr, &[], &get("/join/v1/root-ca"));
    assert!(out.contains("HTTP/1.1 200"), "{out}");
    assert!(out.contains("BEGIN CERTIFICATE"), "{out}");

    for (path, body) in [("/node/v1", "\"RaftJoin\""), ("/raft/v1", ""), ("/control/v1", "\"NodeList\"")] {
        let (_, out) = request(&addr, &[], &post(path, body));
        assert!(out.contains("HTTP/1.1 401"), "{path}: {out}");
        assert!(out.contains("a client certificate issued by this cluster is required"), "{path}: {out}");
    }
    // The join call itself needs a valid token.
    let (_, out) = request(&addr, &[], &post("/join/v1/certificate", r#"{"token":"SWMTKN-1-x-y","csr_pem":"","description":{"hostname":"h","os":"linux","architecture":"x","nano_cpus":0,"memory_bytes":0,"engine_version":"1","plugins":[],"trust_root_pem":""},"advertise_addr":"","listen_port":0,"availability":""}"#));
    assert!(out.contains("HTTP/1.1 400") && out.contains("A valid join token is necessary"), "{out}");
}

#[test]
fn a_node_certificate_is_accepted_and_one_from_another_ca_is_refused() {
    let manager = Node::start();
    let addr = manager.init(&[]);
    let node_dir = manager.node_dir();
    let (cert, key, ca) = (node_dir.join("node.crt"), node_dir.join("node.key"), node_dir.join("root-ca.crt"));

    // With the manager's own certificate, the control call works — and the server is verified.
    let (_, out) = request(
        &addr,
        &["-cert", cert.to_str().unwrap(), "-key", key.to_str().unwrap(), "-CAfile", ca.to_str().unwrap(), "-verify_return_error"],
        &post("/control/v1", "\"NodeList\""),
    );
    assert!(out.contains("HTTP/1.1 200"), "{out}");
    assert!(out.contains("Verify return code: 0 (ok)"), "{out}");

    // A certificate with the same subject fields from a CA of our own making is refused at the handshake.
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
    let subject = format!("/O={}/OU=swarm-manager/CN={}", manager.info("{{.Swarm.Cluster.ID}}"), manager.node_id());
    for args in [
        vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &p("evil-ca.key")],
        vec!["req", "-x509", "-new", "-key", &p("evil-ca.key"), "-subj", "/CN=swarm-ca", "-days", "2", "-out", &p("evil-ca.crt")],
        vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &p("evil.key")],
        vec!["req", "-new", "-key", &p("evil.key"), "-subj", &subject, "-out", &p("evil.csr")],
        vec!["x509", "-req", "-in", &p("evil.csr"), "-CA", &p("evil-ca.crt"), "-CAkey", &p("evil-ca.key"), "-CAcreateserial", "-days", "2", "-out", &p("evil.crt")],
    ] {
        let (ok, out) = openssl(&args, None);
        assert!(ok, "{args:?}: {out}");
    }
    let out = cluster_request(&addr, &["-cert", &p("evil.crt"), "-key", &p("evil.key")], &post("/control/v1", "\"NodeList\""));
    assert!(!out.contains("HTTP/1.1 200"), "{out}");
    assert!(out.to_lowercase().contains("alert") || out.contains("errno") || out.contains("error"), "the handshake must fail: {out}");
}

#[test]
fn tls_1_1_and_older_are_refused() {
    let manager = Node::start();
    let addr = manager.init(&[]);
    for version in ["-tls1_1", "-tls1"] {
        let (ok, out) = request(&addr, &[version, "-cipher", "DEFAULT@SECLEVEL=0"], &get("/join/v1/root-ca"));
        assert!(!ok || !out.contains("HTTP/1.1 200"), "{version}: {out}");
        assert!(!out.contains("BEGIN CERTIFICATE"), "{version}: {out}");
    }
    let (_, out) = request(&addr, &["-tls1_2"], &get("/join/v1/root-ca"));
    assert!(out.contains("HTTP/1.1 200") && out.contains("Protocol  : TLSv1.2"), "TLS 1.2 works: {out}");
}
