//! Palisade's own cluster model: the typed records the replicated store holds.
//!
//! These are domain types, not wire types: Engine-API structs (`SwarmSpec`, `Node`, ...) are
//! converted to and from them in [`crate::api`] and are never persisted. Every record is stored
//! as JSON, sealed by the store; its version is the raft index of the write that stored it.

mod cluster;
mod network;
mod node;
mod policy;
mod records;
mod secret;
mod service;
mod task;

pub(crate) use cluster::{ClusterObject, ClusterSpec, ExternalCaSpec, RaftSettings, RemovedNode};
pub(crate) use network::{
    ContainerAttachment,
    EndpointMode, NetworkAddress, NetworkAttachment, NetworkKey, NetworkKeys, NetworkObject, Protocol, PublishedPort, DYNAMIC_PORTS,
    FIRST_VNI, INGRESS_NAME, INGRESS_VNI, MAX_VNI, NETWORK_KEY_LEN,
};
pub(crate) use node::{cluster_addr, truncate, Availability, NodeDescription, NodeObject};
pub(crate) use policy::{LogEntry, LogKind, PolicyObject, MAX_LOG_ENTRIES, POLICY_KEY};
pub(crate) use records::{Object, Records, Versioned, WriteSet};
pub(crate) use secret::{secret_bytes, ConfigKind, ConfigObject, NamedValue, SecretKind, SecretObject, ValueKind};
pub(crate) use service::{
    Constraint, FailureAction, FileGrant, RestartCondition, RestartPolicy, ServiceMode, ServiceObject, ServiceSpec, TaskSpec,
    UpdatePolicy, UpdateProgress, UpdateState,
};
pub(crate) use task::{TaskObject, TaskState, TaskStatus};

/// RFC 3339 timestamps in records.
pub(crate) mod timestamp {
    pub(crate) use time::serde::rfc3339::{deserialize, option, serialize};
}
