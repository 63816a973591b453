//! What the leader persists, and how it is shown through the Engine API.

use std::collections::BTreeMap;

use palisade_engine_api::types::{
    self as api, ClusterInfo, ManagerStatus, NodeDescription, NodeStatus, ObjectVersion, SwarmSpec,
};
use palisade_pki::{ClusterId, NodeId, NodeRole};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// The cluster object. Stored sealed; it holds the CA key and the join-token secrets.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct ClusterRecord {
    pub(crate) id: ClusterId,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    /// Version of this object (`?version=` of `swarm update`).
    pub(crate) version: u64,
    /// Last index handed out to any object; every write takes the next one.
    pub(crate) last_index: u64,
    /// The spec, with the signing fields (`SigningCACert/Key`) always empty.
    pub(crate) spec: SwarmSpec,
    pub(crate) root_ca_cert_pem: String,
    pub(crate) root_ca_key_pem: String,
    pub(crate) worker_token: String,
    pub(crate) manager_token: String,
    /// Removed nodes, refused until their last certificate would have expired.
    pub(crate) removed: BTreeMap<NodeId, RemovedNode>,
    /// A root CA rotation under way.
    #[serde(default)]
    pub(crate) rotation: Option<RootRotation>,
}

/// The root being rotated to (swarmkit's `RootRotation`). While it exists, certificates are
/// issued by the new root with `cross_signed_pem` appended; it ends when every node holds one.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct RootRotation {
    pub(crate) new_cert_pem: String,
    pub(crate) new_key_pem: String,
    /// The new root's subject and key, signed by the old root.
    pub(crate) cross_signed_pem: String,
}

/// A tombstone for a removed node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct RemovedNode {
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) until: OffsetDateTime,
}

impl ClusterRecord {
    /// Takes the next object index.
    pub(crate) fn next_index(&mut self) -> u64 {
        self.last_index += 1;
        self.last_index
    }

    pub(crate) fn to_api(&self, tls_info: api::TlsInfo) -> ClusterInfo {
        ClusterInfo {
            id: self.id.to_string(),
            version: ObjectVersion { index: self.version },
            created_at: api::timestamp(self.created_at),
            updated_at: api::timestamp(self.updated_at),
            spec: self.spec.clone(),
            tls_info,
            root_rotation_in_progress: self.rotation.is_some(),
            data_path_port: 4789,
            default_addr_pool: vec!["10.0.0.0/8".to_owned()],
            subnet_size: 24,
        }
    }
}

/// A node of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NodeRecord {
    pub(crate) id: NodeId,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) updated_at: OffsetDateTime,
    pub(crate) version: u64,
    /// The role the cluster wants the node in.
    pub(crate) role: NodeRole,
    pub(crate) availability: String,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) name: String,
    /// What the node last reported about itself.
    pub(crate) description: NodeDescription,
    /// The node's IP address.
    pub(crate) addr: String,
    /// Port of the node's cluster listener.
    pub(crate) listen_port: u16,
    /// Expiry of the newest certificate issued to the node.
    #[serde(with = "time::serde::rfc3339")]
    pub(crate) cert_not_after: OffsetDateTime,
    /// Subject and public key (base64 DER) of the certificate that issued the node's newest
    /// certificate: how the cluster knows which root each node has moved to.
    #[serde(default)]
    pub(crate) issuer: IssuerInfo,
}

/// `TLSInfo.CertIssuerSubject` / `CertIssuerPublicKey`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IssuerInfo {
    pub(crate) subject: String,
    pub(crate) public_key: String,
}

/// How a node looks right now (computed from heartbeats, never stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Liveness {
    pub(crate) ready: bool,
    pub(crate) leader: bool,
}

impl NodeRecord {
    pub(crate) fn manager_addr(&self) -> String {
        format!("{}:{}", self.addr, self.listen_port)
    }

    pub(crate) fn to_api(&self, liveness: Liveness) -> api::Node {
        let manager_status = (self.role == NodeRole::Manager).then(|| ManagerStatus {
            leader: liveness.leader,
            reachability: if liveness.ready { "reachable" } else { "unreachable" }.to_owned(),
            addr: self.manager_addr(),
        });
        api::Node {
            id: self.id.to_string(),
            version: ObjectVersion { index: self.version },
            created_at: api::timestamp(self.created_at),
            updated_at: api::timestamp(self.updated_at),
            spec: api::NodeSpec {
                name: self.name.clone(),
                labels: self.labels.clone(),
                role: self.role.as_str().to_owned(),
                availability: self.availability.clone(),
            },
            description: NodeDescription {
                tls_info: api::TlsInfo {
                    trust_root: self.description.tls_info.trust_root.clone(),
                    cert_issuer_subject: self.issuer.subject.clone(),
                    cert_issuer_public_key: self.issuer.public_key.clone(),
                },
                ..self.description.clone()
            },
            status: NodeStatus {
                state: if liveness.ready { "ready" } else { "down" }.to_owned(),
                message: String::new(),
                addr: self.addr.clone(),
            },
            manager_status,
        }
    }
}
