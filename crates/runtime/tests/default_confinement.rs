//! A container run with default options is confined as docker confines it: the 14 default
//! capabilities, no_new_privs, a seccomp filter, its own pid and uts namespaces.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use palisade_runtime::{OciRuntimeKind, RunOptions};

#[test]
fn default_container_has_docker_caps_nnp_and_seccomp() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let out = common::sh(&rt, "cat /proc/self/status", RunOptions::default());
    assert_eq!(out.exit.code, 0, "stderr: {}", common::stderr(&out));
    let status = common::stdout(&out);
    assert_eq!(common::status_field(&status, "CapEff"), "00000000a80425fb");
    assert_eq!(common::status_field(&status, "CapPrm"), "00000000a80425fb");
    assert_eq!(common::status_field(&status, "CapBnd"), "00000000a80425fb");
    assert_eq!(common::status_field(&status, "CapInh"), "0000000000000000");
    assert_eq!(common::status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(common::status_field(&status, "Seccomp"), "2");
}

#[test]
fn pid1_is_the_command_and_hostname_is_the_containers() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let opts = RunOptions { hostname: Some("palisade-test".into()), ..RunOptions::default() };
    let out = common::sh(&rt, "cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; cat /etc/hostname; echo $$", opts);
    assert_eq!(out.exit.code, 0, "stderr: {}", common::stderr(&out));
    let lines: Vec<String> = common::stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines[0].trim(), "sh -c cat /proc/1/cmdline | tr '\\0' ' '; echo; hostname; cat /etc/hostname; echo $$");
    assert_eq!(lines[1], "palisade-test");
    assert_eq!(lines[2], "palisade-test");
    assert_eq!(lines[3], "1");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_ne!(host.trim(), "palisade-test");
}

#[test]
fn exit_code_and_stderr_are_reported() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let out = common::sh(&rt, "echo out; echo err >&2; exit 7", RunOptions::default());
    assert_eq!(out.exit.code, 7);
    assert!(!out.exit.oom_killed);
    assert_eq!(common::stdout(&out), "out\n");
    assert_eq!(common::stderr(&out), "err\n");
}

#[test]
fn container_gets_new_pid_ipc_uts_mnt_cgroup_namespaces() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let kinds = ["pid", "ipc", "uts", "mnt", "cgroup", "net"];
    let script: String = kinds.iter().map(|k| format!("readlink /proc/self/ns/{k};")).collect();
    let out = common::sh(&rt, &script, RunOptions::default());
    let inside: Vec<String> = common::stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(inside.len(), kinds.len(), "{}", common::stderr(&out));
    for (k, got) in kinds.iter().zip(inside) {
        let host = std::fs::read_link(format!("/proc/self/ns/{k}")).unwrap().display().to_string();
        assert_ne!(got, host, "{k} namespace is shared with the host");
    }
}

#[test]
fn masked_and_readonly_paths_are_applied() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    // A masked path that has content on this host.
    let masked = ["/proc/timer_list", "/proc/interrupts", "/proc/keys", "/proc/sched_debug"]
        .into_iter()
        .find(|p| std::fs::read(p).is_ok_and(|b| !b.is_empty()))
        .expect("no maskable /proc file with content on this host");
    let script = format!(
        "cat {masked} | wc -c; echo 1 > /proc/sysrq-trigger; echo sysrq=$?; ls /sys/firmware | wc -l; grep ' /proc/sys ' /proc/mounts | grep -c ' ro,'"
    );
    let out = common::sh(&rt, &script, RunOptions::default());
    let lines: Vec<String> = common::stdout(&out).lines().map(|l| l.trim().to_owned()).collect();
    assert_eq!(lines[0], "0", "{masked} must be masked: {lines:?}");
    assert!(lines[1].starts_with("sysrq=") && lines[1] != "sysrq=0", "{lines:?}");
    assert_eq!(lines[2], "0", "/sys/firmware must be empty: {lines:?}");
    assert_eq!(lines[3], "1", "/proc/sys must be a read-only mount: {lines:?}");
}
