#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The `palisade service|config|node` verbs are Engine-API clients like the docker CLI: on one
//! single-node swarm, a service created with a secret and a config runs, is listed, shown,
//! scaled, updated to another image and rolled back; its logs are named as docker names them;
//! the node is drained and made active again; what the verbs sent is checked with the docker CLI.

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use common::cluster::{unique, Cluster};
use common::{stderr, stdout, write, Node};

/// Longest a service may take to converge.
const CONVERGE: Duration = Duration::from_secs(30);

/// `palisade ARGS` that must succeed; its stdout.
fn ok(node: &Node, args: &[&str]) -> String {
    let out = node.palisade(args);
    assert!(out.status.success(), "palisade {args:?} failed: {}\n--- daemon log ---\n{}", stderr(&out), node.log_tail(40));
    stdout(&out)
}

/// `palisade ARGS` that must fail; its stderr.
fn fails(node: &Node, args: &[&str]) -> String {
    let out: Output = node.palisade(args);
    assert!(!out.status.success(), "palisade {args:?} unexpectedly succeeded: {}", stdout(&out));
    stderr(&out)
}

/// The rows of a table as the verbs print it, cut at the header's column offsets (so that an
/// empty cell stays a cell).
fn table(text: &str, columns: &[&str]) -> Vec<Vec<String>> {
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    let starts: Vec<usize> = columns.iter().map(|c| header.find(c).unwrap_or_else(|| panic!("no {c} column in {text}"))).collect();
    let cell = |line: &str, i: usize| {
        let end = starts.get(i + 1).copied().unwrap_or(line.len()).min(line.len());
        line.get(starts[i].min(end)..end).unwrap_or_default().trim().to_owned()
    };
    lines.map(|l| (0..starts.len()).map(|i| cell(l, i)).collect()).collect()
}

/// The `palisade service ls` row of `name`: ID, NAME, MODE, REPLICAS, IMAGE.
fn ls_row(node: &Node, name: &str) -> Vec<String> {
    let rows = table(&stdout(&node.palisade(&["service", "ls"])), &["ID", "NAME", "MODE", "REPLICAS", "IMAGE"]);
    rows.into_iter().find(|row| row[1] == name).unwrap_or_default()
}

/// `palisade service|node ps` rows: ID, NAME, IMAGE, NODE, DESIRED STATE, CURRENT STATE, ERROR.
fn ps_rows(node: &Node, args: &[&str]) -> Vec<Vec<String>> {
    table(&ok(node, args), &["ID", "NAME", "IMAGE", "NODE", "DESIRED STATE", "CURRENT STATE", "ERROR"])
}

/// Tasks of `service` that are running (and wanted so), with their images.
fn running(node: &Node, service: &str) -> Vec<String> {
    let rows = ps_rows(node, &["service", "ps", service]);
    rows.into_iter().filter(|r| r[4] == "Running" && r[5].starts_with("Running ")).map(|r| r[2].clone()).collect()
}

/// Waits until the running tasks of `service` run exactly `images`; on timeout fails with the
/// task table and the daemon's log.
fn wait_running(node: &Node, service: &str, images: &[&str]) {
    let deadline = Instant::now() + CONVERGE;
    while Instant::now() < deadline {
        if running(node, service) == images {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let ps = stdout(&node.palisade(&["service", "ps", "--no-trunc", service]));
    panic!("timed out waiting for {service} to run {images:?}:\n{ps}\n--- daemon log ---\n{}", node.log_tail(60));
}

#[test]
fn palisade_drives_services_configs_and_nodes() {
    let cluster = Cluster::start(1, 0);
    let m = &cluster[0];
    m.load_busybox("busybox:latest");
    m.docker_ok(&["tag", "busybox:latest", "busybox:v2"]);
    let hostname = m.docker_ok(&["node", "inspect", "self", "--format", "{{.Description.Hostname}}"]).trim().to_owned();
    let value = format!("s3cr3t-{}", unique());
    let dir = m.dir.path();

    // A secret and a config, made with the palisade verbs.
    let secret_id = ok(m, &["secret", "create", "db_pw", write(dir, "pw", &value).to_str().unwrap()]).trim().to_owned();
    let config_id = ok(m, &["config", "create", "app_cfg", write(dir, "app.conf", "listen=8080\n").to_str().unwrap()]).trim().to_owned();
    let configs = ok(m, &["config", "ls"]);
    assert!(configs.starts_with("ID ") && configs.contains("NAME") && !configs.contains("DRIVER"), "{configs}");
    assert!(configs.lines().any(|l| l.starts_with(&config_id) && l.contains(" app_cfg ")), "{configs}");
    let inspected: serde_json::Value = serde_json::from_str(&ok(m, &["config", "inspect", "app_cfg"])).unwrap();
    assert_eq!(inspected[0]["ID"], config_id.as_str());
    assert_eq!(inspected[0]["Spec"]["Data"], "bGlzdGVuPTgwODAK", "a config's data is shown (base64 of listen=8080)");

    // Names are resolved to IDs client-side, as docker does; an unknown one changes nothing.
    let err = fails(m, &["service", "create", "--name", "nope", "--secret", "missing", "busybox:latest"]);
    assert!(err.contains("secret not found: missing"), "{err}");

    // TERM ends the task at once (a shell as PID 1 would ignore it until the grace period ends).
    let script = "trap 'exit 0' TERM; cat /run/secrets/pw; echo; cat /etc/app.conf; echo \"greeting=$GREETING\"; sleep 1000 & wait";
    let id = ok(
        m,
        &[
            "service", "create", "--name", "web", "--replicas", "2", "--secret", "source=db_pw,target=pw,mode=0400", "--config",
            "source=app_cfg,target=/etc/app.conf", "--env", "GREETING=hi", "--label", "tier=front", "--restart-condition", "on-failure",
            "--restart-delay", "1s", "--update-parallelism", "1", "--update-delay", "1s", "busybox:latest", "sh", "-c", script,
        ],
    );
    assert_eq!(id.trim().len(), 25, "a swarm ID: {id}");
    // What was sent, as the docker CLI sees it.
    let spec: serde_json::Value = serde_json::from_str(&m.docker_ok(&["service", "inspect", "web", "--format", "{{json .Spec}}"])).unwrap();
    let container = &spec["TaskTemplate"]["ContainerSpec"];
    assert_eq!(container["Secrets"][0]["SecretID"], secret_id.as_str());
    assert_eq!(container["Secrets"][0]["File"], serde_json::json!({"Name": "pw", "UID": "0", "GID": "0", "Mode": 0o400}));
    assert_eq!(container["Configs"][0]["ConfigID"], config_id.as_str());
    assert_eq!(container["Configs"][0]["File"]["Name"], "/etc/app.conf");
    assert_eq!(container["Configs"][0]["File"]["Mode"], 0o444);
    assert_eq!(container["Env"], serde_json::json!(["GREETING=hi"]));
    assert_eq!(spec["Labels"]["tier"], "front");
    assert_eq!(spec["TaskTemplate"]["RestartPolicy"]["Condition"], "on-failure");
    assert_eq!(spec["TaskTemplate"]["RestartPolicy"]["Delay"], 1_000_000_000u64);
    assert_eq!((spec["UpdateConfig"]["Parallelism"].as_u64(), spec["UpdateConfig"]["Delay"].as_u64()), (Some(1), Some(1_000_000_000)));

    // ls until both replicas run; ps names the tasks and the node.
    cluster.wait(CONVERGE, "web 2/2 in palisade service ls", || ls_row(m, "web").get(3).map(String::as_str) == Some("2/2"));
    assert_eq!(ls_row(m, "web"), [&id.trim()[..12], "web", "replicated", "2/2", "busybox:latest"]);
    wait_running(m, "web", &["busybox:latest", "busybox:latest"]);
    let ps = ps_rows(m, &["service", "ps", "web"]);
    for slot in ["web.1", "web.2"] {
        let row = ps.iter().find(|r| r[1] == slot).unwrap_or_else(|| panic!("{slot} in {ps:?}"));
        assert_eq!((row[0].len(), row[2].as_str(), row[3].as_str(), row[4].as_str()), (12, "busybox:latest", hostname.as_str(), "Running"), "{row:?}");
    }

    // Logs: each line named `web.<slot>.<task>@<host>    | `, from both tasks.
    let mut logs = String::new();
    cluster.wait(CONVERGE, "both tasks' output in palisade service logs", || {
        logs = stdout(&m.palisade(&["service", "logs", "web"]));
        logs.matches(&value).count() == 2 && logs.matches("greeting=hi").count() == 2
    });
    for slot in ["web.1.", "web.2."] {
        let line = logs.lines().find(|l| l.starts_with(slot) && l.ends_with(&format!("@{hostname}    | {value}")));
        assert!(line.is_some(), "{slot} in {logs}");
    }
    assert!(logs.contains("    | listen=8080"), "the config file at its target: {logs}");
    // One task's logs, by its ID (as docker, when no service has that name).
    let first = ok(m, &["service", "ps", "-q", "web"]).lines().next().unwrap().to_owned();
    let one = ok(m, &["service", "logs", &first]);
    assert!(one.contains(&value) && one.lines().all(|l| l.starts_with(&format!("web.1.{}@", &first[..12]))), "{one}");
    assert!(fails(m, &["service", "logs", "nosuch"]).contains("nosuch"));

    let pretty = ok(m, &["service", "inspect", "--pretty", "web"]);
    for expected in ["Name:\t\tweb", "Replicas:\t2", "Target:\tpw\n  Source:\tdb_pw", "Target:\t/etc/app.conf\n  Source:\tapp_cfg", "Delay:\t\t1s"] {
        assert!(pretty.contains(expected), "{expected:?} in {pretty}");
    }
    let json: serde_json::Value = serde_json::from_str(&ok(m, &["service", "inspect", "web"])).unwrap();
    assert_eq!(json[0]["Spec"]["Name"], "web");

    // Scale down; a bad specifier is refused before anything is sent.
    assert_eq!(ok(m, &["service", "scale", "web=1"]), "web scaled to 1\n");
    assert!(fails(m, &["service", "scale", "web"]).contains("invalid scale specifier 'web'"));
    cluster.wait(CONVERGE, "web 1/1", || ls_row(m, "web").get(3).map(String::as_str) == Some("1/1"));

    // Update to another image (with an environment change), then roll back.
    assert_eq!(ok(m, &["service", "update", "--image", "busybox:v2", "--env-add", "GREETING=hello", "web"]), "web\n");
    wait_running(m, "web", &["busybox:v2"]);
    assert!(ok(m, &["service", "inspect", "--pretty", "web"]).contains("Env:\t\tGREETING=hello "));
    // The update's completion is a write of the service too (its version moves, as swarmkit's
    // does): a rollback sent before it would be out of sequence.
    cluster.wait(CONVERGE, "the update to complete", || {
        stdout(&m.docker(&["service", "inspect", "--format", "{{.UpdateStatus.State}}", "web"])).trim() == "completed"
    });
    assert!(fails(m, &["service", "update", "--rollback", "--force", "web"]).contains("other flags may not be combined with --rollback"));
    assert_eq!(ok(m, &["service", "update", "--rollback", "web"]), "web\n");
    wait_running(m, "web", &["busybox:latest"]);
    assert_eq!(ls_row(m, "web")[4], "busybox:latest");
    let ps = ps_rows(m, &["service", "ps", "web"]);
    assert_eq!(ps[0][1], "web.1", "the newest task first: {ps:?}");
    assert!(ps.iter().any(|r| r[1] == "\\_ web.1" && r[2] == "busybox:v2" && r[4] == "Shutdown"), "the replaced task under its slot: {ps:?}");

    // The node: drained (its task stops), labelled, active again (the task comes back).
    let node_id = cluster[0].id.clone();
    assert_eq!(ok(m, &["node", "update", "--availability", "drain", &node_id]), format!("{node_id}\n"));
    assert_eq!(m.docker_ok(&["node", "inspect", "self", "--format", "{{.Spec.Availability}}"]).trim(), "drain");
    wait_running(m, "web", &[]);
    assert!(fails(m, &["node", "update", "--label-rm", "nope", "self"]).contains("key nope doesn't exist in node's labels"));
    ok(m, &["node", "update", "--availability", "active", "--label-add", "zone=eu", "self"]);
    assert_eq!(m.docker_ok(&["node", "inspect", "self", "--format", "{{.Spec.Availability}} {{.Spec.Labels.zone}}"]).trim(), "active eu");
    wait_running(m, "web", &["busybox:latest"]);
    let node_ps = ps_rows(m, &["node", "ps"]);
    assert!(node_ps.iter().any(|r| r[1] == "web.1" && r[3] == hostname && r[5].starts_with("Running ")), "{node_ps:?}");
    assert_eq!(ok(m, &["node", "ps", "-q"]), ok(m, &["node", "ps", "-q", &node_id]), "node ps defaults to this node");

    // Removal: the service, then what it used.
    let err = fails(m, &["config", "rm", "app_cfg"]);
    assert!(err.contains("in use"), "a config in use is kept: {err}");
    assert_eq!(ok(m, &["service", "rm", "web"]), "web\n");
    assert!(ls_row(m, "web").is_empty());
    cluster.wait(CONVERGE, "web's tasks to go", || stdout(&m.palisade(&["node", "ps", "-q"])).trim().is_empty());
    assert_eq!(ok(m, &["config", "rm", "app_cfg"]), "app_cfg\n");
    assert!(!ok(m, &["config", "ls"]).contains("app_cfg"));
    assert_eq!(ok(m, &["secret", "rm", "db_pw"]), "db_pw\n");
}
