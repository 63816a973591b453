//! docker's JSON progress stream for registry transfers (`docker pull`, `docker push`): the
//! registry client's blob events become per-layer lines, forwarded in order to the response.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use palisade_engine_api::containers::types::{JsonMessage, ProgressDetail};
use palisade_engine_api::containers::OutputStream;
use palisade_registry::client::{Progress, ProgressEvent};
use tokio::sync::mpsc;

/// What dockerd says of a layer at each step of a transfer.
#[derive(Debug)]
pub(crate) struct Words {
    start: &'static str,
    moving: &'static str,
    done: &'static str,
    exists: &'static str,
}

/// `docker pull`'s words.
pub(crate) const PULL: Words =
    Words { start: "Pulling fs layer", moving: "Downloading", done: "Download complete", exists: "Already exists" };
/// `docker push`'s words.
pub(crate) const PUSH: Words = Words { start: "Preparing", moving: "Pushing", done: "Pushed", exists: "Layer already exists" };

/// Turns blob events into progress lines on `tx`.
pub(crate) struct BlobProgress {
    tx: mpsc::UnboundedSender<JsonMessage>,
    words: &'static Words,
    /// digest → (bytes so far, size, bytes at the last line sent)
    blobs: Mutex<HashMap<String, (u64, u64, u64)>>,
}

impl BlobProgress {
    pub(crate) fn new(tx: mpsc::UnboundedSender<JsonMessage>, words: &'static Words) -> Self {
        Self { tx, words, blobs: Mutex::new(HashMap::new()) }
    }
}

/// A layer's short id, as docker shows it: the first 12 hex digits of its digest.
pub(crate) fn short(digest: &str) -> String {
    digest.split_once(':').map_or(digest, |(_, h)| h).chars().take(12).collect()
}

impl Progress for BlobProgress {
    fn event(&self, event: ProgressEvent) {
        let message = match event {
            ProgressEvent::Start { digest, size } => {
                if let Ok(mut b) = self.blobs.lock() {
                    b.insert(digest.clone(), (0, size, 0));
                }
                JsonMessage::status(self.words.start, Some(&short(&digest)))
            }
            ProgressEvent::Bytes { digest, n } => {
                let Ok(mut b) = self.blobs.lock() else { return };
                let Some((current, total, sent)) = b.get_mut(&digest) else { return };
                *current += n;
                // About fifty updates per blob at most.
                if *current < *total && *current - *sent < (*total / 50).max(64 << 10) {
                    return;
                }
                *sent = *current;
                JsonMessage {
                    progress_detail: Some(ProgressDetail { current: Some(*current), total: Some(*total) }),
                    ..JsonMessage::status(self.words.moving, Some(&short(&digest)))
                }
            }
            ProgressEvent::Done { digest } => JsonMessage::status(self.words.done, Some(&short(&digest))),
            ProgressEvent::Exists { digest } => JsonMessage::status(self.words.exists, Some(&short(&digest))),
            // docker's words; docker prints the source without the registry host.
            ProgressEvent::Mounted { digest, from } => JsonMessage::status(format!("Mounted from {from}"), Some(&short(&digest))),
        };
        let _ = self.tx.send(message);
    }
}

/// A progress stream: messages sent on the returned sender reach the response body in order;
/// the body ends once every sender is dropped and the forwarder (the returned task) is done.
pub(crate) fn message_stream() -> (mpsc::UnboundedSender<JsonMessage>, OutputStream, tokio::task::JoinHandle<()>) {
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    let (events, mut event_rx) = mpsc::unbounded_channel::<JsonMessage>();
    let forward = tokio::spawn(async move {
        while let Some(m) = event_rx.recv().await {
            if tx.send(m.to_line()).await.is_err() {
                break;
            }
        }
    });
    (events, rx, forward)
}
