//! The operating-system calls the runtime makes, behind a trait so tests can record them.

mod linux;
mod recording;

use std::fmt::Debug;
use std::path::Path;

pub use linux::LinuxSyscall;
pub use recording::{MountArgs, RecordingSyscall};

use crate::error::Result;

/// How a waited-for process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcessExit {
    /// Exited with this status.
    Code(i32),
    /// Killed by this signal number.
    Signal(i32),
}

/// Host facts and system calls used by the bundle builder and the executor.
pub trait Syscall: Debug + Send + Sync {
    /// Whether the AppArmor LSM is enabled on this host.
    fn apparmor_enabled(&self) -> bool;
    /// The kernel release string (`uname -r`).
    fn kernel_release(&self) -> String;
    /// Highest capability number the kernel knows (`/proc/sys/kernel/cap_last_cap`).
    fn cap_last_cap(&self) -> u32;
    /// Raises this process's `RLIMIT_NOFILE` (soft and hard) to `want` where permitted and
    /// returns the hard limit in force afterwards. Containers cannot be given more.
    fn raise_nofile_limit(&self, want: u64) -> u64;
    /// Mounts a fresh tmpfs at `target` with `options` (`mode=0700,size=1m`...), never
    /// executable, setuid-honouring or device-honouring.
    fn mount_tmpfs(&self, target: &Path, options: &str) -> Result<()>;
    /// Mounts an overlay at `target`: `lower` read-only below, changes going to `upper`
    /// (`work` is overlayfs's scratch dir on the same filesystem as `upper`).
    fn mount_overlay(&self, target: &Path, lower: &Path, upper: &Path, work: &Path) -> Result<()>;
    /// Unmounts whatever is mounted at `target`, detaching it lazily if it is busy. Not
    /// mounted is not an error.
    fn unmount(&self, target: &Path) -> Result<()>;
    /// Makes the calling process a child subreaper, so orphaned container init processes
    /// are re-parented to it and their exit status can be collected.
    fn set_child_subreaper(&self) -> Result<()>;
    /// Blocks until process `pid` has exited (`Ok(true)`; also when it no longer exists) or
    /// `timeout` passed. `Ok(false)` when the kernel cannot tell (no pidfd support): the
    /// caller polls instead. Does not collect the exit status.
    fn wait_until_exited(&self, pid: i32, timeout: Option<std::time::Duration>) -> Result<bool>;
    /// A descriptor that becomes readable once process `pid` has exited (a pidfd), for
    /// callers that wait in an event loop rather than on a thread. `Ok(None)` when the kernel
    /// has no pidfds or `pid` no longer exists: [`Self::wait_until_exited`] copes with both.
    fn exit_notifier(&self, pid: i32) -> Result<Option<std::os::fd::OwnedFd>>;
    /// Collects the exit of `pid` (a child or re-parented orphan). `Ok(None)` when it is still
    /// running and `block` is false. `Err` when `pid` is not our child.
    fn wait_pid(&self, pid: i32, block: bool) -> Result<Option<ProcessExit>>;
}
