//! `swarm init`: a new cluster with this node as its only manager, or — with
//! `--force-new-cluster` — a one-manager cluster made from this manager's copy of the state.

use std::sync::Arc;
use std::time::Duration;

use palisade_pki::{ClusterId, NodeId, NodeKey, NodeRole, UnlockKey};
use palisade_store::{Op, ReplicatedStore, WriteBatch};
use tokio::net::TcpListener;

use super::{Daemon, NodeState};
use crate::describe::local_description;
use crate::error::{Error, Result};
use crate::identity::{Membership, NodeIdentity, MEMBERSHIP_FORMAT};
use crate::manager::{new_cluster, InitParams};
use crate::model::{Availability, ClusterSpec};
use crate::node::ActiveNode;
use crate::role::{ManagerKeys, ManagerRole};

/// `swarm init` as the cluster model sees it.
pub(crate) struct InitOptions {
    pub(crate) listen_addr: String,
    pub(crate) advertise_addr: String,
    pub(crate) force_new_cluster: bool,
    pub(crate) spec: ClusterSpec,
    pub(crate) availability: String,
}

impl Daemon {
    /// Creates a swarm; returns this node's ID.
    pub(crate) async fn init(&self, options: InitOptions) -> Result<String> {
        let mut state = self.state.lock().await;
        if options.force_new_cluster {
            return match &*state {
                NodeState::Active(node) => self.force_new_cluster(node).await,
                NodeState::Locked(_) => Err(Error::Locked),
                NodeState::Inactive => {
                    Err(Error::invalid("--force-new-cluster needs existing swarm state, and this node has none"))
                }
            };
        }
        if !matches!(*state, NodeState::Inactive) {
            return Err(Error::AlreadyInSwarm);
        }
        // Validate everything before any state exists.
        let listen = self.listen_addr(&options.listen_addr)?;
        let advertise = self.advertise_ip(&options.advertise_addr, listen)?.ok_or_else(|| {
            Error::invalid("could not choose an IP address to advertise since this system has multiple addresses")
        })?;
        options.spec.validate()?;
        let availability = Availability::parse(&options.availability)?;
        let listener =
            TcpListener::bind(listen).await.map_err(|e| Error::invalid(format!("cannot listen on {listen}: {e}")))?;
        let listen = listener.local_addr().map_err(|e| Error::internal("listen", e))?;

        let data = self.config.data_root.clone();
        let created = async {
            let mut rng = rand::rngs::OsRng;
            let key = NodeKey::generate().map_err(|e| Error::internal("generate node key", e))?;
            let unlock_key = options.spec.autolock.then(|| UnlockKey::generate(&mut rng));
            let raft_id = rand::Rng::gen_range(&mut rng, 1..u64::MAX);
            let init = InitParams {
                cluster_id: ClusterId::generate(&mut rng),
                node_id: NodeId::generate(&mut rng),
                raft_id,
                spec: options.spec,
                csr_pem: key.csr_pem().map_err(|e| Error::internal("make CSR", e))?,
                description: local_description("", None),
                advertise_addr: advertise.to_string(),
                listen_port: listen.port(),
                availability,
                unlock_key: unlock_key.clone(),
            };
            let new = new_cluster(&self.config.clock, init).await?;
            let identity = NodeIdentity::new(key, new.cert_pem.clone(), new.cluster.ca.trust_pem())?;
            identity.save(&data)?;
            let membership = Membership {
                format: MEMBERSHIP_FORMAT,
                cluster_id: new.cluster.id.clone(),
                node_id: new.node.id.clone(),
                listen_addr: Some(listen),
                advertise_addr: advertise.to_string(),
                managers: vec![std::net::SocketAddr::new(advertise, listen.port()).to_string()],
                raft_id: Some(raft_id),
            };
            membership.save(&data)?;
            let node = ActiveNode::new(data.clone(), identity, membership, &self.config);
            let keys = ManagerKeys::create(&data, unlock_key)?;
            let role = node.start_manager_role(raft_id, keys, Some(listener)).await?;
            let member = ManagerRole::member(&node.identity(), &advertise.to_string(), listen);
            bootstrap(role.manager().store(), member).await?;
            role.manager().store_new_cluster(&new).await?;
            Ok::<_, Error>(node)
        }
        .await;
        let node = match created {
            Ok(node) => node,
            Err(e) => {
                // Nothing half-made survives a failed init.
                let _ = data.wipe_swarm_state();
                return Err(e);
            }
        };
        node.start_agent();
        let node_id = node.identity().cert.node_id.to_string();
        self.enter(&mut state, NodeState::Active(node));
        tracing::info!(node = %node_id, %listen, "swarm initialised");
        Ok(node_id)
    }

    /// Makes a one-manager cluster from this manager's state: every record kept (node IDs, the
    /// CA, join secrets, secrets), raft membership reduced to this node. The other managers
    /// stay in the node list, unreachable, until an operator demotes and removes them.
    async fn force_new_cluster(&self, node: &Arc<ActiveNode>) -> Result<String> {
        let role = node.manager_role().filter(|_| node.role() == NodeRole::Manager).ok_or(Error::NotAManager)?;
        let raft_id = node
            .membership()
            .raft_id
            .ok_or_else(|| Error::internal("force new cluster", "this manager has no raft ID"))?;
        let keys = role.keys();
        node.stop().await;
        drop(role);
        let data = &self.config.data_root;
        let records = ReplicatedStore::export(&data.raft_dir(), &keys.dek)?;
        clear_raft_dir(data)?;
        let listen =
            node.listen_addr().ok_or_else(|| Error::internal("force new cluster", "no listen address is recorded"))?;
        let listener = bind_again(listen).await?;
        let role = node.start_manager_role(raft_id, keys, Some(listener)).await?;
        let member = ManagerRole::member(&node.identity(), &node.membership().advertise_addr, listen);
        bootstrap(role.manager().store(), member).await?;
        let ops =
            records.into_iter().map(|(table, key, value)| Op::Put { table, key, value: value.to_vec() }).collect();
        role.manager().store().write(WriteBatch { checks: Vec::new(), ops }).await?;
        node.update_membership(|m| m.managers = vec![role_addr(&role)])?;
        node.start_agent();
        tracing::warn!("forced a new one-manager cluster from this manager's state");
        Ok(node.identity().cert.node_id.to_string())
    }
}

/// Makes a one-voter raft group of this manager and waits until it leads it.
async fn bootstrap(store: &ReplicatedStore, member: palisade_store::Member) -> Result<()> {
    store.bootstrap(member).await?;
    let mut status = store.subscribe();
    let elected = tokio::time::timeout(Duration::from_secs(10), status.wait_for(|s| s.is_leader)).await;
    match elected {
        Ok(Ok(_)) => Ok(()),
        _ => Err(Error::internal("bootstrap raft", "this manager did not become the leader of its own group")),
    }
}

fn role_addr(role: &ManagerRole) -> String {
    let status = role.manager().store().status();
    status.members.get(&status.raft_id).map(|m| m.member.addr.clone()).unwrap_or_default()
}

/// Removes the raft log, state machine and snapshots; keeps the sealed data key.
fn clear_raft_dir(data: &crate::paths::DataRoot) -> Result<()> {
    let dir = data.raft_dir();
    let entries = std::fs::read_dir(&dir).map_err(|e| Error::internal("read raft directory", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::internal("read raft directory", e))?;
        if entry.path() == data.sealed_dek() {
            continue;
        }
        let removed = if entry.path().is_dir() {
            std::fs::remove_dir_all(entry.path())
        } else {
            std::fs::remove_file(entry.path())
        };
        removed.map_err(|e| Error::internal(format!("remove {}", entry.path().display()), e))?;
    }
    Ok(())
}

/// Binds the cluster port again after the old listener was dropped (which can take a moment).
async fn bind_again(listen: std::net::SocketAddr) -> Result<TcpListener> {
    let mut last = None;
    for _ in 0..50 {
        match TcpListener::bind(listen).await {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Error::Unavailable(format!("cannot listen on {listen}: {}", last.map(|e| e.to_string()).unwrap_or_default())))
}
