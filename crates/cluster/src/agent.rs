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
use crate::rpc::{HeartbeatRequest, HeartbeatResponse, ManagerClient, RenewRequest, RenewResponse};

/// Heartbeats are never sent more often than this, whatever the cluster asks.
const MIN_PERIOD: Duration = Duration::from_millis(100);

/// Runs until the task is aborted (leave) or the cluster says this node was removed.
pub(crate) async fn run(node: Arc<ActiveNode>) {
    loop {
        let period = match beat(&node).await {
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
                tracing::warn!("heartbeat failed: {}", e.message);
                crate::manager::DEFAULT_HEARTBEAT_PERIOD
            }
        };
        tokio::time::sleep(period.max(MIN_PERIOD)).await;
    }
}

/// Where heartbeats and renewals go: the leader's own manager, or the leader over mTLS.
enum Leader<'a> {
    Local(&'a Manager),
    Remote(ManagerClient),
}

impl Leader<'_> {
    async fn heartbeat(&self, identity: &NodeIdentity, request: HeartbeatRequest) -> Result<HeartbeatResponse, ApiError> {
        match self {
            Self::Local(manager) => manager.heartbeat(&identity.cert, request),
            Self::Remote(client) => client.heartbeat(&request).await,
        }
    }

    async fn renew(&self, identity: &NodeIdentity, csr_pem: String) -> Result<RenewResponse, ApiError> {
        match self {
            Self::Local(manager) => manager.renew(&identity.cert, &csr_pem).await,
            Self::Remote(client) => client.renew(&RenewRequest { csr_pem }).await,
        }
    }
}

/// One heartbeat: report this node, renew its certificate when the role changed, the cluster
/// asks (root rotation) or it is due, and adopt the cluster's current trust bundle.
async fn beat(node: &ActiveNode) -> Result<Duration, ApiError> {
    let identity = node.identity();
    let leader = match node.manager() {
        Some(manager) => Leader::Local(manager),
        None => Leader::Remote(
            ManagerClient::new(&node.leader_addr()?, &identity.root, Some((&identity.cert_pem, &identity.key)), node.clock.clone()).await?,
        ),
    };
    let response = leader.heartbeat(&identity, HeartbeatRequest { description: local_description(identity.tls_info()) }).await?;
    node.set_managers(response.managers);
    let role_changed = response.desired_role != identity.role();
    if role_changed || response.renew || node.renewal_due() {
        tracing::info!(role = %response.desired_role, role_changed, rotation = response.renew, "renewing certificate");
        let key = NodeKey::generate().map_err(|e| internal("generate node key", e))?;
        let csr_pem = key.csr_pem().map_err(|e| internal("make CSR", e))?;
        let renewed = leader.renew(&identity, csr_pem).await?;
        install(node, key, renewed.cert_pem, &renewed.root_ca_pem)?;
    }
    let current = node.identity();
    if response.trust_root_pem != current.root.certs_pem() {
        tracing::info!("adopting the cluster's new trust root");
        let key = NodeKey::from_pem(&current.key.to_pem()).map_err(|e| internal("reload node key", e))?;
        install(node, key, current.cert_pem.clone(), &response.trust_root_pem)?;
    }
    Ok(Duration::from_nanos(response.period_ns.max(0).unsigned_abs()))
}

/// Checks a renewed certificate against the current identity, then persists and uses it.
fn install(node: &ActiveNode, key: NodeKey, cert_pem: String, root_pem: &str) -> Result<(), ApiError> {
    let renewed = NodeIdentity::new(key, cert_pem, root_pem).map_err(|e| internal("renewed certificate", e))?;
    let current = node.identity();
    if renewed.cert.node_id != current.cert.node_id || renewed.cert.cluster_id != current.cert.cluster_id {
        return Err(internal("renewed certificate", "issued for another node or cluster"));
    }
    tracing::info!(serial = %renewed.cert.serial_hex, not_after = %renewed.cert.not_after, "node identity updated");
    node.replace_identity(renewed)
}
