//! A container's own stdin and terminal (`docker run -i`/`-t`, `docker attach`, resize).
//!
//! After `start`, [`adopt`] takes our ends from the runtime: the write end of the init's
//! stdin pipe, or its pty master. A terminal's output is pumped into the container's stdout
//! log, which `attach` and `logs` follow as for any container (raw bytes, not frames); the
//! container is reported exited only once that pump has drained the pty ([`Stdio::drained`]),
//! so no output is lost to a quick exit.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use palisade_engine_api::containers::types::OutputOptions;
use palisade_engine_api::exec::{AttachOptions, Session};
use palisade_runtime::ProcessIo;
use tokio::sync::{mpsc, watch};

use crate::error::{Error, Result};
use crate::fd_stream::FdStream;
use crate::state::{Engine, Entry, Phase};

/// Longest wait for a terminal's last output after its process exited (a background
/// process may keep the pty open).
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);
/// Read size of the terminal pump.
const CHUNK: usize = 32 << 10;

/// The container's stdin or terminal while it runs.
#[derive(Debug)]
pub(crate) struct Stdio {
    /// Where attached clients' input goes: the stdin pipe or the pty master.
    sink: watch::Sender<Option<Arc<FdStream>>>,
    /// The pty master, for resizing.
    terminal: Mutex<Option<Arc<FdStream>>>,
    /// No terminal output is left to pump.
    drained: watch::Sender<bool>,
    /// The last size asked for (rows, columns): applied to the pty master as soon as there is
    /// one, so a resize arriving before the start finished is not lost.
    size: Mutex<Option<(u16, u16)>>,
}

impl Default for Stdio {
    fn default() -> Self {
        Self { sink: watch::Sender::new(None), terminal: Mutex::new(None), drained: watch::Sender::new(true), size: Mutex::new(None) }
    }
}

impl Stdio {
    fn terminal(&self) -> Option<Arc<FdStream>> {
        self.terminal.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Resolves once the terminal's output is in the log (at once without a terminal), or
    /// after [`DRAIN_TIMEOUT`].
    pub(crate) async fn drained(&self) {
        let mut rx = self.drained.subscribe();
        let _ = tokio::time::timeout(DRAIN_TIMEOUT, rx.wait_for(|d| *d)).await;
    }
}

/// Takes over the init's stdin or terminal right after `start` (before it is reported
/// running). `stdout_log` receives a terminal's output.
pub(crate) fn adopt(entry: &Entry, io: Option<ProcessIo>, stdout_log: PathBuf) -> Result<()> {
    let wrap = |fd| FdStream::new(fd).map(Arc::new).map_err(|source| Error::Io { op: "registering a container's stdio".into(), source });
    match io {
        None | Some(ProcessIo::Pipes { stdin: None, .. }) => {}
        Some(ProcessIo::Pipes { stdin: Some(stdin), .. }) => {
            entry.stdio.sink.send_replace(Some(wrap(stdin)?));
        }
        Some(ProcessIo::Terminal(master)) => {
            let master = wrap(master)?;
            if let Some((rows, columns)) = *entry.stdio.size.lock().unwrap_or_else(PoisonError::into_inner) {
                palisade_runtime::resize_terminal(&*master, rows, columns)?;
            }
            let mut log = crate::output::open_log(&stdout_log)?;
            entry.stdio.drained.send_replace(false);
            *entry.stdio.terminal.lock().unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&master));
            entry.stdio.sink.send_replace(Some(Arc::clone(&master)));
            let (sink, drained) = (entry.stdio.sink.clone(), entry.stdio.drained.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; CHUNK];
                while let Ok(n @ 1..) = master.read(&mut buf).await {
                    if log.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                sink.send_replace(None);
                drained.send_replace(true);
            });
        }
    }
    Ok(())
}

/// Drops the container's stdin and terminal once it has exited.
pub(crate) fn release(entry: &Entry) {
    entry.stdio.sink.send_replace(None);
    *entry.stdio.terminal.lock().unwrap_or_else(PoisonError::into_inner) = None;
}

impl Engine {
    /// `POST /containers/{ref}/attach`: the container's output (raw with a terminal), and
    /// with `stdin` the client's input to its stdin once it has started.
    pub(crate) async fn attach(&self, reference: &str, options: AttachOptions) -> Result<Session> {
        let entry = self.resolve(reference)?;
        let tty = entry.request.config.tty;
        let output = self.output(Arc::clone(&entry), OutputOptions { stdout: options.stdout, stderr: options.stderr, follow: options.stream }, options.logs)?;
        let input = (options.stdin && entry.request.config.open_stdin).then(|| {
            let (tx, rx) = mpsc::channel(16);
            tokio::spawn(forward_stdin(entry, rx));
            tx
        });
        Ok(Session { output, input, tty })
    }

    /// `POST /containers/{ref}/resize`.
    pub(crate) async fn resize(&self, reference: &str, rows: u16, columns: u16) -> Result<()> {
        let entry = self.resolve(reference)?;
        if entry.request.config.tty {
            *entry.stdio.size.lock().unwrap_or_else(PoisonError::into_inner) = Some((rows, columns));
            if entry.life().phase != Phase::Running {
                // Applied when its terminal is adopted at start.
                return Ok(());
            }
        } else if entry.life().phase != Phase::Running {
            return Err(Error::Conflict(format!("Container {} is not running", entry.id)));
        }
        match entry.stdio.terminal() {
            Some(master) => Ok(palisade_runtime::resize_terminal(&*master, rows, columns)?),
            None => Ok(()),
        }
    }
}

/// Writes the attached client's input to the container's stdin (waiting for it to start).
/// At the client's end of input a stdin pipe is closed (docker's `StdinOnce`, which the CLI
/// sets with `-i`); a terminal stays open.
async fn forward_stdin(entry: Arc<Entry>, mut input: mpsc::Receiver<Bytes>) {
    let mut sink_rx = entry.stdio.sink.subscribe();
    let mut life = entry.life.subscribe();
    let sink = loop {
        if let Some(sink) = sink_rx.borrow_and_update().clone() {
            break sink;
        }
        {
            let l = life.borrow_and_update();
            if l.phase == Phase::Exited || l.removed {
                return;
            }
        }
        tokio::select! {
            changed = sink_rx.changed() => if changed.is_err() { return },
            changed = life.changed() => if changed.is_err() { return },
        }
    };
    while let Some(chunk) = input.recv().await {
        if sink.write_all(&chunk).await.is_err() {
            return;
        }
    }
    if !entry.request.config.tty {
        drop(sink);
        entry.stdio.sink.send_replace(None);
    }
}
