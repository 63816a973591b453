//! The node agent: heartbeats to the leader, and follows the role the cluster wants by renewing
//! its certificate.

use std::sync::Arc;
use std::time::Duration;

use palisade_engine_api::ApiError;
use palisade_pki::NodeKey;

use crate::daemon::ActiveNode;
use crate::describe::local_description;
use crate::identity::NodeIdentity;
use crate::manager::DEFAULT_HEARTBEAT_PERIOD;
use crate::rpc::{HeartbeatRequest, ManagerClient, RenewRequest};

/// Heartbeats are never sent more often than this, whatever the cluster asks.
const MIN_PERIOD: Duration = Duration::from_millis(100);

/// Runs until the task is aborted (leave) or the cluster says this node was removed.
pub(crate) async fn run(node: Arc<ActiveNode>) {
    let mut period = DEFAULT_HEARTBEAT_PERIOD;
    loop {
        match beat(&node).await {
            Ok(next) => {
                period = next.max(MIN_PERIOD);
                node.set_error(None);
            }
            Err(e) if e.status == http::StatusCode::FORBIDDEN => {
                tracing::warn!("the cluster refused this node: {}", e.message);
                node.set_error(Some(e.message));
                return;
            }
            Err(e) => tracing::warn!("heartbeat failed: {}", e.message),
        }
        tokio::time::sleep(period).await;
    }
}

/// One heartbeat; renews the certificate when the desired role changed.
async fn beat(node: &ActiveNode) -> Result<Duration, ApiError> {
    let identity = node.identity();
    let leader = node.leader_addr()?;
    let client = ManagerClient::new(&leader, &identity.root, Some((&identity.cert_pem, &identity.key))).await?;
    let response = client.heartbeat(&HeartbeatRequest { description: local_description(identity.tls_info()) }).await?;
    node.set_managers(response.managers);
    if response.desired_role != identity.role() {
        tracing::info!(from = %identity.role(), to = %response.desired_role, "role changed; renewing certificate");
        renew(node, &client).await?;
    }
    Ok(Duration::from_nanos(response.period_ns.max(0).unsigned_abs()))
}

/// Renews this node's certificate with a fresh key; the new identity is persisted before use.
async fn renew(node: &ActiveNode, client: &ManagerClient) -> Result<(), ApiError> {
    let key = NodeKey::generate().map_err(|e| crate::error::internal("generate node key", e))?;
    let csr_pem = key.csr_pem().map_err(|e| crate::error::internal("make CSR", e))?;
    let response = client.renew(&RenewRequest { csr_pem }).await?;
    let renewed = NodeIdentity::new(key, response.cert_pem, &response.root_ca_pem).map_err(|e| crate::error::internal("renewed certificate", e))?;
    if renewed.cert.node_id != node.identity().cert.node_id {
        return Err(crate::error::internal("renewed certificate", "issued for another node ID"));
    }
    node.replace_identity(renewed)?;
    Ok(())
}
