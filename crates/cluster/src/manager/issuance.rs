//! The CA signer: certificates for joining nodes, renewals, and the leader's services.

use std::sync::Arc;

use palisade_pki::{
    issue_node_certificate, issue_service_certificate, CfsslClient, Clock, IssuedCertificate, IssuerInfo, JoinToken,
    NodeCertInfo, NodeRole, NodeSubject, RootCa, ServiceSubject,
};

use super::Manager;
use crate::error::{Error, Result};
use crate::model::{Availability, ClusterObject, NodeObject, WriteSet};
use crate::rpc::{JoinCertRequest, JoinCertResponse, RenewResponse};
use crate::service_cert::ServiceNames;

/// A signed node certificate and who signed it.
pub(super) struct Issued {
    pub(super) cert_pem: String,
    pub(super) not_after: time::OffsetDateTime,
    pub(super) issuer: IssuerInfo,
}

/// Signs a node certificate for `subject`: with the external CA when one is configured for
/// the root that signs now (as swarmkit: external first), else with the cluster's key.
pub(super) async fn issue(
    clock: &Arc<dyn Clock>,
    cluster: &ClusterObject,
    csr_pem: &str,
    subject: &NodeSubject,
) -> Result<Issued> {
    let issuer = cluster.ca.issuer().map_err(|e| Error::internal("load root CA", e))?;
    let Some(external) = external_signer(clock, cluster)? else {
        let signer = cluster.ca.signer().map_err(|e| Error::internal("load root CA", e))?;
        let expiry = cluster.spec.cert_expiry()?;
        let issued = issue_node_certificate(&signer, csr_pem, subject, expiry, clock.as_ref(), &mut rand::rngs::OsRng)
            .map_err(Error::invalid)?;
        return Ok(Issued { cert_pem: issued.cert_pem, not_after: issued.not_after, issuer });
    };
    // What the external CA returns must chain to the certificate it signs for (the new root
    // during a rotation); the cross-signed intermediate is appended afterwards.
    let trust =
        RootCa::from_pem(cluster.ca.signing_cert_pem(), None).map_err(|e| Error::internal("load root CA", e))?;
    let intermediates = cluster.ca.intermediates_pem().to_owned();
    let cert_pem = external.sign(csr_pem, subject, &trust).await.map_err(|e| Error::Unavailable(e.to_string()))?;
    let info = NodeCertInfo::from_pem(&cert_pem).map_err(|e| Error::internal("external CA certificate", e))?;
    Ok(Issued { cert_pem: format!("{cert_pem}{intermediates}"), not_after: info.not_after, issuer })
}

/// The cfssl signer for the root that signs now, when the configured external CA is the one
/// for that root.
fn external_signer(clock: &Arc<dyn Clock>, cluster: &ClusterObject) -> Result<Option<CfsslClient>> {
    let Some(external) = cluster.spec.external_ca()? else { return Ok(None) };
    if !cluster.ca.is_signed_by_external(&external.ca_cert) {
        return Ok(None);
    }
    // The external CA's HTTPS endpoint is authenticated by the CA it signs for.
    let ca = RootCa::from_pem(&external.ca_cert, None)
        .map_err(|e| Error::invalid(format!("external CA certificate: {e}")))?;
    CfsslClient::new(&external.url, &ca, clock.clone()).map(Some).map_err(|e| Error::invalid(e.to_string()))
}

impl Manager {
    async fn issue(&self, cluster: &ClusterObject, csr_pem: &str, subject: &NodeSubject) -> Result<Issued> {
        issue(&self.clock, cluster, csr_pem, subject).await
    }

    /// Signs a server certificate for a service the leader runs (`palisade up`'s registry and
    /// trust server), under the cluster's expiry policy. Only the cluster's own CA signs these.
    pub(crate) fn issue_service(&self, csr_pem: &str, names: &ServiceNames) -> Result<IssuedCertificate> {
        let cluster = self.records.cluster()?.value;
        if external_signer(&self.clock, &cluster)?.is_some() {
            return Err(Error::precondition(
                "service certificates need the cluster's own CA, but this swarm signs with an external CA",
            ));
        }
        let subject = ServiceSubject {
            common_name: names.common_name.clone(),
            cluster_id: cluster.id.clone(),
            dns_names: names.dns_names.clone(),
            ip_addresses: names.ip_addresses.clone(),
        };
        let signer = cluster.ca.signer().map_err(|e| Error::internal("load root CA", e))?;
        issue_service_certificate(
            &signer,
            csr_pem,
            &subject,
            cluster.spec.cert_expiry()?,
            self.clock.as_ref(),
            &mut rand::rngs::OsRng,
        )
        .map_err(Error::invalid)
    }

    /// Admits a node: checks the token in constant time, signs its CSR with the role the
    /// token grants, records it. A manager gets a raft ID; it becomes a voter once it asks
    /// ([`Manager::raft_join`]) and has caught up.
    pub(crate) async fn join(&self, request: JoinCertRequest, peer_ip: String) -> Result<JoinCertResponse> {
        let presented: JoinToken = request.token.parse().map_err(|_| Error::InvalidJoinToken)?;
        let cluster = self.records.cluster()?.value;
        let (worker, manager) = cluster.tokens()?;
        // Evaluate both comparisons before branching, so timing does not reveal which matched.
        let (is_worker, is_manager) = (worker.matches(&presented), manager.matches(&presented));
        let role = match (is_worker, is_manager) {
            (true, _) => NodeRole::Worker,
            (_, true) => NodeRole::Manager,
            _ => return Err(Error::InvalidJoinToken),
        };
        let availability = Availability::parse(&request.availability)?;
        let addr = if request.advertise_addr.is_empty() { peer_ip } else { request.advertise_addr };
        let mut rng = rand::rngs::OsRng;
        let node_id = palisade_pki::NodeId::generate(&mut rng);
        let subject = NodeSubject { node_id: node_id.clone(), role, cluster_id: cluster.id.clone() };
        let issued = self.issue(&cluster, &request.csr_pem, &subject).await?;
        let raft_id = (role == NodeRole::Manager).then(|| rand::Rng::gen_range(&mut rng, 1..u64::MAX));
        let now = self.clock.now();
        let node = NodeObject {
            id: node_id.clone(),
            created_at: now,
            updated_at: now,
            role,
            availability,
            labels: Default::default(),
            name: String::new(),
            description: request.description.bounded(),
            addr: addr.clone(),
            listen_port: request.listen_port,
            cert_not_after: issued.not_after,
            issuer: issued.issuer,
            raft_id,
            ingress_addr: None,
        };
        self.records.commit(WriteSet::new().put(&node, None)?).await?;
        self.liveness.beat(&node_id);
        tracing::info!(node = %node_id, %role, %addr, "node joined");
        Ok(JoinCertResponse {
            node_id,
            cluster_id: cluster.id.clone(),
            cert_pem: issued.cert_pem,
            root_ca_pem: cluster.ca.trust_pem().to_owned(),
            managers: self.manager_addrs(&self.nodes()?),
            addr,
            raft_id,
        })
    }

    /// Issues a member a new certificate for a fresh key, with the role the cluster now wants.
    pub(crate) async fn renew(&self, peer: &NodeCertInfo, csr_pem: &str) -> Result<RenewResponse> {
        let cluster = self.records.cluster()?.value;
        let node = self.authorize(&cluster, peer)?;
        let subject =
            NodeSubject { node_id: node.value.id.clone(), role: node.value.role, cluster_id: peer.cluster_id.clone() };
        let issued = self.issue(&cluster, csr_pem, &subject).await?;
        let mut updated = node.value;
        updated.cert_not_after = updated.cert_not_after.max(issued.not_after);
        updated.issuer = issued.issuer;
        updated.updated_at = self.clock.now();
        // Pinned to the version read: a node changed or removed meanwhile gets no certificate.
        self.records.commit(WriteSet::new().put(&updated, Some(node.version))?).await?;
        tracing::info!(node = %updated.id, role = %subject.role, "certificate renewed");
        self.reconcile_rotation().await?;
        Ok(RenewResponse { cert_pem: issued.cert_pem, root_ca_pem: self.trust_pem()? })
    }
}
