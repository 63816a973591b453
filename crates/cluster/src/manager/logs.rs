//! The log broker: `service logs` on any manager, with the output read on the nodes that run
//! the tasks. Nodes only ever call managers, so the leader keeps subscriptions in memory:
//!
//! 1. a manager opens a subscription for a service's (or one task's) tasks;
//! 2. each node finds the subscription's requests for its tasks in its next assignments, reads
//!    the containers' output and publishes it, line by line, as itself;
//! 3. the manager polls the subscription for new lines until every task's output has ended
//!    (or, following, until its client goes away).
//!
//! A node may publish only for tasks assigned to it that the subscription asked for. A
//! subscription nobody polls for [`IDLE`] is dropped; publishing to it then fails, which stops
//! the node's reader. Buffers are bounded: a subscription keeps at most [`MAX_LINES`] unread
//! lines and drops the oldest beyond.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use palisade_pki::{NodeCertInfo, NodeId};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::services::{random_object_id, resolve};
use super::Manager;
use crate::error::{Error, Result};
use crate::model::{TaskObject, TaskState};
use crate::rpc::{LogBatch, LogLine, LogRequest, LogsOpen};

/// A subscription not polled for this long is dropped.
const IDLE: Duration = Duration::from_secs(30);
/// Unread lines kept per subscription.
const MAX_LINES: usize = 10_000;
/// Longest a poll waits for new lines.
const POLL_WAIT: Duration = Duration::from_secs(10);
/// The most lines one publish may carry, and the longest line.
const MAX_BATCH: usize = 1024;
const MAX_LINE: usize = 16 * 1024;

/// One task a subscription reads.
struct Source {
    node: NodeId,
    container_id: String,
    service_id: String,
    /// Handed to its node.
    claimed: bool,
    /// Its node said the output ended.
    ended: bool,
}

struct Subscription {
    follow: bool,
    tail: Option<u64>,
    sources: BTreeMap<String, Source>,
    /// Lines not yet read; `first` is the cursor of `lines[0]`.
    lines: Vec<LogLine>,
    first: u64,
    polled: Instant,
}

impl Subscription {
    fn ended(&self) -> bool {
        self.sources.values().all(|s| s.ended)
    }
}

/// Subscriptions of this leader.
#[derive(Default)]
pub(crate) struct LogBroker {
    subscriptions: Mutex<HashMap<String, Subscription>>,
    /// Wakes pollers (new lines) and assignment calls (new requests).
    changed: Notify,
}

impl LogBroker {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Subscription>> {
        let mut subs = self.subscriptions.lock().unwrap_or_else(|e| e.into_inner());
        subs.retain(|_, s| s.polled.elapsed() < IDLE);
        subs
    }

    /// Requests for `node`'s tasks not yet handed out; they are handed out now.
    pub(super) fn claim(&self, node: &NodeId) -> Vec<LogRequest> {
        let mut requests = Vec::new();
        for (id, sub) in self.lock().iter_mut() {
            for (task_id, source) in sub.sources.iter_mut().filter(|(_, s)| !s.claimed && s.node == *node) {
                source.claimed = true;
                requests.push(LogRequest {
                    subscription: id.clone(),
                    task_id: task_id.clone(),
                    container_id: source.container_id.clone(),
                    follow: sub.follow,
                    tail: sub.tail,
                });
            }
        }
        requests
    }

    /// Whether `node` has requests waiting.
    pub(super) fn has_requests_for(&self, node: &NodeId) -> bool {
        self.lock().values().any(|s| s.sources.values().any(|src| !src.claimed && src.node == *node))
    }

    pub(super) fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.changed.notified()
    }
}

impl Manager {
    /// Opens a subscription to the output of a service's tasks (or of one task).
    pub(super) fn logs_open(&self, open: LogsOpen) -> Result<String> {
        let tasks = self.records.list::<TaskObject>()?;
        let chosen: Vec<TaskObject> = if open.task {
            vec![resolve(tasks, &open.reference, "task", |t| (&t.id, &t.id))?.value]
        } else {
            let service = self.resolve_service(&open.reference)?.value;
            tasks.into_iter().map(|t| t.value).filter(|t| t.service_id == service.id).collect()
        };
        let sources = chosen
            .into_iter()
            .filter(|t| t.desired != TaskState::Remove && !t.status.container_id.is_empty())
            .filter_map(|t| {
                let node = t.node_id.clone()?;
                Some((
                    t.id.clone(),
                    Source { node, container_id: t.status.container_id, service_id: t.service_id, claimed: false, ended: false },
                ))
            })
            .collect();
        let id = random_object_id();
        let sub = Subscription { follow: open.follow, tail: open.tail, sources, lines: Vec::new(), first: 0, polled: Instant::now() };
        self.logs.lock().insert(id.clone(), sub);
        self.logs.changed.notify_waiters();
        Ok(id)
    }

    /// Lines after `cursor`, waiting a while for some; `ended` once no more will come.
    pub(super) async fn logs_next(&self, subscription: &str, cursor: u64) -> Result<LogBatch> {
        let deadline = Instant::now() + POLL_WAIT;
        loop {
            let waiting = self.logs.notified();
            {
                let mut subs = self.logs.lock();
                let sub = subs.get_mut(subscription).ok_or_else(|| gone(subscription))?;
                sub.polled = Instant::now();
                // Lines before `cursor` were read: drop them.
                let read = usize::try_from(cursor.saturating_sub(sub.first)).unwrap_or(usize::MAX).min(sub.lines.len());
                sub.lines.drain(..read);
                sub.first += read as u64;
                let ended = sub.ended();
                if !sub.lines.is_empty() || ended || Instant::now() >= deadline {
                    let lines = sub.lines.clone();
                    let cursor = sub.first + lines.len() as u64;
                    if ended && lines.is_empty() {
                        subs.remove(subscription);
                    }
                    return Ok(LogBatch { lines, cursor, ended });
                }
            }
            let _ = tokio::time::timeout_at(deadline, waiting).await;
        }
    }

    /// Output a node read for a subscription.
    pub(super) fn logs_publish(&self, peer: &NodeCertInfo, subscription: &str, task_id: &str, lines: Vec<(u8, String)>, ended: bool) -> Result<()> {
        if lines.len() > MAX_BATCH {
            return Err(Error::invalid(format!("at most {MAX_BATCH} log lines per call")));
        }
        let mut subs = self.logs.lock();
        let sub = subs.get_mut(subscription).ok_or_else(|| gone(subscription))?;
        let source = sub
            .sources
            .get_mut(task_id)
            .filter(|s| s.node == peer.node_id)
            .ok_or_else(|| Error::PermissionDenied(format!("task {task_id} of this subscription is not on node {}", peer.node_id)))?;
        source.ended |= ended;
        let (node, service) = (source.node.to_string(), source.service_id.clone());
        for (stream, mut data) in lines {
            crate::model::truncate(&mut data, MAX_LINE);
            sub.lines.push(LogLine { task_id: task_id.to_owned(), node_id: node.clone(), service_id: service.clone(), stream, data });
        }
        let excess = sub.lines.len().saturating_sub(MAX_LINES);
        if excess > 0 {
            sub.lines.drain(..excess);
            sub.first += excess as u64;
        }
        drop(subs);
        self.logs.changed.notify_waiters();
        Ok(())
    }
}

fn gone(subscription: &str) -> Error {
    Error::NotFound { kind: "log subscription", reference: subscription.to_owned() }
}
