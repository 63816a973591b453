//! Connection caps per peer and in total, tighter for connections not yet authenticated.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::Limits;

/// Who a connection comes from, for the per-peer caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Peer {
    /// A network peer, by address.
    Address(IpAddr),
    /// A local client of a unix socket, by process ID (`SO_PEERCRED`; 0 when unknown).
    Process(i32),
}

impl From<IpAddr> for Peer {
    fn from(ip: IpAddr) -> Self {
        Self::Address(ip)
    }
}

/// Open connections, in total and per peer.
///
/// Invariant: `unauthenticated <= total` overall and per peer; a peer's entry exists only
/// while it has a connection open.
#[derive(Debug, Default)]
struct Counts {
    total: usize,
    unauthenticated: usize,
    per_peer: HashMap<Peer, PeerCount>,
}

#[derive(Debug, Default, Clone, Copy)]
struct PeerCount {
    total: usize,
    unauthenticated: usize,
}

/// Admits connections within [`Limits`]' caps.
#[derive(Debug)]
pub struct ConnectionGate {
    limits: Limits,
    counts: Mutex<Counts>,
}

/// One admitted connection; dropping it frees its place.
#[derive(Debug)]
pub struct Ticket {
    gate: Arc<ConnectionGate>,
    peer: Peer,
    authenticated: AtomicBool,
}

impl ConnectionGate {
    /// A gate enforcing `limits`' connection caps.
    pub fn new(limits: Limits) -> Self {
        Self { limits, counts: Mutex::new(Counts::default()) }
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for a new (unauthenticated) connection from `peer`, or `None` when a cap is
    /// reached.
    pub fn admit(self: &Arc<Self>, peer: impl Into<Peer>) -> Option<Ticket> {
        let peer = peer.into();
        let l = &self.limits;
        let mut c = self.counts();
        let p = c.per_peer.get(&peer).copied().unwrap_or_default();
        if c.total >= l.max_connections
            || c.unauthenticated >= l.max_unauthenticated
            || p.total >= l.max_connections_per_peer
            || p.unauthenticated >= l.max_unauthenticated_per_peer
        {
            return None;
        }
        c.total += 1;
        c.unauthenticated += 1;
        let entry = c.per_peer.entry(peer).or_default();
        entry.total += 1;
        entry.unauthenticated += 1;
        Some(Ticket { gate: self.clone(), peer, authenticated: AtomicBool::new(false) })
    }

    /// `(total, unauthenticated)` open connections.
    pub fn open(&self) -> (usize, usize) {
        let c = self.counts();
        (c.total, c.unauthenticated)
    }
}

impl Ticket {
    /// Whether the connection made an authenticated request.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated.load(Ordering::Acquire)
    }

    /// Moves the connection under the authenticated caps (idempotent).
    pub fn promote(&self) {
        if self.authenticated.swap(true, Ordering::AcqRel) {
            return;
        }
        let mut c = self.gate.counts();
        c.unauthenticated = c.unauthenticated.saturating_sub(1);
        if let Some(p) = c.per_peer.get_mut(&self.peer) {
            p.unauthenticated = p.unauthenticated.saturating_sub(1);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let authenticated = self.is_authenticated();
        let mut c = self.gate.counts();
        c.total = c.total.saturating_sub(1);
        if !authenticated {
            c.unauthenticated = c.unauthenticated.saturating_sub(1);
        }
        if let Some(p) = c.per_peer.get_mut(&self.peer) {
            p.total = p.total.saturating_sub(1);
            if !authenticated {
                p.unauthenticated = p.unauthenticated.saturating_sub(1);
            }
            if p.total == 0 {
                c.per_peer.remove(&self.peer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_connections: 4,
            max_connections_per_peer: 3,
            max_unauthenticated: 3,
            max_unauthenticated_per_peer: 2,
            ..Limits::default()
        }
    }

    #[test]
    fn caps_per_peer_and_in_total_tighter_before_authentication() {
        let gate = Arc::new(ConnectionGate::new(limits()));
        let (a, b): (IpAddr, IpAddr) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let a1 = gate.admit(a).unwrap();
        let _a2 = gate.admit(a).unwrap();
        assert!(gate.admit(a).is_none(), "two unauthenticated per peer");
        a1.promote();
        let _a3 = gate.admit(a).unwrap();
        assert!(gate.admit(a).is_none(), "three per peer");
        let _b1 = gate.admit(b).unwrap();
        assert!(gate.admit(b).is_none(), "four in total");
        assert_eq!(gate.open(), (4, 3));
        drop(a1);
        assert_eq!(gate.open(), (3, 3));
        assert!(gate.admit(b).is_none(), "three unauthenticated in total");
    }

    #[test]
    fn dropped_tickets_free_everything() {
        let gate = Arc::new(ConnectionGate::new(limits()));
        let t: Vec<_> = (0..2).filter_map(|_| gate.admit("192.0.2.1".parse::<std::net::IpAddr>().unwrap())).collect();
        t[0].promote();
        drop(t);
        assert_eq!(gate.open(), (0, 0));
        assert!(gate.counts().per_peer.is_empty());
    }
}
