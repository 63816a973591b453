//! `--cap-drop ALL` leaves the process with no capabilities; `--cap-add` adds exactly one.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use palisade_runtime::{OciRuntimeKind, RunOptions};

#[test]
fn cap_drop_all_gives_empty_capeff() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let opts = RunOptions { cap_drop: vec!["ALL".into()], ..RunOptions::default() };
    let out = common::sh(&rt, "cat /proc/self/status; chown 1 /tmp; echo chown=$?", opts);
    let status = common::stdout(&out);
    assert_eq!(common::status_field(&status, "CapEff"), "0000000000000000");
    assert_eq!(common::status_field(&status, "CapBnd"), "0000000000000000");
    assert!(status.contains("chown=1"), "{status}");
}

#[test]
fn cap_drop_all_plus_add_gives_one_capability() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let opts = RunOptions { cap_drop: vec!["ALL".into()], cap_add: vec!["net_bind_service".into()], ..RunOptions::default() };
    let out = common::sh(&rt, "cat /proc/self/status", opts);
    assert_eq!(common::status_field(&common::stdout(&out), "CapEff"), format!("{:016x}", 1u64 << 10));
}
