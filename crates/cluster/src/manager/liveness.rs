//! Who is alive: nodes by their heartbeats, managers by raft.
//!
//! Heartbeats are kept in memory on the manager that receives them and never written: a node
//! is ready while its heartbeats arrive within [`MISSED_HEARTBEATS`] periods. A new leader
//! counts every node from the moment it took over. A manager's reachability is the raft
//! leader's view of it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use palisade_pki::{NodeCertInfo, NodeId};
use tokio::time::Instant;

use super::Manager;
use crate::error::{Error, Result};
use crate::model::{ClusterObject, NodeObject, Versioned, WriteSet};
use crate::rpc::{HeartbeatRequest, HeartbeatResponse, ManagerView, NodeView};

/// A node that misses this many heartbeat periods is down.
pub(crate) const MISSED_HEARTBEATS: u32 = 3;
/// A raft member the leader has not heard from for this long is unreachable (raft heartbeats
/// go out every 100 ms; elections start after one to two seconds without them).
pub(super) const REACHABLE_WITHIN: Duration = Duration::from_secs(3);

/// Last heartbeat per node.
pub(super) struct Liveness {
    beats: Mutex<HashMap<NodeId, Instant>>,
    started: Instant,
}

impl Liveness {
    pub(super) fn new() -> Self {
        Self { beats: Mutex::new(HashMap::new()), started: Instant::now() }
    }

    pub(super) fn beat(&self, node: &NodeId) {
        self.beats.lock().unwrap_or_else(|e| e.into_inner()).insert(node.clone(), Instant::now());
    }

    pub(super) fn forget(&self, node: &NodeId) {
        self.beats.lock().unwrap_or_else(|e| e.into_inner()).remove(node);
    }

    /// Nodes not heard from since this manager started count from its start.
    fn ready(&self, node: &NodeId, period: Duration) -> bool {
        let beats = self.beats.lock().unwrap_or_else(|e| e.into_inner());
        beats.get(node).copied().unwrap_or(self.started).elapsed() <= period * MISSED_HEARTBEATS
    }
}

impl Manager {
    /// The node record of a verified peer certificate: of this cluster, not removed, known.
    pub(crate) fn authorize(&self, cluster: &ClusterObject, peer: &NodeCertInfo) -> Result<Versioned<NodeObject>> {
        if peer.cluster_id != cluster.id {
            return Err(Error::PermissionDenied("certificate is for another cluster".into()));
        }
        if cluster.removed.contains_key(&peer.node_id) {
            return Err(Error::PermissionDenied(format!("node {} was removed from the swarm", peer.node_id)));
        }
        self.node(&peer.node_id)?
            .ok_or_else(|| Error::PermissionDenied(format!("node {} is not a member of this swarm", peer.node_id)))
    }

    /// How often nodes report in, as the cluster is set now.
    pub(super) fn heartbeat_period(&self) -> Result<Duration> {
        Ok(self.records.cluster()?.value.spec.heartbeat_period)
    }

    /// A node's heartbeat: marks it alive, records what it reports, tells it its desired role.
    pub(crate) async fn heartbeat(&self, peer: &NodeCertInfo, request: HeartbeatRequest) -> Result<HeartbeatResponse> {
        let cluster = self.records.cluster()?.value;
        let node = self.authorize(&cluster, peer)?;
        self.liveness.beat(&node.value.id);
        let description = request.description.bounded();
        if node.value.description != description {
            if node.value.description.run != description.run {
                self.release_earlier_runs(&node.value.id, &description.run).await?;
            }
            let mut updated = node.value.clone();
            updated.description = description;
            updated.updated_at = self.clock.now();
            self.records.commit(WriteSet::new().put(&updated, Some(node.version))?).await?;
        }
        self.allocate_node_ingress(&node).await?;
        // A node whose certificate came from another issuer than the current signer (a root
        // rotation is under way) renews now.
        let issuer = cluster.ca.issuer().map_err(|e| Error::internal("load root CA", e))?;
        Ok(HeartbeatResponse {
            period_ns: i64::try_from(cluster.spec.heartbeat_period.as_nanos()).unwrap_or(i64::MAX),
            desired_role: node.value.role,
            managers: self.manager_addrs(&self.nodes()?),
            renew: node.value.issuer != issuer,
            trust_root_pem: cluster.ca.trust_pem().to_owned(),
            raft_id: node.value.raft_id,
            policy: self.policy_for(request.policy_version)?,
        })
    }

    /// Whether a node is up: this manager always, others while their heartbeats arrive.
    pub(super) fn is_ready(&self, node: &NodeId, period: Duration) -> bool {
        *node == self.self_id || self.liveness.ready(node, period)
    }

    /// A node as it is now: readiness from heartbeats, manager status from raft.
    pub(super) fn view(&self, node: Versioned<NodeObject>, period: Duration) -> NodeView {
        let status = self.store().status();
        let is_self = node.value.id == self.self_id;
        let ready = self.is_ready(&node.value.id, period);
        let manager = (node.value.role == palisade_pki::NodeRole::Manager).then(|| {
            let member = node.value.raft_id.and_then(|id| status.members.get(&id).map(|m| (id, m)));
            let leader = member.is_some_and(|(id, _)| status.leader == Some(id));
            // The leader's own view of each member: answered within a few heartbeat periods.
            let reachable = match member {
                Some((_, m)) => leader || is_self || m.last_contact.is_some_and(|at| at.elapsed() <= REACHABLE_WITHIN),
                None => false,
            };
            ManagerView { leader, reachable, addr: node.value.cluster_addr() }
        });
        NodeView { version: node.version, ready, manager, node: node.value }
    }
}
