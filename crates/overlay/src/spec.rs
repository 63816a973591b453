//! What the cluster layer hands the data plane: the network (VNI, namespace, underlay,
//! encryption), its peers and its endpoints. Constructors check what they can, so a value
//! that exists is one the data plane can build.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

use ipnet::Ipv4Net;

use crate::error::{Error, Result};
use crate::keys::{NetworkKey, NodeKey, PublicKey};

/// The IANA VXLAN port (RFC 7348), on the underlay for plain networks and inside the
/// network's namespace for encrypted ones.
pub const VXLAN_PORT: u16 = 4789;

/// Bytes VXLAN adds to each frame on an IPv4 underlay: outer IPv4 (20) + UDP (8) + VXLAN
/// header (8) + the inner Ethernet header (14).
pub const VXLAN_OVERHEAD: u32 = 50;

/// Bytes WireGuard adds to each packet on an IPv4 underlay: outer IPv4 (20) + UDP (8) + data
/// message header (16) + Poly1305 tag (16).
pub const WIREGUARD_OVERHEAD: u32 = 60;

/// The smallest overlay MTU accepted: IPv6's minimum link MTU, so containers may speak either.
const MIN_OVERLAY_MTU: u32 = 1280;

/// A VXLAN network identifier. Invariant: `1 ..= 2^24 - 1` (24 bits, 0 is reserved here).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vni(u32);

impl Vni {
    /// The VNI `id`, if it fits 24 bits and is not 0.
    pub fn new(id: u32) -> Result<Self> {
        if id == 0 || id >= 1 << 24 {
            return Err(Error::InvalidArgument(format!("VNI {id} is outside 1..=16777215")));
        }
        Ok(Self(id))
    }

    /// Its value.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// The node's side of the underlay: where its traffic to other nodes leaves.
#[derive(Clone, Debug)]
pub struct Underlay {
    /// The namespace holding the node's underlay interface; `None` for the daemon's own.
    pub netns: Option<PathBuf>,
    /// The node's address there (other nodes know it as this node's [`Peer`] address).
    pub address: Ipv4Addr,
    /// The underlay's MTU (1500 on Ethernet); the overlay's is this less the encapsulation.
    pub mtu: u32,
}

/// How traffic between nodes is protected. There is no default: the cluster layer chooses
/// `WireGuard` unless the user asked for `encrypted=false`.
#[derive(Debug)]
pub enum Encryption {
    /// Explicit opt-out (`--opt encrypted=false`): VXLAN in clear on the underlay.
    Off,
    /// VXLAN inside userspace WireGuard between the nodes.
    WireGuard {
        /// This node's static key.
        node_key: NodeKey,
        /// The network's current key.
        network_key: NetworkKey,
        /// The UDP port of this network's tunnel on the underlay address.
        listen_port: u16,
    },
}

/// One overlay network on this node.
#[derive(Debug)]
pub struct OverlaySpec {
    /// The network's VXLAN identifier, the same on every node.
    pub vni: Vni,
    /// Where to create the network's namespace (a new file, e.g. `<data-root>/run/overlay/<id>`).
    pub netns: PathBuf,
    /// The node's underlay.
    pub underlay: Underlay,
    /// Encrypted or not.
    pub encryption: Encryption,
}

impl OverlaySpec {
    /// The MTU of the overlay's links (bridge, VXLAN, containers' veths): the underlay's less
    /// VXLAN's overhead and, when encrypted, WireGuard's.
    pub fn overlay_mtu(&self) -> Result<u32> {
        let overhead = VXLAN_OVERHEAD + self.tunnel_overhead();
        let mtu = self.underlay.mtu.saturating_sub(overhead);
        if mtu < MIN_OVERLAY_MTU {
            return Err(Error::InvalidArgument(format!(
                "underlay MTU {} leaves {mtu} bytes after {overhead} bytes of encapsulation; at least {MIN_OVERLAY_MTU} are needed",
                self.underlay.mtu
            )));
        }
        Ok(mtu)
    }

    /// The MTU of the TUN device of an encrypted network: the underlay's less WireGuard's overhead.
    pub(crate) fn tunnel_mtu(&self) -> u32 {
        self.underlay.mtu.saturating_sub(WIREGUARD_OVERHEAD)
    }

    fn tunnel_overhead(&self) -> u32 {
        match self.encryption {
            Encryption::Off => 0,
            Encryption::WireGuard { .. } => WIREGUARD_OVERHEAD,
        }
    }
}

/// Another node of the network. Its kind must match the network's encryption.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Peer {
    /// A node of an encrypted network: its tunnel's UDP endpoint on the underlay and its
    /// static public key.
    Encrypted {
        /// Underlay address and tunnel port.
        endpoint: SocketAddrV4,
        /// Its [`NodeKey`]'s public half.
        public_key: PublicKey,
    },
    /// A node of a plain network: its underlay address.
    Plain(Ipv4Addr),
}

impl Peer {
    /// The node's underlay address, which identifies it among the peers.
    pub fn address(&self) -> Ipv4Addr {
        match self {
            Self::Encrypted { endpoint, .. } => *endpoint.ip(),
            Self::Plain(address) => *address,
        }
    }
}

/// A container's attachment to the network.
#[derive(Clone, Debug)]
pub struct EndpointSpec {
    /// The container's network namespace file.
    pub netns: PathBuf,
    /// The interface's name inside the container (`eth1`, …).
    pub ifname: String,
    /// The container's address on the overlay and the subnet's prefix length.
    pub address: Ipv4Net,
    /// Its MAC address.
    pub mac: [u8; 6],
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(mtu: u32, encryption: Encryption) -> OverlaySpec {
        OverlaySpec {
            vni: Vni::new(4097).unwrap(),
            netns: PathBuf::from("/nonexistent"),
            underlay: Underlay { netns: None, address: Ipv4Addr::new(192, 0, 2, 1), mtu },
            encryption,
        }
    }

    #[test]
    fn mtu_leaves_room_for_vxlan_and_wireguard() {
        let wg = || Encryption::WireGuard { node_key: NodeKey::generate(), network_key: NetworkKey::generate(1), listen_port: 51820 };
        assert_eq!(spec(1500, Encryption::Off).overlay_mtu().unwrap(), 1450);
        let encrypted = spec(1500, wg());
        assert_eq!(encrypted.overlay_mtu().unwrap(), 1390);
        assert_eq!(encrypted.tunnel_mtu(), 1440);
        assert!(spec(1380, wg()).overlay_mtu().is_err());
    }

    #[test]
    fn vni_is_24_bits_and_not_zero() {
        assert!(Vni::new(0).is_err());
        assert!(Vni::new(1 << 24).is_err());
        assert_eq!(Vni::new((1 << 24) - 1).unwrap().get(), 16_777_215);
    }
}
