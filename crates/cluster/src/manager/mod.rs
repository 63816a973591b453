//! The leader: owner of the cluster store, the CA signer and the join tokens.
//!
//! Every state change validates its input first and then commits in one store transaction, so
//! a refused request changes nothing. Node liveness is kept in memory from heartbeats and never
//! written: a node is ready while its heartbeats arrive within [`MISSED_HEARTBEATS`] periods.

mod records;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use palisade_engine_api::types::{JoinTokens, Node, NodeDescription, NodeSpec, PeerNode, Swarm, SwarmSpec};
use palisade_engine_api::ApiError;
use palisade_pki::{
    issue_node_certificate, issue_service_certificate, CertExpiry, CfsslClient, Clock, ClusterId, IssuedCertificate,
    JoinToken, NodeCertInfo, NodeId, NodeRole, NodeSubject, RootCa, ServiceSubject,
};
use palisade_store::{ErasedRecord, Store, Table};
use tokio::time::Instant;

pub(crate) use records::{ClusterRecord, NodeRecord};
use records::{IssuerInfo, Liveness, RemovedNode, RootRotation};

use crate::error::{failed_precondition, internal, invalid_argument, invalid_join_token};
use crate::identity::tls_info_of;
use crate::service_cert::ServiceNames;
use crate::rpc::{
    ClusterSummary, ControlCall, ControlReply, HeartbeatRequest, HeartbeatResponse, JoinCertRequest, JoinCertResponse,
    RenewResponse,
};

/// Default dispatcher heartbeat period (Docker's: 5 s).
pub(crate) const DEFAULT_HEARTBEAT_PERIOD: Duration = Duration::from_secs(5);
/// A node that misses this many heartbeat periods is down.
pub(crate) const MISSED_HEARTBEATS: u32 = 3;
const CLUSTER_KEY: &str = "cluster";

/// What `swarm init` decided for the first node.
pub(crate) struct InitParams {
    pub(crate) cluster_id: ClusterId,
    pub(crate) node_id: NodeId,
    pub(crate) spec: SwarmSpec,
    pub(crate) csr_pem: String,
    pub(crate) description: NodeDescription,
    pub(crate) advertise_addr: String,
    pub(crate) listen_port: u16,
    pub(crate) availability: String,
}

struct State {
    cluster: ClusterRecord,
    root: RootCa,
    /// The external CA that signs for the current root, when one is configured.
    external: Option<CfsslClient>,
    worker_token: JoinToken,
    manager_token: JoinToken,
}

/// A signed node certificate and who signed it.
struct Issued {
    cert_pem: String,
    not_after: time::OffsetDateTime,
    issuer: IssuerInfo,
}

/// The leader's cluster state.
pub(crate) struct Manager {
    store: Store,
    clock: Arc<dyn Clock>,
    self_id: NodeId,
    state: Mutex<State>,
    /// Last heartbeat per node. Nodes not in the map count from `started`.
    heartbeats: Mutex<HashMap<NodeId, Instant>>,
    started: Instant,
}

impl Manager {
    /// Creates a new cluster: root CA (generated, or an external CA's certificate), join
    /// tokens, the cluster record and the first node. Its certificate is issued before anything
    /// is stored, so a failure (an unreachable external CA, say) leaves the store empty.
    pub(crate) async fn create(store: Store, clock: Arc<dyn Clock>, init: InitParams) -> Result<(Self, String), ApiError> {
        let mut rng = rand::rngs::OsRng;
        cert_expiry(&init.spec)?;
        let (root, root_key_pem) = match external_ca(&init.spec)? {
            None => {
                let root = RootCa::generate(clock.as_ref()).map_err(|e| internal("generate root CA", e))?;
                let key = root.signing_key_pem().ok_or_else(|| internal("create cluster", "generated root has no key"))?;
                (root, key.to_string())
            }
            Some(external) => {
                let pem = match external.ca_cert.trim() {
                    "" => palisade_pki::fetch_external_ca_certificate(&external.url).await.map_err(|e| ApiError::bad_request(e.to_string()))?,
                    given => format!("{given}\n"),
                };
                let root = RootCa::from_pem(&pem, None).map_err(|e| invalid_argument(format!("external CA certificate: {e}")))?;
                root.check_usable(clock.now()).map_err(|e| invalid_argument(format!("external CA certificate: {e}")))?;
                (root, String::new())
            }
        };
        let worker_token = JoinToken::generate(root.digest(), &mut rng);
        let manager_token = JoinToken::generate(root.digest(), &mut rng);
        let now = clock.now();
        let mut spec = init.spec;
        for external in &mut spec.ca_config.external_cas {
            if external.ca_cert.trim().is_empty() {
                external.ca_cert = root.certs_pem().to_owned();
            }
        }
        let cluster = ClusterRecord {
            id: init.cluster_id.clone(),
            created_at: now,
            updated_at: now,
            version: 1,
            last_index: 1,
            spec,
            root_ca_cert_pem: root.certs_pem().to_owned(),
            root_ca_key_pem: root_key_pem,
            worker_token: worker_token.expose(),
            manager_token: manager_token.expose(),
            removed: BTreeMap::new(),
            rotation: None,
        };
        let external = external_signer(&cluster, &clock)?;
        let state = State { cluster, root, external, worker_token, manager_token };
        let manager = Self::with_state(store, clock, init.node_id.clone(), state);

        let subject = NodeSubject { node_id: init.node_id.clone(), role: NodeRole::Manager, cluster_id: init.cluster_id };
        let issued = manager.issue(&init.csr_pem, &subject).await?;
        let mut node = NodeRecord {
            id: init.node_id,
            created_at: now,
            updated_at: now,
            version: 0,
            role: NodeRole::Manager,
            availability: init.availability,
            labels: BTreeMap::new(),
            name: String::new(),
            description: init.description,
            addr: init.advertise_addr,
            listen_port: init.listen_port,
            cert_not_after: issued.not_after,
            issuer: issued.issuer,
        };
        manager.save_node(&mut manager.state(), &mut node)?;
        Ok((manager, issued.cert_pem))
    }

    /// Reopens the cluster this node leads.
    pub(crate) fn open(store: Store, clock: Arc<dyn Clock>, self_id: NodeId) -> Result<Self, ApiError> {
        let cluster: ClusterRecord = store
            .get(Table::Cluster, CLUSTER_KEY)
            .map_err(|e| internal("load cluster", e))?
            .ok_or_else(|| internal("load cluster", "the cluster store is empty"))?;
        let root = signing_root(&cluster)?;
        let external = external_signer(&cluster, &clock)?;
        let token = |text: &str| text.parse::<JoinToken>().map_err(|e| internal("load join token", e));
        let state = State { worker_token: token(&cluster.worker_token)?, manager_token: token(&cluster.manager_token)?, cluster, root, external };
        Ok(Self::with_state(store, clock, self_id, state))
    }

    /// Signs a node certificate for `subject`: with the external CA when one is configured for
    /// the current root (as swarmkit, external first), else with the local signer. No lock is
    /// held while an external CA is asked.
    async fn issue(&self, csr_pem: &str, subject: &NodeSubject) -> Result<Issued, ApiError> {
        let (external, trust, intermediates) = {
            let state = self.state();
            let Some(external) = state.external.clone() else {
                let expiry = cert_expiry(&state.cluster.spec)?;
                let issued = issue_node_certificate(&state.root, csr_pem, subject, expiry, self.clock.as_ref(), &mut rand::rngs::OsRng)
                    .map_err(invalid_argument)?;
                return Ok(Issued { cert_pem: issued.cert_pem, not_after: issued.not_after, issuer: issuer_info(&state.root) });
            };
            // What the external CA returns must chain to the certificate it signs for (the new
            // root during a rotation); the cross-signed intermediate is appended afterwards.
            let signing_pem = state.cluster.rotation.as_ref().map_or(&state.cluster.root_ca_cert_pem, |r| &r.new_cert_pem);
            let trust = RootCa::from_pem(signing_pem, None).map_err(|e| internal("load root CA", e))?;
            let intermediates = state.cluster.rotation.as_ref().map(|r| r.cross_signed_pem.clone()).unwrap_or_default();
            (external, trust, intermediates)
        };
        let cert_pem = external.sign(csr_pem, subject, &trust).await.map_err(|e| ApiError::unavailable(e.to_string()))?;
        let info = NodeCertInfo::from_pem(&cert_pem).map_err(|e| internal("external CA certificate", e))?;
        Ok(Issued { cert_pem: format!("{cert_pem}{intermediates}"), not_after: info.not_after, issuer: issuer_info(&trust) })
    }

    /// Signs a server certificate for a service the leader runs (`palisade up`'s registry and
    /// trust server), under the cluster's expiry policy. Only the cluster's own CA signs these:
    /// with an external CA configured the call is refused.
    pub(crate) fn issue_service(&self, csr_pem: &str, names: &ServiceNames) -> Result<IssuedCertificate, ApiError> {
        let state = self.state();
        if state.external.is_some() {
            return Err(failed_precondition("service certificates need the cluster's own CA, but this swarm signs with an external CA"));
        }
        let subject = ServiceSubject {
            common_name: names.common_name.clone(),
            cluster_id: state.cluster.id.clone(),
            dns_names: names.dns_names.clone(),
            ip_addresses: names.ip_addresses.clone(),
        };
        let expiry = cert_expiry(&state.cluster.spec)?;
        issue_service_certificate(&state.root, csr_pem, &subject, expiry, self.clock.as_ref(), &mut rand::rngs::OsRng)
            .map_err(invalid_argument)
    }

    fn with_state(store: Store, clock: Arc<dyn Clock>, self_id: NodeId, state: State) -> Self {
        Self { store, clock, self_id, state: Mutex::new(state), heartbeats: Mutex::new(HashMap::new()), started: Instant::now() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The trust bundle (public).
    pub(crate) fn root_ca_pem(&self) -> String {
        self.state().root.certs_pem().to_owned()
    }

    fn heartbeat_period(spec: &SwarmSpec) -> Duration {
        match spec.dispatcher.heartbeat_period {
            Some(ns) if ns > 0 => Duration::from_nanos(ns.unsigned_abs()),
            _ => DEFAULT_HEARTBEAT_PERIOD,
        }
    }

    fn liveness(&self, node: &NodeId, period: Duration) -> Liveness {
        if *node == self.self_id {
            return Liveness { ready: true, leader: true };
        }
        let heartbeats = self.heartbeats.lock().unwrap_or_else(|e| e.into_inner());
        let last = heartbeats.get(node).copied().unwrap_or(self.started);
        Liveness { ready: last.elapsed() <= period * MISSED_HEARTBEATS, leader: false }
    }

    fn nodes(&self) -> Result<Vec<NodeRecord>, ApiError> {
        self.store.list(Table::Nodes).map_err(|e| internal("list nodes", e))
    }

    fn node(&self, id: &NodeId) -> Result<Option<NodeRecord>, ApiError> {
        self.store.get(Table::Nodes, id.as_str()).map_err(|e| internal("load node", e))
    }

    /// Managers' cluster addresses, the leader's first.
    fn manager_addrs(&self, nodes: &[NodeRecord]) -> Vec<String> {
        let mut addrs: Vec<String> = nodes.iter().filter(|n| n.id == self.self_id).map(NodeRecord::manager_addr).collect();
        addrs.extend(nodes.iter().filter(|n| n.id != self.self_id && n.role == NodeRole::Manager).map(NodeRecord::manager_addr));
        addrs
    }

    /// Admits a node: checks the token in constant time, signs its CSR with the role the token
    /// grants, records it.
    pub(crate) async fn join(&self, request: JoinCertRequest, peer_ip: String) -> Result<JoinCertResponse, ApiError> {
        let presented: JoinToken = request.token.parse().map_err(|_| invalid_join_token())?;
        let (role, cluster_id) = {
            let state = self.state();
            // Evaluate both comparisons before branching, so timing does not reveal which matched.
            let (is_worker, is_manager) = (state.worker_token.matches(&presented), state.manager_token.matches(&presented));
            let role = match (is_worker, is_manager) {
                (true, _) => NodeRole::Worker,
                (_, true) => NodeRole::Manager,
                _ => return Err(invalid_join_token()),
            };
            (role, state.cluster.id.clone())
        };
        let availability = match request.availability.as_str() {
            "" => "active".to_owned(),
            a @ ("active" | "pause" | "drain") => a.to_owned(),
            other => return Err(invalid_argument(format!("invalid availability {other:?}"))),
        };
        let node_id = NodeId::generate(&mut rand::rngs::OsRng);
        let subject = NodeSubject { node_id: node_id.clone(), role, cluster_id };
        let issued = self.issue(&request.csr_pem, &subject).await?;
        let now = self.clock.now();
        let addr = if request.advertise_addr.is_empty() { peer_ip } else { request.advertise_addr };
        let mut node = NodeRecord {
            id: node_id.clone(),
            created_at: now,
            updated_at: now,
            version: 0,
            role,
            availability,
            labels: BTreeMap::new(),
            name: String::new(),
            description: request.description,
            addr,
            listen_port: request.listen_port,
            cert_not_after: issued.not_after,
            issuer: issued.issuer,
        };
        let root_ca_pem = {
            let mut state = self.state();
            self.save_node(&mut state, &mut node)?;
            state.root.certs_pem().to_owned()
        };
        self.record_heartbeat(&node_id);
        let managers = self.manager_addrs(&self.nodes()?);
        tracing::info!(node = %node_id, %role, "node joined");
        Ok(JoinCertResponse { node_id, cluster_id: subject.cluster_id, cert_pem: issued.cert_pem, root_ca_pem, managers, addr: node.addr })
    }

    /// Refuses a certificate-bearing caller that is not a current member of this cluster.
    pub(crate) fn authorize(&self, peer: &NodeCertInfo) -> Result<NodeRecord, ApiError> {
        self.authorize_locked(&self.state(), peer)
    }

    /// [`Manager::authorize`] under a lock the caller holds, so that a decision and the write
    /// that follows it see the same membership.
    fn authorize_locked(&self, state: &State, peer: &NodeCertInfo) -> Result<NodeRecord, ApiError> {
        if peer.cluster_id != state.cluster.id {
            return Err(ApiError::new(http::StatusCode::FORBIDDEN, "certificate is not from this cluster"));
        }
        if state.cluster.removed.contains_key(&peer.node_id) {
            return Err(ApiError::new(http::StatusCode::FORBIDDEN, format!("node {} was removed from the swarm", peer.node_id)));
        }
        self.node(&peer.node_id)?
            .ok_or_else(|| ApiError::new(http::StatusCode::FORBIDDEN, format!("node {} is not a member of this swarm", peer.node_id)))
    }

    /// Stores `node` with the next object index, together with the cluster record that hands
    /// the index out, in one transaction; the cached cluster record follows only on success.
    fn save_node(&self, state: &mut State, node: &mut NodeRecord) -> Result<(), ApiError> {
        let mut cluster = state.cluster.clone();
        node.version = cluster.next_index();
        node.updated_at = self.clock.now();
        self.store
            .write(&[(Table::Cluster, CLUSTER_KEY, Some(&cluster as &dyn ErasedRecord)), (Table::Nodes, node.id.as_str(), Some(&*node))])
            .map_err(|e| internal("save node", e))?;
        state.cluster = cluster;
        Ok(())
    }

    fn record_heartbeat(&self, node: &NodeId) {
        self.heartbeats.lock().unwrap_or_else(|e| e.into_inner()).insert(node.clone(), Instant::now());
    }

    /// A member's heartbeat: marks it alive, records what it reports, tells it its desired role.
    pub(crate) fn heartbeat(&self, peer: &NodeCertInfo, request: HeartbeatRequest) -> Result<HeartbeatResponse, ApiError> {
        let mut state = self.state();
        let node = self.authorize_locked(&state, peer)?;
        self.record_heartbeat(&node.id);
        if !same_description(&node.description, &request.description) {
            let mut updated = node.clone();
            updated.description = request.description;
            self.save_node(&mut state, &mut updated)?;
        }
        let period = Self::heartbeat_period(&state.cluster.spec);
        // A node whose certificate came from another issuer than the current signer (a root
        // rotation is under way) renews now.
        let renew = node.issuer != issuer_info(&state.root);
        let trust_root_pem = state.root.certs_pem().to_owned();
        drop(state);
        Ok(HeartbeatResponse {
            period_ns: i64::try_from(period.as_nanos()).unwrap_or(i64::MAX),
            desired_role: node.role,
            managers: self.manager_addrs(&self.nodes()?),
            renew,
            trust_root_pem,
        })
    }

    /// Issues a member a new certificate for a fresh key, with the role the cluster now wants.
    pub(crate) async fn renew(&self, peer: &NodeCertInfo, csr_pem: &str) -> Result<RenewResponse, ApiError> {
        let node = self.authorize(peer)?;
        let subject = NodeSubject { node_id: node.id.clone(), role: node.role, cluster_id: peer.cluster_id.clone() };
        let issued = self.issue(csr_pem, &subject).await?;
        // Re-read under the lock: the node may have changed, or been removed, while the
        // certificate was being signed.
        let mut state = self.state();
        let mut node = self.authorize_locked(&state, peer)?;
        node.cert_not_after = node.cert_not_after.max(issued.not_after);
        node.issuer = issued.issuer;
        self.save_node(&mut state, &mut node)?;
        tracing::info!(node = %node.id, role = %subject.role, "certificate renewed");
        let response = RenewResponse { cert_pem: issued.cert_pem, root_ca_pem: state.root.certs_pem().to_owned() };
        self.reconcile_rotation(&mut state)?;
        Ok(response)
    }

    /// Runs a cluster-state call.
    pub(crate) fn control(&self, call: ControlCall) -> Result<ControlReply, ApiError> {
        match call {
            ControlCall::Summary => self.summary().map(ControlReply::Summary),
            ControlCall::SwarmInspect => self.swarm_inspect().map(|s| ControlReply::Swarm(Box::new(s))),
            ControlCall::SwarmUpdate { spec, version, rotate_worker_token, rotate_manager_token } => {
                self.swarm_update(*spec, version, rotate_worker_token, rotate_manager_token).map(|()| ControlReply::Done)
            }
            ControlCall::NodeList => self.node_list().map(ControlReply::Nodes),
            ControlCall::NodeInspect { reference } => {
                let node = self.resolve_node(&reference)?;
                Ok(ControlReply::Node(Box::new(self.node_to_api(&node))))
            }
            ControlCall::NodeUpdate { reference, version, spec } => self.node_update(&reference, version, spec).map(|()| ControlReply::Done),
            ControlCall::NodeRemove { reference, force } => self.node_remove(&reference, force).map(|()| ControlReply::Done),
        }
    }

    fn node_to_api(&self, node: &NodeRecord) -> Node {
        let period = Self::heartbeat_period(&self.state().cluster.spec);
        node.to_api(self.liveness(&node.id, period))
    }

    fn summary(&self) -> Result<ClusterSummary, ApiError> {
        let nodes = self.nodes()?;
        let state = self.state();
        let cluster = state.cluster.to_api(tls_info_of(&state.root));
        drop(state);
        let managers: Vec<&NodeRecord> = nodes.iter().filter(|n| n.role == NodeRole::Manager).collect();
        let mut remote_managers: Vec<PeerNode> =
            managers.iter().map(|n| PeerNode { node_id: n.id.to_string(), addr: n.manager_addr() }).collect();
        remote_managers.sort_by(|a, b| a.addr.cmp(&b.addr));
        Ok(ClusterSummary { cluster, nodes: nodes.len() as u64, managers: managers.len() as u64, remote_managers })
    }

    fn swarm_inspect(&self) -> Result<Swarm, ApiError> {
        let state = self.state();
        Ok(Swarm {
            cluster: state.cluster.to_api(tls_info_of(&state.root)),
            join_tokens: JoinTokens { worker: state.worker_token.expose(), manager: state.manager_token.expose() },
        })
    }

    fn swarm_update(&self, mut spec: SwarmSpec, version: Option<u64>, rotate_worker: bool, rotate_manager: bool) -> Result<(), ApiError> {
        let mut state = self.state();
        let current = &state.cluster;
        if version != Some(current.version) {
            return Err(ApiError::internal("rpc error: code = Unknown desc = update out of sequence"));
        }
        cert_expiry(&spec)?;
        external_ca(&spec)?;
        if spec.encryption_config.auto_lock_managers {
            return Err(invalid_argument("autolock is not supported by this version of Palisade"));
        }
        if let Some(ns) = spec.dispatcher.heartbeat_period {
            if ns < 1_000_000 {
                return Err(invalid_argument("heartbeat period must be at least 1ms"));
            }
        }
        let new_root = desired_root(current, &spec, self.clock.as_ref())?;
        spec.ca_config.signing_ca_cert.clear();
        spec.ca_config.signing_ca_key.clear();
        let mut rng = rand::rngs::OsRng;
        let worker = if rotate_worker { JoinToken::generate(state.root.digest(), &mut rng) } else { state.worker_token.clone() };
        let manager = if rotate_manager { JoinToken::generate(state.root.digest(), &mut rng) } else { state.manager_token.clone() };
        let mut cluster = state.cluster.clone();
        let mut signer = None;
        if let Some((cert_pem, key_pem)) = new_root {
            // Cross-sign with the key of the root every node trusts now (not with an
            // in-progress rotation's new key).
            let key = non_empty(&cluster.root_ca_key_pem)
                .ok_or_else(|| invalid_argument("rotating away from a root whose key is held by an external CA is not supported"))?;
            let trusted = RootCa::from_pem(&cluster.root_ca_cert_pem, Some(key)).map_err(|e| internal("load root CA", e))?;
            let cross_signed_pem = trusted.cross_sign(&cert_pem, &mut rng).map_err(|e| internal("cross-sign new root", e))?;
            let rotation = RootRotation { new_cert_pem: cert_pem, new_key_pem: key_pem.to_string(), cross_signed_pem };
            cluster.rotation = Some(rotation);
            signer = Some(signing_root(&cluster)?);
            tracing::info!("root CA rotation started");
        }
        cluster.spec = spec;
        cluster.version = cluster.next_index();
        cluster.updated_at = self.clock.now();
        cluster.worker_token = worker.expose();
        cluster.manager_token = manager.expose();
        self.store.put(Table::Cluster, CLUSTER_KEY, &cluster).map_err(|e| internal("save cluster", e))?;
        state.cluster = cluster;
        state.worker_token = worker;
        state.manager_token = manager;
        if let Some(signer) = signer {
            state.root = signer;
        }
        state.external = external_signer(&state.cluster, &self.clock)?;
        self.reconcile_rotation(&mut state)?;
        Ok(())
    }

    /// Ends a root rotation once every node holds a certificate from the new root: the new
    /// root becomes the trust bundle and the only signer, and the join tokens commit to it
    /// (same secrets, new digest — old tokens stop working).
    fn reconcile_rotation(&self, state: &mut State) -> Result<(), ApiError> {
        let Some(rotation) = state.cluster.rotation.clone() else { return Ok(()) };
        let target = issuer_info(&state.root);
        let nodes = self.nodes()?;
        let pending = nodes.iter().filter(|n| n.issuer != target).count();
        if pending > 0 {
            tracing::info!(pending, total = nodes.len(), "root rotation waiting for nodes to renew");
            return Ok(());
        }
        let root = RootCa::from_pem(&rotation.new_cert_pem, non_empty(&rotation.new_key_pem)).map_err(|e| internal("load new root", e))?;
        let (worker, manager) = (state.worker_token.with_digest(root.digest()), state.manager_token.with_digest(root.digest()));
        let mut cluster = state.cluster.clone();
        cluster.root_ca_cert_pem = rotation.new_cert_pem;
        cluster.root_ca_key_pem = rotation.new_key_pem;
        cluster.rotation = None;
        cluster.worker_token = worker.expose();
        cluster.manager_token = manager.expose();
        cluster.version = cluster.next_index();
        cluster.updated_at = self.clock.now();
        self.store.put(Table::Cluster, CLUSTER_KEY, &cluster).map_err(|e| internal("save cluster", e))?;
        let external = external_signer(&cluster, &self.clock)?;
        *state = State { cluster, root, external, worker_token: worker, manager_token: manager };
        tracing::info!("root CA rotation complete");
        Ok(())
    }

    fn node_list(&self) -> Result<Vec<Node>, ApiError> {
        Ok(self.nodes()?.iter().map(|n| self.node_to_api(n)).collect())
    }

    /// Resolves a node reference as dockerd does: exact ID, then name or hostname (must be
    /// unique), then unique ID prefix.
    fn resolve_node(&self, reference: &str) -> Result<NodeRecord, ApiError> {
        let nodes = self.nodes()?;
        if let Some(node) = nodes.iter().find(|n| n.id.as_str() == reference) {
            return Ok(node.clone());
        }
        let by_name: Vec<&NodeRecord> =
            nodes.iter().filter(|n| n.name == reference || n.description.hostname == reference).collect();
        match by_name.as_slice() {
            [one] => return Ok((*one).clone()),
            [] => {}
            many => return Err(ApiError::bad_request(format!("node {reference} is ambiguous ({} matches found)", many.len()))),
        }
        let by_prefix: Vec<&NodeRecord> = if reference.is_empty() { Vec::new() } else { nodes.iter().filter(|n| n.id.as_str().starts_with(reference)).collect() };
        match by_prefix.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(ApiError::node_not_found(reference)),
            many => Err(ApiError::bad_request(format!("node {reference} is ambiguous ({} matches found)", many.len()))),
        }
    }

    fn node_update(&self, reference: &str, version: u64, spec: NodeSpec) -> Result<(), ApiError> {
        let mut node = self.resolve_node(reference)?;
        if node.version != version {
            return Err(ApiError::internal("rpc error: code = Unknown desc = update out of sequence"));
        }
        let role: NodeRole = spec.role.parse().map_err(invalid_argument)?;
        if !matches!(spec.availability.as_str(), "active" | "pause" | "drain") {
            return Err(invalid_argument(format!("invalid availability {:?}", spec.availability)));
        }
        if role == NodeRole::Worker && node.role == NodeRole::Manager {
            let managers = self.nodes()?.iter().filter(|n| n.role == NodeRole::Manager).count();
            if managers <= 1 {
                return Err(failed_precondition("attempting to demote the last manager of the swarm"));
            }
            if node.id == self.self_id {
                return Err(failed_precondition(format!(
                    "node {} is the swarm leader; this version of Palisade cannot transfer leadership, so the leader cannot be demoted",
                    node.id
                )));
            }
        }
        node.role = role;
        node.availability = spec.availability;
        node.labels = spec.labels;
        node.name = spec.name;
        self.save_node(&mut self.state(), &mut node)
    }

    fn node_remove(&self, reference: &str, force: bool) -> Result<(), ApiError> {
        let node = self.resolve_node(reference)?;
        if node.role == NodeRole::Manager {
            return Err(failed_precondition(format!(
                "node {} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal",
                node.id
            )));
        }
        let period = Self::heartbeat_period(&self.state().cluster.spec);
        if !force && self.liveness(&node.id, period).ready {
            return Err(failed_precondition(format!("node {} is not down and can't be removed", node.id)));
        }
        let mut state = self.state();
        let mut cluster = state.cluster.clone();
        let now = self.clock.now();
        cluster.removed.retain(|_, tomb| tomb.until > now);
        cluster.removed.insert(node.id.clone(), RemovedNode { until: node.cert_not_after });
        cluster.next_index();
        self.store
            .write(&[(Table::Cluster, CLUSTER_KEY, Some(&cluster as &dyn ErasedRecord)), (Table::Nodes, node.id.as_str(), None)])
            .map_err(|e| internal("remove node", e))?;
        state.cluster = cluster;
        self.reconcile_rotation(&mut state)?;
        drop(state);
        self.heartbeats.lock().unwrap_or_else(|e| e.into_inner()).remove(&node.id);
        tracing::info!(node = %node.id, "node removed");
        Ok(())
    }
}

/// The root a spec update asks to rotate to, validated: `Some((cert, key))` for a new root,
/// `None` when the root stays. `--rotate` alone bumps `ForceRotate` (a generated root);
/// `--ca-cert/--ca-key` set `SigningCACert/Key` (the operator's root).
fn desired_root(current: &ClusterRecord, spec: &SwarmSpec, clock: &dyn Clock) -> Result<Option<(String, zeroize::Zeroizing<String>)>, ApiError> {
    let ca = &spec.ca_config;
    if !ca.signing_ca_cert.is_empty() {
        if ca.signing_ca_key.is_empty() {
            // The key stays with an external CA, which must be configured for this certificate.
            let external = external_ca(spec)?.filter(|e| e.ca_cert.trim() == ca.signing_ca_cert.trim()).ok_or_else(|| {
                invalid_argument("a CA certificate without its key needs an external CA configured for that certificate")
            })?;
            let root = RootCa::from_pem(&external.ca_cert, None).map_err(|e| invalid_argument(format!("invalid CA certificate: {e}")))?;
            root.check_usable(clock.now()).map_err(|e| invalid_argument(format!("invalid CA certificate: {e}")))?;
            if root.certs_pem().trim() == current.root_ca_cert_pem.trim() {
                return Ok(None);
            }
            return Ok(Some((ca.signing_ca_cert.clone(), zeroize::Zeroizing::new(String::new()))));
        }
        let root = RootCa::from_pem(&ca.signing_ca_cert, Some(&ca.signing_ca_key))
            .map_err(|e| invalid_argument(format!("invalid CA certificate or key: {e}")))?;
        root.check_usable(clock.now()).map_err(|e| invalid_argument(format!("invalid CA certificate: {e}")))?;
        if root.certs_pem().trim() == current.root_ca_cert_pem.trim() {
            return Ok(None);
        }
        let key = root.signing_key_pem().ok_or_else(|| internal("load CA", "key vanished"))?;
        return Ok(Some((ca.signing_ca_cert.clone(), key)));
    }
    if !ca.signing_ca_key.is_empty() {
        return Err(invalid_argument("a CA key was given without its certificate"));
    }
    if ca.force_rotate != current.spec.ca_config.force_rotate {
        let root = RootCa::generate(clock).map_err(|e| internal("generate root CA", e))?;
        let key = root.signing_key_pem().ok_or_else(|| internal("generate root CA", "no key"))?;
        return Ok(Some((root.certs_pem().to_owned(), key)));
    }
    Ok(None)
}

/// The signer for a cluster record: its root, or — during a rotation — the new root with the
/// cross-signed intermediate, trusted as the old root.
fn signing_root(cluster: &ClusterRecord) -> Result<RootCa, ApiError> {
    let root = match &cluster.rotation {
        None => RootCa::from_pem(&cluster.root_ca_cert_pem, non_empty(&cluster.root_ca_key_pem)),
        Some(r) => RootCa::rotating(&cluster.root_ca_cert_pem, &r.new_cert_pem, non_empty(&r.new_key_pem), &r.cross_signed_pem),
    };
    root.map_err(|e| internal("load root CA", e))
}

/// The cfssl external CA a spec names, checked: at most one, protocol `cfssl`, an https URL.
fn external_ca(spec: &SwarmSpec) -> Result<Option<&palisade_engine_api::types::ExternalCa>, ApiError> {
    match spec.ca_config.external_cas.as_slice() {
        [] => Ok(None),
        [one] => {
            if !one.protocol.eq_ignore_ascii_case("cfssl") {
                return Err(invalid_argument(format!("unrecognized external CA protocol {}", one.protocol)));
            }
            if !one.url.starts_with("https://") {
                return Err(invalid_argument(format!("external CA URL {:?} must use https", one.url)));
            }
            Ok(Some(one))
        }
        _ => Err(invalid_argument("only one external CA is supported")),
    }
}

/// The external signer for the current root: the configured cfssl CA whose certificate is the
/// cluster's root (or the root being rotated to).
fn external_signer(cluster: &ClusterRecord, clock: &Arc<dyn Clock>) -> Result<Option<CfsslClient>, ApiError> {
    let Some(external) = external_ca(&cluster.spec)? else { return Ok(None) };
    let signing_root = match &cluster.rotation {
        Some(rotation) => rotation.new_cert_pem.trim(),
        None => cluster.root_ca_cert_pem.trim(),
    };
    if external.ca_cert.trim() != signing_root {
        return Ok(None);
    }
    // The external CA's HTTPS endpoint is authenticated by the CA it signs for.
    let ca = RootCa::from_pem(&external.ca_cert, None).map_err(|e| invalid_argument(format!("external CA certificate: {e}")))?;
    CfsslClient::new(&external.url, &ca, clock.clone()).map(Some).map_err(|e| invalid_argument(e.to_string()))
}

/// An empty key field means the key is held elsewhere (an external CA).
fn non_empty(key_pem: &str) -> Option<&str> {
    (!key_pem.is_empty()).then_some(key_pem)
}

/// Who issues certificates from `root` now.
fn issuer_info(root: &RootCa) -> IssuerInfo {
    let info = tls_info_of(root);
    IssuerInfo { subject: info.cert_issuer_subject, public_key: info.cert_issuer_public_key }
}

/// The node certificate lifetime a spec asks for, checked against policy.
pub(crate) fn cert_expiry(spec: &SwarmSpec) -> Result<CertExpiry, ApiError> {
    match spec.ca_config.node_cert_expiry {
        None | Some(0) => Ok(CertExpiry::default()),
        Some(ns) if ns < 0 => Err(invalid_argument("minimum certificate expiry time is: 1h0m0s")),
        Some(ns) => CertExpiry::new(Duration::from_nanos(ns.unsigned_abs())).map_err(invalid_argument),
    }
}

fn same_description(a: &NodeDescription, b: &NodeDescription) -> bool {
    serde_json::to_value(a).ok() == serde_json::to_value(b).ok()
}

#[cfg(test)]
mod tests {
    use palisade_pki::{NodeKey, SystemClock};
    use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

    use super::*;

    async fn manager(dir: &std::path::Path) -> Manager {
        let store = Store::open(dir, &palisade_store::Kek::generate()).unwrap();
        let mut rng = rand::rngs::OsRng;
        let key = NodeKey::generate().unwrap();
        let init = InitParams {
            cluster_id: ClusterId::generate(&mut rng),
            node_id: NodeId::generate(&mut rng),
            spec: SwarmSpec::default(),
            csr_pem: key.csr_pem().unwrap(),
            description: NodeDescription::default(),
            advertise_addr: "127.0.0.1".into(),
            listen_port: 2377,
            availability: "active".into(),
        };
        Manager::create(store, Arc::new(SystemClock), init).await.unwrap().0
    }

    fn join_request(token: String, csr_pem: String) -> JoinCertRequest {
        JoinCertRequest { token, csr_pem, description: NodeDescription::default(), advertise_addr: String::new(), listen_port: 0, availability: String::new() }
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
        let worker_token = manager.swarm_inspect().unwrap().join_tokens.worker;

        let response = manager.join(join_request(worker_token, csr), "127.0.0.9".into()).await.unwrap();
        let cert = NodeCertInfo::from_pem(&response.cert_pem).unwrap();
        assert_eq!(cert.role, NodeRole::Worker);
        assert_ne!(cert.node_id.as_str(), "aaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_eq!(cert.cluster_id, manager.state().cluster.id);
    }

    #[tokio::test]
    async fn certificates_of_removed_nodes_and_other_clusters_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let manager = manager(dir.path()).await;
        let key = NodeKey::generate().unwrap();
        let token = manager.swarm_inspect().unwrap().join_tokens.worker;
        let response = manager.join(join_request(token, key.csr_pem().unwrap()), "127.0.0.9".into()).await.unwrap();
        let cert = NodeCertInfo::from_pem(&response.cert_pem).unwrap();
        assert!(manager.authorize(&cert).is_ok());

        let mut foreign = cert.clone();
        foreign.cluster_id = ClusterId::generate(&mut rand::rngs::OsRng);
        assert_eq!(manager.authorize(&foreign).unwrap_err().status, http::StatusCode::FORBIDDEN);

        manager.node_remove(cert.node_id.as_str(), true).unwrap();
        let err = manager.authorize(&cert).unwrap_err();
        assert_eq!(err.status, http::StatusCode::FORBIDDEN);
        assert!(err.message.contains("was removed"), "{}", err.message);
        // A removed node cannot renew either.
        assert!(manager.renew(&cert, &NodeKey::generate().unwrap().csr_pem().unwrap()).await.is_err());
    }

    #[test]
    fn expiry_policy_comes_from_the_spec() {
        let mut spec = SwarmSpec::default();
        assert_eq!(cert_expiry(&spec).unwrap(), CertExpiry::default());
        spec.ca_config.node_cert_expiry = Some(1_800_000_000_000);
        assert!(cert_expiry(&spec).is_err());
        spec.ca_config.node_cert_expiry = Some(-1);
        assert!(cert_expiry(&spec).is_err());
    }
}
