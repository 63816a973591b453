#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Orchestration with the docker CLI on a manager and workers: rolling updates with the given
//! parallelism, rollback, a secret swapped by `--secret-rm/--secret-add`, a drained node and a
//! killed node whose tasks move elsewhere (which then, and only then, receives their secret),
//! and a global service that follows the nodes that join. One cluster, in the order a user
//! meets them.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::cluster::{unique, Cluster};
use common::{free_port, stdout, Node};

/// Longest a change may take to show in the tasks.
const CONVERGE: Duration = Duration::from_secs(60);

/// `(node ID, image)` of each running task of `service`.
fn running(cluster: &Cluster, service: &str) -> Vec<(String, String)> {
    let out = cluster[0].docker_limited(&[
        "service", "ps", service, "--no-trunc", "--filter", "desired-state=running", "--format", "{{.ID}}",
    ]);
    let ids: Vec<String> = stdout(&out).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    ids.iter()
        .filter_map(|id| {
            let out = cluster[0].docker_limited(&[
                "inspect", "--type", "task", id, "--format", "{{.NodeID}}|{{.Status.State}}|{{.Spec.ContainerSpec.Image}}",
            ]);
            let text = stdout(&out);
            let parts: Vec<&str> = text.trim().split('|').collect();
            (parts.len() == 3 && parts[1] == "running").then(|| (parts[0].to_owned(), parts[2].to_owned()))
        })
        .collect()
}

fn wait_images(cluster: &Cluster, service: &str, image: &str, count: usize) {
    cluster.wait(CONVERGE, &format!("{count} tasks of {service} running {image}"), || {
        let tasks = running(cluster, service);
        tasks.len() == count && tasks.iter().all(|(_, i)| i == image)
    });
}

fn update_state(cluster: &Cluster, service: &str) -> String {
    cluster[0].docker_ok_limited(&["service", "inspect", service, "--format", "{{if .UpdateStatus}}{{.UpdateStatus.State}}{{end}}"]).trim().to_owned()
}

/// How many times the leader's log says it delivered task files to `node`.
fn deliveries_to(cluster: &Cluster, node: &str) -> usize {
    cluster[0].log().lines().filter(|l| l.contains("delivered task files") && l.contains(node)).count()
}

#[test]
fn services_roll_move_and_follow_the_nodes() {
    let mut cluster = Cluster::start(1, 2);
    for i in 0..3 {
        cluster[i].load_busybox("busybox:latest");
        cluster[i].docker_ok_limited(&["tag", "busybox:latest", "busybox:v2"]);
    }
    let (a, b) = (cluster[1].id.clone(), cluster[2].id.clone());
    let first = format!("first-{}", unique());
    let second = format!("second-{}", unique());
    cluster[0].secret_create_ok("s1", &first);
    cluster[0].secret_create_ok("s2", &second);

    cluster[0].docker_ok_limited(&[
        "service", "create", "--no-resolve-image", "-d", "--name", "web", "--replicas", "2", "--constraint", "node.role==worker",
        "--update-parallelism", "1", "--update-delay", "3s", "--secret", "source=s1,target=pw",
        "busybox:latest", "sh", "-c", "cat /run/secrets/pw; echo; sleep 1000",
    ]);
    cluster[0].docker_ok_limited(&["service", "create", "--no-resolve-image", "-d", "--name", "mon", "--mode", "global", "busybox:latest", "sleep", "1000"]);
    wait_images(&cluster, "web", "busybox:latest", 2);
    let nodes: BTreeSet<String> = running(&cluster, "web").into_iter().map(|(n, _)| n).collect();
    assert_eq!(nodes, BTreeSet::from([a.clone(), b.clone()]), "spread over both workers");
    cluster.wait(CONVERGE, "a global task on every node", || running(&cluster, "mon").len() == 3);

    // Rolling update, one task at a time with 3 s between: both images run side by side a while.
    cluster[0].docker_ok_limited(&["service", "update", "--no-resolve-image", "-d", "--image", "busybox:v2", "web"]);
    let mut mixed = false;
    cluster.wait(CONVERGE, "the update to finish", || {
        let images: BTreeSet<String> = running(&cluster, "web").into_iter().map(|(_, i)| i).collect();
        mixed |= images.len() == 2;
        images == BTreeSet::from(["busybox:v2".to_owned()]) && update_state(&cluster, "web") == "completed"
    });
    assert!(mixed, "with parallelism 1 the old and the new image ran side by side");
    wait_images(&cluster, "web", "busybox:v2", 2);

    // Rollback returns to the previous spec.
    cluster[0].docker_ok_limited(&["service", "update", "-d", "--rollback", "web"]);
    wait_images(&cluster, "web", "busybox:latest", 2);
    cluster.wait(CONVERGE, "the rollback to complete", || update_state(&cluster, "web") == "rollback_completed");

    // Docker's way to rotate a secret: the new tasks read the new value at the same path.
    cluster[0].docker_ok_limited(&["service", "update", "-d", "--secret-rm", "s1", "--secret-add", "source=s2,target=pw", "web"]);
    cluster.wait(CONVERGE, "tasks with the new secret", || {
        let logs = stdout(&cluster[0].docker_limited(&["service", "logs", "web"]));
        logs.matches(&second).count() >= 2
    });
    let spec = cluster[0].docker_ok_limited(&["service", "inspect", "web", "--format", "{{json .Spec.TaskTemplate.ContainerSpec.Secrets}}"]);
    assert!(spec.contains("\"SecretName\":\"s2\"") && !spec.contains("\"SecretName\":\"s1\""), "{spec}");
    cluster[0].docker_ok_limited(&["secret", "rm", "s1"]);

    // Draining worker A moves its web task to B and stops its global task.
    cluster[0].docker_ok_limited(&["node", "update", "--availability", "drain", &a]);
    cluster.wait(CONVERGE, "web on B only, mon off A", || {
        let web = running(&cluster, "web");
        let mon = running(&cluster, "mon");
        web.len() == 2 && web.iter().all(|(n, _)| *n == b) && mon.len() == 2 && mon.iter().all(|(n, _)| *n != a)
    });
    cluster.wait(Duration::from_secs(20), "A's containers to be removed", || stdout(&cluster[1].docker_limited(&["ps", "-aq"])).trim().is_empty());
    cluster[0].docker_ok_limited(&["node", "update", "--availability", "active", &a]);
    cluster.wait(CONVERGE, "mon back on A", || running(&cluster, "mon").iter().any(|(n, _)| *n == a));

    // Killing worker B: its tasks move to A, which receives their secret now.
    let before = deliveries_to(&cluster, &a);
    cluster[2].kill();
    cluster.wait(CONVERGE, "web rescheduled on A", || {
        let web = running(&cluster, "web");
        web.len() == 2 && web.iter().all(|(n, _)| *n == a)
    });
    assert!(deliveries_to(&cluster, &a) >= before + 2, "A received the secret for each task it took over");
    let logs = stdout(&cluster[0].docker_limited(&["service", "logs", "web"]));
    assert!(logs.contains(&second), "{logs}");
    let down = cluster[0].docker_ok_limited(&["node", "inspect", &b, "--format", "{{.Status.State}}"]);
    assert_eq!(down.trim(), "down");

    // A global service follows a node that joins.
    let joiner = Node::start();
    joiner.load_busybox("busybox:latest");
    let token = cluster[0].join_token("worker");
    let listen = format!("127.0.0.9:{}", free_port());
    joiner.docker_ok_limited(&["swarm", "join", "--token", &token, "--advertise-addr", "127.0.0.9", "--listen-addr", &listen, &cluster[0].addr()]);
    let joined = joiner.node_id();
    cluster.wait(CONVERGE, "mon on the new node", || running(&cluster, "mon").iter().any(|(n, _)| *n == joined));

    // Scaling up places the new replicas on the live, active workers.
    cluster[0].docker_ok_limited(&["service", "scale", "-d", "web=3"]);
    cluster.wait(CONVERGE, "three replicas", || running(&cluster, "web").len() == 3);
    assert!(running(&cluster, "web").iter().all(|(n, _)| *n == a || *n == joined), "never on the dead node");

    cluster[0].docker_ok_limited(&["service", "rm", "web", "mon"]);
    cluster.wait(Duration::from_secs(30), "the new node's task to be removed", || stdout(&joiner.docker_limited(&["ps", "-aq"])).trim().is_empty());
}
