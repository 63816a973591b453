//! The real `docker trust` CLI (no daemon needed) works against `palisade trust-server`:
//! `signer add` initialises a repository with a server-managed snapshot, `inspect` reads it back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{TrustEnv, TrustServerProc};

const REPO: &str = "127.0.0.1:5000/newrepo";

#[test]
fn docker_trust_signer_add_then_inspect() {
    let server = TrustServerProc::start();
    let d = server.dir.path();
    let env = TrustEnv::new(d.join("docker"), &server.url(), &d.join("ca.crt"));
    let pubkey = d.join("alice.pub");
    env.docker_ok(&["key", "generate", "alice", "--dir", d.to_str().unwrap()]);
    let out = env.docker_ok(&["signer", "add", "--key", pubkey.to_str().unwrap(), "alice", REPO]);
    assert!(out.contains(&format!("Successfully added signer: alice to {REPO}")), "{out}\nserver log:\n{}", server.log());
    let out = env.docker_ok(&["inspect", "--pretty", REPO]);
    assert!(out.contains(&format!("No signatures for {REPO}")), "{out}");
    let alice = out.lines().find(|l| l.starts_with("alice")).unwrap_or_else(|| panic!("{out}"));
    assert_eq!(alice.split_whitespace().nth(1).unwrap().len(), 12, "{out}");
    assert!(out.contains("Repository Key:") && out.contains("Root Key:"), "{out}");
    // docker uploaded no snapshot: the server generated and signed it
    let snap: serde_json::Value = serde_json::from_slice(&server.get_meta(REPO, "snapshot.json")).unwrap();
    assert_eq!(snap["signatures"][0]["method"], "eddsa");
}
