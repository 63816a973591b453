//! The node's image policy (kept by the cluster daemon) as the engine's image gate: every
//! container create on this node is judged by it, `docker run` and service tasks alike.

use std::sync::Weak;

use futures::future::BoxFuture;
use palisade_cluster::{Daemon, Error};
use palisade_engine::{GateError, ImageGate};

/// Holds the daemon weakly: the daemon owns the engine (its task executor), not the reverse.
pub(crate) struct PolicyGate(pub(crate) Weak<Daemon>);

impl ImageGate for PolicyGate {
    fn admit<'a>(&'a self, action: &'a str, image: &'a str, digests: &'a [String]) -> BoxFuture<'a, Result<Vec<String>, GateError>> {
        Box::pin(async move {
            let Some(daemon) = self.0.upgrade() else {
                return Err(GateError::Unavailable("the node is shutting down".into()));
            };
            daemon.admit_container(action, image, digests).await.map_err(|e| match e {
                Error::Unavailable(message) => GateError::Unavailable(message),
                // Refusals, and anything that kept the policy from deciding: refuse.
                other => GateError::Refused(other.to_string()),
            })
        })
    }
}
