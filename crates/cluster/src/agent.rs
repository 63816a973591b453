//! The node agent. On every node it heartbeats to the leader, renews the certificate when it is
//! due, and follows what the cluster wants: the role (taking on or giving up the manager role),
//! and the trust root.

use std::sync::Arc;
use std::time::Duration;

use palisade_pki::{NodeKey, NodeRole};

use crate::describe::local_description;
use crate::error::{Error, Result};
use crate::identity::NodeIdentity;
use crate::node::ActiveNode;
use crate::role::ManagerKeys;
use crate::rpc::{ControlReply, HeartbeatRequest, HeartbeatResponse, NodeCall};

/// Heartbeats are never sent more often than this, whatever the cluster asks.
const MIN_PERIOD: Duration = Duration::from_millis(100);
/// Retry period after a failed heartbeat.
const RETRY_PERIOD: Duration = Duration::from_secs(1);

/// Runs until the task is aborted (leave) or the cluster says this node was removed.
pub(crate) async fn run(node: Arc<ActiveNode>) {
    loop {
        let period = match beat(&node).await {
            Ok(period) => {
                node.set_error(None);
                period
            }
            Err(Error::PermissionDenied(message)) | Err(Error::Remote { status: 403, message }) => {
                tracing::warn!("the cluster refused this node: {message}");
                node.set_error(Some(message));
                return;
            }
            Err(e) => {
                tracing::warn!("heartbeat failed: {e}");
                RETRY_PERIOD
            }
        };
        tokio::select! {
            () = tokio::time::sleep(period.max(MIN_PERIOD)) => {}
            () = node.nudge.notified() => {}
        }
    }
}

/// One heartbeat and what follows from its answer.
async fn beat(node: &ActiveNode) -> Result<Duration> {
    let identity = node.identity();
    let response = match node
        .node_call(NodeCall::Heartbeat(HeartbeatRequest {
            description: local_description(identity.root.certs_pem(), node.dataplane.as_ref().map(|d| d.public_key())),
            policy_version: node.policy.version(),
        }))
        .await?
    {
        ControlReply::Heartbeat(response) => response,
        other => return Err(Error::internal("heartbeat", format!("unexpected reply {other:?}"))),
    };
    node.set_managers(response.managers.clone());
    if let Some(policy) = response.policy.clone() {
        node.policy.install(policy)?;
    }
    let role_changed = response.desired_role != identity.role();
    if role_changed || response.renew || node.renewal_due() {
        tracing::info!(role = %response.desired_role, role_changed, rotation = response.renew, "renewing certificate");
        renew(node).await?;
    }
    let current = node.identity();
    if response.trust_root_pem != current.root.certs_pem() {
        tracing::info!("adopting the cluster's new trust root");
        let key = NodeKey::from_pem(&current.key.to_pem()).map_err(|e| Error::internal("reload node key", e))?;
        install(node, key, current.cert_pem.clone(), &response.trust_root_pem)?;
    }
    follow_role(node, &response).await?;
    Ok(Duration::from_nanos(response.period_ns.max(0).unsigned_abs()))
}

async fn renew(node: &ActiveNode) -> Result<()> {
    let key = NodeKey::generate().map_err(|e| Error::internal("generate node key", e))?;
    let csr_pem = key.csr_pem().map_err(|e| Error::internal("make CSR", e))?;
    match node.node_call(NodeCall::Renew { csr_pem }).await? {
        ControlReply::Renew(renewed) => install(node, key, renewed.cert_pem, &renewed.root_ca_pem),
        other => Err(Error::internal("renew", format!("unexpected reply {other:?}"))),
    }
}

/// Takes on or gives up the manager role as the certificate now says, and joins raft when not
/// yet a voter.
async fn follow_role(node: &ActiveNode, response: &HeartbeatResponse) -> Result<()> {
    let role = node.role();
    match (role, node.manager_role()) {
        (NodeRole::Manager, None) => {
            let raft_id =
                response.raft_id.ok_or_else(|| Error::internal("promotion", "the cluster named no raft ID"))?;
            // Any earlier manager state of this node is stale: it left raft when demoted.
            node.data.wipe_manager_state()?;
            let keys = ManagerKeys::create(&node.data, None)?;
            node.start_manager_role(raft_id, keys, None).await?;
            join_raft(node).await
        }
        (NodeRole::Worker, Some(_)) => {
            tracing::info!("demoted: giving up the manager role");
            node.stop_manager_role().await
        }
        (NodeRole::Manager, Some(manager)) if !manager.is_voter() => join_raft(node).await,
        (NodeRole::Manager, Some(_)) | (NodeRole::Worker, None) => Ok(()),
    }
}

/// Asks the leader to make this manager a raft voter; returns once it is one.
pub(crate) async fn join_raft(node: &ActiveNode) -> Result<()> {
    tracing::info!("asking to join raft");
    match node.call_managers(&NodeCall::RaftJoin).await? {
        ControlReply::Done => Ok(()),
        other => Err(Error::internal("raft join", format!("unexpected reply {other:?}"))),
    }
}

/// Checks a renewed certificate against the current identity, then persists and uses it.
fn install(node: &ActiveNode, key: NodeKey, cert_pem: String, root_pem: &str) -> Result<()> {
    let renewed = NodeIdentity::new(key, cert_pem, root_pem)?;
    let current = node.identity();
    if renewed.cert.node_id != current.cert.node_id || renewed.cert.cluster_id != current.cert.cluster_id {
        return Err(Error::internal("renewed certificate", "issued for another node or cluster"));
    }
    tracing::info!(serial = %renewed.cert.serial_hex, not_after = %renewed.cert.not_after, "node identity updated");
    node.replace_identity(renewed)
}
