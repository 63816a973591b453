#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The stock docker CLI drives a manager and a second daemon through the whole swarm lifecycle;
//! each node's audit log signs its heads with that node's certificate once it has one.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use common::{node_row, node_rows, openssl, stderr, stdout, wait_for, x509, Node};

#[test]
fn docker_cli_drives_init_join_promote_demote_rm_and_leave() {
    let manager = Node::start();
    let second = Node::start();

    // init
    let addr = format!("127.0.0.1:{}", common::free_port());
    let out = manager.docker_ok(&["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", &addr, "--dispatcher-heartbeat", "1s"]);
    let manager_id = manager.node_id();
    assert!(out.starts_with(&format!("Swarm initialized: current node ({manager_id}) is now a manager.")), "{out}");
    let worker_token = manager.join_token("worker");
    assert!(out.contains(&format!("docker swarm join --token {worker_token} {addr}")), "{out}");
    assert_eq!(manager.info("{{.Swarm.ControlAvailable}}"), "true");
    assert_eq!(manager.info("{{.Swarm.Cluster.Spec.Dispatcher.HeartbeatPeriod}}"), "1s");

    // join-token, plain and -q, for both roles
    let manager_token = manager.join_token("manager");
    assert_ne!(worker_token, manager_token);
    for (role, token) in [("worker", &worker_token), ("manager", &manager_token)] {
        let text = manager.docker_ok(&["swarm", "join-token", role]);
        assert!(text.contains(&format!("To add a {role} to this swarm, run the following command:")), "{text}");
        assert!(text.contains(&format!("docker swarm join --token {token} {addr}")), "{text}");
    }

    // join as worker
    let out = second.join(&worker_token, &addr);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "This node joined a swarm as a worker.");
    let worker_id = second.node_id();
    assert_eq!(second.info("{{.Swarm.ControlAvailable}}"), "false");
    assert!(second.docker_err(&["node", "ls"]).contains("Worker nodes can't be used to view or modify cluster state"));

    // node ls: roles and status
    let table = manager.docker_ok(&["node", "ls"]);
    assert_eq!(node_rows(&table).len(), 2, "{table}");
    let leader_row = node_row(&table, &manager_id);
    assert_eq!(&leader_row[2..5], ["Ready", "Active", "Leader"], "{table}");
    let worker_row = node_row(&table, &worker_id);
    assert_eq!(&worker_row[2..4], ["Ready", "Active"], "{table}");
    assert_eq!(worker_row.len(), 5, "a worker has no MANAGER STATUS: {table}");
    assert!(table.contains(&format!("{manager_id} *")), "the current node is starred: {table}");

    // node inspect: JSON and pretty
    let json: serde_json::Value = serde_json::from_str(&manager.docker_ok(&["node", "inspect", &worker_id])).unwrap();
    assert_eq!(json[0]["ID"], worker_id.as_str());
    assert_eq!(json[0]["Spec"]["Role"], "worker");
    assert_eq!(json[0]["Status"]["Addr"], "127.0.0.1");
    let pretty = manager.docker_ok(&["node", "inspect", "--pretty", "self"]);
    assert!(pretty.contains(&manager_id) && pretty.contains("Leader:\t\tYes"), "{pretty}");

    // promote: the worker renews into a manager certificate and can read cluster state
    assert!(manager.docker_ok(&["node", "promote", &worker_id]).contains("promoted to a manager"));
    wait_for(Duration::from_secs(20), "promoted node to become a manager", || second.info("{{.Swarm.ControlAvailable}}") == "true");
    assert!(second.read_node_file("node.crt").contains("BEGIN CERTIFICATE"));
    let table = second.docker_ok(&["node", "ls"]);
    assert_eq!(node_row(&table, &worker_id)[4], "Reachable", "{table}");
    assert_eq!(node_row(&table, &manager_id)[4], "Leader", "{table}");

    // demote: back to a worker
    assert!(manager.docker_ok(&["node", "demote", &worker_id]).contains("demoted"));
    wait_for(Duration::from_secs(20), "demoted node to become a worker", || second.info("{{.Swarm.ControlAvailable}}") == "false");

    // node rm refuses a live node, then the worker leaves and is removed
    let err = manager.docker_err(&["node", "rm", &worker_id]);
    assert!(err.contains("is not down and can't be removed"), "{err}");
    assert_eq!(second.docker_ok(&["swarm", "leave"]).trim(), "Node left the swarm.");
    assert_eq!(second.info("{{.Swarm.LocalNodeState}}"), "inactive");
    wait_for(Duration::from_secs(20), "left node to go down", || {
        node_row(&manager.docker_ok(&["node", "ls"]), &worker_id)[2] == "Down"
    });
    assert_eq!(manager.docker_ok(&["node", "rm", &worker_id]).trim(), worker_id);
    assert_eq!(node_rows(&manager.docker_ok(&["node", "ls"])).len(), 1);

    // join again, as a manager this time
    let out = second.join(&manager_token, &addr);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "This node joined a swarm as a manager.");
    assert!(second.docker_ok(&["node", "ls"]).contains(&manager_id));

    // a secret made and removed: recorded by name, its value never
    let made = manager.docker_input(&["secret", "create", "db_password", "-"], Some(b"s3cr3t-value-never-logged"), common::CALL_LIMIT);
    assert!(made.status.success(), "{}", stderr(&made));
    let secret = format!("secret {}", stdout(&made).trim());
    manager.docker_ok(&["secret", "rm", "db_password"]);

    // the last manager cannot leave without --force; with it, the swarm is gone
    let err = manager.docker_err(&["swarm", "leave"]);
    assert!(err.contains("You are attempting to leave the swarm on a node that is participating as a manager"), "{err}");
    manager.docker_ok(&["swarm", "leave", "--force"]);
    assert_eq!(manager.info("{{.Swarm.LocalNodeState}}"), "inactive");
    assert!(!manager.data_root().join("store").exists(), "leave --force erases the cluster store");

    // Each node's audit log holds what its Engine API was asked, and verifies.
    let record = |a: &str, t: &str, o: &str| (a.to_owned(), t.to_owned(), o.to_owned());
    let (second_log, intact) = second.audit_records();
    assert!(intact);
    assert_eq!(second_log.iter().filter(|r| **r == record("swarm.join", &addr, "success")).count(), 2, "{second_log:?}");
    assert!(second_log.contains(&record("swarm.leave", "swarm", "success")), "{second_log:?}");
    let (manager_log, intact) = manager.audit_records();
    assert!(intact);
    assert!(manager_log.contains(&record("secret.create", &secret, "success")), "{manager_log:?}");
    assert!(manager_log.contains(&record("secret.remove", &secret, "success")), "{manager_log:?}");
    assert!(manager_log.contains(&record("swarm.leave", "swarm", "failure")), "{manager_log:?}");
    assert!(manager_log.contains(&record("swarm.leave", "swarm", "success")), "{manager_log:?}");
    let raw = std::fs::read_to_string(manager.data_root().join("audit/log.jsonl")).unwrap();
    assert!(!raw.contains("s3cr3t-value-never-logged") && !raw.contains("db_password"), "a secret's value or name reached the audit log");
}

#[test]
fn join_token_rotation_replaces_only_the_named_token_and_refuses_the_old_one() {
    let manager = Node::start();
    let joiner = Node::start();
    let addr = manager.init(&[]);
    let (old_worker, old_manager) = (manager.join_token("worker"), manager.join_token("manager"));

    let out = manager.docker_ok(&["swarm", "join-token", "--rotate", "worker"]);
    assert!(out.starts_with("Successfully rotated worker join token."), "{out}");
    let new_worker = manager.join_token("worker");
    assert_ne!(new_worker, old_worker);
    assert_eq!(manager.join_token("manager"), old_manager, "rotating the worker token leaves the manager token alone");
    // The root CA did not change, so the digest part is the same.
    assert_eq!(new_worker.rsplit_once('-').unwrap().0, old_worker.rsplit_once('-').unwrap().0);

    let err = stderr(&joiner.join(&old_worker, &addr));
    assert!(err.contains("A valid join token is necessary to join this cluster"), "{err}");
    assert_eq!(joiner.info("{{.Swarm.LocalNodeState}}"), "inactive", "a refused join leaves no state");
    assert!(joiner.join(&new_worker, &addr).status.success());
}

#[test]
fn palisade_cli_offers_the_same_verbs() {
    let node = Node::start();
    let addr = format!("127.0.0.1:{}", common::free_port());
    let out = node.palisade(&["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", &addr]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = node.node_id();
    assert!(stdout(&out).contains(&format!("current node ({id}) is now a manager")));
    let ls = stdout(&node.palisade(&["node", "ls"]));
    assert_eq!(&node_row(&ls, &id)[2..5], ["Ready", "Active", "Leader"], "{ls}");
    let token = stdout(&node.palisade(&["swarm", "join-token", "-q", "worker"]));
    assert_eq!(token.trim(), node.join_token("worker"));
    let ca = stdout(&node.palisade(&["swarm", "ca"]));
    assert_eq!(ca.trim(), node.docker_ok(&["swarm", "ca"]).trim());
    let out = node.palisade(&["swarm", "leave"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("Removing the last manager erases all current state"), "{}", stderr(&out));
}

#[test]
fn audit_heads_are_signed_with_each_nodes_certificate() {
    let manager = Node::start();
    let worker = Node::start();
    // Outside a swarm a node has no certificate: its log signs with its own key (every 100 entries).
    worker.record_refused_calls(100);
    let addr = manager.init(&[]);
    assert!(worker.join(&manager.join_token("worker"), &addr).status.success());
    // In the swarm, each node signs with the key of its own node certificate.
    manager.record_refused_calls(100);
    worker.record_refused_calls(99); // after its swarm.join entry: the head falls on entry 200
    let (manager_id, worker_id) = (manager.node_id(), worker.node_id());

    let verified = |node: &Node| {
        let out = node.audit_verify(&[]);
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let report = verified(&manager);
    assert!(report.contains(&format!("head 1 (entry 100): signed by node {manager_id}")), "{report}");
    let report = verified(&worker);
    assert!(report.contains("head 1 (entry 100): signed with the log's own key"), "{report}");
    assert!(report.contains(&format!("head 2 (entry 200): signed by node {worker_id}")), "{report}");
    let json: serde_json::Value = serde_json::from_slice(&worker.audit_verify(&["--json"]).stdout).unwrap();
    assert_eq!(json["heads"][1]["signed_by"]["node"]["node_id"], worker_id.as_str(), "{json}");

    // openssl verifies the certificate a head carries against the node's trust bundle, and
    // reads the node's ID from it.
    let files = tempfile::tempdir().unwrap();
    for (node, id, line) in [(&manager, &manager_id, 1), (&worker, &worker_id, 2)] {
        let cert = head_certificate(node, line, files.path());
        let bundle = node.node_dir().join("root-ca.crt");
        let (ok, out) = openssl(&["verify", "-CAfile", bundle.to_str().unwrap(), cert.to_str().unwrap()], None);
        assert!(ok, "{out}");
        assert!(x509(&cert, &["-subject"]).contains(&format!("CN={id}")));
    }

    // Checked against another CA (made by openssl, named as the cluster's), the head is refused by line.
    let p = |name: &str| files.path().join(name).to_str().unwrap().to_owned();
    let (key, ca) = (p("other.key"), p("other.crt"));
    let (ok, out) = openssl(&["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=swarm-ca", "-days", "1", "-keyout", &key, "-out", &ca], None);
    assert!(ok, "{out}");
    let out = manager.audit_verify(&["--ca", &ca]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("the signed head on line 1 of heads.jsonl (for entry 100) is not signed by a node of the trusted cluster"), "{err}");
}

/// The leaf certificate that head `line` of `node`'s audit log carries, as a PEM file in `dir`.
fn head_certificate(node: &Node, line: usize, dir: &Path) -> PathBuf {
    let heads = std::fs::read_to_string(node.data_root().join("audit/heads.jsonl")).unwrap();
    let head: serde_json::Value = serde_json::from_str(heads.lines().nth(line - 1).unwrap()).unwrap();
    let der = base64::engine::general_purpose::STANDARD.decode(head["certificates"][0].as_str().unwrap()).unwrap();
    let (der_file, pem_file) = (dir.join(format!("head-{line}.der")), dir.join(format!("head-{line}.pem")));
    std::fs::write(&der_file, der).unwrap();
    let (ok, out) = openssl(&["x509", "-inform", "DER", "-in", der_file.to_str().unwrap(), "-out", pem_file.to_str().unwrap()], None);
    assert!(ok, "{out}");
    pem_file
}
