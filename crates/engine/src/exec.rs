//! `docker exec`: exec instances (create, start, inspect, resize) over the runtime's
//! [`palisade_runtime::Container::exec`], which confines them exactly as the container's init.
//!
//! Lifecycle of an instance: created → running (started once) → exited (`ExitCode` set). The
//! stream of a started instance ends only after its exit code is recorded, so the docker CLI,
//! which inspects the instance when the stream ends, always finds it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use palisade_engine_api::containers::types::frame;
use palisade_engine_api::exec::{ExecCreateRequest, ExecInspect, ExecProcessConfig, ExecStartRequest, Session};
use palisade_runtime::{ExecOptions, ExecProcess, ProcessIo};
use tokio::sync::mpsc;

use crate::error::{Error, Result};
use crate::fd_stream::FdStream;
use crate::state::{blocking, blocking_short, Engine, Entry, Phase};

/// Read size of the output pumps.
const CHUNK: usize = 32 << 10;

/// The exec instances of one engine.
#[derive(Debug, Default)]
pub(crate) struct Execs(Mutex<BTreeMap<String, Arc<Exec>>>);

impl Execs {
    fn table(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Exec>>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One exec instance.
#[derive(Debug)]
struct Exec {
    id: String,
    container: Arc<Entry>,
    request: ExecCreateRequest,
    state: Mutex<ExecState>,
}

#[derive(Debug, Default)]
struct ExecState {
    started: bool,
    running: bool,
    pid: i64,
    exit_code: Option<i64>,
    /// The pty master while a terminal exec runs.
    terminal: Option<Arc<FdStream>>,
    /// A size asked for before the terminal existed, applied once it does.
    size: Option<(u16, u16)>,
}

impl Exec {
    fn state(&self) -> std::sync::MutexGuard<'_, ExecState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn io_error(op: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io { op: op.to_owned(), source }
}

impl Engine {
    fn exec_instance(&self, id: &str) -> Result<Arc<Exec>> {
        self.inner.execs.table().get(id).cloned().ok_or_else(|| Error::NoSuchExec(id.to_owned()))
    }

    /// dockerd's `exec_create: CMD ARGS` and `exec_start: CMD ARGS` container events.
    fn exec_event(&self, exec: &Exec, action: &str) {
        let action = format!("{action}: {}", exec.request.cmd.join(" "));
        self.container_event(&exec.container, &action, &[("execID", exec.id.clone())]);
    }

    /// `POST /containers/{ref}/exec`.
    pub(crate) async fn exec_create(&self, reference: &str, request: ExecCreateRequest) -> Result<String> {
        let container = self.resolve(reference)?;
        if container.life().phase != Phase::Running {
            return Err(Error::Conflict(format!("container {} is not running", container.id)));
        }
        let id = format!("{:016x}{:016x}{:016x}{:016x}", rand::random::<u64>(), rand::random::<u64>(), rand::random::<u64>(), rand::random::<u64>());
        let exec = Arc::new(Exec { id: id.clone(), container, request, state: Mutex::new(ExecState::default()) });
        let mut table = self.inner.execs.table();
        // Instances go with their container.
        table.retain(|_, e| !e.container.life().removed);
        table.insert(id.clone(), Arc::clone(&exec));
        drop(table);
        self.exec_event(&exec, "exec_create");
        Ok(id)
    }

    /// `POST /exec/{id}/start`: `None` when detached.
    pub(crate) async fn exec_start(&self, id: &str, start: ExecStartRequest) -> Result<Option<Session>> {
        let exec = self.exec_instance(id)?;
        {
            let mut state = exec.state();
            if state.started {
                return Err(Error::Conflict(format!("Error: Exec command {id} is already running")));
            }
            state.started = true;
        }
        let container = &exec.container;
        if container.life().phase != Phase::Running {
            return Err(Error::Conflict(format!("container {} is not running", container.id)));
        }
        let r = &exec.request;
        let options = ExecOptions {
            args: r.cmd.clone(),
            env: r.env.clone(),
            user: Some(r.user.clone()).filter(|u| !u.is_empty()),
            workdir: Some(r.working_dir.clone()).filter(|w| !w.is_empty()),
            tty: r.tty,
            console_size: start.console_size.or(r.console_size).map(|[rows, columns]| (rows, columns)),
            stdin: r.attach_stdin && !start.detach,
        };
        let (this, cid) = (self.clone(), container.id.clone());
        let started = blocking_short(move || Ok(this.runtime().container(&cid)?.exec(&options)?)).await;
        let mut process = match started {
            Ok(p) => p,
            Err(e) => {
                let (code, message) = start_failure(&e);
                tracing::info!("exec {id} in container {} failed to start: {message}", container.id);
                exec.state().exit_code = Some(code);
                if start.detach {
                    return Err(Error::ExecFailed(message));
                }
                // As dockerd: the error is the session's output, the CLI then reads the code.
                let text = format!("OCI runtime exec failed: {message}\r\n");
                let chunk = if r.tty { Bytes::from(text) } else { Bytes::from(frame(1, text.as_bytes())) };
                let (tx, rx) = mpsc::channel(1);
                let _ = tx.try_send(chunk);
                return Ok(Some(Session { output: rx, input: None, tty: r.tty }));
            }
        };
        let io = process.take_io();
        {
            let mut state = exec.state();
            state.running = true;
            state.pid = i64::from(process.pid());
        }
        let (tx, rx) = mpsc::channel(64);
        let (send_stdout, send_stderr) = (r.attach_stdout && !start.detach, r.attach_stderr && !start.detach);
        let mut input = None;
        let mut pumps = Vec::new();
        match io {
            Some(ProcessIo::Terminal(master)) => {
                let master = Arc::new(FdStream::new(master).map_err(io_error("registering an exec's terminal"))?);
                let pending = {
                    let mut state = exec.state();
                    state.terminal = Some(Arc::clone(&master));
                    state.size.take()
                };
                if let Some((rows, columns)) = pending {
                    palisade_runtime::resize_terminal(&*master, rows, columns)?;
                }
                if r.attach_stdin && !start.detach {
                    input = Some(forward_input(Arc::clone(&master), false));
                }
                pumps.push(tokio::spawn(pump(master, None, send_stdout.then(|| tx.clone()))));
            }
            Some(ProcessIo::Pipes { stdin, stdout, stderr }) => {
                if let Some(stdin) = stdin {
                    input = Some(forward_input(Arc::new(FdStream::new(stdin).map_err(io_error("registering an exec's stdin"))?), true));
                }
                for (stream, fd, send) in [(1u8, stdout, send_stdout), (2u8, stderr, send_stderr)] {
                    if let Some(fd) = fd {
                        let fd = Arc::new(FdStream::new(fd).map_err(io_error("registering an exec's output"))?);
                        pumps.push(tokio::spawn(pump(fd, Some(stream), send.then(|| tx.clone()))));
                    }
                }
            }
            None => {}
        }
        self.exec_event(&exec, "exec_start");
        tokio::spawn(finish(self.clone(), Arc::clone(&exec), process, pumps, tx));
        Ok((!start.detach).then_some(Session { output: rx, input, tty: r.tty }))
    }

    /// `GET /exec/{id}/json`.
    pub(crate) fn exec_inspect(&self, id: &str) -> Result<ExecInspect> {
        let exec = self.exec_instance(id)?;
        let state = exec.state();
        let r = &exec.request;
        Ok(ExecInspect {
            id: exec.id.clone(),
            running: state.running,
            exit_code: state.exit_code,
            process_config: ExecProcessConfig {
                tty: r.tty,
                entrypoint: r.cmd.first().cloned().unwrap_or_default(),
                arguments: r.cmd.iter().skip(1).cloned().collect(),
                privileged: false,
                user: r.user.clone(),
            },
            open_stdin: r.attach_stdin,
            open_stderr: r.attach_stderr,
            open_stdout: r.attach_stdout,
            can_remove: false,
            container_id: exec.container.id.to_string(),
            detach_keys: r.detach_keys.clone(),
            pid: state.pid,
        })
    }

    /// `POST /exec/{id}/resize`.
    pub(crate) fn exec_resize(&self, id: &str, rows: u16, columns: u16) -> Result<()> {
        let exec = self.exec_instance(id)?;
        let master = {
            let mut state = exec.state();
            if state.terminal.is_none() && exec.request.tty && state.exit_code.is_none() {
                // Not started yet, or starting: applied as soon as its terminal exists.
                state.size = Some((rows, columns));
                return Ok(());
            }
            state.terminal.clone()
        };
        match master {
            Some(master) => Ok(palisade_runtime::resize_terminal(&*master, rows, columns)?),
            None if exec.request.tty => Err(Error::Conflict(format!("exec {id} is not running"))),
            None => Err(Error::InvalidArgument(format!("exec {id} has no terminal to resize"))),
        }
    }
}

/// Copies one output of the process to `tx` (framed as `stream`, or raw for a terminal) until
/// its end; without `tx` the output is read and dropped, so the process never blocks on it.
async fn pump(from: Arc<FdStream>, stream: Option<u8>, tx: Option<mpsc::Sender<Bytes>>) {
    let mut buf = vec![0u8; CHUNK];
    while let Ok(n @ 1..) = from.read(&mut buf).await {
        if let Some(tx) = &tx {
            let chunk = match stream {
                Some(s) => Bytes::from(frame(s, &buf[..n])),
                None => Bytes::copy_from_slice(&buf[..n]),
            };
            if tx.send(chunk).await.is_err() {
                return;
            }
        }
    }
}

/// The sender the client's input goes to. At its end a stdin pipe is closed (`close_at_end`);
/// a terminal stays as it is.
fn forward_input(to: Arc<FdStream>, close_at_end: bool) -> mpsc::Sender<Bytes> {
    let (tx, mut rx) = mpsc::channel::<Bytes>(16);
    tokio::spawn(async move {
        while let Some(chunk) = rx.recv().await {
            if to.write_all(&chunk).await.is_err() {
                return;
            }
        }
        if close_at_end {
            drop(to);
        }
    });
    tx
}

/// Waits for the output to end and the process to exit, then records the exit code; the
/// session's stream ends after that, when `tx` (its last sender) is dropped.
async fn finish(engine: Engine, exec: Arc<Exec>, process: ExecProcess, pumps: Vec<tokio::task::JoinHandle<()>>, tx: mpsc::Sender<Bytes>) {
    for p in pumps {
        let _ = p.await;
    }
    let notifier = process.exit_notifier().ok().flatten();
    if let Some(pidfd) = notifier {
        #[allow(deprecated)]
        if let Ok(exited) = tokio::io::unix::AsyncFd::with_interest(pidfd, tokio::io::Interest::READABLE) {
            let _ = exited.readable().await;
        }
    }
    let exit = blocking(move || Ok(process.wait()?)).await;
    let mut state = exec.state();
    state.running = false;
    state.pid = 0;
    state.terminal = None;
    let code = exit.map_or(255, |e| i64::from(e.code));
    state.exit_code = Some(code);
    drop(state);
    engine.container_event(&exec.container, "exec_die", &[("execID", exec.id.clone()), ("exitCode", code.to_string())]);
    drop(tx);
}

/// The exit code and message of a process that could not be executed (a container's command
/// or an exec), as dockerd words them — the docker CLI picks its own exit status from the
/// phrases `executable file not found` (127) and `permission denied` (126).
pub(crate) fn start_failure(e: &Error) -> (i64, String) {
    use palisade_runtime::StartFailure;
    match e {
        Error::Runtime(palisade_runtime::Error::ProcessStart { failure: StartFailure::NotFound, detail }) => {
            (127, format!("exec: executable file not found in $PATH: {detail}"))
        }
        Error::Runtime(palisade_runtime::Error::ProcessStart { failure: StartFailure::PermissionDenied, detail }) => {
            (126, format!("exec: permission denied: {detail}"))
        }
        other => (126, other.to_string()),
    }
}
