//! The node agent. On every node it renews the certificate when it is due; on members it also
//! heartbeats to the leader and follows the role the cluster wants.

use std::sync::Arc;
use std::time::Duration;

use palisade_engine_api::ApiError;
use palisade_pki::NodeKey;

use crate::daemon::ActiveNode;
use crate::describe::local_description;
use crate::error::internal;
use crate::identity::NodeIdentity;
use crate::manager::Manager;
use crate::rpc::{HeartbeatRequest, ManagerClient, RenewRequest};

/// Heartbeats are never sent more often than this, whatever the cluster asks.
const MIN_PERIOD: Duration = Duration::from_millis(100);

/// Runs until the task is aborted (leave) or the cluster says this node was removed.
pub(crate) async fn run(node: Arc<ActiveNode>) {
    loop {
        let result = match node.manager() {
            Some(manager) => maintain_leader(&node, manager).map(|()| manager.period()),
            None => beat(&node).await,
        };
        let period = match result {
            Ok(period) => {
                node.set_error(None);
                period
            }
            Err(e) if e.status == http::StatusCode::FORBIDDEN => {
                tracing::warn!("the cluster refused this node: {}", e.message);
                node.set_error(Some(e.message));
                return;
            }
            Err(e) => {
                tracing::warn!("node maintenance failed: {}", e.message);
                crate::manager::DEFAULT_HEARTBEAT_PERIOD
            }
        };
        tokio::time::sleep(period.max(MIN_PERIOD)).await;
    }
}

/// The leader renews its own certificate from its own signer.
fn maintain_leader(node: &ActiveNode, manager: &Manager) -> Result<(), ApiError> {
    if node.renewal_due() {
        let identity = node.identity();
        let (key, csr_pem) = fresh_key()?;
        let response = manager.renew(&identity.cert, &csr_pem)?;
        install(node, key, response.cert_pem, &response.root_ca_pem)?;
    }
    Ok(())
}

/// One heartbeat; renews the certificate when it is due or the desired role changed.
async fn beat(node: &ActiveNode) -> Result<Duration, ApiError> {
    let identity = node.identity();
    let leader = node.leader_addr()?;
    let client = ManagerClient::new(&leader, &identity.root, Some((&identity.cert_pem, &identity.key)), node.clock.clone()).await?;
    let response = client.heartbeat(&HeartbeatRequest { description: local_description(identity.tls_info()) }).await?;
    node.set_managers(response.managers);
    let role_changed = response.desired_role != identity.role();
    if role_changed || node.renewal_due() {
        tracing::info!(role = %response.desired_role, role_changed, "renewing certificate");
        let (key, csr_pem) = fresh_key()?;
        let renewed = client.renew(&RenewRequest { csr_pem }).await?;
        install(node, key, renewed.cert_pem, &renewed.root_ca_pem)?;
    }
    Ok(Duration::from_nanos(response.period_ns.max(0).unsigned_abs()))
}

fn fresh_key() -> Result<(NodeKey, String), ApiError> {
    let key = NodeKey::generate().map_err(|e| internal("generate node key", e))?;
    let csr_pem = key.csr_pem().map_err(|e| internal("make CSR", e))?;
    Ok((key, csr_pem))
}

/// Checks a renewed certificate against the current identity, then persists and uses it.
fn install(node: &ActiveNode, key: NodeKey, cert_pem: String, root_pem: &str) -> Result<(), ApiError> {
    let renewed = NodeIdentity::new(key, cert_pem, root_pem).map_err(|e| internal("renewed certificate", e))?;
    let current = node.identity();
    if renewed.cert.node_id != current.cert.node_id || renewed.cert.cluster_id != current.cert.cluster_id {
        return Err(internal("renewed certificate", "issued for another node or cluster"));
    }
    tracing::info!(serial = %renewed.cert.serial_hex, not_after = %renewed.cert.not_after, "certificate renewed");
    node.replace_identity(renewed)
}
