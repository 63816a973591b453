#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! `docker exec`, `docker run -it`/`-i` and `docker attach` through `palisade daemon` with the
//! stock docker CLI: an exec is exactly as confined as the container's init (on crun and
//! runc), its options take effect, its exit code reaches the CLI, and terminals are real ptys.

mod common;

use std::process::Command;

use common::{output_within, status_field, Node, CALL_LIMIT};

/// `script` (util-linux) gives the docker CLI a terminal, as a user's shell would. `shell` is
/// the command line script runs; returns its output with carriage returns removed.
fn in_terminal(node: &Node, shell: &str) -> (bool, String) {
    assert!(which("script"), "`script` (bsdutils) is required: scripts/test installs it");
    let out = output_within(Command::new("script").args(["-qec", shell, "/dev/null"]).env("DOCKER_CONFIG", node.dir.path()), None, CALL_LIMIT);
    let text = String::from_utf8_lossy(&out.stdout).replace('\r', "");
    (out.status.success(), format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
}

/// `docker <docker_args>` in a terminal; must succeed.
fn script(node: &Node, docker_args: &str) -> String {
    let command = format!("docker -H {} {docker_args}", node.host());
    let (ok, text) = in_terminal(node, &command);
    assert!(ok, "script {command:?} failed: {text}\n--- daemon log ---\n{}", node.log());
    text
}

fn which(tool: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().is_ok_and(|o| o.status.success())
}

#[test]
fn exec_has_the_confinement_of_the_containers_init_on_crun_and_runc() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    for runtime in ["crun", "runc"] {
        let name = format!("box-{runtime}");
        node.docker_ok(&["run", "-d", "--name", &name, "--runtime", runtime, "--cap-drop", "NET_RAW", "bb", "sleep", "600"]);
        let init = node.docker_ok(&["exec", &name, "cat", "/proc/1/status"]);
        let exec = node.docker_ok(&["exec", &name, "cat", "/proc/self/status"]);
        for field in ["CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb", "NoNewPrivs", "Seccomp"] {
            assert_eq!(status_field(&exec, field), status_field(&init, field), "{runtime}: {field}");
        }
        assert_eq!(status_field(&exec, "NoNewPrivs"), "1", "{runtime}");
        assert_eq!(status_field(&exec, "Seccomp"), "2", "{runtime}");
        assert_eq!(status_field(&exec, "CapEff"), "00000000a80405fb", "{runtime}: NET_RAW dropped for the exec too");
        // Same cgroup as the init.
        let cgroups = node.docker_ok(&["exec", &name, "sh", "-c", "cat /proc/1/cgroup; echo ---; cat /proc/self/cgroup"]);
        let (init_cg, exec_cg) = cgroups.split_once("---\n").unwrap();
        assert_eq!(init_cg, exec_cg, "{runtime}");
        // The seccomp filter is the container's: unshare stays blocked.
        let (code, _, _) = node.docker_run(&["exec", &name, "unshare", "-U", "true"]);
        assert_ne!(code, 0, "{runtime}: unshare must be refused in an exec");

        // -u, -e, -w take effect; the exit code reaches the CLI.
        let out = node.docker_ok(&["exec", "-u", "65534:65534", "-e", "GREETING=hi", "-w", "/tmp", &name, "sh", "-c", "echo $(id -u):$(id -g) $GREETING $(pwd)"]);
        assert_eq!(out, "65534:65534 hi /tmp\n", "{runtime}");
        let out = node.docker_ok(&["exec", "-u", "nobody", &name, "id", "-un"]);
        assert_eq!(out.trim(), "nobody", "{runtime}");
        let (code, out, err) = node.docker_run(&["exec", &name, "sh", "-c", "echo out; echo err >&2; exit 7"]);
        assert_eq!((code, out.as_str(), err.as_str()), (7, "out\n", "err\n"), "{runtime}");
        // -i pipes stdin, and its end reaches the process.
        let out = node.docker_input(&["exec", "-i", &name, "sh", "-c", "tr a-z A-Z; echo done"], Some(b"piped input\n"), CALL_LIMIT);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "PIPED INPUT\ndone\n", "{runtime}");

        // Detached exec runs in the container.
        node.docker_ok(&["exec", "-d", &name, "touch", "/tmp/detached"]);
        common::wait_for(std::time::Duration::from_secs(10), "the detached exec", || {
            node.docker(&["exec", &name, "sh", "-c", "test -e /tmp/detached"]).status.success()
        });

        let (code, out, _) = node.docker_run(&["exec", &name, "nosuchcommand"]);
        assert_eq!(code, 127, "{runtime}: {out}");
        assert!(out.contains("nosuchcommand"), "{out}");
        let (code, out, _) = node.docker_run(&["exec", &name, "/etc/passwd"]);
        assert_eq!(code, 126, "{runtime}: {out}");
        let err = node.docker_err(&["exec", "--privileged", &name, "true"]);
        assert!(err.contains("--privileged is not supported"), "{err}");
        node.docker_ok(&["stop", "-t", "0", &name]);
        let err = node.docker_err(&["exec", &name, "true"]);
        assert!(err.contains("is not running"), "{runtime}: {err}");
        node.docker_ok(&["rm", &name]);
    }
}

/// Zombie children of `daemon` named like an OCI runtime (`crun`, `runc`, `runc:[2:INIT]`).
fn runtime_zombies(daemon: u32) -> Vec<String> {
    let tasks = std::fs::read_dir(format!("/proc/{daemon}/task")).unwrap();
    let children = tasks.flatten().filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok());
    let stats = children.collect::<Vec<_>>().join(" ");
    stats
        .split_whitespace()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok())
        .filter(|stat| stat.contains(") Z ") && (stat.contains("(crun)") || stat.contains("(runc")))
        .collect()
}

#[test]
fn failed_execs_leave_nothing_that_keeps_the_container_from_stopping() {
    // The runtime's fork for an exec whose command cannot be executed may exit after the
    // runtime returned. Uncollected, it stays in the container's pid namespace and the
    // container's init can never finish exiting: `stop` would not return.
    let node = Node::start();
    node.load_busybox("bb:latest");
    for runtime in ["crun", "runc"] {
        let name = format!("fails-{runtime}");
        node.docker_ok(&["run", "-d", "--name", &name, "--runtime", runtime, "bb", "sleep", "600"]);
        for _ in 0..10 {
            assert_eq!(node.docker_run(&["exec", &name, "/etc/passwd"]).0, 126, "{runtime}");
            assert_eq!(node.docker_run(&["exec", &name, "nosuchcommand"]).0, 127, "{runtime}");
        }
        common::wait_for(std::time::Duration::from_secs(10), "every runtime process to be collected", || runtime_zombies(node.pid()).is_empty());
        node.docker_ok(&["stop", "-t", "0", &name]);
        node.docker_ok(&["rm", &name]);
    }
}

#[test]
fn run_it_and_exec_it_get_a_real_terminal_that_resizes() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let out = script(&node, "run -it --rm bb sh -c 'tty; stty size'");
    assert!(out.contains("/dev/pts/"), "{out}");

    node.docker_ok(&["run", "-d", "--name", "term", "bb", "sleep", "600"]);
    let out = script(&node, "exec -it term sh -c tty");
    assert!(out.contains("/dev/pts/"), "{out}");
    // The CLI sends its terminal's size (script's pty, set here) as a resize once started;
    // the process looks a moment later.
    let out = script(&node, "exec -it term sh -c 'stty size'").replace('\n', " ");
    let (_, out_sized) = in_terminal(&node, &format!("stty rows 33 cols 77; docker -H {} exec -it term sh -c 'sleep 1; stty size'", node.host()));
    assert!(out_sized.contains("33 77"), "resize did not reach the exec's terminal: {out_sized} (default: {out})");
    let (_, run_sized) = in_terminal(&node, &format!("stty rows 21 cols 99; docker -H {} run -it --rm bb sh -c 'sleep 1; stty size'", node.host()));
    assert!(run_sized.contains("21 99"), "resize did not reach the container's terminal: {run_sized}\n{}", node.log());
    node.docker_ok(&["rm", "-f", "term"]);
}

#[test]
fn run_i_pipes_stdin_to_the_container() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let out = node.docker_input(&["run", "-i", "--rm", "bb", "sh", "-c", "cat; echo end"], Some(b"hi\n"), CALL_LIMIT);
    assert!(out.status.success(), "{}\n{}", String::from_utf8_lossy(&out.stderr), node.log());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\nend\n");
}

#[test]
fn attach_to_a_running_container_streams_only_new_output() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    node.docker_ok(&["run", "-d", "--name", "talk", "bb", "sh", "-c", "echo before; sleep 2; echo after"]);
    common::wait_for(std::time::Duration::from_secs(10), "the first line", || node.docker_ok(&["logs", "talk"]) == "before\n");
    let out = node.docker_ok(&["attach", "--no-stdin", "talk"]);
    assert_eq!(out, "after\n", "attach replayed old output");
    assert_eq!(node.docker_ok(&["logs", "talk"]), "before\nafter\n");
}
