#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Raft membership follows the docker CLI: demote and promote change who votes, demoting the
//! leader moves leadership, a manager leaves only with --force and is then demoted and removed.

mod common;

use common::cluster::{unique, Cluster, CATCH_UP, ELECTION};

/// `docker node ls` MANAGER STATUS of `id`, seen from member `via` ("" for a worker).
fn status_of(c: &Cluster, via: usize, id: &str) -> Option<String> {
    c[via].try_manager_statuses().and_then(|s| s.get(id).cloned())
}

#[test]
fn demote_promote_demote_the_leader_then_leave_and_remove_a_manager() {
    let c = Cluster::start(3, 0);
    let all = [0, 1, 2];
    let leader = c.wait_for_leader(&all, ELECTION);
    let follower = c.other_manager(leader);
    let third = all.into_iter().find(|&i| i != leader && i != follower).unwrap();
    let fid = c[follower].id.clone();

    // Demote a follower: it becomes a worker, with no manager status.
    assert!(c[leader].docker_ok_limited(&["node", "demote", &fid]).contains("demoted in the swarm"));
    c.wait(CATCH_UP, "the demoted follower to become a worker", || {
        status_of(&c, leader, &fid).as_deref() == Some("") && c[follower].info("{{.Swarm.ControlAvailable}}") == "false"
    });
    assert_eq!(c[leader].info("{{.Swarm.Managers}} {{.Swarm.Nodes}}"), "2 3");
    let err = c[follower].docker_err_limited(&["node", "ls"]);
    assert!(err.contains("Worker nodes can't be used to view or modify cluster state"), "{err}");

    // Promote it back: a voting manager again, and writes through it commit.
    assert!(c[leader].docker_ok_limited(&["node", "promote", &fid]).contains("promoted to a manager in the swarm"));
    c.wait(CATCH_UP, "the promoted node to be a reachable manager", || {
        status_of(&c, leader, &fid).as_deref() == Some("Reachable") && c[follower].info("{{.Swarm.ControlAvailable}}") == "true"
    });
    assert_eq!(c[leader].info("{{.Swarm.Managers}} {{.Swarm.Nodes}}"), "3 3");
    let name = format!("promoted-{}", unique());
    c[follower].secret_create_ok(&name, "v");
    c.wait_secrets_everywhere(&all, &[name].into_iter().collect(), CATCH_UP);

    // Demote the leader (asked through another manager): leadership moves on.
    let lid = c[leader].id.clone();
    c[third].docker_ok_limited(&["node", "demote", &lid]);
    let new_leader = c.wait_for_leader(&[follower, third], ELECTION + CATCH_UP);
    c.wait(CATCH_UP, "the demoted leader to be neither Leader nor a manager", || {
        status_of(&c, new_leader, &lid).as_deref() == Some("") && c[leader].info("{{.Swarm.ControlAvailable}}") == "false"
    });
    assert!(!c[leader].reports_leader());
    assert_eq!(c[new_leader].info("{{.Swarm.Managers}} {{.Swarm.Nodes}}"), "2 3");

    // Back to three managers for the leave.
    c[new_leader].docker_ok_limited(&["node", "promote", &lid]);
    c.wait_converged(&all, CATCH_UP);
    let leader = c.wait_for_leader(&all, ELECTION);
    let leaver = c.other_manager(leader);
    let lvid = c[leaver].id.clone();

    // docker refuses to let a manager leave without --force (moby's wording).
    let err = c[leaver].docker_err_limited(&["swarm", "leave"]);
    assert!(err.contains("You are attempting to leave the swarm on a node that is participating as a manager."), "{err}");
    assert!(err.contains("Use `--force` to suppress this message."), "{err}");
    assert_eq!(c[leaver].info("{{.Swarm.LocalNodeState}}"), "active", "a refused leave changes nothing");

    assert_eq!(c[leaver].docker_ok_limited(&["swarm", "leave", "--force"]).trim(), "Node left the swarm.");
    assert_eq!(c[leaver].info("{{.Swarm.LocalNodeState}}"), "inactive");
    c.wait(CATCH_UP, "the departed manager to be Down and Unreachable", || {
        c[leader].docker_ok_limited(&["node", "ls", "--format", "{{.ID}} {{.Status}} {{.ManagerStatus}}"]).lines().any(|l| l == format!("{lvid} Down Unreachable"))
    });

    // A manager still in the raft member list cannot be removed; demoted first, it can.
    let err = c[leader].docker_err_limited(&["node", "rm", &lvid]);
    assert!(err.contains("is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal"), "{err}");
    c[leader].docker_ok_limited(&["node", "demote", &lvid]);
    c.wait(CATCH_UP, "the departed manager to be removable", || c[leader].docker_limited(&["node", "rm", &lvid]).status.success());
    let statuses = c[leader].try_manager_statuses().unwrap();
    assert!(!statuses.contains_key(&lvid), "{statuses:?}");
    assert_eq!(c[leader].info("{{.Swarm.Managers}} {{.Swarm.Nodes}}"), "2 2");

    // Two managers of two: a quorum, so writes still commit on both.
    let remaining: Vec<usize> = all.into_iter().filter(|&i| i != leaver).collect();
    let name = format!("after-leave-{}", unique());
    c[remaining[1]].secret_create_ok(&name, "v");
    c.wait_secrets_everywhere(&remaining, &[name].into_iter().collect(), CATCH_UP);
}
