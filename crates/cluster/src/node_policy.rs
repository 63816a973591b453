//! This node's copy of the cluster's image policy, and the check every container start on the
//! node passes — service tasks and plain `docker run` alike. The node judges images itself,
//! with the policy's pinned trust roots, so a manager that is wrong (or compromised) cannot
//! make it run an image the policy refuses.
//!
//! Heartbeats deliver the policy whenever the node holds another version; it is kept in
//! `policy/policy.json` (0600) so the node keeps judging across restarts and while no
//! manager answers. Until a node in a swarm has received a policy at all, it refuses rather
//! than guessing.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use palisade_policy::{Evaluator, Policy};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::error::{Error, Result};
use crate::paths::{create_private_dir, DataRoot};
use crate::rpc::PolicyState;

/// How long a start waits for a node that just joined to receive its first policy.
const FIRST_POLICY_WAIT: Duration = Duration::from_secs(15);

/// The policy a node holds: its version, and the policy (`None`: the cluster has none) or why
/// it cannot be used.
#[derive(Clone)]
struct Held {
    version: u64,
    policy: std::result::Result<Option<Arc<Policy>>, String>,
}

impl Held {
    fn from_state(state: &PolicyState) -> Self {
        let policy = match &state.text {
            None => Ok(None),
            Some(text) => Policy::parse(text).map(|p| Some(Arc::new(p))).map_err(|e| e.to_string()),
        };
        Self { version: state.version, policy }
    }
}

/// What the check allowed: the warnings of audit-mode rules (each also worth recording).
#[derive(Debug, Default)]
pub(crate) struct Admitted {
    pub(crate) audited: Vec<String>,
}

/// The node's policy and evaluator.
pub(crate) struct NodePolicy {
    file: PathBuf,
    held: watch::Sender<Option<Held>>,
    evaluator: Evaluator,
}

#[derive(Serialize, Deserialize)]
struct Persisted {
    version: u64,
    text: Option<String>,
}

impl NodePolicy {
    /// The policy `data` holds, if any.
    pub(crate) fn load(data: &DataRoot, clock: Arc<dyn palisade_pki::Clock>) -> Self {
        let file = data.policy_dir().join("policy.json");
        let held = match std::fs::read(&file) {
            Ok(bytes) => match serde_json::from_slice::<Persisted>(&bytes) {
                Ok(p) => Some(Held::from_state(&PolicyState { version: p.version, text: p.text })),
                Err(e) => {
                    tracing::warn!("{}: {e}; waiting for the cluster's policy", file.display());
                    None
                }
            },
            Err(_) => None,
        };
        Self { file, held: watch::Sender::new(held), evaluator: data.policy_evaluator(clock) }
    }

    /// The version held, for the next heartbeat.
    pub(crate) fn version(&self) -> Option<u64> {
        self.held.borrow().as_ref().map(|h| h.version)
    }

    /// Keeps `state` (persisted first, so a restart judges by it too).
    pub(crate) fn install(&self, state: PolicyState) -> Result<()> {
        let held = Held::from_state(&state);
        if let Err(e) = &held.policy {
            tracing::error!(version = state.version, "the cluster's image policy does not parse here; refusing every image: {e}");
        }
        let dir = self.file.parent().ok_or_else(|| Error::internal("policy file", "no parent directory"))?;
        create_private_dir(dir).map_err(|e| Error::internal(format!("create {}", dir.display()), e))?;
        let bytes = serde_json::to_vec(&Persisted { version: state.version, text: state.text })
            .map_err(|e| Error::internal("encode policy", e))?;
        palisade_pki::write_private_file(&self.file, &bytes).map_err(|e| Error::internal("save policy", e))?;
        tracing::info!(version = held.version, "image policy received");
        self.held.send_replace(Some(held));
        Ok(())
    }

    /// Judges `image` (with the manifest `digests` the node holds it under) for a container
    /// start: [`Error::PolicyRefused`] when an enforcing rule refuses.
    pub(crate) async fn judge(&self, image: &str, digests: &[String]) -> Result<Admitted> {
        let mut rx = self.held.subscribe();
        let held = match tokio::time::timeout(FIRST_POLICY_WAIT, rx.wait_for(Option::is_some)).await {
            Ok(Ok(held)) => held.clone(),
            _ => None,
        };
        let Some(held) = held else {
            return Err(Error::Unavailable("this node has not received the cluster's image policy yet; retry".into()));
        };
        let policy = match held.policy {
            Ok(Some(policy)) => policy,
            Ok(None) => return Ok(Admitted::default()),
            Err(e) => {
                return Err(Error::PolicyRefused(format!(
                    "image policy: version {} of the cluster's policy cannot be used on this node: {e}",
                    held.version
                )))
            }
        };
        let decision = self.evaluator.evaluate(&policy, held.version, image, digests).await.map_err(|e| Error::invalid(e.to_string()))?;
        match decision.refusal() {
            Some(refusal) => Err(Error::PolicyRefused(refusal)),
            None => Ok(Admitted { audited: decision.audited() }),
        }
    }

    /// Evaluates without deciding anything (`palisade policy test`).
    pub(crate) fn evaluator(&self) -> &Evaluator {
        &self.evaluator
    }
}
