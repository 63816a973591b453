//! [`Overlay`]: one overlay network on this node, as the cluster layer drives it.
//!
//! Lifecycle: [`Overlay::create`] builds the network's namespace and links (and, when
//! encrypted, starts its tunnel); peers and endpoints come and go; [`Overlay::close`] (or
//! dropping the value) stops the tunnel and removes the namespace, which takes every link in
//! it, and the containers' ends of their veth pairs with them.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::keys::NetworkKey;
use crate::links::{self, VxlanParams};
use crate::spec::{EndpointSpec, Encryption, OverlaySpec, Peer, Vni};
use crate::tunnel::Tunnel;

/// A container's attachment, as returned by [`Overlay::attach`]; give it back to
/// [`Overlay::detach`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    host_veth: String,
}

impl Endpoint {
    /// The name of the veth end that is a port of the network's bridge.
    pub fn host_veth(&self) -> &str {
        &self.host_veth
    }
}

/// One overlay network on this node. Invariant: `netns` exists while the value does (until
/// [`Overlay::close`] or drop), and `tunnel` is `Some` exactly for encrypted networks.
pub struct Overlay {
    vni: Vni,
    netns: PathBuf,
    mtu: u32,
    tunnel: Option<Tunnel>,
    peers: BTreeMap<Ipv4Addr, Peer>,
    closed: bool,
}

/// Runs a blocking netlink or namespace job off the runtime's workers.
async fn blocking<T: Send + 'static>(job: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(job).await.map_err(|e| Error::Runtime(format!("a netlink job died: {e}")))?
}

/// How long after a plain network's peer is removed its packets in flight may still arrive
/// (and teach the VXLAN device its MACs again).
const RELEARN_WINDOW: std::time::Duration = std::time::Duration::from_millis(500);

impl Overlay {
    /// Builds the network on this node: its namespace at `spec.netns` (which must not exist),
    /// bridge and VXLAN device, and for an encrypted network the TUN device and the tunnel,
    /// whose tasks run on the current tokio runtime. On failure nothing is left behind.
    pub async fn create(spec: OverlaySpec) -> Result<Self> {
        let mtu = spec.overlay_mtu()?;
        let tunnel_mtu = spec.tunnel_mtu();
        let OverlaySpec { vni, netns, underlay, encryption } = spec;
        let vxlan = VxlanParams { vni, local: underlay.address, mtu };
        {
            let netns = netns.clone();
            blocking(move || Ok(palisade_net::netns::create(&netns)?)).await?;
        }
        let built = async {
            match encryption {
                Encryption::Off => {
                    let (netns, underlay_ns) = (netns.clone(), underlay.netns.clone());
                    blocking(move || links::build_plain(underlay_ns.as_deref(), &netns, vxlan)).await?;
                    Ok(None)
                }
                Encryption::WireGuard { node_key, network_key, listen_port } => {
                    let listen = SocketAddrV4::new(underlay.address, listen_port);
                    let tunnel = Tunnel::start(&netns, underlay.netns.as_deref(), listen, node_key, network_key)?;
                    let netns = netns.clone();
                    blocking(move || links::build_encrypted(&netns, vxlan, tunnel_mtu)).await?;
                    Ok(Some(tunnel))
                }
            }
        }
        .await;
        match built {
            Ok(tunnel) => Ok(Self { vni, netns, mtu, tunnel, peers: BTreeMap::new(), closed: false }),
            Err(e) => {
                let _ = palisade_net::netns::remove(&netns);
                Err(e)
            }
        }
    }

    /// The network's VNI.
    pub fn vni(&self) -> Vni {
        self.vni
    }

    /// The network's namespace file (where its bridge, VXLAN and TUN devices live).
    pub fn netns(&self) -> &Path {
        &self.netns
    }

    /// The MTU of the overlay's links, containers' interfaces included.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// Whether traffic between nodes is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.tunnel.is_some()
    }

    /// The peers, by address.
    pub fn peers(&self) -> impl Iterator<Item = &Peer> {
        self.peers.values()
    }

    /// Attaches a container: a veth pair from its namespace to the network's bridge, with
    /// the given name, address and MAC inside, and the overlay's MTU.
    pub async fn attach(&self, endpoint: &EndpointSpec) -> Result<Endpoint> {
        let (netns, endpoint, mtu) = (self.netns.clone(), endpoint.clone(), self.mtu);
        let host_veth = blocking(move || links::attach(&netns, &endpoint, mtu)).await?;
        Ok(Endpoint { host_veth })
    }

    /// Detaches a container (its interface on this network disappears).
    pub async fn detach(&self, endpoint: Endpoint) -> Result<()> {
        let netns = self.netns.clone();
        blocking(move || links::detach(&netns, &endpoint.host_veth)).await
    }

    /// Adds another node: broadcast and unknown frames are replicated to it, and on an
    /// encrypted network a WireGuard peer is set up for it. Its kind must match the network's.
    pub async fn add_peer(&mut self, peer: Peer) -> Result<()> {
        let address = peer.address();
        if self.peers.contains_key(&address) {
            return Err(Error::Conflict(format!("peer {address} is already on the network")));
        }
        match (&mut self.tunnel, peer) {
            (Some(tunnel), Peer::Encrypted { endpoint, public_key }) => tunnel.add_peer(endpoint, public_key)?,
            (None, Peer::Plain(_)) => {}
            (Some(_), Peer::Plain(_)) => return Err(Error::InvalidArgument(format!("peer {address}: the network is encrypted; its peers need a public key"))),
            (None, Peer::Encrypted { .. }) => return Err(Error::InvalidArgument(format!("peer {address}: the network is not encrypted"))),
        }
        let netns = self.netns.clone();
        if let Err(e) = blocking(move || links::add_peer(&netns, address)).await {
            if let Some(tunnel) = &mut self.tunnel {
                tunnel.remove_peer(address);
            }
            return Err(e);
        }
        self.peers.insert(address, peer);
        Ok(())
    }

    /// Removes another node: no more frames go to it, and its sessions are dropped.
    pub async fn remove_peer(&mut self, address: Ipv4Addr) -> Result<()> {
        if !self.peers.contains_key(&address) {
            return Err(Error::NotFound(format!("no peer {address} on the network")));
        }
        let netns = self.netns.clone();
        let sweep = netns.clone();
        blocking(move || links::remove_peer(&sweep, address)).await?;
        match &mut self.tunnel {
            // The tunnel drops the peer's packets from now on: nothing more arrives from it.
            Some(tunnel) => tunnel.remove_peer(address),
            // A plain VXLAN device learns a remote MAC from every packet it receives, and the
            // peer's packets already in flight would teach its MACs again, for as long as
            // learnt entries live (minutes): sweep once more after they have landed.
            None => {
                tokio::time::sleep(RELEARN_WINDOW).await;
                blocking(move || links::remove_peer(&netns, address)).await?;
            }
        }
        self.peers.remove(&address);
        Ok(())
    }

    /// Replaces the network key without touching any link: each peer's traffic moves to the
    /// new key as soon as that peer has it too, and the old key is forgotten shortly after;
    /// until then the old sessions carry the traffic, so connections in the overlay go on.
    /// `key`'s generation must be newer than the current one and differ from it in its low
    /// byte (which WireGuard's session indices carry).
    pub async fn rotate(&mut self, key: NetworkKey) -> Result<()> {
        let Some(tunnel) = &mut self.tunnel else {
            return Err(Error::InvalidArgument("the network is not encrypted; it has no key to rotate".into()));
        };
        let current = tunnel.generation();
        if key.generation() <= current || key.generation() & 0xff == current & 0xff {
            return Err(Error::InvalidArgument(format!(
                "key generation {} does not follow {current} (it must be newer and differ modulo 256)",
                key.generation()
            )));
        }
        tunnel.rotate(key).await;
        Ok(())
    }

    /// The generation of the key under which traffic to `peer` currently flows; `None` when
    /// no session with it is up (or the network is not encrypted). Once every peer reports
    /// the newest generation, a rotation is complete on this node.
    pub fn key_generation_in_use(&self, peer: Ipv4Addr) -> Option<u64> {
        self.tunnel.as_ref()?.generation_in_use(peer)
    }

    /// Stops the tunnel and removes the network's namespace with everything in it.
    pub async fn close(mut self) -> Result<()> {
        self.tunnel = None;
        self.closed = true;
        let netns = self.netns.clone();
        blocking(move || Ok(palisade_net::netns::remove(&netns)?)).await
    }
}

impl Drop for Overlay {
    fn drop(&mut self) {
        if !self.closed {
            self.tunnel = None;
            if let Err(e) = palisade_net::netns::remove(&self.netns) {
                tracing::warn!(vni = self.vni.get(), "removing the overlay network's namespace: {e}");
            }
        }
    }
}
