//! Admission of password checks. A bcrypt check costs tens of milliseconds of CPU by design, so
//! a flood of bad passwords could otherwise slow every login on the machine. Before a check
//! runs, the caller's address and the user name asked for must each be under their rate, and
//! one of a few check slots must come free soon; otherwise the request is answered 429 at once.
//!
//! The limits apply to known and unknown user names alike, so a refusal reveals nothing about
//! which users exist.

use std::collections::HashMap;
use std::hash::BuildHasher as _;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Password checks one client address may start: `ADDRESS_RATE` per second, `ADDRESS_BURST` at
/// once (a docker pull in basic mode makes a few dozen requests in a row).
const ADDRESS_RATE: u32 = 10;
const ADDRESS_BURST: u32 = 40;
/// Password checks for one user name, from all addresses together.
const USER_RATE: u32 = 10;
const USER_BURST: u32 = 40;
/// Checks one address may have running at once (more wait for their turn up to [`SLOT_WAIT`]),
/// so one address never holds every slot. A client in basic mode needs a check only when its
/// credentials are not remembered (see `Htpasswd::recently_verified`).
const ADDRESS_IN_FLIGHT: usize = 2;
/// Checks waiting for a slot beyond this many are refused rather than queued.
const MAX_WAITING_PER_SLOT: usize = 4;
/// How long a check may wait for a slot.
const SLOT_WAIT: Duration = Duration::from_secs(2);
/// Rate states kept before idle ones are dropped (each is a few bytes).
const MAX_TRACKED: usize = 10_000;

/// Why a password check was not run (the request is answered 429).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client's address is over its rate.
    Address,
    /// The user name is over its rate.
    User,
    /// Every check slot is busy and enough checks already wait.
    Busy,
}

/// Each address's share of the checks: [`ADDRESS_IN_FLIGHT`] permits.
type Shares = Arc<Mutex<HashMap<IpAddr, Arc<Semaphore>>>>;

/// Held while one password check runs; dropping it frees the slot and the address's share.
#[derive(Debug)]
pub struct CheckSlot {
    _permit: OwnedSemaphorePermit,
    _share: Option<AddressShare>,
}

/// One of an address's [`ADDRESS_IN_FLIGHT`] checks. Invariant: an address's semaphore is
/// cloned out of the map only under the map's lock, so under that lock, once our permit is
/// dropped, a strong count of 1 (the map's) means nobody holds or waits for it: it is forgotten.
#[derive(Debug)]
struct AddressShare {
    shares: Shares,
    ip: IpAddr,
    permit: Option<OwnedSemaphorePermit>,
}

impl AddressShare {
    /// Waits up to [`SLOT_WAIT`] for one of `ip`'s shares.
    async fn take(shares: &Shares, ip: IpAddr) -> Option<Self> {
        let sem = {
            let mut map = shares.lock().unwrap_or_else(PoisonError::into_inner);
            map.entry(ip).or_insert_with(|| Arc::new(Semaphore::new(ADDRESS_IN_FLIGHT))).clone()
        };
        let mut share = Self { shares: shares.clone(), ip, permit: None };
        let acquired = tokio::time::timeout(SLOT_WAIT, sem.acquire_owned()).await;
        share.permit = Some(acquired.ok()?.ok()?);
        Some(share)
    }
}

impl Drop for AddressShare {
    fn drop(&mut self) {
        let mut map = self.shares.lock().unwrap_or_else(PoisonError::into_inner);
        drop(self.permit.take());
        if map.get(&self.ip).is_some_and(|sem| Arc::strong_count(sem) == 1) {
            map.remove(&self.ip);
        }
    }
}

/// Rates per address and per user name, and the check slots.
pub struct LoginGate {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    /// Keyed by a keyed hash of the name, so long names cost no memory.
    per_user: DefaultKeyedRateLimiter<u64>,
    hasher: std::collections::hash_map::RandomState,
    shares: Shares,
    /// Invariant: as many permits as check slots (at least one).
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    max_waiting: usize,
}

impl std::fmt::Debug for LoginGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginGate").field("max_waiting", &self.max_waiting).finish_non_exhaustive()
    }
}

fn quota(rate: u32, burst: u32) -> Quota {
    let nz = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(nz(rate)).allow_burst(nz(burst))
}

impl Default for LoginGate {
    /// One check slot per CPU.
    fn default() -> Self {
        Self::new(std::thread::available_parallelism().map_or(1, usize::from))
    }
}

impl LoginGate {
    /// A gate with `slots` concurrent checks.
    pub fn new(slots: usize) -> Self {
        let slots = slots.max(1);
        Self {
            per_address: RateLimiter::keyed(quota(ADDRESS_RATE, ADDRESS_BURST)),
            per_user: RateLimiter::keyed(quota(USER_RATE, USER_BURST)),
            hasher: std::collections::hash_map::RandomState::new(),
            shares: Shares::default(),
            slots: Arc::new(Semaphore::new(slots)),
            waiting: AtomicUsize::new(0),
            max_waiting: slots * MAX_WAITING_PER_SLOT,
        }
    }

    /// Admits one password check for `user` from `peer` (unknown for in-process callers), or
    /// says why not. Hold the slot while the check runs.
    pub async fn admit(&self, peer: Option<IpAddr>, user: &str) -> Result<CheckSlot, Refusal> {
        self.forget_idle();
        if let Some(ip) = peer {
            self.per_address.check_key(&ip).map_err(|_| Refusal::Address)?;
        }
        self.per_user.check_key(&self.hasher.hash_one(user)).map_err(|_| Refusal::User)?;
        let share = match peer {
            Some(ip) => Some(AddressShare::take(&self.shares, ip).await.ok_or(Refusal::Address)?),
            None => None,
        };
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_waiting {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::Busy);
        }
        let slot = tokio::time::timeout(SLOT_WAIT, self.slots.clone().acquire_owned()).await;
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        match slot {
            Ok(Ok(permit)) => Ok(CheckSlot { _permit: permit, _share: share }),
            _ => Err(Refusal::Busy),
        }
    }

    fn forget_idle(&self) {
        if self.per_address.len() > MAX_TRACKED {
            self.per_address.retain_recent();
        }
        if self.per_user.len() > MAX_TRACKED {
            self.per_user.retain_recent();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_over_its_rate_is_refused_and_others_are_not() {
        let gate = LoginGate::new(4);
        let flood: IpAddr = "192.0.2.1".parse().unwrap();
        let held = gate.admit(Some(flood), "a").await.unwrap();
        let _also = gate.admit(Some(flood), "b").await.unwrap();
        let started = tokio::time::Instant::now();
        assert_eq!(gate.admit(Some(flood), "c").await.unwrap_err(), Refusal::Address, "in flight");
        assert!(started.elapsed() >= SLOT_WAIT, "a third check waits for the address's turn");
        drop(held);
        let mut refused = None;
        for i in 0..=ADDRESS_BURST {
            match gate.admit(Some(flood), &format!("user{i}")).await {
                Ok(_) => {}
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        assert_eq!(refused, Some(Refusal::Address));
        assert!(gate.admit(Some("192.0.2.2".parse().unwrap()), "alice").await.is_ok());
    }

    #[tokio::test]
    async fn a_user_name_over_its_rate_is_refused_from_any_address() {
        let gate = LoginGate::new(4);
        for i in 0..USER_BURST {
            assert!(gate.admit(Some(IpAddr::from([192, 0, 2, i as u8])), "alice").await.is_ok());
        }
        assert_eq!(gate.admit(Some("198.51.100.1".parse().unwrap()), "alice").await.unwrap_err(), Refusal::User);
        assert!(gate.admit(Some("198.51.100.1".parse().unwrap()), "bob").await.is_ok());
    }

    #[tokio::test]
    async fn checks_beyond_the_slots_and_the_queue_are_refused() {
        let gate = Arc::new(LoginGate::new(1));
        let held = gate.admit(None, "a").await.unwrap();
        let mut waiters = Vec::new();
        for i in 0..MAX_WAITING_PER_SLOT {
            let gate = gate.clone();
            waiters.push(tokio::spawn(async move { gate.admit(None, &format!("w{i}")).await.map(|_| ()) }));
        }
        while gate.waiting.load(Ordering::Acquire) < MAX_WAITING_PER_SLOT {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.admit(None, "late").await.unwrap_err(), Refusal::Busy);
        drop(held);
        for w in waiters {
            assert!(w.await.unwrap().is_ok());
        }
    }
}
