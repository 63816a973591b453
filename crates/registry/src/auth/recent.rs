//! Credentials verified lately, remembered so that a client sending the same ones with every
//! request (docker and skopeo in basic mode do) costs one expensive check a minute, not one per
//! request.
//!
//! Invariant: only a keyed hash of `user` and `password` is kept (the key is random per
//! process), never the password; entries expire after [`RECENT_TTL`].

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

/// How long verified credentials are remembered.
pub const RECENT_TTL: Duration = Duration::from_secs(60);
/// How many are remembered at most (the expired ones are forgotten first when full).
const RECENT_MAX: usize = 1024;

/// Credentials that passed their check lately.
pub struct RecentLogins {
    until: Mutex<HashMap<[u8; 32], Instant>>,
    key: [u8; 32],
}

impl Default for RecentLogins {
    fn default() -> Self {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Self { until: Mutex::new(HashMap::new()), key }
    }
}

impl std::fmt::Debug for RecentLogins {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentLogins").finish_non_exhaustive()
    }
}

impl RecentLogins {
    fn tag(&self, user: &str, password: &str) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.key);
        h.update((user.len() as u64).to_be_bytes());
        h.update(user.as_bytes());
        h.update(password.as_bytes());
        h.finalize().into()
    }

    /// Whether `user:password` was remembered less than [`RECENT_TTL`] ago.
    pub fn contains(&self, user: &str, password: &str) -> bool {
        let tag = self.tag(user, password);
        let until = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        until.get(&tag).is_some_and(|t| *t > Instant::now())
    }

    /// Remembers `user:password` as verified, for [`RECENT_TTL`].
    pub fn remember(&self, user: &str, password: &str) {
        let now = Instant::now();
        let mut until = self.until.lock().unwrap_or_else(PoisonError::into_inner);
        if until.len() >= RECENT_MAX {
            until.retain(|_, t| *t > now);
        }
        if until.len() >= RECENT_MAX {
            until.clear();
        }
        until.insert(self.tag(user, password), now + RECENT_TTL);
    }

    /// Forgets everything (a password or membership changed).
    pub fn clear(&self) {
        self.until.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
