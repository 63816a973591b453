#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Bad requests get dockerd's status and message and change nothing.

mod common;

use common::{node_rows, Node};

#[test]
fn swarm_and_node_requests_in_the_wrong_state_are_refused() {
    let manager = Node::start();
    let idle = Node::start();
    assert!(idle.docker_err(&["node", "ls"]).contains("This node is not a swarm manager. Use \"docker swarm init\""));
    assert!(idle.docker_err(&["swarm", "leave"]).contains("This node is not part of a swarm"));
    assert!(idle.docker_err(&["swarm", "join-token", "worker"]).contains("This node is not a swarm manager"));

    let addr = manager.init(&[]);
    let (id, cluster) = (manager.node_id(), manager.info("{{.Swarm.Cluster.ID}}"));
    let err = manager.docker_err(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
    assert!(err.contains("This node is already part of a swarm. Use \"docker swarm leave\""), "{err}");
    let err = manager.docker_err(&["swarm", "join", "--token", &manager.join_token("worker"), &addr]);
    assert!(err.contains("This node is already part of a swarm"), "{err}");
    assert_eq!((manager.node_id(), manager.info("{{.Swarm.Cluster.ID}}")), (id, cluster));

    let err = manager.docker_err(&["node", "inspect", "nosuchnode"]);
    assert!(err.contains("node nosuchnode not found"), "{err}");
    let err = manager.docker_err(&["node", "rm", "nosuchnode"]);
    assert!(err.contains("node nosuchnode not found"), "{err}");
    let err = manager.docker_err(&["node", "demote", &manager.node_id()]);
    assert!(err.contains("attempting to demote the last manager of the swarm"), "{err}");
    assert_eq!(node_rows(&manager.docker_ok(&["node", "ls"])).len(), 1);
}

#[test]
fn certificate_expiry_below_one_hour_is_refused() {
    let node = Node::start();
    let err = node.docker_err(&["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", &format!("127.0.0.1:{}", common::free_port()), "--cert-expiry", "30m"]);
    assert!(err.contains("minimum certificate expiry time is: 1h0m0s"), "{err}");
    assert_eq!(node.info("{{.Swarm.LocalNodeState}}"), "inactive");
    assert!(!node.data_root().join("node").exists(), "a refused init leaves nothing behind");

    node.init(&[]);
    let err = node.docker_err(&["swarm", "update", "--cert-expiry", "30m"]);
    assert!(err.contains("minimum certificate expiry time is: 1h0m0s"), "{err}");
    assert!(node.docker_ok(&["info"]).contains("Expiry Duration: 3 months"));
    node.docker_ok(&["swarm", "update", "--cert-expiry", "720h"]);
    assert!(node.docker_ok(&["info"]).contains("Expiry Duration: 4 weeks"));
}

#[test]
fn stale_updates_are_refused() {
    let node = Node::start();
    node.init(&[]);
    // An update carrying the version read before another update is refused.
    let version = node.info("{{.Swarm.Cluster.Version.Index}}");
    node.docker_ok(&["swarm", "join-token", "--rotate", "worker"]);
    let out = std::process::Command::new("curl")
        .args(["-s", "--unix-socket", node.socket.to_str().unwrap(), "-X", "POST", "-H", "Content-Type: application/json", "-d", "{}"])
        .arg(format!("http://x/v1.50/swarm/update?version={version}&rotateWorkerToken=true"))
        .output()
        .unwrap();
    let body = String::from_utf8_lossy(&out.stdout);
    assert!(body.contains("update out of sequence"), "{body}");
}
