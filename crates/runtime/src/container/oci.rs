//! Invoking the OCI runtime binary (crun or runc).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::children;
use super::sealed::{Program, SealedBinary};
use crate::error::{Error, Result};
use crate::ids::ContainerId;

/// Which OCI runtime executes containers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OciRuntimeKind {
    /// crun (default: fast start, C).
    #[default]
    Crun,
    /// runc.
    Runc,
}

impl OciRuntimeKind {
    /// Binary name looked up in `PATH`.
    pub const fn binary(self) -> &'static str {
        match self {
            Self::Crun => "crun",
            Self::Runc => "runc",
        }
    }
}

/// An OCI runtime binary with its own state directory (`--root`), executed from a sealed
/// in-memory copy where the kernel allows (see [`SealedBinary`]). Clones share the copy.
#[derive(Clone, Debug)]
pub struct OciRuntime {
    kind: OciRuntimeKind,
    binary: Arc<SealedBinary>,
    state_root: PathBuf,
}

/// The standard descriptors a detached runtime command hands through to the process it
/// starts, and the console socket it sends a terminal process's pty master to.
#[derive(Debug)]
pub(crate) struct RuntimeIo {
    pub(crate) stdin: Stdio,
    pub(crate) stdout: Stdio,
    pub(crate) stderr: Stdio,
    pub(crate) console: Option<PathBuf>,
}

/// The runtime's view of a container (`<runtime> state`).
#[derive(Clone, Debug, Deserialize)]
pub(crate) struct RuntimeState {
    pub(crate) status: String,
}

impl OciRuntime {
    /// A runtime of `kind`, found in `PATH` (looked up once, here), keeping its state under
    /// `state_root`.
    pub fn new(kind: OciRuntimeKind, state_root: PathBuf) -> Self {
        let binary = std::env::var_os("PATH")
            .and_then(|path| std::env::split_paths(&path).map(|d| d.join(kind.binary())).find(|p| p.is_file()))
            .unwrap_or_else(|| PathBuf::from(kind.binary()));
        Self { kind, binary: Arc::new(SealedBinary::new(binary, links_dir(&state_root))), state_root }
    }

    /// Uses an explicit binary path.
    pub fn with_binary(mut self, binary: PathBuf) -> Self {
        self.binary = Arc::new(SealedBinary::new(binary, links_dir(&self.state_root)));
        self
    }

    fn unavailable(&self, source: std::io::Error) -> Error {
        Error::RuntimeUnavailable { binary: self.binary.path().display().to_string(), source }
    }

    /// Which runtime this is.
    pub fn kind(&self) -> OciRuntimeKind {
        self.kind
    }

    /// The runtime binary with `--root`. `sets_up_cgroups`: the sub-command creates a container
    /// (and its cgroups), the only kind crun refuses on hybrid cgroup hosts. Keep the
    /// returned [`Program`] until the command has been spawned.
    fn command(&self, sets_up_cgroups: bool) -> (Command, Program) {
        let wrapped = sets_up_cgroups && self.kind == OciRuntimeKind::Crun && hybrid_cgroups_with_v2_controllers();
        // The sealed copy's descriptor does not survive `unshare`'s exec: the wrapper runs the file.
        let program = if wrapped { self.binary.file() } else { self.binary.program() };
        let mut c = if wrapped {
            // crun refuses hybrid cgroup hosts whose v2 hierarchy has controllers attached
            // ("cgroups in hybrid mode not supported"). Run it in a private mount namespace
            // without the v2 mount: it then sees a pure v1 host and uses the v1 controllers,
            // as runc does on such hosts. Nothing changes for the host or the container.
            // A daemon avoids this per-call cost with `isolate_mount_namespace` at startup;
            // state, kill and delete work from the recorded state and need no wrapper.
            let mut c = Command::new("unshare");
            c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg("umount -l /sys/fs/cgroup/unified && exec \"$0\" \"$@\"")
                .arg(&program.path);
            c
        } else {
            let mut c = Command::new(&program.path);
            std::os::unix::process::CommandExt::arg0(&mut c, self.kind.binary());
            c
        };
        c.arg("--root").arg(&self.state_root);
        c.stdin(Stdio::null());
        (c, program)
    }

    /// Runs `c` to completion; `_program` (what `c` executes) stays alive until then.
    fn run(&self, command: &'static str, mut c: Command, _program: Program) -> Result<Vec<u8>> {
        let out = children::output(&mut c).map_err(|source| self.unavailable(source))?;
        if out.status.success() {
            Ok(out.stdout)
        } else {
            Err(self.failed(command, out.status.to_string(), &out.stderr))
        }
    }

    fn failed(&self, command: &'static str, status: String, stderr: &[u8]) -> Error {
        Error::RuntimeFailed {
            runtime: self.kind.binary().to_owned(),
            command,
            status,
            stderr: String::from_utf8_lossy(stderr).trim().to_owned(),
        }
    }

    /// `run --detach`: creates and starts the container in one call, its stdout/stderr going
    /// to the given files. The runtime's own diagnostics go to `log`. Returns the container's
    /// init pid.
    pub(crate) fn run_detached(&self, id: &ContainerId, bundle: &Path, io: RuntimeIo, log: &Path) -> Result<i32> {
        let pid_file = bundle.join("init.pid");
        let (mut c, _program) = self.command(true);
        self.log_to(&mut c, log);
        c.arg("run").arg("--detach");
        if self.kind == OciRuntimeKind::Crun {
            // We are the containers' subreaper already: no extra process in between.
            c.arg("--no-subreaper");
        }
        c.arg("--bundle").arg(bundle);
        self.detached(c, "run", id, io, log, &pid_file)
    }

    /// `exec --detach --process <process.json>`: one more process in the running container
    /// `id`, described entirely by `process` (see [`super::exec`]). Returns its host pid; it
    /// becomes our child (we are the subreaper) once the runtime has returned.
    pub(crate) fn exec_detached(&self, id: &ContainerId, process: &Path, io: RuntimeIo, log: &Path, pid_file: &Path) -> Result<i32> {
        let (mut c, _program) = self.command(true);
        self.log_to(&mut c, log);
        c.arg("exec").arg("--detach").arg("--process").arg(process);
        self.detached(c, "exec", id, io, log, pid_file)
    }

    fn log_to(&self, c: &mut Command, log: &Path) {
        match self.kind {
            OciRuntimeKind::Crun => c.arg(format!("--log=file:{}", log.display())),
            OciRuntimeKind::Runc => c.arg("--log").arg(log),
        };
    }

    /// Finishes a `run`/`exec --detach` command line (pid file, console socket, container id),
    /// runs it with `io` as its standard descriptors (handed through to the process) and
    /// returns the pid the runtime wrote.
    fn detached(&self, mut c: Command, command: &'static str, id: &ContainerId, io: RuntimeIo, log: &Path, pid_file: &Path) -> Result<i32> {
        c.arg("--pid-file").arg(pid_file);
        if let Some(socket) = &io.console {
            c.arg("--console-socket").arg(socket);
        }
        c.arg(id.as_str());
        c.stdin(io.stdin).stdout(io.stdout).stderr(io.stderr);
        let status = children::status(&mut c).map_err(|source| self.unavailable(source))?;
        if !status.success() {
            let diag = std::fs::read(log).unwrap_or_default();
            return Err(self.failed(command, status.to_string(), &diag));
        }
        let pid = std::fs::read_to_string(pid_file).map_err(Error::io("read", pid_file))?;
        pid.trim().parse().map_err(|_| self.failed(command, "bad pid file".into(), pid.as_bytes()))
    }

    /// `state`; `Ok(None)` when the runtime does not know the container.
    pub(crate) fn state(&self, id: &ContainerId) -> Result<Option<RuntimeState>> {
        let (mut c, program) = self.command(false);
        c.arg("state").arg(id.as_str());
        match self.run("state", c, program) {
            Ok(out) => Ok(Some(serde_json::from_slice(&out).map_err(Error::json("runtime state"))?)),
            Err(Error::RuntimeFailed { stderr, .. }) if is_not_found(&stderr) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `kill` with a signal name (`TERM`, `KILL`).
    pub(crate) fn kill(&self, id: &ContainerId, signal: &str) -> Result<()> {
        let (mut c, program) = self.command(false);
        c.arg("kill").arg(id.as_str()).arg(signal);
        match self.run("kill", c, program) {
            Ok(_) => Ok(()),
            // Already gone.
            Err(Error::RuntimeFailed { stderr, .. }) if is_not_found(&stderr) || stderr.contains("not running") || stderr.contains("No such process") => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `delete --force`; a container the runtime does not know is not an error.
    pub(crate) fn delete(&self, id: &ContainerId) -> Result<()> {
        let (mut c, program) = self.command(false);
        c.arg("delete").arg("--force").arg(id.as_str());
        match self.run("delete", c, program) {
            Ok(_) => {}
            Err(Error::RuntimeFailed { stderr, .. }) if is_not_found(&stderr) => {}
            Err(e) => return Err(e),
        }
        remove_scratch_v2_dir(id);
        Ok(())
    }
}

/// Where the links to sealed runtime copies live: beside the runtimes' state directories.
fn links_dir(state_root: &Path) -> PathBuf {
    state_root.parent().unwrap_or(state_root).join("bin")
}

/// Where the cgroup v2 hierarchy is mounted on a hybrid host.
const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// In the namespace of [`isolate_mount_namespace`], crun (seeing a v1 host) still makes a
/// plain directory for the container under the scratch tmpfs at [`UNIFIED`] and cannot remove
/// it (it holds a `cgroup.procs` file): remove it, only ever on that tmpfs.
fn remove_scratch_v2_dir(id: &ContainerId) {
    let on_scratch = nix::sys::statfs::statfs(UNIFIED).is_ok_and(|s| s.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC);
    if on_scratch {
        let dir = Path::new(UNIFIED).join(crate::bundle::cgroup_path(id).trim_start_matches('/'));
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// For a daemon on a hybrid cgroup host (see [`OciRuntime`]'s crun wrapper): moves the
/// calling process into its own mount namespace (all mounts private, so nothing it mounts
/// later propagates to the host) with a scratch tmpfs instead of the cgroup v2 mount, once,
/// so that crun can be executed directly. Container rootfs and secrets mounts are then visible in this process's
/// namespace only, and vanish with it. Must be called while the process is single-threaded
/// (before any async runtime starts). Returns whether it did anything.
pub fn isolate_mount_namespace() -> Result<bool> {
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    if !hybrid_cgroups_with_v2_controllers() {
        return Ok(false);
    }
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)
        .map_err(|source| Error::Syscall { op: "unshare(CLONE_NEWNS)", source })?;
    mount(None::<&str>, "/", None::<&str>, MsFlags::MS_REC | MsFlags::MS_PRIVATE, None::<&str>)
        .map_err(|source| Error::Syscall { op: "make / rprivate", source })?;
    umount2(UNIFIED, MntFlags::MNT_DETACH).map_err(|source| Error::Syscall { op: "umount /sys/fs/cgroup/unified", source })?;
    // crun still writes a directory per container below it: into a scratch tmpfs of this
    // namespace, never into the host's /sys/fs/cgroup tmpfs hidden underneath.
    mount(Some("tmpfs"), UNIFIED, Some("tmpfs"), MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC, Some("mode=0755"))
        .map_err(|source| Error::Syscall { op: "mount scratch tmpfs on /sys/fs/cgroup/unified", source })?;
    Ok(true)
}

/// `/sys/fs/cgroup` is a v1 tmpfs with a v2 `unified` mount that has controllers.
fn hybrid_cgroups_with_v2_controllers() -> bool {
    std::fs::read_to_string("/sys/fs/cgroup/unified/cgroup.controllers").is_ok_and(|s| !s.trim().is_empty())
        && !Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

fn is_not_found(stderr: &str) -> bool {
    stderr.contains("does not exist") || stderr.contains("not found") || stderr.contains("No such file")
}
