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
