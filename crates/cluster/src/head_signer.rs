//! The node's audit heads are signed with the node's own key: the ECDSA P-256 key of its swarm
//! node certificate, with that certificate chain in the head, so `palisade audit verify` can
//! check every head against the cluster's root CA and name the node that signed it — also after
//! the certificate (and with it the key) was renewed. A node that is not in a swarm has no such
//! key, and its log signs with its own (`head-key.pem`), as the standalone servers' logs do.

use std::fmt;
use std::sync::RwLock;

use palisade_audit::{CertifiedKey, HeadSigner};

use crate::daemon::NodeState;
use crate::identity::NodeIdentity;

/// Supplies the node's current key and certificate to its audit log. It follows the daemon's
/// membership state ([`NodeHeadSigner::follow`], called on every change of it), not the state's
/// lock, which `init` and `join` hold for seconds: signing never waits for them.
///
/// Invariant: holds the state the daemon is in (set before the daemon answers anything).
pub(crate) struct NodeHeadSigner(RwLock<NodeState>);

impl NodeHeadSigner {
    pub(crate) fn new(state: &NodeState) -> Self {
        Self(RwLock::new(state.clone()))
    }

    /// The daemon moved to `state`.
    pub(crate) fn follow(&self, state: &NodeState) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = state.clone();
    }
}

impl HeadSigner for NodeHeadSigner {
    fn certified_key(&self) -> palisade_audit::Result<Option<CertifiedKey>> {
        let state = self.0.read().unwrap_or_else(|e| e.into_inner());
        let active;
        let identity: &NodeIdentity = match &*state {
            // The identity as of now: a renewal replaces it in place.
            NodeState::Active(node) => {
                active = node.identity();
                &active
            }
            // A locked manager still holds its certificate and key (only the store is sealed).
            NodeState::Locked(locked) => &locked.identity,
            NodeState::Inactive => return Ok(None),
        };
        CertifiedKey::from_pem(&identity.key.to_pem(), &identity.cert_pem).map(Some)
    }
}

impl fmt::Debug for NodeHeadSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &*self.0.read().unwrap_or_else(|e| e.into_inner()) {
            NodeState::Active(_) => "active",
            NodeState::Locked(_) => "locked",
            NodeState::Inactive => "inactive",
        };
        f.debug_tuple("NodeHeadSigner").field(&state).finish()
    }
}
