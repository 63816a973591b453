//! The real `docker trust` CLI (no daemon needed) works against `palisade trust-server`:
//! `signer add` initialises a repository with a server-managed snapshot, `inspect` reads it back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::process::Command;

use common::{stderr, stdout, TrustServerProc};

const REPO: &str = "127.0.0.1:5000/newrepo";

#[test]
fn docker_trust_signer_add_then_inspect() {
    let server = TrustServerProc::start();
    let config = server.dir.path().join("docker");
    let tls = config.join("tls").join(format!("127.0.0.1:{}", server.port));
    std::fs::create_dir_all(&tls).unwrap();
    std::fs::copy(server.dir.path().join("ca.crt"), tls.join("ca.crt")).unwrap();
    let docker = |args: &[&str]| {
        let out = Command::new("docker")
            .args(args)
            .current_dir(server.dir.path())
            .env("DOCKER_CONFIG", &config)
            .env("DOCKER_CONTENT_TRUST_SERVER", server.url())
            .env("DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE", "root-pass")
            .env("DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE", "repo-pass")
            .output()
            .unwrap();
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(out.status.success(), "docker {args:?}: {text}\nserver log:\n{}", server.log());
        text
    };
    let pubkey = server.dir.path().join("alice.pub");
    docker(&["trust", "key", "generate", "alice", "--dir", server.dir.path().to_str().unwrap()]);
    let out = docker(&["trust", "signer", "add", "--key", pubkey.to_str().unwrap(), "alice", REPO]);
    assert!(out.contains(&format!("Successfully added signer: alice to {REPO}")), "{out}");
    let out = docker(&["trust", "inspect", "--pretty", REPO]);
    assert!(out.contains(&format!("No signatures for {REPO}")), "{out}");
    let alice = out.lines().find(|l| l.starts_with("alice")).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(alice.split_whitespace().nth(1).unwrap().len(), 12, "{out}");
    assert!(out.contains("Repository Key:") && out.contains("Root Key:"), "{out}");
    // docker uploaded no snapshot: the server generated and signed it
    let snap: serde_json::Value = serde_json::from_slice(&server.get_meta(REPO, "snapshot.json")).unwrap();
    assert_eq!(snap["signatures"][0]["method"], "eddsa");
}
