//! Services: what the operator asked to run, and how it is being rolled out.

use std::collections::BTreeMap;

use palisade_store::Table;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{EndpointMode, NetworkAddress, NetworkAttachment, Object, PublishedPort};

/// A service, keyed by its name (unique; services are never renamed).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceObject {
    pub(crate) id: String,
    pub(crate) spec: ServiceSpec,
    /// The spec before the last update: what `--rollback` returns to.
    pub(crate) previous_spec: Option<ServiceSpec>,
    /// Bumped by every change of `spec.task` (what tasks run); a task made from an older one
    /// is out of date. Other changes (labels, replicas, policies) leave tasks as they are.
    pub(crate) spec_version: u64,
    #[serde(with = "super::timestamp")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "super::timestamp")]
    pub(crate) updated_at: OffsetDateTime,
    /// The last rolling update, while or after it runs.
    pub(crate) update: Option<UpdateProgress>,
    /// One per network of the spec in `vip` mode, allocated by the leader's allocator.
    #[serde(default)]
    pub(crate) virtual_ips: Vec<NetworkAddress>,
    /// The ports published now: the spec's, with a port the spec leaves to the cluster
    /// (`published` 0) given one from [`crate::model::DYNAMIC_PORTS`]. Kept across updates.
    #[serde(default)]
    pub(crate) published: Vec<PublishedPort>,
}

impl ServiceObject {
    /// A new service: its spec's first version, no update under way, no VIPs yet (the
    /// allocator gives them), publishing `published`.
    pub(crate) fn new(id: String, spec: ServiceSpec, published: Vec<PublishedPort>, now: OffsetDateTime) -> Self {
        Self { id, spec, previous_spec: None, spec_version: 1, created_at: now, updated_at: now, update: None, virtual_ips: Vec::new(), published }
    }
}

impl Object for ServiceObject {
    const TABLE: Table = Table::Services;
    const KIND: &'static str = "service";
    fn key(&self) -> String {
        self.spec.name.clone()
    }
}

/// A service's spec, as Palisade runs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ServiceSpec {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) mode: ServiceMode,
    pub(crate) task: TaskSpec,
    pub(crate) update: UpdatePolicy,
    pub(crate) rollback: UpdatePolicy,
    #[serde(default)]
    pub(crate) endpoint_mode: EndpointMode,
    /// Ports published in ingress mode (the manager attaches the tasks to the ingress network
    /// while there are any: [`TaskSpec::ingress`]).
    #[serde(default)]
    pub(crate) ports: Vec<PublishedPort>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum ServiceMode {
    Replicated { replicas: u64 },
    Global,
}

/// What each task runs, and where and when.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TaskSpec {
    pub(crate) image: String,
    pub(crate) command: Vec<String>,
    pub(crate) args: Vec<String>,
    pub(crate) env: Vec<String>,
    pub(crate) hostname: String,
    pub(crate) dir: String,
    pub(crate) user: String,
    pub(crate) read_only: bool,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) stop_signal: String,
    pub(crate) stop_grace_ns: Option<i64>,
    pub(crate) cap_add: Vec<String>,
    pub(crate) cap_drop: Vec<String>,
    pub(crate) memory_bytes: i64,
    pub(crate) nano_cpus: i64,
    pub(crate) pids: i64,
    pub(crate) secrets: Vec<FileGrant>,
    pub(crate) configs: Vec<FileGrant>,
    pub(crate) restart: RestartPolicy,
    pub(crate) constraints: Vec<Constraint>,
    pub(crate) max_replicas: u64,
    pub(crate) force_update: u64,
    /// The overlay networks each task attaches to.
    #[serde(default)]
    pub(crate) networks: Vec<NetworkAttachment>,
    /// The ingress network's ID when the service publishes ports: each task gets an address
    /// there too. Set by the manager, never by users.
    #[serde(default)]
    pub(crate) ingress: Option<String>,
}

impl TaskSpec {
    /// The IDs of the networks each task gets an address on: its networks, then ingress.
    pub(crate) fn network_ids(&self) -> impl Iterator<Item = &str> {
        self.networks.iter().map(|n| n.network_id.as_str()).chain(self.ingress.as_deref())
    }
}

/// A secret or config granted to a service's tasks, as a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileGrant {
    /// The object's ID (the grant survives nothing else: a re-created name is another object).
    pub(crate) id: String,
    pub(crate) name: String,
    /// Secrets: a file name under `/run/secrets`; configs: an absolute path.
    pub(crate) target: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum RestartCondition {
    None,
    OnFailure,
    #[default]
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RestartPolicy {
    pub(crate) condition: RestartCondition,
    pub(crate) delay_ns: i64,
    /// 0: unlimited.
    pub(crate) max_attempts: u64,
    /// 0: every attempt counts.
    pub(crate) window_ns: i64,
}

impl Default for RestartPolicy {
    /// swarmkit's defaults: restart on any exit after 5 s, without limit.
    fn default() -> Self {
        Self { condition: RestartCondition::Any, delay_ns: 5_000_000_000, max_attempts: 0, window_ns: 0 }
    }
}

/// `node.<key> == value` (or `!=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Constraint {
    pub(crate) key: String,
    pub(crate) equal: bool,
    pub(crate) value: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum FailureAction {
    #[default]
    Pause,
    Continue,
    Rollback,
}

/// How tasks are replaced when the spec changes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct UpdatePolicy {
    /// Tasks replaced at a time; 0: all at once.
    pub(crate) parallelism: u64,
    /// Pause between batches.
    pub(crate) delay_ns: i64,
    pub(crate) failure_action: FailureAction,
    pub(crate) monitor_ns: i64,
    pub(crate) max_failure_ratio: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum UpdateState {
    Updating,
    Paused,
    Completed,
    RollbackStarted,
    RollbackPaused,
    RollbackCompleted,
}

impl UpdateState {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Updating => "updating",
            Self::Paused => "paused",
            Self::Completed => "completed",
            Self::RollbackStarted => "rollback_started",
            Self::RollbackPaused => "rollback_paused",
            Self::RollbackCompleted => "rollback_completed",
        }
    }

    pub(crate) fn is_rollback(self) -> bool {
        matches!(self, Self::RollbackStarted | Self::RollbackPaused | Self::RollbackCompleted)
    }

    pub(crate) fn is_active(self) -> bool {
        matches!(self, Self::Updating | Self::RollbackStarted)
    }
}

/// A rolling update (or rollback) of a service.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct UpdateProgress {
    pub(crate) state: UpdateState,
    #[serde(with = "super::timestamp")]
    pub(crate) started_at: OffsetDateTime,
    #[serde(with = "super::timestamp::option")]
    pub(crate) completed_at: Option<OffsetDateTime>,
    pub(crate) message: String,
    /// When the last batch finished starting: the next waits `delay` after it.
    #[serde(with = "super::timestamp::option")]
    pub(crate) batch_done_at: Option<OffsetDateTime>,
}

impl ServiceSpec {
    /// A one-replica service named `name` running `task`, everything else by default.
    #[cfg(test)]
    pub(crate) fn replicated(name: &str, task: TaskSpec) -> Self {
        Self {
            name: name.into(),
            labels: BTreeMap::new(),
            mode: ServiceMode::Replicated { replicas: 1 },
            task,
            update: UpdatePolicy::default(),
            rollback: UpdatePolicy::default(),
            endpoint_mode: EndpointMode::default(),
            ports: Vec::new(),
        }
    }

    /// The policy the running update follows.
    pub(crate) fn policy(&self, rollback: bool) -> UpdatePolicy {
        if rollback {
            self.rollback
        } else {
            self.update
        }
    }

    /// Whether its tasks attach to the network with this ID.
    pub(crate) fn attaches(&self, network_id: &str) -> bool {
        self.task.network_ids().any(|id| id == network_id)
    }

    /// Whether it grants the secret (`secrets`) or config with this ID.
    pub(crate) fn grants(&self, id: &str) -> bool {
        self.task.secrets.iter().chain(&self.task.configs).any(|g| g.id == id)
    }
}
