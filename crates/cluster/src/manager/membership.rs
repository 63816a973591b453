//! Node membership: operator updates, removal, and the raft voter set that follows the nodes'
//! roles.
//!
//! Invariant kept by [`Manager::reconcile_voters`]: the raft voters are exactly the members
//! whose node record says manager. A manager joins raft itself ([`Manager::raft_join`]) once
//! it serves its cluster port: first as a learner, and as a voter once it has caught up.

use std::collections::BTreeSet;

use palisade_pki::{NodeCertInfo, NodeRole};
use palisade_store::Member;

use super::liveness::REACHABLE_WITHIN;
use super::Manager;
use crate::error::{Error, Result};
use crate::model::{Availability, NodeObject, RemovedNode, Versioned, WriteSet};
use crate::rpc::NodeSpecUpdate;

impl Manager {
    /// Resolves a node reference as dockerd does: exact ID, then name or hostname (must be
    /// unique), then unique ID prefix.
    pub(super) fn resolve_node(&self, reference: &str) -> Result<Versioned<NodeObject>> {
        let nodes = self.nodes()?;
        if let Some(node) = nodes.iter().find(|n| n.value.id.as_str() == reference) {
            return Ok(node.clone());
        }
        let ambiguous = |matches: usize| Error::Ambiguous { kind: "node", reference: reference.to_owned(), matches };
        let by_name: Vec<&Versioned<NodeObject>> =
            nodes.iter().filter(|n| n.value.name == reference || n.value.description.hostname == reference).collect();
        match by_name.as_slice() {
            [one] => return Ok((*one).clone()),
            [] => {}
            many => return Err(ambiguous(many.len())),
        }
        let by_prefix: Vec<&Versioned<NodeObject>> = if reference.is_empty() {
            Vec::new()
        } else {
            nodes.iter().filter(|n| n.value.id.as_str().starts_with(reference)).collect()
        };
        match by_prefix.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::node_not_found(reference)),
            many => Err(ambiguous(many.len())),
        }
    }

    pub(super) async fn node_update(&self, reference: &str, version: u64, spec: NodeSpecUpdate) -> Result<()> {
        let node = self.resolve_node(reference)?;
        if node.version != version {
            return Err(Error::OutOfSequence);
        }
        let role: NodeRole = spec.role.parse().map_err(Error::invalid)?;
        let availability = Availability::parse(&spec.availability)?;
        let mut updated = node.value.clone();
        if role != updated.role {
            match role {
                NodeRole::Worker => self.check_demotion(&updated)?,
                // A fresh raft ID: a member ID is never reused after it left.
                NodeRole::Manager => updated.raft_id = Some(rand::Rng::gen_range(&mut rand::rngs::OsRng, 1..u64::MAX)),
            }
        }
        updated.role = role;
        updated.availability = availability;
        updated.labels = spec.labels;
        updated.name = spec.name;
        updated.updated_at = self.clock.now();
        self.records.commit(WriteSet::new().put(&updated, Some(node.version))?).await?;
        if role != node.value.role {
            tracing::info!(node = %updated.id, %role, "node role changed");
            self.reconcile_voters().await?;
        }
        Ok(())
    }

    /// A manager may be demoted while another remains and the voters left still make a quorum
    /// of reachable managers.
    fn check_demotion(&self, node: &NodeObject) -> Result<()> {
        let managers = self.nodes()?.into_iter().filter(|n| n.value.role == NodeRole::Manager).count();
        if managers <= 1 {
            return Err(Error::precondition("attempting to demote the last manager of the swarm"));
        }
        let status = self.store().status();
        let voters: Vec<(&u64, bool)> = status
            .members
            .iter()
            .filter(|(_, m)| m.voter)
            .map(|(id, m)| {
                (id, status.leader == Some(*id) || m.last_contact.is_some_and(|at| at.elapsed() <= REACHABLE_WITHIN))
            })
            .collect();
        let remaining: Vec<bool> =
            voters.iter().filter(|(id, _)| Some(**id) != node.raft_id).map(|(_, up)| *up).collect();
        let reachable = remaining.iter().filter(|up| **up).count();
        if !remaining.is_empty() && reachable < remaining.len() / 2 + 1 {
            return Err(Error::precondition(format!(
                "can't remove member from the raft: this would result in a loss of quorum (demoting node {})",
                node.id
            )));
        }
        Ok(())
    }

    pub(super) async fn node_remove(&self, reference: &str, force: bool) -> Result<()> {
        let node = self.resolve_node(reference)?;
        if node.value.role == NodeRole::Manager {
            return Err(Error::precondition(format!(
                "node {} is a cluster manager and is a member of the raft cluster. It must be demoted to worker before removal",
                node.value.id
            )));
        }
        let period = self.heartbeat_period()?;
        if !force && self.view(node.clone(), period).ready {
            return Err(Error::precondition(format!("node {} is not down and can't be removed", node.value.id)));
        }
        let id = node.value.id.clone();
        let until = node.value.cert_not_after;
        {
            let _serial = self.cluster_lock.lock().await;
            let current = self.records.cluster()?;
            let mut cluster = current.value;
            let now = self.clock.now();
            cluster.removed.retain(|_, tomb| tomb.until > now);
            cluster.removed.insert(id.clone(), RemovedNode { until });
            cluster.updated_at = now;
            let writes =
                WriteSet::new().put(&cluster, Some(current.version))?.delete::<NodeObject>(id.as_str(), node.version);
            self.records.commit(writes).await?;
        }
        self.liveness.forget(&id);
        // Its containers are gone from the swarm's networks with it.
        self.release_attachments(&id, |_| true).await?;
        self.reconcile_rotation().await?;
        tracing::info!(node = %id, "node removed");
        Ok(())
    }

    /// A manager that serves its cluster port asks to join raft: added as a learner, made a
    /// voter once it has caught up. Asking again is harmless.
    pub(crate) async fn raft_join(&self, peer: &NodeCertInfo) -> Result<()> {
        let cluster = self.records.cluster()?.value;
        let node = self.authorize(&cluster, peer)?.value;
        let (NodeRole::Manager, Some(raft_id)) = (node.role, node.raft_id) else {
            return Err(Error::PermissionDenied(format!("node {} is not a manager", node.id)));
        };
        let store = self.store();
        let is_voter = store.status().members.get(&raft_id).is_some_and(|m| m.voter);
        if !is_voter {
            tracing::info!(node = %node.id, raft_id, "adding manager to raft as a learner");
            store.add_learner(raft_id, Member { node_id: node.id.to_string(), addr: node.cluster_addr() }).await?;
        }
        self.reconcile_voters().await
    }

    /// A manager leaving the swarm leaves raft first.
    pub(crate) async fn raft_leave(&self, peer: &NodeCertInfo) -> Result<()> {
        let cluster = self.records.cluster()?.value;
        let node = self.authorize(&cluster, peer)?.value;
        let Some(raft_id) = node.raft_id else { return Ok(()) };
        let status = self.store().status();
        let voters: BTreeSet<u64> =
            status.members.iter().filter(|(id, m)| m.voter && **id != raft_id).map(|(id, _)| *id).collect();
        if voters.is_empty() {
            return Err(Error::LastManagerLeave);
        }
        if status.members.contains_key(&raft_id) {
            self.store().set_voters(voters).await?;
        }
        tracing::info!(node = %node.id, raft_id, "manager left raft");
        Ok(())
    }

    /// Makes the raft voters the members whose record says manager. A member whose record
    /// says worker (demoted) or that has no record (removed) is dropped.
    pub(crate) async fn reconcile_voters(&self) -> Result<()> {
        let managers: BTreeSet<u64> = self
            .nodes()?
            .into_iter()
            .filter(|n| n.value.role == NodeRole::Manager)
            .filter_map(|n| n.value.raft_id)
            .collect();
        let status = self.store().status();
        let current: BTreeSet<u64> = status.members.iter().filter(|(_, m)| m.voter).map(|(id, _)| *id).collect();
        let desired: BTreeSet<u64> = status.members.keys().copied().filter(|id| managers.contains(id)).collect();
        let members: BTreeSet<u64> = status.members.keys().copied().collect();
        // Never every voter away: a cluster with no voter cannot be recovered by itself.
        if !desired.is_empty() && (desired != current || members != desired) {
            tracing::info!(?desired, "changing raft voters");
            self.store().set_voters(desired).await?;
        }
        Ok(())
    }
}
