//! Docker's default seccomp profile blocks namespace, mount and reboot syscalls with EPERM;
//! `seccomp=unconfined` lifts exactly that.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use palisade_runtime::{OciRuntimeKind, RunOptions, Seccomp};

#[test]
fn unshare_and_mount_fail_with_eperm_under_default_profile() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let out = common::sh(
        &rt,
        "unshare -U true; echo unshare=$?; mount -t tmpfs x /mnt; echo mount=$?; busybox reboot -f; echo reboot=$?",
        RunOptions::default(),
    );
    let stdout = common::stdout(&out);
    let stderr = common::stderr(&out);
    assert!(stdout.contains("unshare=1"), "stdout: {stdout} stderr: {stderr}");
    assert!(stdout.contains("mount=") && !stdout.contains("mount=0"), "stdout: {stdout}");
    // reboot(2) is refused (EPERM) and the container carries on.
    assert!(stdout.contains("reboot=1"), "stdout: {stdout} stderr: {stderr}");
    assert!(stderr.lines().any(|l| l.starts_with("reboot:") && l.ends_with("Operation not permitted")), "stderr: {stderr}");
    assert!(stderr.contains("Operation not permitted"), "stderr: {stderr}");
}

#[test]
fn seccomp_unconfined_lets_unshare_through() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let opts = RunOptions { seccomp: Seccomp::Unconfined, ..RunOptions::default() };
    let out = common::sh(&rt, "grep Seccomp: /proc/self/status; unshare -U true; echo unshare=$?", opts);
    let stdout = common::stdout(&out);
    assert!(stdout.contains("Seccomp:\t0"), "stdout: {stdout}");
    assert!(stdout.contains("unshare=0"), "stdout: {stdout} stderr: {}", common::stderr(&out));
}

#[test]
fn custom_profile_file_is_applied() {
    let (tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    // Default profile, minus mkdir/mkdirat: they fail with EPERM.
    let mut profile = palisade_runtime::bundle::default_profile().clone();
    for rule in &mut profile.syscalls {
        rule.names.retain(|n| n != "mkdir" && n != "mkdirat");
    }
    let path = tmp.path().join("profile.json");
    std::fs::write(&path, serde_json::to_vec(&profile).unwrap()).unwrap();
    let opts = RunOptions { seccomp: Seccomp::Profile(path), ..RunOptions::default() };
    let out = common::sh(&rt, "mkdir /tmp/d; echo mkdir=$?", opts);
    assert!(common::stdout(&out).contains("mkdir=1"), "stdout: {}", common::stdout(&out));
    assert!(common::stderr(&out).contains("Operation not permitted"), "stderr: {}", common::stderr(&out));
}
