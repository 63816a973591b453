//! Root CA rotation, as the manager drives it: pki's [`palisade_pki::CaState`] decides, the
//! manager feeds it the operator's request and the nodes' progress and stores the result.

use palisade_pki::{CaRequest, NewRoot, NodeRole};

use super::control::rotation_error;
use super::Manager;
use crate::error::{Error, Result};
use crate::model::{ClusterObject, NodeObject};
use crate::rpc::SwarmUpdate;

impl Manager {
    /// The root an update asks to rotate to, validated; `None` when the root stays.
    pub(super) fn desired_root(&self, current: &ClusterObject, update: &SwarmUpdate) -> Result<Option<NewRoot>> {
        let external = update.spec.external_ca()?.map(|e| e.ca_cert.as_str());
        let request = CaRequest {
            signing_cert_pem: &update.signing_ca_cert,
            signing_key_pem: &update.signing_ca_key,
            force_rotate_changed: update.spec.force_rotate != current.spec.force_rotate,
            external_ca_cert_pem: external,
        };
        current.ca.desired_root(&request, self.clock.as_ref()).map_err(rotation_error)
    }

    /// Ends a root rotation once every node holds a certificate from the new root: the new
    /// root becomes the trust bundle and the only signer, and the join tokens commit to it
    /// (same secrets, new digest — old tokens stop working).
    pub(crate) async fn reconcile_rotation(&self) -> Result<()> {
        let cluster = self.records.cluster()?;
        if !cluster.value.ca.is_rotating() {
            return Ok(());
        }
        let target = cluster.value.ca.issuer().map_err(|e| Error::internal("load root CA", e))?;
        let nodes: Vec<NodeObject> = self.nodes()?.into_iter().map(|n| n.value).collect();
        let pending = nodes.iter().filter(|n| n.issuer != target).count();
        if pending > 0 {
            let managers_pending = nodes.iter().filter(|n| n.issuer != target && n.role == NodeRole::Manager).count();
            tracing::info!(pending, managers_pending, total = nodes.len(), "root rotation waiting for nodes to renew");
            return Ok(());
        }
        self.update_cluster(Some(cluster.version), |cluster| {
            let Some(root) =
                cluster.ca.try_finish_rotation(0).map_err(|e| Error::internal("finish root rotation", e))?
            else {
                return Ok(());
            };
            let digest = root.digest();
            let (worker, manager) = cluster.tokens()?;
            cluster.worker_token = worker.with_digest(digest).expose();
            cluster.manager_token = manager.with_digest(digest).expose();
            tracing::info!("root CA rotation complete");
            Ok(())
        })
        .await
    }
}
