//! The cluster-state calls, run on the leader.

use palisade_pki::{NodeCertInfo, NodeRole, UnlockKey};

use super::Manager;
use crate::error::{Error, Result};
use crate::model::{ClusterObject, ConfigKind, SecretKind, SecretObject, Versioned};
use crate::rpc::{
    ClusterSummary, ConfigView, ControlCall, ControlReply, NodeCall, SecretView, SwarmUpdate, SwarmView, UnlockKeyText,
};

impl Manager {
    /// Runs a cluster-state call. Reads first confirm that this manager still leads, so they
    /// see every write acknowledged before them.
    pub(crate) async fn control(&self, call: ControlCall) -> Result<ControlReply> {
        if call.is_read() {
            self.confirm_leadership().await?;
        }
        match call {
            ControlCall::Summary => self.summary().map(ControlReply::Summary),
            ControlCall::SwarmInspect => Ok(ControlReply::Swarm(Box::new(self.swarm_view()?))),
            ControlCall::SwarmUpdate(update) => self.swarm_update(*update).await.map(|()| ControlReply::Done),
            ControlCall::UnlockKey => {
                Ok(ControlReply::UnlockKey(self.records.cluster()?.value.unlock_key.clone().map(UnlockKeyText)))
            }
            ControlCall::NodeList => {
                let period = self.heartbeat_period()?;
                Ok(ControlReply::Nodes(self.nodes()?.into_iter().map(|n| self.view(n, period)).collect()))
            }
            ControlCall::NodeInspect { reference } => {
                let period = self.heartbeat_period()?;
                Ok(ControlReply::Node(Box::new(self.view(self.resolve_node(&reference)?, period))))
            }
            ControlCall::NodeUpdate { reference, version, spec } => {
                self.node_update(&reference, version, spec).await.map(|()| ControlReply::Done)
            }
            ControlCall::NodeRemove { reference, force } => {
                self.node_remove(&reference, force).await.map(|()| ControlReply::Done)
            }
            ControlCall::SecretCreate(create) => self.value_create::<SecretKind>(create).await.map(ControlReply::ObjectId),
            ControlCall::SecretList => {
                Ok(ControlReply::Secrets(self.value_list::<SecretKind>()?.iter().map(secret_view).collect()))
            }
            ControlCall::SecretInspect { reference } => {
                self.resolve_value::<SecretKind>(&reference).map(|s| ControlReply::Secret(secret_view(&s)))
            }
            ControlCall::SecretUpdate(update) => self.value_update::<SecretKind>(update).await.map(|()| ControlReply::Done),
            ControlCall::SecretRemove { reference } => {
                self.value_remove::<SecretKind>(&reference).await.map(|()| ControlReply::Done)
            }
            ControlCall::ServiceCreate(spec) => {
                self.service_create(*spec).await.map(|(id, warnings)| ControlReply::ServiceAdmitted { id, warnings })
            }
            ControlCall::PolicySet { text } => {
                self.policy_set(text).await?;
                self.policy_view().map(ControlReply::Policy)
            }
            ControlCall::PolicyInspect => self.policy_view().map(ControlReply::Policy),
            ControlCall::PolicyLog => self.policy_log().map(ControlReply::PolicyLog),
            ControlCall::ServiceList => self.service_list().map(ControlReply::Services),
            ControlCall::ServiceInspect { reference } => {
                self.service_inspect(&reference).map(|s| ControlReply::Service(Box::new(s)))
            }
            ControlCall::ServiceUpdate { reference, version, spec, rollback } => {
                let id = reference.clone();
                self.service_update(&reference, version, *spec, rollback)
                    .await
                    .map(|warnings| ControlReply::ServiceAdmitted { id, warnings })
            }
            ControlCall::ServiceRemove { reference } => {
                self.service_remove(&reference).await.map(|()| ControlReply::Done)
            }
            ControlCall::TaskList => self.task_list().map(ControlReply::Tasks),
            ControlCall::TaskInspect { reference } => self.task_inspect(&reference).map(|t| ControlReply::Task(Box::new(t))),
            ControlCall::ConfigCreate(create) => self.value_create::<ConfigKind>(create).await.map(ControlReply::ObjectId),
            ControlCall::ConfigList => Ok(ControlReply::Configs(
                self.value_list::<ConfigKind>()?.into_iter().map(|c| ConfigView { version: c.version, config: c.value }).collect(),
            )),
            ControlCall::ConfigInspect { reference } => self
                .resolve_value::<ConfigKind>(&reference)
                .map(|c| ControlReply::Config(Box::new(ConfigView { version: c.version, config: c.value }))),
            ControlCall::ConfigUpdate(update) => self.value_update::<ConfigKind>(update).await.map(|()| ControlReply::Done),
            ControlCall::ConfigRemove { reference } => {
                self.value_remove::<ConfigKind>(&reference).await.map(|()| ControlReply::Done)
            }
            ControlCall::NetworkCreate(create) => self.network_create(create).await.map(ControlReply::ObjectId),
            ControlCall::NetworkList => {
                Ok(ControlReply::Networks(self.shown_networks()?.iter().map(super::networks::network_view).collect()))
            }
            ControlCall::NetworkInspect { reference } => {
                self.resolve_network(&reference).map(|n| ControlReply::Network(Box::new(super::networks::network_view(&n))))
            }
            ControlCall::NetworkRemove { reference } => {
                self.network_remove(&reference).await.map(|()| ControlReply::Done)
            }
            ControlCall::LogsOpen(open) => self.logs_open(open).map(ControlReply::ObjectId),
            ControlCall::LogsNext { subscription, cursor } => {
                self.logs_next(&subscription, cursor).await.map(ControlReply::LogBatch)
            }
            ControlCall::Join { request, peer_ip } => self.join(request, peer_ip).await.map(ControlReply::Join),
            ControlCall::Node { peer_cert_der, call } => {
                let der = rustls_pki_types::CertificateDer::from(peer_cert_der);
                let peer = NodeCertInfo::from_der(&der)
                    .map_err(|e| Error::PermissionDenied(format!("not a node certificate: {e}")))?;
                self.node_call(&peer, call).await
            }
        }
    }

    async fn node_call(&self, peer: &NodeCertInfo, call: NodeCall) -> Result<ControlReply> {
        match call {
            NodeCall::Heartbeat(request) => self.heartbeat(peer, request).await.map(ControlReply::Heartbeat),
            NodeCall::Renew { csr_pem } => self.renew(peer, &csr_pem).await.map(ControlReply::Renew),
            NodeCall::RaftJoin | NodeCall::RaftLeave if peer.role != NodeRole::Manager => {
                Err(Error::PermissionDenied("only managers take part in raft".into()))
            }
            NodeCall::RaftJoin => self.raft_join(peer).await.map(|()| ControlReply::Done),
            NodeCall::RaftLeave => self.raft_leave(peer).await.map(|()| ControlReply::Done),
            NodeCall::Assignments { node, known } => {
                self.assignments(peer, &node, known).await.map(ControlReply::Assignments)
            }
            NodeCall::TaskFiles { task_id } => self.task_files(peer, &task_id).await.map(ControlReply::TaskFiles),
            NodeCall::TaskReports { reports } => self.task_reports(peer, reports).await.map(|()| ControlReply::Done),
            NodeCall::PolicyRecords { records } => {
                self.policy_records(&peer.node_id, records).await.map(|()| ControlReply::Done)
            }
            NodeCall::AttachableNetwork { reference } => {
                self.attachable_network(peer, &reference).map(|n| ControlReply::Network(Box::new(n)))
            }
            NodeCall::AttachContainer(attach) => self.attach_container(peer, attach).await.map(ControlReply::Attached),
            NodeCall::DetachContainer { container_id } => {
                self.detach_container(peer, &container_id).await.map(|()| ControlReply::Done)
            }
            NodeCall::LogPublish { subscription, task_id, lines, ended } => {
                self.logs_publish(peer, &subscription, &task_id, lines, ended).map(|()| ControlReply::Done)
            }
        }
    }

    fn summary(&self) -> Result<ClusterSummary> {
        let nodes = self.nodes()?;
        let managers: Vec<(String, String)> = nodes
            .iter()
            .filter(|n| n.value.role == NodeRole::Manager)
            .map(|n| (n.value.id.to_string(), n.value.cluster_addr()))
            .collect();
        let mut remote_managers = managers.clone();
        remote_managers.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(ClusterSummary {
            swarm: self.swarm_view()?,
            nodes: nodes.len() as u64,
            managers: managers.len() as u64,
            remote_managers,
        })
    }

    pub(super) fn swarm_view(&self) -> Result<SwarmView> {
        let Versioned { version, value: cluster } = self.records.cluster()?;
        swarm_view(version, &cluster)
    }

    pub(super) async fn swarm_update(&self, update: SwarmUpdate) -> Result<()> {
        update.spec.validate()?;
        let current = self.records.cluster()?;
        if update.version != Some(current.version) {
            return Err(Error::OutOfSequence);
        }
        // Decided once, outside the retry loop: a generated root must not be generated twice.
        let new_root = self.desired_root(&current.value, &update)?;
        let mut rng = rand::rngs::OsRng;
        self.update_cluster(Some(current.version), |cluster| {
            let mut spec = update.spec.clone();
            if spec.autolock && (!cluster.spec.autolock || update.rotate_unlock_key) {
                cluster.unlock_key = Some(UnlockKey::generate(&mut rng).expose());
            }
            if !spec.autolock {
                cluster.unlock_key = None;
            }
            for external in &mut spec.external_cas {
                if external.ca_cert.trim().is_empty() {
                    external.ca_cert = cluster.ca.trust_pem().to_owned();
                }
            }
            if let Some(new_root) = new_root.clone() {
                cluster.ca.begin_rotation(new_root, &mut rng).map_err(rotation_error)?;
                tracing::info!("root CA rotation started");
            }
            let (worker, manager) = cluster.tokens()?;
            let digest = palisade_pki::RootDigest::of_pem(cluster.ca.trust_pem());
            if update.rotate_worker_token {
                cluster.worker_token = palisade_pki::JoinToken::generate(digest, &mut rng).expose();
            } else {
                cluster.worker_token = worker.expose();
            }
            if update.rotate_manager_token {
                cluster.manager_token = palisade_pki::JoinToken::generate(digest, &mut rng).expose();
            } else {
                cluster.manager_token = manager.expose();
            }
            cluster.spec = spec;
            Ok(())
        })
        .await?;
        self.reconcile_rotation().await
    }
}

/// The cluster object as managers show it.
pub(crate) fn swarm_view(version: u64, cluster: &ClusterObject) -> Result<SwarmView> {
    Ok(SwarmView {
        id: cluster.id.clone(),
        version,
        created_at: cluster.created_at,
        updated_at: cluster.updated_at,
        spec: cluster.spec.clone(),
        trust_root_pem: cluster.ca.trust_pem().to_owned(),
        issuer: cluster.ca.issuer().map_err(|e| Error::internal("load root CA", e))?,
        root_rotation_in_progress: cluster.ca.is_rotating(),
        worker_token: cluster.worker_token.clone(),
        manager_token: cluster.manager_token.clone(),
    })
}

/// pki's rotation errors: the caller's where pki says so, else ours.
pub(super) fn rotation_error(e: palisade_pki::Error) -> Error {
    if e.is_invalid_request() {
        Error::invalid(e)
    } else {
        Error::internal("root CA rotation", e)
    }
}

/// A secret's metadata, never its value.
fn secret_view(secret: &Versioned<SecretObject>) -> SecretView {
    let s = &secret.value;
    SecretView {
        id: s.id.clone(),
        version: secret.version,
        name: s.name.clone(),
        labels: s.labels.clone(),
        created_at: s.created_at,
        updated_at: s.updated_at,
    }
}
