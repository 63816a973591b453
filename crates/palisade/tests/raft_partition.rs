#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! A minority partition, made with network namespaces the test owns: three managers, each in its
//! own namespace on 198.18.0.x behind a bridge. The cut-off manager cannot commit, the majority
//! goes on, and after healing the minority converges on the majority's history (its own refused
//! write never appears).

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::{assert_no_quorum, unique, Cluster, Netns, CATCH_UP, ELECTION};
use common::Node;

/// How long a write on the isolated manager may take to be refused.
const REFUSAL: Duration = Duration::from_secs(20);

#[test]
fn the_netns_harness_cuts_and_heals_a_link() {
    // The harness itself: a daemon in one namespace serves its cluster port to another namespace
    // until the link is cut, and again once healed.
    let netns = Netns::new(2);
    let node = Node::start_in_netns(&netns.nodes[0]);
    let addr = format!("{}:2377", netns.ip(0));
    node.docker_ok_limited(&["swarm", "init", "--advertise-addr", &netns.ip(0), "--listen-addr", &addr]);
    assert!(netns.can_connect(1, &addr), "the bridge links the namespaces");
    netns.cut(0);
    assert!(!netns.can_connect(1, &addr), "a cut link isolates");
    netns.heal(0);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !netns.can_connect(1, &addr) {
        assert!(std::time::Instant::now() < deadline, "a healed link connects again");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(node);
}

#[test]
fn an_isolated_leader_cannot_commit_and_catches_up_after_healing() {
    let c = Cluster::start_in_netns(3);
    let netns = c.netns.as_ref().unwrap();
    let all = [0, 1, 2];
    let isolated = c.wait_for_leader(&all, ELECTION);
    let majority: Vec<usize> = all.into_iter().filter(|&i| i != isolated).collect();
    let tag = unique();

    let before = format!("before-{tag}");
    c[majority[0]].secret_create_ok(&before, "v");
    c.wait_secrets_everywhere(&all, &[before.clone()].into_iter().collect(), CATCH_UP);

    // Cut the leader off, and prove the cut both ways on the cluster port.
    assert!(netns.can_connect(majority[0], &c[isolated].addr()));
    netns.cut(isolated);
    assert!(!netns.can_connect(isolated, &c[majority[0]].addr()), "the isolated manager reaches no one");
    assert!(!netns.can_connect(majority[0], &c[isolated].addr()), "no one reaches the isolated manager");

    // The majority elects a leader among itself and commits.
    let new_leader = c.wait_for_leader(&majority, ELECTION + Duration::from_secs(5));
    assert_ne!(new_leader, isolated);
    let mut majority_writes = BTreeSet::new();
    for (i, &m) in majority.iter().enumerate() {
        let name = format!("majority-{tag}-{i}");
        c[m].secret_create_ok(&name, "v");
        majority_writes.insert(name);
    }

    // The isolated one cannot commit: its write fails, naming quorum or the leader.
    let refused = format!("minority-{tag}");
    let out = c[isolated].docker_input(&["secret", "create", &refused, "-"], Some(b"v"), REFUSAL);
    assert_no_quorum(&out, "secret create on the isolated manager");
    if let Some(listed) = c[isolated].try_secret_names() {
        assert!(listed.is_disjoint(&majority_writes), "the isolated manager cannot know the majority's writes yet: {listed:?}");
    }

    // Heal: the minority converges on the majority's history.
    netns.heal(isolated);
    let everything: BTreeSet<String> = majority_writes.iter().cloned().chain([before]).collect();
    c.wait_secrets_everywhere(&all, &everything, CATCH_UP);
    c.wait_converged(&all, CATCH_UP);
    for &i in &all {
        let listed = c[i].secret_names();
        assert!(!listed.contains(&refused), "member {i} lists the write the isolated manager refused: {listed:?}");
    }

    // The healed manager takes writes again (forwarded or as leader).
    let healed = format!("healed-{tag}");
    c[isolated].secret_create_ok(&healed, "v");
    c.wait_secrets_everywhere(&all, &[healed].into_iter().collect(), CATCH_UP);
}
