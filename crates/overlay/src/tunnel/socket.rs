//! The tunnel's UDP socket on the underlay, batched through quinn-udp: many datagrams of one
//! size to one peer leave in a single `sendmsg` with UDP GSO (the kernel's stack then handles
//! them as one until the wire), and `recvmmsg` with UDP GRO brings many in per call: a
//! system call and a trip through the stack per packet cost a userspace tunnel more than
//! its cipher.

use std::io::{self, IoSliceMut};
use std::net::SocketAddr;

use quinn_udp::{RecvMeta, Transmit, UdpSocketState};
use tokio::io::Interest;
use tokio::net::UdpSocket;

/// The largest UDP payload in one GSO send (an IPv4 datagram's limit less its headers).
const GSO_BYTES: usize = 65_507;

/// Room after the queued datagrams for the one being written: the largest datagram the
/// tunnel makes (a packet of the TUN device, whose MTU is at most 64 KiB, and WireGuard's
/// 32 bytes).
pub(super) const SPARE: usize = 65_536 + 32;

/// Datagrams to one peer, written in place by the encrypting code and sent in one GSO
/// send: all of one size except perhaps the last, which may be shorter (the kernel's rule
/// for `UDP_SEGMENT`).
///
/// Invariants: `buf[..len]` holds `count` datagrams; when `count > 0`,
/// `len == (count - 1) * segment + last` with `0 < last <= segment`, and `len <= GSO_BYTES`;
/// `closed` once a datagram shorter than `segment` was added (nothing may follow it);
/// `pending`, when set, is a datagram of that many bytes at `buf[len..]` that could not join
/// and starts the next batch.
pub(super) struct Batch {
    buf: Box<[u8]>,
    len: usize,
    count: usize,
    segment: usize,
    closed: bool,
    to: Option<SocketAddr>,
    pending: Option<(usize, SocketAddr)>,
    max_segments: usize,
}

impl Batch {
    pub(super) fn new(max_segments: usize) -> Self {
        Self {
            buf: vec![0; GSO_BYTES + SPARE].into_boxed_slice(),
            len: 0,
            count: 0,
            segment: 0,
            closed: false,
            to: None,
            pending: None,
            max_segments: max_segments.max(1),
        }
    }

    /// Where the next datagram is to be written: after those queued, [`SPARE`] bytes or
    /// more. Writing there and then calling [`Batch::commit`] saves copying each datagram
    /// into the batch.
    pub(super) fn spare(&mut self) -> &mut [u8] {
        debug_assert!(self.pending.is_none(), "a pending datagram must be flushed first");
        &mut self.buf[self.len..]
    }

    /// Takes the `n` bytes just written at the start of [`Batch::spare`] as a datagram for
    /// `to`. Returns true when the batch must be sent now: it is full, or the datagram
    /// could not join it (another peer, larger, after a shorter one, or past the GSO
    /// limit) and waits as the start of the next one.
    pub(super) fn commit(&mut self, n: usize, to: SocketAddr) -> bool {
        debug_assert!(n > 0 && n <= SPARE);
        let joins = self.count == 0
            || (self.to == Some(to) && !self.closed && n <= self.segment && self.count < self.max_segments && self.len + n <= GSO_BYTES);
        if !joins {
            self.pending = Some((n, to));
            return true;
        }
        if self.count == 0 {
            self.segment = n;
            self.to = Some(to);
        }
        self.closed = n < self.segment;
        self.len += n;
        self.count += 1;
        self.count >= self.max_segments
    }

    /// Empties the batch; a pending datagram moves to the front as its first one.
    fn clear(&mut self) {
        let (len, pending) = (self.len, self.pending.take());
        self.len = 0;
        self.count = 0;
        self.closed = false;
        self.to = None;
        if let Some((n, to)) = pending {
            self.buf.copy_within(len..len + n, 0);
            self.commit(n, to);
        }
    }
}

/// Datagrams received in one call: `slots` buffers, each of which GRO may fill with several
/// datagrams of `stride` bytes.
pub(super) struct Received {
    storage: Vec<Vec<u8>>,
    meta: Vec<RecvMeta>,
    count: usize,
}

impl Received {
    pub(super) fn new(slots: usize) -> Self {
        Self { storage: vec![vec![0; 65_536]; slots], meta: vec![RecvMeta::default(); slots], count: 0 }
    }

    /// Every datagram received, with its sender.
    pub(super) fn datagrams(&self) -> impl Iterator<Item = (SocketAddr, &[u8])> {
        self.meta[..self.count].iter().zip(&self.storage).flat_map(|(meta, buf)| {
            let stride = meta.stride.max(1);
            buf[..meta.len].chunks(stride).map(move |d| (meta.addr, d))
        })
    }
}

pub(super) struct Socket {
    udp: UdpSocket,
    state: UdpSocketState,
}

impl Socket {
    pub(super) fn new(udp: UdpSocket) -> io::Result<Self> {
        let state = UdpSocketState::new((&udp).into())?;
        Ok(Self { udp, state })
    }

    /// How many datagrams one send may carry.
    pub(super) fn max_segments(&self) -> usize {
        self.state.max_gso_segments()
    }

    /// How many receive buffers to give [`Socket::recv`].
    pub(super) fn batch_slots(&self) -> usize {
        quinn_udp::BATCH_SIZE.clamp(1, 32)
    }

    async fn transmit(&self, transmit: &Transmit<'_>) {
        if let Err(e) = self.udp.async_io(Interest::WRITABLE, || self.state.try_send((&self.udp).into(), transmit)).await {
            tracing::debug!(to = %transmit.destination, "tunnel: sending: {e}");
        }
    }

    /// Sends one datagram.
    pub(super) async fn send(&self, datagram: &[u8], to: SocketAddr) {
        self.transmit(&Transmit { destination: to, ecn: None, contents: datagram, segment_size: None, src_ip: None }).await;
    }

    /// Sends a batch (one GSO send) and empties it, keeping a pending datagram for the
    /// next one.
    pub(super) async fn flush(&self, batch: &mut Batch) {
        if let (Some(to), true) = (batch.to, batch.count > 0) {
            let segment_size = (batch.count > 1).then_some(batch.segment);
            self.transmit(&Transmit { destination: to, ecn: None, contents: &batch.buf[..batch.len], segment_size, src_ip: None }).await;
        }
        batch.clear();
    }

    /// Sends everything queued, a pending datagram included.
    pub(super) async fn flush_all(&self, batch: &mut Batch) {
        self.flush(batch).await;
        if batch.count > 0 {
            self.flush(batch).await;
        }
    }

    /// Waits for datagrams and receives as many as are there.
    pub(super) async fn recv(&self, into: &mut Received) -> io::Result<()> {
        let Received { storage, meta, count } = into;
        let mut slices: Vec<IoSliceMut<'_>> = storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        *count = self.udp.async_io(Interest::READABLE, || self.state.recv((&self.udp).into(), &mut slices, meta)).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(192, 0, 2, 1), 1));
    const B: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(192, 0, 2, 2), 1));

    /// Writes `n` bytes of `fill` where the next datagram goes and commits it.
    fn add(batch: &mut Batch, n: usize, fill: u8, to: SocketAddr) -> bool {
        batch.spare()[..n].fill(fill);
        batch.commit(n, to)
    }

    #[test]
    fn a_batch_takes_equal_datagrams_and_one_shorter_last() {
        let mut batch = Batch::new(64);
        assert!(!add(&mut batch, 100, 1, A));
        assert!(!add(&mut batch, 100, 2, A));
        assert!(!add(&mut batch, 60, 3, A)); // shorter: joins, and closes the batch
        assert_eq!((batch.count, batch.len, batch.segment), (3, 260, 100));
        assert!(add(&mut batch, 100, 4, A)); // nothing follows a shorter one: pending
        assert_eq!(batch.count, 3);
        batch.clear();
        assert_eq!((batch.count, batch.len, batch.segment), (1, 100, 100));
        assert!(batch.buf[..100].iter().all(|&b| b == 4), "the pending datagram starts the next batch");
    }

    #[test]
    fn another_peer_or_a_larger_datagram_starts_the_next_batch() {
        let mut batch = Batch::new(64);
        add(&mut batch, 100, 1, A);
        assert!(add(&mut batch, 100, 2, B));
        batch.clear();
        assert_eq!((batch.to, batch.count), (Some(B), 1));
        assert!(add(&mut batch, 120, 3, B));
        batch.clear();
        assert_eq!((batch.segment, batch.len), (120, 120));
    }

    #[test]
    fn a_batch_is_full_at_max_segments_or_the_gso_limit() {
        let mut batch = Batch::new(3);
        assert!(!add(&mut batch, 1000, 1, A));
        assert!(!add(&mut batch, 1000, 1, A));
        assert!(add(&mut batch, 1000, 1, A)); // the third of three: send now
        assert!(batch.pending.is_none());

        let mut batch = Batch::new(64);
        let mut joined = 0;
        while !add(&mut batch, 20_000, 1, A) {
            joined += 1;
        }
        assert_eq!(joined, 3); // a fourth 20 000-byte datagram would pass 65 507 bytes
        assert!(batch.len <= GSO_BYTES && batch.pending.is_some());
    }
}
