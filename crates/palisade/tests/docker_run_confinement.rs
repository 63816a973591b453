#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! `docker load`, `docker images` and `docker run --rm` through `palisade daemon`: the hardened
//! defaults and every confinement flag reach the container, exit codes reach the CLI.

mod common;

use common::{status_field, wait_for, Node};

#[test]
fn docker_load_images_and_run_with_hardened_defaults() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let images = node.docker_ok(&["images"]);
    assert!(images.lines().any(|l| l.starts_with("bb ") && l.contains("latest")), "{images}");

    let status = node.docker_ok(&["run", "--rm", "bb", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&status, "CapEff"), "00000000a80425fb");
    assert_eq!(status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(status_field(&status, "Seccomp"), "2");

    let (code, _, _) = node.docker_run(&["run", "--rm", "bb", "sh", "-c", "exit 3"]);
    assert_eq!(code, 3);
    let (code, out, _) = node.docker_run(&["run", "--rm", "-e", "GREETING=hi", "--hostname", "box", "bb", "sh", "-c", "echo $GREETING $(hostname); echo oops >&2"]);
    assert_eq!((code, out.as_str()), (0, "hi box\n"));

    let status = node.docker_ok(&["run", "--rm", "--cap-drop", "ALL", "bb", "cat", "/proc/self/status"]);
    assert_eq!(status_field(&status, "CapEff"), "0000000000000000");
    let status = node.docker_ok(&["run", "--rm", "--user", "65534", "bb", "id", "-u"]);
    assert_eq!(status.trim(), "65534");

    let (code, _, err) = node.docker_run(&["run", "--rm", "--read-only", "bb", "touch", "/x"]);
    assert_ne!(code, 0);
    assert!(err.contains("Read-only file system"), "{err}");

    let (code, _, err) = node.docker_run(&["run", "--rm", "bb", "unshare", "-U", "true"]);
    assert_ne!(code, 0, "the default seccomp profile must block unshare: {err}");
    let (code, _, err) = node.docker_run(&["run", "--rm", "--security-opt", "seccomp=unconfined", "bb", "unshare", "-U", "true"]);
    assert_eq!(code, 0, "{err}");

    let pids = node.docker_ok(&["run", "--rm", "--pids-limit", "20", "bb", "cat", "/sys/fs/cgroup/pids/pids.max"]);
    assert_eq!(pids.trim(), "20");

    // Nothing is left behind by --rm.
    assert!(node.docker_ok(&["ps", "-a", "-q"]).trim().is_empty());
    assert!(node.runtime_containers().is_empty(), "{:?}", node.runtime_containers());
}

#[test]
fn docker_run_reports_oom_kills_and_honours_runtime_choice() {
    let node = Node::start();
    node.load_busybox("bb:latest");
    let (code, _, _) = node.docker_run(&[
        "run", "--name", "hog", "--memory", "32m", "bb", "sh", "-c", "x=$(head -c 64000000 /dev/zero | tr '\\0' a); echo ${#x}",
    ]);
    assert_eq!(code, 137);
    assert_eq!(node.docker_ok(&["inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", "hog"]).trim(), "true 137");
    assert_eq!(node.docker_ok(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.Runtime}}", "hog"]).trim(), "33554432 crun");
    node.docker_ok(&["rm", "hog"]);

    let out = node.docker_ok(&["run", "--rm", "--runtime", "runc", "bb", "echo", "from runc"]);
    assert_eq!(out, "from runc\n");
    let err = node.docker_err(&["run", "--rm", "--runtime", "kata", "bb", "true"]);
    assert!(err.contains("unknown or invalid runtime name: kata"), "{err}");
    let (code, _, err) = node.docker_run(&["run", "--rm", "bb", "nosuchcommand"]);
    assert_eq!(code, 127, "{err}");
    wait_for(std::time::Duration::from_secs(10), "auto-remove after a failed start", || node.runtime_containers().is_empty());
    // Not executable: docker's 126 under both runtimes (the CLI reads "permission denied").
    for runtime in ["crun", "runc"] {
        let (code, _, err) = node.docker_run(&["run", "--rm", "--runtime", runtime, "bb", "/etc/passwd"]);
        assert_eq!(code, 126, "{runtime}: {err}");
        let (code, _, err) = node.docker_run(&["run", "--rm", "--runtime", runtime, "bb", "/nosuch/command"]);
        assert_eq!(code, 127, "{runtime}: {err}");
    }
    wait_for(std::time::Duration::from_secs(10), "auto-remove after failed starts", || node.runtime_containers().is_empty());
    let err = node.docker_err(&["run", "--rm", "nosuchimage", "true"]);
    assert!(err.contains("nosuchimage"), "{err}");
}

#[test]
fn apparmor_profile_without_the_lsm_is_a_clear_error_and_creates_nothing() {
    if std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y") {
        eprintln!("SKIPPED: AppArmor is enabled on this host");
        return;
    }
    let node = Node::start();
    node.load_busybox("bb:latest");
    let err = node.docker_err(&["run", "--rm", "--security-opt", "apparmor=docker-default", "bb", "true"]);
    assert!(err.contains("apparmor profile \"docker-default\" requested but AppArmor is not enabled on this host"), "{err}");
    assert!(node.docker_ok(&["ps", "-a", "-q"]).trim().is_empty());
    assert!(node.runtime_containers().is_empty(), "nothing created on a rejected request");
    // Without the option the same run works.
    assert_eq!(node.docker_ok(&["run", "--rm", "bb", "echo", "ok"]), "ok\n");
}
