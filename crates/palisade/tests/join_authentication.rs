#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! A joining node authenticates the manager's root CA against its token before trusting it; the
//! token, not the joiner, decides the role.

mod common;

use common::{node_rows, stderr, x509, Node};

fn subject_of(node: &Node) -> String {
    x509(&node.node_dir().join("node.crt"), &["-subject"])
}

#[test]
fn a_token_for_another_root_is_refused_before_anything_is_sent() {
    let real = Node::start();
    let impostor = Node::start();
    let joiner = Node::start();
    real.init(&[]);
    let impostor_addr = impostor.init(&[]);
    // The joiner holds the real cluster's token but is pointed at another manager (as a
    // man-in-the-middle would present itself): that manager's CA does not match the digest.
    let token = real.join_token("worker");
    let err = stderr(&joiner.join(&token, &impostor_addr));
    assert!(err.contains("remote CA does not match fingerprint"), "{err}");
    assert_eq!(joiner.info("{{.Swarm.LocalNodeState}}"), "inactive");
    assert!(!joiner.node_dir().exists(), "a refused join leaves nothing on disk");
    assert_eq!(node_rows(&impostor.docker_ok(&["node", "ls"])).len(), 1, "the impostor never saw a join request");
    assert!(!impostor.log().contains("node joined"), "{}", impostor.log());
}

#[test]
fn the_token_decides_the_role_of_the_certificate() {
    let manager = Node::start();
    let worker = Node::start();
    let second_manager = Node::start();
    let addr = manager.init(&[]);
    assert!(worker.join(&manager.join_token("worker"), &addr).status.success());
    assert!(second_manager.join(&manager.join_token("manager"), &addr).status.success());
    assert!(subject_of(&worker).contains("OU=swarm-worker"), "{}", subject_of(&worker));
    assert!(subject_of(&second_manager).contains("OU=swarm-manager"), "{}", subject_of(&second_manager));
    assert_eq!(worker.info("{{.Swarm.ControlAvailable}}"), "false");
    assert_eq!(second_manager.info("{{.Swarm.ControlAvailable}}"), "true");
    // The second manager serves cluster state by forwarding to the leader over mTLS.
    assert_eq!(node_rows(&second_manager.docker_ok(&["node", "ls"])).len(), 3);
}

#[test]
fn malformed_tokens_are_refused_and_change_nothing() {
    let manager = Node::start();
    let joiner = Node::start();
    let addr = manager.init(&[]);
    let good = manager.join_token("worker");
    let (digest, secret) = good.rsplit_once('-').unwrap();
    let other_secret = format!("{digest}-{}", "0".repeat(secret.len()));
    for token in ["", "SWMTKN-1-abc", "not-a-token", &good.replace("SWMTKN-1", "SWMTKN-2"), &format!("{good}x"), &other_secret] {
        let err = stderr(&joiner.join(token, &addr));
        assert!(err.contains("A valid join token is necessary to join this cluster"), "{token:?}: {err}");
        assert_eq!(joiner.info("{{.Swarm.LocalNodeState}}"), "inactive");
    }
    assert_eq!(node_rows(&manager.docker_ok(&["node", "ls"])).len(), 1);
}
