//! `--userns-remap`: container root is an unprivileged host uid.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use palisade_runtime::{OciRuntimeKind, RunOptions, UsernsRemap};

#[test]
fn container_root_maps_to_unprivileged_host_range() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let opts = RunOptions { userns: Some(UsernsRemap::default()), ..RunOptions::default() };
    let out = common::sh(&rt, "cat /proc/self/uid_map; cat /proc/self/gid_map; id -u; touch /ok; echo touch=$?", opts);
    let stdout = common::stdout(&out);
    assert_eq!(out.exit.code, 0, "stdout {stdout} stderr {}", common::stderr(&out));
    let uid_map: Vec<&str> = stdout.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(uid_map, vec!["0", "100000", "65536"]);
    let gid_map: Vec<&str> = stdout.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(gid_map, vec!["0", "100000", "65536"]);
    assert!(stdout.contains("\n0\n"), "{stdout}");
    assert!(stdout.contains("touch=0"), "{stdout}");
}
