//! The image's Cmd, Env and WorkingDir apply, and `--user` resolves through the image's own
//! /etc/passwd and /etc/group (including supplementary groups).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use palisade_runtime::{OciRuntimeKind, RunOptions};

#[test]
fn user_name_resolves_to_image_uid_gid_and_groups() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let opts = RunOptions { user: Some("app".into()), env: vec!["EXTRA=1".into()], ..RunOptions::default() };
    let out = common::sh(&rt, "id; echo $IMAGE_VAR $EXTRA $HOME; pwd", opts);
    let stdout = common::stdout(&out);
    assert!(stdout.starts_with("uid=1000(app) gid=1000(app) groups=50(staff)"), "{stdout}");
    assert!(stdout.contains("from-image 1 /home/app"), "{stdout}");
    assert!(stdout.ends_with("/\n"), "{stdout}");
    let root = common::sh(&rt, "id", RunOptions::default());
    assert_eq!(common::stdout(&root), "uid=0(root) gid=0(root) groups=0(root)\n");
}

#[test]
fn image_cmd_runs_when_no_args_are_given() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    // The fixture image's Cmd is `sh`; with stdin closed it exits 0 at once.
    let out = rt.run("busybox:test", &RunOptions::default(), Duration::from_secs(60)).unwrap();
    assert_eq!(out.exit.code, 0, "{}", common::stderr(&out));
    assert!(!out.timed_out);
}
