//! The node's overlay data plane: it follows the node's overlay state (what the leader sends
//! with the node's assignments, see [`crate::overlay`]) with palisade-overlay's networks, and
//! connects this node's tasks to them.
//!
//! * A network is built on this node when its state first lists it (a task here is attached
//!   to it) and closed when the state drops it (its last task here ended): a worker holds a
//!   network, and its key, only while it runs a task on it.
//! * Encrypted networks run WireGuard between the nodes under the node's [`NodeKey`] (made
//!   once, kept at `node/overlay.key`, mode 0600; its public half is reported with every
//!   heartbeat, [`DataPlane::public_key`]) and the network key as the preshared key. A newer
//!   key generation in the state is a rotation ([`Overlay::rotate`]): connections go on.
//! * Peers follow the state: a peer of an encrypted network joins once it has reported its
//!   public key. Each network's tunnel listens on [`tunnel_port`] of its VNI, on every node.
//! * Each task's sandbox gets one interface per network, then the virtual IPs of the services
//!   on its networks ([`balancer`]); its embedded DNS server resolves their names through
//!   [`TaskNames`]. A container outside services on an attachable network is connected the
//!   same way, while it runs.

mod balancer;
mod ingress;
mod names;
mod node_key;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ipnet::Ipv4Net;
use palisade_overlay::{Endpoint, EndpointSpec, Encryption, NetworkKey, NodeKey, Overlay, OverlaySpec, Peer, PublicKey, Underlay, Vni};
use tokio::sync::watch;

pub(crate) use names::TaskNames;

use crate::error::{Error, Result};
use crate::overlay::{OverlayNetwork, OverlayState};

/// The first UDP port of the networks' tunnels: network VNI `v` listens on
/// `TUNNEL_PORT_BASE + v % TUNNEL_PORTS`, the same port on every node.
const TUNNEL_PORT_BASE: u16 = 52_000;
/// How many tunnel ports there are (VNIs are allocated in order from 4097, so ports only
/// repeat beyond this many networks).
const TUNNEL_PORTS: u32 = 4096;
/// How long the data plane waits before it tries again what failed, when nothing changes.
const RETRY: Duration = Duration::from_secs(5);
/// How long a task's attachment waits for its network to come up on this node (its state
/// arrives with the same assignments as the task, and is built concurrently).
const NETWORK_WAIT: Duration = Duration::from_secs(30);
/// The largest underlay MTU an overlay is fitted to: jumbo frames'. A larger one (loopback
/// reports 65536) is used as if it were this; the overlay crate's tests carry full-size
/// packets up to it.
const MAX_UNDERLAY_MTU: u32 = 9000;

/// The UDP port of the tunnel of the network with this VNI.
pub(crate) fn tunnel_port(vni: u32) -> u16 {
    // Lossless: the remainder is below TUNNEL_PORTS, which fits a u16 with the base.
    TUNNEL_PORT_BASE + (vni % TUNNEL_PORTS) as u16
}

/// One network as built on this node.
struct Live {
    overlay: Overlay,
    /// The key generation it runs under (`None`: not encrypted).
    generation: Option<u64>,
    /// Its peers, by underlay address.
    peers: BTreeMap<Ipv4Addr, Peer>,
}

/// A task's (or an attached container's) sandbox, whose virtual IPs follow the state.
struct Sandbox {
    netns: PathBuf,
    networks: Vec<String>,
    /// Its interfaces, by network ID.
    endpoints: Vec<(String, Endpoint)>,
    /// The rules last installed, to skip installs that change nothing.
    installed: Option<String>,
}

/// The node's overlay data plane. See the module documentation.
pub(crate) struct DataPlane {
    key: NodeKey,
    public_key: String,
    /// Where the networks' namespaces are bound (`<dir>/<network ID>`).
    netns_dir: PathBuf,
    /// The node's underlay address (its advertised address).
    address: Ipv4Addr,
    state: watch::Receiver<OverlayState>,
    networks: tokio::sync::Mutex<BTreeMap<String, Live>>,
    /// The IDs of the networks built, for attachments waiting for theirs.
    built: watch::Sender<Vec<String>>,
    sandboxes: Mutex<BTreeMap<String, Sandbox>>,
    /// The ingress network (ID) and address of the node's own interface on it, while it has one.
    ingress_interface: Mutex<Option<(String, Ipv4Net)>>,
    /// The ingress rules last installed.
    ingress_rules: Mutex<Option<String>>,
}

impl std::fmt::Debug for DataPlane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DataPlane").field("public_key", &self.public_key).field("address", &self.address).finish_non_exhaustive()
    }
}

impl DataPlane {
    /// The data plane of a node whose key file is `key_file` (made on first use), with the
    /// networks' namespaces under `netns_dir`, on underlay address `address`, following
    /// `state`.
    pub(crate) fn open(key_file: &Path, netns_dir: PathBuf, address: Ipv4Addr, state: watch::Receiver<OverlayState>) -> Result<Self> {
        let key = node_key::load_or_make(key_file)?;
        crate::paths::create_private_dir(&netns_dir).map_err(|e| Error::internal(format!("creating {}", netns_dir.display()), e))?;
        Ok(Self {
            public_key: key.public_key().to_string(),
            key,
            netns_dir,
            address,
            state,
            networks: tokio::sync::Mutex::new(BTreeMap::new()),
            built: watch::Sender::new(Vec::new()),
            sandboxes: Mutex::new(BTreeMap::new()),
            ingress_interface: Mutex::new(None),
            ingress_rules: Mutex::new(None),
        })
    }

    /// The public half of the node's key (base64), which the node reports.
    pub(crate) fn public_key(&self) -> &str {
        &self.public_key
    }

    /// Follows the state until the task is aborted; then [`DataPlane::close`] takes the
    /// networks down.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut state = self.state.clone();
        loop {
            let current = state.borrow_and_update().clone();
            let built = self.apply(&current).await;
            let balanced = self.balance(&current);
            let routed = self.route_ingress(&current).await;
            // What failed is tried again at the next change, or after a pause.
            let next = if built && balanced && routed {
                state.changed().await
            } else {
                tokio::select! {
                    changed = state.changed() => changed,
                    () = tokio::time::sleep(RETRY) => Ok(()),
                }
            };
            if next.is_err() {
                return;
            }
        }
    }

    /// Builds, updates and closes networks to match `state`; `false` when one failed (logged;
    /// the others go on).
    async fn apply(&self, state: &OverlayState) -> bool {
        let mut settled = true;
        let mut networks = self.networks.lock().await;
        let gone: Vec<String> = networks.keys().filter(|id| !state.networks.iter().any(|n| &n.id == *id)).cloned().collect();
        for id in gone {
            if let Some(live) = networks.remove(&id) {
                tracing::info!(network = %id, "overlay network closed on this node");
                // The node's own interface on it goes with its namespace.
                {
                    let mut interface = self.ingress_interface.lock().unwrap_or_else(|e| e.into_inner());
                    if interface.as_ref().is_some_and(|(network, _)| *network == id) {
                        *interface = None;
                    }
                }
                if let Err(e) = live.overlay.close().await {
                    tracing::warn!(network = %id, "closing the overlay network: {e}");
                }
            }
        }
        for network in &state.networks {
            if !networks.contains_key(&network.id) {
                match self.build(network).await {
                    Ok(live) => {
                        tracing::info!(network = %network.id, vni = network.vni, encrypted = network.encrypted(), "overlay network built on this node");
                        networks.insert(network.id.clone(), live);
                    }
                    Err(e) => {
                        tracing::warn!(network = %network.id, "building the overlay network: {e}");
                        settled = false;
                        continue;
                    }
                }
            }
            if let Some(live) = networks.get_mut(&network.id) {
                if let Err(e) = self.update(live, network).await {
                    tracing::warn!(network = %network.id, "updating the overlay network: {e}");
                    settled = false;
                }
            }
        }
        self.built.send_replace(networks.keys().cloned().collect());
        settled
    }

    async fn build(&self, network: &OverlayNetwork) -> Result<Live> {
        let vni = Vni::new(network.vni)?;
        let netns = self.netns_dir.join(&network.id);
        // A namespace a crashed daemon left behind is stale: its links go with it.
        palisade_net::netns::remove(&netns).map_err(palisade_overlay::Error::from)?;
        let address = self.address;
        let mtu = tokio::task::spawn_blocking(move || palisade_net::link::mtu_at(None, address))
            .await
            .map_err(|e| Error::internal("underlay MTU", e))?
            .map_err(palisade_overlay::Error::from)?;
        let (encryption, generation) = match network.keys.first() {
            Some(key) => {
                let network_key = network_key(key.generation, key.expose())?;
                let listen_port = tunnel_port(network.vni);
                (Encryption::WireGuard { node_key: self.key.clone(), network_key, listen_port }, Some(key.generation))
            }
            None => (Encryption::Off, None),
        };
        let underlay = Underlay { netns: None, address, mtu: mtu.min(MAX_UNDERLAY_MTU) };
        let overlay = Overlay::create(OverlaySpec { vni, netns, underlay, encryption }).await?;
        Ok(Live { overlay, generation, peers: BTreeMap::new() })
    }

    /// Rotates the key when the state has a newer one, and follows the peers.
    async fn update(&self, live: &mut Live, network: &OverlayNetwork) -> Result<()> {
        if let (Some(current), Some(key)) = (live.generation, network.keys.first()) {
            if key.generation > current {
                live.overlay.rotate(network_key(key.generation, key.expose())?).await?;
                live.generation = Some(key.generation);
                tracing::info!(network = %network.id, generation = key.generation, "overlay network key rotated on this node");
            }
        }
        let wanted = peers_of(network);
        let stale: Vec<Ipv4Addr> = live.peers.iter().filter(|(addr, peer)| wanted.get(addr) != Some(peer)).map(|(addr, _)| *addr).collect();
        for addr in stale {
            live.overlay.remove_peer(addr).await?;
            live.peers.remove(&addr);
        }
        for (addr, peer) in wanted {
            if !live.peers.contains_key(&addr) {
                live.overlay.add_peer(peer).await?;
                live.peers.insert(addr, peer);
            }
        }
        Ok(())
    }

    /// Connects a task's sandbox (or an attached container's: `id` is either's), its network
    /// namespace `netns`, to its networks: one interface for each `(network ID, address,
    /// interface name)` of `attachments`, then its services' virtual IPs. Waits for each
    /// network to be built on this node first. On failure no interface stays.
    pub(crate) async fn connect(&self, id: &str, netns: &Path, attachments: &[(String, Ipv4Net, String)]) -> Result<()> {
        let mut endpoints = Vec::new();
        for (network_id, address, ifname) in attachments {
            match self.attach(netns, network_id, *address, ifname).await {
                Ok(endpoint) => endpoints.push((network_id.clone(), endpoint)),
                Err(e) => {
                    self.detach(endpoints).await;
                    return Err(e);
                }
            }
        }
        let networks = attachments.iter().map(|(id, _, _)| id.clone()).collect();
        let sandbox = Sandbox { netns: netns.to_owned(), networks, endpoints, installed: None };
        self.sandboxes.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_owned(), sandbox);
        let state = self.state.borrow().clone();
        self.balance(&state);
        Ok(())
    }

    /// One interface in `netns` on a network, once the network is built on this node.
    async fn attach(&self, netns: &Path, network_id: &str, address: Ipv4Net, ifname: &str) -> Result<Endpoint> {
        let mut built = self.built.subscribe();
        let ready = tokio::time::timeout(NETWORK_WAIT, built.wait_for(|ids| ids.iter().any(|id| id == network_id))).await.map(|r| r.is_ok());
        if ready != Ok(true) {
            return Err(Error::Unavailable(format!("overlay network {network_id} did not come up on this node")));
        }
        let networks = self.networks.lock().await;
        let live = networks.get(network_id).ok_or_else(|| Error::Unavailable(format!("overlay network {network_id} was closed on this node")))?;
        let spec = EndpointSpec { netns: netns.to_owned(), ifname: ifname.to_owned(), address, mac: mac_of(address.addr()) };
        Ok(live.overlay.attach(&spec).await?)
    }

    /// Takes a sandbox's interfaces out of their networks that are still built here.
    async fn detach(&self, endpoints: Vec<(String, Endpoint)>) {
        let networks = self.networks.lock().await;
        for (network_id, endpoint) in endpoints {
            if let Some(live) = networks.get(&network_id) {
                if let Err(e) = live.overlay.detach(endpoint).await {
                    tracing::debug!(network = %network_id, "detaching an interface: {e}");
                }
            }
        }
    }

    /// Disconnects a sandbox (its task's or container's process is gone): its interfaces leave
    /// their networks, and its virtual IPs are no longer followed. A sandbox whose namespace
    /// is gone (a task's container is removed first) lost its interfaces with it: nothing is
    /// left to detach.
    pub(crate) async fn disconnect(&self, id: &str) {
        let sandbox = self.sandboxes.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        if let Some(sandbox) = sandbox.filter(|s| s.netns.exists()) {
            self.detach(sandbox.endpoints).await;
        }
    }

    /// Installs in each task's sandbox the virtual IPs of the services on its networks, where
    /// they changed; `false` when an install failed (logged).
    fn balance(&self, state: &OverlayState) -> bool {
        let mut settled = true;
        let mut sandboxes = self.sandboxes.lock().unwrap_or_else(|e| e.into_inner());
        for (task_id, sandbox) in sandboxes.iter_mut() {
            let rules = balancer::rules(state, &sandbox.networks);
            if sandbox.installed.as_ref() == Some(&rules) {
                continue;
            }
            match balancer::install(&sandbox.netns, &rules) {
                Ok(()) => sandbox.installed = Some(rules),
                Err(e) => {
                    tracing::warn!(task = %task_id, "installing the virtual IPs of its services: {e}");
                    settled = false;
                }
            }
        }
        settled
    }

    /// The routing mesh follows the state: the node's interface on the ingress network, then
    /// its forwarding rules (see [`ingress`]); `false` when a step failed (logged).
    async fn route_ingress(&self, state: &OverlayState) -> bool {
        if let Some(wanted) = &state.ingress {
            let current = self.ingress_interface.lock().unwrap_or_else(|e| e.into_inner()).clone();
            if current.as_ref() != Some(&(wanted.network_id.clone(), wanted.address)) {
                let networks = self.networks.lock().await;
                if let Some(live) = networks.get(&wanted.network_id) {
                    let spec = EndpointSpec {
                        netns: PathBuf::from("/proc/self/ns/net"),
                        ifname: ingress::INTERFACE.into(),
                        address: wanted.address,
                        mac: mac_of(wanted.address.addr()),
                    };
                    match live.overlay.attach(&spec).await {
                        Ok(_) => {
                            tracing::info!(address = %wanted.address, "this node is on the ingress network");
                            *self.ingress_interface.lock().unwrap_or_else(|e| e.into_inner()) = Some((wanted.network_id.clone(), wanted.address));
                        }
                        Err(e) => tracing::warn!("attaching this node to the ingress network: {e}"),
                    }
                }
            }
        }
        let attached = self.ingress_interface.lock().unwrap_or_else(|e| e.into_inner()).is_some();
        // Settled once the node is on the ingress network whenever it should be.
        let settled = attached || state.ingress.is_none();
        let rules = ingress::rules(state.ingress.as_ref().filter(|_| attached));
        let mut installed = self.ingress_rules.lock().unwrap_or_else(|e| e.into_inner());
        // The first pass always installs: it drops whatever table a crashed daemon left.
        if installed.as_ref() == Some(&rules) {
            return settled;
        }
        match ingress::install(&rules, state.ingress.is_some()) {
            Ok(()) => {
                *installed = Some(rules);
                settled
            }
            Err(e) => {
                tracing::warn!("installing the published ports' forwarding: {e}");
                false
            }
        }
    }

    /// The names a task on `networks` resolves.
    pub(crate) fn names(&self, networks: Vec<String>) -> TaskNames {
        TaskNames::new(self.state.clone(), networks)
    }

    /// Takes every network down (the node leaves the swarm or stops).
    pub(crate) async fn close(&self) {
        let mut networks = self.networks.lock().await;
        for (id, live) in std::mem::take(&mut *networks) {
            if let Err(e) = live.overlay.close().await {
                tracing::warn!(network = %id, "closing the overlay network: {e}");
            }
        }
        self.built.send_replace(Vec::new());
    }
}

/// `nft -f -` with `rules` on its standard input, in the calling thread's network namespace.
fn nft(rules: &str) -> Result<()> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let run = || -> std::io::Result<std::process::Output> {
        let mut child = Command::new("nft").args(["-f", "-"]).stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn()?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(rules.as_bytes())?;
        }
        child.wait_with_output()
    };
    let output = run().map_err(|e| Error::internal("running nft", e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::internal("nft", String::from_utf8_lossy(&output.stderr).trim()))
    }
}

/// The MAC address of an interface at `address` on an overlay network: Docker's `02:42:`
/// and the four octets, as the managers derive it (`NetworkAddress::mac`).
fn mac_of(address: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = address.octets();
    [0x02, 0x42, a, b, c, d]
}

fn network_key(generation: u64, bytes: &[u8]) -> Result<NetworkKey> {
    let secret: [u8; 32] = bytes.try_into().map_err(|_| Error::internal("network key", "not 32 bytes"))?;
    Ok(NetworkKey::new(generation, secret))
}

/// The peers the network should have: for an encrypted one, those that reported a valid
/// public key (the others join once they have).
fn peers_of(network: &OverlayNetwork) -> BTreeMap<Ipv4Addr, Peer> {
    let port = tunnel_port(network.vni);
    network
        .peers
        .iter()
        .filter_map(|p| {
            let addr: Ipv4Addr = p.addr.parse().ok()?;
            let peer = if network.encrypted() {
                let public_key: PublicKey = p.public_key.parse().ok()?;
                Peer::Encrypted { endpoint: SocketAddrV4::new(addr, port), public_key }
            } else {
                Peer::Plain(addr)
            };
            Some((addr, peer))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunnel_ports_are_distinct_for_consecutive_vnis() {
        assert_eq!(tunnel_port(4097), TUNNEL_PORT_BASE + 1);
        assert_ne!(tunnel_port(4097), tunnel_port(4098));
        assert!(tunnel_port(u32::MAX) >= TUNNEL_PORT_BASE);
    }
}
