//! Process-wide protection for a daemon that holds keys and secrets in memory.

use nix::sys::resource::{setrlimit, Resource};

use crate::error::{Error, Result};

/// Makes this process write no core file and be non-dumpable: a crash leaves no copy of its
/// memory (keys, secret values) on disk, and other processes of the same user can neither
/// ptrace it nor read its memory through `/proc`. Containers it starts are unaffected (the flag
/// is reset by `execve`).
pub fn forbid_core_dumps() -> Result<()> {
    setrlimit(Resource::RLIMIT_CORE, 0, 0).map_err(|source| Error::Syscall { op: "setrlimit(RLIMIT_CORE)", source })?;
    nix::sys::prctl::set_dumpable(false).map_err(|source| Error::Syscall { op: "prctl(PR_SET_DUMPABLE)", source })
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_process_becomes_undumpable() {
        super::forbid_core_dumps().unwrap();
        assert!(!nix::sys::prctl::get_dumpable().unwrap());
        let (soft, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_CORE).unwrap();
        assert_eq!((soft, hard), (0, 0));
    }
}
