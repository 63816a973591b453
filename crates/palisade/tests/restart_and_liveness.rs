#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Identity survives restarts; liveness follows heartbeats; removed nodes are refused.

mod common;

use std::time::Duration;

use common::{node_row, wait_for, Node};

#[test]
fn restarted_daemons_keep_node_id_cluster_id_and_certificate() {
    let mut manager = Node::start();
    let mut worker = Node::start();
    let addr = manager.init(&[]);
    assert!(worker.join(&manager.join_token("worker"), &addr).status.success());
    let before: Vec<(String, String, String)> = [&manager, &worker]
        .iter()
        .map(|n| (n.node_id(), n.info("{{.Swarm.NodeAddr}}"), n.read_node_file("node.crt")))
        .collect();
    let cluster_id = manager.info("{{.Swarm.Cluster.ID}}");
    let token = manager.join_token("worker");

    manager.restart();
    worker.restart();

    for (node, (id, addr, cert)) in [&manager, &worker].iter().zip(&before) {
        assert_eq!(&node.node_id(), id);
        assert_eq!(&node.info("{{.Swarm.NodeAddr}}"), addr);
        assert_eq!(&node.read_node_file("node.crt"), cert);
        assert_eq!(node.info("{{.Swarm.LocalNodeState}}"), "active");
    }
    assert_eq!(manager.info("{{.Swarm.Cluster.ID}}"), cluster_id);
    assert_eq!(manager.join_token("worker"), token, "join tokens persist (sealed in the store)");
    let worker_id = &before[1].0;
    wait_for(Duration::from_secs(20), "worker to be ready again", || node_row(&manager.docker_ok(&["node", "ls"]), worker_id)[2] == "Ready");
}

#[test]
fn a_killed_worker_goes_down_within_a_few_heartbeats() {
    let manager = Node::start();
    let mut worker = Node::start();
    let addr = manager.init(&[]); // 1 s heartbeats
    assert!(worker.join(&manager.join_token("worker"), &addr).status.success());
    let worker_id = worker.node_id();
    wait_for(Duration::from_secs(10), "worker ready", || node_row(&manager.docker_ok(&["node", "ls"]), &worker_id)[2] == "Ready");
    worker.kill();
    let killed_at = std::time::Instant::now();
    wait_for(Duration::from_secs(20), "killed worker to go down", || node_row(&manager.docker_ok(&["node", "ls"]), &worker_id)[2] == "Down");
    assert!(killed_at.elapsed() >= Duration::from_secs(2), "not marked down before missing heartbeats");
}

#[test]
fn a_removed_node_is_refused_from_then_on() {
    let manager = Node::start();
    let mut worker = Node::start();
    let addr = manager.init(&[]);
    assert!(worker.join(&manager.join_token("worker"), &addr).status.success());
    let worker_id = worker.node_id();
    manager.docker_ok(&["node", "rm", "--force", &worker_id]);
    wait_for(Duration::from_secs(20), "removed worker to learn it was removed", || {
        worker.info("{{.Swarm.LocalNodeState}}") == "error"
    });
    assert!(worker.info("{{.Swarm.Error}}").contains("was removed from the swarm"));
    // Its certificate is still cryptographically valid, but a restart does not get it back in.
    worker.restart();
    wait_for(Duration::from_secs(20), "restarted removed worker to be refused", || worker.info("{{.Swarm.LocalNodeState}}") == "error");
    assert!(!manager.docker_ok(&["node", "ls"]).contains(&worker_id));
}
