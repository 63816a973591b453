#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The `palisade` container verbs docker users expect — `volume …`, `run -v/--mount/--restart`,
//! `exec`, `start`, `restart`, `cp` and `network …` — as clients of a real `palisade daemon`
//! (crun): each outcome is checked in the container, on the host, or with the docker CLI.

mod common;

use std::path::Path;
use std::time::Duration;

use common::netns_node::{fetch_script, NetNode};
use common::{stderr, stdout, wait_for, Node};

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

fn mode(path: &Path) -> u32 {
    std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(path).unwrap().permissions()) & 0o7777
}

#[test]
fn volumes_and_the_mount_flags_of_run() {
    let node = Node::start();
    node.load_busybox("bb:latest");

    assert_eq!(node.palisade_ok(&["volume", "create", "--label", "tier=db", "data1"]), "data1\n");
    let generated = node.palisade_ok(&["volume", "create"]);
    assert!(generated.trim().len() == 64 && generated.trim().bytes().all(|b| b.is_ascii_hexdigit()), "{generated}");
    let ls = node.palisade_ok(&["volume", "ls"]);
    assert!(ls.starts_with("DRIVER    VOLUME NAME\n") && ls.contains("\nlocal     data1\n"), "{ls}");
    let inspect = json(&node.palisade_ok(&["volume", "inspect", "data1", generated.trim()]));
    assert_eq!(inspect.as_array().unwrap().len(), 2, "{inspect}");
    assert_eq!((inspect[0]["Name"].as_str(), inspect[0]["Driver"].as_str(), inspect[0]["Labels"]["tier"].as_str()), (Some("data1"), Some("local"), Some("db")));
    let mountpoint = inspect[0]["Mountpoint"].as_str().unwrap().to_owned();
    assert_eq!(node.palisade_ok(&["volume", "rm", generated.trim()]), generated);
    assert_eq!(node.palisade_ok(&["volume", "ls", "-q"]), "data1\n");

    // Written through -v NAME:/PATH by a container that is then removed: the data stays.
    let out = node.palisade(&["run", "--name", "writer", "-v", "data1:/data", "bb", "sh", "-c", "echo kept > /data/f"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(node.palisade_ok(&["rm", "writer"]), "writer\n");
    assert_eq!(std::fs::read_to_string(Path::new(&mountpoint).join("f")).unwrap(), "kept\n");
    assert_eq!(node.palisade_ok(&["run", "--rm", "-v", "data1:/data:ro", "bb", "cat", "/data/f"]), "kept\n");
    let out = node.palisade(&["run", "--rm", "-v", "data1:/data:ro", "bb", "sh", "-c", "echo x > /data/g"]);
    assert!(!out.status.success() && stderr(&out).contains("Read-only file system"), "{}", stderr(&out));

    // A host directory with -v, a volume and a tmpfs with --mount.
    let host = node.dir.path().join("shared");
    std::fs::create_dir(&host).unwrap();
    let bind = format!("{}:/h", host.display());
    node.palisade_ok(&["run", "--rm", "-v", &bind, "bb", "sh", "-c", "echo from-container > /h/out"]);
    assert_eq!(std::fs::read_to_string(host.join("out")).unwrap(), "from-container\n");
    let mounts = node.palisade_ok(&[
        "run", "--rm", "--mount", "type=volume,source=data2,target=/d,volume-label=made=by-mount",
        "--mount", "type=tmpfs,target=/t,tmpfs-size=1m", "bb", "cat", "/proc/self/mounts",
    ]);
    assert!(mounts.lines().any(|l| l.starts_with("tmpfs /t tmpfs") && l.contains("size=1024k")), "{mounts}");
    assert_eq!(node.docker_ok(&["volume", "inspect", "-f", "{{.Labels.made}}", "data2"]).trim(), "by-mount");

    // In use: refused; -f on a missing volume: not an error.
    node.palisade_ok(&["run", "-d", "--name", "user", "-v", "data1:/data", "bb", "sleep", "600"]);
    let err = node.palisade_err(&["volume", "rm", "data1"]);
    assert!(err.contains("volume is in use"), "{err}");
    node.palisade_ok(&["rm", "-f", "user"]);
    assert!(node.palisade_err(&["volume", "rm", "nosuch"]).contains("nosuch"));
    assert_eq!(node.palisade_ok(&["volume", "rm", "-f", "nosuch"]), "nosuch\n");

    // prune takes only the unused anonymous volumes (-v /PATH).
    node.palisade_ok(&["run", "--name", "anon", "-v", "/scratch", "bb", "true"]);
    let anonymous: Vec<String> = node.palisade_ok(&["volume", "ls", "-q"]).lines().filter(|l| l.len() == 64).map(str::to_owned).collect();
    assert_eq!(anonymous.len(), 1, "{anonymous:?}");
    assert_eq!(node.palisade_ok(&["volume", "prune", "-f"]), "Total reclaimed space: 0B\n", "a stopped container still uses it");
    node.palisade_ok(&["rm", "anon"]);
    let pruned = node.palisade_ok(&["volume", "prune", "-f"]);
    assert!(pruned.starts_with(&format!("Deleted Volumes:\n{}\n\nTotal reclaimed space: ", anonymous[0])), "{pruned}");
    assert_eq!(node.palisade_ok(&["volume", "ls", "-q"]), "data1\ndata2\n");
    // Without -f and without a yes on stdin, nothing is pruned.
    node.palisade_ok(&["run", "--name", "anon2", "-v", "/scratch", "bb", "true"]);
    node.palisade_ok(&["rm", "anon2"]);
    let err = node.palisade_err(&["volume", "prune"]);
    assert!(err.contains("volume prune has been cancelled"), "{err}");
    assert_eq!(node.palisade_ok(&["volume", "ls", "-q"]).lines().count(), 3);
    node.palisade_ok(&["volume", "prune", "--all", "-f"]);
    assert_eq!(node.palisade_ok(&["volume", "ls", "-q"]), "");

    // Bad flags: a clear error, and nothing created.
    for (args, message) in [
        (&["run", "--rm", "-v", "a:/b:ro:x", "bb", "true"][..], "too many colons"),
        (&["run", "--rm", "-v", "", "bb", "true"][..], "invalid empty volume spec"),
        (&["run", "--rm", "-v", "data:/d:shared", "bb", "true"][..], "propagation"),
        (&["run", "--rm", "--mount", "target=/t,color=blue", "bb", "true"][..], "unexpected key 'color'"),
        (&["run", "--rm", "--mount", "type=bind,target=/t", "bb", "true"][..], "bind source path"),
        (&["run", "--rm", "--mount", "type=volume,target=/t,volume-driver=nfs", "bb", "true"][..], "not supported"),
        (&["run", "-d", "--restart", "on-failure:x", "bb", "true"][..], "maximum retry count must be an integer"),
        (&["run", "-d", "--restart", "sometimes", "bb", "true"][..], "restart policy"),
    ] {
        let err = node.palisade_err(args);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    assert_eq!(node.palisade_ok(&["ps", "-a", "-q"]), "");
    assert_eq!(node.palisade_ok(&["volume", "ls", "-q"]), "");
}

#[test]
fn exec_start_restart_and_restart_policies() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    node.palisade_ok(&["run", "-d", "--name", "box", "bb", "sleep", "600"]);

    // exec: both streams, the exit code, -e/-w/-u.
    let out = node.palisade(&["exec", "box", "sh", "-c", "echo out; echo err >&2; exit 7"]);
    assert_eq!((out.status.code(), stdout(&out).as_str(), stderr(&out).as_str()), (Some(7), "out\n", "err\n"));
    let out = node.palisade_ok(&["exec", "-e", "GREETING=hi", "-w", "/tmp", "-u", "65534:65534", "box", "sh", "-c", "echo $(id -u):$(id -g) $GREETING $(pwd)"]);
    assert_eq!(out, "65534:65534 hi /tmp\n");
    assert_eq!(node.palisade(&["exec", "box", "no-such-command"]).status.code(), Some(127));
    node.palisade_ok(&["exec", "-d", "box", "sh", "-c", "echo detached > /tmp/d"]);
    wait_for(Duration::from_secs(10), "the detached exec", || node.palisade_ok(&["exec", "box", "cat", "/tmp/d"]) == "detached\n");
    assert!(node.palisade_err(&["exec", "nosuch", "true"]).contains("No such container: nosuch"));

    // start: a stopped container runs again, with its writable layer.
    assert_eq!(node.palisade_ok(&["stop", "-t", "0", "box"]), "box\n");
    assert!(node.palisade_err(&["exec", "box", "true"]).contains("is not running"));
    assert_eq!(node.palisade_ok(&["start", "box"]), "box\n");
    assert!(node.palisade_ok(&["ps"]).lines().any(|l| l.ends_with(" box") && l.contains("Up")));
    assert_eq!(node.palisade_ok(&["exec", "box", "cat", "/tmp/d"]), "detached\n");
    // One that ran to completion runs its command again.
    node.palisade_ok(&["run", "--name", "once", "bb", "echo", "hello"]);
    assert_eq!(node.palisade_ok(&["start", "once"]), "once\n");
    wait_for(Duration::from_secs(10), "the second run's output", || node.palisade_ok(&["logs", "once"]) == "hello\nhello\n");
    // Several: the good ones are started, the errors reported at the end.
    node.palisade_ok(&["stop", "-t", "0", "box"]);
    let out = node.palisade(&["start", "nosuch", "box"]);
    assert!(!out.status.success() && stderr(&out).contains("No such container: nosuch"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "box\n");
    assert!(node.palisade_ok(&["ps"]).lines().any(|l| l.ends_with(" box")));

    // restart: a new process.
    let started = |name: &str| node.docker_ok(&["inspect", "-f", "{{.State.Pid}} {{.State.StartedAt}}", name]);
    let before = started("box");
    assert_eq!(node.palisade_ok(&["restart", "-t", "0", "box"]), "box\n");
    let after = started("box");
    assert_ne!(before, after);
    assert_eq!(node.docker_ok(&["inspect", "-f", "{{.State.Status}}", "box"]).trim(), "running");

    // run --restart: the policy reaches the daemon and acts.
    node.palisade_ok(&["run", "-d", "--restart", "on-failure:2", "--name", "flaky", "bb", "sh", "-c", "echo try; exit 3"]);
    assert_eq!(node.docker_ok(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}", "flaky"]).trim(), "on-failure:2");
    let state = || node.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", "flaky"]).trim().to_owned();
    wait_for(Duration::from_secs(15), "flaky to give up", || state() == "exited 2 3");
    assert_eq!(node.palisade_ok(&["logs", "flaky"]), "try\ntry\ntry\n");
    let err = node.palisade_err(&["run", "--rm", "--restart", "always", "bb", "true"]);
    assert!(err.contains("restart policy"), "{err}");
}

#[test]
fn cp_both_ways_and_never_through_a_link_the_container_planted() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let work = tempfile::tempdir().unwrap();
    let w = |name: &str| work.path().join(name).to_str().unwrap().to_owned();
    let src = work.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    std::fs::write(src.join("a.txt"), "alpha\n").unwrap();
    std::fs::write(src.join("sub/b.txt"), "beta\n").unwrap();
    std::os::unix::fs::symlink("a.txt", src.join("link")).unwrap();
    std::fs::write(work.path().join("one.txt"), "one file\n").unwrap();
    node.palisade_ok(&["run", "-d", "--name", "box", "bb", "sleep", "600"]);

    // Host → container: a file under a new name, a directory into a directory, a directory's
    // contents as a new directory.
    node.palisade_ok(&["cp", &w("one.txt"), "box:/tmp/renamed.txt"]);
    node.palisade_ok(&["cp", &w("src"), "box:/root/"]);
    node.palisade_ok(&["cp", &format!("{}/.", w("src")), "box:/tmp/contents"]);
    assert_eq!(node.palisade_ok(&["exec", "box", "cat", "/tmp/renamed.txt", "/root/src/a.txt", "/root/src/sub/b.txt", "/tmp/contents/sub/b.txt"]), "one file\nalpha\nbeta\nbeta\n");
    assert_eq!(node.palisade_ok(&["exec", "box", "sh", "-c", "readlink /root/src/link; stat -c %u:%g /root/src/a.txt"]), "a.txt\n0:0\n");
    let err = node.palisade_err(&["cp", &w("src"), "box:/tmp/renamed.txt"]);
    assert!(err.contains("cannot copy a directory"), "{err}");

    // Container → host: a directory as a new path (modes kept), a file into a directory, a
    // directory's contents into an existing one.
    node.palisade_ok(&["exec", "box", "sh", "-c", "mkdir -p /data/d && echo made-inside > /data/d/f && chmod 640 /data/d/f"]);
    node.palisade_ok(&["cp", "box:/data/d", &w("out")]);
    assert_eq!(std::fs::read_to_string(work.path().join("out/f")).unwrap(), "made-inside\n");
    assert_eq!(mode(&work.path().join("out/f")), 0o640);
    node.palisade_ok(&["cp", "box:/tmp/renamed.txt", &w("out")]);
    assert_eq!(std::fs::read_to_string(work.path().join("out/renamed.txt")).unwrap(), "one file\n");
    std::fs::create_dir(work.path().join("merged")).unwrap();
    node.palisade_ok(&["cp", "box:/data/d/.", &w("merged")]);
    assert_eq!(std::fs::read_to_string(work.path().join("merged/f")).unwrap(), "made-inside\n");
    let err = node.palisade_err(&["cp", "box:/no/such/file", &w("x")]);
    assert!(err.contains("Could not find the file /no/such/file in container box"), "{err}");
    assert!(node.palisade_err(&["cp", &w("one.txt"), &w("two.txt")]).contains("at least one container"));

    // The container plants a link to a host directory, then a directory of that name: the
    // second copy is refused, and nothing is written through the link.
    let outside = tempfile::tempdir().unwrap();
    let planted = format!("ln -s {} /data/d/x", outside.path().display());
    node.palisade_ok(&["exec", "box", "sh", "-c", &planted]);
    node.palisade_ok(&["cp", "box:/data/d/.", &w("merged")]);
    assert_eq!(std::fs::read_link(work.path().join("merged/x")).unwrap(), outside.path());
    node.palisade_ok(&["exec", "box", "sh", "-c", "rm /data/d/x && mkdir /data/d/x && echo planted > /data/d/x/evil"]);
    let err = node.palisade_err(&["cp", "box:/data/d/.", &w("merged")]);
    assert!(err.contains("cannot overwrite non-directory"), "{err}");
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0, "a file was written through the container's link");

    // A stopped container, both ways.
    node.palisade_ok(&["stop", "-t", "0", "box"]);
    node.palisade_ok(&["cp", &w("one.txt"), "box:/tmp/while-stopped.txt"]);
    node.palisade_ok(&["cp", "box:/root/src", &w("from-stopped")]);
    assert_eq!(std::fs::read_link(work.path().join("from-stopped/link")).unwrap(), Path::new("a.txt"));
    node.palisade_ok(&["start", "box"]);
    assert_eq!(node.palisade_ok(&["exec", "box", "cat", "/tmp/while-stopped.txt"]), "one file\n");
}

#[test]
fn networks_create_ls_inspect_connect_rm_and_prune() {
    // A user network is a bridge and nftables rules: in a network namespace of its own.
    let node = NetNode::start(&[]);
    node.load_busybox("bb:latest");
    let id = node.palisade_ok(&["network", "create", "--subnet", "10.77.0.0/24", "--gateway", "10.77.0.1", "--label", "team=a", "front"]);
    assert_eq!(id.trim().len(), 64, "{id}");
    node.palisade_ok(&["network", "create", "--internal", "back"]);
    let ls = node.palisade_ok(&["network", "ls"]);
    let rows: Vec<Vec<&str>> = ls.lines().map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows[0], ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"], "{ls}");
    let names: Vec<&str> = rows[1..].iter().map(|r| r[1]).collect();
    assert_eq!(names, ["back", "bridge", "front", "host", "none"], "{ls}");
    assert!(rows.iter().any(|r| r[..] == [&id.trim()[..12], "front", "bridge", "local"]), "{ls}");
    assert_eq!(node.palisade_ok(&["network", "ls", "-q"]).lines().count(), 5);
    let inspect = json(&node.palisade_ok(&["network", "inspect", "front", "back"]));
    assert_eq!(inspect[0]["Id"], id.trim());
    assert_eq!(inspect[0]["IPAM"]["Config"][0]["Subnet"], "10.77.0.0/24");
    assert_eq!(inspect[0]["IPAM"]["Config"][0]["Gateway"], "10.77.0.1");
    assert_eq!(inspect[0]["Labels"]["team"], "a");
    assert_eq!((inspect[1]["Name"].as_str(), inspect[1]["Internal"].as_bool()), (Some("back"), Some(true)));

    // connect: a container of another network reaches web by its name, until disconnected.
    node.web("web", &["--network", "front", "--ip", "10.77.0.50"], "hello-front");
    node.palisade_ok(&["run", "-d", "--name", "other", "--network", "back", "bb", "sleep", "600"]);
    let fetch = fetch_script("http://web/");
    let out = node.palisade(&["exec", "other", "sh", "-c", &fetch]);
    assert!(!out.status.success(), "reached web before being connected: {}", stdout(&out));
    assert_eq!(node.palisade_ok(&["network", "connect", "--alias", "o2", "--ip", "10.77.0.60", "front", "other"]), "");
    let endpoint = node.docker_ok(&["inspect", "-f", "{{.NetworkSettings.Networks.front.IPAddress}} {{.NetworkSettings.Networks.front.Aliases}}", "other"]);
    assert_eq!(endpoint.trim(), "10.77.0.60 [o2]");
    let reached = || node.palisade(&["exec", "other", "sh", "-c", &fetch]);
    wait_for(Duration::from_secs(10), "other to reach web", || stdout(&reached()).trim() == "hello-front");
    let containers = json(&node.palisade_ok(&["network", "inspect", "front"]))[0]["Containers"].as_object().unwrap().len();
    assert_eq!(containers, 2);
    let err = node.palisade_err(&["network", "rm", "front"]);
    assert!(err.contains("has active endpoints"), "{err}");
    assert_eq!(node.palisade_ok(&["network", "disconnect", "front", "other"]), "");
    assert!(!reached().status.success(), "reached web after being disconnected");

    // rm and prune.
    node.palisade_ok(&["rm", "-f", "web", "other"]);
    assert_eq!(node.palisade_ok(&["network", "rm", "front"]), "front\n");
    assert!(node.palisade_err(&["network", "inspect", "front"]).contains("front"));
    assert_eq!(node.palisade_ok(&["network", "prune", "-f"]), "Deleted Networks:\nback\n");
    assert_eq!(node.palisade_ok(&["network", "prune", "-f"]), "");
    let names = node.docker_ok(&["network", "ls", "--format", "{{.Name}}"]);
    assert_eq!(names.split_whitespace().collect::<Vec<_>>(), ["bridge", "host", "none"]);

    // Bad input: a clear error, and no network made.
    for (args, message) in [
        (&["network", "create", "--gateway", "10.9.0.1", "x"][..], "--subnet"),
        (&["network", "create", "-d", "overlay", "x"][..], "This node is not a swarm manager"),
        (&["network", "create", "--subnet", "banana", "x"][..], "invalid subnet"),
        (&["network", "rm", "nosuch"][..], "not found"),
        (&["network", "connect", "nosuch", "web"][..], "No such container"),
    ] {
        let err = node.palisade_err(args);
        assert!(err.contains(message), "{args:?}: {err}");
    }
    assert_eq!(node.palisade_ok(&["network", "ls", "-q"]).lines().count(), 3);
}
