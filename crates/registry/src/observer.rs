//! Observers of committed manifest pushes: how scan-on-push (and, later, webhooks) learn of
//! new content without the registry depending on them.

use crate::Digest;
use crate::names::RepoName;

/// A manifest PUT that has committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedManifest {
    /// Repository it was pushed to.
    pub repo: RepoName,
    /// Its digest.
    pub digest: Digest,
}

/// Told of every committed manifest push.
///
/// Called on the request's task after the manifest is stored and before the response is sent:
/// an implementation must return at once (queue the work elsewhere) so pushes never wait on it.
pub trait ManifestObserver: Send + Sync + 'static {
    /// A manifest was pushed.
    fn manifest_pushed(&self, pushed: &PushedManifest);
}
