#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Overlay networks between nodes, through the docker CLI: three daemons, each in a network
//! namespace of its own, joined by veth pairs to one bridge (the underlay). Services on two
//! nodes and a client task on the third reach each other by name over the overlay; connections
//! to a service's VIP reach every replica; `tasks.NAME` lists the replicas; and on the
//! underlay bridge a known payload is never seen in clear on an encrypted network, while it is
//! on one created with `--opt encrypted=false` (which proves the capture works); a port
//! published in ingress mode answers on every node; containers outside services join an
//! attachable network (`docker run --network`) and reach the services and each other by name.
//! One cluster serves every assertion.

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::cluster::{Cluster, Member};
use common::{stderr, stdout};

/// Longest a service may take to converge (images are loaded; tasks start in seconds).
const CONVERGE: Duration = Duration::from_secs(90);

/// What each web replica serves: a marker, then the replica's host name.
const PAYLOAD: &str = "PALISADE-OVERLAY-PAYLOAD";

/// A busybox web server answering `PAYLOAD-<hostname>`.
const WEB: &str = "mkdir -p /www && echo PALISADE-OVERLAY-PAYLOAD-$(hostname) > /www/index.html && exec busybox httpd -f -p 80 -h /www";

fn running_tasks(cluster: &Cluster, service: &str) -> usize {
    let out = cluster[0].docker_limited(&["service", "ps", service, "--filter", "desired-state=running", "--format", "{{.CurrentState}}"]);
    stdout(&out).lines().filter(|l| l.starts_with("Running")).count()
}

/// The ID of the container of `service`'s task on `member`.
fn task_container(member: &Member, service: &str) -> String {
    let names = member.docker_ok_limited(&["ps", "--format", "{{.ID}} {{.Names}}"]);
    names
        .lines()
        .find_map(|l| l.split_once(' ').filter(|(_, name)| name.starts_with(&format!("{service}."))).map(|(id, _)| id.to_owned()))
        .unwrap_or_else(|| panic!("no task of {service} runs on this node: {names}"))
}

/// `sh -c script` in container `id` on `member`: (exit code, stdout, stderr).
fn exec(member: &Member, id: &str, script: &str) -> (i32, String, String) {
    let out = member.docker_limited(&["exec", id, "sh", "-c", script]);
    (out.status.code().unwrap_or(-1), stdout(&out), stderr(&out))
}

/// The bodies of `count` fetches of `url` from the client.
fn fetch(member: &Member, client: &str, url: &str, count: usize) -> Vec<String> {
    let script = format!("for i in $(busybox seq {count}); do busybox timeout 3 busybox wget -q -O - {url} || echo FAILED; done");
    let (code, out, err) = exec(member, client, &script);
    assert_eq!(code, 0, "{out}{err}");
    out.lines().map(str::to_owned).collect()
}

/// The A records `nslookup NAME` (busybox, against the embedded server) prints.
fn resolve(member: &Member, client: &str, name: &str) -> BTreeSet<String> {
    let (_, out, _) = exec(member, client, &format!("busybox nslookup {name} 127.0.0.11"));
    out.split_once(&format!("Name:\t{name}"))
        .or_else(|| out.split_once(&format!("Name: {name}")))
        .map(|(_, answers)| answers)
        .unwrap_or("")
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Address: ").or_else(|| l.trim().strip_prefix("Address 1: ")))
        .map(|a| a.split_whitespace().next().unwrap_or("").to_owned())
        .filter(|a| a.starts_with("10."))
        .collect()
}

/// Captures the underlay bridge (in the hub namespace) while `traffic` runs: the bytes seen.
fn capture(cluster: &Cluster, traffic: impl FnOnce()) -> Vec<u8> {
    let hub = &cluster.netns.as_ref().unwrap().hub;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("underlay.pcap");
    let tcpdump = Command::new("ip")
        .args(["netns", "exec", hub, "tcpdump", "-i", "br0", "-n", "--immediate-mode", "-U", "-s", "0", "-w"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tcpdump is required (scripts/test installs it)");
    common::wait_for(Duration::from_secs(10), "tcpdump to start", || file.exists());
    traffic();
    std::thread::sleep(Duration::from_millis(500));
    let _ = Command::new("kill").args(["-INT", &tcpdump.id().to_string()]).status();
    let out = tcpdump.wait_with_output().unwrap();
    let bytes = std::fs::read(&file).unwrap();
    assert!(bytes.len() > 24 * 10, "tcpdump captured nothing: {}", String::from_utf8_lossy(&out.stderr));
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn services_on_three_nodes_reach_each_other_by_name_encrypted_unless_asked_not_to() {
    let mut cluster = Cluster::start_in_netns(3);
    cluster.load_busybox("busybox:latest");
    let client_node = cluster[2].id.clone();
    cluster[0].docker_ok_limited(&["network", "create", "-d", "overlay", "--attachable", "appnet"]);
    cluster[0].docker_ok_limited(&["network", "create", "-d", "overlay", "--opt", "encrypted=false", "plainnet"]);
    let away = format!("node.id!={client_node}");
    for (service, network) in [("web", "appnet"), ("plainweb", "plainnet")] {
        cluster[0].docker_ok_limited(&[
            "service", "create", "--no-resolve-image", "-d", "--name", service, "--replicas", "2", "--replicas-max-per-node", "1", "--network", network,
            "--constraint", &away, "busybox:latest", "sh", "-c", WEB,
        ]);
    }
    let here = format!("node.id=={client_node}");
    cluster[0].docker_ok_limited(&[
        "service", "create", "--no-resolve-image", "-d", "--name", "client", "--network", "appnet", "--network", "plainnet", "--constraint", &here,
        "busybox:latest", "sleep", "100000",
    ]);
    let converged = common::poll(CONVERGE, || {
        running_tasks(&cluster, "web") == 2 && running_tasks(&cluster, "plainweb") == 2 && running_tasks(&cluster, "client") == 1
    });
    if !converged {
        let ps = cluster[0].docker_limited(&["service", "ps", "--no-trunc", "web", "plainweb", "client"]);
        panic!("the services did not converge:\n{}\n--- node 2's log ---\n{}", stdout(&ps), cluster[2].log_tail(80));
    }
    let client = task_container(&cluster[2], "client");

    // By name, through the VIP: over repeated requests, both replicas (on the two other
    // nodes) answer.
    let bodies = fetch(&cluster[2], &client, "http://web/", 20);
    let replicas: BTreeSet<&String> = bodies.iter().filter(|b| b.starts_with(PAYLOAD)).collect();
    assert_eq!(replicas.len(), 2, "both replicas answer through the VIP: {bodies:?}\n--- node 2's log ---\n{}", cluster[2].log_tail(60));

    // `web` is the VIP; `tasks.web` the two replicas' addresses, which are not the VIP.
    let vip = cluster[0].docker_ok_limited(&["service", "inspect", "web", "--format", "{{range .Endpoint.VirtualIPs}}{{.Addr}}{{end}}"]);
    let vip = vip.trim().split('/').next().unwrap().to_owned();
    assert_eq!(resolve(&cluster[2], &client, "web"), BTreeSet::from([vip.clone()]));
    let tasks = resolve(&cluster[2], &client, "tasks.web");
    assert_eq!(tasks.len(), 2, "tasks.web: {tasks:?}");
    assert!(!tasks.contains(&vip), "{tasks:?} {vip}");
    for task in &tasks {
        let body = fetch(&cluster[2], &client, &format!("http://{task}/"), 1);
        assert!(body[0].starts_with(PAYLOAD), "task {task} answers directly: {body:?}");
    }

    // Containers outside services on the attachable network, on node 1 (beside a web
    // replica) and node 2: they reach the service by name, and each other by name; the
    // service's tasks resolve them too. A network made without --attachable is refused.
    let refused = cluster[2].docker_limited(&["run", "--rm", "--network", "plainnet", "busybox:latest", "true"]);
    assert!(!refused.status.success() && stderr(&refused).contains("not manually attachable"), "{}", stderr(&refused));
    cluster[1].docker_ok_limited(&["run", "-d", "--name", "sidecar", "--network", "appnet", "--network-alias", "helper", "busybox:latest", "sh", "-c", WEB]);
    cluster[2].docker_ok_limited(&["run", "-d", "--name", "standalone", "--network", "appnet", "busybox:latest", "sleep", "100000"]);
    let bodies = fetch(&cluster[2], "standalone", "http://web/", 10);
    assert!(bodies.iter().all(|b| b.starts_with(PAYLOAD)), "a container reaches the service by name: {bodies:?}\n{}", cluster[2].log_tail(40));
    let address = cluster[1].docker_ok_limited(&["inspect", "sidecar", "--format", "{{(index .NetworkSettings.Networks \"appnet\").IPAddress}}"]);
    assert!(address.trim().starts_with("10.0."), "inspect shows its address on the network: {address}");
    assert_eq!(resolve(&cluster[2], "standalone", "sidecar"), BTreeSet::from([address.trim().to_owned()]));
    for (from, url) in [("standalone", "http://sidecar/"), ("standalone", "http://helper/"), (client.as_str(), "http://sidecar/")] {
        let body = fetch(&cluster[2], from, url, 1);
        assert!(body[0].starts_with(PAYLOAD), "{from} reaches {url} on another node: {body:?}");
    }
    // Once it stops, its address is released and its name no longer resolves.
    cluster[1].docker_ok_limited(&["rm", "-f", "sidecar"]);
    let gone = common::poll(Duration::from_secs(20), || resolve(&cluster[2], "standalone", "sidecar").is_empty());
    assert!(gone, "a removed container's name still resolves");
    cluster[2].docker_ok_limited(&["rm", "-f", "standalone"]);

    // On the underlay: the payload crosses in clear only on the network that opted out.
    let encrypted = capture(&cluster, || {
        let bodies = fetch(&cluster[2], &client, "http://web/", 5);
        assert!(bodies.iter().all(|b| b.starts_with(PAYLOAD)), "{bodies:?}");
    });
    assert!(!contains(&encrypted, PAYLOAD), "the payload crossed the underlay in clear on an encrypted network");
    let plain = capture(&cluster, || {
        let bodies = fetch(&cluster[2], &client, "http://plainweb/", 5);
        assert!(bodies.iter().all(|b| b.starts_with(PAYLOAD)), "{bodies:?}");
    });
    assert!(contains(&plain, PAYLOAD), "the capture of the plain network shows the payload (so the capture works)");

    // A published port answers on every node, those without a replica included, and leads
    // to both replicas; another service cannot take the same port.
    cluster[0].docker_ok_limited(&[
        "service", "create", "--no-resolve-image", "-d", "--name", "public", "--replicas", "2", "--replicas-max-per-node", "1", "--publish",
        "published=8080,target=80", "--constraint", &away, "busybox:latest", "sh", "-c", WEB,
    ]);
    let converged = common::poll(CONVERGE, || running_tasks(&cluster, "public") == 2);
    assert!(converged, "public did not converge: {}", stdout(&cluster[0].docker_limited(&["service", "ps", "--no-trunc", "public"])));
    let ports = cluster[0].docker_ok_limited(&["service", "ls", "--filter", "name=public", "--format", "{{.Ports}}"]);
    assert_eq!(ports.trim(), "*:8080->80/tcp");
    let ingress = cluster[0].docker_ok_limited(&["network", "inspect", "ingress", "--format", "{{.Ingress}} {{.Driver}} {{.Scope}}"]);
    assert_eq!(ingress.trim(), "true overlay swarm");
    let netns = cluster.netns.as_ref().unwrap();
    for node in 0..3 {
        let from = &netns.nodes[(node + 1) % 3];
        let url = format!("http://{}:8080/", netns.ip(node));
        let mut seen = BTreeSet::new();
        let answered = common::poll(CONVERGE, || {
            let out = Command::new("nsenter").arg(format!("--net=/run/netns/{from}")).args(["curl", "-s", "--max-time", "3", &url]).output().unwrap();
            let body = stdout(&out);
            if body.starts_with(PAYLOAD) {
                seen.insert(body.trim().to_owned());
            }
            seen.len() == 2
        });
        if !answered {
            let state = Command::new("nsenter")
                .arg(format!("--net=/run/netns/{}", netns.nodes[node]))
                .args(["sh", "-c", "ip -br addr; ip route; nft list table ip palisade_ingress; sysctl net.ipv4.ip_forward"])
                .output()
                .unwrap();
            let tasks = stdout(&cluster[0].docker_limited(&["service", "ps", "--no-trunc", "public"]));
            panic!(
                "node {node} did not lead port 8080 to both replicas: {seen:?}\n{}{}\n{tasks}\n--- its log ---\n{}",
                stdout(&state),
                stderr(&state),
                cluster[node].log_tail(20)
            );
        }
    }
    let clash = cluster[0].docker_limited(&["service", "create", "--no-resolve-image", "--name", "again", "--publish", "published=8080,target=81", "busybox:latest", "sleep", "1"]);
    assert!(!clash.status.success() && stderr(&clash).contains("already in use by service 'public'"), "{}", stderr(&clash));

    // A port left to the cluster gets the first of the dynamic range, on every node too.
    cluster[0].docker_ok_limited(&["service", "update", "-d", "--publish-add", "target=80", "public"]);
    let ports = cluster[0].docker_ok_limited(&["service", "ls", "--filter", "name=public", "--format", "{{.Ports}}"]);
    let endpoint = cluster[0].docker_ok_limited(&["service", "inspect", "public", "--format", "{{json .Spec.EndpointSpec}} {{json .Endpoint}}"]);
    assert_eq!(ports.trim(), "*:8080->80/tcp, *:30000->80/tcp", "{endpoint}");
    let url = format!("http://{}:30000/", netns.ip(2));
    let answered = common::poll(CONVERGE, || {
        let out = Command::new("nsenter").arg(format!("--net=/run/netns/{}", netns.nodes[0])).args(["curl", "-s", "--max-time", "3", &url]).output().unwrap();
        stdout(&out).starts_with(PAYLOAD)
    });
    assert!(answered, "the port the cluster chose does not answer");

    // A container the daemon starts again after a crash (--restart always) joins its swarm
    // network again, and is reached by name.
    cluster[1].docker_ok_limited(&["run", "-d", "--restart", "always", "--name", "keeper", "--network", "appnet", "busybox:latest", "sh", "-c", WEB]);
    let reaches_keeper = |cluster: &Cluster| {
        let (code, out, _) = exec(&cluster[2], &client, "busybox timeout 3 busybox wget -q -O - http://keeper/");
        code == 0 && out.starts_with(PAYLOAD)
    };
    assert!(common::poll(Duration::from_secs(20), || reaches_keeper(&cluster)), "keeper is not reached by name");
    // One created but never started comes back with the daemon, and joins when started.
    cluster[1].docker_ok_limited(&["create", "--name", "later", "--network", "appnet", "busybox:latest", "sleep", "100000"]);
    cluster[1].restart();
    let back = common::poll(CONVERGE, || reaches_keeper(&cluster));
    assert!(back, "keeper did not join its network again after its daemon restarted:\n{}", cluster[1].log_tail(40));
    cluster[1].docker_ok_limited(&["start", "later"]);
    let address = cluster[1].docker_ok_limited(&["inspect", "later", "--format", "{{(index .NetworkSettings.Networks \"appnet\").IPAddress}}"]);
    assert!(address.trim().starts_with("10.0."), "{address}");
}
