//! The cluster port: wire types shared by its server and client.
//!
//! Calls are JSON over HTTP/1.1 inside mutual TLS. Paths under `/join/` are the only ones served
//! without a client certificate; `/node/` needs a node certificate of this cluster, `/control/`
//! a manager certificate.

mod client;
mod server;

use std::fmt;

use palisade_engine_api::types::{ClusterInfo, Node, NodeDescription, NodeSpec, PeerNode, Swarm, SwarmSpec};
use palisade_pki::{ClusterId, NodeId, NodeRole};
use serde::{Deserialize, Serialize};

pub(crate) use client::ManagerClient;
pub(crate) use server::ClusterServer;

pub(crate) const ROOT_CA_PATH: &str = "/join/v1/root-ca";
pub(crate) const JOIN_PATH: &str = "/join/v1/certificate";
pub(crate) const HEARTBEAT_PATH: &str = "/node/v1/heartbeat";
pub(crate) const RENEW_PATH: &str = "/node/v1/certificate";
pub(crate) const CONTROL_PATH: &str = "/control/v1";

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
    /// Port of the node's own cluster listener (reported for managers).
    pub(crate) listen_port: u16,
    pub(crate) availability: String,
}

impl fmt::Debug for JoinCertRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinCertRequest").field("token", &"<redacted>").field("advertise_addr", &self.advertise_addr).finish()
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
}

/// `POST /node/v1/heartbeat`.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HeartbeatRequest {
    pub(crate) description: NodeDescription,
}

/// What a node must do next.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct HeartbeatResponse {
    /// Send the next heartbeat within this many nanoseconds.
    pub(crate) period_ns: i64,
    /// The role the cluster wants this node in; when it differs from the certificate's, the
    /// node renews its certificate.
    pub(crate) desired_role: NodeRole,
    pub(crate) managers: Vec<String>,
    /// Renew now: the certificate is not from the current signer (root rotation).
    pub(crate) renew: bool,
    /// The trust bundle the node should hold.
    pub(crate) trust_root_pem: String,
}

/// `POST /node/v1/certificate`: renewal with a fresh key.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RenewRequest {
    pub(crate) csr_pem: String,
}

/// The renewed certificate.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct RenewResponse {
    pub(crate) cert_pem: String,
    pub(crate) root_ca_pem: String,
}

/// A cluster-state call. Managers run it on the leader: locally there, forwarded elsewhere.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ControlCall {
    Summary,
    SwarmInspect,
    SwarmUpdate { spec: Box<SwarmSpec>, version: Option<u64>, rotate_worker_token: bool, rotate_manager_token: bool },
    NodeList,
    NodeInspect { reference: String },
    NodeUpdate { reference: String, version: u64, spec: NodeSpec },
    NodeRemove { reference: String, force: bool },
}

/// The answer to a [`ControlCall`].
#[derive(Debug, Serialize, Deserialize)]
#[allow(clippy::large_enum_variant)] // replies are moved once, never stored
pub(crate) enum ControlReply {
    Summary(ClusterSummary),
    Swarm(Box<Swarm>),
    Nodes(Vec<Node>),
    Node(Box<Node>),
    Done,
}

/// What `docker info` shows of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ClusterSummary {
    pub(crate) cluster: ClusterInfo,
    pub(crate) nodes: u64,
    pub(crate) managers: u64,
    pub(crate) remote_managers: Vec<PeerNode>,
}
