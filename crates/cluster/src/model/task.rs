//! Tasks: one container of a service, on one node, moving through swarmkit's states.

use std::collections::BTreeMap;

use palisade_pki::NodeId;
use palisade_store::Table;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{NetworkAddress, Object, TaskSpec};

/// A task, keyed by its ID.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TaskObject {
    pub(crate) id: String,
    pub(crate) service_id: String,
    pub(crate) service_name: String,
    /// The service's labels when the task was made (swarmkit's `ServiceAnnotations`): what a
    /// `label` filter of `GET /tasks` matches, as `docker stack ps` asks.
    #[serde(default)]
    pub(crate) service_labels: BTreeMap<String, String>,
    /// Replicated services: 1..=replicas; global services: 0.
    pub(crate) slot: u64,
    /// Set by the scheduler (global tasks are made for their node).
    pub(crate) node_id: Option<NodeId>,
    /// The service's task spec when the task was made, and its `spec_version`.
    pub(crate) spec: TaskSpec,
    pub(crate) spec_version: u64,
    /// What the orchestrator wants: `Running`, `Shutdown` or `Remove`.
    pub(crate) desired: TaskState,
    pub(crate) status: TaskStatus,
    /// Its address on each network of its spec, allocated by the leader's allocator before
    /// the task is scheduled; held until the task record is deleted.
    #[serde(default)]
    pub(crate) addresses: Vec<NetworkAddress>,
    #[serde(with = "super::timestamp")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "super::timestamp")]
    pub(crate) updated_at: OffsetDateTime,
}

impl Object for TaskObject {
    const TABLE: Table = Table::Tasks;
    const KIND: &'static str = "task";
    fn key(&self) -> String {
        self.id.clone()
    }
}

/// What a node reported (or the manager decided) about a task.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TaskStatus {
    pub(crate) state: TaskState,
    #[serde(with = "super::timestamp")]
    pub(crate) timestamp: OffsetDateTime,
    pub(crate) message: String,
    pub(crate) err: String,
    pub(crate) container_id: String,
    pub(crate) pid: i64,
    pub(crate) exit_code: Option<i64>,
}

impl TaskStatus {
    pub(crate) fn new(state: TaskState, at: OffsetDateTime, message: impl Into<String>) -> Self {
        Self {
            state,
            timestamp: at,
            message: message.into(),
            err: String::new(),
            container_id: String::new(),
            pid: 0,
            exit_code: None,
        }
    }
}

/// The longest message or error text a node may report; longer ones are cut.
const MAX_REPORTED_TEXT: usize = 1024;

impl TaskStatus {
    /// The status with what a node reported cut to size (a node's text is shown to users).
    pub(crate) fn bounded(mut self) -> Self {
        for text in [&mut self.message, &mut self.err, &mut self.container_id] {
            super::truncate(text, MAX_REPORTED_TEXT);
        }
        self
    }
}

/// swarmkit's task states, in their order: a task only ever moves forward.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub(crate) enum TaskState {
    New,
    Pending,
    Assigned,
    Accepted,
    Preparing,
    Ready,
    Starting,
    Running,
    Complete,
    Shutdown,
    Failed,
    Rejected,
    Remove,
    Orphaned,
}

impl TaskState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Pending => "pending",
            Self::Assigned => "assigned",
            Self::Accepted => "accepted",
            Self::Preparing => "preparing",
            Self::Ready => "ready",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Complete => "complete",
            Self::Shutdown => "shutdown",
            Self::Failed => "failed",
            Self::Rejected => "rejected",
            Self::Remove => "remove",
            Self::Orphaned => "orphaned",
        }
    }

    /// The task's process has ended (or never will start).
    pub(crate) fn is_terminal(self) -> bool {
        self > Self::Running
    }
}


impl TaskObject {
    /// Wanted running and not ended: the task that holds its slot (or node).
    pub(crate) fn is_live(&self) -> bool {
        self.desired == TaskState::Running && !self.status.state.is_terminal()
    }

    /// Whether it is on its networks: it has not ended (it may be starting, or stopping after
    /// a shutdown). Its node needs the networks until then; once it ends, they may go.
    pub(crate) fn is_attached(&self) -> bool {
        !self.status.state.is_terminal() && !self.addresses.is_empty()
    }

    /// Whether it is attached ([`Self::is_attached`]) to the network with this ID.
    pub(crate) fn is_attached_to(&self, network_id: &str) -> bool {
        self.is_attached() && self.addresses.iter().any(|a| a.network_id == network_id)
    }
}
