#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The `palisade` container verbs are clients of the same Engine API as the docker CLI.

mod common;

use std::time::Duration;

use common::{busybox_image, stderr, stdout, wait_for, Node};

#[test]
fn palisade_verbs_load_run_ps_logs_stop_rm_rmi() {
    let node = Node::start();
    let archive = busybox_image(node.dir.path(), "pb:latest");
    let out = node.palisade(&["load", "-i", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "Loaded image: pb:latest\n");
    assert!(stdout(&node.palisade(&["images"])).lines().any(|l| l.starts_with("pb ")));
    // docker's order, the daemon named before the verb (PALISADE_HOST points elsewhere).
    let before_verb = std::process::Command::new(env!("CARGO_BIN_EXE_palisade"))
        .args(["-H", &node.host(), "images"])
        .env("PALISADE_HOST", "unix:///nonexistent.sock")
        .output()
        .unwrap();
    assert!(stdout(&before_verb).lines().any(|l| l.starts_with("pb ")), "{}", stderr(&before_verb));
    // Also visible to the docker CLI.
    assert!(node.docker_ok(&["images"]).contains("pb"));

    let out = node.palisade(&["run", "--rm", "pb", "sh", "-c", "echo out; echo err >&2; exit 4"]);
    assert_eq!(out.status.code(), Some(4));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    // --rm: the daemon removes the container once it exited.
    wait_for(Duration::from_secs(10), "auto-remove", || node.docker_ok(&["ps", "-a", "-q"]).trim().is_empty());
    let status = stdout(&node.palisade(&["run", "--rm", "pb", "cat", "/proc/self/status"]));
    assert!(status.contains("NoNewPrivs:\t1"), "{status}");

    let out = node.palisade(&["run", "-d", "--name", "bg", "pb", "sh", "-c", "echo started; exec sleep 1000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim().len(), 64);
    assert!(stdout(&node.palisade(&["ps"])).lines().any(|l| l.ends_with(" bg") && l.contains("Up")));
    wait_for(Duration::from_secs(10), "logs", || stdout(&node.palisade(&["logs", "bg"])) == "started\n");
    assert_eq!(stdout(&node.palisade(&["stop", "-t", "1", "bg"])), "bg\n");
    assert!(stdout(&node.palisade(&["ps"])).lines().count() == 1);
    assert!(stdout(&node.palisade(&["ps", "-a"])).lines().any(|l| l.contains("Exited (137)")));
    assert_eq!(stdout(&node.palisade(&["rm", "bg"])), "bg\n");
    let out = node.palisade(&["rm", "bg"]);
    assert!(!out.status.success() && stderr(&out).contains("No such container: bg"), "{}", stderr(&out));

    let out = node.palisade(&["rmi", "pb"]);
    assert!(stdout(&out).contains("Untagged: pb:latest"), "{}", stderr(&out));
    assert!(!stdout(&node.palisade(&["images"])).contains("pb"));
}
