#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Networks through the docker CLI against a daemon in its own network namespace: user
//! networks with DNS by name and alias, isolation between networks, internal networks, the
//! default bridge's isolation unless `--icc`, `--network none`, published ports bound to one
//! address and released on stop, and refused bad requests.

mod common;

use std::time::Duration;

use common::netns_node::{fetch_script, NetNode};
use common::wait_for;

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_alias_and_no_one_else_does() {
    let node = NetNode::start(&[]);
    node.load_busybox("bb:latest");
    node.docker_ok(&["network", "create", "--subnet", "10.77.0.0/24", "--label", "team=a", "front"]);
    node.docker_ok(&["network", "create", "back"]);
    node.web("web", &["--network", "front", "--network-alias", "www", "--ip", "10.77.0.50"], "hello-front");

    let ip = node.docker_ok(&["inspect", "-f", "{{.NetworkSettings.Networks.front.IPAddress}} {{.NetworkSettings.Networks.front.Aliases}}", "web"]);
    assert_eq!(ip.trim(), "10.77.0.50 [www]");
    let (code, out, err) = node.run_sh(&["--network", "front"], &format!("cat /etc/resolv.conf; {}; {}", fetch_script("http://web/"), fetch_script("http://www/")));
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("nameserver 127.0.0.11"), "{out}");
    assert_eq!(out.matches("hello-front").count(), 2, "{out}");
    // Its own /etc/hosts names it by its address, as Docker's does (`hostname -i` works), and
    // any user of the container reads it.
    let (code, out, err) = node.run_sh(&["--network", "front", "--ip", "10.77.0.60", "--hostname", "me", "-u", "1000:1000"], "grep -w me /etc/hosts");
    assert_eq!((code, out.trim()), (0, "10.77.0.60\tme"), "{err}");

    // Another network: neither the name nor the address is reachable.
    let (code, out, _) = node.run_sh(&["--network", "back"], &fetch_script("http://10.77.0.50/"));
    assert_ne!(code, 0, "a container on another network reached web: {out}");
    let (code, out, _) = node.run_sh(&["--network", "back"], "nslookup web 127.0.0.11");
    assert!(code != 0 || !out.contains("10.77.0.50"), "{out}");

    // Connected to front as well, it gets an address there.
    node.docker_ok(&["run", "-d", "--name", "both", "--network", "back", "bb", "sleep", "1000"]);
    node.docker_ok(&["network", "connect", "--alias", "b2", "front", "both"]);
    let nets = node.docker_ok(&["inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}}={{$v.IPAddress}} {{end}}", "both"]);
    assert!(nets.contains("back=172.") && nets.contains("front=10.77.0."), "{nets}");
    let inspect = node.docker_ok(&["network", "inspect", "-f", "{{.IPAM.Config}} {{.Labels}} {{len .Containers}}", "front"]);
    assert!(inspect.contains("10.77.0.0/24") && inspect.contains("team:a") && inspect.trim().ends_with('2'), "{inspect}");

    // From the default bridge (the host's resolvers) to a user network: names resolve at once.
    node.docker_ok(&["run", "-d", "--name", "solo", "bb", "sleep", "1000"]);
    node.docker_ok(&["network", "connect", "front", "solo"]);
    let script = format!("grep nameserver /etc/resolv.conf; {}", fetch_script("http://www/"));
    let fetched = node.docker_ok(&["exec", "solo", "sh", "-c", &script]);
    assert!(fetched.contains("nameserver 127.0.0.11") && fetched.contains("hello-front"), "{fetched}");
    node.docker_ok(&["network", "disconnect", "front", "solo"]);
    let resolv = node.docker_ok(&["exec", "solo", "cat", "/etc/resolv.conf"]);
    assert!(!resolv.contains("127.0.0.11"), "the embedded server is named after its last network left: {resolv}");
    node.docker_ok(&["rm", "-f", "solo"]);

    let err = node.docker_err(&["network", "rm", "front"]);
    assert!(err.contains("has active endpoints"), "{err}");
    node.docker_ok(&["network", "disconnect", "front", "both"]);
    node.docker_ok(&["rm", "-f", "web", "both"]);
    assert_eq!(node.docker_ok(&["network", "rm", "front"]).trim(), "front");
    let ls = node.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(ls.split_whitespace().collect::<Vec<_>>(), ["back", "bridge", "host", "none"], "{ls}");
    let pruned = node.docker_ok(&["network", "prune", "-f"]);
    assert!(pruned.contains("back"), "{pruned}");
    let rules = common::stdout(&node.host_sh("nft list ruleset"));
    assert!(rules.contains("table ip palisade") && !rules.contains("pb-"), "rules of removed networks are left:\n{rules}");
}

#[test]
fn internal_networks_have_no_way_out() {
    let node = NetNode::start(&[]);
    node.load_busybox("bb:latest");
    // A server on the daemon's side, on an address outside every container network.
    assert!(node.host_sh("ip link add out0 type veth peer name out1 && ip addr add 198.18.7.1/24 dev out0 && ip link set out0 up && ip link set out1 up").status.success());
    let _server = node.host_httpd("198.18.7.1:8080", "outside");
    node.docker_ok(&["network", "create", "open"]);
    node.docker_ok(&["network", "create", "--internal", "sealed"]);

    let (code, out, err) = node.run_sh(&["--network", "open"], &fetch_script("http://198.18.7.1:8080/"));
    assert_eq!((code, out.trim()), (0, "outside"), "{err}");
    let (code, out, _) = node.run_sh(&["--network", "sealed"], &format!("ip route; {}", fetch_script("http://198.18.7.1:8080/")));
    assert_ne!(code, 0, "an internal network reached the outside: {out}");
    assert!(!out.contains("default"), "an internal network has a default route: {out}");
}

#[test]
fn containers_on_the_default_bridge_are_isolated_unless_the_daemon_runs_with_icc() {
    for (flags, reachable) in [(&[][..], false), (&["--icc"][..], true)] {
        let node = NetNode::start(flags);
        node.load_busybox("bb:latest");
        node.web("web", &[], "hello-bridge");
        let ip = node.docker_ok(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", "web"]).trim().to_owned();
        assert!(ip.starts_with("172.17."), "{ip}");
        let (code, out, _) = node.run_sh(&[], &format!("grep -v 127.0.0.11 /etc/resolv.conf >/dev/null; {}", fetch_script(&format!("http://{ip}/"))));
        assert_eq!(code == 0 && out.contains("hello-bridge"), reachable, "flags {flags:?}: {out}");
        // The host side reaches it either way.
        assert_eq!(node.host_fetch_eventually(&format!("http://{ip}/")).as_deref().map(str::trim), Some("hello-bridge"));
    }
}

#[test]
fn network_none_has_only_loopback() {
    let node = NetNode::start(&[]);
    node.load_busybox("bb:latest");
    let (code, out, err) = node.run_sh(&["--network", "none"], "ls /sys/class/net");
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), ["lo"], "{out}");
}

#[test]
fn a_published_port_answers_on_its_address_only_and_is_released_on_stop() {
    let node = NetNode::start(&[]);
    node.load_busybox("bb:latest");
    assert!(node.host_sh("ip addr add 127.0.0.2/8 dev lo").status.success());
    node.web("pub", &["-p", "127.0.0.1:8081:80", "--expose", "90"], "published");
    assert_eq!(node.docker_ok(&["port", "pub", "80"]).trim(), "127.0.0.1:8081");
    let ps = node.docker_ok(&["ps", "--format", "{{.Ports}}"]);
    assert!(ps.contains("127.0.0.1:8081->80/tcp"), "{ps}");
    assert_eq!(node.host_fetch_eventually("http://127.0.0.1:8081/").as_deref().map(str::trim), Some("published"));
    assert_eq!(node.host_fetch("http://127.0.0.2:8081/"), None, "answered on another loopback address");
    let gateway = node.docker_ok(&["inspect", "-f", "{{.NetworkSettings.Gateway}}", "pub"]).trim().to_owned();
    assert_eq!(node.host_fetch(&format!("http://{gateway}:8081/")), None, "answered on the bridge address");

    // -P: a free host port for each exposed port.
    node.web("all", &["-P", "--expose", "80"], "all");
    let port = node.docker_ok(&["port", "all", "80"]);
    let port = port.lines().next().unwrap().rsplit(':').next().unwrap().to_owned();
    assert_eq!(node.host_fetch_eventually(&format!("http://127.0.0.1:{port}/")).as_deref().map(str::trim), Some("all"));

    node.docker_ok(&["stop", "-t", "1", "pub"]);
    assert_eq!(node.host_fetch("http://127.0.0.1:8081/"), None, "still answering after stop");
    let rules = common::stdout(&node.host_sh("nft list ruleset"));
    assert!(rules.contains("published_at") && !rules.contains("8081"), "the port's rules are left after stop:\n{rules}");
    // Released: another container takes the same port.
    node.web("again", &["-p", "127.0.0.1:8081:80"], "again");
    wait_for(Duration::from_secs(5), "the port to answer again", || node.host_fetch("http://127.0.0.1:8081/").is_some_and(|b| b.contains("again")));
}

#[test]
fn bad_network_requests_are_refused_and_change_nothing() {
    let node = NetNode::start(&[]);
    node.load_busybox("bb:latest");
    node.docker_ok(&["network", "create", "--subnet", "10.88.0.0/16", "taken"]);
    let before = node.docker_ok(&["network", "ls", "-q"]);
    for (args, message) in [
        (&["network", "create", "--subnet", "10.88.1.0/24", "x"][..], "overlaps"),
        (&["network", "create", "--subnet", "10.99.0.7/24", "x"][..], "host bits"),
        (&["network", "create", "--subnet", "banana", "x"][..], "invalid subnet"),
        (&["network", "create", "--subnet", "10.99.0.0/24", "--gateway", "10.98.0.1", "x"][..], "gateway"),
        (&["network", "create", "taken"][..], "already exists"),
        (&["network", "create", "-d", "overlay", "x"][..], "This node is not a swarm manager"),
        (&["network", "create", "--ipv6", "x"][..], "not supported"),
        (&["network", "rm", "bridge"][..], "pre-defined"),
        (&["network", "rm", "nosuch"][..], "not found"),
        (&["run", "--rm", "--network", "nosuch", "bb", "true"][..], "not found"),
        (&["run", "--rm", "--network", "taken", "--ip", "10.99.0.5", "bb", "true"][..], "not an assignable address"),
        (&["run", "--rm", "--network-alias", "a", "bb", "true"][..], "user-defined networks"),
        (&["run", "--rm", "--network", "none", "-p", "80:80", "bb", "true"][..], "port publishing"),
    ] {
        let err = node.docker_err(args);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    assert_eq!(node.docker_ok(&["network", "ls", "-q"]), before);
    assert!(node.docker_ok(&["ps", "-aq"]).trim().is_empty());
    assert!(node.runtime_containers().is_empty());
}

#[test]
fn containers_keep_their_networks_across_a_daemon_crash() {
    let mut node = NetNode::start(&[]);
    node.load_busybox("bb:latest");
    node.docker_ok(&["network", "create", "kept"]);
    node.web("left", &["--network", "kept", "-p", "127.0.0.1:8082:80"], "left");
    node.web("always", &["--network", "kept", "--network-alias", "svc", "--restart", "always"], "always");
    assert_eq!(node.host_fetch_eventually("http://127.0.0.1:8082/").as_deref().map(str::trim), Some("left"));
    // Connected after it started (and to one network only for a while): kept as it stands.
    node.docker_ok(&["network", "create", "later"]);
    node.docker_ok(&["network", "create", "gone"]);
    node.docker_ok(&["network", "connect", "--alias", "late", "later", "always"]);
    node.docker_ok(&["network", "connect", "gone", "always"]);
    node.docker_ok(&["network", "disconnect", "gone", "always"]);
    node.crash_and_restart();
    // The crashed daemon's containers were stopped with it: their ports and rules are gone.
    assert_eq!(node.host_fetch("http://127.0.0.1:8082/"), None, "the port still answers after the crash");
    let rules = common::stdout(&node.host_sh("nft list ruleset"));
    assert!(rules.contains("published_at") && !rules.contains("8082"), "the crashed daemon's port rules are left:\n{rules}");
    assert!(node.docker_ok(&["network", "ls", "--format", "{{.Name}}"]).contains("kept"), "user networks persist");
    // The `always` container is back on its network, found by name and alias.
    common::wait_for(std::time::Duration::from_secs(10), "always running", || {
        node.docker_ok(&["inspect", "-f", "{{.State.Running}}", "always"]).trim() == "true"
    });
    let (code, out, err) = node.run_sh(&["--network", "kept"], &format!("{}; {}", fetch_script("http://always/"), fetch_script("http://svc/")));
    assert_eq!((code, out.matches("always").count()), (0, 2), "{out}{err}");
    let on = node.docker_ok(&["inspect", "-f", "{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}", "always"]);
    assert_eq!(on.split_whitespace().collect::<std::collections::BTreeSet<_>>(), ["kept", "later"].into(), "{on}");
    let (code, out, err) = node.run_sh(&["--network", "later"], &fetch_script("http://late/"));
    assert_eq!((code, out.trim()), (0, "always"), "the network connected after start is back: {out}{err}");
    // The other one starts again with its network and its published port.
    node.docker_ok(&["start", "left"]);
    common::wait_for(std::time::Duration::from_secs(10), "the port again", || {
        node.host_fetch("http://127.0.0.1:8082/").as_deref().map(str::trim) == Some("left")
    });
    node.docker_ok(&["rm", "-f", "left", "always"]);
    let netns_dir = palisade_runtime::state_dir_for(&node.data_dir().join("runtime")).unwrap().join("netns");
    assert_eq!(std::fs::read_dir(&netns_dir).unwrap().count(), 0, "namespaces left in {}", netns_dir.display());
}
