//! The manager role: cluster state on the replicated store, and the decisions made on it.
//!
//! Every manager holds a [`Manager`]; calls that read or change cluster state run on the raft
//! leader's (others forward them, see [`crate::node`]). Every change validates its input first
//! and then commits one [`WriteSet`] whose checks pin the versions it was computed from, so a
//! refused or raced request changes nothing.
//!
//! * `issuance`: joins, renewals and service certificates (the CA signer).
//! * `liveness`: heartbeats, node readiness and manager reachability.
//! * `rotation`: root CA rotation, driven through [`palisade_pki::CaState`].
//! * `membership`: node updates and removal, raft voters.
//! * `control`: the cluster-state calls (`ControlCall`) and swarm inspect/update.
//! * `values`: secret and config records.
//! * `services`: service, task and config records; `admission`: the image policy and the one
//!   check every service spec passes before it is stored.
//! * `networks`: overlay network records; `allocator`: addresses on them (tasks, virtual IPs)
//!   and the rotation of their keys.
//! * `orchestrator`: tasks for services, placed on nodes (the leader's reconcile loop).
//! * `dispatcher`: assignments, task files and status reports, per calling node.
//! * `logs`: the log broker behind `service logs`.

mod admission;
mod allocator;
mod attachments;
mod control;
mod dispatcher;
mod ingress;
mod issuance;
mod liveness;
mod logs;
mod membership;
mod networks;
pub(crate) use networks::{DEFAULT_POOL, DEFAULT_SUBNET_PREFIX};
pub(crate) mod orchestrator;
mod rotation;
mod services;
mod values;

use std::collections::BTreeMap;
use std::sync::Arc;

use palisade_pki::{CaState, Clock, ClusterId, JoinToken, NodeId, NodeRole};
use palisade_store::{Member, ReplicatedStore};

use liveness::Liveness;

use crate::error::{Error, Result};
use crate::model::{
    Availability, ClusterObject, ClusterSpec, NodeDescription, NodeObject, Records, Versioned, WriteSet,
};

/// What `swarm init` decided for the first node.
pub(crate) struct InitParams {
    pub(crate) cluster_id: ClusterId,
    pub(crate) node_id: NodeId,
    pub(crate) raft_id: u64,
    pub(crate) spec: ClusterSpec,
    pub(crate) csr_pem: String,
    pub(crate) description: NodeDescription,
    pub(crate) advertise_addr: String,
    pub(crate) listen_port: u16,
    pub(crate) availability: Availability,
    /// The unlock key when the swarm starts locked (`--autolock`).
    pub(crate) unlock_key: Option<palisade_pki::UnlockKey>,
}

/// A new cluster, made in memory before anything is stored.
pub(crate) struct NewCluster {
    pub(crate) cluster: ClusterObject,
    pub(crate) node: NodeObject,
    /// The first node's certificate.
    pub(crate) cert_pem: String,
}

/// Creates a new cluster: root CA (generated, or an external CA's certificate), join tokens,
/// the cluster object and the first node with its certificate. Nothing is stored, so a
/// failure (an unreachable external CA, say) leaves nothing behind.
pub(crate) async fn new_cluster(clock: &Arc<dyn Clock>, init: InitParams) -> Result<NewCluster> {
    init.spec.validate()?;
    let ca = match init.spec.external_ca()? {
        None => CaState::generate(clock.as_ref()).map_err(|e| Error::internal("generate root CA", e))?,
        Some(external) => {
            let pem = match external.ca_cert.trim() {
                "" => palisade_pki::fetch_external_ca_certificate(&external.url)
                    .await
                    .map_err(|e| Error::invalid(e.to_string()))?,
                given => format!("{given}\n"),
            };
            CaState::external(&pem, clock.as_ref())
                .map_err(|e| Error::invalid(format!("external CA certificate: {e}")))?
        }
    };
    let mut spec = init.spec;
    for external in &mut spec.external_cas {
        if external.ca_cert.trim().is_empty() {
            external.ca_cert = ca.trust_pem().to_owned();
        }
    }
    let digest = palisade_pki::RootDigest::of_pem(ca.trust_pem());
    let mut rng = rand::rngs::OsRng;
    let now = clock.now();
    let cluster = ClusterObject {
        id: init.cluster_id.clone(),
        created_at: now,
        updated_at: now,
        unlock_key: init.unlock_key.map(|key| key.expose()),
        spec,
        ca,
        worker_token: JoinToken::generate(digest, &mut rng).expose(),
        manager_token: JoinToken::generate(digest, &mut rng).expose(),
        removed: BTreeMap::new(),
    };
    let subject = palisade_pki::NodeSubject {
        node_id: init.node_id.clone(),
        role: NodeRole::Manager,
        cluster_id: init.cluster_id,
    };
    let issued = issuance::issue(clock, &cluster, &init.csr_pem, &subject).await?;
    let node = NodeObject {
        id: init.node_id,
        created_at: now,
        updated_at: now,
        role: NodeRole::Manager,
        availability: init.availability,
        labels: BTreeMap::new(),
        name: String::new(),
        description: init.description,
        addr: init.advertise_addr,
        listen_port: init.listen_port,
        cert_not_after: issued.not_after,
        issuer: issued.issuer,
        raft_id: Some(init.raft_id),
        ingress_addr: None,
    };
    Ok(NewCluster { cluster, node, cert_pem: issued.cert_pem })
}

/// A manager's view of the cluster.
pub(crate) struct Manager {
    records: Records,
    clock: Arc<dyn Clock>,
    self_id: NodeId,
    liveness: Liveness,
    /// `service logs` subscriptions (meaningful on the leader).
    logs: logs::LogBroker,
    /// Serialises read-modify-write of the cluster object on this manager; the version check
    /// of each commit guards against every other writer.
    cluster_lock: tokio::sync::Mutex<()>,
    /// Judges service images against the image policy.
    evaluator: palisade_policy::Evaluator,
    /// Held by every allocation on overlay networks from decision to commit (subnets and
    /// VNIs of new networks, task addresses, VIPs; see `allocator`), and by network removal.
    allocation: tokio::sync::Mutex<()>,
}

impl Manager {
    pub(crate) fn new(
        store: Arc<ReplicatedStore>,
        clock: Arc<dyn Clock>,
        self_id: NodeId,
        evaluator: palisade_policy::Evaluator,
    ) -> Self {
        Self {
            evaluator,
            records: Records::new(store),
            clock,
            self_id,
            liveness: Liveness::new(),
            logs: logs::LogBroker::default(),
            cluster_lock: tokio::sync::Mutex::new(()),
            allocation: tokio::sync::Mutex::new(()),
        }
    }

    /// Stores a new cluster's first records (see [`new_cluster`]) on a freshly bootstrapped
    /// store.
    pub(crate) async fn store_new_cluster(&self, new: &NewCluster) -> Result<()> {
        self.records.commit(WriteSet::new().put(&new.cluster, None)?.put(&new.node, None)?).await.map(drop)
    }

    pub(crate) fn records(&self) -> &Records {
        &self.records
    }

    pub(crate) fn store(&self) -> &Arc<ReplicatedStore> {
        self.records.store()
    }

    /// Confirms this manager leads and has applied everything committed before the call.
    pub(crate) async fn confirm_leadership(&self) -> Result<()> {
        Ok(self.store().linearizable().await?)
    }

    /// Where the leader serves, as this manager knows it: `None` when there is no leader.
    pub(crate) fn leader(&self) -> Option<LeaderRef> {
        let status = self.store().status();
        let leader = status.leader?;
        if status.is_leader {
            return Some(LeaderRef::Local);
        }
        status.members.get(&leader).map(|m| LeaderRef::Remote(m.member.clone()))
    }

    /// The trust bundle (public).
    pub(crate) fn trust_pem(&self) -> Result<String> {
        Ok(self.records.cluster()?.value.ca.trust_pem().to_owned())
    }

    fn nodes(&self) -> Result<Vec<Versioned<NodeObject>>> {
        self.records.list()
    }

    fn node(&self, id: &NodeId) -> Result<Option<Versioned<NodeObject>>> {
        self.records.get(id.as_str())
    }

    /// Updates the cluster object with `change`, provided it is still at `expected` (any
    /// version when `None`). The commit is pinned to the version read, so a write that raced
    /// this one (from a previous leader) makes it fail rather than be lost.
    async fn update_cluster<T>(
        &self,
        expected: Option<u64>,
        change: impl FnOnce(&mut ClusterObject) -> Result<T>,
    ) -> Result<T> {
        let _serial = self.cluster_lock.lock().await;
        let current = self.records.cluster()?;
        if expected.is_some_and(|v| v != current.version) {
            return Err(Error::OutOfSequence);
        }
        let mut cluster = current.value;
        let out = change(&mut cluster)?;
        cluster.updated_at = self.clock.now();
        self.records.commit(WriteSet::new().put(&cluster, Some(current.version))?).await?;
        Ok(out)
    }

    /// Managers' cluster addresses, the leader's first.
    fn manager_addrs(&self, nodes: &[Versioned<NodeObject>]) -> Vec<String> {
        let leader = self.store().status().leader;
        let mut managers: Vec<&NodeObject> =
            nodes.iter().map(|n| &n.value).filter(|n| n.role == NodeRole::Manager).collect();
        managers.sort_by_key(|n| (n.raft_id != leader || leader.is_none(), n.cluster_addr()));
        managers.iter().map(|n| n.cluster_addr()).collect()
    }
}

/// Where the leader is.
#[derive(Debug, Clone)]
pub(crate) enum LeaderRef {
    /// This manager.
    Local,
    /// Another manager.
    Remote(Member),
}

#[cfg(test)]
mod tests {
    use futures::future::BoxFuture;
    use palisade_pki::{NodeCertInfo, NodeKey, SystemClock};
    use palisade_store::{DataKey, Kek, Member, RaftRpc, RaftRpcReply, StoreConfig, Transport, TransportError};
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    use super::*;
    use crate::rpc::JoinCertRequest;

    /// A one-member group never sends anything.
    struct Alone;

    impl Transport for Alone {
        fn send(&self, _: u64, _: &Member, _: RaftRpc) -> BoxFuture<'_, Result<RaftRpcReply, TransportError>> {
            Box::pin(async { Err(TransportError("no peers".into())) })
        }
    }

    /// A manager leading a new one-member cluster on a real store in `dir`.
    async fn manager(dir: &std::path::Path) -> Manager {
        manager_with_clock(dir, Arc::new(SystemClock)).await
    }

    /// [`manager`] deciding by `clock`.
    pub(super) async fn manager_with_clock(dir: &std::path::Path, clock: Arc<dyn Clock>) -> Manager {
        let dek = DataKey::create(&dir.join("dek.sealed"), &Kek::generate()).unwrap();
        let store =
            Arc::new(ReplicatedStore::open(StoreConfig::new(dir.join("raft"), 1, dek, Arc::new(Alone))).await.unwrap());
        let mut rng = rand::rngs::OsRng;
        let node_id = NodeId::generate(&mut rng);
        store.bootstrap(Member { node_id: node_id.to_string(), addr: "127.0.0.1:2377".into() }).await.unwrap();
        store.subscribe().wait_for(|s| s.is_leader).await.unwrap();
        let init = InitParams {
            cluster_id: ClusterId::generate(&mut rng),
            node_id: node_id.clone(),
            raft_id: 1,
            spec: ClusterSpec::default(),
            csr_pem: NodeKey::generate().unwrap().csr_pem().unwrap(),
            description: NodeDescription::default(),
            advertise_addr: "127.0.0.1".into(),
            listen_port: 2377,
            availability: Availability::Active,
            unlock_key: None,
        };
        let new = new_cluster(&clock, init).await.unwrap();
        let evaluator = palisade_policy::Evaluator::new(dir.join("policy"), Vec::new(), clock.clone());
        let manager = Manager::new(store, clock, node_id, evaluator);
        manager.store_new_cluster(&new).await.unwrap();
        manager
    }

    fn join_request(token: String, csr_pem: String) -> JoinCertRequest {
        JoinCertRequest {
            token,
            csr_pem,
            description: NodeDescription::default(),
            advertise_addr: String::new(),
            listen_port: 0,
            availability: String::new(),
        }
    }

    #[tokio::test]
    async fn a_worker_token_never_yields_a_manager_certificate() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path()).await;
        // A CSR that asks for a manager identity with a chosen node ID.
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["swarm-manager".to_owned()]).unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "attacker-cluster");
        dn.push(DnType::OrganizationalUnitName, "swarm-manager");
        dn.push(DnType::CommonName, "aaaaaaaaaaaaaaaaaaaaaaaaa");
        params.distinguished_name = dn;
        let csr = params.serialize_request(&key).unwrap().pem().unwrap();
        let worker_token = manager.records.cluster().unwrap().value.worker_token;

        let response = manager.join(join_request(worker_token, csr), "127.0.0.9".into()).await.unwrap();
        let cert = NodeCertInfo::from_pem(&response.cert_pem).unwrap();
        assert_eq!(cert.role, NodeRole::Worker);
        assert_ne!(cert.node_id.as_str(), "aaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(cert.cluster_id, manager.records.cluster().unwrap().value.id);
        assert_eq!(response.raft_id, None, "a worker gets no raft member ID");
    }

    #[tokio::test]
    async fn certificates_of_removed_nodes_and_other_clusters_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path()).await;
        let key = NodeKey::generate().unwrap();
        let token = manager.records.cluster().unwrap().value.worker_token;
        let response = manager.join(join_request(token, key.csr_pem().unwrap()), "127.0.0.9".into()).await.unwrap();
        let cert = NodeCertInfo::from_pem(&response.cert_pem).unwrap();
        let cluster = manager.records.cluster().unwrap().value;
        assert!(manager.authorize(&cluster, &cert).is_ok());

        let mut foreign = cert.clone();
        foreign.cluster_id = ClusterId::generate(&mut rand::rngs::OsRng);
        assert!(matches!(manager.authorize(&cluster, &foreign), Err(Error::PermissionDenied(_))));

        manager.node_remove(cert.node_id.as_str(), true).await.unwrap();
        let cluster = manager.records.cluster().unwrap().value;
        match manager.authorize(&cluster, &cert) {
            Err(Error::PermissionDenied(message)) => assert!(message.contains("was removed"), "{message}"),
            other => panic!("removed node authorized: {:?}", other.map(|n| n.value.id)),
        }
        // A removed node cannot renew either, nor join raft.
        assert!(manager.renew(&cert, &NodeKey::generate().unwrap().csr_pem().unwrap()).await.is_err());
        assert!(manager.raft_join(&cert).await.is_err());
    }

    #[tokio::test]
    async fn a_stale_swarm_update_is_refused_and_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path()).await;
        let before = manager.records.cluster().unwrap();
        let update = |version| crate::rpc::SwarmUpdate {
            version: Some(version),
            spec: ClusterSpec { name: "renamed".into(), ..ClusterSpec::default() },
            signing_ca_cert: String::new(),
            signing_ca_key: Default::default(),
            rotate_worker_token: true,
            rotate_manager_token: false,
            rotate_unlock_key: false,
        };
        assert_eq!(manager.swarm_update(update(before.version + 100)).await.unwrap_err(), Error::OutOfSequence);
        let unchanged = manager.records.cluster().unwrap();
        assert_eq!(unchanged.version, before.version);
        assert_eq!(unchanged.value.worker_token, before.value.worker_token);
        manager.swarm_update(update(before.version)).await.unwrap();
        let after = manager.records.cluster().unwrap();
        assert_eq!(after.value.spec.name, "renamed");
        assert_ne!(after.value.worker_token, before.value.worker_token);
        assert_eq!(after.value.manager_token, before.value.manager_token);
    }
}
