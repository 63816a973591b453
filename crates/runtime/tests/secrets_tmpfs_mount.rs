//! A task container gets `/run/secrets` as a read-only bind of a host tmpfs: secret files are
//! readable inside, not writable, never on disk, and gone after removal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use palisade_runtime::{ExtraMount, OciRuntimeKind, RunOptions};

fn mounted(path: &std::path::Path) -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let p = path.display().to_string();
    mounts.lines().find(|l| l.split_whitespace().nth(4) == Some(p.as_str())).map(str::to_owned)
}

#[test]
fn task_container_reads_secret_from_tmpfs() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let opts = RunOptions {
        args: vec!["sh".into(), "-c".into(), "cat /run/secrets/db_password; echo; echo x > /run/secrets/new; echo write=$?; grep /run/secrets /proc/mounts".into()],
        ..RunOptions::default()
    };
    let mut c = rt
        .create_task("busybox:test", &opts, vec![ExtraMount::SecretsTmpfs { destination: "/run/secrets".into(), size_bytes: 1 << 20 }])
        .unwrap();
    let secrets_dir = c.bundle().join("secrets");
    let m = mounted(&secrets_dir).expect("secrets dir is a mount point");
    assert!(m.contains(" - tmpfs "), "{m}");
    c.write_secret("db_password", b"s3cr3t", 0, 0, 0o400).unwrap();
    assert!(c.write_secret("../escape", b"x", 0, 0, 0o400).is_err());
    c.start().unwrap();
    let exit = c.wait(Some(Duration::from_secs(60))).unwrap().unwrap();
    let logs = c.logs().unwrap();
    let stdout = String::from_utf8_lossy(&logs.stdout).into_owned();
    assert_eq!(exit.code, 0, "{stdout} {}", String::from_utf8_lossy(&logs.stderr));
    assert!(stdout.starts_with("s3cr3t\n"), "{stdout}");
    assert!(stdout.contains("write=1"), "{stdout}");
    assert!(stdout.contains("tmpfs /run/secrets tmpfs ro"), "{stdout}");
    let bundle = c.bundle().to_path_buf();
    c.remove(false).unwrap();
    assert!(mounted(&secrets_dir).is_none());
    assert!(!bundle.exists());
}
