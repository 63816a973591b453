//! Lifecycle: stop escalates to SIGKILL after the timeout, removal of a running container
//! needs force, state is reported, and leftovers of a previous daemon are cleaned up.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use palisade_runtime::syscall::{LinuxSyscall, ProcessExit, Syscall};
use palisade_runtime::{ContainerRuntime, ContainerStatus, Error, OciRuntimeKind, RunOptions};

fn sleeper() -> RunOptions {
    // Ignores SIGTERM, so only SIGKILL stops it.
    RunOptions { args: vec!["sh".into(), "-c".into(), "trap '' TERM; while true; do sleep 1; done".into()], ..RunOptions::default() }
}

#[test]
fn stop_kills_after_timeout_and_remove_needs_force() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let mut c = rt.create("busybox:test", &sleeper()).unwrap();
    assert_eq!(c.status(), ContainerStatus::Created);
    c.start().unwrap();
    assert_eq!(c.status(), ContainerStatus::Running);
    assert_eq!(c.runtime_status().unwrap().as_deref(), Some("running"));
    assert!(c.wait(Some(Duration::from_millis(200))).unwrap().is_none());
    let c2 = rt.container(c.id()).unwrap();
    assert!(matches!(c2.remove(false), Err(Error::InvalidState { .. })));
    let t = Instant::now();
    let exit = c.stop(Duration::from_millis(500)).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(500));
    assert_eq!(exit.signal, Some(9));
    assert_eq!(exit.code, 137);
    assert_eq!(c.status(), ContainerStatus::Stopped);
    let id = c.id().clone();
    c.remove(false).unwrap();
    assert!(matches!(rt.container(&id), Err(Error::ContainerNotFound(_))));
}

#[test]
fn leftovers_of_a_previous_daemon_are_cleaned() {
    let (tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let mut c = rt.create("busybox:test", &sleeper()).unwrap();
    c.start().unwrap();
    let created = rt.create("busybox:test", &RunOptions::default()).unwrap();
    let (id1, id2) = (c.id().clone(), created.id().clone());
    let pid = c.pid().unwrap();
    drop(c);
    drop(created);
    drop(rt);
    // "Restart": a new runtime over the same root.
    let rt = ContainerRuntime::open(&tmp.path().join("root"), OciRuntimeKind::Crun).unwrap();
    let mut removed = rt.cleanup_leftovers().unwrap();
    removed.sort();
    let mut want = vec![id1, id2];
    want.sort();
    assert_eq!(removed, want);
    assert!(rt.list().unwrap().is_empty());
    // The old init process is gone (reap it: we are its subreaper).
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::path::Path::new(&format!("/proc/{pid}")).exists() {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), Some(nix::sys::wait::WaitPidFlag::WNOHANG));
        assert!(Instant::now() < deadline, "container init {pid} survived cleanup");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn apparmor_request_fails_clearly_without_the_lsm() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    if std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y") {
        eprintln!("SKIPPED: AppArmor is enabled on this host");
        return;
    }
    let before = rt.list().unwrap().len();
    let opts = RunOptions { apparmor: Some("docker-default".into()), ..RunOptions::default() };
    let err = rt.create("busybox:test", &opts).unwrap_err();
    assert!(matches!(err, Error::AppArmorUnavailable { .. }), "{err}");
    assert_eq!(rt.list().unwrap().len(), before, "nothing created on a rejected request");
}

#[test]
fn unknown_image_is_an_error_and_creates_nothing() {
    let (_tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    assert!(matches!(rt.create("nope:latest", &RunOptions::default()), Err(Error::ImageNotFound(_))));
    assert!(rt.list().unwrap().is_empty());
}

#[test]
fn layer_not_matching_its_diff_id_is_refused_at_load() {
    let (tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let root = tmp.path().join("root");
    let blobs_before = std::fs::read_dir(root.join("images/blobs/sha256")).unwrap().count();
    let lie = format!("sha256:{}", "0".repeat(64));
    let layout = common::oci_layout_with_diff_id(tmp.path(), "example.com/liar:v1", Some(&lie));
    let err = rt.images().load(&layout, None).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    // Nothing recorded, no blob or rootfs of the refused image kept.
    assert!(matches!(rt.images().inspect("example.com/liar:v1"), Err(Error::ImageNotFound(_))));
    assert_eq!(std::fs::read_dir(root.join("images/blobs/sha256")).unwrap().count(), blobs_before);
    let prepared: Vec<_> = std::fs::read_dir(root.join("images/rootfs")).unwrap().collect();
    assert_eq!(prepared.len(), 1, "only busybox:test's rootfs");
    assert!(matches!(rt.create("example.com/liar:v1", &RunOptions::default()), Err(Error::ImageNotFound(_))));
    assert!(rt.list().unwrap().is_empty(), "a refused image leaves nothing behind");
}

#[test]
fn containers_share_the_prepared_rootfs_through_an_overlay_that_remove_unmounts() {
    let (tmp, rt) = common::runtime(OciRuntimeKind::Crun);
    let root = tmp.path().join("root");
    let prepared = std::fs::read_dir(root.join("images/rootfs")).unwrap().next().unwrap().unwrap().path();
    // A container's writes land in its own upper layer, never in the image's rootfs.
    let out = common::sh(&rt, "echo changed > /etc/passwd; busybox rm /bin/true; cat /etc/passwd", RunOptions::default());
    assert_eq!(common::stdout(&out), "changed\n");
    assert!(std::fs::read_to_string(prepared.join("etc/passwd")).unwrap().starts_with("root:"));
    assert!(std::fs::symlink_metadata(prepared.join("bin/true")).is_ok());
    // A second container sees the image as it was.
    let out = common::sh(&rt, "head -c 5 /etc/passwd", RunOptions::default());
    assert_eq!(common::stdout(&out), "root:");

    // While it exists, a container's rootfs is an overlay mount; remove() unmounts it.
    let mut c = rt.create("busybox:test", &sleeper()).unwrap();
    c.start().unwrap();
    let rootfs = c.bundle().join("rootfs");
    let mounted = || std::fs::read_to_string("/proc/self/mountinfo").unwrap().lines().any(|l| l.split(' ').nth(4) == Some(rootfs.to_str().unwrap()));
    assert!(mounted(), "overlay mounted at {}", rootfs.display());
    c.stop(Duration::ZERO).unwrap();
    c.remove(false).unwrap();
    assert!(!mounted(), "overlay left mounted at {}", rootfs.display());
    assert!(!rootfs.exists());
}

/// Zombie children of this process (it is the containers' subreaper).
fn zombie_children() -> Vec<String> {
    let mut zombies = Vec::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let list = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        for pid in list.split_whitespace() {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            if stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')) {
                zombies.push(stat);
            }
        }
    }
    zombies
}

#[test]
fn runtime_intermediate_processes_do_not_linger_as_zombies() {
    // crun's `run --detach` leaves an intermediate process that exits after the start and is
    // re-parented to the subreaper; one per container would exhaust the pid space.
    for kind in [OciRuntimeKind::Crun, OciRuntimeKind::Runc] {
        let (_tmp, rt) = common::runtime(kind);
        for _ in 0..5 {
            let out = common::sh(&rt, "true", RunOptions::default());
            assert_eq!(out.exit.code, 0, "{}", common::stderr(&out));
        }
        let mut c = rt.create("busybox:test", &RunOptions { args: vec!["sleep".into(), "30".into()], ..RunOptions::default() }).unwrap();
        c.start().unwrap();
        assert_eq!(zombie_children(), Vec::<String>::new(), "{kind:?}");
        let exit = c.stop(Duration::ZERO).unwrap();
        assert_eq!(exit.signal, Some(9), "the running container's exit status was not taken from its owner");
        c.remove(false).unwrap();
        assert_eq!(zombie_children(), Vec::<String>::new(), "{kind:?}");
    }
}

/// The real kernel, except that overlay mounts fail.
#[derive(Debug)]
struct OverlayRefused(LinuxSyscall);

impl Syscall for OverlayRefused {
    fn apparmor_enabled(&self) -> bool {
        self.0.apparmor_enabled()
    }
    fn kernel_release(&self) -> String {
        self.0.kernel_release()
    }
    fn cap_last_cap(&self) -> u32 {
        self.0.cap_last_cap()
    }
    fn raise_nofile_limit(&self, want: u64) -> u64 {
        self.0.raise_nofile_limit(want)
    }
    fn mount_tmpfs(&self, target: &Path, options: &str) -> palisade_runtime::Result<()> {
        self.0.mount_tmpfs(target, options)
    }
    fn mount_overlay(&self, _: &Path, _: &Path, _: &Path, _: &Path) -> palisade_runtime::Result<()> {
        Err(Error::Syscall { op: "mount overlay", source: nix::errno::Errno::ENODEV })
    }
    fn unmount(&self, target: &Path) -> palisade_runtime::Result<()> {
        self.0.unmount(target)
    }
    fn set_child_subreaper(&self) -> palisade_runtime::Result<()> {
        self.0.set_child_subreaper()
    }
    fn wait_until_exited(&self, pid: i32, timeout: Option<Duration>) -> palisade_runtime::Result<bool> {
        self.0.wait_until_exited(pid, timeout)
    }
    fn exit_notifier(&self, pid: i32) -> palisade_runtime::Result<Option<std::os::fd::OwnedFd>> {
        self.0.exit_notifier(pid)
    }
    fn wait_pid(&self, pid: i32, block: bool) -> palisade_runtime::Result<Option<ProcessExit>> {
        self.0.wait_pid(pid, block)
    }
}

#[test]
fn a_layer_that_cannot_be_mounted_fails_start_and_remove_leaves_nothing() {
    // `create` makes the writable layer in the background; `start` reports its failure.
    let (tmp, loaded) = common::runtime(OciRuntimeKind::Crun);
    drop(loaded);
    let root = tmp.path().join("root");
    let state = tmp.path().join("state");
    let rt = ContainerRuntime::open_with(&root, &state, OciRuntimeKind::Crun, Arc::new(OverlayRefused(LinuxSyscall))).unwrap();
    let mut c = rt.create("busybox:test", &RunOptions::default()).unwrap();
    let (bundle, id) = (c.bundle().to_owned(), c.id().clone());
    // The logs exist as soon as `create` returns, for readers that attach before the start.
    for log in ["stdout.log", "stderr.log"] {
        assert!(root.join("containers").join(id.as_str()).join(log).is_file(), "{log} not made by create");
    }
    let err = c.start().unwrap_err();
    assert!(err.to_string().contains("mount overlay"), "{err}");
    assert_eq!(c.status(), ContainerStatus::Created);
    // Nothing pending any more, and still no root file system: refused, never run.
    let mut again = rt.container(&id).unwrap();
    assert!(matches!(again.start(), Err(Error::InvalidState { op: "start", .. })), "a second start is refused");
    assert!(again.runtime_status().unwrap().is_none(), "crun never saw it");
    again.remove(false).unwrap();
    assert!(!bundle.exists(), "bundle left at {}", bundle.display());
    assert!(!root.join("containers").join(id.as_str()).exists(), "writable layer left behind");
}
