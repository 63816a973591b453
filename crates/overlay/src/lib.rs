//! The data plane of overlay networks on one node, as Docker's overlay driver builds it: each
//! network gets a namespace of its own holding a Linux bridge and a VXLAN device (the
//! network's VNI) attached to it; containers attach with veth pairs to that bridge; the other
//! nodes of the network (peers) are static FDB entries on the VXLAN device (head-end
//! replication, no multicast).
//!
//! Encrypted networks (the default) never let VXLAN reach the underlay in clear: their VXLAN
//! device sends to the peers' addresses through a TUN device in the same namespace, and a
//! userspace WireGuard tunnel ([boringtun]) carries what it reads to the peers over UDP on
//! the underlay. The network key the managers issue is WireGuard's preshared key, next to the
//! nodes' static X25519 keys, so only nodes given the network's key take part; [`Overlay::rotate`]
//! replaces it while traffic flows. [`Encryption::Off`] is the explicit opt-out: VXLAN
//! directly over the underlay.
//!
//! ```text
//!  node (underlay namespace)            network namespace (one per overlay network)
//!  ─────────────────────────            ──────────────────────────────────────────────
//!  eth0 192.168.0.2 ── UDP :port ◄──►  [tunnel task] ◄──► wg0 (TUN, 192.168.0.2/32,
//!                      WireGuard                           default route) ◄── vxlan0 ── br0 ── veth ── container
//! ```
//!
//! How the cluster layer drives it, for one encrypted network on one node:
//!
//! ```no_run
//! # async fn example() -> palisade_overlay::Result<()> {
//! use palisade_overlay::*;
//! let node_key = NodeKey::generate(); // kept by the node; its public half goes to the others
//! let mut overlay = Overlay::create(OverlaySpec {
//!     vni: Vni::new(4097)?,
//!     netns: "/var/lib/palisade/run/overlay/dbnet".into(),
//!     underlay: Underlay { netns: None, address: "192.168.0.2".parse().unwrap(), mtu: 1500 },
//!     encryption: Encryption::WireGuard { node_key, network_key: NetworkKey::generate(1), listen_port: 4790 },
//! })
//! .await?;
//! let other: PublicKey = "uMWP1wY1cDC0XkhmU8kuWMw6vsDAp5eJmL2wI3pmhE0=".parse()?;
//! overlay.add_peer(Peer::Encrypted { endpoint: "192.168.0.3:4790".parse().unwrap(), public_key: other }).await?;
//! let endpoint = overlay
//!     .attach(&EndpointSpec {
//!         netns: "/var/lib/palisade/containers/abc/netns".into(),
//!         ifname: "eth1".into(),
//!         address: "10.0.1.2/24".parse().unwrap(),
//!         mac: [0x02, 0x42, 10, 0, 1, 2],
//!     })
//!     .await?;
//! overlay.rotate(NetworkKey::generate(2)).await?; // when the managers issue the next key
//! overlay.detach(endpoint).await?;
//! overlay.close().await
//! # }
//! ```
#![warn(missing_docs)]

mod error;
mod keys;
mod links;
mod overlay;
mod spec;
#[cfg(feature = "test-util")]
pub mod testing;
mod tunnel;

pub use error::{Error, Result};
pub use keys::{NetworkKey, NodeKey, PublicKey};
pub use overlay::{Endpoint, Overlay};
pub use spec::{
    EndpointSpec, Encryption, OverlaySpec, Peer, Underlay, Vni, VXLAN_OVERHEAD, VXLAN_PORT, WIREGUARD_OVERHEAD,
};
