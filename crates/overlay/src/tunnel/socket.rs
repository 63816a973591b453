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

/// Datagrams of one size to one peer, back to back. Invariant: `len == count * segment`.
pub(super) struct Batch {
    buf: Vec<u8>,
    len: usize,
    count: usize,
    segment: usize,
    to: Option<SocketAddr>,
    max_segments: usize,
}

impl Batch {
    pub(super) fn new(max_segments: usize) -> Self {
        Self { buf: vec![0; GSO_BYTES], len: 0, count: 0, segment: 0, to: None, max_segments: max_segments.max(1) }
    }

    /// Adds `datagram` for `to` if it fits this batch (same peer, same size, room left).
    pub(super) fn push(&mut self, datagram: &[u8], to: SocketAddr) -> bool {
        let fits = self.count == 0
            || (self.to == Some(to) && datagram.len() == self.segment && self.count < self.max_segments && self.len + datagram.len() <= GSO_BYTES);
        if !fits || datagram.len() > GSO_BYTES {
            return false;
        }
        self.buf[self.len..self.len + datagram.len()].copy_from_slice(datagram);
        self.len += datagram.len();
        self.count += 1;
        self.segment = datagram.len();
        self.to = Some(to);
        debug_assert_eq!(self.len, self.count * self.segment);
        true
    }

    pub(super) fn is_full(&self) -> bool {
        self.count >= self.max_segments
    }

    fn clear(&mut self) {
        self.len = 0;
        self.count = 0;
        self.to = None;
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

    /// Sends a batch (one GSO send) and empties it.
    pub(super) async fn flush(&self, batch: &mut Batch) {
        if let (Some(to), true) = (batch.to, batch.count > 0) {
            let segment_size = (batch.count > 1).then_some(batch.segment);
            self.transmit(&Transmit { destination: to, ecn: None, contents: &batch.buf[..batch.len], segment_size, src_ip: None }).await;
        }
        batch.clear();
    }

    /// Waits for datagrams and receives as many as are there.
    pub(super) async fn recv(&self, into: &mut Received) -> io::Result<()> {
        let Received { storage, meta, count } = into;
        let mut slices: Vec<IoSliceMut<'_>> = storage.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        *count = self.udp.async_io(Interest::READABLE, || self.state.recv((&self.udp).into(), &mut slices, meta)).await?;
        Ok(())
    }
}
