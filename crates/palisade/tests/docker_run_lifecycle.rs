#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! Detached containers through the docker CLI: run -d, ps, logs, inspect, stop, rm, rmi.
//! (What a daemon restart keeps: docker_restart_policies.rs.)

mod common;

use std::time::Duration;

use common::{wait_for, Node};

#[test]
fn detached_container_lifecycle_with_the_docker_cli() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let id = node.docker_ok(&["run", "-d", "--name", "web", "bb", "sh", "-c", "echo hello; echo problem >&2; exec sleep 1000"]);
    let id = id.trim().to_owned();
    assert_eq!(id.len(), 64, "{id}");

    let ps = node.docker_ok(&["ps"]);
    assert!(ps.lines().any(|l| l.starts_with(&id[..12]) && l.contains("web") && l.contains("Up")), "{ps}");
    wait_for(Duration::from_secs(10), "logs", || node.docker_run(&["logs", "web"]).1 == "hello\n");
    assert_eq!(node.docker_run(&["logs", "web"]).2, "problem\n");

    let state = node.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.State.Running}} {{.Name}} {{.Config.Image}} {{.Path}} {{.HostConfig.NetworkMode}}", "web"]);
    assert_eq!(state.trim(), "running true /web bb sh none");
    let err = node.docker_err(&["run", "-d", "--name", "web", "bb", "true"]);
    assert!(err.contains("is already in use"), "{err}");
    let err = node.docker_err(&["rm", "web"]);
    assert!(err.contains("container is running"), "{err}");

    assert_eq!(node.docker_ok(&["stop", "-t", "1", "web"]).trim(), "web");
    assert!(node.docker_ok(&["ps", "-q"]).trim().is_empty());
    let all = node.docker_ok(&["ps", "-a"]);
    assert!(all.lines().any(|l| l.contains("web") && l.contains("Exited (137)")), "{all}");
    assert_eq!(node.docker_ok(&["inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", "web"]).trim(), "exited 137");
    assert_eq!(node.docker_ok(&["rm", "web"]).trim(), "web");
    let err = node.docker_err(&["logs", "web"]);
    assert!(err.contains("No such container: web"), "{err}");
    assert!(node.runtime_containers().is_empty());

    // rm -f of a running container, by id prefix.
    let id = node.docker_ok(&["run", "-d", "bb", "sleep", "1000"]).trim().to_owned();
    node.docker_ok(&["rm", "-f", &id[..8]]);
    assert!(node.docker_ok(&["ps", "-a", "-q"]).trim().is_empty());

    let out = node.docker_ok(&["rmi", "bb"]);
    assert!(out.contains("Untagged: bb:latest") && out.contains("Deleted: sha256:"), "{out}");
    assert!(!node.docker_ok(&["images"]).contains("bb"));
}

#[test]
fn a_containers_overlay_rootfs_is_unmounted_by_rm() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let id = node.docker_ok(&["run", "-d", "bb", "sleep", "1000"]).trim().to_owned();
    let state = palisade_runtime::state_dir_for(&node.data_root().join("runtime")).unwrap();
    let rootfs = state.join("bundles").join(&id).join("rootfs");
    assert!(node.daemon_has_mount(&rootfs), "{} is an overlay mount", rootfs.display());
    node.docker_ok(&["rm", "-f", &id]);
    assert!(!node.daemon_has_mount(&rootfs), "overlay left mounted at {}", rootfs.display());
    assert!(!rootfs.exists());
}
