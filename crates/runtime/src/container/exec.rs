//! `docker exec`: one more process in a running container, exactly as confined as its init.
//!
//! The process is the container's own `config.json` `process` — its capabilities (all five
//! sets), `noNewPrivileges`, AppArmor profile, SELinux label and rlimits — with only the
//! command, environment, working directory, user and terminal replaced, written to a
//! `process.json` for `crun exec --process` / `runc exec --process` (one path for both). The
//! runtime joins it to the container's namespaces and cgroup and installs the container's
//! seccomp filter. Nothing here can widen what the init may do: a `--privileged` exec is
//! refused by the engine before it gets here.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Arc;

use oci_spec::runtime::{BoxBuilder as ConsoleSizeBuilder, Spec, UserBuilder};

use super::children;
use super::process_io::{Output, ProcessIo, Wiring};
use super::{Container, ContainerStatus, ExitStatus};
use crate::bundle::{merge_env, resolve_user};
use crate::error::{Error, Result};
use crate::image::write_atomic;
use crate::syscall::{ProcessExit, Syscall};

/// What `docker exec` asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// The command (must not be empty).
    pub args: Vec<String>,
    /// `-e KEY=VALUE`, over the container's environment.
    pub env: Vec<String>,
    /// `-u user[:group]`, resolved in the container's root file system; else the init's user.
    pub user: Option<String>,
    /// `-w`, absolute; else the init's working directory.
    pub workdir: Option<String>,
    /// `-t`: a terminal (its master in [`ProcessIo::Terminal`]).
    pub tty: bool,
    /// Initial terminal size (rows, columns).
    pub console_size: Option<(u16, u16)>,
    /// `-i`: an open stdin.
    pub stdin: bool,
}

/// A started exec process. It is our child (we are the subreaper): [`Self::wait`] collects
/// its exit.
#[derive(Debug)]
pub struct ExecProcess {
    pid: i32,
    io: Option<ProcessIo>,
    sys: Arc<dyn Syscall>,
}

impl ExecProcess {
    /// The host pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Our ends of its streams (once).
    pub fn take_io(&mut self) -> Option<ProcessIo> {
        self.io.take()
    }

    /// A descriptor that becomes readable when it exits (see [`Container::exit_notifier`]).
    pub fn exit_notifier(&self) -> Result<Option<OwnedFd>> {
        self.sys.exit_notifier(self.pid)
    }

    /// Blocks until it exits and collects its status.
    pub fn wait(self) -> Result<ExitStatus> {
        let exit = self.sys.wait_pid(self.pid, true);
        children::collected(self.pid);
        children::reap_runtime_orphans();
        let (code, signal) = match exit? {
            Some(ProcessExit::Code(c)) => (c, None),
            Some(ProcessExit::Signal(s)) => (128 + s, Some(s)),
            None => (255, None),
        };
        Ok(ExitStatus { code, signal, oom_killed: false })
    }
}

impl Container {
    /// Starts `opts` in this running container (see the module docs), its output on pipes
    /// or a terminal returned in [`ExecProcess::take_io`].
    pub fn exec(&self, opts: &ExecOptions) -> Result<ExecProcess> {
        if self.record.status != ContainerStatus::Running {
            return Err(self.invalid_state("exec in"));
        }
        let name = format!("exec-{:016x}", rand::random::<u64>());
        let process_file = self.dir.join(format!("{name}.json"));
        let process = self.exec_process(opts)?;
        let bytes = serde_json::to_vec(&process).map_err(Error::json("exec process.json"))?;
        write_atomic(&process_file, &bytes)?;
        let (log, pid_file) = (self.dir.join(format!("{name}.log")), self.dir.join(format!("{name}.pid")));
        // Short: unix socket paths are limited to ~100 bytes, the bundle path is long.
        let console = self.dir.parent().unwrap_or(&self.dir).join(format!("{name}.sock"));
        let wiring = Wiring { terminal: opts.tty.then_some(console), stdin: opts.stdin, output: Output::Pipes };
        let started = wiring.start(|io| self.oci.exec_detached(&self.record.id, &process_file, io, &log, &pid_file));
        for f in [&process_file, &log, &pid_file] {
            let _ = std::fs::remove_file(f);
        }
        // The runtime's forks that joined the container's pid namespace and exited (all of
        // them when the exec failed) are now our zombies. Until they are collected the
        // kernel cannot finish the container's init when it exits (it waits for every
        // process of its namespace to be reaped), so `stop` would never see it go.
        children::reap_runtime_orphans();
        let (pid, io) = started.map_err(Error::process_start)?;
        children::expect_exit(pid);
        Ok(ExecProcess { pid, io, sys: Arc::clone(&self.sys) })
    }

    /// The init's `process` with the exec's command, environment, directory, user, terminal.
    fn exec_process(&self, opts: &ExecOptions) -> Result<oci_spec::runtime::Process> {
        if opts.args.is_empty() {
            return Err(Error::InvalidOption { option: "exec", reason: "no command specified".into() });
        }
        let config = self.paths().config();
        let spec = Spec::load(&config).map_err(Error::oci("config.json"))?;
        let mut process = spec.process().clone().ok_or_else(|| Error::InvalidOption {
            option: "exec",
            reason: "the container's config.json has no process".into(),
        })?;
        process.set_args(Some(opts.args.clone()));
        process.set_env(Some(merge_env(process.env().as_deref().unwrap_or_default(), &opts.env)));
        if let Some(dir) = opts.workdir.as_deref().filter(|d| !d.is_empty()) {
            if !dir.starts_with('/') {
                return Err(Error::InvalidOption { option: "workdir", reason: format!("{dir:?} must be absolute") });
            }
            process.set_cwd(PathBuf::from(dir));
        }
        if let Some(user) = opts.user.as_deref().filter(|u| !u.is_empty()) {
            let resolved = resolve_user(&self.paths().rootfs(), user)?;
            let mut built = UserBuilder::default().uid(resolved.uid).gid(resolved.gid);
            if !resolved.additional_gids.is_empty() {
                built = built.additional_gids(resolved.additional_gids);
            }
            process.set_user(built.build().map_err(Error::oci("user"))?);
        }
        process.set_terminal(Some(opts.tty));
        if let Some((rows, columns)) = opts.console_size.filter(|_| opts.tty) {
            let size = ConsoleSizeBuilder::default().height(u64::from(rows)).width(u64::from(columns)).build();
            process.set_console_size(Some(size.map_err(Error::oci("consoleSize"))?));
        }
        Ok(process)
    }
}
