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
//! (kernel 6.18, one TCP flow) the tunnel process spends about 0.40 core-seconds per Gbit
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
//!   the reader. Copies in userspace are not among them: encrypting and decrypting in
//!   place, into the outgoing batch and into the buffers of the TUN writes, took two copies
//!   per packet away and left the cost per Gbit within the noise of its measurement.
//!
//! The plain overlay costs about 0.07-0.08 core-s/Gbit all told (iperf3 and the kernel), so
//! while the cores are the limit the encrypted overlay reaches at most 0.08 / (0.08 + 0.13),
//! about 0.36 of it, however little the tunnel adds to the cipher (it measures 0.19-0.22);
//! boringtun's `Tunn` takes `&mut self` to encrypt (its nonce counter), so one peer's
//! packets cannot be spread over cores either. Most of what the tunnel adds beyond the
//! cipher is paid per packet: on a jumbo-frame underlay (`scripts/bench-overlay 8 9000`,
//! TUN MTU 8940) it costs 0.28 core-s/Gbit, the cipher 0.10, and the ratio is 0.31 (ceiling
//! 0.44). What would cut the tunnel's own share on Ethernet's MTU: UDP-tunnel segmentation offload on
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
use tun_rs::{
    gso_split, AsyncDevice, DeviceBuilder, ExpandBuffer, GROTable, VirtioNetHdr, IDEAL_BATCH_SIZE, VIRTIO_NET_HDR_GSO_UDP_L4,
    VIRTIO_NET_HDR_LEN,
};

use crate::error::{Error, Result};
use crate::keys::{NetworkKey, NodeKey, PublicKey};
use crate::links::TUN;
use peer::{Inbound, PeerTunnels};
use socket::{Batch, Received, Socket};

/// virtio-net header values (virtio spec 5.1.6) that tun-rs does not export.
const VIRTIO_NET_HDR_GSO_NONE: u8 = 0;
const VIRTIO_NET_HDR_F_NEEDS_CSUM: u8 = 1;

/// Room for the largest datagram or packet either side may hand us: a UDP datagram, or a
/// packet of the TUN device, whose MTU follows the underlay's (jumbo frames included) and
/// is at most 64 KiB.
const BUFFER: usize = 65_536;

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
///
/// A packet is read whole, whatever the device's MTU (up to 64 KiB, a jumbo-frame underlay
/// included), and boringtun encrypts it straight from the read buffer into the outgoing
/// batch.
async fn outbound(shared: Arc<Shared>) {
    let mut frame = vec![0u8; VIRTIO_NET_HDR_LEN + BUFFER];
    let mut split = Split::default();
    let mut batch = Batch::new(shared.udp.max_segments());
    loop {
        let mut read = shared.tun.recv(&mut frame).await;
        loop {
            match read {
                Ok(n) => {
                    for packet in split.packets(&mut frame[..n]) {
                        if encapsulate(&shared, packet, &mut batch) {
                            shared.udp.flush(&mut batch).await;
                        }
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("tunnel: reading the TUN device: {e}; the tunnel stops sending");
                    return;
                }
            }
            read = shared.tun.try_recv(&mut frame);
        }
        shared.udp.flush_all(&mut batch).await;
    }
}

/// The packets of what one read from the TUN device holds: a virtio header (`IFF_VNET_HDR`)
/// and one packet, used where it lies; or a GSO packet, which tun-rs splits into buffers
/// made the first time one comes. None is expected: the VXLAN device's packets arrive
/// segmented (`wg0` offers no UDP-tunnel segmentation), and nothing else in the network's
/// namespace sends through it.
#[derive(Default)]
struct Split {
    segments: Vec<Vec<u8>>,
    sizes: Vec<usize>,
}

impl Split {
    /// The packets of `frame`, checksummed where the kernel left that to us. Malformed
    /// frames yield nothing.
    fn packets<'a>(&'a mut self, frame: &'a mut [u8]) -> Packets<'a> {
        let Some((header, packet)) = frame.split_at_mut_checked(VIRTIO_NET_HDR_LEN) else { return Packets::None };
        let Ok(header) = VirtioNetHdr::decode(header) else { return Packets::None };
        if header.gso_type == VIRTIO_NET_HDR_GSO_NONE {
            if header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM != 0 && !complete_checksum(packet, header.csum_start, header.csum_offset) {
                return Packets::None;
            }
            return Packets::One(Some(packet));
        }
        let Some(header) = with_header_length(header, packet) else { return Packets::None };
        if self.segments.is_empty() {
            self.segments = (0..IDEAL_BATCH_SIZE).map(|_| vec![0; BUFFER]).collect();
            self.sizes = vec![0; IDEAL_BATCH_SIZE];
        }
        let is_v6 = packet.first().is_some_and(|b| b >> 4 == 6);
        match gso_split(packet, header, &mut self.segments, &mut self.sizes, 0, is_v6) {
            Ok(count) => Packets::Split(self.segments.iter().zip(&self.sizes).take(count)),
            Err(e) => {
                tracing::debug!("tunnel: splitting a GSO packet from the TUN device: {e}");
                Packets::None
            }
        }
    }
}

/// `header` with `hdr_len` taken from the packet itself, as tun-rs does before splitting
/// (the kernel's value can cover a whole first segment on a forwarding path): the transport
/// header starts at `csum_start`; UDP's is 8 bytes, TCP's gives its own length.
fn with_header_length(mut header: VirtioNetHdr, packet: &[u8]) -> Option<VirtioNetHdr> {
    let transport = usize::from(header.csum_start);
    let length = if header.gso_type == VIRTIO_NET_HDR_GSO_UDP_L4 {
        8
    } else {
        let length = usize::from(packet.get(transport + 12)? >> 4) * 4;
        (20..=60).contains(&length).then_some(length)?
    };
    header.hdr_len = u16::try_from(transport + length).ok()?;
    (usize::from(header.hdr_len) <= packet.len()).then_some(header)
}

/// The packets of one read (see [`Split::packets`]).
enum Packets<'a> {
    None,
    One(Option<&'a [u8]>),
    Split(std::iter::Take<std::iter::Zip<std::slice::Iter<'a, Vec<u8>>, std::slice::Iter<'a, usize>>>),
}

impl<'a> Iterator for Packets<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match self {
            Self::None => None,
            Self::One(packet) => packet.take(),
            Self::Split(segments) => segments.next().map(|(segment, &n)| &segment[..n]),
        }
    }
}

/// Finishes a checksum the kernel left partial (`CHECKSUM_PARTIAL`: the field at
/// `start + offset` holds the pseudo-header's sum; the rest is summed from `start` to the
/// end). False if the offsets do not fit the packet.
fn complete_checksum(packet: &mut [u8], start: u16, offset: u16) -> bool {
    let (start, at) = (usize::from(start), usize::from(start) + usize::from(offset));
    let Some(field) = packet.get_mut(at..at + 2) else { return false };
    let initial = u16::from_be_bytes([field[0], field[1]]);
    field.fill(0);
    let Some(covered) = packet.get(start..) else { return false };
    let sum = !tun_rs::checksum(covered, u64::from(initial));
    packet[at..at + 2].copy_from_slice(&sum.to_be_bytes());
    true
}

/// Encrypts one packet from the TUN device into `batch`, for the peer it is addressed to.
/// Returns true when the batch must be sent now (see [`Batch::commit`]).
fn encapsulate(shared: &Shared, packet: &[u8], batch: &mut Batch) -> bool {
    // boringtun panics on a destination buffer short of this; the spare room always has it.
    debug_assert!(batch.spare().len() >= (packet.len() + 32).max(148));
    let Some(IpAddr::V4(destination)) = Tunn::dst_address(packet) else { return false };
    let Some(peer) = shared.peer(destination) else { return false };
    let Ok(mut peer) = peer.lock() else { return false };
    let endpoint = peer.endpoint;
    let written = match peer.outgoing().encapsulate(packet, batch.spare()) {
        // A data message, or a handshake initiation when there is no session yet (the
        // packet then waits in boringtun's queue): either way written at the start.
        TunnResult::WriteToNetwork(datagram) => datagram.len(),
        TunnResult::Err(e) => {
            tracing::debug!(%destination, "tunnel: encapsulating: {e:?}");
            return false;
        }
        _ => return false,
    };
    batch.commit(written, endpoint)
}

/// Peers → TUN: datagrams from a peer's address, decrypted (see `PeerTunnels::decapsulate`)
/// straight into the buffers of the next TUN write, and written to `wg0` when addressed to
/// this node.
async fn inbound(shared: Arc<Shared>) {
    let mut received = Received::new(shared.udp.batch_slots());
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
                (peer.decapsulate(from.ip(), datagram, to_tun.spare()), peer.endpoint)
            };
            match outcome {
                Inbound::Nothing => {}
                Inbound::Packet(len) => {
                    // Nothing is routed onward from the network's namespace: a packet for
                    // another address is a peer's mistake or worse.
                    if Tunn::dst_address(&to_tun.spare()[..len]) != Some(IpAddr::V4(shared.local)) {
                        tracing::debug!(peer = %from, "tunnel: dropping a packet not addressed to this node");
                        continue;
                    }
                    if to_tun.commit(len) {
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

/// One buffer of a TUN write: [`HEADROOM`], a packet, and room for tun-rs to append the
/// packets it coalesces into it. Invariant: `len <= storage.len()`; its bytes are
/// `storage[..len]`. Unlike a `Vec`'s, its length can be set past what was written without
/// zero-filling, so packets are decrypted into it where they will be written from.
struct Frame {
    storage: Box<[u8]>,
    len: usize,
}

impl AsRef<[u8]> for Frame {
    fn as_ref(&self) -> &[u8] {
        &self.storage[..self.len]
    }
}

impl AsMut<[u8]> for Frame {
    fn as_mut(&mut self) -> &mut [u8] {
        &mut self.storage[..self.len]
    }
}

/// tun-rs checks `buf_capacity` before it grows a buffer, so what it asks for fits; were it
/// not to, the frame would stop at its capacity and the kernel reject the cut write.
impl ExpandBuffer for Frame {
    fn buf_capacity(&self) -> usize {
        self.storage.len()
    }

    fn buf_resize(&mut self, new_len: usize, value: u8) {
        let new_len = new_len.min(self.storage.len());
        if new_len > self.len {
            self.storage[self.len..new_len].fill(value);
        }
        self.len = new_len;
    }

    fn buf_extend_from_slice(&mut self, src: &[u8]) {
        let end = (self.len + src.len()).min(self.storage.len());
        self.storage[self.len..end].copy_from_slice(&src[..end - self.len]);
        self.len = end;
    }
}

/// Decrypted packets waiting for one coalescing write to the TUN device. Invariant: the
/// first `count` frames each hold [`HEADROOM`] bytes and then one packet, and every frame
/// has room for a whole coalesced write (tun-rs merges into the first packet of a flow in
/// place, and skips merging rather than grow a buffer).
struct ToTun {
    frames: Vec<Frame>,
    count: usize,
    gro: GROTable,
}

impl ToTun {
    fn new() -> Self {
        let frames = (0..IDEAL_BATCH_SIZE).map(|_| Frame { storage: vec![0; 2 * HEADROOM + BUFFER].into_boxed_slice(), len: 0 }).collect();
        Self { frames, count: 0, gro: GROTable::new() }
    }

    /// Where the next packet is to be decrypted: room for any datagram's plaintext.
    fn spare(&mut self) -> &mut [u8] {
        debug_assert!(self.count < self.frames.len(), "a full queue must be flushed first");
        let index = self.count.min(self.frames.len() - 1);
        &mut self.frames[index].storage[HEADROOM..]
    }

    /// Queues the packet of `len` bytes just written to [`ToTun::spare`]; true when the
    /// queue is full and must be flushed.
    fn commit(&mut self, len: usize) -> bool {
        if let Some(frame) = self.frames.get_mut(self.count) {
            frame.len = HEADROOM + len;
            self.count += 1;
        }
        self.count >= self.frames.len()
    }

    async fn flush(&mut self, tun: &AsyncDevice) {
        if self.count == 0 {
            return;
        }
        if let Err(e) = tun.send_multiple(&mut self.gro, &mut self.frames[..self.count], HEADROOM).await {
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
