//! The manager role on a node: its replicated store, its [`Manager`], its cluster port, and
//! the keys that seal its store.
//!
//! Key handling (crash-safe in every order it is done):
//! * without autolock the key-encryption key (KEK) is `node/kek` (0600) and seals
//!   `raft/dek.sealed`;
//! * with autolock the unlock key is the KEK and no `node/kek` exists.
//!
//! A manager whose `node/kek` is missing, or does not open the data key, starts locked and
//! waits for `swarm unlock`. Turning autolock on reseals the data key before removing the
//! KEK file; turning it off writes the KEK file before resealing, so a crash in between
//! leaves a store that one of the two keys opens.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use palisade_pki::{tls, Clock, NodeCertInfo, UnlockKey};
use palisade_store::{DataKey, Kek, Member, ReplicatedStore, StoreConfig};
use tokio::net::TcpListener;

use crate::error::{Error, Result};
use crate::identity::{IdentityCell, NodeIdentity};
use crate::manager::{LeaderRef, Manager};
use crate::paths::DataRoot;
use crate::rpc::transport::ClusterTransport;
use crate::rpc::{ClusterServer, ControlCall, ControlReply, ManagerClients};

/// How long a call waits for a leader to appear before it is refused.
const LEADER_WAIT: Duration = Duration::from_secs(5);

/// The manager role's shared core: what the cluster port's routes and the node use.
pub(crate) struct ManagerCore {
    pub(crate) manager: Arc<Manager>,
    clients: Arc<ManagerClients>,
}

impl ManagerCore {
    /// Runs a call on the leader: here when this manager leads, else passed on to it. A leader
    /// that cannot be reached is waited out (an election may be under way) until
    /// [`LEADER_WAIT`]; then the call fails for want of quorum.
    pub(crate) async fn dispatch(&self, call: ControlCall) -> Result<ControlReply> {
        let deadline = tokio::time::Instant::now() + LEADER_WAIT;
        loop {
            let member = match self.leader(deadline).await? {
                LeaderRef::Local => return self.manager.control(call).await,
                LeaderRef::Remote(member) => member,
            };
            let passed_on = match self.clients.get(&member.addr).await {
                Ok(client) => client.control(&call).await,
                Err(e) => Err(e),
            };
            match passed_on {
                // Not sent, or refused by a manager that no longer leads: ask again. (A 503
                // from the leader itself, no quorum say, may have done something: not retried.)
                Err(e @ (Error::Unavailable(_) | Error::Remote { status: 421, .. }))
                    if tokio::time::Instant::now() < deadline =>
                {
                    tracing::debug!(leader = %member.addr, "leader unavailable: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(Error::Unavailable(_) | Error::Remote { status: 421, .. }) => {
                    tracing::info!("no reachable leader");
                    return Err(Error::from(palisade_store::WriteError::NoQuorum));
                }
                other => return other,
            }
        }
    }

    /// Runs a call passed on by another manager, only if this manager leads.
    pub(crate) async fn run_as_leader(&self, call: ControlCall) -> Result<ControlReply> {
        match self.leader(tokio::time::Instant::now() + LEADER_WAIT).await? {
            LeaderRef::Local => self.manager.control(call).await,
            LeaderRef::Remote(_) => Err(Error::NotLeader),
        }
    }

    /// The leader, waiting through an election until `deadline`.
    async fn leader(&self, deadline: tokio::time::Instant) -> Result<LeaderRef> {
        loop {
            if let Some(leader) = self.manager.leader() {
                return Ok(leader);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::from(palisade_store::WriteError::NoQuorum));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A manager certificate whose node the cluster still sees as a manager.
    pub(crate) fn authorize_manager(&self, cert: &NodeCertInfo) -> Result<()> {
        let cluster = self.manager.records().cluster()?.value;
        let node = self.manager.authorize(&cluster, cert)?;
        if node.value.role != palisade_pki::NodeRole::Manager {
            return Err(Error::PermissionDenied("only managers may read or change cluster state".into()));
        }
        Ok(())
    }

    /// Raft messages come from members (or, before this store knows any, from a manager
    /// adding it).
    pub(crate) fn authorize_raft_peer(&self, cert: &NodeCertInfo) -> Result<()> {
        let members = self.manager.store().status().members;
        if members.is_empty() || members.values().any(|m| m.member.node_id == cert.node_id.as_str()) {
            return Ok(());
        }
        Err(Error::PermissionDenied(format!("node {} is not a raft member", cert.node_id)))
    }
}

/// How this manager's data key is sealed now.
#[derive(Clone)]
pub(crate) enum Sealing {
    /// By `node/kek`.
    KekFile,
    /// By the cluster's unlock key (autolock).
    UnlockKey(UnlockKey),
}

/// Keys for a manager's store: made new, found on disk, or given by an operator.
pub(crate) struct ManagerKeys {
    pub(crate) dek: DataKey,
    pub(crate) sealing: Sealing,
}

impl ManagerKeys {
    /// Keys for a new manager: a new data key, sealed by the unlock key when autolock is on,
    /// else by a new KEK file.
    pub(crate) fn create(data: &DataRoot, unlock: Option<UnlockKey>) -> Result<Self> {
        crate::paths::create_private_dir(&data.raft_dir()).map_err(|e| Error::internal("create raft directory", e))?;
        let (kek, sealing) = match unlock {
            Some(key) => (kek_of(&key)?, Sealing::UnlockKey(key)),
            None => {
                let kek = Kek::generate();
                palisade_pki::write_private_file(&data.kek(), kek.as_bytes())
                    .map_err(|e| Error::internal("save key-encryption key", e))?;
                (kek, Sealing::KekFile)
            }
        };
        let dek = DataKey::create(&data.sealed_dek(), &kek)?;
        Ok(Self { dek, sealing })
    }

    /// The keys of a restarted manager, when its KEK file opens them; `None`: locked.
    pub(crate) fn open(data: &DataRoot) -> Result<Option<Self>> {
        let kek = match std::fs::read(data.kek()) {
            Ok(bytes) => Kek::from_bytes(&bytes)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(Error::internal("read key-encryption key", e)),
        };
        match DataKey::open(&data.sealed_dek(), &kek) {
            Ok(dek) => Ok(Some(Self { dek, sealing: Sealing::KekFile })),
            // Autolock was being turned on when the node stopped: the unlock key opens it.
            Err(palisade_store::Error::WrongKey) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The keys a given unlock key opens.
    pub(crate) fn unlock(data: &DataRoot, key: UnlockKey) -> Result<Self> {
        match DataKey::open(&data.sealed_dek(), &kek_of(&key)?) {
            Ok(dek) => Ok(Self { dek, sealing: Sealing::UnlockKey(key) }),
            Err(palisade_store::Error::WrongKey) => Err(Error::WrongUnlockKey),
            Err(e) => Err(e.into()),
        }
    }
}

fn kek_of(key: &UnlockKey) -> Result<Kek> {
    Ok(Kek::from_bytes(key.key_bytes())?)
}

/// A running manager role.
pub(crate) struct ManagerRole {
    pub(crate) core: Arc<ManagerCore>,
    server: ClusterServer,
    sealer: Arc<Sealer>,
    /// Reseals the data key whenever an applied change of the cluster object turns autolock
    /// on or off or rotates the unlock key.
    seal_task: tokio::task::JoinHandle<()>,
    /// The orchestrator loop (acts only while this manager leads).
    orchestrator: tokio::task::JoinHandle<()>,
}

/// This manager's data key and how it is sealed.
struct Sealer {
    data: DataRoot,
    dek: DataKey,
    sealing: Mutex<Sealing>,
    /// The cluster table's change mark the data key was last sealed for.
    sealed_for: tokio::sync::watch::Sender<Option<u64>>,
}

impl ManagerRole {
    /// Opens the store, serves the cluster port on `listener`.
    pub(crate) async fn start(
        data: &DataRoot,
        identity: &IdentityCell,
        clients: Arc<ManagerClients>,
        clock: Arc<dyn Clock>,
        listener: TcpListener,
        raft_id: u64,
        keys: ManagerKeys,
    ) -> Result<Self> {
        let current = identity.get();
        let transport = Arc::new(ClusterTransport::new(clients.clone()));
        let config = StoreConfig::new(data.raft_dir(), raft_id, keys.dek.clone(), transport);
        let store = Arc::new(ReplicatedStore::open(config).await?);
        let evaluator = data.policy_evaluator(clock.clone());
        let manager = Arc::new(Manager::new(store, clock.clone(), current.cert.node_id.clone(), evaluator));
        let core = Arc::new(ManagerCore { manager, clients });
        let tls = tls::server_config(&current.root, &current.cert_pem, &current.key, clock)
            .map_err(|e| Error::internal("TLS", e))?;
        let server = ClusterServer::start(listener, tls, core.clone());
        let sealed_for = tokio::sync::watch::Sender::new(None);
        let sealer = Arc::new(Sealer { data: data.clone(), dek: keys.dek, sealing: Mutex::new(keys.sealing), sealed_for });
        let seal_task = tokio::spawn(follow_unlock_key(core.manager.clone(), sealer.clone()));
        let orchestrator = tokio::spawn(crate::manager::orchestrator::run(core.manager.clone()));
        Ok(Self { core, server, sealer, seal_task, orchestrator })
    }

    /// The keys this role runs with (to reopen its store).
    pub(crate) fn keys(&self) -> ManagerKeys {
        ManagerKeys {
            dek: self.sealer.dek.clone(),
            sealing: self.sealer.sealing.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        }
    }

    pub(crate) fn manager(&self) -> &Arc<Manager> {
        &self.core.manager
    }

    /// This manager as a raft member.
    pub(crate) fn member(identity: &NodeIdentity, advertise: &str, listen: SocketAddr) -> Member {
        Member {
            node_id: identity.cert.node_id.to_string(),
            addr: crate::model::cluster_addr(advertise, listen.port()),
        }
    }

    pub(crate) fn is_voter(&self) -> bool {
        let status = self.manager().store().status();
        status.members.get(&status.raft_id).is_some_and(|m| m.voter)
    }

    pub(crate) fn replace_tls(&self, identity: &NodeIdentity, clock: Arc<dyn Clock>) -> Result<()> {
        let config = tls::server_config(&identity.root, &identity.cert_pem, &identity.key, clock)
            .map_err(|e| Error::internal("TLS", e))?;
        self.server.replace_tls(config);
        Ok(())
    }

    /// Waits, at most `timeout`, until the data key is sealed as the cluster object applied
    /// here wants it. After `swarm update --rotate`, only the new unlock key then opens this
    /// manager, even if it is killed the moment the caller is answered.
    pub(crate) async fn sealed_as_applied(&self, timeout: Duration) {
        let Ok(target) = self.manager().store().changed_at(palisade_store::Table::Cluster) else { return };
        let mut sealed = self.sealer.sealed_for.subscribe();
        let caught_up = sealed.wait_for(|mark| mark.is_some_and(|m| m >= target));
        if tokio::time::timeout(timeout, caught_up).await.is_err() {
            tracing::warn!("the data key is not yet sealed as the cluster's latest change wants");
        }
    }

    /// Stops serving and closes the store.
    pub(crate) async fn shutdown(&self) {
        self.seal_task.abort();
        self.orchestrator.abort();
        self.server.stop();
        if let Err(e) = self.manager().store().shutdown().await {
            tracing::warn!("closing the replicated store: {e}");
        }
    }
}

impl Sealer {
    /// Seals the data key as the cluster now wants: by `unlock_key` (autolock) or by a KEK file.
    pub(crate) fn reseal(&self, unlock_key: Option<UnlockKey>) -> Result<()> {
        let mut sealing = self.sealing.lock().unwrap_or_else(|e| e.into_inner());
        match (&*sealing, unlock_key) {
            (Sealing::KekFile, None) => Ok(()),
            (Sealing::UnlockKey(current), Some(wanted)) if current.matches(&wanted) => Ok(()),
            (Sealing::KekFile | Sealing::UnlockKey(_), Some(wanted)) => {
                self.dek.reseal(&self.data.sealed_dek(), &kek_of(&wanted)?)?;
                match std::fs::remove_file(self.data.kek()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(Error::internal("remove key-encryption key", e)),
                }
                tracing::info!("data key sealed with the unlock key (autolock)");
                *sealing = Sealing::UnlockKey(wanted);
                Ok(())
            }
            (Sealing::UnlockKey(_), None) => {
                let kek = Kek::generate();
                palisade_pki::write_private_file(&self.data.kek(), kek.as_bytes())
                    .map_err(|e| Error::internal("save key-encryption key", e))?;
                self.dek.reseal(&self.data.sealed_dek(), &kek)?;
                tracing::info!("data key sealed with the node's key-encryption key (autolock off)");
                *sealing = Sealing::KekFile;
                Ok(())
            }
        }
    }
}

/// Watches the applied state and reseals when the cluster object's unlock key changes. Every
/// manager does this itself, so a rotated key is the one that opens each of them after its
/// next restart, as soon as the change reaches it.
async fn follow_unlock_key(manager: Arc<Manager>, sealer: Arc<Sealer>) {
    let mut changes = manager.store().subscribe();
    // The cluster table's change mark the data key was last sealed for.
    let mut sealed_for = None;
    loop {
        // Every apply wakes this; the cluster object is read (and decrypted) only when its
        // table changed.
        let changed = manager.store().changed_at(palisade_store::Table::Cluster).ok();
        if changed.is_some() && changed != sealed_for {
            // Not there yet before the first records of a new cluster are applied.
            if let Ok(cluster) = manager.records().cluster() {
                let wanted = cluster
                    .value
                    .unlock_key
                    .as_deref()
                    .map(|key| key.parse::<UnlockKey>())
                    .transpose()
                    .map_err(|e| Error::internal("unlock key", e));
                match wanted.and_then(|key| sealer.reseal(key)) {
                    Ok(()) => {
                        sealed_for = changed;
                        sealer.sealed_for.send_replace(changed);
                    }
                    Err(e) => tracing::error!("resealing the data key: {e}"),
                }
            }
        }
        if changes.changed().await.is_err() {
            return;
        }
    }
}
