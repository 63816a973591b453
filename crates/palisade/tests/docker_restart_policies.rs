#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Restart policies and persistence through the docker CLI: a killed `--restart=always`
//! container comes back, `on-failure:N` gives up after N restarts, `docker stop` is final,
//! and containers (with their logs and exit codes) survive a daemon crash: `always` ones run
//! again, `unless-stopped` ones unless the user stopped them.

mod common;

use std::time::Duration;

use common::{wait_for, Node};

fn state(node: &Node, name: &str) -> String {
    node.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.RestartCount}} {{.State.ExitCode}}", name]).trim().to_owned()
}

/// Waits for `name`'s status to start with `status`, showing the daemon's log if it does not.
fn wait_status(node: &Node, name: &str, status: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !state(node, name).starts_with(status) {
        assert!(std::time::Instant::now() < deadline, "{name} is {}, not {status}\n{}", state(node, name), node.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn pid(node: &Node, name: &str) -> i32 {
    node.docker_ok(&["inspect", "-f", "{{.State.Pid}}", name]).trim().parse().unwrap()
}

#[test]
fn restart_policies_and_containers_that_survive_the_daemon() {
    let mut node = Node::start();
    node.load_busybox("bb:latest");
    let err = node.docker_err(&["run", "-d", "--restart", "sometimes", "bb", "true"]);
    assert!(err.contains("restart policy"), "{err}");

    // always: a process killed from the host comes back, with its log appended.
    node.docker_ok(&["run", "-d", "--restart=always", "--name", "web", "bb", "sh", "-c", "echo started; exec sleep 1000"]);
    wait_status(&node, "web", "running 0 0");
    let first = pid(&node, "web");
    let killed = std::process::Command::new("kill").args(["-KILL", &first.to_string()]).status().unwrap();
    assert!(killed.success());
    wait_for(Duration::from_secs(10), "web restarted", || state(&node, "web") == "running 1 0" && pid(&node, "web") != first);
    wait_for(Duration::from_secs(5), "two starts logged", || node.docker_ok(&["logs", "web"]) == "started\nstarted\n");

    // on-failure:2: restarted twice after failing, then left exited.
    node.docker_ok(&["run", "-d", "--restart=on-failure:2", "--name", "flaky", "bb", "sh", "-c", "echo try; exit 3"]);
    wait_for(Duration::from_secs(10), "flaky gave up", || state(&node, "flaky") == "exited 2 3");
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(state(&node, "flaky"), "exited 2 3");
    assert_eq!(node.docker_ok(&["logs", "flaky"]), "try\ntry\ntry\n");

    // docker stop is final for the policy; docker start clears it.
    node.docker_ok(&["run", "-d", "--restart=always", "--name", "stopped", "bb", "sleep", "1000"]);
    node.docker_ok(&["stop", "-t", "0", "stopped"]);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(state(&node, "stopped"), "exited 0 137");
    node.docker_ok(&["start", "stopped"]);
    assert!(state(&node, "stopped").starts_with("running 0"), "{}", state(&node, "stopped"));
    node.docker_ok(&["stop", "-t", "0", "stopped"]);

    // unless-stopped, no policy, and a finished container.
    node.docker_ok(&["run", "-d", "--restart=unless-stopped", "--name", "keep", "bb", "sleep", "1000"]);
    node.docker_ok(&["run", "-d", "--name", "plain", "bb", "sleep", "1000"]);
    assert_eq!(node.docker_run(&["run", "--name", "done", "bb", "sh", "-c", "echo bye; exit 4"]).0, 4);
    assert_eq!(state(&node, "done"), "exited 0 4");

    // A daemon crash: every container is listed again with its state and logs; `always`
    // and `unless-stopped` ones run again, the others stay exited.
    node.restart();
    let names = node.docker_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    let mut names: Vec<&str> = names.lines().collect();
    names.sort_unstable();
    assert_eq!(names, ["done", "flaky", "keep", "plain", "stopped", "web"]);
    wait_status(&node, "web", "running");
    wait_status(&node, "keep", "running");
    assert!(state(&node, "plain").starts_with("exited"), "{}", state(&node, "plain"));
    // As dockerd: a stopped `always` container comes back with the daemon.
    wait_status(&node, "stopped", "running");
    assert_eq!(state(&node, "done"), "exited 0 4");
    assert_eq!(node.docker_ok(&["logs", "done"]), "bye\n");
    assert!(node.docker_ok(&["logs", "web"]).starts_with("started\nstarted\nstarted"));

    // Exited containers start again, appending to their logs; restart restarts.
    assert_eq!(node.docker_run(&["start", "-a", "done"]).0, 4);
    assert_eq!(node.docker_ok(&["logs", "done"]), "bye\nbye\n");
    node.docker_ok(&["restart", "-t", "0", "plain"]);
    assert!(state(&node, "plain").starts_with("running"), "{}", state(&node, "plain"));

    // unless-stopped after a user stop stays down across a restart; always does not.
    node.docker_ok(&["stop", "-t", "0", "keep"]);
    node.restart();
    wait_status(&node, "web", "running");
    assert!(state(&node, "keep").starts_with("exited"), "{}", state(&node, "keep"));

    node.docker_ok(&["rm", "-f", "web", "keep", "plain", "done", "flaky", "stopped"]);
    assert!(node.runtime_containers().is_empty(), "{:?}", node.runtime_containers());
    node.restart();
    assert!(node.docker_ok(&["ps", "-aq"]).trim().is_empty());
}
