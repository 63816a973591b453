#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! `docker top` and `docker stats --no-stream` through `palisade daemon` with the stock docker
//! CLI: the container's processes with `ps -ef`'s columns, and a stats row with its memory
//! limit, memory use, CPU and pids from the container's cgroup.

mod common;

use common::Node;

#[test]
fn top_lists_the_containers_processes_and_stats_shows_its_limits() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    node.docker_ok(&["run", "-d", "--name", "busy", "--memory", "64m", "bb", "sh", "-c", "sleep 600 & sleep 601; echo done"]);

    // The background child runs `sh` until it has exec'd `sleep`.
    common::wait_for(std::time::Duration::from_secs(10), "both sleeps", || {
        let top = node.docker_ok(&["top", "busy"]);
        top.contains(" sleep 600\n") && top.contains(" sleep 601\n")
    });
    let top = node.docker_ok(&["top", "busy"]);
    let mut lines = top.lines();
    let titles: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(titles, ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"], "{top}");
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    assert_eq!(rows.len(), 3, "sh and two sleeps: {top}");
    let init_pid = node.docker_ok(&["inspect", "-f", "{{.State.Pid}}", "busy"]).trim().to_owned();
    let init = rows.iter().find(|r| r[1] == init_pid).unwrap_or_else(|| panic!("init {init_pid} missing: {top}"));
    assert_eq!(init[0], "root");
    assert_eq!(init[7..].join(" "), "sh -c sleep 600 & sleep 601; echo done");
    for sleep in ["sleep 600", "sleep 601"] {
        let row = rows.iter().find(|r| r[7..].join(" ") == sleep).unwrap_or_else(|| panic!("{sleep} missing: {top}"));
        assert_eq!(row[2], init_pid, "{sleep} is the init's child");
    }
    // The palisade verb shows the same table.
    let out = node.palisade(&["top", "busy"]);
    assert!(out.status.success(), "{}", common::stderr(&out));
    let text = common::stdout(&out);
    assert!(text.starts_with("UID"), "{text}");
    assert!(text.lines().any(|l| l.ends_with(" sleep 600") && l.contains(&init_pid)), "{text}");
    let err = node.docker_err(&["top", "busy", "aux"]);
    assert!(err.contains("not supported"), "{err}");

    let row = node.docker_ok(&["stats", "--no-stream", "--format", "{{.Name}}|{{.MemUsage}}|{{.CPUPerc}}|{{.PIDs}}", "busy"]);
    let fields: Vec<&str> = row.trim().split('|').collect();
    assert_eq!(fields[0], "busy", "{row}");
    let (usage, limit) = fields[1].split_once(" / ").unwrap();
    assert_eq!(limit, "64MiB", "{row}");
    assert!(!usage.starts_with("0B"), "some memory is in use: {row}");
    assert!(fields[2].ends_with('%'), "{row}");
    assert_eq!(fields[3], "3", "{row}");

    // Stopped: no processes to show, a row of zeros.
    node.docker_ok(&["stop", "-t", "0", "busy"]);
    node.docker_err(&["top", "busy"]);
    let row = node.docker_ok(&["stats", "--no-stream", "--format", "{{.PIDs}}", "busy"]);
    assert_eq!(row.trim(), "0");
}
