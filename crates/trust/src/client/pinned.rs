//! A read-only client of one GUN whose root keys were chosen out of band — what an admission
//! policy verifies images with. Unlike [`super::Repository`] it never trusts a root on first
//! use: the served root must be signed by a pinned key. The metadata cache still gives every
//! other role its rollback floor.

use std::sync::Arc;

use palisade_pki::Clock;

use super::error::ClientResult;
use super::remote::{NotaryRemote, RemoteOptions};
use super::trust_dir::{MetadataCache, TrustDir};
use super::update::{update, RootPin, TrustedRepo};
use crate::names::Gun;

/// One GUN on one trust server, verified against pinned root keys.
pub struct PinnedRepository {
    gun: Gun,
    pin: RootPin,
    cache: MetadataCache,
    remote: NotaryRemote,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PinnedRepository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedRepository").field("gun", &self.gun).field("pin", &self.pin).finish_non_exhaustive()
    }
}

impl PinnedRepository {
    /// A reader of `gun` on `remote` (pull access only), caching under `cache`.
    pub fn new(gun: Gun, pin: RootPin, cache: &TrustDir, remote: &RemoteOptions, clock: Arc<dyn Clock>) -> ClientResult<Self> {
        let remote = NotaryRemote::new(&gun, remote, false)?;
        Ok(Self { cache: cache.metadata(&gun), gun, pin, remote, clock })
    }

    /// The verified repository; `None` when the server has no trust data for it.
    pub async fn fetch(&self) -> ClientResult<Option<TrustedRepo>> {
        update(&self.gun, &self.remote, &self.cache, Some(&self.pin), self.clock.now()).await
    }
}
