//! The cluster port: wire types shared by its server and client.
//!
//! Calls are JSON over HTTP/1.1 inside mutual TLS. Paths under `/join/` are the only ones served
//! without a client certificate; `/node/` needs a node certificate of this cluster; `/control/`
//! and `/raft/` a manager certificate. Calls that read or change cluster state run on the raft
//! leader: a follower passes them on over its own mutual-TLS connection to the leader, naming
//! the node it authenticated ([`ControlCall::Node`]); only managers are believed when they do.

mod client;
mod server;
pub(crate) mod transport;

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use palisade_pki::{ClusterId, IssuerInfo, NodeId, NodeRole};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

pub(crate) use client::{ManagerClient, ManagerClients};
pub(crate) use server::ClusterServer;

use crate::model::{
    ClusterSpec, ConfigObject, FileGrant, LogEntry, LogKind, NodeDescription, NodeObject, ServiceObject, ServiceSpec,
    TaskObject, TaskStatus,
};

pub(crate) const ROOT_CA_PATH: &str = "/join/v1/root-ca";
pub(crate) const JOIN_PATH: &str = "/join/v1/certificate";
pub(crate) const NODE_PATH: &str = "/node/v1";
pub(crate) const CONTROL_PATH: &str = "/control/v1";
pub(crate) const RAFT_PATH: &str = "/raft/v1";

/// `GET /join/v1/root-ca`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RootCaResponse {
    pub(crate) root_ca_pem: String,
}

/// `POST /join/v1/certificate`: a node asks to join with a token and a CSR for a key it made.
#[derive(Serialize, Deserialize)]
pub(crate) struct JoinCertRequest {
    /// The join token text (secret; only ever sent over a connection that verified the
    /// manager against the root the token commits to).
    pub(crate) token: String,
    pub(crate) csr_pem: String,
    pub(crate) description: NodeDescription,
    /// Advertised IP; empty → the address the manager sees.
    pub(crate) advertise_addr: String,
    /// Port of the node's own cluster listener (served once it is a manager).
    pub(crate) listen_port: u16,
    pub(crate) availability: String,
}

impl fmt::Debug for JoinCertRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinCertRequest")
            .field("token", &"<redacted>")
            .field("advertise_addr", &self.advertise_addr)
            .finish()
    }
}

/// The joined node's identity.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct JoinCertResponse {
    pub(crate) node_id: NodeId,
    pub(crate) cluster_id: ClusterId,
    pub(crate) cert_pem: String,
    pub(crate) root_ca_pem: String,
    pub(crate) managers: Vec<String>,
    /// The address the cluster records for the node (its advertised one, or the one seen).
    pub(crate) addr: String,
    /// The raft member ID of a joining manager.
    pub(crate) raft_id: Option<u64>,
}

/// What a node asks of the leader, as itself.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum NodeCall {
    Heartbeat(HeartbeatRequest),
    /// Renewal with a fresh key.
    Renew {
        csr_pem: String,
    },
    /// A manager serving its cluster port asks to become a raft voter.
    RaftJoin,
    /// A manager leaving the swarm leaves raft first.
    RaftLeave,
    /// The tasks assigned to `node` (which must be the caller); waits for a change when
    /// `known` is the version the node holds.
    Assignments {
        node: NodeId,
        known: Option<u64>,
    },
    /// The secrets and configs of one of the caller's tasks.
    TaskFiles {
        task_id: String,
    },
    /// Status changes of the caller's tasks.
    TaskReports {
        reports: Vec<TaskReport>,
    },
    /// Image-policy decisions the caller made (refusals and audits), for the policy log.
    PolicyRecords {
        records: Vec<PolicyRecord>,
    },
    /// The attachable network `reference` names (ID, name or unique ID prefix), for a
    /// container outside services on the caller.
    AttachableNetwork {
        reference: String,
    },
    /// Attaches one of the caller's containers to an attachable network.
    AttachContainer(ContainerAttach),
    /// Releases every attachment of one of the caller's containers.
    DetachContainer {
        container_id: String,
    },
    /// Output of one of the caller's tasks for a log subscription.
    LogPublish {
        subscription: String,
        task_id: String,
        /// `(stream, line)`: 1 stdout, 2 stderr.
        lines: Vec<(u8, String)>,
        ended: bool,
    },
}

/// A log subscription's request for one task's output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogRequest {
    pub(crate) subscription: String,
    pub(crate) task_id: String,
    pub(crate) container_id: String,
    pub(crate) follow: bool,
    pub(crate) tail: Option<u64>,
}

/// `service logs`: whose output, and how.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogsOpen {
    pub(crate) reference: String,
    /// `reference` names a task, not a service.
    pub(crate) task: bool,
    pub(crate) follow: bool,
    pub(crate) tail: Option<u64>,
}

/// One line of a task's output.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct LogLine {
    pub(crate) task_id: String,
    pub(crate) node_id: String,
    pub(crate) service_id: String,
    pub(crate) stream: u8,
    pub(crate) data: String,
}

/// Lines of a subscription after a cursor.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct LogBatch {
    pub(crate) lines: Vec<LogLine>,
    /// Where the next poll starts.
    pub(crate) cursor: u64,
    /// No more lines will come.
    pub(crate) ended: bool,
}

/// The tasks assigned to a node, at a version of the task table.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Assignments {
    pub(crate) version: u64,
    pub(crate) tasks: Vec<TaskObject>,
    /// Log subscriptions' requests for the node's tasks.
    #[serde(default)]
    pub(crate) logs: Vec<LogRequest>,
    /// The overlay networks the node's tasks are attached to, with their keys.
    #[serde(default)]
    pub(crate) overlay: crate::overlay::OverlayState,
}

/// A task's status as its node reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TaskReport {
    pub(crate) task_id: String,
    pub(crate) status: TaskStatus,
}

/// The files of a task, with their values.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct TaskFiles {
    pub(crate) files: Vec<DeliveredFile>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum FileKind {
    Secret,
    Config,
}

/// A secret or config as a task receives it. The value is secret for secrets: zeroized on
/// drop, never printed.
#[derive(Serialize, Deserialize)]
pub(crate) struct DeliveredFile {
    pub(crate) kind: FileKind,
    pub(crate) name: String,
    pub(crate) target: String,
    pub(crate) uid: u32,
    pub(crate) gid: u32,
    pub(crate) mode: u32,
    #[serde(with = "crate::model::secret_bytes")]
    pub(crate) data: Zeroizing<Vec<u8>>,
}

impl DeliveredFile {
    pub(crate) fn new(kind: FileKind, grant: &FileGrant, data: Zeroizing<Vec<u8>>) -> Self {
        Self { kind, name: grant.name.clone(), target: grant.target.clone(), uid: grant.uid, gid: grant.gid, mode: grant.mode, data }
    }
}

impl fmt::Debug for DeliveredFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeliveredFile")
            .field("kind", &self.kind)
            .field("name", &self.name)
            .field("target", &self.target)
            .field("data", &"<redacted>")
            .finish()
    }
}

/// A service with its task counts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServiceView {
    pub(crate) service: ServiceObject,
    pub(crate) version: u64,
    pub(crate) running_tasks: u64,
    pub(crate) desired_tasks: u64,
}

/// A task with its version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct TaskView {
    pub(crate) task: TaskObject,
    pub(crate) version: u64,
    /// Made from its service's current spec.
    pub(crate) up_to_date: bool,
}

/// A config with its version (and its value: configs are not secret).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ConfigView {
    pub(crate) config: ConfigObject,
    pub(crate) version: u64,
}


/// A node's periodic report.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HeartbeatRequest {
    pub(crate) description: NodeDescription,
    /// The version of the image policy the node holds (`None`: it holds none yet).
    pub(crate) policy_version: Option<u64>,
}

/// The cluster's image policy as nodes receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PolicyState {
    /// The raft index it was stored at; 0 when none was ever set.
    pub(crate) version: u64,
    /// The document; `None`: no policy.
    pub(crate) text: Option<String>,
}

/// A decision a node reports for the policy log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PolicyRecord {
    pub(crate) kind: LogKind,
    pub(crate) action: String,
    pub(crate) message: String,
}

/// The stored policy, as `palisade policy show` prints it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct PolicyView {
    pub(crate) version: u64,
    pub(crate) text: String,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

/// What a node must do next.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HeartbeatResponse {
    /// Send the next heartbeat within this many nanoseconds.
    pub(crate) period_ns: i64,
    /// The role the cluster wants this node in; when it differs from the certificate's, the
    /// node renews its certificate (and starts or stops its manager role).
    pub(crate) desired_role: NodeRole,
    /// Cluster addresses of managers, the leader's first.
    pub(crate) managers: Vec<String>,
    /// Renew now: the certificate is not from the current signer (root rotation).
    pub(crate) renew: bool,
    /// The trust bundle the node should hold.
    pub(crate) trust_root_pem: String,
    /// The node's raft member ID, while the cluster wants it a manager.
    pub(crate) raft_id: Option<u64>,
    /// The image policy, when the node holds another version than the stored one.
    pub(crate) policy: Option<PolicyState>,
}

/// The renewed certificate.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RenewResponse {
    pub(crate) cert_pem: String,
    pub(crate) root_ca_pem: String,
}

/// `swarm update`, as the cluster model sees it.
#[derive(Serialize, Deserialize)]
pub(crate) struct SwarmUpdate {
    pub(crate) version: Option<u64>,
    pub(crate) spec: ClusterSpec,
    /// A root to rotate to (`docker swarm ca --ca-cert/--ca-key`); the key is secret.
    pub(crate) signing_ca_cert: String,
    pub(crate) signing_ca_key: Zeroizing<String>,
    pub(crate) rotate_worker_token: bool,
    pub(crate) rotate_manager_token: bool,
    pub(crate) rotate_unlock_key: bool,
}

impl fmt::Debug for SwarmUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwarmUpdate").field("version", &self.version).field("spec", &self.spec).finish_non_exhaustive()
    }
}

/// `node update`'s spec.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NodeSpecUpdate {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) role: String,
    pub(crate) availability: String,
}

/// A new secret (or config); the value is secret.
#[derive(Serialize, Deserialize)]
pub(crate) struct SecretCreate {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(with = "crate::model::secret_bytes")]
    pub(crate) data: Zeroizing<Vec<u8>>,
}

impl fmt::Debug for SecretCreate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretCreate").field("name", &self.name).field("data", &"<redacted>").finish()
    }
}

/// An update of a secret or config (the one at `reference`, still at `version`). Only labels
/// may change, as swarmkit rules; `name` and, when given, `data` must be what is stored
/// (`docker stack deploy` sends both again with every update).
#[derive(Serialize, Deserialize)]
pub(crate) struct ValueUpdate {
    pub(crate) reference: String,
    pub(crate) version: u64,
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(default, with = "crate::model::secret_bytes::option")]
    pub(crate) data: Option<Zeroizing<Vec<u8>>>,
}

impl fmt::Debug for ValueUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueUpdate").field("reference", &self.reference).field("name", &self.name).field("data", &"<redacted>").finish()
    }
}

/// `network create -d overlay`, checked at the API edge (driver, options); the manager checks
/// it against the store.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct NetworkCreate {
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) attachable: bool,
    /// `None`: the next free /24 of the default address pool.
    pub(crate) subnet: Option<Ipv4Net>,
    /// `None`: the subnet's first host.
    pub(crate) gateway: Option<Ipv4Addr>,
    /// `false` only for an explicit `--opt encrypted=false`.
    pub(crate) encrypted: bool,
}

/// A container outside services asks for an address on an attachable network.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ContainerAttach {
    pub(crate) network_id: String,
    pub(crate) container_id: String,
    /// The container's name, then its aliases on the network.
    pub(crate) names: Vec<String>,
    /// The address it asks for (`--ip`); `None`: the lowest free one.
    pub(crate) ipv4: Option<Ipv4Addr>,
    /// The run of the caller's daemon (see `NodeDescription::run`).
    pub(crate) run: String,
}

/// An overlay network as managers show it: never its keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NetworkView {
    pub(crate) id: String,
    pub(crate) version: u64,
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    pub(crate) attachable: bool,
    pub(crate) vni: u32,
    pub(crate) subnet: Ipv4Net,
    pub(crate) gateway: Ipv4Addr,
    pub(crate) encrypted: bool,
    /// The routing mesh's network (`Ingress: true` in inspect).
    #[serde(default)]
    pub(crate) ingress: bool,
}

/// A cluster-state call. It runs on the leader: locally there, passed on from elsewhere.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ControlCall {
    Summary,
    SwarmInspect,
    SwarmUpdate(Box<SwarmUpdate>),
    UnlockKey,
    NodeList,
    NodeInspect {
        reference: String,
    },
    NodeUpdate {
        reference: String,
        version: u64,
        spec: NodeSpecUpdate,
    },
    NodeRemove {
        reference: String,
        force: bool,
    },
    SecretCreate(SecretCreate),
    SecretList,
    SecretInspect {
        reference: String,
    },
    SecretUpdate(ValueUpdate),
    SecretRemove {
        reference: String,
    },
    ServiceCreate(Box<ServiceSpec>),
    /// Sets the image policy (a TOML document, validated before it is stored).
    PolicySet {
        text: String,
    },
    PolicyInspect,
    PolicyLog,
    ServiceList,
    ServiceInspect {
        reference: String,
    },
    ServiceUpdate {
        reference: String,
        version: u64,
        spec: Box<ServiceSpec>,
        rollback: bool,
    },
    ServiceRemove {
        reference: String,
    },
    TaskList,
    TaskInspect {
        reference: String,
    },
    ConfigCreate(SecretCreate),
    ConfigList,
    ConfigInspect {
        reference: String,
    },
    ConfigUpdate(ValueUpdate),
    ConfigRemove {
        reference: String,
    },
    NetworkCreate(NetworkCreate),
    NetworkList,
    NetworkInspect {
        reference: String,
    },
    NetworkRemove {
        reference: String,
    },
    LogsOpen(LogsOpen),
    LogsNext {
        subscription: String,
        cursor: u64,
    },
    /// A join, passed on by the manager that received it, with the address it saw.
    Join {
        request: JoinCertRequest,
        peer_ip: String,
    },
    /// A node's own call; `peer_cert_der` is the certificate the receiving manager verified.
    Node {
        peer_cert_der: Vec<u8>,
        call: NodeCall,
    },
}

impl ControlCall {
    /// Whether the call only reads cluster state (and so must first confirm leadership to see
    /// every acknowledged write).
    pub(crate) fn is_read(&self) -> bool {
        matches!(
            self,
            Self::Summary
                | Self::SwarmInspect
                | Self::UnlockKey
                | Self::NodeList
                | Self::NodeInspect { .. }
                | Self::SecretList
                | Self::SecretInspect { .. }
                | Self::ServiceList
                | Self::ServiceInspect { .. }
                | Self::TaskList
                | Self::TaskInspect { .. }
                | Self::ConfigList
                | Self::ConfigInspect { .. }
                | Self::PolicyInspect
                | Self::PolicyLog
                | Self::NetworkList
                | Self::NetworkInspect { .. }
        )
    }
}

/// The answer to a [`ControlCall`].
#[derive(Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // replies are moved once, never stored
pub(crate) enum ControlReply {
    Summary(ClusterSummary),
    Swarm(Box<SwarmView>),
    UnlockKey(Option<UnlockKeyText>),
    Nodes(Vec<NodeView>),
    Node(Box<NodeView>),

    Secrets(Vec<SecretView>),
    Secret(SecretView),
    Join(JoinCertResponse),
    Heartbeat(HeartbeatResponse),
    Renew(RenewResponse),
    ObjectId(String),
    /// A service stored after admission, with the warnings audit-mode rules left.
    ServiceAdmitted {
        id: String,
        warnings: Vec<String>,
    },
    Policy(Option<PolicyView>),
    PolicyLog(Vec<LogEntry>),
    Services(Vec<ServiceView>),
    Service(Box<ServiceView>),
    Tasks(Vec<TaskView>),
    Task(Box<TaskView>),
    Configs(Vec<ConfigView>),
    Config(Box<ConfigView>),
    Networks(Vec<NetworkView>),
    Network(Box<NetworkView>),
    Assignments(Assignments),
    /// A container's address on the network it was attached to.
    Attached(Ipv4Net),
    TaskFiles(TaskFiles),
    LogBatch(LogBatch),
    Done,
}

/// The unlock key's text (`SWMKEY-1-…`), as `GET /swarm/unlockkey` returns it: zeroized on
/// drop, never printed.
#[derive(Clone, Serialize, Deserialize)]
#[serde(transparent)]
pub(crate) struct UnlockKeyText(pub(crate) Zeroizing<String>);

impl fmt::Debug for UnlockKeyText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UnlockKeyText(<redacted>)")
    }
}

/// The cluster object as managers show it: no CA key, no unlock key. The join tokens are
/// secret: `Debug` leaves them out.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct SwarmView {
    pub(crate) id: ClusterId,
    pub(crate) version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) spec: ClusterSpec,
    pub(crate) trust_root_pem: String,
    pub(crate) issuer: IssuerInfo,
    pub(crate) root_rotation_in_progress: bool,
    /// Only in `GET /swarm`, never in `docker info`.
    pub(crate) worker_token: String,
    pub(crate) manager_token: String,
}

impl fmt::Debug for SwarmView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SwarmView")
            .field("id", &self.id)
            .field("version", &self.version)
            .field("spec", &self.spec)
            .finish_non_exhaustive()
    }
}

/// A node with its liveness.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NodeView {
    pub(crate) node: NodeObject,
    pub(crate) version: u64,
    pub(crate) ready: bool,
    pub(crate) manager: Option<ManagerView>,
}

/// A manager's raft status.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ManagerView {
    pub(crate) leader: bool,
    pub(crate) reachable: bool,
    pub(crate) addr: String,
}

/// A secret's metadata (never its value).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SecretView {
    pub(crate) id: String,
    pub(crate) version: u64,
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
}

/// What `docker info` shows of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClusterSummary {
    pub(crate) swarm: SwarmView,
    pub(crate) nodes: u64,
    pub(crate) managers: u64,
    /// `(node ID, cluster address)` of each manager.
    pub(crate) remote_managers: Vec<(String, String)>,
}

#[cfg(test)]
mod fuzz_tests;
