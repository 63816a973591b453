//! Fault injection: the daemon is SIGKILLed at a random moment while the real docker CLI creates
//! (and runs) busybox containers from several threads. After a restart the daemon comes up,
//! `docker ps -a` works, every container whose create was acknowledged is listed under its ID
//! and starts, a create that was cut off is either whole (listed, startable, removable) or
//! gone, no runtime state is left over that no container owns, and every name can be created
//! again. Bounded rounds, each killing at a different moment.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::fault::kill_mid_flight;
use common::{docker_at, Node};

const ROUNDS: usize = 3;
const THREADS: usize = 3;

/// (name, ID) of each acknowledged create, and every name a create was tried for.
#[derive(Default)]
struct Log {
    acked: Vec<(String, String)>,
    tried: Vec<String>,
}

/// Creates containers (thread 0 runs them detached) until the daemon stops answering.
fn create_loop(host: String, config: std::path::PathBuf, round: usize, thread: usize, log: Arc<Mutex<Log>>, stop: Arc<AtomicBool>) {
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let name = format!("r{round}-t{thread}-{n}");
        log.lock().unwrap().tried.push(name.clone());
        let args: Vec<&str> = if thread == 0 {
            vec!["run", "-d", "--name", &name, "bb:1", "sleep", "1000"]
        } else {
            vec!["create", "--name", &name, "bb:1", "true"]
        };
        let out = docker_at(&host, &config, &args);
        if !out.status.success() {
            return;
        }
        let id = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        log.lock().unwrap().acked.push((name, id));
    }
}

/// `docker ps -a`: full ID → name.
fn listed(node: &Node) -> Vec<(String, String)> {
    node.docker_ok(&["ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}}"])
        .lines()
        .map(|l| {
            let (id, name) = l.split_once(' ').unwrap();
            (id.to_owned(), name.to_owned())
        })
        .collect()
}

/// Processes in the cgroup of container `id` (the runtime names each container's cgroup by ID).
fn processes_of(id: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/cgroup")).is_ok_and(|c| c.contains(id)))
        .collect()
}

/// A container the daemon does not report running has no process left: the processes of
/// containers that ran when the daemon died were stopped, not orphaned.
fn assert_no_stray_processes(node: &Node, ids: &[String]) {
    for id in ids {
        let status = node.docker(&["inspect", "--format", "{{.State.Status}}", id]);
        let running = status.status.success() && String::from_utf8_lossy(&status.stdout).trim() == "running";
        if !running {
            let pids = processes_of(id);
            assert!(pids.is_empty(), "container {id} is not running but its processes {pids:?} are");
        }
    }
}

/// Starts `name` and checks it runs its command: `sleep` keeps running, `true` exits 0.
fn assert_starts(node: &Node, name: &str) {
    node.docker_ok(&["start", name]);
    let cmd = node.docker_ok(&["inspect", "--format", "{{json .Config.Cmd}}", name]);
    if cmd.contains("sleep") {
        let status = node.docker_ok(&["inspect", "--format", "{{.State.Status}}", name]);
        assert_eq!(status.trim(), "running", "{name}");
    } else {
        assert_eq!(node.docker_ok(&["wait", name]).trim(), "0", "{name}");
    }
}

#[test]
fn daemon_killed_during_container_creates_restarts_cleanly() {
    let mut node = Node::start();
    node.load_busybox("bb:1");
    let config = tempfile::tempdir().unwrap();
    for round in 0..ROUNDS {
        let log = Arc::new(Mutex::new(Log::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (host, cfg, log, stop) = (node.host(), config.path().to_owned(), log.clone(), stop.clone());
                std::thread::spawn(move || create_loop(host, cfg, round, t, log, stop))
            })
            .collect();
        // Some creates acknowledged, then a kill at a random moment.
        kill_mid_flight(threads, &stop, || log.lock().unwrap().acked.len() >= 3, 400, || node.kill());
        let log = std::mem::take(&mut *log.lock().unwrap());
        assert!(log.acked.len() >= 3, "round {round}: too few creates before the kill\n{}", node.log());

        node.restart();
        let ps = listed(&node);
        let acked_ids: Vec<String> = log.acked.iter().map(|(_, id)| id.clone()).collect();
        assert_no_stray_processes(&node, &acked_ids);
        for (name, id) in &log.acked {
            assert!(ps.contains(&(id.clone(), name.clone())), "round {round}: acknowledged {name} ({id}) lost: {ps:?}");
            assert_starts(&node, name);
        }
        // A create cut off by the kill is whole or gone; either way its name is free again
        // once removed.
        let acked: BTreeSet<&String> = log.acked.iter().map(|(n, _)| n).collect();
        for name in log.tried.iter().filter(|n| !acked.contains(n)) {
            if ps.iter().any(|(_, n)| n == name) {
                assert_starts(&node, name);
            }
            node.docker_ok(&["rm", "-f", name]);
            node.docker_ok(&["create", "--name", name, "bb:1", "true"]);
            assert_starts(&node, name);
        }
        // Nothing in the runtime that no listed container owns.
        let ids: BTreeSet<String> = listed(&node).into_iter().map(|(id, _)| id).collect();
        let runtime: BTreeSet<String> = node.runtime_containers().into_iter().collect();
        assert_eq!(runtime, ids, "round {round}: runtime state without a container (or the reverse)");
        // And the acknowledged names can be made again once removed.
        for (name, _) in &log.acked {
            node.docker_ok(&["rm", "-f", name]);
            node.docker_ok(&["create", "--name", name, "bb:1", "true"]);
            node.docker_ok(&["rm", name]);
        }
        assert_no_stray_processes(&node, &ids.into_iter().chain(acked_ids).collect::<Vec<_>>());
    }
}
