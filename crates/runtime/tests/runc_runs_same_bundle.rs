//! The bundles Palisade writes are plain OCI: runc runs them with the same confinement.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use palisade_runtime::{OciRuntimeKind, RunOptions};

#[test]
fn runc_runs_bundle_with_same_confinement() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Runc);
    assert_eq!(rt.oci_runtime(), OciRuntimeKind::Runc);
    let out = common::sh(&rt, "cat /proc/self/status; hostname", RunOptions { hostname: Some("under-runc".into()), ..RunOptions::default() });
    assert_eq!(out.exit.code, 0, "stderr: {}", common::stderr(&out));
    let status = common::stdout(&out);
    assert_eq!(common::status_field(&status, "CapEff"), "00000000a80425fb");
    assert_eq!(common::status_field(&status, "NoNewPrivs"), "1");
    assert_eq!(common::status_field(&status, "Seccomp"), "2");
    assert!(status.contains("under-runc"));
}
