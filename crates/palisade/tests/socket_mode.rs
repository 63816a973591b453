#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: failures should panic
//! The Engine-API socket is root-equivalent: nobody but the daemon's user (or `--group`) may
//! ever connect to it. It used to be bound at its public path under the process umask and
//! chmodded afterwards, so under umask 000 anyone could connect in between and keep the
//! connection (issue #21, item 4). Now it is bound in a private directory, given its mode,
//! and renamed into place; `strace` shows where it is bound.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{wait_for, PALISADE};

/// `palisade daemon` under `umask 000`, its `bind` calls traced into `trace`; in a process
/// group of its own, all of which goes on drop (killing strace alone would leave the daemon
/// it traces running).
fn traced_daemon(dir: &std::path::Path, extra: &[&str]) -> ProcessGroup {
    use std::os::unix::process::CommandExt as _;
    let socket = dir.join("engine.sock");
    let script = format!(
        "umask 000; exec strace -f -qq -e trace=bind -o {trace} {bin} daemon --bridge none --data-root {root} -H unix://{socket} {extra}",
        trace = dir.join("trace").display(),
        bin = PALISADE,
        root = dir.join("root").display(),
        socket = socket.display(),
        extra = extra.join(" "),
    );
    let child = Command::new("sh").args(["-c", &script]).stdout(Stdio::null()).stderr(Stdio::null()).process_group(0).spawn().unwrap();
    let group = ProcessGroup(child);
    wait_for(Duration::from_secs(30), "the daemon's socket", || socket.exists());
    group
}

/// A child leading its own process group, killed with the whole group on drop.
struct ProcessGroup(Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.0.id())]).status();
        let _ = self.0.wait();
    }
}

#[test]
fn the_socket_is_never_reachable_by_others_whatever_the_umask() {
    assert!(Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success()), "strace is required");
    let dir = tempfile::tempdir().unwrap();
    let daemon = traced_daemon(dir.path(), &[]);
    let socket = dir.path().join("engine.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600, "mode of {}", socket.display());
    let trace = std::fs::read_to_string(dir.path().join("trace")).unwrap();
    let binds: Vec<&str> = trace.lines().filter(|l| l.contains("bind(") && l.contains("AF_UNIX")).collect();
    assert!(!binds.is_empty(), "strace saw the bind: {trace}");
    let public = format!("sun_path=\"{}\"", socket.display());
    assert!(binds.iter().all(|l| !l.contains(&public)), "bound at its public path: {binds:?}");
    assert!(binds.iter().any(|l| l.contains(".palisade-sock-")), "{binds:?}");
    drop(daemon);
}

#[test]
fn group_gets_the_socket_with_mode_0660() {
    let dir = tempfile::tempdir().unwrap();
    let gid = std::fs::read_to_string("/etc/group")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("daemon:").and_then(|rest| rest.split(':').nth(1)).map(|g| g.parse::<u32>().unwrap()))
        .expect("a daemon group in /etc/group");
    let socket = dir.path().join("engine.sock");
    let mut daemon = Command::new(PALISADE)
        .args(["daemon", "--bridge", "none", "--group", "daemon", "--data-root"])
        .arg(dir.path().join("root"))
        .arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(Duration::from_secs(30), "the daemon's socket", || socket.exists());
    let meta = std::fs::metadata(&socket).unwrap();
    assert_eq!((meta.permissions().mode() & 0o777, meta.gid()), (0o660, gid));
    let _ = daemon.kill();
    let _ = daemon.wait();
}
