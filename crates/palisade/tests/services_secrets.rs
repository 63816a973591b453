#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Services and secrets with the docker CLI on a manager and two workers: a secret reaches the
//! tasks granted it, on a read-only tmpfs at `/run/secrets/<target>` with the asked mode, and
//! leaves every node when the service goes; the dispatcher refuses anyone else; configs arrive
//! as files. One cluster serves the assertions, in the order a user would meet them.

mod common;

use std::process::Command;
use std::time::Duration;

use common::cluster::{scan, unique, Cluster};
use common::{stderr, stdout};

/// Longest a service may take to get its tasks running.
const CONVERGE: Duration = Duration::from_secs(60);

/// `docker service ps NAME` rows: (task name, node ID, desired state, current state).
fn tasks(cluster: &Cluster, service: &str) -> Vec<(String, String, String, String)> {
    let out = cluster[0].docker_limited(&["service", "ps", service, "--no-trunc", "--format", "{{.Name}}|{{.Node}}|{{.DesiredState}}|{{.CurrentState}}|{{.ID}}"]);
    if !out.status.success() {
        return Vec::new();
    }
    stdout(&out)
        .lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split('|').collect();
            (parts.len() == 5).then(|| (parts[0].trim().to_owned(), parts[1].to_owned(), parts[2].to_owned(), parts[3].to_owned()))
        })
        .collect()
}

/// Task IDs of a service with their node IDs, from `docker inspect` of its running tasks.
fn running_tasks(cluster: &Cluster, service: &str) -> Vec<(String, String, String)> {
    let out = cluster[0].docker_limited(&["service", "ps", service, "-q", "--no-trunc", "--filter", "desired-state=running"]);
    let ids: Vec<String> = stdout(&out).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect();
    ids.iter()
        .filter_map(|id| {
            let out = cluster[0].docker_limited(&["inspect", "--type", "task", id, "--format", "{{.NodeID}}|{{.Status.State}}|{{.Status.ContainerStatus.ContainerID}}"]);
            let text = stdout(&out);
            let parts: Vec<&str> = text.trim().split('|').collect();
            (parts.len() == 3 && parts[1] == "running").then(|| (id.clone(), parts[0].to_owned(), parts[2].to_owned()))
        })
        .collect()
}

fn wait_running(cluster: &Cluster, service: &str, count: usize) -> Vec<(String, String, String)> {
    let mut running = Vec::new();
    cluster.wait(CONVERGE, &format!("{count} running tasks of {service}"), || {
        running = running_tasks(cluster, service);
        running.len() == count
    });
    running
}

/// The member whose node ID is `id`.
fn member_of(cluster: &Cluster, id: &str) -> usize {
    (0..cluster.members.len()).find(|&i| cluster[i].id == id).unwrap_or_else(|| panic!("no member with node ID {id}"))
}

/// Mount points in member `i`'s daemon's mount namespace that mention `needle`.
fn daemon_mounts(cluster: &Cluster, i: usize, needle: &str) -> Vec<String> {
    let pid = cluster[i].pid();
    let mounts = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
    mounts.lines().filter(|l| l.contains(needle)).map(str::to_owned).collect()
}

#[test]
fn services_run_tasks_with_their_secrets_and_nothing_else() {
    let cluster = Cluster::start(1, 2);
    cluster.load_busybox("busybox:latest");
    let manager = &cluster[0];
    let value = format!("s3cr3t-{}", unique());

    // The secret, stored; inspect never shows the data; 600 KiB is refused.
    manager.secret_create_ok("db_pw", &value);
    let inspected = manager.docker_ok_limited(&["secret", "inspect", "db_pw"]);
    assert!(!inspected.contains(&value) && !inspected.contains("\"Data\""), "{inspected}");
    let big = "x".repeat(600 * 1024);
    let out = manager.secret_create("too_big", &big);
    assert!(!out.status.success() && stderr(&out).contains("secret data must be larger than 0 and less than 512000 bytes"), "{}", stderr(&out));

    // A two-replica service granted the secret, on the workers only.
    let script = "cat /run/secrets/pw; echo; stat -c 'mode=%a uid=%u gid=%g' /run/secrets/pw; stat -f -c 'fs=%T' /run/secrets; \
                  grep ' /run/secrets ' /proc/self/mountinfo; sleep 1000";
    manager.docker_ok_limited(&[
        "service", "create", "--no-resolve-image", "-d", "--name", "db", "--replicas", "2", "--constraint", "node.role==worker",
        "--secret", "source=db_pw,target=pw,mode=0400,uid=0,gid=0", "busybox:latest", "sh", "-c", script,
    ]);
    let running = wait_running(&cluster, "db", 2);
    let mut nodes: Vec<&str> = running.iter().map(|(_, node, _)| node.as_str()).collect();
    nodes.sort();
    let mut workers = vec![cluster[1].id.as_str(), cluster[2].id.as_str()];
    workers.sort();
    assert_eq!(nodes, workers, "one replica per worker");
    let ls = manager.docker_ok_limited(&["service", "ls", "--format", "{{.Name}} {{.Replicas}}"]);
    assert!(ls.contains("db 2/2"), "{ls}");

    // Inside each task: the value, mode 0400 owned by root, /run/secrets a read-only tmpfs.
    for (_, node, container) in &running {
        let worker = &cluster[member_of(&cluster, node)];
        let mut logs = String::new();
        cluster.wait(Duration::from_secs(20), "the task's output", || {
            logs = stdout(&worker.docker_limited(&["logs", container]));
            logs.contains("fs=")
        });
        assert!(logs.contains(&value), "the task reads its secret: {logs}");
        assert!(logs.contains("mode=400 uid=0 gid=0"), "{logs}");
        assert!(logs.contains("fs=tmpfs"), "{logs}");
        let mount = logs.lines().find(|l| l.contains(" /run/secrets ")).unwrap_or_default();
        assert!(mount.contains(" ro,") || mount.contains(" ro "), "read-only: {mount}");
        let on_node = daemon_mounts(&cluster, member_of(&cluster, node), container);
        assert_eq!(on_node.iter().filter(|m| m.contains("/secrets ") && m.contains(" tmpfs ")).count(), 1, "one secrets tmpfs on the node: {on_node:?}");
    }
    // `docker service logs` on the manager gathers both tasks' output from the workers.
    let mut logs = String::new();
    cluster.wait(Duration::from_secs(30), "service logs with both tasks", || {
        logs = stdout(&manager.docker_limited(&["service", "logs", "db"]));
        logs.matches(&value).count() == 2
    });
    for slot in ["db.1.", "db.2."] {
        assert!(logs.lines().any(|l| l.starts_with(slot) && l.contains('@') && l.contains("| ")), "{slot} in {logs}");
    }
    // `-f` streams the same, and keeps the stream open while the tasks run.
    let mut follow = Command::new("docker")
        .args(["-H", &manager.host(), "service", "logs", "-f", "db"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut pipe = follow.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = std::io::Read::read(&mut pipe, &mut buf) {
            if n == 0 {
                break;
            }
            seen.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&seen).into_owned()
    });
    std::thread::sleep(Duration::from_secs(5));
    assert!(follow.try_wait().unwrap().is_none(), "service logs -f ended while the tasks run");
    follow.kill().unwrap();
    let _ = follow.wait();
    let followed = reader.join().unwrap();
    assert_eq!(followed.matches(&value).count(), 2, "{followed}");
    // Nothing but the tasks' own output holds the value: not the stores, not the daemons' logs.
    let roots: Vec<_> = (0..3).map(|i| cluster[i].dir.path().to_owned()).collect();
    let task_output = |p: &std::path::Path| running.iter().any(|(_, _, c)| p.to_string_lossy().contains(c.as_str()));
    let hits: Vec<_> = scan(&roots, &[("secret".into(), value.clone().into_bytes())]).into_iter().filter(|(_, p)| !task_output(p)).collect();
    assert!(hits.is_empty(), "the secret's bytes are stored in plain text while the service runs: {hits:?}");
    // `node ps` and `service inspect --pretty` as docker renders them.
    let node_ps = manager.docker_ok_limited(&["node", "ps", &cluster[1].id, "--format", "{{.Name}} {{.DesiredState}}"]);
    assert!(node_ps.lines().any(|l| l.starts_with("db.") && l.ends_with("Running")), "{node_ps}");
    let pretty = manager.docker_ok_limited(&["service", "inspect", "--pretty", "db"]);
    assert!(pretty.contains(" Replicas:\t2") && pretty.contains("Service Mode:\tReplicated"), "{pretty}");
    assert!(pretty.contains(" Target:\tpw") && pretty.contains("  Source:\tdb_pw"), "{pretty}");
    assert!(pretty.contains("busybox:latest") && !pretty.contains(&value), "{pretty}");
    // The manager runs no task and was sent no secret.
    assert!(stdout(&manager.docker_limited(&["ps", "-q"])).trim().is_empty());

    // In use: refused, kept.
    let err = manager.docker_err_limited(&["secret", "rm", "db_pw"]);
    assert!(err.contains("secret 'db_pw' is in use by the following service: db"), "{err}");
    assert!(manager.secret_names().contains("db_pw"));

    // The dispatcher: a node gets files only for its own tasks, and its own assignments only.
    let (task_id, task_node, _) = &running[0];
    let owner = member_of(&cluster, task_node);
    let other = if owner == 1 { 2 } else { 1 };
    let (code, body) = cluster.node_call(other, &format!(r#"{{"TaskFiles":{{"task_id":"{task_id}"}}}}"#));
    assert_eq!(code, 403, "another node's task files are refused: {body}");
    assert!(!body.contains(&value));
    let (code, body) = cluster.node_call(0, &format!(r#"{{"TaskFiles":{{"task_id":"{task_id}"}}}}"#));
    assert_eq!(code, 403, "the manager's node identity has no task either: {body}");
    let (code, body) = cluster.node_call(other, &format!(r#"{{"Assignments":{{"node":"{task_node}","known":null}}}}"#));
    assert_eq!(code, 403, "another node's assignments are refused: {body}");
    let (code, body) = cluster.node_call(owner, &format!(r#"{{"TaskFiles":{{"task_id":"{task_id}"}}}}"#));
    assert_eq!(code, 200, "{body}");

    // A config as a file at its target.
    manager.docker_input(&["config", "create", "app_cfg", "-"], Some(b"listen=8080\n"), Duration::from_secs(30));
    manager.docker_ok_limited(&["node", "update", "--label-add", "zone=eu", &cluster[1].id]);
    manager.docker_ok_limited(&[
        "service", "create", "--no-resolve-image", "-d", "--name", "app", "--config", "source=app_cfg,target=/etc/app.conf,mode=0440",
        "--constraint", "node.labels.zone==eu", "busybox:latest", "sh", "-c", "cat /etc/app.conf; stat -c 'mode=%a' /etc/app.conf; sleep 1000",
    ]);
    let app = wait_running(&cluster, "app", 1);
    assert_eq!(app[0].1, cluster[1].id, "placed on the only node labelled zone=eu");
    let mut logs = String::new();
    cluster.wait(Duration::from_secs(20), "the config task's output", || {
        logs = stdout(&cluster[1].docker_limited(&["logs", &app[0].2]));
        logs.contains("mode=")
    });
    assert!(logs.contains("listen=8080") && logs.contains("mode=440"), "{logs}");
    let config = manager.docker_ok_limited(&["config", "inspect", "app_cfg", "--format", "{{json .Spec.Name}}"]);
    assert!(config.contains("app_cfg"), "{config}");
    let err = manager.docker_err_limited(&["config", "rm", "app_cfg"]);
    assert!(err.contains("config 'app_cfg' is in use by the following service: app"), "{err}");

    // Removing the service: every tmpfs gone, and the secret bytes nowhere in data roots or logs.
    manager.docker_ok_limited(&["service", "rm", "db", "app"]);
    cluster.wait(CONVERGE, "the tasks to be removed", || tasks(&cluster, "db").is_empty() && tasks(&cluster, "app").is_empty());
    for (_, node, container) in &running {
        let i = member_of(&cluster, node);
        cluster.wait(Duration::from_secs(20), "the secrets tmpfs to be unmounted", || daemon_mounts(&cluster, i, container).is_empty());
    }
    for i in 0..3 {
        cluster.wait(Duration::from_secs(20), "the task containers to be removed", || stdout(&cluster[i].docker_limited(&["ps", "-aq"])).trim().is_empty());
    }
    let roots: Vec<_> = (0..3).map(|i| cluster[i].dir.path().to_owned()).collect();
    let hits = scan(&roots, &[("secret".into(), value.clone().into_bytes())]);
    assert!(hits.is_empty(), "the secret's bytes are stored in plain text: {hits:?}");
    manager.docker_ok_limited(&["secret", "rm", "db_pw"]);
}
