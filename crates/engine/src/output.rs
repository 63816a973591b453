//! Container output as multiplexed streams: what `attach` and `logs [-f]` send.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use palisade_engine_api::containers::types::{frame, OutputOptions};
use palisade_engine_api::containers::OutputStream;

use crate::error::{Error, Result};
use crate::state::{Engine, Entry, Phase};

/// Polling bounds while following output (doubling while idle).
const POLL_MIN: Duration = Duration::from_millis(2);
const POLL_MAX: Duration = Duration::from_millis(50);
/// Largest frame sent at once.
const CHUNK: usize = 32 << 10;

/// Opens (creating, mode 0600) a container log file for reading.
pub(crate) fn open_log(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|source| Error::Io { op: format!("opening {}", path.display()), source })
}

impl Engine {
    /// Streams the container's output: what is there (with `past`; `docker attach` without
    /// `logs` starts at the end), then (with `follow`) what comes until it exits. Open file
    /// handles keep the output readable even after an auto-remove.
    pub(crate) fn output(&self, entry: Arc<Entry>, options: OutputOptions, past: bool) -> Result<OutputStream> {
        let [stdout, stderr] = self.runtime().log_paths(&entry.id);
        let mut sources = Vec::new();
        for (wanted, stream, path) in [(options.stdout, 1u8, &stdout), (options.stderr, 2u8, &stderr)] {
            if wanted {
                let mut file = open_log(path)?;
                if !past {
                    file.seek(SeekFrom::End(0)).map_err(|source| Error::Io { op: format!("reading {}", path.display()), source })?;
                }
                sources.push((stream, file));
            }
        }
        // A terminal's output is one raw stream, as docker sends it.
        let raw = entry.request.config.tty;
        let mut life = entry.life.subscribe();
        drop(entry);
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            let mut poll = POLL_MIN;
            let mut buf = vec![0u8; CHUNK];
            loop {
                let last = !options.follow || {
                    let l = life.borrow_and_update();
                    l.phase == Phase::Exited || l.removed
                };
                let mut sent = false;
                for (stream, file) in &mut sources {
                    loop {
                        match file.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                sent = true;
                                let chunk = if raw { Bytes::copy_from_slice(&buf[..n]) } else { Bytes::from(frame(*stream, &buf[..n])) };
                                if tx.send(chunk).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                }
                if last {
                    return;
                }
                poll = if sent { POLL_MIN } else { (poll * 2).min(POLL_MAX) };
                tokio::select! {
                    changed = life.changed() => if changed.is_err() { poll = Duration::ZERO },
                    () = tokio::time::sleep(poll) => {}
                    () = tx.closed() => return,
                }
            }
        });
        Ok(rx)
    }
}
