//! `--read-only` makes `/` unwritable while `--tmpfs` mounts stay writable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use palisade_runtime::{OciRuntimeKind, RunOptions, TmpfsMount};

#[test]
fn read_only_root_refuses_writes() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let opts = RunOptions {
        read_only: true,
        tmpfs: vec![TmpfsMount { destination: "/scratch".into(), options: vec!["size=1m".into()] }],
        ..RunOptions::default()
    };
    let out = common::sh(&rt, "touch /newfile; echo root=$?; touch /scratch/f; echo scratch=$?", opts);
    let stdout = common::stdout(&out);
    assert!(stdout.contains("root=1"), "{stdout}");
    assert!(stdout.contains("scratch=0"), "{stdout}");
    assert!(common::stderr(&out).contains("Read-only file system"), "{}", common::stderr(&out));
}

#[test]
fn writable_root_by_default() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let out = common::sh(&rt, "touch /newfile; echo root=$?", RunOptions::default());
    assert!(common::stdout(&out).contains("root=0"));
}
