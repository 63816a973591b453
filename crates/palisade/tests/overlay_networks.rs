#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The control plane of overlay networks, with the docker CLI on a manager and two workers:
//! networks are swarm objects (encrypted unless asked not to), services attach to them and
//! their tasks get addresses and VIPs, and a network's keys reach exactly the nodes that run a
//! task on it — checked through each node's own cluster RPC. No key is ever in a file of any
//! data root, nor in any daemon's log. One cluster serves the assertions in the order a user
//! would meet them. (Traffic over the overlay between nodes: `overlay_services.rs`.)

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::cluster::{scan, Cluster};
use common::stdout;
use serde_json::Value;

/// Longest a service may take to converge.
const CONVERGE: Duration = Duration::from_secs(60);

/// `docker inspect --type KIND REF` as JSON (the first object).
fn inspect(cluster: &Cluster, kind: &str, reference: &str) -> Value {
    let text = cluster[0].docker_ok_limited(&["inspect", "--type", kind, reference]);
    let mut all: Vec<Value> = serde_json::from_str(&text).unwrap();
    all.remove(0)
}

/// The overlay networks member `from` receives with its assignments, through its own RPC.
fn overlay_of(cluster: &Cluster, from: usize) -> Vec<Value> {
    let body = format!(r#"{{"Assignments":{{"node":"{}","known":null}}}}"#, cluster[from].id);
    let (code, reply) = cluster.node_call(from, &body);
    assert_eq!(code, 200, "{reply}");
    let reply: Value = serde_json::from_str(&reply).unwrap();
    reply["Assignments"]["overlay"]["networks"].as_array().cloned().unwrap_or_default()
}

/// The network with this ID among `networks`.
fn network<'a>(networks: &'a [Value], id: &str) -> Option<&'a Value> {
    networks.iter().find(|n| n["id"] == id)
}

/// IDs of a service's tasks wanted running.
fn running_task_ids(cluster: &Cluster, service: &str) -> Vec<String> {
    let out = cluster[0].docker_limited(&["service", "ps", service, "-q", "--no-trunc", "--filter", "desired-state=running"]);
    stdout(&out).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn wait_tasks(cluster: &Cluster, service: &str, count: usize) -> Vec<String> {
    let mut ids = Vec::new();
    cluster.wait(CONVERGE, &format!("{count} tasks of {service} wanted running"), || {
        ids = running_task_ids(cluster, service);
        ids.len() == count
    });
    ids
}

#[test]
fn overlay_networks_addresses_and_keys() {
    let cluster = Cluster::start(1, 2);
    cluster.load_busybox("busybox:latest");
    let manager = &cluster[0];

    // An encrypted network (the default), shown as dockerd shows Docker's encrypted ones.
    let dbnet = manager.docker_ok_limited(&["network", "create", "-d", "overlay", "--label", "team=db", "dbnet"]).trim().to_owned();
    let shown = inspect(&cluster, "network", "dbnet");
    assert_eq!(shown["Id"], dbnet.as_str());
    assert_eq!((shown["Scope"].as_str(), shown["Driver"].as_str()), (Some("swarm"), Some("overlay")), "{shown}");
    assert_eq!(shown["Options"]["encrypted"], "", "{shown}");
    assert_eq!(shown["Options"]["com.docker.network.driver.overlay.vxlanid_list"], "4097", "{shown}");
    assert_eq!(shown["IPAM"]["Config"][0]["Subnet"], "10.0.1.0/24", "{shown}");
    assert_eq!(shown["IPAM"]["Config"][0]["Gateway"], "10.0.1.1", "{shown}");
    assert_eq!(shown["Labels"]["team"], "db");
    assert_eq!(shown["Attachable"], false);

    // The explicit opt-out, attachable, with a given subnet and gateway.
    let plain = manager
        .docker_ok_limited(&[
            "network", "create", "-d", "overlay", "--attachable", "--subnet", "10.20.0.0/16", "--gateway", "10.20.0.254", "--opt",
            "encrypted=false", "plainnet",
        ])
        .trim()
        .to_owned();
    let shown = inspect(&cluster, "network", "plainnet");
    assert!(shown["Options"].get("encrypted").is_none(), "{shown}");
    assert_eq!(shown["Options"]["com.docker.network.driver.overlay.vxlanid_list"], "4098", "{shown}");
    assert_eq!((shown["IPAM"]["Config"][0]["Subnet"].as_str(), shown["IPAM"]["Config"][0]["Gateway"].as_str()), (Some("10.20.0.0/16"), Some("10.20.0.254")));
    assert_eq!(shown["Attachable"], true);

    // Refusals change nothing: an overlapping subnet, a taken name, a worker, a bad option.
    let refused = manager.docker_err_limited(&["network", "create", "-d", "overlay", "--subnet", "10.20.5.0/24", "clash"]);
    assert!(refused.contains("overlaps") && refused.contains("plainnet"), "{refused}");
    let refused = manager.docker_err_limited(&["network", "create", "-d", "overlay", "dbnet"]);
    assert!(refused.contains("already exists"), "{refused}");
    let refused = cluster[1].docker_err_limited(&["network", "create", "-d", "overlay", "fromworker"]);
    assert!(refused.contains("Cannot create a multi-host network from a worker node"), "{refused}");
    let refused = manager.docker_err_limited(&["network", "create", "-d", "overlay", "--opt", "encrypted=maybe", "odd"]);
    assert!(refused.contains("encrypted=maybe"), "{refused}");
    let listed = manager.docker_ok_limited(&["network", "ls", "--format", "{{.Name}} {{.Driver}} {{.Scope}}"]);
    assert!(listed.contains("dbnet overlay swarm") && listed.contains("plainnet overlay swarm"), "{listed}");
    assert!(listed.contains("host host local"), "local networks are still listed: {listed}");
    for name in ["clash", "fromworker", "odd"] {
        assert!(!listed.lines().any(|l| l.starts_with(&format!("{name} "))), "{name} was created: {listed}");
    }
    let overlays = manager.docker_ok_limited(&["network", "ls", "--filter", "driver=overlay", "--format", "{{.Name}}"]);
    assert_eq!(overlays.split_whitespace().collect::<std::collections::BTreeSet<_>>(), ["dbnet", "plainnet"].into(), "{overlays}");
    let on_worker = cluster[1].docker_ok_limited(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!on_worker.contains("dbnet"), "a worker without tasks shows no swarm network: {on_worker}");

    // A service on dbnet, pinned to worker 1: its VIP and its task's address.
    let w1 = cluster[1].id.clone();
    let pin = format!("node.id=={w1}");
    manager.docker_ok_limited(&["service", "create", "--no-resolve-image", "-d", "--stop-grace-period", "1s", "--name", "db", "--network", "dbnet", "--constraint", &pin, "busybox:latest", "sleep", "100000"]);
    let tasks = wait_tasks(&cluster, "db", 1);
    let service = inspect(&cluster, "service", "db");
    assert_eq!(service["Spec"]["TaskTemplate"]["Networks"][0]["Target"], dbnet.as_str(), "{service}");
    let vips = service["Endpoint"]["VirtualIPs"].as_array().cloned().unwrap_or_default();
    assert_eq!(vips.len(), 1, "{service}");
    assert_eq!((vips[0]["NetworkID"].as_str(), vips[0]["Addr"].as_str()), (Some(dbnet.as_str()), Some("10.0.1.2/24")), "{service}");
    let task = inspect(&cluster, "task", &tasks[0]);
    assert_eq!(task["NetworksAttachments"][0]["Network"]["ID"], dbnet.as_str(), "{task}");
    assert_eq!(task["NetworksAttachments"][0]["Addresses"][0], "10.0.1.3/24", "{task}");

    // Keys: worker 1 (its task is on dbnet) receives dbnet with its key; worker 2 never does.
    let mut key = String::new();
    cluster.wait(CONVERGE, "worker 1 to receive dbnet", || {
        let networks = overlay_of(&cluster, 1);
        let Some(net) = network(&networks, &dbnet) else { return false };
        assert_eq!(net["vni"], 4097);
        assert_eq!(net["attachments"][0]["addr"], "10.0.1.3");
        key = net["keys"][0]["key"].as_str().unwrap().to_owned();
        assert_eq!(net["keys"][0]["generation"], 1);
        true
    });
    // As with dockerd, a worker shows the swarm networks its tasks are on, and only those
    // (once its own long poll has brought them).
    let inspect_on_worker = || cluster[1].docker_limited(&["network", "inspect", "dbnet", "--format", "{{.Scope}} {{.Driver}} {{.Options}}"]);
    cluster.wait(CONVERGE, "worker 1 to show dbnet", || inspect_on_worker().status.success());
    let shown = stdout(&inspect_on_worker());
    assert!(shown.starts_with("swarm overlay") && shown.contains("encrypted:"), "{shown}");
    assert!(!cluster[2].docker_ok_limited(&["network", "ls"]).contains("dbnet"));
    let key_bytes = base64::engine::general_purpose::STANDARD.decode(&key).unwrap();
    assert_eq!(key_bytes.len(), 32);
    assert!(overlay_of(&cluster, 2).is_empty(), "worker 2 runs no task on an overlay network");
    assert!(overlay_of(&cluster, 0).is_empty(), "the manager runs no task on an overlay network");
    // Nor can worker 2 read worker 1's assignments.
    let (code, _) = cluster.node_call(2, &format!(r#"{{"Assignments":{{"node":"{w1}","known":null}}}}"#));
    assert_ne!(code, 200);

    // A dnsrr service on the plain network, pinned to worker 2: no VIP; a task address; its
    // network arrives with no key.
    let w2 = cluster[2].id.clone();
    let pin2 = format!("node.id=={w2}");
    manager.docker_ok_limited(&["service", "create", "--no-resolve-image", "-d", "--stop-grace-period", "1s", "--name", "dns", "--endpoint-mode", "dnsrr", "--network", "plainnet", "--constraint", &pin2, "busybox:latest", "sleep", "100000"]);
    let dns_tasks = wait_tasks(&cluster, "dns", 1);
    let service = inspect(&cluster, "service", "dns");
    assert!(service["Endpoint"].get("VirtualIPs").is_none(), "{service}");
    assert_eq!(service["Endpoint"]["Spec"]["Mode"], "dnsrr");
    let task = inspect(&cluster, "task", &dns_tasks[0]);
    assert_eq!(task["NetworksAttachments"][0]["Addresses"][0], "10.20.0.1/16", "{task}");
    cluster.wait(CONVERGE, "worker 2 to receive plainnet", || network(&overlay_of(&cluster, 2), &plain).is_some());
    let networks = overlay_of(&cluster, 2);
    let received = network(&networks, &plain).unwrap();
    assert_eq!(received["keys"].as_array().map(Vec::len), Some(0), "{received}");
    assert!(network(&networks, &dbnet).is_none(), "worker 2 received dbnet: {networks:?}");

    // rm is refused while a service uses the network.
    let refused = manager.docker_err_limited(&["network", "rm", "dbnet"]);
    assert!(refused.contains("in use by service db"), "{refused}");

    // --network-add / --network-rm: db moves from dbnet to plainnet; worker 1 stops receiving
    // dbnet once its last task there has ended, and receives plainnet (peer: worker 2).
    manager.docker_ok_limited(&["service", "update", "-d", "--network-add", "plainnet", "db"]);
    cluster.wait(CONVERGE, "db's VIPs on both networks", || {
        inspect(&cluster, "service", "db")["Endpoint"]["VirtualIPs"].as_array().map(Vec::len) == Some(2)
    });
    manager.docker_ok_limited(&["service", "update", "-d", "--network-rm", "dbnet", "db"]);
    cluster.wait(CONVERGE, "worker 1 to hold plainnet only", || {
        let networks = overlay_of(&cluster, 1);
        network(&networks, &dbnet).is_none() && network(&networks, &plain).is_some()
    });
    cluster.wait(CONVERGE, "worker 1 to list plainnet and not dbnet", || {
        let on_worker = cluster[1].docker_ok_limited(&["network", "ls", "--format", "{{.Name}}"]);
        on_worker.contains("plainnet") && !on_worker.contains("dbnet")
    });
    let service = inspect(&cluster, "service", "db");
    let vips = service["Endpoint"]["VirtualIPs"].as_array().cloned().unwrap();
    assert_eq!(vips.len(), 1, "{service}");
    assert_eq!(vips[0]["NetworkID"], plain.as_str());
    let networks = overlay_of(&cluster, 1);
    let peers = &network(&networks, &plain).unwrap()["peers"];
    assert_eq!(peers[0]["node_id"], w2.as_str(), "{peers}");
    assert_eq!(peers[0]["addr"], cluster[2].ip.as_str(), "{peers}");

    // No service uses dbnet now: it goes; plainnet goes once its services do.
    manager.docker_ok_limited(&["network", "rm", "dbnet"]);
    manager.docker_ok_limited(&["service", "rm", "db", "dns"]);
    cluster.wait(CONVERGE, "plainnet to be removable", || manager.docker_limited(&["network", "rm", "plainnet"]).status.success());
    let listed = manager.docker_ok_limited(&["network", "ls", "--format", "{{.Name}}"]);
    assert!(!listed.contains("dbnet") && !listed.contains("plainnet"), "{listed}");

    // Creates and removals are in the manager's audit log, with whether the network is
    // encrypted: opting out is a security decision.
    let (records, verified) = manager.audit_records();
    assert!(verified);
    let entries = common::audit_entries(&manager.data_root().join("audit"));
    let created = |name: &str| entries.iter().find(|e| e["action"] == "network.create" && e["target"] == format!("network {name}") && e["outcome"] == "success");
    assert_eq!(created("dbnet").map(|e| e["detail"]["encrypted"].clone()), Some(Value::from("true")), "{records:?}");
    assert_eq!(created("plainnet").map(|e| e["detail"]["encrypted"].clone()), Some(Value::from("false")), "{records:?}");
    assert!(records.iter().any(|(action, target, outcome)| action == "network.remove" && *target == format!("network {dbnet}") && outcome == "success"), "{records:?}");

    // The key was never written in the clear, in raw or base64 form, nor logged.
    let roots: Vec<_> = (0..3).map(|i| cluster[i].data_root()).collect();
    let canaries = [("network key".to_owned(), key_bytes.clone()), ("network key (base64)".to_owned(), key.clone().into_bytes())];
    let hits = scan(&roots, &canaries);
    assert!(hits.is_empty(), "network key found in clear: {hits:?}");
    let logs = cluster.logs(100_000);
    assert!(!logs.contains(&key), "a daemon logged the network key");
}

#[test]
fn address_pools_other_than_the_default_are_refused_at_init() {
    let node = common::Node::start();
    for args in [&["--default-addr-pool", "10.10.0.0/16"][..], &["--default-addr-pool-mask-length", "26"][..]] {
        let mut init = vec!["swarm", "init", "--advertise-addr", "127.0.0.1", "--listen-addr", "127.0.0.1:0"];
        init.extend_from_slice(args);
        let refused = node.docker_err(&init);
        assert!(refused.contains("--default-addr-pool"), "{args:?}: {refused}");
    }
    assert_eq!(node.info("{{.Swarm.LocalNodeState}}").trim(), "inactive");
}
