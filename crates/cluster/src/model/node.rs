//! Nodes: what the operator set, what the node reports, and what the CA issued it.

use std::collections::BTreeMap;

use palisade_pki::{IssuerInfo, NodeId, NodeRole};
use palisade_store::Table;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Object;
use crate::error::{Error, Result};

/// A node of the cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct NodeObject {
    pub(crate) id: NodeId,
    #[serde(with = "super::timestamp")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "super::timestamp")]
    pub(crate) updated_at: OffsetDateTime,
    /// The role the cluster wants the node in.
    pub(crate) role: NodeRole,
    pub(crate) availability: Availability,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) name: String,
    /// What the node last reported about itself.
    pub(crate) description: NodeDescription,
    /// The node's IP address.
    pub(crate) addr: String,
    /// Port of the node's cluster listener (managers serve on it).
    pub(crate) listen_port: u16,
    /// Expiry of the newest certificate issued to the node.
    #[serde(with = "super::timestamp")]
    pub(crate) cert_not_after: OffsetDateTime,
    /// Who issued the node's newest certificate: how a root rotation knows who has moved.
    pub(crate) issuer: IssuerInfo,
    /// The node's raft member ID while it is (or is becoming) a manager.
    pub(crate) raft_id: Option<u64>,
}

impl Object for NodeObject {
    const TABLE: Table = Table::Nodes;
    const KIND: &'static str = "node";
    fn key(&self) -> String {
        self.id.to_string()
    }
}

impl NodeObject {
    /// `IP:PORT` of its cluster port.
    pub(crate) fn cluster_addr(&self) -> String {
        cluster_addr(&self.addr, self.listen_port)
    }
}

/// `IP:PORT` of a cluster port (IPv6 in brackets), from the address a node advertises.
pub(crate) fn cluster_addr(addr: &str, port: u16) -> String {
    match addr.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{addr}:{port}"),
    }
}

/// Whether the scheduler may place work on a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Availability {
    #[default]
    Active,
    Pause,
    Drain,
}

impl Availability {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Pause => "pause",
            Self::Drain => "drain",
        }
    }

    /// Parses the Engine API's text; empty means `active`.
    pub(crate) fn parse(text: &str) -> Result<Self> {
        match text {
            "" | "active" => Ok(Self::Active),
            "pause" => Ok(Self::Pause),
            "drain" => Ok(Self::Drain),
            other => Err(Error::invalid(format!(
                "invalid availability {other:?}, only active, pause and drain are supported"
            ))),
        }
    }
}

/// What a node reports about itself on every heartbeat.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NodeDescription {
    pub(crate) hostname: String,
    pub(crate) os: String,
    pub(crate) architecture: String,
    pub(crate) nano_cpus: i64,
    pub(crate) memory_bytes: i64,
    pub(crate) engine_version: String,
    /// `(type, name)` of each plugin.
    pub(crate) plugins: Vec<(String, String)>,
    /// The trust bundle the node holds.
    pub(crate) trust_root_pem: String,
}
