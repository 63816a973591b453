//! The node daemon: swarm membership as a state machine, guarded by one async mutex so that
//! `init`, `join`, `leave` and `unlock` never interleave:
//!
//! | state    | entered by                                         | left by                  |
//! |----------|----------------------------------------------------|--------------------------|
//! | inactive | start without identity, `leave`                    | `init`, `join`           |
//! | locked   | start of a manager whose data key only the unlock key opens | `unlock`, `leave --force` |
//! | active   | `init`, `join`, `unlock`, start with open keys     | `leave`                  |
//!
//! The Engine-API half ([`crate::api`]) turns docker's requests into these calls.

mod containers;
mod init;
mod join;
mod leave;
mod policy;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use palisade_pki::{Clock, IssuedCertificate, NodeRole, UnlockKey};

use crate::error::{Error, Result};
use crate::head_signer::NodeHeadSigner;
use crate::identity::{Membership, NodeIdentity, MEMBERSHIP_FORMAT};
use crate::node::ActiveNode;
use crate::paths::DataRoot;
use crate::role::ManagerKeys;
use crate::rpc::{ControlCall, ControlReply};
use crate::service_cert::ServiceNames;

pub use containers::{AttachableNetwork, ContainerAttachRequest, ContainerAttached, ContainerEndpoint};
pub(crate) use init::InitOptions;
pub(crate) use join::JoinOptions;

/// The cluster port Docker uses by default.
const DEFAULT_CLUSTER_PORT: u16 = 2377;
/// What the docker CLI sends as `ListenAddr` when `--listen-addr` is not given.
const CLI_DEFAULT_LISTEN_ADDR: &str = "0.0.0.0:2377";

/// How a daemon is started.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Where state lives.
    pub data_root: DataRoot,
    /// Cluster listen address used when `swarm init`/`join` do not name one.
    pub listen_addr: Option<SocketAddr>,
    /// Advertised address used when `swarm init`/`join` do not name one.
    pub advertise_addr: Option<IpAddr>,
    /// Time source for certificate decisions.
    pub clock: Arc<dyn Clock>,
    /// Runs the tasks assigned to this node; `None`: the node accepts no tasks.
    pub executor: Option<Arc<dyn crate::exec::TaskExecutor>>,
    /// Where the namespaces of overlay networks are bound (a directory on tmpfs); `None`: the
    /// node builds no overlay network, and its tasks on one are rejected.
    pub overlay_netns_dir: Option<std::path::PathBuf>,
}

/// Where the node is in the membership state machine.
#[derive(Clone)]
pub(crate) enum NodeState {
    Inactive,
    /// A manager waiting for its unlock key.
    Locked(Arc<LockedNode>),
    Active(Arc<ActiveNode>),
}

/// A locked manager: its identity is loaded, its store is not.
pub(crate) struct LockedNode {
    pub(crate) identity: NodeIdentity,
    pub(crate) membership: Membership,
}

/// One node's daemon.
pub struct Daemon {
    pub(crate) config: DaemonConfig,
    pub(crate) state: tokio::sync::Mutex<NodeState>,
    /// Where swarm membership, CA rotations, secrets and policy changes made through this
    /// node are recorded. Its heads are signed with the node's key while it has one.
    pub(crate) audit: Arc<palisade_audit::AuditLog>,
    /// Follows `state`: every change of it goes through [`Daemon::enter`].
    head_signer: Arc<NodeHeadSigner>,
}

impl Daemon {
    /// Starts a daemon on `config.data_root`, resuming swarm membership if it has any. A
    /// manager whose store only the unlock key opens starts locked.
    pub async fn start(config: DaemonConfig) -> Result<Self> {
        let data = &config.data_root;
        // A log that fails its checks stops the start: tampering is never papered over. Its
        // clock is the node's: whether the node's certificate may sign a head is a certificate
        // decision like any other.
        let audit = palisade_audit::AuditLog::open_with_clock(data.audit_dir(), None, config.clock.clone()).map_err(|e| {
            Error::internal("the audit log", format!("{e} (see `palisade audit verify --data-root {}`)", data.path().display()))
        })?;
        let state = match NodeIdentity::load(data)? {
            None if data.legacy_store_dir().exists() => return Err(legacy_data_root(data)),
            None => NodeState::Inactive,
            Some((_, membership)) if membership.format < MEMBERSHIP_FORMAT => return Err(legacy_data_root(data)),
            Some((identity, membership)) => {
                let keys = match membership.raft_id {
                    Some(_) if data.sealed_dek().exists() => match ManagerKeys::open(data)? {
                        Some(keys) => Some(keys),
                        None => {
                            tracing::warn!("this manager is locked: give the unlock key with `docker swarm unlock`");
                            let locked = LockedNode { identity, membership };
                            return Ok(Self::new(config, NodeState::Locked(Arc::new(locked)), audit));
                        }
                    },
                    _ => None,
                };
                NodeState::Active(resume(&config, identity, membership, keys).await?)
            }
        };
        Ok(Self::new(config, state, audit))
    }

    /// A daemon in `state`, whose audit log signs with the node's key from now on.
    fn new(config: DaemonConfig, state: NodeState, audit: palisade_audit::AuditLog) -> Self {
        let head_signer = Arc::new(NodeHeadSigner::new(&state));
        let audit = Arc::new(audit.with_head_signer(head_signer.clone()));
        Self { config, state: tokio::sync::Mutex::new(state), audit, head_signer }
    }

    /// Moves the node (whose state lock the caller holds) to `next`.
    fn enter(&self, state: &mut NodeState, next: NodeState) {
        self.head_signer.follow(&next);
        *state = next;
    }

    /// Signs `csr_pem` as a server certificate for a service this node runs. Only a manager
    /// holds the CA.
    pub async fn issue_service_certificate(&self, csr_pem: &str, names: &ServiceNames) -> Result<IssuedCertificate> {
        let node = self.active().await?;
        let role = node.manager_role().ok_or(Error::WorkerCannotView)?;
        role.manager().issue_service(csr_pem, names)
    }

    /// The overlay networks this node should set up (their addressing, keys, peers and this
    /// node's tasks on them), kept current by the worker: what the overlay data plane follows.
    /// The channel closes when the node leaves the swarm. Only a node that runs tasks (has an
    /// executor) receives networks.
    pub async fn overlay_state(&self) -> Result<tokio::sync::watch::Receiver<crate::overlay::OverlayState>> {
        Ok(self.active().await?.overlay.subscribe())
    }

    /// The replicated cluster store, while this node is an unlocked manager: for the services
    /// `palisade up` runs beside the Engine API to keep their records in (the trusted
    /// registry's accounts). The handle serves while the node stays a manager; after a
    /// demotion or a leave its calls fail.
    pub async fn cluster_store(&self) -> Result<Arc<palisade_store::ReplicatedStore>> {
        let node = self.active().await?;
        let role = node.manager_role().ok_or(Error::WorkerCannotView)?;
        Ok(Arc::clone(role.manager().store()))
    }

    /// The node's audit log, for the services it runs beside the Engine API (the registry and
    /// trust server of `palisade up`) to record into as well.
    pub fn audit_log(&self) -> Arc<palisade_audit::AuditLog> {
        Arc::clone(&self.audit)
    }

    /// The cluster's trust bundle (PEM) as this node holds it, if it is in a swarm.
    pub async fn trust_bundle_pem(&self) -> Option<String> {
        match &*self.state.lock().await {
            NodeState::Active(node) => Some(node.identity().root.certs_pem().to_owned()),
            _ => None,
        }
    }

    /// When this node's certificate expires (Unix seconds), if it is in a swarm; `None` as
    /// well while init, join or leave hold the state (a metrics read must not wait).
    pub fn certificate_expiry(&self) -> Option<i64> {
        match &*self.state.try_lock().ok()? {
            NodeState::Active(node) => Some(node.identity().cert.not_after.unix_timestamp()),
            NodeState::Locked(locked) => Some(locked.identity.cert.not_after.unix_timestamp()),
            NodeState::Inactive => None,
        }
    }

    pub(crate) async fn current(&self) -> NodeState {
        self.state.lock().await.clone()
    }

    /// The active node; a locked or inactive node refuses.
    pub(crate) async fn active(&self) -> Result<Arc<ActiveNode>> {
        match self.current().await {
            NodeState::Active(node) => Ok(node),
            NodeState::Locked(_) => Err(Error::Locked),
            NodeState::Inactive => Err(Error::NotInSwarm),
        }
    }

    /// Runs a cluster-state call on the leader.
    pub(crate) async fn control(&self, call: ControlCall) -> Result<ControlReply> {
        let node = match self.current().await {
            NodeState::Active(node) => node,
            NodeState::Locked(_) => return Err(Error::Locked),
            NodeState::Inactive => return Err(Error::NotAManager),
        };
        // A change of this node's role, of the cluster's root or of the image policy takes
        // effect at its next heartbeat; bring that forward.
        let nudge = matches!(call, ControlCall::SwarmUpdate(_) | ControlCall::NodeUpdate { .. } | ControlCall::PolicySet { .. });
        let reply = node.control(call).await;
        if nudge {
            node.nudge.notify_one();
        }
        reply
    }

    /// `swarm unlock`: opens the store with the unlock key and resumes as an active manager.
    pub(crate) async fn unlock(&self, key: UnlockKey) -> Result<()> {
        let mut state = self.state.lock().await;
        let NodeState::Locked(locked) = &*state else {
            return Err(Error::NotLocked);
        };
        let keys = ManagerKeys::unlock(&self.config.data_root, key)?;
        let locked = Arc::clone(locked);
        let identity =
            NodeIdentity::load(&self.config.data_root)?.map(|(identity, _)| identity).ok_or(Error::NotInSwarm)?;
        let node = resume(&self.config, identity, locked.membership.clone(), Some(keys)).await?;
        self.enter(&mut state, NodeState::Active(node));
        tracing::info!("swarm unlocked");
        Ok(())
    }

    /// The listen address for `init`/`join`: the request's, unless it is the CLI's default and
    /// the daemon was configured with another.
    pub(crate) fn listen_addr(&self, requested: &str) -> Result<SocketAddr> {
        if requested.is_empty() || requested == CLI_DEFAULT_LISTEN_ADDR {
            if let Some(addr) = self.config.listen_addr {
                return Ok(addr);
            }
        }
        let requested = if requested.is_empty() { CLI_DEFAULT_LISTEN_ADDR } else { requested };
        parse_addr(requested, DEFAULT_CLUSTER_PORT)
            .map_err(|e| Error::invalid(format!("invalid listen address {requested:?}: {e}")))
    }

    /// The advertised IP: the request's, the daemon's, or the listen IP when it is specific.
    pub(crate) fn advertise_ip(&self, requested: &str, listen: SocketAddr) -> Result<Option<IpAddr>> {
        if !requested.is_empty() {
            let ip = parse_addr(requested, DEFAULT_CLUSTER_PORT)
                .map(|a| a.ip())
                .map_err(|e| Error::invalid(format!("invalid advertise address {requested:?}: {e}")))?;
            return Ok(Some(ip));
        }
        Ok(self.config.advertise_addr.or((!listen.ip().is_unspecified()).then(|| listen.ip())))
    }
}

/// Brings a persisted membership back up: the manager role when this node has its keys.
async fn resume(
    config: &DaemonConfig,
    identity: NodeIdentity,
    membership: Membership,
    keys: Option<ManagerKeys>,
) -> Result<Arc<ActiveNode>> {
    let raft_id = membership.raft_id;
    let node = ActiveNode::new(config.data_root.clone(), identity, membership, config);
    if let (Some(keys), Some(raft_id), NodeRole::Manager) = (keys, raft_id, node.role()) {
        node.start_manager_role(raft_id, keys, None).await?;
    }
    node.start_agent();
    tracing::info!(node = %node.identity().cert.node_id, role = %node.role(), "resumed swarm membership");
    Ok(node)
}

/// A data root from before the replicated store.
fn legacy_data_root(data: &DataRoot) -> Error {
    Error::precondition(format!(
        "{} was written by an earlier Palisade whose cluster store had a single leader; this version keeps it in raft and \
         cannot read it. Leave the swarm with the earlier version (or move the directory aside) and join or initialise again",
        data.path().display()
    ))
}

/// `IP:PORT`, `IP` (default port) or `:PORT` (all addresses).
fn parse_addr(text: &str, default_port: u16) -> std::result::Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    if let Some(port) = text.strip_prefix(':') {
        let port = port.parse::<u16>().map_err(|e| e.to_string())?;
        return Ok(SocketAddr::new(IpAddr::from([0, 0, 0, 0]), port));
    }
    Err("expected IP:PORT (interface names are not supported)".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_data_root_of_the_single_leader_store_is_refused_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataRoot::create(dir.path()).unwrap();
        std::fs::create_dir_all(data.legacy_store_dir()).unwrap();
        let config = DaemonConfig {
            data_root: data,
            listen_addr: None,
            advertise_addr: None,
            clock: Arc::new(palisade_pki::SystemClock),
            executor: None,
            overlay_netns_dir: None,
        };
        let Err(Error::FailedPrecondition(message)) = Daemon::start(config).await else {
            panic!("an old data root was accepted")
        };
        assert!(message.contains("single leader") && message.contains("join or initialise again"), "{message}");
        // Nothing was changed: the old store is still there, and no raft directory was made.
        assert!(dir.path().join("store").exists());
        assert!(!dir.path().join("raft").exists());
    }
}
