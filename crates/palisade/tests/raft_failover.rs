#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Raft between managers: a killed leader is replaced within seconds, nothing committed before is
//! lost, writes go on, and the killed manager comes back as a member that has caught up. Five
//! managers survive two failures and refuse writes after a third.

mod common;

use std::collections::BTreeSet;
use std::time::Instant;

use common::cluster::{assert_no_quorum, unique, Cluster, CATCH_UP, ELECTION};

fn names(prefix: &str, n: usize) -> Vec<String> {
    let tag = unique();
    (0..n).map(|i| format!("{prefix}-{tag}-{i}")).collect()
}

#[test]
fn a_killed_leader_is_replaced_and_rejoins_with_the_writes_it_missed() {
    let mut c = Cluster::start(3, 0);
    let all: Vec<usize> = (0..3).collect();
    let old = c.wait_for_leader(&all, ELECTION);
    assert_eq!(c[0].info("{{.Swarm.Managers}} {{.Swarm.Nodes}} {{.Swarm.ControlAvailable}} {{.Swarm.LocalNodeState}}"), "3 3 true active");

    // Writes through every manager: followers forward to the leader.
    let before = names("before", 6);
    for (i, name) in before.iter().enumerate() {
        c[i % 3].secret_create_ok(name, &format!("value-{i}"));
    }
    let before_set: BTreeSet<String> = before.iter().cloned().collect();
    c.wait_secrets_everywhere(&all, &before_set, CATCH_UP);

    c[old].kill();
    let killed_at = Instant::now();
    let survivors = c.live();
    let new = c.wait_for_leader(&survivors, ELECTION);
    assert_ne!(new, old);
    assert!(killed_at.elapsed() <= ELECTION, "a new leader within {ELECTION:?} (took {:?})", killed_at.elapsed());
    let old_id = c[old].id.clone();
    c.wait(CATCH_UP, "the killed leader to show Unreachable", || {
        c[new].try_manager_statuses().is_some_and(|s| s.get(&old_id).map(String::as_str) == Some("Unreachable"))
    });

    // Nothing acknowledged before the kill is lost, on either survivor.
    for &s in &survivors {
        let listed = c[s].secret_names();
        assert!(listed.is_superset(&before_set), "member {s} lost secrets: {:?}", before_set.difference(&listed).collect::<Vec<_>>());
    }

    // Writes go on, through the new leader and through the other survivor.
    let after = names("after", 4);
    for (i, name) in after.iter().enumerate() {
        c[survivors[i % survivors.len()]].secret_create_ok(name, "v");
    }
    let everything: BTreeSet<String> = before.iter().chain(&after).cloned().collect();

    // The killed manager restarts as a member of the same cluster and catches up.
    c[old].restart();
    c.wait_secrets_everywhere(&[old], &everything, CATCH_UP);
    c.wait_converged(&all, CATCH_UP);
    let leaders = c.leaders(&all);
    assert_eq!(leaders.len(), 1, "exactly one leader after the rejoin: {leaders:?}\n{}", c.logs(30));
    let statuses = c[old].try_manager_statuses().unwrap();
    assert_eq!(statuses.values().filter(|s| *s == "Leader").count(), 1, "{statuses:?}");
    assert_eq!(statuses[&c[leaders[0]].id], "Leader", "{statuses:?}");

    // A write through the rejoined manager reaches the others.
    let last = names("rejoined", 1);
    c[old].secret_create_ok(&last[0], "v");
    c.wait_secrets_everywhere(&all, &last.iter().cloned().collect(), CATCH_UP);
}

#[test]
fn five_managers_survive_two_failures_and_refuse_writes_after_a_third() {
    let mut c = Cluster::start(5, 0);
    let all: Vec<usize> = (0..5).collect();
    let leader = c.wait_for_leader(&all, ELECTION);
    assert_eq!(c[leader].info("{{.Swarm.Managers}} {{.Swarm.Nodes}}"), "5 5");
    let before = names("five-before", 5);
    for (i, name) in before.iter().enumerate() {
        c[i].secret_create_ok(name, "v");
    }

    // Kill the leader and one follower: 3 of 5 remain, a quorum.
    let follower = c.other_manager(leader);
    c[leader].kill();
    c[follower].kill();
    let survivors = c.live();
    assert_eq!(survivors.len(), 3);
    let new = c.wait_for_leader(&survivors, ELECTION);
    assert!(survivors.contains(&new));
    let after = names("five-after", 3);
    for (i, name) in after.iter().enumerate() {
        c[survivors[i]].secret_create_ok(name, "v");
    }
    let everything: BTreeSet<String> = before.iter().chain(&after).cloned().collect();
    c.wait_secrets_everywhere(&survivors, &everything, CATCH_UP);
    let statuses = c[new].try_manager_statuses().unwrap();
    for gone in [leader, follower] {
        assert_eq!(statuses[&c[gone].id], "Unreachable", "{statuses:?}");
    }

    // A third failure leaves 2 of 5: no quorum, so writes fail on both that remain.
    c[new].kill();
    let rest = c.live();
    assert_eq!(rest.len(), 2);
    for &r in &rest {
        let out = c[r].secret_create(&names("no-quorum", 1)[0], "v");
        assert_no_quorum(&out, &format!("secret create on member {r} with 2 of 5 managers"));
    }
}
