//! `/services*` and `/tasks*`: services, their task template, and the tasks that run them.
//!
//! Only what Palisade implements is typed. Fields the docker CLI always sends with empty values
//! (`DNSConfig`, `Resources`, `Placement.Platforms`, …) are accepted and ignored; fields that
//! would change what runs and that Palisade does not implement yet are refused by
//! [`ServiceSpec::validate`], so nothing starts differently from what was asked.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ObjectVersion;
use crate::containers::types::query_flag as flag;
use crate::ApiError;

/// A service as `GET /services` reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Service {
    /// Service ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Version for `POST /services/{id}/update?version=`.
    pub version: ObjectVersion,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// The current spec.
    pub spec: ServiceSpec,
    /// The spec before the last update (what `--rollback` returns to).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_spec: Option<ServiceSpec>,
    /// How the service is reached, and its virtual IPs.
    #[serde(default)]
    pub endpoint: Endpoint,
    /// The last rolling update.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_status: Option<UpdateStatus>,
    /// Task counts (`GET /services?status=true`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_status: Option<ServiceStatus>,
}

/// `Service.Endpoint`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Endpoint {
    /// The endpoint mode in force (`{"Mode": "vip"}`).
    #[serde(default)]
    pub spec: EndpointSpec,
    /// The ports published, with their published port numbers.
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortConfig>,
    /// One per network in `vip` mode.
    #[serde(rename = "VirtualIPs", default, skip_serializing_if = "Vec::is_empty")]
    pub virtual_ips: Vec<VirtualIp>,
}

/// One of `Endpoint.VirtualIPs`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VirtualIp {
    /// The network's ID.
    #[serde(rename = "NetworkID")]
    pub network_id: String,
    /// `10.0.1.2/24`.
    pub addr: String,
}

/// One of `Task.NetworksAttachments`: a network and the task's addresses on it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkAttachment {
    /// The network (its ID and driver).
    pub network: AttachedNetwork,
    /// `["10.0.1.3/24"]`.
    pub addresses: Vec<String>,
}

/// The network of a [`NetworkAttachment`], as much of swarmkit's network object as Palisade
/// fills in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedNetwork {
    /// The network's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// `{"DriverConfiguration": {"Name": "overlay"}, "Scope": "swarm"}`.
    pub spec: AttachedNetworkSpec,
}

/// The spec of an [`AttachedNetwork`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttachedNetworkSpec {
    /// `{"Name": "overlay"}`.
    pub driver_configuration: DriverConfiguration,
    /// `swarm`.
    pub scope: String,
}

/// A driver by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DriverConfiguration {
    /// `overlay`.
    pub name: String,
}

/// `Service.UpdateStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateStatus {
    /// `updating`, `paused`, `completed`, `rollback_started`, `rollback_paused`,
    /// `rollback_completed`.
    pub state: String,
    /// When it started.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub started_at: String,
    /// When it ended.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub completed_at: String,
    /// What happened.
    #[serde(default)]
    pub message: String,
}

/// `Service.ServiceStatus`.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceStatus {
    /// Tasks in the running state.
    pub running_tasks: u64,
    /// Tasks that should be running.
    pub desired_tasks: u64,
    /// Completed tasks (jobs only).
    pub completed_tasks: u64,
}

/// `ServiceSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceSpec {
    /// Service name.
    #[serde(default)]
    pub name: String,
    /// Labels.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// What each task runs.
    #[serde(default)]
    pub task_template: TaskSpec,
    /// Replicated or global.
    #[serde(default)]
    pub mode: ServiceMode,
    /// Rolling updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_config: Option<UpdateConfig>,
    /// Rollbacks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_config: Option<UpdateConfig>,
    /// Deprecated place of network attachments (refused: the docker CLI sends them in
    /// `TaskTemplate.Networks`).
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<Value>,
    /// `{"Mode": "vip", "Ports": [...]}`; published ports are refused for now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_spec: Option<EndpointSpec>,
}

/// `EndpointSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSpec {
    /// `vip` or `dnsrr`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mode: String,
    /// Published ports.
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<PortConfig>,
}

/// `EndpointSpec.Ports[]`: one published port (`--publish published=8080,target=80`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortConfig {
    /// An optional name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// `tcp` (the default) or `udp`.
    #[serde(default)]
    pub protocol: String,
    /// The port inside the tasks.
    #[serde(default)]
    pub target_port: u16,
    /// The port every node answers on (0: one the cluster chooses).
    #[serde(default)]
    pub published_port: u16,
    /// `ingress` (the default).
    #[serde(default)]
    pub publish_mode: String,
}

impl PortConfig {
    /// Checks what Palisade can publish: a target port (the published one may be left to the
    /// cluster), over TCP or UDP, in ingress mode.
    fn validate(&self) -> Result<(), ApiError> {
        if self.target_port == 0 {
            return Err(ApiError::invalid_argument("a published port needs a target port (--publish published=PORT,target=PORT)"));
        }
        if !matches!(self.protocol.as_str(), "" | "tcp" | "udp") {
            return Err(unsupported(&format!("protocol {:?} for a published port (tcp or udp)", self.protocol)));
        }
        match self.publish_mode.as_str() {
            "" | "ingress" => Ok(()),
            "host" => Err(unsupported("publish mode host (--publish mode=host)")),
            other => Err(ApiError::invalid_argument(format!("invalid publish mode {other:?}: ingress or host"))),
        }
    }

    /// Its protocol, `tcp` when none is given.
    pub fn protocol(&self) -> &str {
        if self.protocol.is_empty() {
            "tcp"
        } else {
            &self.protocol
        }
    }
}

/// `TaskSpec` (`ServiceSpec.TaskTemplate`, `Task.Spec`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskSpec {
    /// The container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_spec: Option<ContainerSpec>,
    /// Resource limits and reservations (only memory and CPU limits are applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
    /// When tasks are restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_policy: Option<RestartPolicy>,
    /// Where tasks may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// Bumped by `service update --force`: tasks are replaced though nothing else changed.
    #[serde(default)]
    pub force_update: u64,
    /// `container` (the only kind).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub runtime: String,
    /// Overlay networks each task attaches to (`--network`).
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetworkAttachmentConfig>,
    /// Log driver (refused unless empty: logs stay on the node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_driver: Option<Value>,
}

/// `TaskTemplate.Networks[]`: one network a service's tasks attach to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkAttachmentConfig {
    /// The network's ID or name (stored as its ID).
    #[serde(default)]
    pub target: String,
    /// Extra names of the service on it (`--network name=N,alias=A`).
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// Driver options (refused when set).
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
}

/// `ContainerSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSpec {
    /// Image reference.
    #[serde(default)]
    pub image: String,
    /// Container labels.
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Replaces the image's entrypoint.
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Arguments (replace the image's `Cmd`).
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    /// Host name in the container.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    /// `KEY=VALUE`.
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    /// Working directory.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub dir: String,
    /// `user[:group]`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Run an init process (not supported: refused when true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    /// Allocate a TTY (refused).
    #[serde(default, rename = "TTY", skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    /// Keep stdin open (refused).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub open_stdin: bool,
    /// Read-only root file system.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    /// Mounts (refused: no volumes in services yet).
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Value>,
    /// Signal that stops the container.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stop_signal: String,
    /// Nanoseconds between the stop signal and SIGKILL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_grace_period: Option<i64>,
    /// Secrets granted to the tasks.
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<SecretReference>,
    /// Configs granted to the tasks.
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub configs: Vec<ConfigReference>,
    /// Added capabilities.
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub capability_add: Vec<String>,
    /// Dropped capabilities.
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub capability_drop: Vec<String>,
    /// `{}` from the CLI; DNS settings are refused when set.
    #[serde(default, rename = "DNSConfig", skip_serializing_if = "Option::is_none")]
    pub dns_config: Option<Value>,
    /// Everything else the CLI may send; refused when not empty-valued.
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    pub other: BTreeMap<String, Value>,
}

/// `SecretReference`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecretReference {
    /// Where the file goes (`/run/secrets/<Name>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileTarget>,
    /// The secret's ID.
    #[serde(rename = "SecretID", default)]
    pub secret_id: String,
    /// The secret's name.
    #[serde(default)]
    pub secret_name: String,
}

/// `ConfigReference`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ConfigReference {
    /// Where the file goes (absolute, or relative to `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<FileTarget>,
    /// A runtime-target config (refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<Value>,
    /// The config's ID.
    #[serde(rename = "ConfigID", default)]
    pub config_id: String,
    /// The config's name.
    #[serde(default)]
    pub config_name: String,
}

/// `SecretReferenceFileTarget` / `ConfigReferenceFileTarget`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FileTarget {
    /// File name (secrets: under `/run/secrets`; configs: a path).
    pub name: String,
    /// Owner (a number, as a string).
    #[serde(rename = "UID", default)]
    pub uid: String,
    /// Group (a number, as a string).
    #[serde(rename = "GID", default)]
    pub gid: String,
    /// Permission bits.
    #[serde(default)]
    pub mode: u32,
}

/// `Resources`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Resources {
    /// Limits applied to each task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
    /// Reservations (accepted; the scheduler does not count resources).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservations: Option<Value>,
}

/// `Limit`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Limits {
    /// CPU in units of 1e-9 CPUs.
    #[serde(default, rename = "NanoCPUs", skip_serializing_if = "is_zero")]
    pub nano_cpus: i64,
    /// Memory in bytes.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub memory_bytes: i64,
    /// Process limit.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub pids: i64,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// `RestartPolicy`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RestartPolicy {
    /// `none`, `on-failure` or `any` (the default).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub condition: String,
    /// Nanoseconds between restarts (default 5 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<i64>,
    /// Restarts per slot before giving up; 0 = unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u64>,
    /// Window (ns) in which restarts are counted; 0 = unbounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<i64>,
}

/// `Placement`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Placement {
    /// `node.role==worker`, `node.labels.k!=v`, …
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<String>,
    /// Spread preferences (refused).
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub preferences: Vec<Value>,
    /// Most replicas per node; 0 = unlimited.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub max_replicas: u64,
    /// Platforms the image supports (accepted, not checked).
    #[serde(default, deserialize_with = "super::null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub platforms: Vec<Value>,
}

fn is_zero_u64(n: &u64) -> bool {
    *n == 0
}

/// `ServiceMode`: exactly one of its fields is set.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceMode {
    /// A number of replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicated: Option<ReplicatedService>,
    /// One task per eligible node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global: Option<Value>,
    /// Jobs (refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicated_job: Option<Value>,
    /// Jobs (refused).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub global_job: Option<Value>,
}

/// `ReplicatedService`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicatedService {
    /// Replica count; absent means 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u64>,
}

/// `UpdateConfig` (also `RollbackConfig`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateConfig {
    /// Tasks replaced at a time; 0 = all at once.
    #[serde(default)]
    pub parallelism: u64,
    /// Nanoseconds between batches.
    #[serde(default)]
    pub delay: i64,
    /// `pause` (default), `continue` or `rollback`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub failure_action: String,
    /// Nanoseconds a new task is watched for failure.
    #[serde(default)]
    pub monitor: i64,
    /// Failures tolerated, as a fraction.
    #[serde(default)]
    pub max_failure_ratio: f64,
    /// `stop-first` (default) or `start-first`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub order: String,
}

/// `201` answer of `POST /services/create`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceCreateResponse {
    /// The new service's ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Warnings for the user.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// Answer of `POST /services/{id}/update`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceUpdateResponse {
    /// Warnings for the user.
    #[serde(default)]
    pub warnings: Option<Vec<String>>,
}

/// Query of `POST /services/{id}/update`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateServiceQuery {
    /// The service version the spec was read at.
    pub version: Option<u64>,
    /// `previous`: return to `PreviousSpec`.
    pub rollback: Option<String>,
    /// `spec` or `previous-spec` (registry auth source; ignored).
    pub registry_auth_from: Option<String>,
}

/// A task as `GET /tasks` reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Task {
    /// Task ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Version.
    pub version: ObjectVersion,
    /// Creation time.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The service's task template when the task was made.
    pub spec: TaskSpec,
    /// Its service.
    #[serde(rename = "ServiceID")]
    pub service_id: String,
    /// Slot of a replicated service (global: 0).
    pub slot: u64,
    /// Where it runs (empty until scheduled).
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// What the node reported.
    pub status: TaskStatus,
    /// What the orchestrator wants.
    pub desired_state: String,
    /// The task's address on each of its networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks_attachments: Vec<NetworkAttachment>,
}

/// `TaskStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskStatus {
    /// When the state was reached.
    pub timestamp: String,
    /// `new`, `pending`, `assigned`, …, `running`, `complete`, `failed`, …
    pub state: String,
    /// What happened.
    pub message: String,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub err: String,
    /// The container, once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_status: Option<TaskContainerStatus>,
}

/// `ContainerStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskContainerStatus {
    /// Container ID.
    #[serde(rename = "ContainerID")]
    pub container_id: String,
    /// Process ID.
    #[serde(rename = "PID")]
    pub pid: i64,
    /// Exit code once it exited.
    pub exit_code: i64,
}

/// Query of `GET /services/{id}/logs` and `GET /tasks/{id}/logs`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceLogsQuery {
    /// `1`/`true`: include stdout.
    pub stdout: Option<String>,
    /// `1`/`true`: include stderr.
    pub stderr: Option<String>,
    /// `1`/`true`: keep streaming.
    pub follow: Option<String>,
    /// `1`/`true`: prefix lines with details (`com.docker.swarm.*=…`).
    pub details: Option<String>,
    /// `1`/`true`: prefix lines with timestamps (not supported: refused).
    pub timestamps: Option<String>,
    /// `all` or a number of lines per task.
    pub tail: Option<String>,
    /// Only lines after this time (refused unless empty).
    pub since: Option<String>,
}

/// Service logs options, parsed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceLogsOptions {
    /// Include stdout.
    pub stdout: bool,
    /// Include stderr.
    pub stderr: bool,
    /// Keep streaming while tasks run.
    pub follow: bool,
    /// Prefix each line with its task's details.
    pub details: bool,
    /// At most this many lines per task from its end.
    pub tail: Option<u64>,
}

impl ServiceLogsQuery {
    /// The options, or docker's error for what is not supported.
    pub fn options(&self) -> Result<ServiceLogsOptions, ApiError> {
        let options = ServiceLogsOptions {
            stdout: flag(self.stdout.as_deref()),
            stderr: flag(self.stderr.as_deref()),
            follow: flag(self.follow.as_deref()),
            details: flag(self.details.as_deref()),
            tail: match self.tail.as_deref() {
                None | Some("" | "all") => None,
                Some(n) => Some(n.parse().map_err(|_| ApiError::bad_request(format!("invalid tail value {n:?}")))?),
            },
        };
        if !options.stdout && !options.stderr {
            return Err(ApiError::bad_request("Bad parameters: you must choose at least one stream"));
        }
        if flag(self.timestamps.as_deref()) {
            return Err(ApiError::bad_request("service logs --timestamps is not supported by Palisade"));
        }
        if self.since.as_deref().is_some_and(|s| !s.is_empty() && s != "0") {
            return Err(ApiError::bad_request("service logs --since is not supported by Palisade"));
        }
        Ok(options)
    }
}

/// The `filters` of `GET /services` and `GET /tasks`: each key with its alternatives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilters(pub BTreeMap<String, Vec<String>>);

impl ListFilters {
    /// Parses `{"key":{"v":true}}` or `{"key":["v"]}`, allowing only `allowed` keys.
    pub fn parse(json: Option<&str>, allowed: &[&str]) -> Result<Self, ApiError> {
        let mut filters = BTreeMap::new();
        let Some(json) = json.filter(|j| !j.trim().is_empty()) else { return Ok(Self(filters)) };
        let raw: BTreeMap<String, Value> =
            serde_json::from_str(json).map_err(|e| ApiError::bad_request(format!("invalid filter: {e}")))?;
        for (key, value) in raw {
            if !allowed.contains(&key.as_str()) {
                return Err(ApiError::bad_request(format!("invalid filter '{key}'")));
            }
            let values: Vec<String> = match value {
                Value::Object(map) => map.into_iter().filter(|(_, v)| v.as_bool() != Some(false)).map(|(k, _)| k).collect(),
                Value::Array(items) => items.into_iter().filter_map(|v| v.as_str().map(str::to_owned)).collect(),
                _ => return Err(ApiError::bad_request(format!("invalid filter '{key}'"))),
            };
            filters.insert(key, values);
        }
        Ok(Self(filters))
    }

    /// The alternatives given for `key` (empty: no filter).
    pub fn get(&self, key: &str) -> &[String] {
        self.0.get(key).map_or(&[], Vec::as_slice)
    }

    /// Whether `value` passes the `key` filter (true when it has none) with `test`.
    pub fn allows(&self, key: &str, test: impl Fn(&str) -> bool) -> bool {
        let wanted = self.get(key);
        wanted.is_empty() || wanted.iter().any(|w| test(w))
    }

    /// Label filters (`key` or `key=value`) against `labels` ([`super::labels_match`]).
    pub fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        super::labels_match(self.get("label"), labels)
    }
}

impl ServiceSpec {
    /// swarmkit's `validateServiceSpec` and the parts Palisade does not implement: a clear
    /// 400 for anything that would not run as asked.
    pub fn validate(&self) -> Result<(), ApiError> {
        validate_swarm_name(&self.name)?;
        let modes = [
            self.mode.replicated.is_some(),
            self.mode.global.is_some(),
            self.mode.replicated_job.is_some(),
            self.mode.global_job.is_some(),
        ];
        match modes.iter().filter(|m| **m).count() {
            0 => return Err(ApiError::invalid_argument("service mode is not set")),
            1 => {}
            _ => return Err(ApiError::invalid_argument("only one service mode may be set")),
        }
        if self.mode.replicated_job.is_some() || self.mode.global_job.is_some() {
            return Err(unsupported("job services (--mode replicated-job|global-job)"));
        }
        if !self.networks.is_empty() {
            return Err(unsupported("Spec.Networks (deprecated: give networks in TaskTemplate.Networks)"));
        }
        for network in &self.task_template.networks {
            if network.target.is_empty() {
                return Err(ApiError::invalid_argument("a network attachment names no network"));
            }
            if !network.driver_opts.is_empty() {
                return Err(unsupported("network driver options (--network driver-opt=...)"));
            }
        }
        if let Some(mode) = self.endpoint_spec.as_ref().map(|e| e.mode.as_str()).filter(|m| !matches!(*m, "" | "vip" | "dnsrr")) {
            return Err(ApiError::invalid_argument(format!("invalid endpoint mode {mode:?}: vip or dnsrr")));
        }
        let ports = self.endpoint_spec.as_ref().map_or(&[][..], |e| e.ports.as_slice());
        for (i, port) in ports.iter().enumerate() {
            port.validate()?;
            if port.published_port != 0 && ports[..i].iter().any(|p| p.published_port == port.published_port && p.protocol() == port.protocol()) {
                return Err(ApiError::invalid_argument(format!("port {}/{} is published twice", port.published_port, port.protocol())));
            }
        }
        self.task_template.validate()?;
        for config in [&self.update_config, &self.rollback_config].into_iter().flatten() {
            config.validate()?;
        }
        Ok(())
    }

    /// Replicas of a replicated service (absent means 1); `None` for global services.
    pub fn replicas(&self) -> Option<u64> {
        self.mode.replicated.as_ref().map(|r| r.replicas.unwrap_or(1))
    }
}

impl TaskSpec {
    fn validate(&self) -> Result<(), ApiError> {
        if !matches!(self.runtime.as_str(), "" | "container") {
            return Err(unsupported(&format!("task runtime {:?}", self.runtime)));
        }
        if self.log_driver.as_ref().is_some_and(|d| !super::is_unset(d)) {
            return Err(unsupported("service log drivers (--log-driver)"));
        }
        if let Some(placement) = &self.placement {
            if !placement.preferences.is_empty() {
                return Err(unsupported("placement preferences (--placement-pref)"));
            }
            for constraint in &placement.constraints {
                validate_constraint(constraint)?;
            }
        }
        if let Some(policy) = &self.restart_policy {
            if !matches!(policy.condition.as_str(), "" | "none" | "on-failure" | "any") {
                return Err(ApiError::invalid_argument(format!("invalid restart condition {:?}", policy.condition)));
            }
            if policy.delay.is_some_and(|d| d < 0) || policy.window.is_some_and(|w| w < 0) {
                return Err(ApiError::invalid_argument("restart delay and window cannot be negative"));
            }
        }
        let Some(container) = &self.container_spec else {
            return Err(ApiError::invalid_argument("ContainerSpec: missing in service spec"));
        };
        container.validate()
    }
}

impl ContainerSpec {
    fn validate(&self) -> Result<(), ApiError> {
        if self.image.is_empty() {
            return Err(ApiError::invalid_argument("ContainerSpec: image reference must be provided"));
        }
        if self.init == Some(true) {
            return Err(unsupported("--init"));
        }
        if self.tty || self.open_stdin {
            return Err(unsupported("--tty and interactive services"));
        }
        if !self.mounts.is_empty() {
            return Err(unsupported("service mounts (--mount)"));
        }
        if self.dns_config.as_ref().is_some_and(|d| !super::is_unset(d)) {
            return Err(unsupported("DNS settings (--dns*)"));
        }
        for (key, value) in &self.other {
            if !super::is_unset(value) && !IGNORED_CONTAINER_FIELDS.contains(&key.as_str()) {
                return Err(unsupported(&format!("ContainerSpec.{key}")));
            }
        }
        let mut targets = std::collections::BTreeSet::new();
        for secret in &self.secrets {
            let file = secret.file.as_ref().ok_or_else(|| ApiError::invalid_argument("SecretReference: missing file target"))?;
            validate_file_target(file, "secret", false)?;
            if secret.secret_id.is_empty() && secret.secret_name.is_empty() {
                return Err(ApiError::invalid_argument("SecretReference: neither SecretID nor SecretName is set"));
            }
            if !targets.insert(format!("/run/secrets/{}", file.name)) {
                return Err(ApiError::invalid_argument(format!("secret target {} is used twice", file.name)));
            }
        }
        for config in &self.configs {
            if config.runtime.is_some() {
                return Err(unsupported("runtime configs"));
            }
            let file = config.file.as_ref().ok_or_else(|| ApiError::invalid_argument("ConfigReference: missing file target"))?;
            validate_file_target(file, "config", true)?;
            if config.config_id.is_empty() && config.config_name.is_empty() {
                return Err(ApiError::invalid_argument("ConfigReference: neither ConfigID nor ConfigName is set"));
            }
            let path = if file.name.starts_with('/') { file.name.clone() } else { format!("/{}", file.name) };
            if !targets.insert(path) {
                return Err(ApiError::invalid_argument(format!("config target {} is used twice", file.name)));
            }
        }
        Ok(())
    }
}

/// Container fields the CLI sends with defaults that Palisade already behaves as (or that
/// only describe): accepted whatever their value.
const IGNORED_CONTAINER_FIELDS: &[&str] = &["Isolation"];


impl UpdateConfig {
    fn validate(&self) -> Result<(), ApiError> {
        if self.delay < 0 || self.monitor < 0 {
            return Err(ApiError::invalid_argument("update delay and monitor cannot be negative"));
        }
        if !matches!(self.failure_action.as_str(), "" | "pause" | "continue" | "rollback") {
            return Err(ApiError::invalid_argument(format!("invalid failure action {:?}", self.failure_action)));
        }
        if self.order == "start-first" {
            return Err(unsupported("--update-order start-first"));
        }
        if !matches!(self.order.as_str(), "" | "stop-first") {
            return Err(ApiError::invalid_argument(format!("invalid update order {:?}", self.order)));
        }
        Ok(())
    }
}

fn unsupported(what: &str) -> ApiError {
    ApiError::bad_request(format!("{what} is not supported by Palisade yet"))
}

/// swarmkit's rule for the names of services and networks (`validateAnnotations`): a DNS
/// label of at most 63 characters, letters and digits with `-` or `_` between them
/// (`^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`). A stack's objects are `STACK_name`.
pub fn validate_swarm_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::invalid_argument("meta: name must be provided"));
    }
    let bytes = name.as_bytes();
    let inner = |b: &u8| b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_';
    let dns = bytes.iter().all(inner)
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric);
    if !dns {
        return Err(ApiError::invalid_argument(format!("name must be valid as a DNS name component: {name:?}")));
    }
    if bytes.len() > 63 {
        return Err(ApiError::invalid_argument("name must be 63 characters or fewer"));
    }
    Ok(())
}

fn validate_file_target(file: &FileTarget, kind: &str, absolute_allowed: bool) -> Result<(), ApiError> {
    let name = file.name.as_str();
    let relative = name.strip_prefix('/').filter(|_| absolute_allowed).unwrap_or(name);
    let bad_component = relative.split('/').any(|c| c.is_empty() || c == "." || c == "..");
    if name.is_empty() || name.contains('\0') || bad_component || (!absolute_allowed && name.contains('/')) {
        return Err(ApiError::invalid_argument(format!("invalid {kind} target {name:?}")));
    }
    for (what, id) in [("UID", &file.uid), ("GID", &file.gid)] {
        if !id.is_empty() && id.parse::<u32>().is_err() {
            return Err(ApiError::invalid_argument(format!("{kind} {name}: {what} must be a number, not {id:?}")));
        }
    }
    if file.mode > 0o7777 {
        return Err(ApiError::invalid_argument(format!("{kind} {name}: invalid mode {:o}", file.mode)));
    }
    Ok(())
}

/// A placement constraint: `node.<attr> == value` or `!=`, with the attributes swarmkit has.
pub fn validate_constraint(constraint: &str) -> Result<(), ApiError> {
    let bad = || ApiError::invalid_argument(format!("invalid constraint {constraint:?}: use node.role==worker, node.labels.KEY==VALUE, …"));
    let (key, _, _) = split_constraint(constraint).ok_or_else(bad)?;
    let known = matches!(key, "node.id" | "node.hostname" | "node.role" | "node.platform.os" | "node.platform.arch")
        || key.strip_prefix("node.labels.").is_some_and(|k| !k.is_empty());
    if !known {
        return Err(bad());
    }
    Ok(())
}

/// `(key, equal?, value)` of a constraint, trimmed.
pub fn split_constraint(constraint: &str) -> Option<(&str, bool, &str)> {
    let (key, equal, value) = if let Some((k, v)) = constraint.split_once("!=") {
        (k, false, v)
    } else {
        let (k, v) = constraint.split_once("==")?;
        (k, true, v)
    };
    let (key, value) = (key.trim(), value.trim());
    (!key.is_empty() && !value.is_empty()).then_some((key, equal, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verbatim from docker CLI 28.2.2 `service create --name web --secret source=db_pw,target=pw busybox sleep 1000`.
    const CLI_CREATE: &str = r#"{"Name":"web","Labels":{},
    "TaskTemplate":{"ContainerSpec":{"Image":"busybox:latest","Args":["sleep","1000"],"Init":false,"DNSConfig":{},
        "Secrets":[{"File":{"Name":"pw","UID":"0","GID":"0","Mode":292},"SecretID":"abc","SecretName":"db_pw"}]},
      "Resources":{"Limits":{},"Reservations":{}},"Placement":{},"ForceUpdate":0},
    "Mode":{"Replicated":{}},"EndpointSpec":{"Mode":"vip"}}"#;

    #[test]
    fn the_docker_cli_create_body_parses_and_validates() {
        let spec: ServiceSpec = serde_json::from_str(CLI_CREATE).unwrap();
        spec.validate().unwrap();
        assert_eq!(spec.replicas(), Some(1));
        let container = spec.task_template.container_spec.as_ref().unwrap();
        assert_eq!(container.secrets[0].file.as_ref().unwrap().mode, 0o444);
        assert_eq!(container.args, ["sleep", "1000"]);
    }

    #[test]
    fn what_palisade_does_not_run_is_refused() {
        let base: Value = serde_json::from_str(CLI_CREATE).unwrap();
        let refused = |patch: &dyn Fn(&mut Value)| {
            let mut v = base.clone();
            patch(&mut v);
            let spec: ServiceSpec = serde_json::from_value(v).unwrap();
            spec.validate().unwrap_err().message
        };
        assert!(refused(&|v| v["EndpointSpec"]["Ports"] = serde_json::json!([{"PublishedPort": 80}])).contains("target"));
        assert!(refused(&|v| v["EndpointSpec"]["Ports"] = serde_json::json!([{"TargetPort": 80, "PublishedPort": 8080, "PublishMode": "host"}])).contains("mode host"));
        assert!(refused(&|v| v["EndpointSpec"]["Ports"] = serde_json::json!([{"TargetPort": 80, "PublishedPort": 8080, "Protocol": "sctp"}])).contains("sctp"));
        let twice = serde_json::json!([{"TargetPort": 80, "PublishedPort": 8080}, {"TargetPort": 81, "PublishedPort": 8080, "Protocol": "tcp"}]);
        assert!(refused(&|v| v["EndpointSpec"]["Ports"] = twice.clone()).contains("twice"));
        assert!(refused(&|v| v["TaskTemplate"]["ContainerSpec"]["Mounts"] = serde_json::json!([{"Type": "bind"}])).contains("mounts"));
        assert!(refused(&|v| v["TaskTemplate"]["ContainerSpec"]["Sysctls"] = serde_json::json!({"a": "1"})).contains("Sysctls"));
        assert!(refused(&|v| v["TaskTemplate"]["Placement"]["Constraints"] = serde_json::json!(["node.colour==red"])).contains("constraint"));
        assert!(refused(&|v| v["TaskTemplate"]["ContainerSpec"]["Secrets"][0]["File"]["Name"] = "../x".into()).contains("target"));
        assert!(refused(&|v| v["Name"] = "web.1".into()).contains("DNS"));
        assert!(refused(&|v| v["Mode"] = serde_json::json!({"ReplicatedJob": {}})).contains("job"));
    }

    #[test]
    fn swarm_names_follow_swarmkit_s_rule() {
        for good in ["web", "stack_web", "a-b_c", "A1", "x__-y", &"n".repeat(63)] {
            validate_swarm_name(good).unwrap_or_else(|e| panic!("{good}: {e:?}"));
        }
        for bad in ["_web", "web_", "-web", "web-", "my.stack_web", "a b", "é", &"n".repeat(64)] {
            assert!(validate_swarm_name(bad).is_err(), "{bad}");
        }
        assert_eq!(validate_swarm_name("").unwrap_err().message, "rpc error: code = InvalidArgument desc = meta: name must be provided");
    }

    #[test]
    fn constraints_split_on_either_operator() {
        assert_eq!(split_constraint("node.role == worker"), Some(("node.role", true, "worker")));
        assert_eq!(split_constraint("node.labels.zone!=eu"), Some(("node.labels.zone", false, "eu")));
        assert_eq!(split_constraint("node.role"), None);
        validate_constraint("node.labels.zone==eu").unwrap();
        assert!(validate_constraint("node.labels.==eu").is_err());
    }

    #[test]
    fn list_filters_take_both_forms() {
        let f = ListFilters::parse(Some(r#"{"service":{"web":true},"node":["n1"]}"#), &["service", "node"]).unwrap();
        assert_eq!(f.get("service"), ["web"]);
        assert!(f.allows("node", |n| n == "n1") && !f.allows("node", |n| n == "n2") && f.allows("other", |_| false));
        assert!(ListFilters::parse(Some(r#"{"bogus":["x"]}"#), &["service"]).is_err());
    }
}
