//! Overlay networks: swarm-scope networks the managers own, with their addressing, their VXLAN
//! identifier and, for encrypted ones, their keys. Services attach to them; each task gets an
//! address on each network of its service, and each service (in `vip` mode) a virtual IP.
//!
//! A network's keys are secret material: they are kept in its record (sealed by the store like
//! every record), zeroized on drop, never printed, and leave the managers only towards nodes
//! that run a live task attached to the network (see `manager::dispatcher`).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use palisade_pki::NodeId;
use palisade_store::Table;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use zeroize::Zeroizing;

use super::Object;

/// The first VXLAN network identifier given to a network (Docker's first user overlay's).
pub(crate) const FIRST_VNI: u32 = 4097;
/// The ingress network's VXLAN network identifier (Docker's ingress network's).
pub(crate) const INGRESS_VNI: u32 = 4096;
/// The ingress network's name.
pub(crate) const INGRESS_NAME: &str = "ingress";
/// The largest VXLAN network identifier (24 bits).
pub(crate) const MAX_VNI: u32 = (1 << 24) - 1;
/// Length of a network key, in bytes.
pub(crate) const NETWORK_KEY_LEN: usize = 32;

/// An overlay network, keyed by its name (unique; networks are never renamed).
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct NetworkObject {
    pub(crate) id: String,
    pub(crate) name: String,
    pub(crate) labels: BTreeMap<String, String>,
    #[serde(with = "super::timestamp")]
    pub(crate) created_at: OffsetDateTime,
    #[serde(with = "super::timestamp")]
    pub(crate) updated_at: OffsetDateTime,
    /// Containers outside services may attach (`--attachable`).
    pub(crate) attachable: bool,
    /// Invariant: unique among networks, in `FIRST_VNI..=MAX_VNI`.
    pub(crate) vni: u32,
    /// Invariant: overlaps no other network's subnet; `gateway` is one of its hosts.
    pub(crate) subnet: Ipv4Net,
    pub(crate) gateway: Ipv4Addr,
    /// The keys of an encrypted network; `None`: the operator opted out (`encrypted=false`).
    pub(crate) keys: Option<NetworkKeys>,
    /// Its removal was asked while tasks that are ending still held addresses on it (swarmkit's
    /// `PendingDelete`): users no longer see it and no service may attach to it, but its nodes
    /// keep it until those tasks end; the leader then deletes the record. Its name, subnet and
    /// VNI stay taken until then.
    #[serde(default)]
    pub(crate) removing: bool,
    /// The routing mesh of published ports: every node is on it (with an address of its own)
    /// while a service publishes a port, and the tasks of those services are. Made by the
    /// leader when a service first publishes a port; at most one.
    #[serde(default)]
    pub(crate) ingress: bool,
    /// Containers outside services attached to it (only on an attachable network), each
    /// holding an address until it is detached, or its node's daemon restarts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) containers: Vec<ContainerAttachment>,
}

/// A container outside services on an attachable network (`docker run --network NAME` on one
/// of the nodes): dockerd's network attachment. It is made when the container starts, released
/// when it stops, and belongs to one run of its node's daemon: a daemon that restarts has
/// stopped every container, so the attachments of its earlier runs are released then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ContainerAttachment {
    /// The container's ID on its node.
    pub(crate) container_id: String,
    /// Its name and aliases: what the network's nodes resolve to `addr`.
    pub(crate) names: Vec<String>,
    pub(crate) node_id: NodeId,
    /// The run of the node's daemon that made it (see [`NodeDescription::run`]).
    ///
    /// [`NodeDescription::run`]: super::NodeDescription
    pub(crate) run: String,
    /// Invariant: a host of the network's subnet, held by nothing else on it.
    pub(crate) addr: Ipv4Net,
}

impl std::fmt::Debug for NetworkObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkObject")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("vni", &self.vni)
            .field("subnet", &self.subnet)
            .field("encrypted", &self.keys.is_some())
            .finish_non_exhaustive()
    }
}

impl Object for NetworkObject {
    const TABLE: Table = Table::Networks;
    const KIND: &'static str = "network";
    fn key(&self) -> String {
        self.name.clone()
    }
}

impl NetworkObject {
    /// Whether traffic on it is encrypted (the default).
    pub(crate) fn encrypted(&self) -> bool {
        self.keys.is_some()
    }

    /// Whether it is the routing mesh's network in force (not one being removed).
    pub(crate) fn is_live_ingress(&self) -> bool {
        self.ingress && !self.removing
    }
}

/// An encrypted network's keys: the current one, and the one it replaced while that stays
/// valid for traffic already under way.
///
/// Invariant: `previous`, when set, has a lower generation than `current`.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct NetworkKeys {
    pub(crate) current: NetworkKey,
    pub(crate) previous: Option<NetworkKey>,
}

impl NetworkKeys {
    /// The keys valid at `now`: the current one first, then the previous one until its grace
    /// period ends.
    pub(crate) fn valid_at(&self, now: OffsetDateTime) -> impl Iterator<Item = &NetworkKey> {
        std::iter::once(&self.current).chain(self.previous.iter().filter(move |p| p.valid_until.is_none_or(|until| until > now)))
    }
}

/// One key of a network. Never printed; zeroized on drop.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct NetworkKey {
    /// 1 for a network's first key, one more at each rotation.
    pub(crate) generation: u64,
    #[serde(with = "super::secret_bytes")]
    pub(crate) key: Zeroizing<Vec<u8>>,
    #[serde(with = "super::timestamp")]
    pub(crate) created_at: OffsetDateTime,
    /// When it stops being valid (set when a newer key replaces it).
    #[serde(with = "super::timestamp::option")]
    pub(crate) valid_until: Option<OffsetDateTime>,
}

impl std::fmt::Debug for NetworkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkKey").field("generation", &self.generation).field("key", &"<redacted>").finish()
    }
}

/// A service's attachment to a network, as its spec asks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NetworkAttachment {
    /// The network's ID (filled in from the name the request gave, when it gave one).
    pub(crate) network_id: String,
    pub(crate) aliases: Vec<String>,
}

/// How a service is reached on its networks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum EndpointMode {
    /// One virtual IP per network (Docker's default).
    #[default]
    Vip,
    /// No virtual IP: the service's name resolves to its tasks' addresses.
    Dnsrr,
}

/// An address a manager allocated on a network: a task's, or a service's virtual IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct NetworkAddress {
    pub(crate) network_id: String,
    /// The address with the network's prefix length (`10.0.1.3/24`).
    /// Invariant: a host of the network's subnet, held by nothing else on that network.
    pub(crate) addr: Ipv4Net,
}

impl NetworkAddress {
    /// The MAC address a task's interface takes on its network: derived from the address as
    /// Docker does (`02:42:` and the four octets), so it is unique wherever the address is.
    pub(crate) fn mac(&self) -> String {
        let [a, b, c, d] = self.addr.addr().octets();
        format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
    }
}

/// The ports the cluster gives out when a service publishes one without naming it (Docker's
/// dynamic range).
pub(crate) const DYNAMIC_PORTS: std::ops::RangeInclusive<u16> = 30000..=32767;

/// A port a service publishes in ingress mode: every node answers on `published` and
/// forwards each connection (or UDP flow) to `target` on one of the service's running tasks.
/// In a spec, `published` 0 leaves the port to the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PublishedPort {
    pub(crate) protocol: Protocol,
    pub(crate) target: u16,
    pub(crate) published: u16,
}

/// The transport protocol of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
        }
    }
}
