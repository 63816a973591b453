//! `/nodes*`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{ObjectVersion, TlsInfo};

/// A node as `GET /nodes` reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Node {
    /// Node ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Version for `POST /nodes/{id}/update?version=`.
    pub version: ObjectVersion,
    /// When the node joined.
    pub created_at: String,
    /// Last change.
    pub updated_at: String,
    /// Operator-controlled settings.
    pub spec: NodeSpec,
    /// What the node reports about itself.
    pub description: NodeDescription,
    /// Liveness.
    pub status: NodeStatus,
    /// Present for managers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manager_status: Option<ManagerStatus>,
}

/// `Node.Spec`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeSpec {
    /// Optional name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// Labels.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// `manager` or `worker`.
    pub role: String,
    /// `active`, `pause` or `drain`.
    pub availability: String,
}

/// `Node.Description`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeDescription {
    /// Host name.
    pub hostname: String,
    /// OS and architecture.
    pub platform: NodePlatform,
    /// CPU and memory.
    pub resources: NodeResources,
    /// Engine details.
    pub engine: EngineDescription,
    /// The root this node trusts and the issuer of its certificate.
    #[serde(rename = "TLSInfo")]
    pub tls_info: TlsInfo,
}

/// `Node.Description.Platform`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct NodePlatform {
    /// CPU architecture.
    #[serde(rename = "Architecture")]
    pub architecture: String,
    /// Operating system.
    #[serde(rename = "OS")]
    pub os: String,
}

/// `Node.Description.Resources`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeResources {
    /// CPUs × 10⁹.
    #[serde(rename = "NanoCPUs")]
    pub nano_cpus: i64,
    /// Memory in bytes.
    pub memory_bytes: i64,
}

/// `Node.Description.Engine`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EngineDescription {
    /// Engine version.
    pub engine_version: String,
    /// Engine labels.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub labels: BTreeMap<String, String>,
    /// Plugins.
    #[serde(default, deserialize_with = "super::null_as_default")]
    pub plugins: Vec<PluginDescription>,
}

/// `Node.Description.Engine.Plugins[]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PluginDescription {
    /// Plugin kind.
    pub r#type: String,
    /// Plugin name.
    pub name: String,
}

/// `Node.Status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NodeStatus {
    /// `unknown`, `down`, `ready` or `disconnected`.
    pub state: String,
    /// Detail.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The node's address.
    pub addr: String,
}

/// `Node.ManagerStatus`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ManagerStatus {
    /// Whether this manager leads.
    pub leader: bool,
    /// `reachable` or `unreachable`.
    pub reachability: String,
    /// Cluster address.
    pub addr: String,
}

/// Query of `POST /nodes/{id}/update`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct UpdateNodeQuery {
    /// The node version the spec was read at.
    pub version: Option<u64>,
}

/// Query of `DELETE /nodes/{id}` and `POST /swarm/leave`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ForceQuery {
    /// `1`/`true` to force.
    #[serde(default)]
    pub force: Option<String>,
}

impl ForceQuery {
    /// Whether force was asked for (`1`, `true`, as Go's `strconv.ParseBool`).
    pub fn is_forced(&self) -> bool {
        matches!(self.force.as_deref(), Some("1" | "t" | "T" | "true" | "TRUE" | "True"))
    }
}
