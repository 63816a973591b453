#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! A real `cfssl serve` as the cluster's external CA: Palisade never holds its key.

mod common;

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, openssl, stderr, wait_for, write, x509, Node};

/// `cfssl serve` over TLS, signing with a CA made by openssl.
struct Cfssl {
    dir: tempfile::TempDir,
    child: Child,
    port: u16,
}

impl Cfssl {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        write(dir.path(), "ext.cnf", "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        write(
            dir.path(),
            "config.json",
            r#"{"signing":{"default":{"expiry":"2160h","usages":["signing","key encipherment","server auth","client auth"]}}}"#,
        );
        for args in [
            vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &p("ca-key.pem")],
            vec!["req", "-x509", "-new", "-key", &p("ca-key.pem"), "-subj", "/O=Acme/CN=Acme External CA", "-days", "3650", "-out", &p("ca.pem")],
            vec!["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &p("tls-key.pem")],
            vec!["req", "-new", "-key", &p("tls-key.pem"), "-subj", "/CN=127.0.0.1", "-out", &p("tls.csr")],
            vec!["x509", "-req", "-in", &p("tls.csr"), "-CA", &p("ca.pem"), "-CAkey", &p("ca-key.pem"), "-CAcreateserial", "-days", "30", "-extfile", &p("ext.cnf"), "-out", &p("tls.pem")],
        ] {
            let (ok, out) = openssl(&args, None);
            assert!(ok, "{args:?}: {out}");
        }
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("cfssl.log")).unwrap();
        let child = Command::new("cfssl")
            .args(["serve", "-address", "127.0.0.1", "-port", &port.to_string()])
            .args(["-ca", &p("ca.pem"), "-ca-key", &p("ca-key.pem"), "-tls-cert", &p("tls.pem"), "-tls-key", &p("tls-key.pem"), "-config", &p("config.json")])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        wait_for(Duration::from_secs(20), "cfssl to listen", || TcpStream::connect(("127.0.0.1", port)).is_ok());
        Cfssl { dir, child, port }
    }

    fn sign_url(&self) -> String {
        format!("https://127.0.0.1:{}/api/v1/cfssl/sign", self.port)
    }

    fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn signed(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("cfssl.log")).unwrap().matches("signed certificate with serial number").count()
    }
}

impl Drop for Cfssl {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(cert: &Path) -> String {
    x509(cert, &["-text"])
}

#[test]
fn cfssl_signs_every_node_certificate_with_the_documented_subject() {
    let cfssl = Cfssl::start();
    let manager = Node::start();
    let worker = Node::start();
    let addr = format!("127.0.0.1:{}", free_port());
    let external = format!("protocol=cfssl,url={}", cfssl.sign_url());
    manager.docker_ok(&["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", &addr, "--dispatcher-heartbeat", "1s", "--external-ca", &external]);
    assert!(worker.join(&manager.join_token("worker"), &addr).status.success());
    assert_eq!(cfssl.signed(), 2, "both node certificates came from cfssl");

    let cluster_id = manager.info("{{.Swarm.Cluster.ID}}");
    for (node, ou) in [(&manager, "swarm-manager"), (&worker, "swarm-worker")] {
        let cert = node.node_dir().join("node.crt");
        let text = text(&cert);
        assert!(text.contains(&format!("Subject: CN={},OU={ou},O={cluster_id}", node.node_id())), "{text}");
        assert!(text.contains("Issuer: CN=Acme External CA,O=Acme"), "{text}");
        assert!(text.contains(&format!("DNS:{ou}")), "{text}");
        let (ok, out) = openssl(&["verify", "-CAfile", cfssl.ca().to_str().unwrap(), cert.to_str().unwrap()], None);
        assert!(ok, "{out}");
    }
    // The cluster's root is the external CA's certificate; its key never reached Palisade.
    assert_eq!(manager.docker_ok(&["swarm", "ca"]).trim(), std::fs::read_to_string(cfssl.ca()).unwrap().trim());
    let info = manager.docker_ok(&["info"]);
    assert!(info.contains(&format!("cfssl: {}", cfssl.sign_url())), "{info}");
    assert!(!manager.log().contains("BEGIN EC PRIVATE KEY"));
    let node_ls = manager.docker_ok(&["node", "ls"]);
    assert!(node_ls.contains(&worker.node_id()), "{node_ls}");
}

#[test]
fn an_unreachable_or_plaintext_external_ca_is_refused_and_changes_nothing() {
    let node = Node::start();
    let addr = format!("127.0.0.1:{}", free_port());
    let dead = format!("protocol=cfssl,url=https://127.0.0.1:{}/api/v1/cfssl/sign", free_port());
    let err = node.docker_err(&["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", &addr, "--external-ca", &dead]);
    assert!(err.contains("cannot reach external CA"), "{err}");
    assert_eq!(node.info("{{.Swarm.LocalNodeState}}"), "inactive");
    assert!(!node.node_dir().exists(), "nothing half-made is stored");

    let plain = "protocol=cfssl,url=http://127.0.0.1:1/api/v1/cfssl/sign";
    let err = node.docker_err(&["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", &addr, "--external-ca", plain]);
    assert!(err.contains("must use https"), "{err}");
    assert_eq!(node.info("{{.Swarm.LocalNodeState}}"), "inactive");

    // The listen address is free again: a plain init now works.
    let out = node.docker(&["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", &addr]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn rotation_to_an_external_ca_and_a_restart_under_it() {
    let cfssl = Cfssl::start();
    let mut manager = Node::start();
    let worker = Node::start();
    let addr = manager.init(&[]);
    assert!(worker.join(&manager.join_token("worker"), &addr).status.success());
    let external = format!("protocol=cfssl,url={}", cfssl.sign_url());
    let out = Command::new("timeout")
        .args(["90", "docker", "-H", &manager.host(), "swarm", "ca", "--rotate", "--ca-cert", cfssl.ca().to_str().unwrap(), "--external-ca", &external])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let ca_pem = std::fs::read_to_string(cfssl.ca()).unwrap();
    assert_eq!(manager.docker_ok(&["swarm", "ca"]).trim(), ca_pem.trim());
    wait_for(Duration::from_secs(20), "nodes to hold cfssl-issued certificates and trust its CA", || {
        [&manager, &worker].iter().all(|n| {
            text(&n.node_dir().join("node.crt")).contains("Issuer: CN=Acme External CA,O=Acme") && n.read_node_file("root-ca.crt").trim() == ca_pem.trim()
        })
    });
    for node in [&manager, &worker] {
        let cert = node.node_dir().join("node.crt");
        let (ok, out) = openssl(&["verify", "-CAfile", cfssl.ca().to_str().unwrap(), "-untrusted", cert.to_str().unwrap(), cert.to_str().unwrap()], None);
        assert!(ok, "{out}");
    }
    assert!(cfssl.signed() >= 2);

    // A restarted leader keeps signing through cfssl (it never had the key).
    manager.restart();
    let joiner = Node::start();
    assert!(joiner.join(&manager.join_token("worker"), &addr).status.success(), "{}", manager.log());
    assert!(text(&joiner.node_dir().join("node.crt")).contains("Issuer: CN=Acme External CA,O=Acme"));
}
