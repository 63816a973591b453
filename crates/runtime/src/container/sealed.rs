//! The OCI runtime binary executed from a sealed in-memory copy.
//!
//! crun and runc defend the host binary against a container that would overwrite it through
//! `/proc/self/exe` (CVE-2019-5736): on every invocation they first make themselves a
//! read-only copy and execute that — one more `execve` and dynamic link per call. Both skip
//! the step when `/proc/self/exe` is already a memfd carrying exactly the seals
//! `SEAL | SHRINK | GROW | WRITE` (`is_self_cloned` in their `cloned_binary.c`), because such a
//! file cannot be written by anyone. The daemon keeps one such copy per runtime and executes
//! it through `/proc/self/fd/N`, as runc's `memfd-bind` does: the protection is the same, the
//! per-call clone is gone. A symlink named like the runtime (`<link_dir>/N/crun` →
//! `/proc/self/fd/N`) is what gets executed, so the process is called `crun` in `ps`, not `N`.
//!
//! Invariants:
//! - A copy is only ever used after it ran `--version` successfully, so a kernel that refuses
//!   to execute memfds (`vm.memfd_noexec`) costs one probe and then the plain binary is used.
//! - The copy follows the file: when the binary on disk changes identity (an upgrade), the
//!   next call makes a new copy; callers hold an [`Arc`] of the descriptor they spawn with,
//!   so a swap never closes a descriptor a concurrent spawn still names.
//! - A link's path names the descriptor its target names (`N/…` → `/proc/self/fd/N`), and only
//!   the holder of descriptor N executes it: several instances (or processes) sharing a link
//!   directory never execute each other's copies, nor a descriptor number since reused.

use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use std::sync::{Arc, Mutex, PoisonError};

use rustix::fs::{fcntl_add_seals, memfd_create, MemfdFlags, SealFlags};

/// The seals crun and runc accept as "already cloned" (their `*_MEMFD_SEALS`): nothing may
/// write, grow, shrink or unseal the file.
const RUNTIME_SEALS: SealFlags =
    SealFlags::SEAL.union(SealFlags::SHRINK).union(SealFlags::GROW).union(SealFlags::WRITE);

/// What identifies the file a copy was made from; any change means a new binary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: (meta.mtime(), meta.mtime_nsec()),
            ctime: (meta.ctime(), meta.ctime_nsec()),
        }
    }
}

#[derive(Debug)]
enum CopyState {
    /// A sealed copy of the file with this identity.
    Sealed(Identity, Arc<OwnedFd>),
    /// Sealed copies do not work here (no memfd, or not executable): use the file.
    Unsupported,
}

/// A program to execute: the sealed copy (keep `_fd` alive until the child has exec'd) or
/// the binary's path.
pub(crate) struct Program {
    pub(crate) path: PathBuf,
    _fd: Option<Arc<OwnedFd>>,
}

/// The runtime binary at `path`, executed from a sealed copy where the kernel allows it.
#[derive(Debug)]
pub(crate) struct SealedBinary {
    path: PathBuf,
    /// Where the named link to the copy lives (a directory only root can write).
    link_dir: PathBuf,
    copy: Mutex<Option<CopyState>>,
}

impl SealedBinary {
    pub(crate) fn new(path: PathBuf, link_dir: PathBuf) -> Self {
        Self { path, link_dir, copy: Mutex::new(None) }
    }

    /// The binary on disk.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The file itself, for a caller that cannot use the copy.
    pub(crate) fn file(&self) -> Program {
        Program { path: self.path.clone(), _fd: None }
    }

    /// What to execute now: the current sealed copy (made or refreshed as needed), else the
    /// file itself.
    pub(crate) fn program(&self) -> Program {
        let plain = || self.file();
        let Ok(current) = std::fs::metadata(&self.path).map(|m| Identity::of(&m)) else {
            // Missing binary: let the spawn report it with the path.
            return plain();
        };
        let mut copy = self.copy.lock().unwrap_or_else(PoisonError::into_inner);
        let fresh = match &*copy {
            Some(CopyState::Unsupported) => return plain(),
            Some(CopyState::Sealed(identity, _)) => *identity == current,
            None => false,
        };
        if !fresh {
            *copy = Some(match self.make_copy() {
                Ok((identity, fd)) => CopyState::Sealed(identity, Arc::new(fd)),
                Err(reason) => {
                    tracing::debug!("executing {} directly: {reason}", self.path.display());
                    CopyState::Unsupported
                }
            });
        }
        match &*copy {
            Some(CopyState::Sealed(_, fd)) => Program { path: self.link_path(fd), _fd: Some(Arc::clone(fd)) },
            _ => plain(),
        }
    }

    /// A sealed copy, linked and shown to execute.
    fn make_copy(&self) -> Result<(Identity, OwnedFd), String> {
        let (identity, fd) = seal_copy(&self.path)?;
        self.link(&fd)?;
        let mut probe = Command::new(self.link_path(&fd));
        probe.arg("--version").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
        match super::children::status(&mut probe) {
            Ok(status) if status.success() => Ok((identity, fd)),
            Ok(status) => Err(format!("the sealed copy exited with {status} on --version")),
            Err(e) => Err(format!("executing the sealed copy: {e}")),
        }
    }

    fn link_path(&self, fd: &OwnedFd) -> PathBuf {
        let name = self.path.file_name().unwrap_or_else(|| "runtime".as_ref());
        self.link_dir.join(fd.as_raw_fd().to_string()).join(name)
    }

    /// Makes the named link to `fd` (replacing whatever was there atomically).
    fn link(&self, fd: &OwnedFd) -> Result<(), String> {
        use std::os::unix::fs::DirBuilderExt;
        let link = self.link_path(fd);
        let dir = link.parent().unwrap_or(&self.link_dir);
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let tmp = link.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        std::os::unix::fs::symlink(fd_path(fd), &tmp).map_err(|e| format!("linking {}: {e}", tmp.display()))?;
        std::fs::rename(&tmp, &link).map_err(|e| format!("renaming {}: {e}", link.display()))
    }
}

fn fd_path(fd: &OwnedFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Copies `path` into a memfd and seals it.
fn seal_copy(path: &Path) -> Result<(Identity, OwnedFd), String> {
    let mut source = File::open(path).map_err(|e| format!("open: {e}"))?;
    // The identity of the bytes actually copied, not of whatever the path names later.
    let identity = Identity::of(&source.metadata().map_err(|e| format!("stat: {e}"))?);
    let name = format!("{}-sealed", path.file_name().map_or_else(|| "runtime".into(), |n| n.to_string_lossy()));
    // CLOEXEC: no child inherits the descriptor past its own execve; executing
    // /proc/self/fd/N still works because the path is resolved before descriptors close.
    let fd = memfd_create(name.as_str(), MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
        .map_err(|e| format!("memfd_create: {e}"))?;
    let mut sink = File::from(fd);
    let copied = std::io::copy(&mut source, &mut sink).map_err(|e| format!("copy: {e}"))?;
    if copied != identity.size {
        return Err(format!("copied {copied} of {} bytes (file changed while copying)", identity.size));
    }
    let fd = OwnedFd::from(sink);
    fcntl_add_seals(&fd, RUNTIME_SEALS).map_err(|e| format!("sealing: {e}"))?;
    Ok((identity, fd))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;

    /// coreutils' `true`: an ELF binary that succeeds on `--version` whatever its argv[0].
    fn elf_binary() -> PathBuf {
        let p = PathBuf::from("/usr/bin/true");
        assert!(p.is_file(), "coreutils' true is part of every Debian system");
        p
    }

    /// The sealed copy behind a program (its descriptor, as the process sees it).
    fn copy_of(program: &Program) -> PathBuf {
        fd_path(program._fd.as_ref().expect("a sealed copy"))
    }

    #[test]
    fn the_runtime_runs_from_a_copy_sealed_as_runtimes_require() {
        let dir = tempfile::tempdir().unwrap();
        let bin = SealedBinary::new(elf_binary(), dir.path().join("bin"));
        let program = bin.program();
        // Executed under the runtime's own name, through a link to the copy.
        let fd = program._fd.as_ref().unwrap().as_raw_fd();
        assert_eq!(program.path, dir.path().join(format!("bin/{fd}/true")));
        assert_eq!(std::fs::read_link(&program.path).unwrap(), copy_of(&program));
        let seals = rustix::fs::fcntl_get_seals(program._fd.as_ref().unwrap()).unwrap();
        assert_eq!(seals, RUNTIME_SEALS, "exactly what crun's and runc's is_self_cloned accept");
        // Nobody can write the copy, not even its owner.
        let written = File::options().write(true).open(copy_of(&program)).and_then(|mut f| f.write_all(b"x"));
        assert!(written.is_err());
        let out = super::super::children::output(Command::new(&program.path).arg("--version")).unwrap();
        assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("true"));
    }

    #[test]
    fn instances_sharing_a_link_directory_run_their_own_copies() {
        let dir = tempfile::tempdir().unwrap();
        let (first, second) = (SealedBinary::new(elf_binary(), dir.path().join("bin")), SealedBinary::new(elf_binary(), dir.path().join("bin")));
        let theirs = second.program();
        let mine = first.program();
        assert_ne!(mine.path, theirs.path);
        // The first instance goes away and its descriptor is closed: the second still runs.
        drop((mine, first));
        let out = super::super::children::output(Command::new(&second.program().path).arg("--version")).unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    #[test]
    fn a_binary_that_cannot_run_sealed_is_executed_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("fake-runtime");
        std::fs::write(&script, "#!/bin/sh\necho one\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let bin = SealedBinary::new(script.clone(), dir.path().join("bin"));
        // A script cannot run from a CLOEXEC memfd (its interpreter opens the path after the
        // descriptor is gone): the probe fails and the file is used, now and later.
        assert_eq!(bin.program().path, script);
        assert!(bin.program()._fd.is_none());
    }

    #[test]
    fn an_upgraded_binary_gets_a_new_copy_and_the_old_stays_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("runtime");
        std::fs::copy(elf_binary(), &path).unwrap();
        let bin = SealedBinary::new(path.clone(), dir.path().join("bin"));
        let first = bin.program();
        let len = std::fs::metadata(copy_of(&first)).unwrap().len();
        assert_eq!(copy_of(&bin.program()), copy_of(&first), "unchanged file, same copy");
        // As a package upgrade does: a new file renamed over the old path.
        let next = dir.path().join("runtime.new");
        std::fs::copy(elf_binary(), &next).unwrap();
        File::options().append(true).open(&next).unwrap().write_all(b"\0upgrade").unwrap();
        std::fs::rename(&next, &path).unwrap();
        let second = bin.program();
        assert_ne!(copy_of(&second), copy_of(&first));
        assert_eq!(std::fs::metadata(copy_of(&second)).unwrap().len(), len + 8);
        assert_eq!(std::fs::read_link(&second.path).unwrap(), copy_of(&second));
        // Whoever still holds the first copy can still execute it, unchanged.
        assert_eq!(std::fs::metadata(copy_of(&first)).unwrap().len(), len);
    }
}
