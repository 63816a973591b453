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

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use boringtun::noise::{Packet, Tunn, TunnResult};

use crate::keys::{NetworkKey, NodeKey, PublicKey};

/// How long the previous key's tunnel is kept once the current one has a session: covers
/// packets in flight and the peer's own switch, which follows within a round trip.
const GRACE: Duration = Duration::from_secs(10);

/// A tunnel and the key generation it was made with.
struct Keyed {
    generation: u64,
    tag: u8,
    tunn: Tunn,
}

impl Keyed {
    fn established(&self) -> bool {
        self.tunn.time_since_last_handshake().is_some()
    }
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
        let tunn = Tunn::new(node.secret(), public_key.x25519(), Some(key.preshared()), None, index, None);
        Keyed { generation: key.generation(), tag: key.tag(), tunn }
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

    /// The tunnel a datagram from the peer belongs to, by the key tag in its index; `None`
    /// for a key this node does not have (yet, or any more) and for what is not WireGuard.
    pub(crate) fn incoming(&mut self, datagram: &[u8]) -> Option<&mut Tunn> {
        let tag = match Tunn::parse_incoming_packet(datagram).ok()? {
            // boringtun keeps the sender index of an initiation private; it is the 4 bytes
            // after the message type (WireGuard whitepaper §5.4.2), checked present by the parse.
            Packet::HandshakeInit(_) => tag_of(u32::from_le_bytes(datagram.get(4..8)?.try_into().ok()?)),
            Packet::HandshakeResponse(p) => tag_of(p.receiver_idx),
            Packet::PacketCookieReply(p) => tag_of(p.receiver_idx),
            Packet::PacketData(p) => tag_of(p.receiver_idx),
        };
        if self.current.tag == tag {
            return Some(&mut self.current.tunn);
        }
        self.previous.as_mut().filter(|p| p.tag == tag).map(|p| &mut p.tunn)
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
