#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! `docker stack deploy|ls|services|ps|rm`, verbatim, on a manager and a worker: a compose file
//! (version 3.8) with two services, an overlay network, a secret and a config becomes swarm
//! objects named `STACK_…` and labelled with the stack; the services converge, a task reads its
//! secret and config and reaches the other service by name and alias over the stack's overlay
//! network, and the other's published port answers on both nodes; deploying again updates in
//! place; `stack rm` removes what the stack made and nothing else. A stack name swarmkit would
//! refuse creates nothing.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

use common::cluster::{unique, Cluster};
use common::stdout;

/// Longest the stack's services may take to converge.
const CONVERGE: Duration = Duration::from_secs(60);
/// The label the docker CLI finds a stack's objects by.
const NAMESPACE: &str = "com.docker.stack.namespace";

const COMPOSE: &str = r#"version: "3.8"
services:
  web:
    image: busybox:latest
    command: ["sleep", "1000"]
    networks: [backend]
    labels:
      tier: front
    secrets:
      - source: db_pw
        target: password
        mode: 0400
    configs:
      - source: app_conf
        target: /etc/app.conf
    deploy:
      replicas: 2
      labels:
        team: web
      restart_policy:
        condition: on-failure
        delay: 1s
      update_config:
        parallelism: 1
        failure_action: rollback
  worker:
    image: busybox:latest
    command: ["sh", "-c", "mkdir -p /www && echo from-worker > /www/index.html && exec busybox httpd -f -p 80 -h /www"]
    ports: ["8081:80"]
    networks:
      backend:
        aliases: [jobs]
networks:
  backend:
    driver: overlay
    labels:
      team: platform
secrets:
  db_pw:
    file: ./db_pw.txt
configs:
  app_conf:
    file: ./app.conf
"#;

/// Names of the objects of `kind` (`service`, `network`, `secret`, `config`) that the label
/// filter selects.
fn names(cluster: &Cluster, kind: &str, label: &str) -> BTreeSet<String> {
    let out = cluster[0].docker_ok_limited(&[kind, "ls", "--filter", &format!("label={label}"), "--format", "{{.Name}}"]);
    out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// `docker stack ps STACK` rows of tasks wanted running: (task name, node ID, current state).
fn stack_tasks(cluster: &Cluster, stack: &str) -> Vec<(String, String, String)> {
    let out = cluster[0].docker_limited(&[
        "stack", "ps", stack, "--no-trunc", "--filter", "desired-state=running", "--format", "{{.Name}}|{{.Node}}|{{.CurrentState}}|{{.ID}}",
    ]);
    stdout(&out)
        .lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split('|').collect();
            (parts.len() == 4).then(|| (parts[0].to_owned(), parts[3].to_owned(), parts[2].to_owned()))
        })
        .collect()
}

/// IDs of the stack's tasks once all `count` run.
fn wait_running(cluster: &Cluster, stack: &str, count: usize) -> BTreeSet<String> {
    let mut tasks = Vec::new();
    cluster.wait(CONVERGE, &format!("{count} running tasks of stack {stack}"), || {
        tasks = stack_tasks(cluster, stack);
        tasks.len() == count && tasks.iter().all(|(_, _, state)| state.starts_with("Running"))
    });
    tasks.into_iter().map(|(_, id, _)| id).collect()
}

/// The member running task `id`, and the task's container.
fn task_place(cluster: &Cluster, id: &str) -> (usize, String) {
    let out = cluster[0].docker_ok_limited(&["inspect", "--type", "task", id, "--format", "{{.NodeID}}|{{.Status.ContainerStatus.ContainerID}}"]);
    let (node, container) = out.trim().split_once('|').unwrap();
    let member = (0..cluster.members.len()).find(|&i| cluster[i].id == node).unwrap_or_else(|| panic!("no member with node ID {node}"));
    (member, container.to_owned())
}

fn write_stack(dir: &Path, compose: &str, secret: &str) -> String {
    std::fs::write(dir.join("db_pw.txt"), secret).unwrap();
    std::fs::write(dir.join("app.conf"), "listen=8080\n").unwrap();
    let file = dir.join("stack.yml");
    std::fs::write(&file, compose).unwrap();
    file.to_str().unwrap().to_owned()
}

#[test]
fn docker_stack_deploys_lists_updates_and_removes_a_stack() {
    // In namespaces of their own, on an underlay as between hosts (overlay traffic does not
    // route between loopback addresses).
    let cluster = Cluster::start_in_netns_with(1, 1);
    cluster.load_busybox("busybox:latest");
    let manager = &cluster[0];
    let dir = tempfile::tempdir().unwrap();
    let value = format!("s3cr3t-{}", unique());
    let compose = write_stack(dir.path(), COMPOSE, &value);
    // Not the stack's: it must outlive `stack rm`.
    manager.secret_create_ok("unrelated", "keep me");

    // A stack name swarmkit refuses: the first object (the network) is refused, nothing exists.
    let err = manager.docker_err_limited(&["stack", "deploy", "--resolve-image", "never", "-c", &compose, "bad.name"]);
    assert!(err.contains("failed to create network bad.name_backend") && err.contains("name must be valid as a DNS name component"), "{err}");
    assert!(names(&cluster, "service", NAMESPACE).is_empty() && names(&cluster, "network", NAMESPACE).is_empty());
    assert_eq!(manager.secret_names(), set(&["unrelated"]));
    assert!(names(&cluster, "config", NAMESPACE).is_empty());

    // Deploy: every object named STACK_… and labelled with the stack.
    let out = manager.docker_ok_limited(&["stack", "deploy", "--resolve-image", "never", "-c", &compose, "demo"]);
    for line in ["Creating network demo_backend", "Creating secret demo_db_pw", "Creating config demo_app_conf", "Creating service demo_web", "Creating service demo_worker"] {
        assert!(out.contains(line), "{line} in {out}");
    }
    let label = format!("{NAMESPACE}=demo");
    assert_eq!(names(&cluster, "service", &label), set(&["demo_web", "demo_worker"]));
    assert_eq!(names(&cluster, "network", &label), set(&["demo_backend"]));
    assert_eq!(names(&cluster, "secret", &label), set(&["demo_db_pw"]));
    assert_eq!(names(&cluster, "config", &label), set(&["demo_app_conf"]));
    let network = manager.docker_ok_limited(&["network", "inspect", "demo_backend", "--format", "{{.Driver}} {{.Scope}} {{index .Labels \"team\"}}"]);
    assert_eq!(network.trim(), "overlay swarm platform");
    let web = manager.docker_ok_limited(&[
        "service", "inspect", "demo_web", "--format",
        "{{index .Spec.Labels \"com.docker.stack.image\"}} {{index .Spec.Labels \"team\"}} {{index .Spec.TaskTemplate.ContainerSpec.Labels \"tier\"}} \
         {{.Spec.TaskTemplate.RestartPolicy.Condition}} {{.Spec.UpdateConfig.FailureAction}} {{.Spec.Mode.Replicated.Replicas}}",
    ]);
    assert_eq!(web.trim(), "busybox:latest web front on-failure rollback 2");
    let aliases = manager.docker_ok_limited(&["service", "inspect", "demo_worker", "--format", "{{range .Spec.TaskTemplate.Networks}}{{.Aliases}}{{end}}"]);
    assert_eq!(aliases.trim(), "[jobs worker]");

    // Both services converge; a web task reads its secret and its config.
    let running = wait_running(&cluster, "demo", 3);
    let web_task = stack_tasks(&cluster, "demo").into_iter().find(|(name, _, _)| name.starts_with("demo_web.")).unwrap().1;
    let (member, container) = task_place(&cluster, &web_task);
    let read = cluster[member].docker_ok_limited(&["exec", &container, "sh", "-c", "cat /run/secrets/password; echo; stat -c %a /run/secrets/password; cat /etc/app.conf"]);
    assert_eq!(read.lines().collect::<Vec<_>>(), [value.as_str(), "400", "listen=8080"], "{read}");
    // The services talk to each other by name over the stack's (encrypted) overlay network:
    // the worker service by its name and by its alias there.
    let fetch = "for name in worker jobs; do busybox timeout 3 busybox wget -q -O - http://$name/; done";
    let answered = common::poll(CONVERGE, || {
        let out = cluster[member].docker_limited(&["exec", &container, "sh", "-c", fetch]);
        stdout(&out).lines().filter(|l| *l == "from-worker").count() == 2
    });
    let last = stdout(&cluster[member].docker_limited(&["exec", &container, "sh", "-c", fetch]));
    assert!(answered, "web did not reach worker by its names: {last}\n{}", cluster[member].log_tail(40));
    // Its published port answers on both nodes (from the other one's namespace).
    let netns = cluster.netns.as_ref().unwrap();
    for node in 0..2 {
        let url = format!("http://{}:8081/", netns.ip(node));
        let from = format!("--net=/run/netns/{}", netns.nodes[1 - node]);
        let published = common::poll(CONVERGE, || {
            let out = std::process::Command::new("nsenter").args([from.as_str(), "curl", "-s", "--max-time", "3", &url]).output().unwrap();
            stdout(&out).trim() == "from-worker"
        });
        assert!(published, "port 8081 of node {node} did not lead to the worker service");
    }

    // The stack as the CLI lists it.
    let ls = manager.docker_ok_limited(&["stack", "ls", "--format", "{{.Name}} {{.Services}}"]);
    assert_eq!(ls.trim(), "demo 2");
    let services = manager.docker_ok_limited(&["stack", "services", "demo", "--format", "{{.Name}} {{.Replicas}} {{.Image}}"]);
    assert_eq!(services.lines().collect::<BTreeSet<_>>(), BTreeSet::from(["demo_web 2/2 busybox:latest", "demo_worker 1/1 busybox:latest"]));
    let ps: BTreeSet<String> = stack_tasks(&cluster, "demo").into_iter().map(|(name, _, _)| name).collect();
    assert_eq!(ps, set(&["demo_web.1", "demo_web.2", "demo_worker.1"]));

    // Deploying the same file again updates in place: no duplicates, the tasks stay.
    let out = manager.docker_ok_limited(&["stack", "deploy", "--resolve-image", "never", "-c", &compose, "demo"]);
    assert!(out.contains("Updating service demo_web") && out.contains("Updating service demo_worker") && !out.contains("Creating"), "{out}");
    assert_eq!(names(&cluster, "service", &label).len(), 2);
    assert_eq!(names(&cluster, "network", &label).len(), 1);
    assert_eq!(names(&cluster, "secret", &label).len(), 1);
    assert_eq!(names(&cluster, "config", &label).len(), 1);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(wait_running(&cluster, "demo", 3), running, "an unchanged stack keeps its tasks");
    // A changed secret is refused, as dockerd refuses it (secrets are immutable).
    let changed = write_stack(dir.path(), COMPOSE, "another value");
    let err = manager.docker_err_limited(&["stack", "deploy", "--resolve-image", "never", "-c", &changed, "demo"]);
    assert!(err.contains("failed to update secret demo_db_pw") && err.contains("only updates to Labels are allowed"), "{err}");

    // `stack rm`: services, secret, config and network go, in the CLI's order; nothing else.
    let out = manager.docker_ok_limited(&["stack", "rm", "demo"]);
    for line in ["Removing service demo_web", "Removing service demo_worker", "Removing secret demo_db_pw", "Removing config demo_app_conf", "Removing network demo_backend"] {
        assert!(out.contains(line), "{line} in {out}");
    }
    assert!(names(&cluster, "service", NAMESPACE).is_empty());
    assert!(names(&cluster, "network", NAMESPACE).is_empty());
    assert!(names(&cluster, "config", NAMESPACE).is_empty());
    assert_eq!(manager.secret_names(), set(&["unrelated"]));
    let ls = manager.docker_limited(&["stack", "ls", "--format", "{{.Name}}"]);
    assert_eq!(stdout(&ls).trim(), "");
    // The network's record goes once the stack's tasks have ended: its name is free again.
    cluster.wait(CONVERGE, "the stack's tasks to end and its network to go", || {
        manager.docker_limited(&["network", "create", "-d", "overlay", "demo_backend"]).status.success()
    });
    manager.docker_ok_limited(&["network", "rm", "demo_backend"]);
    cluster.wait(CONVERGE, "the stack's containers to be removed", || {
        (0..cluster.members.len()).all(|i| stdout(&cluster[i].docker_limited(&["ps", "-aq"])).trim().is_empty())
    });
}
