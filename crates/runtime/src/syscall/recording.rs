//! A fake that records mounts and answers host questions from fixed values.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::{ProcessExit, Syscall};
use crate::error::Result;

/// A recorded mount (tmpfs or overlay).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountArgs {
    /// Mount point.
    pub target: PathBuf,
    /// Options string.
    pub options: String,
}

/// Records calls instead of making them; for unit tests of callers.
#[derive(Debug, Default)]
pub struct RecordingSyscall {
    /// Answer for [`Syscall::apparmor_enabled`].
    pub apparmor: bool,
    mounts: Mutex<Vec<MountArgs>>,
    unmounts: Mutex<Vec<PathBuf>>,
}

impl RecordingSyscall {
    /// A fake whose host reports AppArmor as enabled or not.
    pub fn with_apparmor(apparmor: bool) -> Self {
        Self { apparmor, ..Self::default() }
    }

    /// Mounts recorded so far.
    pub fn mounts(&self) -> Vec<MountArgs> {
        self.mounts.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Unmounts recorded so far.
    pub fn unmounts(&self) -> Vec<PathBuf> {
        self.unmounts.lock().map(|m| m.clone()).unwrap_or_default()
    }
}

impl Syscall for RecordingSyscall {
    fn apparmor_enabled(&self) -> bool {
        self.apparmor
    }

    fn kernel_release(&self) -> String {
        "6.1.0-test".into()
    }

    fn cap_last_cap(&self) -> u32 {
        40
    }

    fn raise_nofile_limit(&self, want: u64) -> u64 {
        want
    }

    fn mount_tmpfs(&self, target: &Path, options: &str) -> Result<()> {
        if let Ok(mut m) = self.mounts.lock() {
            m.push(MountArgs { target: target.to_path_buf(), options: options.to_owned() });
        }
        Ok(())
    }

    fn mount_overlay(&self, target: &Path, lower: &Path, upper: &Path, work: &Path) -> Result<()> {
        if let Ok(mut m) = self.mounts.lock() {
            let options = format!("lowerdir={},upperdir={},workdir={}", lower.display(), upper.display(), work.display());
            m.push(MountArgs { target: target.to_path_buf(), options });
        }
        Ok(())
    }

    fn unmount(&self, target: &Path) -> Result<()> {
        if let Ok(mut m) = self.unmounts.lock() {
            m.push(target.to_path_buf());
        }
        Ok(())
    }

    fn set_child_subreaper(&self) -> Result<()> {
        Ok(())
    }

    fn wait_until_exited(&self, _pid: i32, _timeout: Option<std::time::Duration>) -> Result<bool> {
        Ok(true)
    }

    fn exit_notifier(&self, _pid: i32) -> Result<Option<std::os::fd::OwnedFd>> {
        Ok(None)
    }

    fn wait_pid(&self, _pid: i32, _block: bool) -> Result<Option<ProcessExit>> {
        Ok(Some(ProcessExit::Code(0)))
    }
}
