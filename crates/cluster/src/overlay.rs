//! The desired overlay state of one node: what the data plane (VXLAN, encryption) must set up
//! on this node, as the managers decide it. The leader sends it with the node's assignments
//! over the mutual-TLS cluster port, and the worker keeps the node's copy current in a
//! [`tokio::sync::watch`] channel ([`crate::Daemon::overlay_state`]).
//!
//! Invariants the managers keep (see `manager::dispatcher`):
//! * a node receives a network only while a task assigned to it is attached to the network
//!   (from its scheduling until it ends), or one of its containers is (from its start until
//!   it stops): so a node never holds the keys of a network it has nothing on, and stops
//!   receiving them once its last task or container there ends;
//! * an encrypted network carries its current key and, for a grace period after a rotation,
//!   the previous one; generations only grow.

use std::fmt;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

/// Everything this node should have of the overlay networks, by network.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayState {
    /// The networks this node runs tasks on (and the ingress network, see `ingress`), by ID
    /// order.
    pub networks: Vec<OverlayNetwork>,
    /// While a service publishes a port: this node's part in the routing mesh.
    #[serde(default)]
    pub ingress: Option<OverlayIngress>,
}

/// This node's part in the routing mesh: it is on the ingress network (one of `networks`) at
/// `address`, and answers on each published port by forwarding to one of the port's tasks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayIngress {
    /// The ingress network's ID.
    pub network_id: String,
    /// This node's address there (connections it forwards come from it).
    pub address: Ipv4Net,
    /// The ports published.
    pub ports: Vec<IngressPort>,
}

/// A published port and where it leads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IngressPort {
    /// `tcp` or `udp`.
    pub protocol: String,
    /// The port every node answers on.
    pub published: u16,
    /// The port on the tasks.
    pub target: u16,
    /// The ingress addresses of the service's running tasks.
    pub tasks: Vec<Ipv4Addr>,
}

/// One overlay network as this node must set it up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayNetwork {
    /// The network's ID.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its VXLAN network identifier (unique in the cluster).
    pub vni: u32,
    /// Its subnet.
    pub subnet: Ipv4Net,
    /// Its gateway address.
    pub gateway: Ipv4Addr,
    /// Keys for its traffic between nodes: empty for a network created with
    /// `encrypted=false`, else the current key first, then the previous one while it is still
    /// valid.
    pub keys: Vec<OverlayKey>,
    /// The other nodes that run tasks on it.
    pub peers: Vec<OverlayPeer>,
    /// This node's tasks on it.
    pub attachments: Vec<OverlayAttachment>,
    /// The services attached to it, with their running tasks: what its names resolve to and
    /// its virtual IPs balance over, on every node of the network.
    #[serde(default)]
    pub services: Vec<OverlayService>,
    /// The containers outside services attached to it, on every node: what their names
    /// resolve to on the network.
    #[serde(default)]
    pub containers: Vec<OverlayContainer>,
}

impl OverlayNetwork {
    /// Whether traffic between nodes must be encrypted (`false` only for an explicit opt-out).
    pub fn encrypted(&self) -> bool {
        !self.keys.is_empty()
    }
}

/// A network key with its generation. Never printed; zeroized on drop.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayKey {
    /// Higher is newer.
    pub generation: u64,
    #[serde(with = "crate::model::secret_bytes")]
    key: Zeroizing<Vec<u8>>,
}

impl OverlayKey {
    pub(crate) fn new(generation: u64, key: Zeroizing<Vec<u8>>) -> Self {
        Self { generation, key }
    }

    /// The 32 key bytes.
    pub fn expose(&self) -> &[u8] {
        &self.key
    }
}

impl fmt::Debug for OverlayKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OverlayKey").field("generation", &self.generation).field("key", &"<redacted>").finish()
    }
}

/// Another node on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayPeer {
    /// Its node ID.
    pub node_id: String,
    /// Its underlay (advertised) address.
    pub addr: String,
    /// Its overlay key's public half (base64), as it reported it; empty until it has.
    #[serde(default)]
    pub public_key: String,
}

/// One of this node's tasks on the network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayAttachment {
    /// The task's ID.
    pub task_id: String,
    /// Its address on the network (prefix: the network's subnet's).
    pub addr: Ipv4Addr,
    /// Its interface's MAC address.
    pub mac: String,
}

/// A service on a network, as the network's nodes resolve and balance it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayService {
    /// The service's name, and the aliases its spec gives it on this network: what `NAME`
    /// and `tasks.NAME` resolve (lowercase comparison, as DNS does).
    pub names: Vec<String>,
    /// Its virtual IP on the network (`None` in `dnsrr` mode): `NAME` resolves to it, and
    /// connections to it are balanced over `tasks`.
    pub vip: Option<Ipv4Addr>,
    /// The addresses of its tasks that are running (the healthy ones), in task order.
    pub tasks: Vec<Ipv4Addr>,
}

impl OverlayService {
    /// Whether `name` (as asked, any case) is this service's.
    pub fn is_named(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// What `name` resolves to on this network: the VIP (or, in `dnsrr` mode, the running
    /// tasks) for the service's name or an alias; the running tasks for `tasks.NAME`; `None`
    /// when the name is not this service's.
    pub fn resolve(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        if let Some(service) = name.get(..6).filter(|p| p.eq_ignore_ascii_case("tasks.")).and(name.get(6..)) {
            return self.is_named(service).then(|| self.tasks.clone());
        }
        self.is_named(name).then(|| self.vip.map_or_else(|| self.tasks.clone(), |vip| vec![vip]))
    }
}

/// A container outside services on a network (`docker run --network NAME`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverlayContainer {
    /// Its name, then its aliases there (lowercase comparison, as DNS does).
    pub names: Vec<String>,
    /// Its address on the network.
    pub addr: Ipv4Addr,
}

impl OverlayContainer {
    /// Whether `name` (as asked, any case) is this container's.
    pub fn is_named(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}
