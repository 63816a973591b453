//! Memory and pids limits hold: a memory hog is OOM-killed and reported as such; a fork bomb
//! is stopped by the pids limit.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use palisade_runtime::{OciRuntimeKind, RunOptions};

#[test]
fn memory_limit_kills_hog_and_reports_oom() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let opts = RunOptions { memory: Some(32 << 20), ..RunOptions::default() };
    // dd holds a 256 MiB block in memory.
    let out = common::sh(&rt, "dd if=/dev/zero of=/dev/null bs=256M count=1; echo dd=$?", opts);
    assert!(out.exit.oom_killed, "exit {:?} stdout {} stderr {}", out.exit, common::stdout(&out), common::stderr(&out));
    assert!(!common::stdout(&out).contains("dd=0"), "{}", common::stdout(&out));
}

#[test]
fn small_workload_under_memory_limit_is_not_oom() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let opts = RunOptions { memory: Some(32 << 20), ..RunOptions::default() };
    let out = common::sh(&rt, "dd if=/dev/zero of=/dev/null bs=1M count=4", opts);
    assert_eq!(out.exit.code, 0);
    assert!(!out.exit.oom_killed);
}

#[test]
fn pids_limit_stops_fork_bomb() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let opts = RunOptions { pids_limit: Some(20), ..RunOptions::default() };
    // A bounded "fork bomb": 60 background sleeps, far over the limit.
    // The subshell dies on the first failed fork; the outer shell reports it.
    let script = "(for i in $(seq 1 60); do sleep 5 & done; echo all-forked); echo bomb=$?";
    let out = common::sh(&rt, script, opts);
    let stdout = common::stdout(&out);
    let stderr = common::stderr(&out);
    assert!(!out.timed_out, "{out:?}");
    assert!(!stdout.contains("all-forked"), "stdout {stdout} stderr {stderr}");
    assert!(stdout.contains("bomb=") && !stdout.contains("bomb=0"), "stdout {stdout}");
    assert!(stderr.contains("can't fork") || stderr.contains("Resource temporarily unavailable"), "stdout {stdout} stderr {stderr}");
}

#[test]
fn without_pids_limit_the_same_forks_succeed() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let out = common::sh(&rt, "(for i in $(seq 1 60); do sleep 1 & done; echo all-forked); echo bomb=$?", RunOptions::default());
    assert!(common::stdout(&out).contains("all-forked"), "{}", common::stderr(&out));
}
