#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! `docker swarm init --force-new-cluster` on the last manager standing: quorum lost with two of
//! three managers dead, the survivor becomes a one-manager cluster that keeps every node, secret,
//! label, the root CA, the cluster ID and the join tokens, and takes writes again.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::{assert_no_quorum, unique, Cluster, CATCH_UP, ELECTION};
use common::stderr;

#[test]
fn the_survivor_of_a_lost_quorum_restarts_the_cluster_with_its_state() {
    let mut c = Cluster::start(3, 0);
    let all = [0, 1, 2];
    let leader = c.wait_for_leader(&all, ELECTION);
    let tag = unique();

    let secrets: BTreeSet<String> = (0..3).map(|i| format!("fnc-{tag}-{i}")).collect();
    for (i, name) in secrets.iter().enumerate() {
        c[i].secret_create_ok(name, "v");
    }
    for i in all {
        let id = c[i].id.clone();
        c[leader].docker_ok_limited(&["node", "update", "--label-add", &format!("slot=n{i}"), &id]);
    }
    c.wait_secrets_everywhere(&all, &secrets, CATCH_UP);
    let ids: BTreeSet<String> = all.iter().map(|&i| c[i].id.clone()).collect();
    let root_ca = c[leader].docker_ok_limited(&["swarm", "ca"]);
    let tls_info = c[leader].info("{{json .Swarm.Cluster.TLSInfo}}");
    let cluster_id = c[leader].info("{{.Swarm.Cluster.ID}}");
    let tokens = (c[leader].join_token("worker"), c[leader].join_token("manager"));

    // The survivor is a follower: the leader and the other follower die.
    let survivor = c.other_manager(leader);
    for i in all.into_iter().filter(|&i| i != survivor) {
        c[i].kill();
    }
    let out = c[survivor].secret_create(&format!("lost-{tag}"), "v");
    assert_no_quorum(&out, "secret create with 1 of 3 managers");

    let (ip, addr) = (c[survivor].ip.clone(), c[survivor].addr());
    let out = c[survivor].docker_input(&["swarm", "init", "--force-new-cluster", "--advertise-addr", &ip, "--listen-addr", &addr], None, Duration::from_secs(60));
    assert!(out.status.success(), "force-new-cluster: {}\n{}", stderr(&out), c[survivor].log_tail(60));
    let sid = c[survivor].id.clone();
    assert!(common::stdout(&out).starts_with(&format!("Swarm initialized: current node ({sid}) is now a manager.")), "{}", common::stdout(&out));

    // A one-manager cluster with the old state.
    assert_eq!(c.wait_for_leader(&[survivor], ELECTION), survivor);
    assert_eq!(c[survivor].node_id(), sid, "same node ID");
    let after = format!("after-{tag}");
    c[survivor].secret_create_ok(&after, "v");
    let listed = c[survivor].secret_names();
    assert!(listed.is_superset(&secrets) && listed.contains(&after), "{listed:?}");
    let statuses = c[survivor].try_manager_statuses().unwrap();
    assert_eq!(statuses.keys().cloned().collect::<BTreeSet<_>>(), ids, "the same nodes: {statuses:?}");
    assert_eq!(statuses[&sid], "Leader");
    assert_eq!(statuses.values().filter(|s| *s == "Leader").count(), 1, "{statuses:?}");
    for i in all {
        assert_eq!(c[survivor].node_label(&c[i].id, "slot").as_deref(), Some(format!("n{i}").as_str()), "label of member {i}");
    }
    assert_eq!(c[survivor].docker_ok_limited(&["swarm", "ca"]), root_ca, "same root CA");
    assert_eq!(c[survivor].info("{{json .Swarm.Cluster.TLSInfo}}"), tls_info);
    assert_eq!(c[survivor].info("{{.Swarm.Cluster.ID}}"), cluster_id, "same cluster");
    assert_eq!((c[survivor].join_token("worker"), c[survivor].join_token("manager")), tokens, "same join tokens");
    assert_eq!(c[survivor].info("{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}"), "active true");
}
