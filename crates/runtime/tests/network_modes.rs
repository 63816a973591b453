//! `--network none` gives a new network namespace with only loopback; `--network host` shares
//! the host's namespace.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use palisade_runtime::{NetworkMode, OciRuntimeKind, RunOptions};

fn interfaces(dev: &str) -> Vec<String> {
    dev.lines().skip(2).filter_map(|l| l.split(':').next()).map(|s| s.trim().to_owned()).collect()
}

#[test]
fn network_none_is_a_new_namespace_with_only_loopback() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap().display().to_string();
    let out = common::sh(&rt, "readlink /proc/self/ns/net; cat /proc/net/dev", RunOptions::default());
    let stdout = common::stdout(&out);
    let (ns, dev) = stdout.split_once('\n').unwrap();
    assert_ne!(ns, host_ns);
    assert_eq!(interfaces(dev), vec!["lo"]);
}

#[test]
fn network_host_shares_the_host_namespace() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap().display().to_string();
    let opts = RunOptions { network: NetworkMode::Host, ..RunOptions::default() };
    let out = common::sh(&rt, "readlink /proc/self/ns/net", opts);
    assert_eq!(common::stdout(&out).trim(), host_ns);
}
