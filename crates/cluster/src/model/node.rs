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
    /// Its address on the ingress network (see `manager::ingress`), once it has one.
    #[serde(default)]
    pub(crate) ingress_addr: Option<ipnet::Ipv4Net>,
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

/// Longest hostname, OS or engine text a node may report (a hostname is at most 253 bytes).
const MAX_REPORTED: usize = 256;
/// Most plugins a node may report.
const MAX_PLUGINS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reported_descriptions_are_cut_to_size() {
        let huge = NodeDescription { hostname: "é".repeat(1_000_000), plugins: vec![("Log".into(), "x".into()); 1000], ..NodeDescription::default() };
        let bounded = huge.bounded();
        assert!(bounded.hostname.len() <= MAX_REPORTED && bounded.hostname.starts_with('é'));
        assert_eq!(bounded.plugins.len(), MAX_PLUGINS);
    }
}

impl NodeDescription {
    /// The description with what the node reported cut to size: it is stored and shown to
    /// users, so a node cannot fill the store or the screen with it.
    pub(crate) fn bounded(mut self) -> Self {
        for text in [&mut self.hostname, &mut self.os, &mut self.architecture, &mut self.engine_version, &mut self.overlay_key, &mut self.run] {
            truncate(text, MAX_REPORTED);
        }
        self.plugins.truncate(MAX_PLUGINS);
        for (kind, name) in &mut self.plugins {
            truncate(kind, MAX_REPORTED);
            truncate(name, MAX_REPORTED);
        }
        self
    }
}

/// Cuts `text` to at most `max` bytes, on a character boundary.
pub(crate) fn truncate(text: &mut String, max: usize) {
    if text.len() > max {
        let mut end = max;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
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
    /// The public half of the node's overlay key (WireGuard's, base64): what the other nodes
    /// of an encrypted overlay network authenticate it by. Empty for a node without an
    /// overlay data plane.
    #[serde(default)]
    pub(crate) overlay_key: String,
    /// Which run of the node's daemon reports (random, new at each start): a daemon that
    /// starts again has stopped every container, so what its earlier runs held for them
    /// (their network attachments) is released when this changes.
    #[serde(default)]
    pub(crate) run: String,
}
