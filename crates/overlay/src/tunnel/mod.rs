//! The userspace WireGuard tunnel of one encrypted network: the TUN device `wg0` in the
//! network's namespace (VXLAN's underlay, see `links`), a UDP socket on the node's underlay,
//! and boringtun between them, one `Tunn` per peer (see [`peer`]).
//!
//! Why one tunnel per network rather than per node: the network key is the preshared key,
//! so a node without it cannot complete a handshake on that network even if it is a peer on
//! another; the peer sets differ per network (only nodes with tasks on it); and the TUN
//! device lives in the network's namespace, which keeps every network's VXLAN packets out
//! of the node's routing table altogether. The cost is one UDP port per network.
//!
//! Three tasks run on the caller's tokio runtime, one per direction plus the timers; each
//! owns its buffers, allocated once. A peer's state sits behind its own mutex, never held
//! across an await. Outbound, every packet the TUN device has ready is encrypted before one
//! batched send (see [`socket`]); inbound, one receive brings a batch, and its decrypted
//! packets go to the TUN device together: with the device's offloads on (`IFF_VNET_HDR`),
//! tun-rs coalesces packets of one flow into one write (UDP GRO), one system call and one
//! trip through IP and UDP per batch. The VXLAN socket takes no UDP GSO, so the kernel splits
//! such a write again before decapsulating each packet, and VXLAN's GRO cells merge the
//! inner TCP segments back before the bridge, veth and TCP.
//!
//! # What bounds the throughput
//!
//! `scripts/bench-overlay` prints where the time goes. On the project's 2-core machine
//! (kernel 6.18, one TCP flow) the tunnel process spends about 0.42 core-seconds per Gbit
//! through the encrypted overlay, the kernel work of its system calls included:
//!
//! - about a third in ChaCha20-Poly1305 (ring, through boringtun): 0.13 core-s/Gbit for one
//!   encryption and one decryption, the bench's "cipher alone";
//! - a fifth writing to `wg0`: the receive path above, per 1440-byte packet up to the
//!   VXLAN device;
//! - a seventh reading `wg0`, one system call per packet, mostly the copy out of the kernel
//!   (VXLAN's 64 KiB TCP super-packets are segmented before `wg0`, which cannot take
//!   UDP-tunnel GSO packets);
//! - the rest in sends, receives, epoll and scheduling, and checksums the kernel leaves to
//!   the reader. Copies in userspace are not among them: decrypting and encrypting in place
//!   into the batches instead of copying them there changed nothing measurable.
//!
//! The plain overlay costs about 0.08 core-s/Gbit all told (iperf3 and the kernel), so
//! while the cores are the limit the encrypted overlay reaches at most 0.08 / (0.08 + 0.13),
//! about 0.37 of it, however little the tunnel adds to the cipher; boringtun's `Tunn` takes
//! `&mut self` to encrypt (its nonce counter), so one peer's packets cannot be spread over
//! cores either. What would cut the tunnel's own share: UDP-tunnel segmentation offload on
//! `wg0` (Linux 6.17: `TUN_F_UDP_TUNNEL_GSO`, with the 24-byte `virtio_net_hdr_v1_hash_tunnel`
//! set by `TUNSETVNETHDRSZ`), reading whole VXLAN super-packets to split here and writing
//! coalesced ones the VXLAN socket takes whole. tun-rs 2.8 knows neither (its header is 10
//! bytes) and the ioctl needs `unsafe`, which this crate forbids; from the profile it would
//! save about a fifth of the tunnel's time. Left out on purpose: a TUN MTU above the
//! underlay's with the kernel fragmenting WireGuard's datagrams (fewer, larger packets, but
//! every lost or forged fragment costs the whole datagram, fragments are dropped by many
//! cloud networks and firewalls, and the overlay's MTU would exceed what the underlay
//! carries), and a multi-queue TUN device (one flow hashes to one queue; on 2 cores the four
//! stages of a flow, sender, two tunnel tasks and receiver, already fill both).

mod peer;
mod socket;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use boringtun::noise::{Tunn, TunnResult};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;
use tun_rs::{AsyncDevice, DeviceBuilder, GROTable, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_LEN};

use crate::error::{Error, Result};
use crate::keys::{NetworkKey, NodeKey, PublicKey};
use crate::links::TUN;
use peer::{Inbound, PeerTunnels};
use socket::{Batch, Received, Socket};

/// Room for the largest datagram or packet either side may hand us (a UDP datagram can be
/// 64 KiB; the TUN's MTU is far below).
const BUFFER: usize = 65_536;

/// Room for one packet of the TUN device once tun-rs has split what the kernel handed over
/// (at most the TUN's MTU, below the underlay's 1500 bytes).
const SEGMENT: usize = 4096;

/// Headroom in front of packets written to the TUN device, for the virtio header tun-rs
/// puts there (at least `VIRTIO_NET_HDR_LEN`).
const HEADROOM: usize = 16;
const _: () = assert!(HEADROOM >= VIRTIO_NET_HDR_LEN);

/// The tunnel socket's kernel buffers, each way. The default (about 200 KiB) overflows when
/// a TCP flow inside bursts faster than the decrypting task drains it, and every datagram
/// lost there is a retransmission inside; 4 MiB absorbs the bursts of a window.
const SOCKET_BUFFER: usize = 4 << 20;

/// How often boringtun's timers run (its own device uses 250 ms).
const TIMER_PERIOD: Duration = Duration::from_millis(250);

/// The peers, by their address (the same on the underlay and inside the tunnel).
type Peers = RwLock<HashMap<Ipv4Addr, Arc<Mutex<PeerTunnels>>>>;

struct Shared {
    tun: AsyncDevice,
    udp: Socket,
    peers: Peers,
    /// This node's address inside the tunnel (its underlay address): the only destination a
    /// decrypted packet may have.
    local: Ipv4Addr,
}

impl Shared {
    fn peer(&self, address: Ipv4Addr) -> Option<Arc<Mutex<PeerTunnels>>> {
        self.peers.read().ok()?.get(&address).cloned()
    }

    fn all(&self) -> Vec<Arc<Mutex<PeerTunnels>>> {
        self.peers.read().map(|p| p.values().cloned().collect()).unwrap_or_default()
    }
}

/// A running tunnel. Dropping it stops its tasks and closes the TUN device and the socket.
pub(crate) struct Tunnel {
    shared: Arc<Shared>,
    node_key: NodeKey,
    network_key: NetworkKey,
    next_slot: u16,
    tasks: Vec<JoinHandle<()>>,
}

impl Tunnel {
    /// Opens `wg0` in `netns` (to be addressed by `links::build_encrypted`) and the UDP
    /// socket on `listen` in `underlay` (`None`: the daemon's namespace), and starts the
    /// packet loops on the current tokio runtime.
    pub(crate) fn start(netns: &Path, underlay: Option<&Path>, listen: SocketAddrV4, node_key: NodeKey, network_key: NetworkKey) -> Result<Self> {
        let runtime = tokio::runtime::Handle::try_current().map_err(|e| Error::Runtime(e.to_string()))?;
        let path: PathBuf = netns.to_owned();
        let device = palisade_net::netns::run_in(netns, move || {
            DeviceBuilder::new()
                .name(TUN)
                .offload(true)
                .build_sync()
                .map_err(|source| palisade_net::Error::Io { op: "creating the TUN device in", path, source })
        })?;
        let udp = match underlay {
            Some(ns) => {
                let path = ns.to_owned();
                palisade_net::netns::run_in(ns, move || {
                    std::net::UdpSocket::bind(listen).map_err(|source| palisade_net::Error::Io { op: "binding the tunnel's UDP socket in", path, source })
                })?
            }
            None => std::net::UdpSocket::bind(listen).map_err(Error::io("binding the tunnel's UDP socket"))?,
        };
        enlarge_buffers(&udp);
        let _guard = runtime.enter();
        udp.set_nonblocking(true).map_err(Error::io("making the tunnel's UDP socket non-blocking"))?;
        let udp = UdpSocket::from_std(udp).map_err(Error::io("registering the tunnel's UDP socket"))?;
        let udp = Socket::new(udp).map_err(Error::io("setting up the tunnel's UDP socket"))?;
        let tun = AsyncDevice::new(device).map_err(Error::io("registering the TUN device"))?;
        let shared = Arc::new(Shared { tun, udp, peers: RwLock::new(HashMap::new()), local: *listen.ip() });
        let tasks = vec![
            runtime.spawn(outbound(shared.clone())),
            runtime.spawn(inbound(shared.clone())),
            runtime.spawn(timers(shared.clone())),
        ];
        Ok(Self { shared, node_key, network_key, next_slot: 0, tasks })
    }

    /// Adds a peer (its address must not be one already there).
    pub(crate) fn add_peer(&mut self, endpoint: SocketAddrV4, public_key: PublicKey) -> Result<()> {
        let slot = self.next_slot;
        self.next_slot = self.next_slot.wrapping_add(1);
        let peer = PeerTunnels::new(SocketAddr::V4(endpoint), *endpoint.ip(), public_key, slot, &self.node_key, &self.network_key);
        let mut peers = self.shared.peers.write().map_err(|_| Error::Runtime("the peer table's lock is poisoned".into()))?;
        peers.insert(*endpoint.ip(), Arc::new(Mutex::new(peer)));
        Ok(())
    }

    /// Forgets a peer and its sessions.
    pub(crate) fn remove_peer(&mut self, address: Ipv4Addr) {
        if let Ok(mut peers) = self.shared.peers.write() {
            peers.remove(&address);
        }
    }

    /// The current key's generation.
    pub(crate) fn generation(&self) -> u64 {
        self.network_key.generation()
    }

    /// Re-keys every peer with `key` (see [`peer`]) and starts the new handshakes. The TUN
    /// device, the socket and the VXLAN device stay as they are.
    pub(crate) async fn rotate(&mut self, key: NetworkKey) {
        let mut scratch = vec![0u8; BUFFER];
        let mut initiations = Vec::new();
        for peer in self.shared.all() {
            let Ok(mut peer) = peer.lock() else { continue };
            if let Some(init) = peer.rotate(&self.node_key, &key, &mut scratch) {
                initiations.push((init, peer.endpoint));
            }
        }
        self.network_key = key;
        for (init, endpoint) in initiations {
            self.shared.udp.send(&init, endpoint).await;
        }
    }

    /// The key generation of the session carrying traffic to `address`, if one is up.
    pub(crate) fn generation_in_use(&self, address: Ipv4Addr) -> Option<u64> {
        self.shared.peer(address)?.lock().ok()?.generation_in_use()
    }
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Sets [`SOCKET_BUFFER`], past `net.core.[rw]mem_max` where the process may (it runs with
/// CAP_NET_ADMIN), else as far as the limits allow.
fn enlarge_buffers(udp: &std::net::UdpSocket) {
    use nix::sys::socket::{setsockopt, sockopt};
    if setsockopt(udp, sockopt::RcvBufForce, &SOCKET_BUFFER).is_err() {
        let _ = setsockopt(udp, sockopt::RcvBuf, &SOCKET_BUFFER);
    }
    if setsockopt(udp, sockopt::SndBufForce, &SOCKET_BUFFER).is_err() {
        let _ = setsockopt(udp, sockopt::SndBuf, &SOCKET_BUFFER);
    }
}

/// TUN → peers: VXLAN packets the kernel routed into `wg0`, encrypted for the peer they are
/// addressed to (packets to an address that is no peer's are dropped). After each wake-up,
/// every packet already queued is taken before the batch goes out.
async fn outbound(shared: Arc<Shared>) {
    // What one read returns (virtio header and maybe a GSO packet), then its packets.
    let mut raw = vec![0u8; VIRTIO_NET_HDR_LEN + BUFFER];
    let mut packets = vec![vec![0u8; SEGMENT]; IDEAL_BATCH_SIZE];
    let mut sizes = vec![0usize; IDEAL_BATCH_SIZE];
    let mut datagram = vec![0u8; SEGMENT + 32];
    let mut batch = Batch::new(shared.udp.max_segments());
    loop {
        let mut count = match shared.tun.recv_multiple(&mut raw, &mut packets, &mut sizes, 0).await {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("tunnel: reading the TUN device: {e}; the tunnel stops sending");
                return;
            }
        };
        while count > 0 {
            for (packet, &n) in packets.iter().zip(&sizes).take(count) {
                let Some((len, to)) = encapsulate(&shared, &packet[..n], &mut datagram) else { continue };
                if !batch.push(&datagram[..len], to) {
                    shared.udp.flush(&mut batch).await;
                    batch.push(&datagram[..len], to);
                }
                if batch.is_full() {
                    shared.udp.flush(&mut batch).await;
                }
            }
            count = shared.tun.try_recv_multiple(&mut raw, &mut packets, &mut sizes, 0).unwrap_or(0);
        }
        shared.udp.flush(&mut batch).await;
    }
}

/// Encrypts one packet from the TUN device into `datagram`: its length and where it goes.
fn encapsulate(shared: &Shared, packet: &[u8], datagram: &mut [u8]) -> Option<(usize, SocketAddr)> {
    let Some(IpAddr::V4(destination)) = Tunn::dst_address(packet) else { return None };
    let peer = shared.peer(destination)?;
    let mut peer = peer.lock().ok()?;
    let endpoint = peer.endpoint;
    match peer.outgoing().encapsulate(packet, datagram) {
        TunnResult::WriteToNetwork(d) => Some((d.len(), endpoint)),
        TunnResult::Err(e) => {
            tracing::debug!(%destination, "tunnel: encapsulating: {e:?}");
            None
        }
        _ => None,
    }
}

/// Peers → TUN: datagrams from a peer's address, decrypted (see `PeerTunnels::decapsulate`)
/// and written to `wg0` when addressed to this node.
async fn inbound(shared: Arc<Shared>) {
    let mut received = Received::new(shared.udp.batch_slots());
    let mut packet = vec![0u8; BUFFER];
    let mut to_tun = ToTun::new();
    loop {
        if let Err(e) = shared.udp.recv(&mut received).await {
            tracing::debug!("tunnel: receiving: {e}");
            continue;
        }
        for (from, datagram) in received.datagrams() {
            let SocketAddr::V4(from_v4) = from else { continue };
            let Some(peer) = shared.peer(*from_v4.ip()) else { continue };
            let (outcome, endpoint) = {
                let Ok(mut peer) = peer.lock() else { continue };
                (peer.decapsulate(from.ip(), datagram, &mut packet), peer.endpoint)
            };
            match outcome {
                Inbound::Nothing => {}
                Inbound::Packet(len) => {
                    // Nothing is routed onward from the network's namespace: a packet for
                    // another address is a peer's mistake or worse.
                    if Tunn::dst_address(&packet[..len]) != Some(IpAddr::V4(shared.local)) {
                        tracing::debug!(peer = %from, "tunnel: dropping a packet not addressed to this node");
                        continue;
                    }
                    if to_tun.push(&packet[..len]) {
                        to_tun.flush(&shared.tun).await;
                    }
                }
                Inbound::Reply(datagrams) => {
                    for d in datagrams {
                        shared.udp.send(&d, endpoint).await;
                    }
                }
            }
        }
        to_tun.flush(&shared.tun).await;
    }
}

/// Decrypted packets waiting for one coalescing write to the TUN device. Invariant: the
/// first `count` buffers each hold [`HEADROOM`] bytes and then one packet, and every buffer
/// has room for a whole coalesced write (tun-rs merges into the first packet of a flow in
/// place, and skips merging rather than grow a buffer; untouched capacity costs no memory).
struct ToTun {
    buffers: Vec<Vec<u8>>,
    count: usize,
    gro: GROTable,
}

impl ToTun {
    fn new() -> Self {
        let buffers = (0..IDEAL_BATCH_SIZE).map(|_| Vec::with_capacity(2 * HEADROOM + BUFFER)).collect();
        Self { buffers, count: 0, gro: GROTable::new() }
    }

    /// Queues a packet; true when the queue is full and must be flushed.
    fn push(&mut self, packet: &[u8]) -> bool {
        if let Some(buffer) = self.buffers.get_mut(self.count) {
            buffer.clear();
            buffer.resize(HEADROOM, 0);
            buffer.extend_from_slice(packet);
            self.count += 1;
        }
        self.count >= self.buffers.len()
    }

    async fn flush(&mut self, tun: &AsyncDevice) {
        if self.count == 0 {
            return;
        }
        if let Err(e) = tun.send_multiple(&mut self.gro, &mut self.buffers[..self.count], HEADROOM).await {
            tracing::debug!("tunnel: writing to the TUN device: {e}");
        }
        self.count = 0;
    }
}

/// boringtun's timers for every peer, every [`TIMER_PERIOD`].
async fn timers(shared: Arc<Shared>) {
    let mut scratch = vec![0u8; BUFFER];
    let mut tick = tokio::time::interval(TIMER_PERIOD);
    loop {
        tick.tick().await;
        for peer in shared.all() {
            let (datagrams, endpoint) = {
                let Ok(mut peer) = peer.lock() else { continue };
                (peer.tick(&mut scratch), peer.endpoint)
            };
            for d in datagrams {
                shared.udp.send(&d, endpoint).await;
            }
        }
    }
}
