//! How a container process's standard streams are wired: to the logs, to pipes we hold the
//! other end of, or to a terminal whose master we receive (see [`super::console`]).

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::Stdio;

use nix::fcntl::OFlag;

use super::console::ConsoleSocket;
use super::oci::RuntimeIo;
use crate::error::{Error, Result};

/// Our ends of a container process's standard streams.
#[derive(Debug)]
pub enum ProcessIo {
    /// Pipes. `None` where the stream is not ours: stdin not opened, or output going to the
    /// container's logs.
    Pipes {
        /// Write end of the process's stdin; dropping it is end-of-file for the process.
        stdin: Option<OwnedFd>,
        /// Read end of the process's stdout.
        stdout: Option<OwnedFd>,
        /// Read end of the process's stderr.
        stderr: Option<OwnedFd>,
    },
    /// The pty master of a terminal process: its input, its output (stdout and stderr
    /// together), its window size ([`super::resize_terminal`]).
    Terminal(OwnedFd),
}

/// Where a process's stdout and stderr go when it has no terminal.
#[derive(Debug)]
pub(crate) enum Output {
    /// Appended to these files (the container's logs).
    Files(File, File),
    /// Pipes returned in [`ProcessIo::Pipes`].
    Pipes,
}

/// What a process is to be given.
#[derive(Debug)]
pub(crate) struct Wiring {
    /// A terminal, its master received over a console socket at this path.
    pub(crate) terminal: Option<PathBuf>,
    /// An open stdin (else `/dev/null`), ignored with a terminal.
    pub(crate) stdin: bool,
    /// Output without a terminal. With one, the files (if any) still take the runtime's
    /// own output.
    pub(crate) output: Output,
}

fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    // Close-on-exec: only the process gets its end (as 0, 1 or 2), no other child either.
    nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|source| Error::Syscall { op: "pipe2", source })
}

impl Wiring {
    /// Runs `start` (a runtime command that starts the process, handing it the descriptors
    /// it is given) and returns its result with our ends of the streams. The process's ends
    /// are closed here once `start` returned, so that our reads see end-of-file when the
    /// process (and whatever inherited them) is gone.
    pub(crate) fn start<T>(self, start: impl FnOnce(RuntimeIo) -> Result<T>) -> Result<(T, Option<ProcessIo>)> {
        if let Some(path) = self.terminal {
            let socket = ConsoleSocket::bind(path)?;
            let (stdout, stderr) = match self.output {
                Output::Files(out, err) => (Stdio::from(out), Stdio::from(err)),
                Output::Pipes => (Stdio::null(), Stdio::null()),
            };
            let io = RuntimeIo { stdin: Stdio::null(), stdout, stderr, console: Some(socket.path().to_owned()) };
            let (out, master) = socket.receive_during(|| start(io))?;
            return Ok((out, Some(ProcessIo::Terminal(master))));
        }
        let (stdin, our_stdin) = if self.stdin {
            let (read, write) = pipe()?;
            (Stdio::from(read), Some(write))
        } else {
            (Stdio::null(), None)
        };
        let (stdout, stderr, ours) = match self.output {
            Output::Files(out, err) => (Stdio::from(out), Stdio::from(err), (None, None)),
            Output::Pipes => {
                let (out_read, out_write) = pipe()?;
                let (err_read, err_write) = pipe()?;
                (Stdio::from(out_write), Stdio::from(err_write), (Some(out_read), Some(err_read)))
            }
        };
        let out = start(RuntimeIo { stdin, stdout, stderr, console: None })?;
        let io = match (our_stdin, ours) {
            (None, (None, None)) => None,
            (stdin, (stdout, stderr)) => Some(ProcessIo::Pipes { stdin, stdout, stderr }),
        };
        Ok((out, io))
    }
}
