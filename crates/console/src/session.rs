//! Server-side sessions: a random 256-bit id in the cookie, the user and the CSRF token here.
//!
//! Invariant: the map is keyed by the SHA-256 of the id, never the id itself, so that a
//! lookup's timing says nothing useful about stored ids. A session ends at its first use
//! after [`SessionLimits::idle`] without use or [`SessionLimits::absolute`] after login.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::rngs::OsRng;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionLimits {
    /// Longest time without a request.
    pub idle: Duration,
    /// Longest time after login, however busy.
    pub absolute: Duration,
}

impl Default for SessionLimits {
    /// 30 minutes idle, 8 hours in all: a working day, and a walk-away is short.
    fn default() -> Self {
        Self { idle: Duration::from_secs(30 * 60), absolute: Duration::from_secs(8 * 60 * 60) }
    }
}

/// A logged-in session as handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The user.
    pub user: String,
    /// The token every form of this session carries (64 hex characters).
    pub csrf: String,
}

struct Entry {
    session: Session,
    created: Instant,
    last_seen: Instant,
}

/// The sessions of one console, in memory (a restart logs everyone out).
pub struct Sessions {
    limits: SessionLimits,
    entries: Mutex<HashMap<[u8; 32], Entry>>,
}

/// 32 random bytes from the OS, as hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

fn key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// An empty store with these limits.
    pub fn new(limits: SessionLimits) -> Self {
        Self { limits, entries: Mutex::new(HashMap::new()) }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Entry>> {
        // A panic while holding the lock leaves the map consistent (every change is one insert
        // or remove), so a poisoned lock is still usable.
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts a session for `user` at `now`; returns the id for the cookie and the session.
    /// Expired sessions are dropped on the way.
    pub fn create(&self, user: &str, now: Instant) -> (String, Session) {
        let id = random_token();
        let session = Session { user: user.to_owned(), csrf: random_token() };
        let mut entries = self.entries();
        let limits = self.limits;
        entries.retain(|_, e| alive(limits, e, now));
        entries.insert(key(&id), Entry { session: session.clone(), created: now, last_seen: now });
        (id, session)
    }

    /// The live session with this id at `now` (and marks it used), or `None`; an expired one
    /// is removed.
    pub fn touch(&self, id: &str, now: Instant) -> Option<Session> {
        let k = key(id);
        let mut entries = self.entries();
        let entry = entries.get_mut(&k)?;
        if !alive(self.limits, entry, now) {
            entries.remove(&k);
            return None;
        }
        entry.last_seen = now;
        Some(entry.session.clone())
    }

    /// Ends the session (logout).
    pub fn remove(&self, id: &str) {
        self.entries().remove(&key(id));
    }

    /// How many sessions are kept (live or not yet swept).
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn alive(limits: SessionLimits, e: &Entry, now: Instant) -> bool {
    now.saturating_duration_since(e.last_seen) < limits.idle && now.saturating_duration_since(e.created) < limits.absolute
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn ids_and_tokens_are_256_random_bits_and_distinct() {
        let s = Sessions::new(SessionLimits::default());
        let now = Instant::now();
        let (a, sa) = s.create("alice", now);
        let (b, sb) = s.create("alice", now);
        assert_eq!(a.len(), 64);
        assert_eq!(sa.csrf.len(), 64);
        assert_ne!(a, b);
        assert_ne!(sa.csrf, sb.csrf);
        assert_ne!(a, sa.csrf);
    }

    #[test]
    fn a_session_lives_while_used_and_ends_after_idling() {
        let s = Sessions::new(SessionLimits { idle: 30 * MIN, absolute: 8 * 60 * MIN });
        let t0 = Instant::now();
        let (id, session) = s.create("alice", t0);
        assert_eq!(s.touch(&id, t0 + 29 * MIN), Some(session.clone()));
        assert_eq!(s.touch(&id, t0 + 58 * MIN), Some(session), "each use restarts the idle time");
        assert_eq!(s.touch(&id, t0 + 89 * MIN), None, "31 minutes idle");
        assert!(s.is_empty(), "the expired session is removed");
    }

    #[test]
    fn a_session_ends_after_its_absolute_limit_however_busy() {
        let s = Sessions::new(SessionLimits { idle: 30 * MIN, absolute: 60 * MIN });
        let t0 = Instant::now();
        let (id, _) = s.create("alice", t0);
        for m in (10..60).step_by(10) {
            assert!(s.touch(&id, t0 + m * MIN).is_some());
        }
        assert!(s.touch(&id, t0 + 60 * MIN).is_none());
    }

    #[test]
    fn logout_and_unknown_ids_find_nothing() {
        let s = Sessions::new(SessionLimits::default());
        let now = Instant::now();
        let (id, _) = s.create("alice", now);
        assert!(s.touch("not-a-session", now).is_none());
        s.remove(&id);
        assert!(s.touch(&id, now).is_none());
    }

    #[test]
    fn creating_a_session_sweeps_expired_ones() {
        let s = Sessions::new(SessionLimits { idle: MIN, absolute: 10 * MIN });
        let t0 = Instant::now();
        s.create("alice", t0);
        s.create("bob", t0);
        s.create("carol", t0 + 2 * MIN);
        assert_eq!(s.len(), 1);
    }
}
