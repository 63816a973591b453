#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Autolock: with `--autolock` a restarted manager holds its keys sealed under the unlock key and
//! serves nothing of the cluster until `docker swarm unlock` gets the right key; the key rotates,
//! and autolock can be turned off and on with `swarm update`.

mod common;


use common::cluster::{init_args, unique, unlock_key_in, Cluster, CATCH_UP, DOCKER_TIMEOUT, ELECTION};
use common::{free_port, stderr, stdout, Node};

const LOCKED: &str = "Swarm is encrypted and needs to be unlocked";

fn state(node: &Node) -> String {
    node.info("{{.Swarm.LocalNodeState}}")
}

/// `docker swarm unlock` with `key` typed on stdin.
fn unlock(node: &Node, key: &str) -> std::process::Output {
    node.docker_input(&["swarm", "unlock"], Some(format!("{key}\n").as_bytes()), DOCKER_TIMEOUT)
}

/// The node is locked: `info` says so and cluster reads fail with docker's message.
fn assert_locked(node: &Node) {
    assert_eq!(state(node), "locked");
    for args in [&["node", "ls"][..], &["secret", "ls"][..]] {
        let err = node.docker_err_limited(args);
        assert!(err.contains(LOCKED), "docker {args:?} on a locked node: {err}");
    }
}

/// A well-formed key that is not `key` (one character of its body changed).
fn wrong_key(key: &str) -> String {
    let mut chars: Vec<char> = key.chars().collect();
    let i = chars.len() - 5;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

fn assert_refused(node: &Node, key: &str) {
    let out = unlock(node, key);
    assert!(!out.status.success(), "unlock with a wrong key succeeded");
    assert!(stderr(&out).contains("invalid key"), "{}", stderr(&out));
    assert_eq!(state(node), "locked", "a refused key leaves the node locked");
}

#[test]
fn a_single_autolocked_manager_unlocks_rotates_and_turns_autolock_off_and_on() {
    let mut node = Node::start();
    let mut args = init_args("127.0.0.1", free_port());
    args.push("--autolock".to_owned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = node.docker_ok_limited(&args);
    assert!(out.contains("To unlock a swarm manager after it restarts, run the `docker swarm unlock`"), "{out}");
    let key = unlock_key_in(&out);
    assert_eq!(node.docker_ok_limited(&["swarm", "unlock-key", "-q"]).trim(), key);
    assert_eq!(node.info("{{.Swarm.Cluster.Spec.EncryptionConfig.AutoLockManagers}}"), "true");
    let err = node.docker_err_limited(&["swarm", "unlock"]);
    assert!(err.contains("swarm is not locked"), "{err}");
    let secret = format!("locked-{}", unique());
    node.secret_create_ok(&secret, "v");

    // Restart: locked until the right key comes.
    node.restart();
    assert_locked(&node);
    assert_refused(&node, &wrong_key(&key));
    assert_refused(&node, "SWMKEY-1-not-a-key");
    let out = unlock(&node, &key);
    assert!(out.status.success(), "unlock: {}\n{}", stderr(&out), node.log_tail(40));
    assert_eq!(state(&node), "active");
    assert!(node.secret_names().contains(&secret), "the secret survives lock and unlock");
    node.docker_ok_limited(&["node", "ls"]);

    // Rotate: the new key is printed, and the old one stops working even when the manager is
    // killed the moment the rotation is answered.
    let rotated = node.docker_ok_limited(&["swarm", "unlock-key", "--rotate", "-q"]).trim().to_owned();
    assert!(rotated.starts_with("SWMKEY-1-") && rotated != key, "{rotated}");
    node.restart();
    assert_locked(&node);
    assert_refused(&node, &key);
    assert!(unlock(&node, &rotated).status.success());
    assert_eq!(node.docker_ok_limited(&["swarm", "unlock-key", "-q"]).trim(), rotated);
    assert!(node.secret_names().contains(&secret));

    // Autolock off: a restart needs no key, and there is no key to show.
    node.docker_ok_limited(&["swarm", "update", "--autolock=false"]);
    let out = node.docker_limited(&["swarm", "unlock-key", "-q"]);
    assert!(!out.status.success() && stderr(&out).contains("no unlock key is set"), "{}{}", stdout(&out), stderr(&out));
    node.restart();
    assert_eq!(state(&node), "active");
    assert!(node.secret_names().contains(&secret));

    // Autolock on again via update: the CLI prints a key, and a restart needs it.
    let out = node.docker_ok_limited(&["swarm", "update", "--autolock=true"]);
    let again = unlock_key_in(&out);
    assert_ne!(again, rotated);
    node.restart();
    assert_locked(&node);
    assert!(unlock(&node, &again).status.success());
    assert!(node.secret_names().contains(&secret));
}

#[test]
fn a_restarted_manager_of_three_stays_locked_until_unlocked_then_catches_up() {
    let mut c = Cluster::start_with(3, 0, &["--autolock"]);
    let all = [0, 1, 2];
    let leader = c.wait_for_leader(&all, ELECTION);
    let key = c[leader].docker_ok_limited(&["swarm", "unlock-key", "-q"]).trim().to_owned();
    let follower = c.other_manager(leader);
    assert_eq!(c[follower].docker_ok_limited(&["swarm", "unlock-key", "-q"]).trim(), key, "one key for the swarm");

    c[follower].restart();
    assert_locked(&c[follower]);
    // The other two are a quorum: writes go on while it is locked.
    let tag = unique();
    let while_locked = format!("while-locked-{tag}");
    c[leader].secret_create_ok(&while_locked, "v");
    assert_refused(&c[follower], &wrong_key(&key));
    assert!(unlock(&c[follower], &key).status.success());
    c.wait_secrets_everywhere(&[follower], &[while_locked].into_iter().collect(), CATCH_UP);
    c.wait_converged(&all, CATCH_UP);

    // A rotated key is the one every manager needs from then on.
    let rotated = c[follower].docker_ok_limited(&["swarm", "unlock-key", "--rotate", "-q"]).trim().to_owned();
    assert_ne!(rotated, key);
    let other = all.into_iter().find(|&i| i != follower && i != leader).unwrap();
    c.wait(CATCH_UP, "the rotated key on every manager", || {
        c[other].docker_limited(&["swarm", "unlock-key", "-q"]).stdout == format!("{rotated}\n").into_bytes()
    });
    c[other].restart();
    assert_locked(&c[other]);
    assert!(unlock(&c[other], &rotated).status.success(), "the rotated key unlocks another manager");
}
