//! One peer's WireGuard state across key rotations.
//!
//! A peer has a `current` tunnel (boringtun `Tunn`) made with the network's newest key and,
//! during a rotation, the `previous` one. Both sides rotate at slightly different times, so:
//!
//! | state                              | sends through | handshakes from the peer go to |
//! |------------------------------------|---------------|--------------------------------|
//! | no rotation                        | current       | current                        |
//! | rotated, current has no session    | previous      | the tunnel whose key tag the   |
//! | rotated, current has a session     | current       | initiator's index carries      |
//! | current's session ≥ `GRACE` old    | current       | current (previous dropped)     |
//!
//! Established connections inside the overlay never see a gap: the previous session carries
//! their packets until the peer has the new key too and a session under it is up.
//!
//! How a packet finds its tunnel: boringtun gives each tunnel 24 bits of index and puts them
//! in the top of every session index (`index << 8`); ours are `tag << 16 | slot`, so bits
//! 24..32 of any session index are the key tag (the generation's low byte). Data, handshake
//! responses and cookie replies name the receiver's index (ours); a handshake initiation
//! names the sender's (the peer's, made with the same layout), so both tell which key
//! generation they belong to.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use boringtun::noise::{Packet, Tunn, TunnResult};

use crate::keys::{NetworkKey, NodeKey, PublicKey};

/// How long the previous key's tunnel is kept once the current one has a session: covers
/// packets in flight and the peer's own switch, which follows within a round trip.
const GRACE: Duration = Duration::from_secs(10);

/// How long after the last authenticated packet a session counts as up: WireGuard's
/// REJECT_AFTER_TIME, past which no session key is used any more.
const SESSION_LIFE: Duration = Duration::from_secs(180);

/// A tunnel and the key generation it was made with.
struct Keyed {
    generation: u64,
    tag: u8,
    tunn: Tunn,
    /// When the peer last proved it holds this tunnel's keys, network key included: a data
    /// packet (keepalives too) that decrypted, or a handshake response we accepted. A
    /// handshake initiation proves nothing (the preshared key only enters the response), and
    /// boringtun's own `time_since_last_handshake` counts a responder's unconfirmed session.
    authenticated: Option<Instant>,
}

impl Keyed {
    fn established(&self) -> bool {
        self.authenticated.is_some_and(|t| t.elapsed() < SESSION_LIFE)
    }
}

/// What one datagram from a peer turned into.
pub(crate) enum Inbound {
    /// Nothing to do (keepalive, dropped, unknown key).
    Nothing,
    /// A decrypted packet of this length at the start of the output buffer, for the TUN device.
    Packet(usize),
    /// Handshake messages and packets queued during a handshake, for the peer.
    Reply(Vec<Vec<u8>>),
}

/// One peer: where it is, what it may send, and its tunnels.
pub(crate) struct PeerTunnels {
    /// Its tunnel's UDP endpoint on the underlay.
    pub(crate) endpoint: SocketAddr,
    /// Its address inside the tunnel (its underlay address): the only source address its
    /// decrypted packets may carry.
    pub(crate) inner: Ipv4Addr,
    public_key: PublicKey,
    /// Our 16-bit slot for this peer in the tunnel indices.
    slot: u16,
    current: Keyed,
    previous: Option<Keyed>,
    /// When `current` was first seen with a session while `previous` existed.
    switched: Option<Instant>,
}

/// Bits 24..32 of a session index: the key tag (see the module doc).
fn tag_of(index: u32) -> u8 {
    (index >> 24) as u8
}

impl PeerTunnels {
    pub(crate) fn new(endpoint: SocketAddr, inner: Ipv4Addr, public_key: PublicKey, slot: u16, node: &NodeKey, key: &NetworkKey) -> Self {
        let current = Self::tunnel(node, public_key, slot, key);
        Self { endpoint, inner, public_key, slot, current, previous: None, switched: None }
    }

    fn tunnel(node: &NodeKey, public_key: PublicKey, slot: u16, key: &NetworkKey) -> Keyed {
        // INVARIANT: tag << 16 | slot < 2^24, so boringtun's `index << 8` keeps every bit.
        let index = u32::from(key.tag()) << 16 | u32::from(slot);
        let mut preshared = key.preshared();
        let tunn = Tunn::new(node.secret(), public_key.x25519(), Some(preshared), None, index, None);
        zeroize::Zeroize::zeroize(&mut preshared);
        Keyed { generation: key.generation(), tag: key.tag(), tunn, authenticated: None }
    }

    /// Switches to `key`: a new current tunnel; the old one stays as `previous` unless it
    /// never had a session and an older one that did is still kept. Returns a handshake
    /// initiation to send now, so the new session is up as soon as the peer has the key.
    pub(crate) fn rotate(&mut self, node: &NodeKey, key: &NetworkKey, scratch: &mut [u8]) -> Option<Vec<u8>> {
        let new = Self::tunnel(node, self.public_key, self.slot, key);
        let old = std::mem::replace(&mut self.current, new);
        if old.established() || self.previous.is_none() {
            self.previous = Some(old);
        }
        self.switched = None;
        match self.current.tunn.format_handshake_initiation(scratch, false) {
            TunnResult::WriteToNetwork(init) => Some(init.to_vec()),
            _ => None,
        }
    }

    /// The tunnel outgoing packets use (see the table in the module doc).
    pub(crate) fn outgoing(&mut self) -> &mut Tunn {
        match &mut self.previous {
            Some(previous) if !self.current.established() && previous.established() => &mut previous.tunn,
            _ => &mut self.current.tunn,
        }
    }

    /// Decrypts a datagram from the peer with the tunnel its index names (see the module
    /// doc); datagrams under a key this node does not have (yet, or any more) are dropped,
    /// and so are decrypted packets whose source is not the peer's own address (WireGuard's
    /// allowed-IPs check, here one address).
    pub(crate) fn decapsulate(&mut self, from: IpAddr, datagram: &[u8], out: &mut [u8]) -> Inbound {
        let Ok(packet) = Tunn::parse_incoming_packet(datagram) else { return Inbound::Nothing };
        let (tag, proves_key) = match packet {
            // boringtun keeps the sender index of an initiation private; it is the 4 bytes
            // after the message type (WireGuard whitepaper §5.4.2), present since it parsed.
            Packet::HandshakeInit(_) => match datagram.get(4..8).and_then(|b| <[u8; 4]>::try_from(b).ok()) {
                Some(index) => (tag_of(u32::from_le_bytes(index)), false),
                None => return Inbound::Nothing,
            },
            Packet::HandshakeResponse(p) => (tag_of(p.receiver_idx), true),
            Packet::PacketCookieReply(p) => (tag_of(p.receiver_idx), false),
            Packet::PacketData(p) => (tag_of(p.receiver_idx), true),
        };
        let inner = IpAddr::V4(self.inner);
        let keyed = if self.current.tag == tag {
            &mut self.current
        } else {
            match self.previous.as_mut().filter(|p| p.tag == tag) {
                Some(previous) => previous,
                None => return Inbound::Nothing,
            }
        };
        let outcome = match keyed.tunn.decapsulate(Some(from), datagram, out) {
            TunnResult::WriteToNetwork(reply) => {
                // A handshake step: send it, then whatever was queued waiting for the session.
                let mut replies = vec![reply.to_vec()];
                while let TunnResult::WriteToNetwork(queued) = keyed.tunn.decapsulate(None, &[], out) {
                    replies.push(queued.to_vec());
                }
                Inbound::Reply(replies)
            }
            TunnResult::WriteToTunnelV4(packet, source) if IpAddr::V4(source) == inner => Inbound::Packet(packet.len()),
            TunnResult::WriteToTunnelV4(_, source) => {
                tracing::debug!(%source, peer = %inner, "tunnel: dropping a packet whose source is not the peer's");
                Inbound::Nothing
            }
            TunnResult::WriteToTunnelV6(..) | TunnResult::Done => Inbound::Nothing,
            TunnResult::Err(e) => {
                tracing::debug!(peer = %inner, "tunnel: decapsulating: {e:?}");
                return Inbound::Nothing;
            }
        };
        if proves_key {
            keyed.authenticated = Some(Instant::now());
        }
        outcome
    }

    /// Runs both tunnels' timers (handshake retries, keepalives, rekeying) and drops the
    /// previous tunnel once its grace is over. Returns the datagrams to send.
    pub(crate) fn tick(&mut self, scratch: &mut [u8]) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if self.previous.is_some() && self.current.established() {
            let since = *self.switched.get_or_insert_with(Instant::now);
            if since.elapsed() >= GRACE {
                self.previous = None;
                self.switched = None;
            }
        }
        for keyed in std::iter::once(&mut self.current).chain(self.previous.as_mut()) {
            if let TunnResult::WriteToNetwork(datagram) = keyed.tunn.update_timers(scratch) {
                out.push(datagram.to_vec());
            }
        }
        out
    }

    /// The key generation of the session outgoing packets use, if there is one.
    pub(crate) fn generation_in_use(&self) -> Option<u64> {
        match &self.previous {
            Some(previous) if !self.current.established() && previous.established() => Some(previous.generation),
            _ => self.current.established().then_some(self.current.generation),
        }
    }
}

#[cfg(test)]
mod tests {
    //! Two nodes' views of each other, wired in memory: the rotation table of the module doc,
    //! step by step, without a kernel.
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const B: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);

    struct Node {
        key: NodeKey,
        /// Its view of the other node.
        peer: PeerTunnels,
        address: Ipv4Addr,
        delivered: usize,
    }

    fn pair(a_key: &NetworkKey, b_key: &NetworkKey) -> (Node, Node) {
        let (ka, kb) = (NodeKey::generate(), NodeKey::generate());
        let a_view = PeerTunnels::new(SocketAddr::from((B, 1)), B, kb.public_key(), 0, &ka, a_key);
        let b_view = PeerTunnels::new(SocketAddr::from((A, 1)), A, ka.public_key(), 0, &kb, b_key);
        (Node { key: ka, peer: a_view, address: A, delivered: 0 }, Node { key: kb, peer: b_view, address: B, delivered: 0 })
    }

    /// A minimal IPv4 packet from `src` (what boringtun checks: version, length, source).
    fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&40u16.to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&src.octets());
        p[16..20].copy_from_slice(&dst.octets());
        p
    }

    /// Delivers datagrams back and forth until neither side has anything to say.
    fn deliver<'n>(mut datagrams: Vec<Vec<u8>>, mut from: &'n mut Node, mut to: &'n mut Node) {
        let mut out = vec![0u8; 2048];
        while !datagrams.is_empty() {
            let mut replies = Vec::new();
            for d in &datagrams {
                match to.peer.decapsulate(IpAddr::V4(from.address), d, &mut out) {
                    Inbound::Packet(_) => to.delivered += 1,
                    Inbound::Reply(r) => replies.extend(r),
                    Inbound::Nothing => {}
                }
            }
            datagrams = replies;
            std::mem::swap(&mut from, &mut to);
        }
    }

    /// `from` sends one packet to `to`.
    fn send(from: &mut Node, to: &mut Node) {
        let mut out = vec![0u8; 2048];
        let packet = ip_packet(from.address, to.address);
        let datagram = match from.peer.outgoing().encapsulate(&packet, &mut out) {
            TunnResult::WriteToNetwork(d) => d.to_vec(),
            _ => return,
        };
        deliver(vec![datagram], from, to);
    }

    fn rotate(node: &mut Node, key: &NetworkKey) -> Vec<Vec<u8>> {
        let mut scratch = vec![0u8; 2048];
        node.peer.rotate(&node.key, key, &mut scratch).into_iter().collect()
    }

    #[test]
    fn traffic_moves_to_the_new_key_only_once_both_sides_have_it() {
        let (k1, k2) = (NetworkKey::new(1, [1; 32]), NetworkKey::new(2, [2; 32]));
        let (mut a, mut b) = pair(&k1, &k1);
        send(&mut a, &mut b); // handshake; the packet waits in boringtun's queue and follows it
        send(&mut a, &mut b);
        send(&mut b, &mut a);
        assert_eq!((a.delivered, b.delivered), (1, 2));
        assert_eq!((a.peer.generation_in_use(), b.peer.generation_in_use()), (Some(1), Some(1)));

        // A has the new key, B not yet: A's initiation under generation 2 goes nowhere, and
        // traffic both ways stays on generation 1.
        let init = rotate(&mut a, &k2);
        assert_eq!(init.len(), 1);
        deliver(init, &mut a, &mut b);
        send(&mut a, &mut b);
        send(&mut b, &mut a);
        assert_eq!((a.delivered, b.delivered), (2, 3));
        assert_eq!((a.peer.generation_in_use(), b.peer.generation_in_use()), (Some(1), Some(1)));

        // B gets it: its initiation reaches A's new tunnel, and both move to generation 2.
        let init = rotate(&mut b, &k2);
        deliver(init, &mut b, &mut a);
        send(&mut a, &mut b);
        send(&mut b, &mut a);
        assert_eq!((a.delivered, b.delivered), (3, 4));
        assert_eq!((a.peer.generation_in_use(), b.peer.generation_in_use()), (Some(2), Some(2)));
    }

    #[test]
    fn a_peer_with_another_network_key_never_gets_a_session() {
        let (mut a, mut b) = pair(&NetworkKey::new(1, [1; 32]), &NetworkKey::new(1, [9; 32]));
        send(&mut a, &mut b);
        send(&mut b, &mut a);
        assert_eq!((a.delivered, b.delivered), (0, 0));
        // B answered A's initiation, but that proves nothing: neither counts a session.
        assert_eq!((a.peer.generation_in_use(), b.peer.generation_in_use()), (None, None));
    }
}
