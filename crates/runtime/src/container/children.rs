//! Child processes of a subreaper.
//!
//! The process that runs containers is a child subreaper, so that container init processes
//! become its children and their exit codes can be collected. Every other orphan among the
//! runtime's descendants becomes its child as well: `crun run --detach` forks twice, and its
//! intermediate process exits right after the container started — a zombie of ours that
//! nobody waits for. Left alone, one accumulates per container start until the pid space is
//! exhausted.
//!
//! [`reap_orphans`] collects those. Most are gone by the time the runtime command returns and
//! the sweep after it takes them; some exit later (the fork of an `exec` whose command could
//! not be executed, say), so a process that runs containers also sweeps on every `SIGCHLD`
//! (see [`reap_runtime_orphans`]). A late zombie left alone is worse than a leak: it sits in
//! the container's pid namespace, and the kernel does not let the container's init finish
//! exiting while any process of that namespace is unreaped, so the container never stops.
//!
//! The sweep must never collect a child whose exit somebody else waits for, so:
//! - runtime commands are spawned through [`output`] / [`status`], which register the child
//!   under the same lock the sweep holds (a child cannot exit unregistered and be taken);
//! - container init processes are registered with [`expect_exit`] when their pid is known;
//! - the sweep only takes zombies named like an OCI runtime (`crun`, `runc`, `runc:[2:INIT]`),
//!   which a container init or exec that has executed its command never is.
//!
//! After each start there is usually exactly one such zombie, and the sweep runs between the
//! runtime's return and the start's answer: it first peeks at the next exited child
//! (`waitid` with `WNOWAIT`, which collects nothing) and only lists every child when that one
//! is not its to take.

use std::collections::BTreeSet;
use std::io;
use std::process::{Child, Command, ExitStatus, Output};
use std::sync::{Mutex, MutexGuard, PoisonError};

use nix::sys::wait::{waitid, waitpid, Id, WaitPidFlag};
use nix::unistd::Pid;

use super::OciRuntimeKind;

/// Children whose exit somebody collects. Process-wide, as being a subreaper is.
static EXPECTED: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

fn expected() -> MutexGuard<'static, BTreeSet<i32>> {
    EXPECTED.lock().unwrap_or_else(PoisonError::into_inner)
}

fn pid_of(child: &Child) -> i32 {
    i32::try_from(child.id()).unwrap_or(i32::MAX)
}

/// Spawns `command`, registered until `collect` has reaped it.
fn spawn_registered<T>(command: &mut Command, collect: impl FnOnce(Child) -> io::Result<T>) -> io::Result<T> {
    let child = {
        let mut expected = expected();
        let child = command.spawn()?;
        expected.insert(pid_of(&child));
        child
    };
    let pid = pid_of(&child);
    let result = collect(child);
    expected().remove(&pid);
    result
}

/// [`Command::output`], safe against the orphan sweep.
pub(crate) fn output(command: &mut Command) -> io::Result<Output> {
    command.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    spawn_registered(command, Child::wait_with_output)
}

/// [`Command::status`], safe against the orphan sweep.
pub(crate) fn status(command: &mut Command) -> io::Result<ExitStatus> {
    spawn_registered(command, |mut child| child.wait())
}

/// Marks `pid` (a container init) as collected by its owner until [`collected`].
pub(crate) fn expect_exit(pid: i32) {
    expected().insert(pid);
}

/// The owner of `pid` has collected it (or given up).
pub(crate) fn collected(pid: i32) {
    expected().remove(&pid);
}

/// The names the OCI runtimes' processes go by: their binaries' (see [`is_zombie_of`]).
const RUNTIMES: [&str; 2] = [OciRuntimeKind::Crun.binary(), OciRuntimeKind::Runc.binary()];

/// Collects every zombie child of an OCI runtime that nobody waits for. For a process that
/// runs containers (a child subreaper, see [`crate::ContainerRuntime::open`]) to call
/// whenever a child exited. Returns how many it collected.
pub fn reap_runtime_orphans() -> usize {
    reap_orphans(&RUNTIMES)
}

/// Collects every zombie child of one of `runtimes` (binary names) that nobody waits for.
/// Returns how many.
pub(crate) fn reap_orphans(runtimes: &[&str]) -> usize {
    let expected = expected();
    let mut reaped = 0;
    let peek = WaitPidFlag::WEXITED | WaitPidFlag::WNOHANG | WaitPidFlag::WNOWAIT;
    loop {
        let pid = match waitid(Id::All, peek) {
            Ok(status) => match status.pid() {
                Some(pid) => pid,
                // No child has exited: nothing to collect.
                None => return reaped,
            },
            // No children at all.
            Err(nix::errno::Errno::ECHILD) => return reaped,
            // The peek failed (interrupted, say): look at every child instead.
            Err(_) => break,
        };
        if expected.contains(&pid.as_raw()) || !is_zombie_of(pid.as_raw(), runtimes) {
            // The kernel shows this exit first and will again: look at every child instead.
            break;
        }
        if !matches!(waitpid(pid, Some(WaitPidFlag::WNOHANG)), Ok(s) if s.pid().is_some()) {
            break;
        }
        reaped += 1;
    }
    for pid in children() {
        if expected.contains(&pid) || !is_zombie_of(pid, runtimes) {
            continue;
        }
        if matches!(waitpid(Pid::from_raw(pid), Some(WaitPidFlag::WNOHANG)), Ok(s) if s.pid().is_some()) {
            reaped += 1;
        }
    }
    reaped
}

/// Children of every thread of this process (`/proc/self/task/*/children`).
fn children() -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Vec::new() };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|list| list.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<i32>>())
        .collect()
}

/// Whether `pid` is a zombie named like one of `runtimes`: the binary's own name, or the
/// name runc gives its stages (`runc:[1:CHILD]`, `runc:[2:INIT]`).
fn is_zombie_of(pid: i32, runtimes: &[&str]) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return false };
    // "pid (comm) state ...": comm may itself contain spaces and parentheses.
    let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { return false };
    let comm = stat.get(open + 1..close).unwrap_or_default();
    let state = stat.get(close + 1..).and_then(|rest| rest.split_whitespace().next());
    let named = runtimes.iter().any(|r| comm.strip_prefix(r).is_some_and(|rest| rest.is_empty() || rest.starts_with(":[")));
    named && state == Some("Z")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A child of this (test) process that exits at once and is never waited for, named
    /// `name`: an orphan as the sweep sees it.
    fn exited_child(name: &str) -> i32 {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join(name);
        std::os::unix::fs::symlink("/usr/bin/true", &link).unwrap();
        let child = Command::new(&link).spawn().unwrap();
        let pid = pid_of(&child);
        // Dropping a Child neither kills nor waits for it.
        drop(child);
        // The kernel keeps the first 15 bytes of a name.
        while !is_zombie_of(pid, &[&name[..name.len().min(15)]]) {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        pid
    }

    #[test]
    fn orphans_named_like_the_runtime_are_collected_and_expected_children_are_not() {
        let orphan = exited_child("fake-crun");
        let awaited = exited_child("fake-crun");
        let other = exited_child("not-the-runtime");
        expect_exit(awaited);
        assert_eq!(reap_orphans(&["fake-crun"]), 1);
        assert!(!std::path::Path::new(&format!("/proc/{orphan}")).exists(), "the orphan is gone");
        assert!(is_zombie_of(awaited, &["fake-crun"]), "an expected exit is left to its owner");
        assert!(is_zombie_of(other, &["not-the-runtime"]), "other children are not ours to take");
        collected(awaited);
        for pid in [awaited, other] {
            waitpid(Pid::from_raw(pid), None).unwrap();
        }
    }

    #[test]
    fn runc_stage_names_count_as_the_runtime_and_look_alikes_do_not() {
        let stage = exited_child("fake-runc:[2:INIT]");
        let look_alike = exited_child("fake-runcx");
        assert_eq!(reap_orphans(&["fake-runc"]), 1);
        assert!(!std::path::Path::new(&format!("/proc/{stage}")).exists(), "runc's init stage is taken");
        assert!(is_zombie_of(look_alike, &["fake-runcx"]), "another program is left alone");
        waitpid(Pid::from_raw(look_alike), None).unwrap();
    }

    #[test]
    fn an_orphan_behind_an_exit_somebody_waits_for_is_collected_too() {
        // The peek shows the oldest exited child first: here one the sweep must leave.
        let awaited = exited_child("fake-crun");
        expect_exit(awaited);
        let orphan = exited_child("fake-crun");
        assert_eq!(reap_orphans(&["fake-crun"]), 1);
        assert!(!std::path::Path::new(&format!("/proc/{orphan}")).exists(), "the orphan is gone");
        assert!(is_zombie_of(awaited, &["fake-crun"]), "an expected exit is left to its owner");
        collected(awaited);
        waitpid(Pid::from_raw(awaited), None).unwrap();
        assert_eq!(reap_orphans(&["fake-crun"]), 0, "no children left: nothing to do");
    }

    #[test]
    fn registered_commands_keep_their_exit_status() {
        // Sweeps racing with commands named like the sweep's target never steal a status.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("sweep-race");
        std::os::unix::fs::symlink("/usr/bin/false", &fake).unwrap();
        let stop = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    reap_orphans(&["sweep-race"]);
                }
            });
            for _ in 0..50 {
                let status = status(&mut Command::new(&fake)).unwrap();
                assert_eq!(status.code(), Some(1));
            }
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
    }
}
