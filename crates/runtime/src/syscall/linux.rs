//! The real implementation, over `nix`'s safe wrappers (no `unsafe` here).

use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::OnceLock;

use nix::errno::Errno;
use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use super::{ProcessExit, Syscall};
use crate::error::{Error, Result};

/// The host's kernel.
#[derive(Clone, Copy, Debug, Default)]
pub struct LinuxSyscall;

impl Syscall for LinuxSyscall {
    fn apparmor_enabled(&self) -> bool {
        std::fs::read_to_string("/sys/module/apparmor/parameters/enabled").is_ok_and(|s| s.trim() == "Y")
    }

    // Both are fixed while the kernel runs: read once per process.
    fn kernel_release(&self) -> String {
        static RELEASE: OnceLock<String> = OnceLock::new();
        RELEASE
            .get_or_init(|| std::fs::read_to_string("/proc/sys/kernel/osrelease").map(|s| s.trim().to_owned()).unwrap_or_default())
            .clone()
    }

    fn cap_last_cap(&self) -> u32 {
        static LAST_CAP: OnceLock<u32> = OnceLock::new();
        *LAST_CAP.get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").ok().and_then(|s| s.trim().parse().ok()).unwrap_or(40)
        })
    }

    fn raise_nofile_limit(&self, want: u64) -> u64 {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let _ = setrlimit(Resource::RLIMIT_NOFILE, want, want);
        getrlimit(Resource::RLIMIT_NOFILE).map(|(_, hard)| hard).unwrap_or(1024)
    }

    fn mount_tmpfs(&self, target: &Path, options: &str) -> Result<()> {
        let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        mount(Some("tmpfs"), target, Some("tmpfs"), flags, Some(options))
            .map_err(|source| Error::Syscall { op: "mount tmpfs", source })
    }

    fn mount_overlay(&self, target: &Path, lower: &Path, upper: &Path, work: &Path) -> Result<()> {
        let options = format!(
            "lowerdir={},upperdir={},workdir={}",
            overlay_escape(lower)?,
            overlay_escape(upper)?,
            overlay_escape(work)?
        );
        // `volatile`: the upper layer dies with the container, so overlayfs need not sync it
        // (no syncfs of the whole host filesystem at unmount). Older kernels lack it.
        let mount = |opts: &str| mount(Some("overlay"), target, Some("overlay"), MsFlags::empty(), Some(opts));
        match mount(&format!("{options},volatile")) {
            Err(Errno::EINVAL) => mount(&options),
            r => r,
        }
        .map_err(|source| Error::Syscall { op: "mount overlay", source })
    }

    fn unmount(&self, target: &Path) -> Result<()> {
        // At once where possible: the file system (an overlay and, through it, the container's
        // upper layer) is then torn down before this returns, not by the kernel some time
        // later, while the next container starts. A mount still in use is detached instead.
        let unmounted = match umount2(target, MntFlags::empty()) {
            Err(Errno::EBUSY) => umount2(target, MntFlags::MNT_DETACH),
            other => other,
        };
        match unmounted {
            Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => Ok(()),
            Err(source) => Err(Error::Syscall { op: "umount", source }),
        }
    }

    fn set_child_subreaper(&self) -> Result<()> {
        nix::sys::prctl::set_child_subreaper(true).map_err(|source| Error::Syscall { op: "prctl(PR_SET_CHILD_SUBREAPER)", source })
    }

    fn wait_until_exited(&self, pid: i32, timeout: Option<std::time::Duration>) -> Result<bool> {
        use rustix::event::{poll, PollFd, PollFlags, Timespec};
        let fd = match pidfd(pid)? {
            Pidfd::Open(fd) => fd,
            Pidfd::Gone => return Ok(true),
            Pidfd::Unsupported => return Ok(false),
        };
        let timeout = timeout.map(|t| Timespec { tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX), tv_nsec: i64::from(t.subsec_nanos()) });
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        loop {
            match poll(&mut fds, timeout.as_ref()) {
                Ok(n) => return Ok(n > 0),
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Error::Syscall { op: "poll(pidfd)", source: Errno::from_raw(e.raw_os_error()) }),
            }
        }
    }

    fn exit_notifier(&self, pid: i32) -> Result<Option<OwnedFd>> {
        Ok(match pidfd(pid)? {
            Pidfd::Open(fd) => Some(fd),
            Pidfd::Gone | Pidfd::Unsupported => None,
        })
    }

    fn wait_pid(&self, pid: i32, block: bool) -> Result<Option<ProcessExit>> {
        let flags = if block { None } else { Some(WaitPidFlag::WNOHANG) };
        loop {
            match waitpid(Pid::from_raw(pid), flags) {
                Ok(WaitStatus::Exited(_, code)) => return Ok(Some(ProcessExit::Code(code))),
                Ok(WaitStatus::Signaled(_, sig, _)) => return Ok(Some(ProcessExit::Signal(sig as i32))),
                Ok(WaitStatus::StillAlive) => return Ok(None),
                Ok(_) => {
                    if !block {
                        return Ok(None);
                    }
                }
                Err(Errno::EINTR) => {}
                Err(source) => return Err(Error::Syscall { op: "waitpid", source }),
            }
        }
    }
}

/// A process's pidfd, which becomes readable when it exits.
enum Pidfd {
    Open(OwnedFd),
    /// No such process (any more).
    Gone,
    /// The kernel has no pidfds (before Linux 5.3).
    Unsupported,
}

fn pidfd(pid: i32) -> Result<Pidfd> {
    use rustix::process::{pidfd_open, Pid as RPid, PidfdFlags};
    let Some(rpid) = RPid::from_raw(pid) else { return Ok(Pidfd::Gone) };
    match pidfd_open(rpid, PidfdFlags::empty()) {
        Ok(fd) => Ok(Pidfd::Open(fd)),
        Err(rustix::io::Errno::SRCH) => Ok(Pidfd::Gone),
        Err(rustix::io::Errno::NOSYS) => Ok(Pidfd::Unsupported),
        Err(e) => Err(Error::Syscall { op: "pidfd_open", source: Errno::from_raw(e.raw_os_error()) }),
    }
}

/// A path as an overlayfs mount option value: `\\`, `,` and `:` escaped with a backslash.
fn overlay_escape(path: &Path) -> Result<String> {
    let s = path.to_str().ok_or_else(|| Error::Unsupported(format!("overlay path {} is not UTF-8", path.display())))?;
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | ',' | ':') {
            out.push('\\');
        }
        out.push(c);
    }
    Ok(out)
}
