//! The engine's event bus (`docker events`): a bounded broadcast channel for live
//! subscribers and a bounded ring of recent events for `since` replays.
//!
//! Invariant: an event is pushed on the ring and broadcast under one lock, and a subscriber
//! copies the ring and subscribes under the same lock, so it sees every event exactly once:
//! either replayed or live. A subscriber too slow for the channel loses the events it
//! lagged behind on (logged), never blocks the engine.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use palisade_engine_api::containers::OutputStream;
use palisade_engine_api::events::{Event, EventsRequest};
use tokio::sync::{broadcast, mpsc};

use crate::state::{Engine, Entry};

/// Events kept for `since` replays.
const RING: usize = 1024;
/// Events a live subscriber may lag behind before it loses some.
const CHANNEL: usize = 256;

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Events {
    ring: Mutex<VecDeque<Arc<Event>>>,
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for Events {
    fn default() -> Self {
        Self { ring: Mutex::new(VecDeque::with_capacity(RING)), tx: broadcast::channel(CHANNEL).0 }
    }
}

impl Events {
    pub(crate) fn emit(&self, event: Event) {
        let event = Arc::new(event);
        let mut ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
        if ring.len() == RING {
            ring.pop_front();
        }
        ring.push_back(Arc::clone(&event));
        // No subscriber is not an error.
        let _ = self.tx.send(event);
    }

    /// The events of `request` as JSON lines: the replay, then live ones until `until`.
    pub(crate) fn subscribe(&self, request: EventsRequest) -> OutputStream {
        let (past, mut live) = {
            let ring = self.ring.lock().unwrap_or_else(PoisonError::into_inner);
            let past: Vec<Arc<Event>> = match request.since {
                Some(since) => ring.iter().filter(|e| e.time_nano >= since).cloned().collect(),
                None => Vec::new(),
            };
            (past, self.tx.subscribe())
        };
        let (tx, rx) = mpsc::channel(64);
        tokio::spawn(async move {
            let wanted = |e: &Event| request.filters.matches(e) && request.until.is_none_or(|u| e.time_nano <= u);
            for event in past.iter().filter(|e| wanted(e)) {
                if tx.send(line(event)).await.is_err() {
                    return;
                }
            }
            let now = now_nanos();
            let deadline = match request.until {
                Some(until) if until <= now => return,
                Some(until) => Some(tokio::time::Instant::now() + std::time::Duration::from_nanos(u64::try_from(until - now).unwrap_or(0))),
                None => None,
            };
            loop {
                let next = match deadline {
                    Some(d) => match tokio::time::timeout_at(d, live.recv()).await {
                        Ok(next) => next,
                        Err(_) => return,
                    },
                    None => tokio::select! {
                        next = live.recv() => next,
                        () = tx.closed() => return,
                    },
                };
                match next {
                    Ok(event) if wanted(&event) => {
                        if tx.send(line(&event)).await.is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(n)) => tracing::warn!("an events subscriber lost {n} events"),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        rx
    }
}

fn now_nanos() -> i64 {
    i64::try_from(time::OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(i64::MAX)
}

fn line(event: &Event) -> Bytes {
    let mut json = serde_json::to_vec(event).unwrap_or_default();
    json.push(b'\n');
    Bytes::from(json)
}

impl Engine {
    /// Publishes an event of `kind` about `id`.
    pub(crate) fn event(&self, kind: &str, action: impl Into<String>, id: impl Into<String>, attributes: BTreeMap<String, String>) {
        self.inner.events.emit(Event::now(kind, action, id, attributes));
    }

    /// Publishes a container event: its name, image and labels, plus `extra` attributes.
    pub(crate) fn container_event(&self, entry: &Entry, action: &str, extra: &[(&str, String)]) {
        let mut attributes = entry.request.config.labels.clone().into_iter().collect::<BTreeMap<_, _>>();
        attributes.insert("name".into(), entry.name.clone());
        attributes.insert("image".into(), entry.request.config.image.clone());
        attributes.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
        self.event("container", action, entry.id.to_string(), attributes);
    }

    /// `GET /events`.
    pub(crate) fn events(&self, request: EventsRequest) -> OutputStream {
        self.inner.events.subscribe(request)
    }
}

/// Attributes of one `name` (volumes, networks, images).
pub(crate) fn named(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([("name".to_owned(), name.to_owned())])
}
