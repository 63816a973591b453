//! The node's image check, as the engine calls it before every container start, and the
//! explanation `palisade policy test` prints.

use palisade_policy::{Decision, Policy};

use super::{Daemon, NodeState};
use crate::error::{Error, Result};
use crate::model::LogKind;
use crate::node_policy::NodePolicy;
use crate::rpc::{ControlReply, NodeCall, PolicyRecord};

impl Daemon {
    /// Whether this node may start a container of `image` — known on the node by the manifest
    /// `digests` — under the cluster's image policy. A node in no swarm has no policy. Returns
    /// what audit-mode rules let through; a refusal is [`Error::PolicyRefused`]. Refusals and
    /// audits are reported to the policy log. `action` names the request there.
    pub async fn admit_container(&self, action: &str, image: &str, digests: &[String]) -> Result<Vec<String>> {
        let node = match self.current().await {
            NodeState::Inactive => return Ok(Vec::new()),
            // A locked manager still judges by the policy it last received.
            NodeState::Locked(_) => {
                let policy = NodePolicy::load(&self.config.data_root, self.config.clock.clone());
                return policy.judge(image, digests).await.map(|a| a.audited);
            }
            NodeState::Active(node) => node,
        };
        let outcome = node.policy.judge(image, digests).await;
        let records: Vec<PolicyRecord> = match &outcome {
            Err(Error::PolicyRefused(message)) => {
                vec![PolicyRecord { kind: LogKind::Refused, action: action.to_owned(), message: message.clone() }]
            }
            Ok(admitted) => admitted
                .audited
                .iter()
                .map(|m| PolicyRecord { kind: LogKind::Audited, action: action.to_owned(), message: m.clone() })
                .collect(),
            Err(_) => Vec::new(),
        };
        if !records.is_empty() {
            let node = node.clone();
            tokio::spawn(async move {
                match node.node_call(NodeCall::PolicyRecords { records }).await {
                    Ok(ControlReply::Done) => {}
                    Ok(other) => tracing::warn!("policy records: unexpected reply {other:?}"),
                    Err(e) => tracing::warn!("policy records not delivered: {e}"),
                }
            });
        }
        outcome.map(|a| a.audited)
    }

    /// How `policy` (version and text; `None`: none set) judges `image`, rule by rule,
    /// evaluated by this node.
    pub(crate) async fn explain_image(&self, policy: Option<(u64, String)>, image: &str) -> Result<Decision> {
        let node = self.active().await?;
        let (version, parsed) = match policy {
            Some((version, text)) => (version, Policy::parse(&text).map_err(|e| Error::internal("the stored image policy", e))?),
            None => (0, Policy::parse("").map_err(|e| Error::internal("empty policy", e))?),
        };
        node.policy.evaluator().evaluate(&parsed, version, image, &[]).await.map_err(|e| Error::invalid(e.to_string()))
    }
}
